"""Camera formats: the same cameras through every format project points to the same pixels."""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from omniseg3d_mesh.io._camera_common import load_world_transform, qvec_to_rotmat, rotmat_to_qvec
from omniseg3d_mesh.io.cameras import detect_camera_source, load_cameras
from omniseg3d_mesh.io.cameras_json import load_cameras_json, save_cameras_json
from omniseg3d_mesh.io.colmap import load_colmap, save_colmap
from omniseg3d_mesh.io.geometry import load_scene, save_ply
from omniseg3d_mesh.io.scannet import load_scannet, save_scannet
from omniseg3d_mesh.io.transforms import load_transforms, save_transforms
from omniseg3d_mesh.scene import Camera

W, H = 64, 48
TOL = 1e-4  # pixels

# nerfstudio's ns-process-data applied_transform for COLMAP input (swap y/z, negate z)
NS_APPLIED = np.array([[1.0, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0]])


def _rig(distorted: bool = True, shared: bool = False) -> list[Camera]:
    """Six cameras on a ring; intrinsics/distortion chosen to hit every COLMAP model."""
    dists = [
        None,
        None,
        [0.05, 0, 0, 0, 0],
        [-0.08, 0.02, 0, 0, 0],
        [0.04, -0.01, 0.002, -0.001, 0],
        [0.03, 0.01, 0.001, 0.002, -0.004],
    ]
    cams = []
    for k in range(6):
        a = 2 * np.pi * k / 6
        cam = Camera.look_at(
            (3 * np.cos(a), 3 * np.sin(a), 1.5 + 0.1 * k), (0.1, -0.05, 0.3), width=W, height=H, fov_y_deg=55
        )
        K = cam.K.copy()
        if not shared:
            K[0, 0] *= 1.03 if k in (1, 4, 5) else 1.0  # fx != fy
            K[0, 2] += 0.7 * k - 1.3
            K[1, 2] -= 0.4 * k
        dist = dists[k] if distorted and not shared else None
        cams.append(
            Camera(K=K, world_to_cam=cam.world_to_cam, width=W, height=H, name=f"frame_{k:04d}.png", distortion=dist)
        )
    return cams


def _points(n: int = 200, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.6, 0.6, size=(n, 3)) + [0.1, -0.05, 0.3]


def _write_images(folder, cams, ext=".png", size=None):
    folder.mkdir(parents=True, exist_ok=True)
    for c in cams:
        name = c.name if ext == ".png" else c.name.rsplit(".", 1)[0] + ext
        Image.new("L", size or (c.width, c.height)).save(folder / name)
    return folder


def _assert_same_projection(loaded: list[Camera], reference: list[Camera], points=None):
    points = _points() if points is None else points
    by_stem = {Path(c.name).stem: c for c in loaded}
    assert len(loaded) == len(reference)
    for ref in reference:
        cam = by_stem[Path(ref.name).stem]
        uv_ref, d_ref = ref.project(points)
        uv, d = cam.project(points)
        np.testing.assert_allclose(uv, uv_ref, atol=TOL, rtol=0)
        assert (cam.width, cam.height) == (ref.width, ref.height)


# ------------------------------------------------------------ every format
def test_colmap_text_and_binary(tmp_path):
    cams = _rig()
    _write_images(tmp_path / "images", cams)
    save_colmap(tmp_path / "sparse" / "0", cams, binary=False)
    loaded, fmt = load_cameras(tmp_path / "images")
    assert fmt == "colmap-text"
    _assert_same_projection(loaded, cams)
    assert loaded[0].image_path == tmp_path / "images" / "frame_0000.png"
    models = [
        ln.split()[1] for ln in (tmp_path / "sparse/0/cameras.txt").read_text().splitlines() if not ln.startswith("#")
    ]
    assert models == ["SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV", "FULL_OPENCV"]
    save_colmap(tmp_path / "bin", cams, binary=True)
    loaded, fmt = load_cameras(tmp_path / "images", cameras=tmp_path / "bin")
    assert fmt == "colmap-binary"
    _assert_same_projection(loaded, cams)
    # naming a model file works too
    loaded, fmt = load_cameras(tmp_path / "images", cameras=tmp_path / "bin" / "images.bin")
    assert fmt == "colmap-binary"


