"""Discretization: superpoints, HDBSCAN, post-processing, the part hierarchy, the workspace entry point."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from omniseg3d_mesh import graph
from omniseg3d_mesh.config import DiscretizeConfig
from omniseg3d_mesh.discretize import Discretizer, PartTree, discretize, oversegment, part_noise_floor
from omniseg3d_mesh.field import Field, normalize_features
from omniseg3d_mesh.pipeline import discretize_workspace
from omniseg3d_mesh.workspace import Workspace
from tests.helpers.parts import make_part_scene


@pytest.fixture(scope="module")
def scene():
    return make_part_scene(60)


@pytest.fixture(scope="module")
def fitted(scene):
    return Discretizer(level=0, min_part_size=20).fit(scene.features, scene.vertices, scene.faces)


def _connected(adj, mask):
    comp = graph.connected_components(adj, mask)
    return len(np.unique(comp[mask])) == 1


def test_levels_match_parts_objects_groups(scene, fitted):
    assert adjusted_rand_score(scene.part, fitted.levels_[0]) >= 0.9
    assert adjusted_rand_score(scene.object, fitted.levels_[1]) >= 0.9
    assert adjusted_rand_score(scene.group, fitted.levels_[2]) >= 0.9
    np.testing.assert_array_equal(fitted.labels_, fitted.levels_[0])
    assert fitted.labels_.dtype == np.int32 and (fitted.labels_ >= 0).all()


def test_parts_are_connected_and_large_enough(scene, fitted):
    adj = graph.vertex_graph(scene.vertices, scene.faces)
    for p in np.unique(fitted.labels_):
        m = fitted.labels_ == p
        assert m.sum() >= 20
        assert _connected(adj, m)


def test_tree_nests_and_knows_parents(fitted):
    tree = fitted.tree_
    assert tree.num_levels == 3
    fine, coarse = tree.cut(0), tree.cut(1)
    for p in np.unique(fine):  # every finer part lies inside exactly one coarser part
        assert len(np.unique(coarse[fine == p])) == 1
    parents = tree.parents(0)
    np.testing.assert_array_equal(parents[fine], coarse)
    np.testing.assert_array_equal(fitted.parents_, parents)
    assert (tree.parents(tree.num_levels - 1) == -1).all()
    obj = int(coarse[fine == 0][0])
    assert 0 in tree.children(1, obj)
    with pytest.raises(ValueError, match=r"level 5 does not exist: this hierarchy has levels 0..2"):
        tree.cut(5)


def test_coarser_level_on_constructor(scene):
    est = Discretizer(level=1, min_part_size=20).fit(scene.features, scene.vertices, scene.faces)
    assert adjusted_rand_score(scene.object, est.labels_) >= 0.9
    assert len(est.parents_) == est.tree_.num_parts(1)


def test_a_cluster_that_falls_apart_becomes_several_parts(scene):
    feats = scene.features.copy()
    a, b = np.flatnonzero(scene.part == 1), np.flatnonzero(scene.part == 7)  # far apart on the mesh
    feats[b] = feats[a[np.arange(len(b)) % len(a)]]
    est = Discretizer(level=0, min_part_size=20).fit(feats, scene.vertices, scene.faces)
    la, lb = np.unique(est.labels_[a]), np.unique(est.labels_[b])
    assert len(la) == 1 and len(lb) == 1 and la[0] != lb[0]
    assert est.levels_[1][a[0]] == est.levels_[1][b[0]]  # ... but the same object one level up


def test_small_islands_join_their_most_similar_neighbour(scene):
    feats = scene.features.copy()
    rng = np.random.default_rng(3)
    floor = np.flatnonzero((scene.part == 0) & (scene.vertices[:, 0] < 0.05) & (scene.vertices[:, 1] < 0.05))
    odd = rng.normal(size=feats.shape[1]).astype(np.float32)
    feats[floor] = odd / np.linalg.norm(odd)
    est = Discretizer(level=0, min_part_size=50).fit(feats, scene.vertices, scene.faces)
    floor_label = np.bincount(est.labels_[scene.part == 0]).argmax()
    assert (est.labels_[floor] == floor_label).all()
    assert adjusted_rand_score(scene.part, est.labels_) >= 0.9


def test_a_small_object_welded_to_its_support_stays_a_part_when_hdbscan_calls_it_noise():
    """A 9 x 9 patch of its own features welded into a 101 x 101 sheet: too few samples for
    HDBSCAN to find it dense (everything comes out as noise), so it is a noise piece. Kept as a
    piece of its own (the default) it is a part; merged into its most similar neighbour as
    before, it vanished into the sheet."""
    from tests.helpers.parts import grid_mesh

    n = 101
    v, f = grid_mesh(n)
    rng = np.random.default_rng(0)
    a, b = np.linalg.qr(rng.normal(size=(16, 2)))[0].T
    i, j = np.divmod(np.arange(n * n), n)
    obj = (np.abs(i - 50) < 5) & (np.abs(j - 50) < 5)
    feats = (np.where(obj[:, None], b, a) + rng.normal(scale=0.05, size=(n * n, 16))).astype(np.float32)
    kept = Discretizer(level=0, max_samples=500).fit(feats, v, f).labels_
    assert len(np.unique(kept[obj])) == 1 and not np.isin(kept[obj][0], kept[~obj])
    assert kept.max() == 1  # the sheet stays one part: its noise superpoints agree with each other
    merged = Discretizer(level=0, max_samples=500, keep_noise_pieces=False).fit(feats, v, f).labels_
    assert merged.max() == 0


def test_point_cloud(scene):
    est = Discretizer(min_part_size=20, knn=8).fit(scene.features, scene.vertices, None)
    assert adjusted_rand_score(scene.part, est.labels_) >= 0.9


def test_function_form(scene):
    labels = discretize(Field(scene.features), scene.vertices, scene.faces, DiscretizeConfig(level=1, min_part_size=20))
    assert adjusted_rand_score(scene.object, labels) >= 0.9


def test_oversegment_superpoints_are_pure_connected_and_capped(scene):
    adj = graph.vertex_graph(scene.vertices, scene.faces)
    sp = oversegment(scene.features, adj, scene.vertices, threshold=0.9, max_size=300)
    sizes = np.bincount(sp)
    assert sizes.max() <= 300 * 1.6  # grid cells are approximate
    for s in np.unique(sp)[:50]:
        m = sp == s
        assert len(np.unique(scene.part[m])) == 1
        assert _connected(adj, m)


def test_oversegment_does_not_chain_along_a_gradual_boundary():
    """A smoothed field crosses a boundary gradually: on a path of 200 vertices the feature
    turns by 90 degrees over 80 of them, every edge agreeing above 0.9998. Edge agreement
    alone chains both ends into one superpoint; the spread check keeps splitting until every
    member is within the threshold's spread of its superpoint's mean (three rounds were not
    enough: both ends stayed together)."""
    import scipy.sparse as sparse

    n, ramp, threshold = 200, 80, 0.95
    t = np.clip((np.arange(n) - (n - ramp) / 2) / ramp, 0, 1) * np.pi / 2
    f = np.stack([np.cos(t), np.sin(t), np.zeros(n)], 1).astype(np.float32)
    u = np.arange(n - 1)
    adj = sparse.coo_matrix((np.ones(2 * (n - 1)), (np.r_[u, u + 1], np.r_[u + 1, u])), shape=(n, n)).tocsr()
    assert np.einsum("ij,ij->i", f[:-1], f[1:]).min() > 0.9998
    lab = oversegment(f, adj, None, threshold=threshold, max_size=0)
    assert lab[0] != lab[-1]
    for s in np.unique(lab):
        members = f[lab == s]
        mean = members.mean(0) / np.linalg.norm(members.mean(0))
        assert (members @ mean).min() >= threshold - (1 - threshold)
        assert _connected(adj, lab == s)


def test_discretize_workspace_writes_parts(tmp_path, scene):
    ws = Workspace(tmp_path / "omniseg")
    ws.save_geometry(scene.vertices, scene.faces, scene.colors)
    Field(scene.features).save(ws.field_path)
    parts = discretize_workspace(ws, config=DiscretizeConfig(level=1, min_part_size=20))
    out = ws.parts_dir
    assert parts.out == out and parts.num_parts == 4
    labels = np.load(out / "labels.npy")
    assert adjusted_rand_score(scene.object, labels) >= 0.9
    assert np.load(out / "labels_levels.npy").shape == (3, len(scene.vertices))
    doc = json.loads((out / "parts.json").read_text())
    assert doc["parts_per_level"][1] == 4 and all(p["level"] == 1 for p in doc["parts"])
    assert all(p["parent"] is not None for p in doc["parts"])


def test_errors(scene):
    with pytest.raises(ValueError, match="features has 10 rows but the geometry has 3600 vertices"):
        Discretizer().fit(scene.features[:10], scene.vertices, scene.faces)
    with pytest.raises(ValueError, match=r"features must have shape \(V, D\)"):
        Discretizer().fit(scene.features[:, 0], scene.vertices)
    with pytest.raises(ValueError, match=r"vertices must have shape \(V, 3\)"):
        Discretizer().fit(scene.features, scene.vertices[:, :2])
    with pytest.raises(ValueError, match="the geometry has no vertices"):
        Discretizer().fit(np.zeros((0, 4)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"faces must be triangles with shape \(F, 3\)"):
        Discretizer().fit(scene.features, scene.vertices, scene.faces[:, :2])
    with pytest.raises(ValueError, match="DiscretizeConfig.min_cluster_size must be >= 2, got 1"):
        Discretizer(min_cluster_size=1).fit(scene.features, scene.vertices, scene.faces)
    with pytest.raises(ValueError, match=r"DiscretizeConfig.superpoint_threshold must be in \[-1, 1\], got 2"):
        Discretizer(superpoint_threshold=2).fit(scene.features, scene.vertices, scene.faces)
    with pytest.raises(ValueError, match=r"DiscretizeConfig.level_similarities must decrease .* got \[0.3, 0.6\]"):
        Discretizer(level_similarities=(0.3, 0.6)).fit(scene.features, scene.vertices, scene.faces)
    with pytest.raises(ValueError, match="level 3 does not exist"):
        Discretizer(level=3, min_part_size=20).fit(scene.features, scene.vertices, scene.faces)


def test_part_tree_by_hand():
    tree = PartTree(np.array([0, 0, 1, 2, 2]), [np.arange(3), np.array([0, 0, 1]), np.array([0, 0, 0])], [0.7, 0.4])
    np.testing.assert_array_equal(tree.cut(1), [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(tree.parents(1), [0, 0])
    np.testing.assert_array_equal(tree.children(1, 0), [0, 1])


def test_noisy_field_still_finds_parts_and_objects():
    noisy = make_part_scene(60, noise=0.5, seed=2)  # same-part cosine ~0.8
    est = Discretizer(min_part_size=20).fit(noisy.features, noisy.vertices, noisy.faces)
    assert adjusted_rand_score(noisy.part, est.levels_[0]) >= 0.9
    assert adjusted_rand_score(noisy.object, est.levels_[1]) >= 0.9
    assert est.superpoint_threshold_ <= 0.95


def test_more_superpoints_than_samples(scene):
    est = Discretizer(min_part_size=20, max_samples=100, max_superpoint_size=20, smooth_iters=0)
    est.fit(scene.features, scene.vertices, scene.faces)
    assert est.superpoints_.max() + 1 > 100  # the sampled path ran
    assert adjusted_rand_score(scene.object, est.levels_[1]) >= 0.9


def test_one_eom_cluster_falls_back_to_the_leaves(scene, fitted, monkeypatch):
    """When HDBSCAN's "eom" selection leaves the whole mesh one part (one dominant cluster;
    psb-dev bust 302 did), the finest level comes from its leaves instead."""
    assert fitted.cluster_selection_ == "eom"
    original = Discretizer._cluster_superpoints
    calls = []

    def one_cluster_unless_leaf(self, means, sizes, std, selection=None):
        calls.append(selection)
        if selection is None:
            return np.zeros(len(means), np.int64)  # what "eom" did on that bust
        return original(self, means, sizes, std, selection)

    monkeypatch.setattr(Discretizer, "_cluster_superpoints", one_cluster_unless_leaf)
    d = Discretizer(level=0, min_part_size=20).fit(scene.features, scene.vertices, scene.faces)
    assert calls == [None, "leaf"] and d.cluster_selection_ == "leaf"
    assert d.tree_.num_parts(0) > 1
    assert adjusted_rand_score(scene.part, d.levels_[0]) > 0.6  # one part would score 0


def test_cluster_selection_error(scene):
    with pytest.raises(ValueError, match="DiscretizeConfig.cluster_selection must be one of 'eom', 'leaf', got 'best'"):
        Discretizer(cluster_selection="best").fit(scene.features, scene.vertices, scene.faces)


# --------------------------------------------------------------------------- automatic granularity, creases
def _object_level_features(scene, seed=0):
    """Objects orthogonal to each other, parts close to their object (cosine ~0.9): a clear object level."""
    from tests.helpers.parts import PART_OBJECT

    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    obj_dir = q.T[: PART_OBJECT.max() + 1]
    part_dir = obj_dir[PART_OBJECT] + 0.35 * q.T[8 : 8 + len(PART_OBJECT)]
    part_dir /= np.linalg.norm(part_dir, axis=1, keepdims=True)
    f = part_dir[scene.part] + rng.normal(scale=0.02, size=(len(scene.part), 16))
    return (f / np.linalg.norm(f, axis=1, keepdims=True)).astype(np.float32)


def test_automatic_level_finds_the_clear_level(scene):
    feats = _object_level_features(scene)
    est = Discretizer(min_part_size=20).fit(feats, scene.vertices, scene.faces)  # level=None: automatic
    assert est.tree_.num_parts(est.level_) == 4
    assert adjusted_rand_score(scene.object, est.labels_) >= 0.95
    # every level nests in the next coarser one
    for lv in range(est.tree_.num_levels - 1):
        fine, coarse = est.levels_[lv], est.levels_[lv + 1]
        assert all(len(np.unique(coarse[fine == p])) == 1 for p in np.unique(fine))


def _noisy_split_features(scene, seed, noise=0.6):
    """Objects at cosine ~0.45 to each other, their parts ~0.3 apart (cosine distance) and a
    noisy field (two vertices of one part ~0.26 apart): HDBSCAN finds the 8 parts, but the
    object cut (4) is the one to keep, since part means differ about as much as the field's noise."""
    from tests.helpers.parts import PART_OBJECT

    rng = np.random.default_rng(seed)
    q = np.linalg.qr(rng.normal(size=(32, 32)))[0].T
    obj = np.sqrt(0.82) * q[0] + q[1:5]
    obj /= np.linalg.norm(obj, axis=1, keepdims=True)
    part = obj[PART_OBJECT] + np.sqrt(0.43) * q[5 : 5 + len(PART_OBJECT)]
    part /= np.linalg.norm(part, axis=1, keepdims=True)
    f = part[scene.part] + rng.normal(scale=noise / np.sqrt(32), size=(len(scene.part), 32))
    return (f / np.linalg.norm(f, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 2])
