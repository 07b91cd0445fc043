"""The no-learning voting anchor (evaluation.voting_scores)."""

import numpy as np

from omniseg3d_mesh.evaluation import central_vertex, vertex_mask_membership, voting_scores
from omniseg3d_mesh.render.fragments import Fragments


def _frags(ids):
    ids = np.asarray(ids, np.int32)[..., None]
    w = (ids >= 0).astype(np.float32)
    return Fragments(
        vertex_ids=ids,
        weights=w,
        depth=np.where(ids[..., 0] >= 0, 1.0, np.inf).astype(np.float32),
        face_ids=np.full(ids.shape[:2], -1, np.int32),
    )


def test_voting_counts_fraction_of_click_masks_per_view():
    # view 1: pixels see vertices 0 1 2 3; masks {0,1} and {0,1,2}
    f1 = _frags([[0, 1, 2, 3]])
    m1 = np.array([[[1, 1, 0, 0]], [[1, 1, 1, 0]]], bool)
    # view 2: sees 0 and 3 only; one mask {0, 3}; vertex 1 unseen
    f2 = _frags([[0, 3, -1, -1]])
    m2 = np.array([[[1, 1, 0, 0]]], bool)
    mem = [vertex_mask_membership(f, m, 5)[0] for f, m in ((f1, m1), (f2, m2))]
    s = voting_scores(mem, np.array([0, 4]))
    # click 0: view 1 votes v1 = 1, v2 = 0.5, v3 = 0; view 2 votes v3 = 1
    np.testing.assert_allclose(s[0], [1.0, 0.5, 0.25, 0.5, 0.0])
    np.testing.assert_allclose(s[1], 0.0)  # vertex 4 is in no mask anywhere


def test_membership_marks_seen_vertices():
    f = _frags([[0, -1, 2]])
    member, seen = vertex_mask_membership(f, np.zeros((1, 1, 3), bool), 4)
    assert seen.tolist() == [True, False, True, False]
    assert member.nnz == 0


def test_central_vertex_is_nearest_the_centroid():
    v = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [10, 0, 0]], float)
    assert central_vertex(v, np.array([0, 1, 2])) == 1


def test_central_vertex_prefers_seen_members():
    v = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0]], float)
    seen = np.array([True, False, True])
    assert central_vertex(v, np.array([0, 1, 2]), seen) in (0, 2)
    assert central_vertex(v, np.array([1]), seen) == 1  # nothing seen: the centroid rule alone