def test_colmap_text_written_by_hand_with_empty_points_lines(tmp_path):
    cams = _rig(distorted=False)[:2]
    q = [rotmat_to_qvec(c.world_to_cam[:3, :3]) for c in cams]
    t = [c.world_to_cam[:3, 3] for c in cams]
    model = tmp_path / "model"
    model.mkdir()
    (model / "cameras.txt").write_text(
        "# comment\n"
        + "".join(
            f"{i + 1} PINHOLE {W} {H} {float(c.K[0, 0])!r} {float(c.K[1, 1])!r} {float(c.K[0, 2])!r} {float(c.K[1, 2])!r}\n"
            for i, c in enumerate(cams)
        )
    )
    lines = ["# Image list"]
    for i in range(2):
        lines.append(f"{i + 1} " + " ".join(repr(float(x)) for x in (*q[i], *t[i])) + f" {i + 1} {cams[i].name}")
        lines.append("" if i == 0 else "1.0 2.0 -1 3.0 4.0 7")
    (model / "images.txt").write_text("\n".join(lines) + "\n")
    _assert_same_projection(load_colmap(model), cams)


def test_transforms_per_frame_global_applied_and_angle_forms(tmp_path):
    cams = _rig()
    _write_images(tmp_path / "images", cams)
    save_transforms(tmp_path / "transforms.json", cams)
    loaded, fmt = load_cameras(tmp_path / "images")
    assert fmt == "transforms.json"
    _assert_same_projection(loaded, cams)

    # nerfstudio's applied_transform: poses saved as A @ c2w; loading undoes it
    save_transforms(tmp_path / "ns" / "transforms.json", cams, applied_transform=NS_APPLIED)
    doc = json.loads((tmp_path / "ns" / "transforms.json").read_text())
    c2w_gl = np.asarray(doc["frames"][0]["transform_matrix"])
    expected = np.vstack([NS_APPLIED, [0, 0, 0, 1]]) @ cams[0].cam_to_world @ np.diag([1, -1, -1, 1])
    np.testing.assert_allclose(c2w_gl, expected, atol=1e-12)
    loaded, _ = load_cameras(tmp_path / "images", cameras=tmp_path / "ns" / "transforms.json")
    _assert_same_projection(loaded, cams)

    shared = _rig(shared=True)
    save_transforms(tmp_path / "g" / "transforms.json", shared, form="global")
    assert "fl_x" in json.loads((tmp_path / "g" / "transforms.json").read_text())
    _assert_same_projection(load_transforms(tmp_path / "g" / "transforms.json"), shared)

    # Blender form: camera_angle_x, no w/h, file_path without extension, sizes from images
    blender = tmp_path / "blender"
    _write_images(blender / "train", shared)
    save_transforms(blender / "transforms_train.json", shared, form="angle", image_prefix="./train/", write_size=False)
    doc = json.loads((blender / "transforms_train.json").read_text())
    for f in doc["frames"]:
        f["file_path"] = f["file_path"].rsplit(".", 1)[0]
    (blender / "transforms_train.json").write_text(json.dumps(doc))
    assert "camera_angle_x" in doc and "w" not in doc
    loaded, fmt = load_cameras(blender / "train")
    assert fmt == "transforms.json"
    _assert_same_projection(loaded, shared)


def test_scannet(tmp_path, caplog):
    cams = _rig(shared=True)
    save_scannet(tmp_path / "scan", cams)
    _write_images(tmp_path / "scan" / "color", cams, ext=".jpg")
    # a frame with lost tracking (ScanNet writes -inf) and its image
    (tmp_path / "scan" / "pose" / "frame_0099.txt").write_text("\n".join(["-inf -inf -inf -inf"] * 4) + "\n")
    Image.new("L", (W, H)).save(tmp_path / "scan" / "color" / "frame_0099.jpg")
    with caplog.at_level(logging.WARNING, logger="omniseg3d_mesh"):
        loaded, fmt = load_cameras(tmp_path / "scan" / "color")
    assert fmt == "scannet"
    assert "skipped 1 of 7 frames whose pose is not finite" in caplog.text
    _assert_same_projection(loaded, cams)
    assert [c.name for c in loaded] == [f"frame_{k:04d}.jpg" for k in range(6)]
    # the scan folder itself works as IMAGES and as --cameras
    assert load_cameras(tmp_path / "scan")[1] == "scannet"
    assert len(load_scannet(tmp_path / "scan")) == 6


