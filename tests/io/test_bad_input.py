"""Every bad input file is one clear error naming the file (issue 15); docs/reliability.md lists them."""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pytest
from PIL import Image

from omniseg3d_mesh.io.geometry import count_duplicate_faces, load_geometry, save_ply
from omniseg3d_mesh.io.masks import load_masks, load_sam_folder, save_masks_npz, save_sam_folder
from omniseg3d_mesh.scene import Camera
from omniseg3d_mesh.workspace import Workspace


def _cams(names, w=16, h=12):
    return [Camera.look_at((0, -3, 1), (0, 0, 0), width=w, height=h, fov_y_deg=50, name=n) for n in names]


# --------------------------------------------------------------------------- masks
def test_zero_one_mask_pngs_are_read_as_masks(tmp_path):
    """A 0/1 PNG (a common export) is the same mask as SAM's 0/255, not an empty one."""
    m = np.zeros((2, 12, 16), bool)
    m[0, 2:6, 3:9] = True
    m[1, 5:11, 8:15] = True
    save_sam_folder(tmp_path / "sam", m)
    folder = tmp_path / "view_000"
    folder.mkdir()
    for i, mask in enumerate(m):
        Image.fromarray(mask.astype(np.uint8)).save(folder / f"{i}.png")  # values 0 and 1
    np.testing.assert_array_equal(load_sam_folder(folder), m)
    np.testing.assert_array_equal(load_sam_folder(tmp_path / "sam"), m)
    out = load_masks(tmp_path, _cams(["view_000.png", "sam.png"]))
    assert out["view_000.png"].sum() == m.sum() > 0


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_mask_npz_names_the_file(tmp_path, damage):
    save_masks_npz(tmp_path / "view_000.npz", np.ones((1, 12, 16), bool))
    path = tmp_path / "view_000.npz"
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"not a zip at all" * 10, "empty": b""}[damage])
    with pytest.raises(
        ValueError, match=r"view_000\.npz: cannot read the mask stack: .*truncated or corrupt.*np\.savez"
    ):
        load_masks(tmp_path, _cams(["view_000.png"]))


def test_truncated_multi_view_mask_npz_names_the_file(tmp_path):
    np.savez(tmp_path / "all.npz", view_000=np.ones((1, 12, 16), bool))
    data = (tmp_path / "all.npz").read_bytes()
    (tmp_path / "all.npz").write_bytes(data[:-30])
    with pytest.raises(ValueError, match=r"all\.npz: cannot read the mask stack: the file is truncated or corrupt"):
        load_masks(tmp_path / "all.npz", _cams(["view_000.png"]))


def test_object_dtype_mask_npz_is_refused_without_unpickling(tmp_path):
    stack = np.empty(2, dtype=object)
    stack[0], stack[1] = np.ones((12, 16), bool), np.zeros((12, 16), bool)
    np.savez(tmp_path / "view_000.npz", masks=stack)
    with pytest.raises(
        ValueError,
        match=r"view_000\.npz: array 'masks' of the mask stack holds Python objects "
        r"\(dtype object\), which are never loaded",
    ):
        load_masks(tmp_path, _cams(["view_000.png"]))


# --------------------------------------------------------------------------- workspace npz
def _workspace(tmp_path):
    from omniseg3d_mesh.field import Field

    ws = Workspace(tmp_path / "ws")
    ws.save_geometry(np.random.rand(5, 3), np.array([[0, 1, 2]]), None)
    Field(np.eye(5, 4, dtype=np.float32), {"x": 1}).save(ws.field_path)
    return ws


@pytest.mark.parametrize("which", ["field", "geometry"])
def test_truncated_workspace_npz_names_the_file(tmp_path, which):
    from omniseg3d_mesh.field import Field

    ws = _workspace(tmp_path)
    path = ws.field_path if which == "field" else ws.geometry_path
    path.write_bytes(path.read_bytes()[:40])
    what = "field file" if which == "field" else "workspace geometry"
    with pytest.raises(
        ValueError, match=rf"{path.name}: cannot read the {what}: the file is truncated or corrupt.*omniseg-mesh fit"
    ):
        Field.load(ws.field_path) if which == "field" else ws.load_geometry()


def test_object_dtype_field_is_refused(tmp_path):
    from omniseg3d_mesh.field import Field

    feats = np.empty(3, dtype=object)
    np.savez(tmp_path / "field.npz", features=feats)
    with pytest.raises(ValueError, match=r"field\.npz: array 'features' of the field file holds Python objects"):
        Field.load(tmp_path / "field.npz")