def test_automatic_level_ignores_cuts_within_the_field_noise(scene, seed):

    feats = _noisy_split_features(scene, seed)
    est = Discretizer(min_part_size=20).fit(feats, scene.vertices, scene.faces)
    tree = est.tree_
    assert tree.num_parts(0) == 8  # HDBSCAN separates the parts
    assert tree.noise_floor == pytest.approx(part_noise_floor(normalize_features(feats), tree.part_labels))
    assert 0.2 < tree.noise_floor < tree.merge_heights()[0] + 0.05  # the first merges sit at the noise
    assert tree.num_parts(est.level_) == 4
    assert adjusted_rand_score(scene.object, est.labels_) >= 0.95
    # counted from 0, the finest cut's range [0, first merge) ties with the object cut and wins
    tree.noise_floor = 0.0
    assert tree.stable_num_parts() == 8


def test_noise_floor_of_a_clean_field_keeps_the_finest_cut():
    """No noise: the floor is 0 and a finest cut far from its first merge is kept."""

    rng = np.random.default_rng(0)
    d = np.linalg.qr(rng.normal(size=(8, 8)))[0][:3]
    parts = np.repeat(np.arange(3), 10)
    assert part_noise_floor(d[parts], parts) == pytest.approx(0.0, abs=1e-9)
    half = np.r_[np.ones((15, 1)), -np.ones((15, 1))] * np.eye(8)[:1]  # two opposite halves: spread 1
    assert part_noise_floor(half, np.zeros(30, np.int64)) == pytest.approx(1.0)
    z = np.array([[0, 1, 0.8, 2], [2, 3, 0.9, 3]])  # three parts: merges at 0.8 and 0.9
    tree = PartTree(np.arange(3), [np.arange(3)], [], linkage=z)
    assert tree.stable_num_parts() == 3  # [0, 0.8) beats [0.8, 0.9)
    tree.noise_floor = 0.75
    assert tree.stable_num_parts() == 2  # [0.75, 0.8) does not