def test_cameras_json_round_trip_keeps_everything(tmp_path):
    cams = _rig()
    _write_images(tmp_path / "images", cams)
    cams_with_images = [Camera(**{**c.__dict__, "image_path": tmp_path / "images" / c.name}) for c in cams]
    save_cameras_json(tmp_path / "cameras.json", cams_with_images)
    doc = json.loads((tmp_path / "cameras.json").read_text())
    assert doc["format"] == "omniseg3d-mesh/cameras" and doc["version"] == 1
    assert doc["views"][0]["image"] == "images/frame_0000.png"
    loaded, fmt = load_cameras(tmp_path / "images")
    assert fmt == "cameras.json"
    _assert_same_projection(loaded, cams)
    for a, b in zip(load_cameras_json(tmp_path / "cameras.json"), cams):
        assert a.fingerprint() == b.fingerprint()


def test_all_formats_agree(tmp_path):
    """One pinhole rig written in every format loads to the same projections."""
    cams = _rig(shared=True)
    images = _write_images(tmp_path / "images", cams)
    save_colmap(tmp_path / "ct", cams)
    save_colmap(tmp_path / "cb", cams, binary=True)
    save_transforms(tmp_path / "t.json", cams)
    save_transforms(tmp_path / "ta.json", cams, applied_transform=NS_APPLIED, form="global")
    save_cameras_json(tmp_path / "c.json", cams)
    save_scannet(tmp_path / "scan", cams)
    _write_images(tmp_path / "scan" / "color", cams)
    pts = _points(300, seed=3)
    results = {}
    for src in ("ct", "cb", "t.json", "ta.json", "c.json", "scan"):
        loaded, fmt = load_cameras(images if src != "scan" else tmp_path / "scan" / "color", cameras=tmp_path / src)
        results[fmt + src] = np.stack([c.project(pts)[0] for c in loaded])
    first = next(iter(results.values()))
    for v in results.values():
        np.testing.assert_allclose(v, first, atol=TOL, rtol=0)


def test_distorted_camera_rays_reproject_onto_distorted_pixels(tmp_path):
    cams = _rig()
    save_colmap(tmp_path / "m", cams, binary=True)
    for cam in load_colmap(tmp_path / "m")[2:]:
        assert cam.is_distorted
        uv = cam.pixel_centers()
        origins, dirs = cam.pixel_rays(uv)
        uv_back, depth = cam.project(origins + 2.5 * dirs)
        np.testing.assert_allclose(uv_back, uv, atol=1e-6)
        # and it differs from the pinhole approximation (the distortion is really used)
        pinhole = Camera(K=cam.K, world_to_cam=cam.world_to_cam, width=W, height=H)
        assert np.abs(pinhole.project(origins + 2.5 * dirs)[0] - uv).max() > 0.05


def test_quaternion_round_trip():
    rng = np.random.default_rng(1)
    for _ in range(50):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        R = qvec_to_rotmat(q)
        np.testing.assert_allclose(qvec_to_rotmat(rotmat_to_qvec(R)), R, atol=1e-12)