# --------------------------------------------------------------------------- non-finite field
def test_non_finite_field_is_refused_by_every_reader(tmp_path):
    from omniseg3d_mesh.discretize import Discretizer
    from omniseg3d_mesh.field import Field, NonFiniteFieldError
    from omniseg3d_mesh.select import Selector

    ws = _workspace(tmp_path)
    bad = np.eye(5, 4, dtype=np.float32)
    bad[3, 1] = np.nan
    with pytest.raises(
        NonFiniteFieldError,
        match=r"refusing to write .*field\.npz: 1 of 5 vertices have NaN or inf features \(first ids \[3\]\)",
    ):
        Field(bad).save(ws.field_path)
    assert np.isfinite(Field.load(ws.field_path).features).all()  # the good field is still there
    np.savez(ws.field_path, features=bad, meta=np.array("{}"))  # a NaN field written by something else
    match = r"field\.npz: 1 of 5 vertices have NaN or inf features .*the fit diverged. Fix: re-run `omniseg-mesh fit`.*lower --lr"
    with pytest.raises(NonFiniteFieldError, match=match):
        Field.load(ws.field_path)
    with pytest.raises(NonFiniteFieldError, match=match):
        Selector.from_workspace(ws)
    with pytest.raises(NonFiniteFieldError, match="the field: 1 of 5 vertices have NaN"):
        Selector(bad, np.random.rand(5, 3))
    with pytest.raises(NonFiniteFieldError, match="the field: 1 of 5 vertices have NaN"):
        Discretizer().fit(bad, np.random.rand(5, 3))


def test_fit_workspace_never_replaces_a_good_field_with_a_non_finite_one(tmp_path, monkeypatch):
    import omniseg3d_mesh.fit as fit_module
    from omniseg3d_mesh.field import Field, NonFiniteFieldError
    from omniseg3d_mesh.io.example import write_example_scene
    from omniseg3d_mesh.pipeline import fit_workspace

    mesh, images = write_example_scene(tmp_path, num_views=2, width=16, height=12)
    masks = tmp_path / "masks"
    for k in range(2):
        save_masks_npz(masks / f"view_{k:03d}.npz", np.ones((1, 12, 16), bool))
    ws = Workspace(tmp_path / "ws")
    nv = len(load_geometry(mesh)[0])
    good = Field(np.ones((nv, 4), np.float32) / 2, {"views": ["view_000.png"]})
    good.save(ws.field_path)
    before = ws.field_path.read_bytes()
    ckpt = ws.checkpoints_dir / "fit.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"diverged state")

    def diverged(scene, *a, **k):
        f = np.ones((scene.num_vertices, 4), np.float32)
        f[:7] = np.nan
        return Field(f, {"views": ["view_000.png"], "final_loss": float("nan")})

    monkeypatch.setattr(fit_module, "fit_field", diverged)
    with pytest.raises(
        NonFiniteFieldError,
        match=rf"the fit diverged: 7 of {nv} vertices have NaN or inf features .*"
        r"the previous .*field\.npz is kept. Fix: lower the learning rate \(--lr 0\.0",
    ):
        fit_workspace(mesh, images, masks=masks, workspace=ws)
    assert ws.field_path.read_bytes() == before
    assert not ws.scene_json.exists() and not ckpt.exists()  # nothing half-updated; no resuming into NaN


# --------------------------------------------------------------------------- geometry
def _tri():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], np.float32)
    return v, np.array([[0, 1, 2], [1, 3, 2]])


def test_glb_gltf_empty_corrupt_truncated(tmp_path):
    import trimesh

    fix = "Fix: export the mesh again"
    v, f = _tri()
    good = trimesh.Trimesh(v, f, process=False).export(file_type="glb")
    cases = [
        ("empty.glb", b"", rf"the file is empty \(0 bytes\).*{fix}"),
        ("corrupt.glb", b"\x00\x01garbage" * 20, rf"not a binary glTF file \(expected the magic bytes 'glTF'.*{fix}"),
        ("cut.glb", good[: len(good) // 2], rf"the file is truncated \(its header says {len(good)} bytes"),
        ("bad_chunk.glb", good[:12] + b"\xff" * (len(good) - 12), rf"cannot read this glTF file \(.*{fix}"),
        ("model.gltf", b"", r"the file is empty"),
        (
            "cut.gltf",
            b'{"asset": {"version": "2.0"}, "meshes": [',
            r", line 1, column \d+: the glTF file is not valid JSON",
        ),
        ("other.gltf", b'{"frames": []}', r"not a glTF file \(expected a JSON object with an 'asset' key"),
    ]
    for name, content, match in cases:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=re.escape(name) + (match if match.startswith(",") else ": " + match)):
            load_geometry(tmp_path / name)


@pytest.mark.parametrize("binary", [False, True])
def test_ply_header_that_under_counts_faces_is_refused(tmp_path, binary):
    v, f = _tri()
    path = tmp_path / "m.ply"
    if binary:
        save_ply(path, v, f)
    else:
        rows = [" ".join(map(str, p)) for p in v] + [f"3 {a} {b} {c}" for a, b, c in f]
        path.write_text(
            "ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n"
            "element face 2\nproperty list uchar int vertex_indices\nend_header\n" + "\n".join(rows) + "\n"
        )
    assert len(load_geometry(path)[1]) == 2  # well-formed (a trailing newline is fine)
    path.write_bytes(path.read_bytes().replace(b"element face 2", b"element face 1"))
    unit = "bytes" if binary else "values"
    with pytest.raises(
        ValueError,
        match=rf"m\.ply: \d+ {unit} of data follow the last element the header declares "
        r"\(4 vertex, 1 face\): the header under-counts an element",
    ):
        load_geometry(path)


def test_duplicate_face_count_is_the_same_above_two_million_vertices():
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 50, size=(3000, 3))
    faces[100:140] = faces[:40][:, ::-1]  # 40 re-ordered duplicates (plus random ones)
    small = count_duplicate_faces(faces, 50)
    big_ids = faces * 100_003 + 7  # the same faces in a 5M-vertex id space: the two-key path
    assert count_duplicate_faces(big_ids, 5_100_000) == small >= 40
    sorted_rows = np.sort(faces, axis=1)
    assert small == len(faces) - len(np.unique(sorted_rows, axis=0))  # the slow, obvious reference


