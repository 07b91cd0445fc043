"""Contrastive losses that lift 2D patch hierarchies into a feature field (paper Sec. 3.2, Eq. 5-9).

Pure torch, fully vectorised over the N sampled pixels x S patches present in the
batch: no Python loop over anchors or levels.

The hierarchical contrastive loss, step by step:

1. Group the N pixels by patch id; the S patches present in the batch get a
   prototype ``mu_s`` = mean feature of their pixels.
2. Per-cluster temperature ``phi_s = sum_j ||f_j - mu_s|| / (n_s log(n_s + alpha))``.
   As in the official release (``losses.py`` of THU-luvision/OmniSeg3D) it is then
   multiplied by 10, clipped to [0.1, 1] and detached (no gradient through phi).
3. ``L(j, s) = -log softmax_s(f_j . mu_s / phi_s)`` over the S present patches
   (Eq. 7). The official code adds 1e-6 to the softmax denominator; we use the
   exact log-softmax.
4. Levels of anchor patch ``i`` (the patch of pixel j), from the vote row ``C[i, :]``
   restricted to present patches with ``C[i, s] > 0``:

   * level 1 is ``{i}`` alone;
   * the other related patches get levels 2, 3, ... by the dense rank of
     ``C[i, s]`` in descending order.

   **Ties with the anchor.** ``C[i, s] == C[i, i]`` for ``s != i`` means every mask
   that contains ``i`` also contains ``s`` (``s`` sits in a strict superset of
   ``i``'s masks, e.g. ``i`` is the remainder of an object and ``s`` a part of it
   that has its own mask). A plain dense rank would put such ``s`` on level 1 next
   to ``i``, and so would the official code (its level 0 is the set of patches with
   the largest count). We put them on level 2 instead: the anchor's own patch is
   always strictly the closest, ``lambda = 0`` is then exactly the paper's basic
   loss (Eq. 5, same-patch positives only), and the running max below orders the
   anchor before the patches that merely contain it. The reference implementation
   in ``tests/test_losses.py`` follows the same rule.
5. Running-max clamp (Eq. 6, 8): a level-d term is ``max(L(j, s), M_{d-1}(j))`` where
   ``M_d(j)`` is the largest clamped term up to level d, ``M_0 = -inf``. Since
   ``M_d = max(M_{d-1}, max_{s in S_d} L(j, s))``, M is a per-(pixel, level) amax
   scatter followed by a cumulative max over levels.
6. Weights and normalisation. Our reading of Eq. 6's ``lambda^(d-1) / (N L)``,
   following the official code: within a level the clamped terms are *averaged*
   over the level's patches (``1 / |S_d^i|``), levels are weighted by
   ``lambda^(d-1)`` and summed, and the result is averaged over the N pixels of the
   batch (the official code sums over pixels and scales the sum by a small loss
   weight; the mean makes the value independent of the batch size).
"""

from __future__ import annotations

import torch

__all__ = [
    "hierarchical_contrastive_loss",
    "norm_loss",
    "patch_levels",
    "cluster_temperature",
    "jaccard_affinity",
    "affinity_loss",
]

TEMPERATURE_SCALE = 10.0  # official code: phi * 10, then clip
TEMPERATURE_MIN = 0.1
TEMPERATURE_MAX = 1.0


def _check_batch(features: torch.Tensor, patch_ids: torch.Tensor) -> None:
    """Shapes every per-view loss expects: features [N, D], patch_ids [N]."""
    if features.ndim != 2:
        raise ValueError(f"features must have shape (N, D), got {tuple(features.shape)}")
    if patch_ids.shape != features.shape[:1]:
        raise ValueError(f"patch_ids must have shape ({features.shape[0]},), got {tuple(patch_ids.shape)}")


def cluster_temperature(features: torch.Tensor, inverse: torch.Tensor, num: int, alpha: float = 10.0):
    """Prototypes and temperatures of the clusters present in a batch.

    Args:
        features: [N, D] float.
        inverse: [N] long cluster index 0..S-1 of each pixel.
        num: S.
        alpha: smoothing of the temperature (paper: 10).

    Returns:
        ``(mu [S, D], phi [S] detached, counts [S] float)``.
    """
    d = features.shape[1]
    counts = torch.zeros(num, dtype=features.dtype, device=features.device).index_add_(
        0, inverse, torch.ones_like(inverse, dtype=features.dtype)
    )
    sums = torch.zeros(num, d, dtype=features.dtype, device=features.device).index_add_(0, inverse, features)
    mu = sums / counts[:, None]
    with torch.no_grad():
        dist = (features - mu[inverse]).norm(dim=1)
        spread = torch.zeros(num, dtype=features.dtype, device=features.device).index_add_(0, inverse, dist)
        phi = spread / (counts * torch.log(counts + alpha))
        phi = (phi * TEMPERATURE_SCALE).clamp(TEMPERATURE_MIN, TEMPERATURE_MAX)
    return mu, phi.detach(), counts


