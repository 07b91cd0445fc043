"""The automatic level read from the training masks (issue 14): the cut the 2D masks agree with."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from omniseg3d_mesh.config import DiscretizeConfig
from omniseg3d_mesh.discretize import Discretizer, PartTree, mask_split_votes, pixel_vertices
from omniseg3d_mesh.field import Field
from omniseg3d_mesh.pipeline import discretize_workspace
from omniseg3d_mesh.render.fragments import compute_fragments
from omniseg3d_mesh.scene import Camera, Scene
from omniseg3d_mesh.workspace import Workspace
from tests.helpers.parts import make_part_scene, top_camera


@pytest.fixture(scope="module")
def scene():
    return make_part_scene(60)


def _cameras():
    """Straight down, and two oblique views (the blocks' sides show)."""
    return [
        top_camera(96, 96, "top.png"),
        Camera.look_at((1.6, 0.5, 1.6), (0.5, 0.5, 0.1), up=(0, 0, 1), width=96, height=96, fov_y_deg=45, name="e.png"),
        Camera.look_at(
            (0.5, -0.6, 1.6), (0.5, 0.5, 0.1), up=(0, 0, 1), width=96, height=96, fov_y_deg=45, name="s.png"
        ),
    ]


@pytest.fixture(scope="module")
def pixels(scene):
    sc = Scene(vertices=scene.vertices, faces=scene.faces, cameras=_cameras())
    return {c.name: pixel_vertices(*_ids_weights(compute_fragments(sc, c, "cpu"))) for c in sc.cameras}


def _ids_weights(fr):
    return fr.vertex_ids, fr.weights


def _masks(pix: np.ndarray, labels: np.ndarray, whole: bool = True) -> np.ndarray:
    """What a person drawing ``labels`` would give: a mask per visible label (+ the whole scene)."""
    lab = np.where(pix >= 0, labels[np.maximum(pix, 0)], -1)
    out = [lab == s for s in np.unique(lab[lab >= 0])]
    if whole:
        out.append(lab >= 0)
    return np.stack(out)


def _views(pixels, labels, whole=True):
    return [(pix, _masks(pix, labels, whole)) for pix in pixels.values()]


@pytest.mark.parametrize("truth,count", [("part", 8), ("object", 4), ("group", 3)])
def test_automatic_level_picks_the_granularity_the_masks_are_drawn_at(scene, pixels, truth, count):
    """One field with a clear hierarchy (parts, objects, groups); the masks decide the level."""
    labels = getattr(scene, truth)
    est = Discretizer(min_part_size=20).fit(scene.features, scene.vertices, scene.faces, views=_views(pixels, labels))
    assert est.granularity_ == "masks"
    assert est.tree_.num_parts(0) == 8
    assert est.tree_.num_parts(est.level_) == count
    assert adjusted_rand_score(labels, est.labels_) >= 0.95


def test_without_masks_the_field_alone_decides(scene, pixels):
    est = Discretizer(min_part_size=20).fit(scene.features, scene.vertices, scene.faces)
    assert est.granularity_ == "persistence"
    off = Discretizer(min_part_size=20, mask_granularity=False).fit(
        scene.features, scene.vertices, scene.faces, views=_views(pixels, scene.object)
    )
    assert off.granularity_ == "persistence" and off.level_ == est.level_
    given = Discretizer(num_parts=2, min_part_size=20).fit(
        scene.features, scene.vertices, scene.faces, views=_views(pixels, scene.object)
    )
    assert given.granularity_ == "given" and given.tree_.num_parts(given.level_) == 2


def test_annotators_who_disagree_get_the_majority_granularity(scene, pixels):
    """Two people draw objects, one draws parts: the merges inside an object are kept by
    two masks of three that hold either side, so the cut stays at the objects."""
    views = []
    for pix in pixels.values():
        m = np.concatenate([_masks(pix, scene.object), _masks(pix, scene.object, whole=False), _masks(pix, scene.part)])
        views.append((pix, m))
    est = Discretizer(min_part_size=20).fit(scene.features, scene.vertices, scene.faces, views=views)
    assert est.tree_.num_parts(est.level_) == 4


def test_votes_per_merge_and_cut_by_hand():
    """Four parts in a row on one 1 x 4 view; merges (0,1) then (2,3) then the two pairs."""
    z = np.array([[0, 1, 0.2, 2], [2, 3, 0.3, 2], [4, 5, 0.9, 4]])
    tree = PartTree(np.arange(4), [np.arange(4)], [], linkage=z)
    pix = np.arange(4).reshape(1, 4)
    masks = np.array([[[1, 1, 0, 0]], [[0, 0, 1, 1]], [[0, 0, 1, 0]], [[0, 0, 0, 1]]], bool)
    sep, touch = mask_split_votes(tree, [(pix, masks)], min_pixels=1)
    # (0,1): {0,1} holds both; (2,3): {2,3} holds both, {2} and {3} one each; top: every mask holds one side
    assert sep.tolist() == [0, 2, 4] and touch.tolist() == [1, 3, 4]
    assert tree.mask_num_parts(sep, touch) == 3  # undo the top (+4) and (2,3) (+1), keep (0,1) (-1)
    # masks that only join: still a cut (2 parts), never the whole as one part
    assert tree.mask_num_parts(np.zeros(3), np.array([5, 5, 5])) == 2
    # a merge few masks see cannot outvote one many masks decide: (2,3) kept by 6 masks of 10,
    # (0,1) kept apart by the only 2 that see it; by fractions (0,1) would win (+0.5 > -0.1)
    assert tree.mask_num_parts(np.array([2, 4, 1]), np.array([2, 10, 1])) == 2
    with pytest.raises(ValueError, match=r"votes of shape \(2,\) and \(3,\); expected \(3,\) each"):
        tree.mask_num_parts(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="do not match a view of 4 pixels"):
        mask_split_votes(tree, [(pix, np.zeros((1, 3, 2), bool))])


def test_pixel_vertices_takes_the_heaviest_vertex():
    ids = np.array([[[3, 4, 5], [-1, -1, -1]]])
    w = np.array([[[0.2, 0.7, 0.1], [0.0, 0.0, 0.0]]], np.float32)
    assert pixel_vertices(ids, w).tolist() == [[4, -1]]


def test_discretize_workspace_reads_the_training_masks(tmp_path, scene, pixels):
    from omniseg3d_mesh.io.cameras_json import save_cameras_json
    from omniseg3d_mesh.io.masks import save_masks_npz

    ws = Workspace(tmp_path / "omniseg")
    ws.save_geometry(scene.vertices, scene.faces, scene.colors)
    Field(scene.features).save(ws.field_path)
    cams = _cameras()
    save_cameras_json(ws.cameras_path, cams)
    masks_dir = tmp_path / "masks"
    masks_dir.mkdir()
    for c in cams:
        save_masks_npz(masks_dir / f"{c.name.rsplit('.', 1)[0]}.npz", _masks(pixels[c.name], scene.group))
    ws.update_scene_info(masks=str(masks_dir))
    parts = discretize_workspace(ws, config=DiscretizeConfig(min_part_size=20))
    assert len(np.unique(parts.labels)) == 3
    assert adjusted_rand_score(scene.group, parts.labels) >= 0.95
    assert json.loads((ws.parts_dir / "parts.json").read_text())["granularity"] == "masks"
    # the masks gone: the field alone decides, and says so
    for f in masks_dir.iterdir():
        f.unlink()
    masks_dir.rmdir()
    discretize_workspace(ws, config=DiscretizeConfig(min_part_size=20))
    assert json.loads((ws.parts_dir / "parts.json").read_text())["granularity"] == "persistence"


def _nests(fine: np.ndarray, coarse: np.ndarray) -> bool:
    """Every cluster of ``fine`` lies inside one cluster of ``coarse`` (maps over level-0 parts)."""
    return all(len(np.unique(coarse[fine == c])) == 1 for c in np.unique(fine))


def test_expected_rand_index_cut_splits_a_big_boundary_without_splitting_slivers():
    """Two big regions C, D (49 % of the surface each), merged low in the tree, that a slight
    majority of masks separates; two slivers a, b (1 % each), merged higher, that every mask
    joins; a top merge every mask separates. The vote count keeps the cut at 2 parts (a
    horizontal cut that splits C from D must split a from b too, against 100 votes). Counting
    the pairs each merge decides and cutting the tree at different heights, C and D come
    apart and a, b stay together: 3 parts, a cut no single height gives."""
    labels = np.r_[0, 1, np.full(49, 2), np.full(49, 3)]
    z = np.array([[2, 3, 0.2, 2], [0, 1, 0.3, 2], [4, 5, 0.6, 4]], dtype=float)  # CD, ab, (CD)(ab)
    tree = PartTree(part_labels=labels, level_maps=[np.arange(4)], linkage=z)
    mass = tree.merge_pair_mass()
    np.testing.assert_allclose(mass, [49 * 49 / 1e4, 1 / 1e4, 2 * 98 / 1e4])
    sep = np.array([6, 0, 10])  # C|D: 6 of 10 masks separate; a|b: none of 100; top: all 10
    touch = np.array([10, 100, 10])
    assert tree.mask_num_parts(sep, touch) == 2
    cut = tree.expected_ri_cut(sep, touch, mass)
    assert cut[0] == cut[1] and len({cut[0], cut[2], cut[3]}) == 3
    # a merge below the field's noise floor is joined whatever the masks say: its split is arbitrary
    tree.noise_floor = 0.25
    floor = tree.expected_ri_cut(sep, touch, mass)
    assert floor[2] == floor[3] and floor[0] == floor[1] and floor[0] != floor[2]
    tree.noise_floor = 0.0
    # surface areas, not vertex counts: a and b carry 80 % of the surface here
    areas = np.r_[40.0, 40.0, np.full(98, 20.0 / 98)]
    np.testing.assert_allclose(tree.merge_pair_mass(areas), [0.01, 0.16, 0.16])


def test_a_cut_at_several_heights_keeps_every_level_nested():
    labels = np.r_[0, 1, np.full(49, 2), np.full(49, 3)]
    z = np.array([[2, 3, 0.2, 2], [0, 1, 0.3, 2], [4, 5, 0.6, 4]], dtype=float)
    levels = [np.arange(4), np.array([0, 1, 2, 2]), np.array([0, 0, 1, 1])]  # heights 0.25 and 0.45
    tree = PartTree(part_labels=labels, level_maps=[lv.copy() for lv in levels], linkage=z, similarities=[0.75, 0.55])
    level = tree.add_partition(np.array([0, 0, 1, 2]))  # {a b} {C} {D}: no single height
    assert tree.num_parts(level) == 3 and tree.num_levels == 4
    assert len(tree.similarities) == tree.num_levels - 1
    for lv in range(tree.num_levels - 1):
        assert _nests(tree.level_maps[lv], tree.level_maps[lv + 1]), lv
    assert tree.add_partition(np.array([5, 5, 7, 9])) == level  # the same partition: no new level
    np.testing.assert_array_equal(tree.parents(level), tree.parents(level))  # parents are defined