# --------------------------------------------------------------------------- camera JSON
@pytest.mark.parametrize("name", ["transforms.json", "cameras.json"])
def test_truncated_camera_json_shows_the_parse_error(tmp_path, name):
    from omniseg3d_mesh.io.cameras import load_cameras
    from omniseg3d_mesh.io.cameras_json import save_cameras_json
    from omniseg3d_mesh.io.transforms import save_transforms

    cams = _cams(["frame_0.png", "frame_1.png"])
    images = tmp_path / "images"
    images.mkdir()
    for c in cams:
        Image.new("L", (c.width, c.height)).save(images / c.name)
    path = tmp_path / name
    (save_transforms if name == "transforms.json" else save_cameras_json)(path, cams)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    lines = text[: len(text) // 2].count("\n") + 1
    match = (
        rf"{name}, line {lines}, column \d+: the camera file is not valid JSON: .*\(the file ends there: truncated\?\)"
    )
    with pytest.raises(ValueError, match=match):
        load_cameras(images)  # auto-detection
    with pytest.raises(ValueError, match=rf"{name}, line {lines}, column \d+: .*not valid JSON"):
        load_cameras(images, cameras=path)


# --------------------------------------------------------------------------- world transform
def test_nerfstudio_dataparser_transforms_scale_and_applied_transform(tmp_path):
    """ns-export meshes live in p' = scale * (D @ A @ p): cameras must land in that frame."""
    from omniseg3d_mesh.io.cameras import load_cameras
    from omniseg3d_mesh.io.transforms import save_transforms

    cams = _cams(["frame_0.png", "frame_1.png"], w=32, h=24)
    cams[1] = Camera.look_at((2, -2, 1.5), (0, 0, 0), width=32, height=24, fov_y_deg=50, name="frame_1.png")
    images = tmp_path / "images"
    images.mkdir()
    for c in cams:
        Image.new("L", (c.width, c.height)).save(images / c.name)
    A = np.array([[1.0, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0]])
    save_transforms(tmp_path / "transforms.json", cams, applied_transform=A)
    a = 0.4
    D = np.array([[np.cos(a), -np.sin(a), 0, 0.3], [np.sin(a), np.cos(a), 0, -0.2], [0, 0, 1, 0.1]])
    scale = 0.37
    dp = tmp_path / "dataparser_transforms.json"
    dp.write_text(json.dumps({"transform": D.tolist(), "scale": scale}))
    loaded, _ = load_cameras(images, world_transform=dp)
    pts = np.random.default_rng(0).uniform(-0.5, 0.5, (50, 3))
    M = np.diag([scale, scale, scale, 1.0]) @ np.vstack([D, [0, 0, 0, 1]]) @ np.vstack([A, [0, 0, 0, 1]])
    moved = pts @ M[:3, :3].T + M[:3, 3]
    for new, old in zip(loaded, cams):
        np.testing.assert_allclose(new.project(moved)[0], old.project(pts)[0], atol=1e-4)
    dp.write_text(json.dumps({"transform": D.tolist(), "scale": scale, "note": "x"}))
    with pytest.raises(ValueError, match=r"dataparser_transforms\.json: expected a 4x4 list.*not understood: note"):
        load_cameras(images, world_transform=dp)
    dp.write_text(json.dumps({"transform": D.tolist(), "scale": -1}))
    with pytest.raises(ValueError, match=r"'scale' must be a positive number"):
        load_cameras(images, world_transform=dp)


def test_info_on_geometry_with_many_vertices_uses_the_vectorised_check(caplog):
    """Duplicates among > 2M-vertex ids are still counted and reported (the fast two-key path)."""
    from omniseg3d_mesh.io.geometry import validate_geometry

    v = np.random.default_rng(1).random((2_100_000, 3)).astype(np.float32)
    f = np.array([[0, 1, 2], [2, 1, 0], [2_099_999, 5, 6]])
    with caplog.at_level(logging.WARNING):
        validate_geometry(v, f, "big.ply")
    assert "1 duplicate another face" in caplog.text