def test_num_parts_and_level_are_honoured(scene):
    feats = _object_level_features(scene)
    est = Discretizer(num_parts=2, min_part_size=20).fit(feats, scene.vertices, scene.faces)
    assert len(np.unique(est.labels_)) == 2 and est.tree_.num_parts(est.level_) == 2
    est = Discretizer(level=0, min_part_size=20).fit(feats, scene.vertices, scene.faces)
    assert est.level_ == 0 and np.array_equal(est.labels_, est.levels_[0])
    with pytest.raises(ValueError, match="DiscretizeConfig.num_parts must be >= 1, got 0"):
        Discretizer(num_parts=0).fit(feats, scene.vertices, scene.faces)
    with pytest.raises(ValueError, match=r"DiscretizeConfig.snap_distance must be in \[0, 0.5\], got 0.9"):
        Discretizer(snap_distance=0.9).fit(feats, scene.vertices, scene.faces)
    with pytest.raises(ValueError, match=r"DiscretizeConfig.snap_unsure must be in \[0, 1\], got 2"):
        Discretizer(snap_unsure=2).fit(feats, scene.vertices, scene.faces)


def _valley(n=61, centre=0.05, width=0.4, seed=0):
    """A folded sheet z = 0.6 |x| (a concave crease along x = 0) and a field that blends
    from one part to the other over ``width``, centred off the crease at x = ``centre``."""
    from tests.helpers.parts import grid_mesh

    v, f = grid_mesh(n)
    v = v.copy()
    x = v[:, 0] - 0.5
    v[:, 0] = x
    v[:, 2] = 0.6 * np.abs(x)
    rng = np.random.default_rng(seed)
    a, b = np.linalg.qr(rng.normal(size=(16, 2)))[0].T
    t = np.clip((x - centre) / width + 0.5, 0, 1)
    feats = (1 - t)[:, None] * a + t[:, None] * b + rng.normal(scale=0.05, size=(len(x), 16))
    return v, f, feats.astype(np.float32), x


