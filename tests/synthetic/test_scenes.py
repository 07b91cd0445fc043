"""Synthetic scenes: determinism, nested labels, cameras that see furniture, files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from omniseg3d_mesh.render.fragments import compute_fragments
from omniseg3d_mesh.synthetic.masks import gt_label_maps
from omniseg3d_mesh.synthetic.scenes import make_scene, render_shaded, save_synthetic


@pytest.fixture(scope="module")
def syn():
    return make_scene("small", seed=3, num_views=4, width=80, height=60)


def test_same_seed_same_scene(syn):
    again = make_scene("small", seed=3, num_views=4, width=80, height=60)
    np.testing.assert_array_equal(syn.scene.vertices, again.scene.vertices)
    np.testing.assert_array_equal(syn.scene.colors, again.scene.colors)
    for level in ("part", "object", "group"):
        np.testing.assert_array_equal(syn.labels[level], again.labels[level])
    np.testing.assert_allclose(syn.scene.cameras[2].world_to_cam, again.scene.cameras[2].world_to_cam)
    other = make_scene("small", seed=4, num_views=4, width=80, height=60)
    assert other.scene.num_vertices != syn.scene.num_vertices or not np.allclose(
        other.scene.vertices, syn.scene.vertices
    )


def test_labels_nest_part_object_group(syn):
    part, obj, grp = syn.labels["part"], syn.labels["object"], syn.labels["group"]
    assert len(part) == syn.scene.num_vertices
    # each part lies in exactly one object, each object in exactly one group
    for p in np.unique(part):
        assert len(np.unique(obj[part == p])) == 1
    for o in np.unique(obj):
        assert len(np.unique(grp[obj == o])) == 1
    np.testing.assert_array_equal(obj, syn.part_object[part])
    np.testing.assert_array_equal(grp, syn.object_group[obj])
    assert syn.stuff.sum() == 5  # floor + 4 walls
    assert len(syn.multi_part_objects()) >= 6
    assert len(syn.part_names) == syn.num_parts and len(set(syn.part_names)) == syn.num_parts


def test_small_preset_size_and_views():
    s = make_scene("small", seed=0, num_views=2, width=32, height=24)
    assert 20_000 <= s.scene.num_vertices <= 50_000
    assert [c.name for c in s.scene.cameras] == ["view_000.png", "view_001.png"]
    assert s.scene.cameras[0].width == 32


def test_cameras_look_at_furniture(syn):
    for cam in syn.scene.cameras:
        frags = compute_fragments(syn.scene, cam, "cpu")
        maps = gt_label_maps(syn, frags)
        objs = maps["object"][maps["object"] >= 0]
        things = ~syn.stuff[objs]
        assert frags.valid.mean() > 0.5
        assert things.mean() > 0.05, f"{cam.name} sees almost no furniture"


def test_render_and_save(tmp_path, syn):
    cam = syn.scene.cameras[0]
    frags = compute_fragments(syn.scene, cam, "cpu")
    img = render_shaded(syn.scene, frags, cam)
    assert img.shape == (60, 80, 3) and img.dtype == np.uint8
    assert img[frags.valid].std() > 5
    paths = save_synthetic(tmp_path / "scene", syn)
    import trimesh

    mesh = trimesh.load(paths["mesh"], process=False)
    assert len(mesh.vertices) == syn.scene.num_vertices
    assert sorted(p.name for p in paths["images"].iterdir()) == [c.name for c in syn.scene.cameras]
    assert paths["cameras"].is_file() and json.loads(paths["cameras"].read_text())
    with np.load(paths["labels"]) as gt:
        np.testing.assert_array_equal(gt["object"], syn.labels["object"])


def test_bad_preset_and_views():
    with pytest.raises(ValueError, match="unknown synthetic scene preset 'huge'"):
        make_scene("huge")
    with pytest.raises(ValueError, match="num_views must be at least 1"):
        make_scene("small", num_views=0)