def patch_levels(votes: torch.Tensor) -> torch.Tensor:
    """Hierarchy level of every present patch for every anchor patch.

    Args:
        votes: [S, S] integer vote counts between the patches present in a batch.

    Returns:
        [S, S] long: ``levels[i, s]`` = 1 for ``s == i``, 2, 3, ... for the other
        patches with ``votes[i, s] > 0`` by dense rank of descending votes (ties with
        ``votes[i, i]`` go to level 2), 0 for unrelated patches.
    """
    v = votes.to(torch.long)
    s = v.shape[0]
    eye = torch.eye(s, dtype=torch.bool, device=v.device)
    big = int(v.max().item()) + 1 if s else 1
    key = torch.where(eye, torch.full_like(v, big), v)  # the anchor alone on top
    srt, order = torch.sort(key, dim=1, descending=True)
    new = torch.ones_like(srt, dtype=torch.long)
    new[:, 1:] = (srt[:, 1:] != srt[:, :-1]).long()
    rank_sorted = torch.cumsum(new, dim=1)  # dense rank, 1 = the anchor
    levels = torch.empty_like(rank_sorted).scatter_(1, order, rank_sorted)
    return torch.where(key > 0, levels, torch.zeros_like(levels))


def hierarchical_contrastive_loss(
    features: torch.Tensor,
    patch_ids: torch.Tensor,
    votes: torch.Tensor,
    hier_lambda: float = 0.5,
    alpha: float = 10.0,
) -> torch.Tensor:
    """Hierarchical contrastive clustering loss of one view's batch (Eq. 5-8).

    Args:
        features: [N, D] float pixel features (interpolated from vertex features).
        patch_ids: [N] long patch id of each pixel, 0..P-1.
        votes: [P, P] integer vote matrix of the view (Eq. 1).
        hier_lambda: per-level decay lambda; 0 = basic variant (same-patch positives only).
        alpha: temperature smoothing (paper: 10).

    Returns:
        scalar loss (mean over the N pixels).
    """
    _check_batch(features, patch_ids)
    n = features.shape[0]
    if n == 0:
        return features.sum() * 0.0
    present, inverse = torch.unique(patch_ids, return_inverse=True)
    num = int(present.shape[0])
    mu, phi, _ = cluster_temperature(features, inverse, num, alpha)
    logits = (
        features @ (mu / phi[:, None]).T
    )  # [N, S] f_j . mu_s / phi_s (phi is detached: scale the S prototypes, not N x S logits)
    lse = torch.logsumexp(logits, dim=1, keepdim=True)  # L(j, s) = lse_j - logits[j, s]

    if hier_lambda == 0.0:
        # basic variant (Eq. 5): only level 1, the anchor's own patch, carries weight
        return (lse - logits.gather(1, inverse[:, None])).mean()
    sub_votes = votes.to(present.device)[present][:, present]
    levels = patch_levels(sub_votes)  # [S, S]

    num_levels = int(levels.max().item())
    # Per anchor, order the patches by level (unrelated ones last). Along a pixel's
    # reordered row, the running max M_{d-1} is a cumulative max read just before the
    # start of level d's segment, so the amax-scatter + cummax over levels becomes one
    # gather + cummax + gather over [N, S].
    key = torch.where(levels > 0, levels, torch.full_like(levels, num_levels + 1))
    order = torch.argsort(key, dim=1, stable=True)  # [S, S]
    lev_sorted = levels.gather(1, order)
    pos = torch.arange(num, device=logits.device).expand(num, num)
    new_segment = torch.ones_like(lev_sorted, dtype=torch.bool)
    new_segment[:, 1:] = lev_sorted[:, 1:] != lev_sorted[:, :-1]
    start = torch.cummax(torch.where(new_segment, pos, torch.zeros_like(pos)), dim=1).values  # segment start
    counts = torch.zeros(num, num_levels + 1, dtype=logits.dtype, device=logits.device)
    counts.scatter_add_(1, levels, torch.ones_like(levels, dtype=logits.dtype))
    decay = torch.tensor(
        [0.0] + [hier_lambda ** (d - 1) for d in range(1, num_levels + 1)], dtype=logits.dtype, device=logits.device
    )
    weight_sorted = decay[lev_sorted] / counts.gather(1, lev_sorted).clamp(min=1.0)  # lambda^(d-1) / |S_d|, 0 unrelated

    # Only the R related patches of an anchor (R = the most any anchor has) take part in
    # the clamp and the weights; the others only enter the softmax's denominator (lse).
    # This keeps all but the logits and their logsumexp at [N, R] instead of [N, S].
    r = int((levels > 0).sum(dim=1).max().item())
    order, start, weight_sorted = order[:, :r], start[:, :r], weight_sorted[:, :r]
    ordered = lse - logits.gather(1, order[inverse])  # [N, R] L(j, s) in the anchor's level order
    running = torch.cummax(ordered, dim=1).values
    running = torch.cat([torch.full((n, 1), float("-inf"), dtype=logits.dtype, device=logits.device), running], dim=1)
    prev = running.gather(1, start[inverse])  # M_{d-1}(j): max over the earlier levels (-inf on level 1)
    clamped = torch.maximum(ordered, prev)
    return (weight_sorted[inverse] * clamped).sum() / n