def _boundary_x(labels, x, n):
    lab, xs = labels.reshape(n, n), x.reshape(n, n)
    return np.concatenate(
        [(xs[i][np.flatnonzero(np.diff(lab[i]))] + xs[i][np.flatnonzero(np.diff(lab[i])) + 1]) / 2 for i in range(n)]
    )


def test_cut_snaps_to_the_concave_crease():
    n = 61
    v, f, feats, x = _valley(n)
    # the field blurs over ~24 rings: with snap_unsure the whole blur may move onto the crease.
    # A blur as wide as the parts: split to convergence (superpoint_rounds 16), its middle
    # becomes a part of its own; this test is about the snapping, so three rounds keep two parts.
    est = Discretizer(min_part_size=20, snap_unsure=0.8, superpoint_rounds=3).fit(feats, v, f)
    assert est.tree_.num_parts(est.level_) == 2
    bx = _boundary_x(est.labels_, x, n)
    assert len(bx) == n  # one straight cut per grid row: no ragged border, no islands
    assert np.abs(bx).max() <= 1.0 / (n - 1)  # on the crease, within one edge
    # without the crease term the cut follows the field alone (off the crease)
    off = Discretizer(min_part_size=20, snap_unsure=0.8, crease_weight=0.0, superpoint_rounds=3).fit(feats, v, f)
    assert np.abs(_boundary_x(off.labels_, x, n)).mean() > 2.0 / (n - 1)
    # the defaults (a band of snap_distance around the cut) keep one clean cut per row
    default = Discretizer(min_part_size=20, superpoint_rounds=3).fit(feats, v, f)
    assert default.tree_.num_parts(default.level_) == 2 and len(_boundary_x(default.labels_, x, n)) == n


