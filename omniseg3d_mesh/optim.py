"""Optimisers for the per-vertex feature rows of :func:`omniseg3d_mesh.fit.fit_field`.

:class:`BlockAdam` is lazy Adam over sparse row gradients (like ``torch.optim.SparseAdam``:
a step moves only the rows it sampled) whose fine rows estimate their second moment
from their own samples and their block's. Why: SparseAdam bias-corrects a row's second
moment by the global step count, so a row sampled for the first time late in the fit
moves by about 2-3 ``lr`` in every dimension whatever its gradient (its second moment is
that one gradient squared). A vertex row sampled a handful of times in the whole fit
(the fine rows of a 2M-vertex mesh get about a dozen samples) then moves by sign-sized
steps whose directions are mostly noise.

Rows ``[0, shared_from)`` (the coarse rows, each of which collects the samples of many
vertices) keep SparseAdam's update. A row from ``shared_from`` on with k samples takes
as its second moment its own mean over those samples (bias-corrected by k, not by the
step count) and the block's mean squared gradient, weighed k : ``prior_count``: a row
with few samples moves by its gradient relative to the block's, a row with many moves
as under Adam.
"""

from __future__ import annotations

import torch

__all__ = ["BlockAdam"]


class BlockAdam(torch.optim.Optimizer):
    """Lazy Adam over row-sparse gradients; rows from ``shared_from`` on lean on their block's second moment.

    Args:
        params: one parameter tensor ``[rows, D]`` (its gradient may be sparse or dense).
        lr: learning rate.
        shared_from: first row of the block (``rows`` or more: SparseAdam's steps; 0: every
            row is in the block).
        prior_count: weight, in samples, of the block's second moment against a row's own.
        betas: Adam's (beta1, beta2).
        eps: added to the root of the second moment.
    """

    def __init__(
        self, params, lr: float, shared_from: int, prior_count: float = 10.0, betas=(0.9, 0.999), eps: float = 1e-8
    ) -> None:
        if lr <= 0:
            raise ValueError(f"BlockAdam: lr must be > 0, got {lr}")
        if shared_from < 0:
            raise ValueError(f"BlockAdam: shared_from must be >= 0, got {shared_from}")
        if prior_count < 0:
            raise ValueError(f"BlockAdam: prior_count must be >= 0, got {prior_count}")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "shared_from": int(shared_from)}
        super().__init__(params, {**defaults, "prior_count": float(prior_count)})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, split = group["lr"], group["eps"], group["shared_from"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if grad.is_sparse:
                    grad = grad.coalesce()  # sorted, unique rows
                    rows, values = grad.indices()[0], grad.values()
                else:
                    rows = torch.nonzero(grad.abs().sum(1) > 0).squeeze(1)
                    values = grad.index_select(0, rows)
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                    state["count"] = torch.zeros(p.shape[0], dtype=torch.int32, device=p.device)
                    state["shared_sq"] = torch.zeros(tuple(p.shape[1:]), **_like(p))
                state["step"] = int(state["step"]) + 1
                t = state["step"]
                if len(rows) == 0:
                    continue
                m = state["exp_avg"]
                m_rows = m.index_select(0, rows).mul_(beta1).add_(values, alpha=1 - beta1)
                m.index_copy_(0, rows, m_rows)
                v = state["exp_avg_sq"]
                v_rows = v.index_select(0, rows).mul_(beta2).addcmul_(values, values, value=1 - beta2)
                v.index_copy_(0, rows, v_rows)
                denom = v_rows.div_(1 - beta2**t)  # Adam's (torch.optim.SparseAdam's) estimate
                first = int(torch.searchsorted(rows, split))  # rows are sorted: the shared block is a suffix
                if first < len(rows):
                    # the block's mean squared gradient, and each row's own mean over its k samples,
                    # weighed k : prior_count (a row sampled a few times has no estimate of its own)
                    g_sh, r_sh = values[first:], rows[first:]
                    sq = state["shared_sq"]
                    sq.mul_(beta2).add_(g_sh.pow(2).mean(0), alpha=1 - beta2)
                    count = state["count"]
                    k = count.index_select(0, r_sh).add_(1)
                    count.index_copy_(0, r_sh, k)
                    k = k.to(values.dtype).unsqueeze(1)
                    # own mean = v_row / (1 - beta2^k); denom holds v_row / (1 - beta2^t)
                    own = denom[first:].mul_((1 - beta2**t) / (1 - torch.pow(beta2, k)))
                    k0 = group["prior_count"]
                    denom[first:] = own.mul_(k).add_(sq, alpha=k0 / (1 - beta2**t)).div_(k + k0)
                denom = denom.sqrt_().add_(eps)
                step_size = lr / (1 - beta1**t)
                p.index_add_(0, rows, m_rows.div(denom), alpha=-step_size)
        return loss


def _like(p: torch.Tensor) -> dict:
    return {"dtype": p.dtype, "device": p.device}
