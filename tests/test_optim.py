"""BlockAdam: lazy Adam whose fine rows share one second moment."""

from __future__ import annotations

import pytest
import torch

from omniseg3d_mesh.optim import BlockAdam


def _sparse_step(opt, param, rows, values):
    param.grad = torch.sparse_coo_tensor(torch.tensor([rows]), values, param.shape, check_invariants=True)
    opt.step()


def test_with_no_shared_rows_it_is_lazy_adam():
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(10, 4))
    b = torch.nn.Parameter(a.detach().clone())
    ours = BlockAdam([a], lr=0.05, shared_from=10)
    ref = torch.optim.SparseAdam([b], lr=0.05)
    for _ in range(20):
        rows = torch.randperm(10)[:4].tolist()
        values = torch.randn(4, 4)
        _sparse_step(ours, a, rows, values)
        _sparse_step(ref, b, rows, values)
    torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-5, atol=1e-6)


def test_shared_rows_move_by_their_evidence_and_own_rows_by_lr():
    """Adam moves every sampled row by about lr, whatever its gradient; in the shared block
    (here with an overwhelming prior) a row with a 100x smaller gradient moves 100x less,
    and the block's rows move about lr."""
    p = torch.nn.Parameter(torch.zeros(4, 3))
    opt = BlockAdam([p], lr=0.1, shared_from=2, prior_count=1e9)
    values = torch.tensor([[1.0, 1.0, 1.0], [0.01, 0.01, 0.01], [1.0, 1.0, 1.0], [0.01, 0.01, 0.01]])
    _sparse_step(opt, p, [0, 1, 2, 3], values)
    moved = p.detach().abs().mean(1)
    # own rows 0, 1 (per-row second moment): both move by lr
    assert moved[0].item() == pytest.approx(0.1, rel=1e-3) and moved[1].item() == pytest.approx(0.1, rel=1e-3)
    # shared rows 2, 3: in proportion to their gradient, the root mean square step about lr
    assert moved[2].item() / moved[3].item() == pytest.approx(100.0, rel=1e-3)
    assert ((moved[2] ** 2 + moved[3] ** 2) / 2).sqrt().item() == pytest.approx(0.1, rel=1e-3)


def test_a_row_with_many_samples_earns_its_own_second_moment():
    """Row 1 has a gradient 10x smaller than row 0's on every step. At first (one sample each)
    the block's second moment rules and row 1 moves about 10x less; after 2000 samples each row's
    own estimate rules and both move about lr per step, as with Adam."""
    p = torch.nn.Parameter(torch.zeros(2, 1))
    opt = BlockAdam([p], lr=0.01, shared_from=0, prior_count=10.0, betas=(0.0, 0.999))
    values = torch.tensor([[1.0], [0.1]])
    _sparse_step(opt, p, [0, 1], values)
    first = -p.detach()[:, 0].clone()
    assert first[0] / first[1] > 5
    for _ in range(2000):
        before = p.detach().clone()
        _sparse_step(opt, p, [0, 1], values)
    last = (before - p.detach())[:, 0]
    assert last[0] / last[1] == pytest.approx(1.0, rel=0.15)
    assert last[1].item() == pytest.approx(0.01, rel=0.15)


def test_rows_a_step_does_not_sample_do_not_move():
    p = torch.nn.Parameter(torch.ones(6, 2))
    opt = BlockAdam([p], lr=0.1, shared_from=3)
    _sparse_step(opt, p, [0, 4], torch.ones(2, 2))
    _sparse_step(opt, p, [1], torch.ones(1, 2))  # row 0 and 4 keep their momentum but are not moved
    untouched = [2, 3, 5]
    torch.testing.assert_close(p.detach()[untouched], torch.ones(3, 2))
    assert float(p.detach()[0, 0]) == pytest.approx(0.9)  # one step of lr, not two


def test_a_dense_gradient_moves_only_its_nonzero_rows():
    p = torch.nn.Parameter(torch.ones(5, 2))
    opt = BlockAdam([p], lr=0.1, shared_from=0)
    p.grad = torch.zeros(5, 2)
    p.grad[3] = 2.0
    opt.step()
    assert torch.equal(p.detach()[[0, 1, 2, 4]], torch.ones(4, 2))
    assert float(p.detach()[3, 0]) == pytest.approx(0.9)


def test_bad_settings_are_refused():
    p = torch.nn.Parameter(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="prior_count must be >= 0"):
        BlockAdam([p], lr=0.1, shared_from=0, prior_count=-1)
    with pytest.raises(ValueError, match="lr must be > 0"):
        BlockAdam([p], lr=0.0, shared_from=0)
    with pytest.raises(ValueError, match="shared_from must be >= 0"):
        BlockAdam([p], lr=0.1, shared_from=-1)