def test_boundary_moves_to_a_nearby_crease_within_the_band():
    """A field that is sure but one ring off the crease: the default band (1 ring here) snaps it."""
    n = 61
    v, f, _, x = _valley(n)
    rng = np.random.default_rng(1)
    a, b = np.linalg.qr(rng.normal(size=(16, 2)))[0].T
    right = x > 1.5 / (n - 1)  # the field's cut lies between the first and second column right of the crease
    feats = np.where(right[:, None], b, a) + rng.normal(scale=0.05, size=(len(x), 16))
    raw = Discretizer(min_part_size=20, snap_distance=0.0).fit(feats.astype(np.float32), v, f)
    assert np.abs(_boundary_x(raw.labels_, x, n)).min() > 1.0 / (n - 1)
    est = Discretizer(min_part_size=20, crease_weight=3.0).fit(feats.astype(np.float32), v, f)
    assert est.snap_rings_ >= 1
    assert np.abs(_boundary_x(est.labels_, x, n)).max() <= 1.0 / (n - 1)


def test_score_discretization_against_objects(scene):
    from omniseg3d_mesh.evaluation import score_discretization

    r = score_discretization(_object_level_features(scene), scene.vertices, scene.faces, scene.object)
    assert r["parts"] == 4 and r["gt_segments"] == 4
    assert r["ari"] >= 0.95 and r["miou"] >= 95.0 and r["best_miou"] >= r["miou"] - 1e-9
    with pytest.raises(ValueError, match="gt_labels must label every vertex"):
        score_discretization(_object_level_features(scene), scene.vertices, scene.faces, scene.object[:10])