def norm_loss(features: torch.Tensor) -> torch.Tensor:
    """Eq. 9: mean (||f|| - 1)^2 over the rows of ``features`` [N, D]."""
    if features.shape[0] == 0:
        return features.sum() * 0.0
    return ((features.norm(dim=1) - 1.0) ** 2).mean()


def jaccard_affinity(votes: torch.Tensor) -> torch.Tensor:
    """Jaccard similarity of the mask sets of every pair of patches.

    With ``C`` the vote matrix (``C[i, j]`` masks hold both, ``C[i, i]`` masks hold i),
    ``J[i, j] = C[i, j] / (C[i, i] + C[j, j] - C[i, j])``: 1 for the same patch (or two
    patches no mask tells apart), 0 for patches no mask shares, and in between by
    how many of the masks they belong to they share: a part of a chair and another
    part of it share the chair's and the group's masks but not their own, so they sit
    between "same part" and "neighbouring object".

    The Jaccard (Tanimoto) similarity of sets is a positive semi-definite kernel with
    unit diagonal, so unit-length features whose dot products equal it exist (in
    enough dimensions): fitting cosines to it is a well-posed embedding problem.

    Args:
        votes: [S, S] integer vote counts.

    Returns:
        [S, S] float32 in [0, 1].
    """
    c = votes.to(torch.float32)
    d = torch.diagonal(c)
    union = d[:, None] + d[None, :] - c
    return torch.where(union > 0, c / union.clamp(min=1.0), torch.zeros_like(c))


def affinity_loss(features: torch.Tensor, patch_ids: torch.Tensor, votes: torch.Tensor) -> torch.Tensor:
    """Mask-affinity loss of one view's batch: cosines regress the Jaccard kernel.

    Every patch s present in the batch gets a prototype ``mu_s`` (the normalised mean
    of its pixels' normalised features). For pixel j of patch p and prototype s: if
    ``J[p, s] > 0`` the squared error ``(cos(f_j, mu_s) - J[p, s])^2``; if the two share
    no mask, ``relu(cos)^2`` (unrelated pixels only need to point away: with more
    objects than dimensions they cannot all be orthogonal). Related and unrelated
    terms are averaged separately and added, and every present patch counts once per
    pixel whatever its size, so a view that is mostly one wall still teaches its small
    objects apart. Cost: [N, S] like the contrastive loss.

    Summed over views, the loss is minimised by cosines equal to the views' average
    Jaccard similarity of two vertices -- the multi-view co-membership statistic a
    voting scheme reads -- but held by one feature per vertex, so it is transitive:
    two ends of a long table that no view shows together are tied through the views
    that show the middle. Sliver patches from disagreeing mask outlines differ from
    their neighbour by one mask out of several, so their targets stay high: no
    patch-size cut-off is needed.

    Args:
        features: [N, D] float pixel features (any length; they are normalised here).
        patch_ids: [N] long patch id of each pixel, 0..P-1.
        votes: [P, P] integer vote matrix of the view (Eq. 1).

    Returns:
        scalar loss.
    """
    _check_batch(features, patch_ids)
    n = features.shape[0]
    if n < 2:
        return features.sum() * 0.0
    present, inverse = torch.unique(patch_ids, return_inverse=True)
    num = int(present.shape[0])
    jac = jaccard_affinity(votes.to(present.device)[present][:, present])
    g = torch.nn.functional.normalize(features, dim=1)
    sums = torch.zeros(num, g.shape[1], dtype=g.dtype, device=g.device).index_add_(0, inverse, g)
    mu = torch.nn.functional.normalize(sums, dim=1)
    cos = g @ mu.T  # [N, S]
    target = jac[inverse]  # [N, S]
    related = target > 0
    pos = ((cos - target) ** 2 * related).sum() / related.sum().clamp(min=1)
    unrelated = ~related
    neg = (torch.relu(cos) ** 2 * unrelated).sum() / unrelated.sum().clamp(min=1)
    return pos + neg
