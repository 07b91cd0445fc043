import math

import pytest
import torch

from omniseg3d_mesh.losses import hierarchical_contrastive_loss, norm_loss, patch_levels


def reference_loss(features, patch_ids, votes, hier_lambda=0.5, alpha=10.0):
    """Slow, obvious loop version of DESIGN.md "The loss, in words" (levels: the anchor alone
    on level 1, other related patches by dense rank of descending votes from level 2)."""
    n = features.shape[0]
    present = sorted(set(patch_ids.tolist()))
    mus, phis = [], []
    for s in present:
        fs = features[patch_ids == s]
        mu = fs.mean(0)
        with torch.no_grad():
            ns = fs.shape[0]
            phi = sum(float((f - mu).norm()) for f in fs) / (ns * math.log(ns + alpha))
            phi = min(max(phi * 10.0, 0.1), 1.0)
        mus.append(mu)
        phis.append(phi)
    total = features.sum() * 0.0
    for j in range(n):
        f = features[j]
        logits = torch.stack([f @ mus[k] / phis[k] for k in range(len(present))])
        lse = torch.logsumexp(logits, 0)
        L = {present[k]: lse - logits[k] for k in range(len(present))}
        i = int(patch_ids[j])
        if hier_lambda == 0.0:
            total = total + L[i]
            continue
        others = [s for s in present if s != i and int(votes[i, s]) > 0]
        values = sorted({int(votes[i, s]) for s in others}, reverse=True)
        level_sets = [[i]] + [[s for s in others if int(votes[i, s]) == v] for v in values]
        running = None
        for d, members in enumerate(level_sets, start=1):
            terms = []
            for s in members:
                t = L[s] if running is None else torch.maximum(L[s], running)
                terms.append(t)
            level_max = terms[0]
            for t in terms[1:]:
                level_max = torch.maximum(level_max, t)
            running = level_max
            total = total + hier_lambda ** (d - 1) * sum(terms) / len(terms)
    return total / n


def _random_case(seed, n=60, p=8, d=5, max_votes=3):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(n, d, generator=g, dtype=torch.float64)
    ids = torch.randint(0, p, (n,), generator=g)
    ids[: p - 2] = torch.arange(p - 2)  # most patches present, some absent
    v = torch.randint(0, max_votes + 1, (p, p), generator=g)
    v = torch.maximum(v, v.T)  # symmetric with many ties
    diag = v.max(dim=1).values + torch.randint(0, 2, (p,), generator=g)  # sometimes ties with C[i,i]
    v[torch.arange(p), torch.arange(p)] = diag.clamp(min=1)
    return feats, ids, v


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("lam", [0.0, 0.2, 0.5, 1.0])
def test_fast_matches_reference_values_and_gradients(seed, lam):
    feats, ids, votes = _random_case(seed)
    a = feats.clone().requires_grad_(True)
    b = feats.clone().requires_grad_(True)
    fast = hierarchical_contrastive_loss(a, ids, votes, hier_lambda=lam)
    ref = reference_loss(b, ids, votes, hier_lambda=lam)
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    fast.backward()
    ref.backward()
    assert torch.isfinite(a.grad).all()
    torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-5)


def test_float32_and_single_patch():
    feats, ids, votes = _random_case(3)
    x = feats.float().requires_grad_(True)
    loss = hierarchical_contrastive_loss(x, ids, votes)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    one = hierarchical_contrastive_loss(
        torch.randn(10, 4), torch.zeros(10, dtype=torch.long), torch.ones(1, 1, dtype=torch.int32)
    )
    assert abs(float(one)) < 1e-6  # softmax over a single patch


def test_patch_levels_ties_and_unrelated():
    v = torch.tensor([[3, 3, 2, 2, 0], [3, 3, 1, 0, 0], [2, 1, 2, 1, 0], [2, 0, 1, 4, 1], [0, 0, 0, 1, 1]])
    lv = patch_levels(v)
    assert lv[0].tolist() == [1, 2, 3, 3, 0]  # the tie with C[0,0] goes to level 2
    assert lv[3].tolist() == [2, 0, 3, 1, 3]


