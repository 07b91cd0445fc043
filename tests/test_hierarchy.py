import numpy as np
import pytest

from omniseg3d_mesh.hierarchy import Hierarchy, absorb_contained, build_hierarchy, build_patches, vote_matrix


def _fig2_masks():
    """Fig. 2 style nesting on a 10x10 image: an object m4 with a left half m3 that holds a
    top-left part m2, and a top-right part m1; a 2-pixel border is in no mask."""
    m = np.zeros((4, 10, 10), bool)
    m[0, 0:4, 4:8] = True  # m1: top-right part
    m[1, 0:4, 0:4] = True  # m2: top-left part
    m[2, 0:8, 0:4] = True  # m3: left half
    m[3, 0:8, 0:8] = True  # m4: whole object
    return m


def test_fig2_patches_and_votes():
    h = build_hierarchy(_fig2_masks())
    assert isinstance(h, Hierarchy)
    pm = h.patch_map
    assert pm.dtype == np.int32 and pm.shape == (10, 10)
    a, b, c, d = pm[0, 0], pm[5, 0], pm[0, 5], pm[5, 5]  # {m2,m3,m4}, {m3,m4}, {m1,m4}, {m4}
    assert len({a, b, c, d}) == 4 and h.num_patches == 4
    assert (pm[8:, :] == -1).all() and (pm[:, 8:] == -1).all()
    # each patch is exactly its block
    for pid, (r, cc) in zip((a, b, c, d), ((0, 0), (4, 0), (0, 4), (4, 4))):
        block = np.zeros((10, 10), bool)
        block[r : r + 4, cc : cc + 4] = True
        assert ((pm == pid) == block).all()
    assert h.patch_sizes[[a, b, c, d]].tolist() == [16, 16, 16, 16]
    c_ = h.votes
    assert c_.dtype == np.int32
    expected = {
        (a, a): 3,
        (a, b): 2,
        (a, c): 1,
        (a, d): 1,
        (b, b): 2,
        (b, c): 1,
        (b, d): 1,
        (c, c): 2,
        (c, d): 1,
        (d, d): 1,
    }
    for (i, j), v in expected.items():
        assert c_[i, j] == v and c_[j, i] == v


def test_no_masks_and_empty_image():
    h = build_hierarchy(np.zeros((0, 5, 6), bool))
    assert h.num_patches == 0 and (h.patch_map == -1).all()
    h = build_hierarchy(np.zeros((3, 5, 6), bool))
    assert h.num_patches == 0 and (h.patch_map == -1).all()


def test_absorption_merges_near_contained_mask():
    m = np.zeros((2, 10, 10), bool)
    m[0, 0:10, 0:5] = True  # object: 50 px
    m[1, 0:4, 0:5] = True  # part: 20 px, 19 inside the object ...
    m[1, 0, 5] = True  # ... 1 pixel (5%) spills out: 20/21 = 95% inside
    raw = build_hierarchy(m, absorb_containment=False)
    assert raw.num_patches == 3  # the spilled pixel is its own sliver patch
    h = build_hierarchy(m)
    assert h.num_patches == 2
    assert h.patch_map[0, 5] == h.patch_map[0, 0]  # the object now contains the part exactly
    out = absorb_contained(m)
    assert out[0, 0, 5] and out[1].sum() == 21 and out[0].sum() == 51
    # below the ratio nothing changes
    m2 = m.copy()
    m2[1, 0:4, 5:8] = True  # 12 of 32 px outside
    assert (absorb_contained(m2) == m2).all()


def test_min_patch_pixels_drops_small_patches():
    m = _fig2_masks()
    m[0, 9, 9] = True  # m1 gains one far pixel -> with absorption off it is its own patch
    h = build_hierarchy(m, absorb_containment=False, min_patch_pixels=2)
    assert h.patch_map[9, 9] == -1 and h.num_patches == 4