# ------------------------------------------------------- images and frames
def test_uniformly_scaled_images_rescale_intrinsics(tmp_path, caplog):
    cams = _rig()
    _write_images(tmp_path / "images", cams, size=(W // 2, H // 2))
    save_cameras_json(tmp_path / "cameras.json", cams)
    with caplog.at_level(logging.INFO, logger="omniseg3d_mesh"):
        loaded, _ = load_cameras(tmp_path / "images")
    assert "intrinsics rescaled" in caplog.text
    pts = _points()
    for a, b in zip(loaded, cams):
        assert (a.width, a.height) == (W // 2, H // 2)
        np.testing.assert_allclose(a.project(pts)[0], b.project(pts)[0] / 2, atol=TOL)


def test_world_transform_files(tmp_path):
    cams = _rig()
    _write_images(tmp_path / "images", cams)
    save_cameras_json(tmp_path / "cameras.json", cams)
    a = 0.7
    T = np.array([[np.cos(a), -np.sin(a), 0, 0.5], [np.sin(a), np.cos(a), 0, -1.0], [0, 0, 1, 2.0], [0, 0, 0, 1]])
    T_scaled = T.copy()
    T_scaled[:3, :3] *= 2.5
    pts = _points()
    for k, (name, M) in enumerate([("t.txt", T), ("t.npy", T_scaled), ("t.json", T), ("t2.json", T_scaled)]):
        p = tmp_path / name
        if name.endswith(".txt"):
            np.savetxt(p, M)
        elif name.endswith(".npy"):
            np.save(p, M)
        else:
            p.write_text(json.dumps(M.tolist() if k == 2 else {"world_transform": M[:3].tolist()}))
        loaded, _ = load_cameras(tmp_path / "images", world_transform=p)
        moved = pts @ M[:3, :3].T + M[:3, 3]
        for a_, b_ in zip(loaded, cams):
            np.testing.assert_allclose(a_.project(moved)[0], b_.project(pts)[0], atol=TOL)


def test_load_scene_with_cameras(tmp_path):
    cams = _rig()
    _write_images(tmp_path / "images", cams)
    save_colmap(tmp_path / "sparse" / "0", cams, binary=True)
    save_ply(tmp_path / "mesh.ply", _points(10), np.array([[0, 1, 2]]))
    scene = load_scene(tmp_path / "mesh.ply", tmp_path / "images")
    assert scene.camera_format == "colmap-binary" and len(scene.cameras) == 6
    assert scene.vertices.shape == (10, 3)


def test_detection_prefers_cameras_json_and_logs_others(tmp_path, caplog):
    cams = _rig()
    _write_images(tmp_path / "images", cams)
    save_colmap(tmp_path / "sparse" / "0", cams)
    save_transforms(tmp_path / "transforms.json", cams)
    with caplog.at_level(logging.INFO, logger="omniseg3d_mesh"):
        assert detect_camera_source(tmp_path / "images") == ("transforms.json", tmp_path / "transforms.json")
    assert "also found, not used: colmap-text" in caplog.text
    save_cameras_json(tmp_path / "images" / "cameras.json", cams)  # inside images/ works too
    assert detect_camera_source(tmp_path / "images")[0] == "cameras.json"


# ------------------------------------------------------------------ errors
def test_error_images_and_cameras_disagree(tmp_path):
    cams = _rig()
    _write_images(tmp_path / "images", cams[:5])
    save_cameras_json(tmp_path / "cameras.json", cams)
    with pytest.raises(
        FileNotFoundError, match=r"1 of 6 cameras in .*cameras\.json have no image in .*images: missing frame_0005\.png"
    ):
        load_cameras(tmp_path / "images")
    _write_images(tmp_path / "images", cams)
    Image.new("L", (W, H)).save(tmp_path / "images" / "extra.png")
    with pytest.raises(
        ValueError, match=r"1 images in .*images have no camera in .*cameras\.json: extra\.png\. Fix: move"
    ):
        load_cameras(tmp_path / "images")
    (tmp_path / "images" / "extra.png").unlink()
    Image.new("L", (W, H + 5)).save(tmp_path / "images" / "frame_0002.png")
    with pytest.raises(
        ValueError,
        match=rf"frame_0002\.png is {W}x{H + 5} but its camera in .* is {W}x{H}, which is not a uniform rescale",
    ):
        load_cameras(tmp_path / "images")


def test_error_two_cameras_one_image(tmp_path):
    cams = _rig()[:2]
    cams[1] = Camera(K=cams[1].K, world_to_cam=cams[1].world_to_cam, width=W, height=H, name="sub/frame_0000.png")
    _write_images(tmp_path / "images", cams[:1])
    save_cameras_json(tmp_path / "cameras.json", cams)
    with pytest.raises(ValueError, match="both refer to image frame_0000.png"):
        load_cameras(tmp_path / "images")


def test_error_paths_and_detection(tmp_path):
    with pytest.raises(FileNotFoundError, match="images folder .* does not exist"):
        load_cameras(tmp_path / "nope")
    (tmp_path / "images").mkdir()
    with pytest.raises(
        FileNotFoundError, match="no cameras found for .*images.*Fix: pass the camera file or folder with --cameras"
    ):
        load_cameras(tmp_path / "images")
    with pytest.raises(FileNotFoundError, match="camera file or folder .* does not exist"):
        load_cameras(tmp_path / "images", cameras=tmp_path / "cams.json")
    (tmp_path / "other.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match="not a camera source we can read"):
        load_cameras(tmp_path / "images", cameras=tmp_path / "other.json")
    save_cameras_json(tmp_path / "cameras.json", _rig())
    with pytest.raises(FileNotFoundError, match=r"no images \(\.png.*\) in .*images"):
        load_cameras(tmp_path / "images")
    with pytest.raises(ValueError, match="needs an images folder or an explicit camera file"):
        load_cameras(None)
    save_cameras_json(tmp_path / "empty.json", [])
    with pytest.raises(ValueError, match="no cameras in this cameras.json file"):
        load_cameras(None, cameras=tmp_path / "empty.json")
    # without images, an explicit file loads as is
    cams, fmt = load_cameras(None, cameras=tmp_path / "cameras.json")
    assert fmt == "cameras.json" and len(cams) == 6


@pytest.mark.parametrize(
    "content, match",
    [
        ([[1, 0, 0], [0, 1, 0]], r"must be a 4x4 \(or 3x4\) matrix, found shape \(2, 3\)"),
        (
            [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]],
            r"last row of a 4x4 transform must be \[0, 0, 0, 1\]",
        ),
        ([[-1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], "mirrors or collapses space"),
        ([[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], "not a rotation times one uniform scale"),
        ([[np.nan, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], "contains NaN or inf"),
    ],
)
def test_error_world_transform_values(content, match):
    with pytest.raises(ValueError, match=match):
        load_world_transform(np.asarray(content, dtype=float))


def test_error_world_transform_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="world transform file .* does not exist"):
        load_world_transform(tmp_path / "T.txt")
    (tmp_path / "T.json").write_text('{"rotation": 1}')
    with pytest.raises(
        ValueError,
        match=r"T\.json: expected a 4x4 list, an object with one key 'world_transform'.*not understood: rotation",
    ):
        load_world_transform(tmp_path / "T.json")
    (tmp_path / "T.txt").write_text("1 0 0\nx y z w\n")
    with pytest.raises(ValueError, match=r"T\.txt: cannot read a 4x4 matrix"):
        load_world_transform(tmp_path / "T.txt")


def test_error_colmap(tmp_path):
    with pytest.raises(FileNotFoundError, match="no COLMAP model in"):
        load_colmap(tmp_path)
    m = tmp_path / "m"
    m.mkdir()
    (m / "images.txt").write_text("1 1 0 0 0 0 0 0 1 a.png\n\n")
    (m / "cameras.txt").write_text(f"1 OPENCV_FISHEYE {W} {H} 50 50 32 24 0 0 0 0\n")
    with pytest.raises(ValueError, match="COLMAP camera model OPENCV_FISHEYE is not supported.*image_undistorter"):
        load_colmap(m)
    (m / "cameras.txt").write_text(f"1 PINHOLE {W} {H} 50 50 32\n")
    with pytest.raises(ValueError, match="COLMAP model PINHOLE takes 4 parameters, found 3"):
        load_colmap(m)
    (m / "cameras.txt").write_text(f"1 FULL_OPENCV {W} {H} 50 50 32 24 0 0 0 0 0 0.1 0 0\n")
    with pytest.raises(ValueError, match="rational coefficients k4..k6"):
        load_colmap(m)
    (m / "cameras.txt").write_text(f"2 PINHOLE {W} {H} 50 50 32 24\n")
    with pytest.raises(ValueError, match="image 'a.png' uses camera 1, which cameras.txt does not define"):
        load_colmap(m)
    (m / "cameras.txt").write_text("1 PINHOLE x\n")
    with pytest.raises(ValueError, match="expected 'CAMERA_ID MODEL WIDTH HEIGHT PARAMS...'"):
        load_colmap(m)
    (m / "cameras.txt").write_text(f"1 PINHOLE {W} {H} 50 50 32 24\n")
    (m / "images.txt").write_text("1 1 0 0\n\n")
    with pytest.raises(ValueError, match="expected 'IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME'"):
        load_colmap(m)
    b = tmp_path / "b"
    save_colmap(b, _rig(), binary=True)
    (b / "images.bin").write_bytes((b / "images.bin").read_bytes()[:50])
    with pytest.raises(ValueError, match="truncated COLMAP images.bin"):
        load_colmap(b)
    (b / "cameras.bin").write_bytes((b / "cameras.bin").read_bytes()[:30])
    with pytest.raises(ValueError, match="truncated COLMAP cameras.bin"):
        load_colmap(b)
    (b / "cameras.bin").write_bytes(struct.pack("<QiiQQ", 1, 1, 42, W, H))
    with pytest.raises(ValueError, match="unknown COLMAP camera model id 42"):
        load_colmap(b)
    skewed = _rig()[0]
    skewed.K[0, 1] = 0.5
    with pytest.raises(ValueError, match="COLMAP models cannot store skew"):
        save_colmap(tmp_path / "s", [skewed])


def _transforms(tmp_path, **changes):
    cams = _rig()
    save_transforms(tmp_path / "transforms.json", cams)
    doc = json.loads((tmp_path / "transforms.json").read_text())
    frame = doc["frames"][0]
    for k, v in changes.items():
        if v is None:
            frame.pop(k, None)
        else:
            frame[k] = v
    (tmp_path / "transforms.json").write_text(json.dumps(doc))
    return tmp_path / "transforms.json"


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"camera_model": "OPENCV_FISHEYE"}, "camera_model OPENCV_FISHEYE is not supported"),
        ({"k4": 0.1}, "k4=0.1 is not supported"),
        (
            {"w": None, "h": None},
            r"no image size: the file has no 'w'/'h' and image 'images/frame_0000.png' was not found",
        ),
        ({"fl_x": None, "fl_y": None}, r"no focal length: expected 'fl_x' \(and 'fl_y'\) or 'camera_angle_x'"),
        ({"transform_matrix": [[1, 0, 0], [0, 1, 0]]}, r"transform_matrix must be 4x4, found shape \(2, 3\)"),
        (
            {"transform_matrix": [[np.inf, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]},
            "transform_matrix contains NaN or inf",
        ),
        (
            {"transform_matrix": [[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]]},
            r"\(frame 0\): world_to_cam rotation is not orthonormal",
        ),
        ({"file_path": None}, "each frame needs 'file_path' and 'transform_matrix'"),
    ],
)
def test_error_transforms_frames(tmp_path, changes, match):
    path = _transforms(tmp_path, **changes)
    with pytest.raises(ValueError, match=match):
        load_transforms(path)


def test_error_transforms_file(tmp_path, caplog):
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_transforms(tmp_path / "bad.json")
    (tmp_path / "nof.json").write_text('{"fl_x": 1}')
    with pytest.raises(ValueError, match="expected a transforms.json object with a 'frames' list"):
        load_transforms(tmp_path / "nof.json")
    (tmp_path / "app.json").write_text('{"frames": [], "applied_transform": [[1, 0], [0, 1]]}')
    with pytest.raises(ValueError, match=r"applied_transform must be 3x4 \(or 4x4\), found shape \(2, 2\)"):
        load_transforms(tmp_path / "app.json")
    (tmp_path / "sc.json").write_text('{"frames": [], "applied_scale": 2.0}')
    with caplog.at_level(logging.WARNING, logger="omniseg3d_mesh"):
        assert load_transforms(tmp_path / "sc.json") == []
    assert "applied_scale=2.0 is ignored" in caplog.text
    cams = _rig()
    with pytest.raises(ValueError, match="form='global' needs one shared camera, found 6 different intrinsics"):
        save_transforms(tmp_path / "g.json", cams, form="global")
    with pytest.raises(ValueError, match="form='angle' needs identical centred square-pixel pinhole cameras"):
        save_transforms(tmp_path / "a.json", cams, form="angle")
    with pytest.raises(ValueError, match="unknown transforms.json form 'x'"):
        save_transforms(tmp_path / "x.json", cams, form="x")
    cams[0].K[0, 1] = 1.0
    with pytest.raises(ValueError, match="transforms.json cannot store it"):
        save_transforms(tmp_path / "s.json", cams)


def test_error_scannet(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a ScanNet scan: expected pose/"):
        load_scannet(tmp_path)
    cams = _rig(shared=True)
    scan = tmp_path / "scan"
    save_scannet(scan, cams)
    with pytest.raises(FileNotFoundError, match="no colour image for frame 'frame_0000'"):
        load_scannet(scan)
    _write_images(scan / "color", cams, ext=".jpg")
    (scan / "pose" / "frame_0003.txt").write_text("1 0 0\n0 1 0\n")
    with pytest.raises(ValueError, match=r"frame_0003\.txt: expected a 4x4 camera-to-world pose, found shape \(2, 3\)"):
        load_scannet(scan)
    (scan / "pose" / "frame_0003.txt").write_text("a b\n")
    with pytest.raises(ValueError, match=r"frame_0003\.txt: cannot read a 4x4 pose"):
        load_scannet(scan)
    (scan / "intrinsic" / "intrinsic_color.txt").write_text("1 0\n0 1\n")
    with pytest.raises(ValueError, match=r"expected a 4x4 intrinsic matrix, found shape \(2, 2\)"):
        load_scannet(scan)
    (scan / "intrinsic" / "intrinsic_color.txt").write_text("x\n")
    with pytest.raises(ValueError, match="cannot read a 4x4 intrinsic matrix"):
        load_scannet(scan)
    with pytest.raises(
        ValueError, match="stores one pinhole intrinsic for all frames; camera 'frame_0001.png' differs"
    ):
        save_scannet(tmp_path / "s2", _rig())


def test_error_cameras_json(tmp_path):
    with pytest.raises(FileNotFoundError, match="camera file .* does not exist"):
        load_cameras_json(tmp_path / "c.json")
    (tmp_path / "c.json").write_text("[")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_cameras_json(tmp_path / "c.json")
    (tmp_path / "c.json").write_text('{"frames": []}')
    with pytest.raises(
        ValueError,
        match=r"not an omniseg3d-mesh cameras.json \(expected \"format\": \"omniseg3d-mesh/cameras\", found None\)",
    ):
        load_cameras_json(tmp_path / "c.json")
    (tmp_path / "c.json").write_text('{"format": "omniseg3d-mesh/cameras", "version": 7, "views": []}')
    with pytest.raises(ValueError, match="cameras.json version 7 is not supported.*upgrade"):
        load_cameras_json(tmp_path / "c.json")
    (tmp_path / "c.json").write_text('{"format": "omniseg3d-mesh/cameras", "version": 1, "views": [{"name": "a"}]}')
    with pytest.raises(ValueError, match="view 0 lacks width, height, K, world_to_cam"):
        load_cameras_json(tmp_path / "c.json")
    view = {
        "name": "a",
        "width": 4,
        "height": 4,
        "K": [[1, 0, 2], [0, 1, 2], [0, 0, 1]],
        "world_to_cam": np.diag([2.0, 2, 2, 1]).tolist(),
    }
    (tmp_path / "c.json").write_text(json.dumps({"format": "omniseg3d-mesh/cameras", "version": 1, "views": [view]}))
    with pytest.raises(ValueError, match=r"view 0 \('a'\): world_to_cam rotation is not orthonormal"):
        load_cameras_json(tmp_path / "c.json")


def test_views_in_natural_order_and_subfolders(tmp_path):
    base = _rig()[:3]
    names = ["view_10.png", "view_2.png", "left/view_1.png"]
    cams = [Camera(K=c.K, world_to_cam=c.world_to_cam, width=W, height=H, name=n) for c, n in zip(base, names)]
    for n in names:
        (tmp_path / "images" / n).parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (W, H)).save(tmp_path / "images" / n)
    save_colmap(tmp_path / "sparse" / "0", cams, binary=True)
    loaded, _ = load_cameras(tmp_path / "images")
    assert [c.name for c in loaded] == ["left/view_1.png", "view_2.png", "view_10.png"]
    assert loaded[0].image_path == tmp_path / "images" / "left" / "view_1.png"


def test_transforms_legacy_applied_transform_beside_colmap(tmp_path, caplog):
    from omniseg3d_mesh.io.transforms import LEGACY_COLMAP_APPLIED_TRANSFORM

    cams = _rig()
    save_transforms(tmp_path / "transforms.json", cams, applied_transform=LEGACY_COLMAP_APPLIED_TRANSFORM)
    doc = json.loads((tmp_path / "transforms.json").read_text())
    del doc["applied_transform"]  # an old nerfstudio file: the key was not written yet
    (tmp_path / "transforms.json").write_text(json.dumps(doc))
    (tmp_path / "colmap" / "sparse" / "0").mkdir(parents=True)
    with caplog.at_level(logging.WARNING, logger="omniseg3d_mesh"):
        loaded = load_transforms(tmp_path / "transforms.json")
    assert "assuming nerfstudio's legacy COLMAP conversion" in caplog.text
    _assert_same_projection(loaded, cams)
