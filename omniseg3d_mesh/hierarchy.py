"""The 2D hierarchy of one view: disjoint patches and their vote matrix (paper Sec. 3.1, Eq. 1, Fig. 2).

A *patch* is the set of pixels that belong to exactly the same masks (the same
mask-membership signature). Pixels in no mask belong to no patch (-1). The vote
matrix ``C[i, j]`` counts the masks that contain both patch ``i`` and patch ``j``
(``C[i, i]`` = the masks containing ``i``); sorting row ``i`` by descending votes
gives the hierarchy tree of anchor patch ``i`` that the hierarchical contrastive
loss walks (:mod:`omniseg3d_mesh.losses`).

Near-containment absorption (on by default, as in the official OmniSeg3D release,
``run_sam.py``): masks are visited from the smallest to the largest area; when more
than ``containment_ratio`` of a mask's pixels lie inside a larger mask, the larger
mask is extended by the smaller mask's pixels, so the nesting becomes exact. The
smaller mask itself is kept. This removes the thin sliver patches that SAM's slightly
misaligned boundaries would otherwise create. (Reading of the official code: masks
sorted by area ascending, visited in that order, the overlap test is
``|m & larger| > ratio * |m|`` against the *current* -- already extended -- masks,
and only later masks in the order are extended.) Here it runs on the patch
membership matrix instead of on pixels: all pixels of a patch share their
membership, so the result is identical and costs O(P * M) per mask instead of
O(H * W * M).

Everything is vectorised: membership bits are packed into uint64 words per pixel,
unique words give patch ids, and votes are a (P x M) membership matrix product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Hierarchy", "build_patches", "vote_matrix", "absorb_contained", "build_hierarchy"]


@dataclass
class Hierarchy:
    """Patches and votes of one view.

    Attributes:
        patch_map: [H, W] int32 patch id per pixel, -1 for pixels in no mask.
        votes: [P, P] int32, ``votes[i, j]`` = number of masks containing both patch i and j.
        patch_sizes: [P] int64 pixels per patch.
        membership: [P, M] bool, which masks hold each patch (after absorption), or None.
    """

    patch_map: np.ndarray
    votes: np.ndarray
    patch_sizes: np.ndarray
    membership: np.ndarray | None = None

    @property
    def num_patches(self) -> int:
        return int(self.votes.shape[0])

    def mask_balanced_weights(self) -> np.ndarray:
        """[P] float64 sampling mass per pixel of each patch when every mask gets equal mass.

        Each mask spreads one unit of mass evenly over its pixels (that survive as
        patches), so a pixel weighs ``sum over its masks of 1 / area(mask)``: a small
        object's mask draws as many samples as a wall's.
        """
        if self.membership is None or self.membership.shape[1] == 0:
            return np.ones(self.num_patches, np.float64)
        b = self.membership.astype(np.float64)
        areas = self.patch_sizes.astype(np.float64) @ b  # [M]
        inv = np.where(areas > 0, 1.0 / np.maximum(areas, 1.0), 0.0)
        return b @ inv

    def boundary_band(self, radius: int) -> np.ndarray:
        """[H, W] bool: the ``radius`` pixels on each side of every place where two
        patches meet (a band ``2 * radius`` pixels wide; square neighbourhoods).

        Patches are the regions of equal mask membership, so every boundary of a mask
        with another mask (an object against its neighbour, a part inside its object)
        is one; where a mask borders pixels in no mask there is no band (those pixels
        do not train). ``radius`` 0: no band.
        """
        pm = self.patch_map
        band = np.zeros(pm.shape, dtype=bool)
        if radius <= 0 or pm.size == 0:
            return band
        # both pixels of every pair of 4-neighbours in two different patches
        across = (pm[:, :-1] >= 0) & (pm[:, 1:] >= 0) & (pm[:, :-1] != pm[:, 1:])
        band[:, :-1] |= across
        band[:, 1:] |= across
        down = (pm[:-1, :] >= 0) & (pm[1:, :] >= 0) & (pm[:-1, :] != pm[1:, :])
        band[:-1, :] |= down
        band[1:, :] |= down
        if radius > 1:
            from scipy.ndimage import binary_dilation

            band = binary_dilation(band, structure=np.ones((2 * radius - 1, 2 * radius - 1), bool))
        return band & (pm >= 0)

    def to_npz_arrays(self) -> dict:
        out = {
            "patch_map": self.patch_map.astype(np.int32),
            "votes": self.votes.astype(np.int32),
            "patch_sizes": self.patch_sizes.astype(np.int64),
        }
        if self.membership is not None:
            out["membership"] = np.packbits(self.membership.astype(bool), axis=1)
            out["num_masks"] = np.array(self.membership.shape[1])
        return out

    @classmethod
    def from_npz(cls, data) -> Hierarchy:
        return cls(
            patch_map=np.asarray(data["patch_map"], dtype=np.int32),
            votes=np.asarray(data["votes"], dtype=np.int32),
            patch_sizes=np.asarray(data["patch_sizes"], dtype=np.int64),
            membership=(
                np.unpackbits(np.asarray(data["membership"], np.uint8), axis=1, count=int(data["num_masks"])).astype(
                    bool
                )
                if "membership" in data
                else None
            ),
        )


def _check_masks(masks: np.ndarray) -> np.ndarray:
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(
            f"masks must be a stack of shape (M, H, W), got shape {masks.shape}; wrap a single mask as masks[None]"
        )
    if masks.dtype != bool:
        raise ValueError(f"masks must be boolean, got dtype {masks.dtype}; pass masks > 0 (or masks.astype(bool))")
    return masks


def _unique_rows(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(unique rows [U, W], inverse [N])`` of a [N, W] uint64 array, rows in sorted order."""
    if words.shape[1] == 1:
        w = words[:, 0]
        order = np.argsort(w, kind="stable")
        srt = w[order]
        new = np.empty(len(srt), dtype=bool)
        new[:1] = True
        np.not_equal(srt[1:], srt[:-1], out=new[1:])
        ids = np.cumsum(new) - 1
        inverse = np.empty(len(w), dtype=np.int64)
        inverse[order] = ids
        return srt[new][:, None], inverse
    keys = np.ascontiguousarray(words).view(np.dtype((np.void, words.shape[1] * 8))).ravel()
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq.view(np.uint64).reshape(len(uniq), words.shape[1]), inverse.reshape(-1)