def test_build_patches_many_masks_vectorised():
    rng = np.random.default_rng(0)
    masks = rng.random((300, 24, 32)) < 0.5
    pm, memb = build_patches(masks)
    # pixels with the same id have the same membership and vice versa
    flat = masks.reshape(300, -1).T
    ids = pm.ravel()
    assert (memb[ids[ids >= 0]] == flat[ids >= 0]).all()
    assert len(np.unique(flat[ids >= 0], axis=0)) == memb.shape[0]
    c = vote_matrix(memb)
    assert (np.diag(c) == memb.sum(1)).all()


@pytest.mark.parametrize(
    "masks, match",
    [
        (np.zeros((5, 6), bool), r"shape \(M, H, W\)"),
        (np.zeros((2, 5, 6), np.uint8), "must be boolean"),
    ],
)
def test_bad_masks(masks, match):
    with pytest.raises(ValueError, match=match):
        build_hierarchy(masks)


def test_bad_ratio():
    with pytest.raises(ValueError, match=r"containment_ratio must be in \(0, 1\]"):
        build_hierarchy(_fig2_masks(), containment_ratio=1.5)


def test_min_patch_share_drops_slivers_keeps_small_objects():
    h, w = 40, 40
    big = np.zeros((h, w), bool)
    big[5:35, 5:35] = True
    big2 = np.zeros((h, w), bool)
    big2[5:35, 6:35] = True  # the same object, outline one pixel off: a 30-pixel sliver
    tiny = np.zeros((h, w), bool)
    tiny[0:3, 0:3] = True  # a 9-pixel object with a mask of its own
    hier = build_hierarchy(np.stack([big, big2, tiny]), absorb_containment=False, min_patch_share=0.2)
    sizes = sorted(hier.patch_sizes.tolist())
    assert sizes == [9, 29 * 30], sizes  # the sliver (30 px, 3 % of its masks) is gone, the tiny object stays
    assert (hier.patch_map[5:35, 5] == -1).all()
    # with an absolute cut-off the tiny object would go too
    assert (
        9
        not in build_hierarchy(
            np.stack([big, big2, tiny]), absorb_containment=False, min_patch_pixels=31
        ).patch_sizes.tolist()
    )


def test_membership_round_trip_and_balanced_weights():
    masks = np.zeros((2, 4, 4), bool)
    masks[0, :, :2] = True  # 8 px
    masks[1, 0, 3] = True  # 1 px
    hier = build_hierarchy(masks, absorb_containment=False)
    again = Hierarchy.from_npz(hier.to_npz_arrays())
    np.testing.assert_array_equal(again.membership, hier.membership)
    w = hier.mask_balanced_weights() * hier.patch_sizes
    np.testing.assert_allclose(sorted(w), [1.0, 1.0])  # every mask carries the same total mass


def test_boundary_band_follows_where_patches_meet_not_where_masks_end():
    # two masks side by side (columns 0-4 and 5-7) on rows 0-5; columns 8-9 and rows 6-9 in no mask
    masks = np.zeros((2, 10, 10), bool)
    masks[0, :6, :5] = True
    masks[1, :6, 5:8] = True
    hier = build_hierarchy(masks, absorb_containment=False)
    band = hier.boundary_band(2)
    # two pixels on each side of the column-4 | column-5 boundary, on every masked row
    assert band[:6].sum(axis=0).tolist() == [0, 0, 0, 6, 6, 6, 6, 0, 0, 0]
    assert not band[6:].any()  # where a mask meets pixels in no mask there is no band
    assert hier.boundary_band(1)[:6].sum(axis=0).tolist() == [0, 0, 0, 0, 6, 6, 0, 0, 0, 0]
    assert not hier.boundary_band(0).any()
    # a part inside an object is a patch of its own: its outline is a boundary too
    nested = np.zeros((2, 9, 9), bool)
    nested[0] = True
    nested[1, 3:6, 3:6] = True
    inner = build_hierarchy(nested, absorb_containment=False).boundary_band(1)
    assert inner.sum() == 8 + 12  # the 3x3 part's 8 rim pixels and the 12 outside that touch them across an edge
    assert not inner[4, 4]