def test_loss_orders_hierarchy():
    """Features that respect the hierarchy score lower than features that invert it."""
    # patches 0,1 form object A (votes 1 between them), 2 is object B
    votes = torch.tensor([[2, 1, 0], [1, 2, 0], [0, 0, 1]])
    ids = torch.tensor([0] * 20 + [1] * 20 + [2] * 20)
    e = torch.eye(3)
    good = torch.cat([(e[0] + 0.3 * e[1]).expand(20, 3), (e[0] - 0.3 * e[1]).expand(20, 3), e[2].expand(20, 3)])
    bad = torch.cat([e[0].expand(20, 3), e[1].expand(20, 3), (e[0] + e[1]).expand(20, 3) / 2**0.5])
    g = good / good.norm(dim=1, keepdim=True)
    assert hierarchical_contrastive_loss(g, ids, votes) < hierarchical_contrastive_loss(bad, ids, votes)


def test_norm_loss():
    f = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    assert float(norm_loss(f)) == pytest.approx(8.0)
    assert float(norm_loss(torch.zeros(0, 3))) == 0.0


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"features must have shape \(N, D\)"):
        hierarchical_contrastive_loss(torch.zeros(4), torch.zeros(4, dtype=torch.long), torch.ones(1, 1))
    with pytest.raises(ValueError, match=r"patch_ids must have shape \(4,\)"):
        hierarchical_contrastive_loss(torch.zeros(4, 2), torch.zeros(3, dtype=torch.long), torch.ones(1, 1))


def test_jaccard_affinity_of_mask_sets():
    from omniseg3d_mesh.losses import jaccard_affinity

    # patches: a = {m0, m1}, b = {m1}, c = {m2}
    member = torch.tensor([[1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=torch.float32)
    votes = (member @ member.T).long()
    j = jaccard_affinity(votes)
    torch.testing.assert_close(j, torch.tensor([[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]]))


def _affinity_reference(features, patch_ids, votes):
    """Slow loop version of affinity_loss (prototype per present patch)."""
    import torch.nn.functional as F

    g = F.normalize(features, dim=1)
    present = sorted(set(patch_ids.tolist()))
    protos = {p: F.normalize(g[patch_ids == p].sum(0), dim=0) for p in present}
    pos, npos, neg, nneg = 0.0, 0, 0.0, 0
    for j in range(len(g)):
        p = int(patch_ids[j])
        for s in present:
            union = votes[p, p] + votes[s, s] - votes[p, s]
            t = float(votes[p, s]) / float(union) if union > 0 else 0.0
            c = g[j] @ protos[s]
            if t > 0:
                pos, npos = pos + (c - t) ** 2, npos + 1
            else:
                neg, nneg = neg + torch.relu(c) ** 2, nneg + 1
    return pos / max(npos, 1) + neg / max(nneg, 1)


def test_affinity_loss_matches_reference():
    from omniseg3d_mesh.losses import affinity_loss

    gen = torch.Generator().manual_seed(3)
    member = (torch.rand(6, 4, generator=gen) > 0.5).float()
    member[:, 0] = 1.0
    member[5] = torch.tensor([0.0, 0.0, 0.0, 1.0])
    votes = (member @ member.T).long()
    feats = torch.randn(40, 8, generator=gen, dtype=torch.float64)
    patches = torch.randint(0, 6, (40,), generator=gen)
    torch.testing.assert_close(affinity_loss(feats, patches, votes), _affinity_reference(feats, patches, votes))


def test_affinity_loss_is_zero_when_cosines_equal_the_kernel():
    from omniseg3d_mesh.losses import affinity_loss

    # two unrelated patches with orthogonal features, each pixel exactly its prototype
    feats = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    votes = torch.tensor([[1, 0], [0, 1]])
    assert float(affinity_loss(feats, torch.tensor([0, 0, 1, 1]), votes)) < 1e-10
    # pointing the same way is penalised
    same = torch.tensor([[1.0, 0.0]] * 4)
    assert float(affinity_loss(same, torch.tensor([0, 0, 1, 1]), votes)) > 0.4