def test_hyper_parameters_live_in_the_config():
    cfg = DiscretizeConfig(min_part_size=20)
    est = Discretizer(cfg, level=0)
    assert est.config == DiscretizeConfig(level=0, min_part_size=20) and cfg.level is None  # cfg itself unchanged
    assert Discretizer().config == DiscretizeConfig()
    with pytest.raises(ValueError, match=r"^DiscretizeConfig.level must be >= 0, got -1$"):
        Discretizer(level=-1)


def _touching_pieces(seed=0):
    """A floor and a tower of two boxes modelled as separate, touching meshes (no shared
    vertex): the two boxes carry the same field (one part), the floor another."""
    import trimesh

    from omniseg3d_mesh.synthetic.assembly import assemble_parts

    T = trimesh.transformations.translation_matrix
    meshes = [
        trimesh.creation.box(extents=(3, 3, 0.1), transform=T((0, 0, -0.05))).subdivide().subdivide(),
        trimesh.creation.box(extents=(0.8, 0.8, 0.5), transform=T((0, 0, 0.25))).subdivide().subdivide(),
        trimesh.creation.box(extents=(0.8, 0.8, 0.5), transform=T((0, 0, 0.75))).subdivide().subdivide(),
    ]
    verts, faces, piece = assemble_parts(meshes)
    rng = np.random.default_rng(seed)
    dirs = np.eye(8)[[0, 1, 1]]  # the two boxes: one part
    feats = dirs[piece] + rng.normal(scale=0.02, size=(len(verts), 8))
    return verts.astype(np.float32), faces.astype(np.int32), feats.astype(np.float32), piece


def test_viewer_and_discretize_cut_the_same_graph():
    """The viewer's Run discretize and `discretize` give the same parts on touching pieces
    (both cut the unbridged graph; the viewer used to pass the selector's bridged one)."""
    from omniseg3d_mesh.viewer.state import ViewerState

    verts, faces, feats, piece = _touching_pieces()
    assert graph.connected_components(graph.mesh_adjacency(faces, len(verts))).max() == 2  # three pieces
    state = ViewerState(feats, verts, faces)
    state.discretize(level=0, min_part_size=20)
    direct = Discretizer(level=0, min_part_size=20).fit(feats, verts, faces).labels_
    function = discretize(feats, verts, faces, DiscretizeConfig(level=0, min_part_size=20))
    np.testing.assert_array_equal(state.parts, direct)
    np.testing.assert_array_equal(function, direct)
    # level 0 keeps the touching pieces apart (the unbridged graph); the next level joins the two
    # boxes of one field, in the viewer as in `discretize`
    assert adjusted_rand_score(piece, direct) == 1.0
    state.discretize(level=1, min_part_size=20)
    assert adjusted_rand_score(np.minimum(piece, 1), state.parts) == 1.0
    # on the selector's bridged graph (what the viewer used to pass) the parts differ
    bridged = (
        Discretizer(level=0, min_part_size=20).fit(feats, verts, faces, adjacency=state.selector.adjacency).labels_
    )
    assert not np.array_equal(bridged, direct)
