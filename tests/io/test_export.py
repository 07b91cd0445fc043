"""Export of parts and selections: files reload, labels line up, writes are atomic."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from omniseg3d_mesh.io import export as export_mod
from omniseg3d_mesh.io.export import export_parts, export_selection, face_labels
from tests.helpers.parts import make_part_scene


@pytest.fixture(scope="module")
def scene():
    return make_part_scene(30)


@pytest.mark.parametrize("fmt", ["ply", "obj", "glb"])
def test_part_files_reload_with_their_vertex_counts(tmp_path, scene, fmt):
    parents = np.array([0, 1, 1, 2, 2, 3, 3, 3])
    manifest = export_parts(
        tmp_path / "parts", scene.vertices, scene.faces, scene.colors, scene.part, parents=parents, levels=0, format=fmt
    )
    out = tmp_path / "parts"
    assert manifest["num_parts"] == 8 and manifest["format"] == fmt
    doc = json.loads((out / "parts.json").read_text())
    assert doc["parts"] == manifest["parts"]
    for rec in doc["parts"]:
        mesh = trimesh.load(out / rec["file"], process=False, force="mesh")
        assert len(mesh.vertices) == rec["num_vertices"] and len(mesh.faces) == rec["num_faces"]
        assert rec["parent"] == parents[rec["id"]] and rec["level"] == 0
        own = scene.part == rec["id"]
        np.testing.assert_allclose(rec["centroid"], scene.vertices[own].mean(0), atol=1e-5)
        np.testing.assert_allclose(rec["bbox"][0], scene.vertices[own].min(0), atol=1e-6)
        # original positions and colours are kept
        dist, _ = cKDTree(np.asarray(mesh.vertices)).query(scene.vertices[own])
        assert dist.max() < 1e-5
    assert sum(r["num_faces"] for r in doc["parts"]) == len(scene.faces)


def test_labels_and_segmented_scene_keep_vertex_ids(tmp_path, scene):
    labels = scene.part.copy()
    labels[:5] = -1
    export_parts(tmp_path / "p", scene.vertices, scene.faces, scene.colors, labels)
    np.testing.assert_array_equal(np.load(tmp_path / "p" / "labels.npy"), labels)
    assert np.load(tmp_path / "p" / "labels.npy").dtype == np.int32
    seg = trimesh.load(tmp_path / "p" / "segmented.ply", process=False)
    np.testing.assert_allclose(seg.vertices, scene.vertices, atol=1e-6)
    np.testing.assert_array_equal(seg.faces, scene.faces)
    cols = np.asarray(seg.visual.vertex_colors)[:, :3]
    for p in range(8):  # one colour per part, different between parts
        assert len(np.unique(cols[labels == p], axis=0)) == 1
    assert len(np.unique(cols[labels >= 0], axis=0)) == 8


def test_part_files_keep_colours(tmp_path, scene):
    export_parts(tmp_path / "p", scene.vertices, scene.faces, scene.colors, scene.part, format="ply")
    mesh = trimesh.load(tmp_path / "p" / "part_0003.ply", process=False)
    keep = np.union1d(np.flatnonzero(scene.part == 3), scene.faces[face_labels(scene.faces, scene.part) == 3].ravel())
    np.testing.assert_array_equal(np.asarray(mesh.visual.vertex_colors)[:, :3], scene.colors[keep])


def test_face_goes_to_majority_then_first_vertex():
    faces = np.array([[0, 1, 2], [1, 2, 3], [0, 2, 4]])
    labels = np.array([5, 7, 7, 5, 9])
    np.testing.assert_array_equal(face_labels(faces, labels), [7, 7, 5])  # 2nd: 7,7,5 ; 3rd: all differ -> first


def test_point_cloud_parts(tmp_path, scene):
    manifest = export_parts(tmp_path / "p", scene.vertices, None, scene.colors, scene.part, format="glb")
    assert manifest["format"] == "ply" and manifest["num_faces"] == 0
    for rec in manifest["parts"]:
        pc = trimesh.load(tmp_path / "p" / rec["file"], process=False)
        assert len(pc.vertices) == rec["num_vertices"] == (scene.part == rec["id"]).sum()


def test_export_is_atomic(tmp_path, scene, monkeypatch):
    out = tmp_path / "parts"
    export_parts(out, scene.vertices, scene.faces, scene.colors, scene.part)
    before = sorted(p.name for p in out.iterdir())
    calls = {"n": 0}
    real = export_mod._mesh_bytes

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(export_mod, "_mesh_bytes", flaky)
    with pytest.raises(RuntimeError, match="disk full"):
        export_parts(out, scene.vertices, scene.faces, scene.colors, (scene.part + 1) % 8)
    assert sorted(p.name for p in out.iterdir()) == before  # the earlier result survives
    assert [p.name for p in tmp_path.iterdir()] == ["parts"]  # no half-written folder left
    calls["n"] = 0
    with pytest.raises(RuntimeError, match="disk full"):
        export_parts(tmp_path / "new", scene.vertices, scene.faces, scene.colors, scene.part)
    assert not (tmp_path / "new").exists()


def test_export_selection(tmp_path, scene):
    mask = scene.object == 1
    res = export_selection(tmp_path / "sel.ply", scene.vertices, scene.faces, scene.colors, mask)
    mesh = trimesh.load(tmp_path / "sel.ply", process=False)
    assert len(mesh.vertices) == res["num_vertices"] == mask.sum()
    assert len(mesh.faces) == res["num_faces"] == mask[scene.faces].all(1).sum()
    np.testing.assert_array_equal(np.load(tmp_path / "sel.mask.npy"), mask)
    res = export_selection(tmp_path / "sel.obj", scene.vertices, scene.faces, None, mask)
    assert trimesh.load(tmp_path / "sel.obj", process=False, force="mesh").faces.shape[0] == res["num_faces"]


def test_errors(tmp_path, scene):
    v, f, c, lab = scene.vertices, scene.faces, scene.colors, scene.part
    with pytest.raises(ValueError, match="unknown export format 'stl'; choose one of ply, obj, glb"):
        export_parts(tmp_path / "x", v, f, c, lab, format="stl")
    with pytest.raises(ValueError, match=r"labels must have one entry per vertex, shape \(900,\), got \(3,\)"):
        export_parts(tmp_path / "x", v, f, c, lab[:3])
    with pytest.raises(ValueError, match="labels must be part ids >= 0 or -1"):
        export_parts(tmp_path / "x", v, f, c, lab - 2)
    with pytest.raises(ValueError, match="parents must give one parent per part: 8 parts but 2 parents"):
        export_parts(tmp_path / "x", v, f, c, lab, parents=[0, 1])
    with pytest.raises(ValueError, match="levels must give one level per part: 8 parts but 2 levels"):
        export_parts(tmp_path / "x", v, f, c, lab, levels=[0, 1])
    with pytest.raises(ValueError, match=r"level_labels must have shape \(L, 900\)"):
        export_parts(tmp_path / "x", v, f, c, lab, level_labels=np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"vertices must have shape \(V, 3\)"):
        export_parts(tmp_path / "x", v[:, :2], f, c, lab)
    with pytest.raises(ValueError, match=r"faces must be triangles with shape \(F, 3\)"):
        export_parts(tmp_path / "x", v, f[:, :2], c, lab)
    with pytest.raises(ValueError, match="faces use vertex ids 0..900 but there are 900 vertices"):
        export_parts(tmp_path / "x", v, np.vstack([f, [[0, 1, 900]]]), c, lab)
    with pytest.raises(ValueError, match=r"colors must have shape \(900, 3\)"):
        export_parts(tmp_path / "x", v, f, c[:4], lab)
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="must end in .ply, .obj or .glb, got '.stl'"):
        export_selection(tmp_path / "s.stl", v, f, c, lab == 1)
    with pytest.raises(ValueError, match="the selection is empty"):
        export_selection(tmp_path / "s.ply", v, f, c, np.zeros(len(v), bool))
    lone = np.zeros(len(v), bool)
    lone[0] = True
    with pytest.raises(ValueError, match="the selection has no complete face to write as .obj"):
        export_selection(tmp_path / "s.obj", v, f, c, lone)
    res = export_selection(tmp_path / "s.ply", v, f, c, lone)  # a single point is fine as PLY
    assert res["num_vertices"] == 1