def build_patches(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split the image into patches of identical mask membership.

    Membership bits are packed into ``ceil(M / 64)`` uint64 words per pixel (bit j of
    word j // 64 = "in mask j"; one masked OR per mask, so the cost follows the mask
    areas), and unique words give the patches.

    Args:
        masks: [M, H, W] bool.

    Returns:
        ``(patch_map [H, W] int32 (-1 = in no mask), membership [P, M] bool)``;
        patch ids are ordered by their packed membership signature.
    """
    masks = _check_masks(masks)
    m, h, w = masks.shape
    if m == 0:
        return np.full((h, w), -1, np.int32), np.zeros((0, 0), bool)
    flat = masks.reshape(m, h * w)
    cols = [np.zeros(h * w, dtype=np.uint64) for _ in range((m + 63) // 64)]
    for j in range(m):  # one masked OR per mask (the loop is over masks, not pixels)
        col = cols[j // 64]
        col[flat[j]] |= np.uint64(1) << np.uint64(j % 64)
    uniq, inverse = _unique_rows(np.stack(cols, axis=1))
    shifts = (np.arange(m) % 64).astype(np.uint64)
    membership = ((uniq[:, np.arange(m) // 64] >> shifts[None, :]) & np.uint64(1)).astype(bool)  # [U, M]
    empty = ~membership.any(axis=1)
    # renumber: drop the empty signature (pixels in no mask)
    new_id = np.cumsum(~empty) - 1
    new_id[empty] = -1
    patch_map = new_id[inverse].astype(np.int32).reshape(h, w)
    return patch_map, membership[~empty]


def vote_matrix(membership: np.ndarray) -> np.ndarray:
    """Eq. 1: ``C = B B^T`` for the patch membership matrix ``B`` [P, M] bool -> [P, P] int32."""
    b = np.asarray(membership, dtype=np.float32)
    # float32 products of 0/1 are exact for counts far beyond any mask count
    return np.rint(b @ b.T).astype(np.int32)


def absorb_contained(masks: np.ndarray, ratio: float = 0.9) -> np.ndarray:
    """Near-containment absorption on pixel masks (see the module docstring).

    Args:
        masks: [M, H, W] bool.
        ratio: a mask with more than ``ratio`` of its pixels inside a larger mask
            is merged into it (the larger mask gains the smaller one's pixels).

    Returns:
        [M, H, W] bool, same mask order as the input.
    """
    masks = _check_masks(masks)
    patch_map, membership = build_patches(masks)
    sizes = np.bincount(patch_map[patch_map >= 0].ravel(), minlength=len(membership))
    membership = _absorb_membership(membership, sizes, ratio)
    out = np.zeros_like(masks)
    inside = patch_map >= 0
    out[:, inside] = membership[patch_map[inside]].T
    return out


def _absorb_membership(membership: np.ndarray, sizes: np.ndarray, ratio: float) -> np.ndarray:
    """Absorption on a patch membership matrix [P, M] bool with patch sizes [P]."""
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"containment_ratio must be in (0, 1], got {ratio}")
    b = membership.copy()
    num_masks = b.shape[1]
    if num_masks < 2:
        return b
    sizes = np.asarray(sizes, dtype=np.float64)
    areas = sizes @ b
    order = np.argsort(areas, kind="stable")  # smallest first, ties by input order
    b = b[:, order]
    for k in range(num_masks - 1):
        col = b[:, k]
        if not col.any():
            continue
        area = sizes[col].sum()
        overlap = sizes[col] @ b[col, k + 1 :]  # [M - k - 1]
        grow = np.flatnonzero(overlap > ratio * area) + k + 1
        if len(grow):
            b[np.ix_(col, grow)] = True
    out = np.empty_like(b)
    out[:, order] = b
    return out


def build_hierarchy(
    masks: np.ndarray,
    absorb_containment: bool = True,
    containment_ratio: float = 0.9,
    min_patch_pixels: int = 0,
    min_patch_share: float = 0.0,
) -> Hierarchy:
    """Patches and vote matrix of one view.

    Args:
        masks: [M, H, W] bool class-agnostic proposals.
        absorb_containment: extend a larger mask by any mask that lies more than
            ``containment_ratio`` inside it (official release behaviour).
        containment_ratio: see above.
        min_patch_pixels: patches with fewer pixels become -1 (no patch).
        min_patch_share: patches smaller than this fraction of the *smallest mask that
            holds them* become -1. A sliver between two disagreeing mask outlines is a
            thin band of masks much larger than itself; a small object's patch is most
            of its own mask, and a part's patch most of the part's mask. So this drops
            slivers at any image size while small objects keep their masks.

    Returns:
        :class:`Hierarchy`.
    """
    masks = _check_masks(masks)
    patch_map, membership = build_patches(masks)
    if absorb_containment and membership.shape[0]:
        sizes = np.bincount(patch_map[patch_map >= 0].ravel(), minlength=len(membership))
        membership = _absorb_membership(membership, sizes, containment_ratio)
        # patches whose memberships became equal merge: renumber by unique rows
        packed = np.packbits(membership, axis=1)
        keys = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).ravel()
        _, first, remap = np.unique(keys, return_index=True, return_inverse=True)
        membership = membership[first]
        inside = patch_map >= 0
        patch_map = patch_map.copy()
        patch_map[inside] = remap.reshape(-1)[patch_map[inside]]
    num = membership.shape[0]
    sizes = np.bincount(patch_map[patch_map >= 0].ravel(), minlength=num).astype(np.int64)
    if (min_patch_pixels > 0 or min_patch_share > 0) and num:
        keep = sizes >= min_patch_pixels
        if min_patch_share > 0 and membership.shape[1]:
            areas = sizes.astype(np.float64) @ membership  # [M] pixels per mask (after absorption)
            smallest = np.where(membership, areas[None, :], np.inf).min(axis=1)
            keep &= sizes >= min_patch_share * smallest
        new_id = np.where(keep, np.cumsum(keep) - 1, -1)
        inside = patch_map >= 0
        patch_map = patch_map.copy()
        patch_map[inside] = new_id[patch_map[inside]]
        membership, sizes = membership[keep], sizes[keep]
    return Hierarchy(
        patch_map=patch_map.astype(np.int32), votes=vote_matrix(membership), patch_sizes=sizes, membership=membership
    )
