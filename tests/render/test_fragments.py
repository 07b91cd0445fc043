"""Fragments: ray-cast hits, the compact form, the per-view cache."""

import numpy as np
import pytest

from omniseg3d_mesh.workspace import Workspace


def test_raycast_fragments_hit_the_right_vertices(box_scene):
    from omniseg3d_mesh.render.fragments import compute_fragments

    scene, labels = box_scene
    cam = scene.cameras[0]
    frags = compute_fragments(scene, cam, backend="cpu")
    assert frags.vertex_ids.shape == (cam.height, cam.width, 3)
    valid = frags.valid
    assert 0.3 < valid.mean() < 1.0
    np.testing.assert_allclose(frags.weights[valid].sum(-1), 1.0, atol=1e-5)
    # the interpolated 3D position projects back onto its own pixel
    pos = frags.interpolate(scene.vertices.astype(np.float64))
    uv, depth = cam.project(pos[valid])
    rows, cols = np.nonzero(valid)
    np.testing.assert_allclose(uv, np.stack([cols + 0.5, rows + 0.5], 1), atol=1e-3)
    np.testing.assert_allclose(depth, frags.depth[valid], rtol=1e-4)


def test_fragment_cache_reused_and_invalidated(box_scene, tmp_path):
    from omniseg3d_mesh.render.fragments import load_or_compute_fragments

    scene, _ = box_scene
    ws = Workspace(tmp_path / "ws")
    cam = scene.cameras[1]
    a = load_or_compute_fragments(scene, cam, ws, backend="cpu")
    path = ws.fragments_path(cam.name)
    stamp = path.stat().st_mtime_ns
    b = load_or_compute_fragments(scene, cam, ws, backend="cpu")
    assert path.stat().st_mtime_ns == stamp and np.array_equal(a.vertex_ids, b.vertex_ids)
    moved = cam.scaled(cam.width // 2, cam.height // 2)
    c = load_or_compute_fragments(scene, moved, ws, backend="cpu")
    assert c.vertex_ids.shape[:2] == (cam.height // 2, cam.width // 2)


def test_compact_fragment_storage_roundtrips(box_scene):
    from omniseg3d_mesh.render.fragments import Fragments, compute_fragments

    scene, _ = box_scene
    frags = compute_fragments(scene, scene.cameras[2], backend="cpu")
    arrays = frags.to_npz_arrays()
    assert "vertex_ids" not in arrays  # the compact mesh form
    back = Fragments.from_npz(arrays, scene.faces)
    assert np.array_equal(back.vertex_ids, frags.vertex_ids)
    np.testing.assert_allclose(back.weights, frags.weights, atol=2e-3)
    np.testing.assert_allclose(back.weights.sum(-1)[back.valid], 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="need the mesh faces"):
        Fragments.from_npz(arrays)
