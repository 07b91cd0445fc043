"""The fragment cache: an uncompressed npz written in the background, older compressed entries still read."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from omniseg3d_mesh.render import fragments as fragments_module
from omniseg3d_mesh.render.fragments import Fragments, compute_fragments, iter_fragments, load_or_compute_fragments
from omniseg3d_mesh.workspace import Workspace, atomic_save_npz


def _no_compute(*args, **kwargs):
    raise AssertionError("fragments were recomputed instead of read from the cache")


def test_cache_is_uncompressed_and_reads_back_what_was_returned(box_scene, tmp_path, monkeypatch):
    scene, _ = box_scene
    ws = Workspace(tmp_path / "ws")
    first = {cam.name: frags for cam, frags in iter_fragments(scene, workspace=ws, backend="cpu")}
    for cam in scene.cameras:  # every entry is on disk once the iteration ends (background writer)
        with zipfile.ZipFile(ws.fragments_path(cam.name)) as zf:
            infos = {i.filename: i for i in zf.infolist()}
        assert set(infos) == {"key.npy", "face_ids.npy", "bary.npy", "depth.npy"}
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos.values())
    monkeypatch.setattr(fragments_module, "compute_fragments", _no_compute)
    for cam, again in iter_fragments(scene, workspace=ws, backend="cpu"):
        before = first[cam.name]
        assert again.is_compact
        # the run that computed the fragments saw exactly what a resumed run reads
        np.testing.assert_array_equal(again.vertex_ids, before.vertex_ids)
        np.testing.assert_array_equal(again.weights, before.weights)
        np.testing.assert_array_equal(again.depth, before.depth)


def test_compact_fragments_expand_like_the_full_form(box_scene):
    scene, _ = box_scene
    frags = compute_fragments(scene, scene.cameras[1], backend="cpu")
    assert frags.is_compact
    valid = frags.face_ids >= 0
    np.testing.assert_array_equal(frags.valid, valid)
    np.testing.assert_array_equal(frags.vertex_ids[valid], scene.faces[frags.face_ids[valid]])
    assert np.all(frags.vertex_ids[~valid] == -1) and np.all(frags.weights[~valid] == 0)
    np.testing.assert_allclose(frags.weights[valid].sum(-1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(frags.weights[..., 1:][valid], frags.bary[valid])
    full = Fragments(frags.vertex_ids.copy(), frags.weights.copy(), frags.depth, frags.face_ids)
    assert not full.is_compact
    np.testing.assert_array_equal(full.bary, frags.bary * valid[..., None])
    np.testing.assert_array_equal(full.dominant_vertex(), frags.dominant_vertex())


def _cached(scene, cam, ws):
    """Fragments of ``cam`` computed into the cache of ``ws``: (fragments, cache file, its arrays)."""
    made = load_or_compute_fragments(scene, cam, ws, backend="cpu")
    path = ws.fragments_path(cam.name)
    with np.load(path) as data:
        return made, path, {k: data[k] for k in data.files}


def test_older_compressed_cache_entries_are_still_read(box_scene, tmp_path, monkeypatch):
    scene, _ = box_scene
    ws = Workspace(tmp_path / "ws")
    cam = scene.cameras[2]
    made, path, arrays = _cached(scene, cam, ws)
    atomic_save_npz(path, compress=True, **arrays)  # what earlier versions wrote
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("bary.npy").compress_type == zipfile.ZIP_DEFLATED
    monkeypatch.setattr(fragments_module, "compute_fragments", _no_compute)
    back = load_or_compute_fragments(scene, cam, ws, backend="cpu")
    np.testing.assert_array_equal(back.vertex_ids, made.vertex_ids)
    np.testing.assert_array_equal(back.weights, made.weights)


def test_stale_or_unreadable_cache_entries_are_rebuilt(box_scene, tmp_path, caplog):
    scene, _ = box_scene
    ws = Workspace(tmp_path / "ws")
    cam = scene.cameras[0]
    made, path, arrays = _cached(scene, cam, ws)
    arrays["key"] = np.array("written-by-another-version")
    atomic_save_npz(path, compress=True, **arrays)
    again = load_or_compute_fragments(scene, cam, ws, backend="cpu")
    np.testing.assert_array_equal(again.vertex_ids, made.vertex_ids)
    with np.load(path) as data:
        assert str(data["key"]) != "written-by-another-version"
    path.write_bytes(b"not a zip")
    with caplog.at_level("WARNING"):
        again = load_or_compute_fragments(scene, cam, ws, backend="cpu")
    assert "recomputing unreadable fragment cache" in caplog.text
    np.testing.assert_array_equal(again.face_ids, made.face_ids)


def test_a_failing_background_write_is_raised(box_scene, tmp_path, monkeypatch):
    scene, _ = box_scene

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(fragments_module, "atomic_save_npz", disk_full)
    with pytest.raises(OSError, match="No space left"):
        list(iter_fragments(scene, workspace=Workspace(tmp_path / "ws"), backend="cpu"))


def test_replace_gives_explicit_fragments_and_construction_errors(box_scene):
    import dataclasses

    scene, _ = box_scene
    frags = compute_fragments(scene, scene.cameras[0], backend="cpu")
    edited = dataclasses.replace(frags, vertex_ids=frags.vertex_ids.copy())
    assert frags.is_compact and not edited.is_compact
    row, col = np.argwhere(frags.valid)[0]
    edited.vertex_ids[row, col] = -1  # an edit everyone reading the new fragments sees
    assert not edited.valid[row, col] and frags.valid[row, col]
    with pytest.raises(ValueError, match="need vertex_ids and weights"):
        Fragments(depth=frags.depth, face_ids=frags.face_ids)


def test_point_outline_is_cached_and_only_the_fit_leaves_it_empty(box_scene, tmp_path, monkeypatch):
    """The cache keeps a point cloud's outline covered and marked; iter_fragments (the fit's
    fragments) hands it out empty unless asked to keep it; renders read it covered."""
    from omniseg3d_mesh.scene import Scene

    mesh, _ = box_scene
    import trimesh

    pts, _ = trimesh.sample.sample_surface_even(trimesh.Trimesh(mesh.vertices, mesh.faces), 4000, seed=0)
    cloud = Scene(vertices=pts, cameras=mesh.cameras[:2])
    ws = Workspace(tmp_path / "ws")
    fit = {cam.name: f for cam, f in iter_fragments(cloud, workspace=ws)}
    monkeypatch.setattr(fragments_module, "compute_fragments", _no_compute)
    for cam in cloud.cameras:
        full = load_or_compute_fragments(cloud, cam, ws)  # from the cache
        assert full.outline is not None and full.outline.any()
        np.testing.assert_array_equal(fit[cam.name].valid, full.valid & ~full.outline)
        ((_, kept),) = iter_fragments(cloud, [cam], workspace=ws, keep_outline=True)
        np.testing.assert_array_equal(kept.vertex_ids, full.vertex_ids)
        np.testing.assert_array_equal(kept.outline, full.outline)
