"""COLMAP sparse models (text and binary): ``cameras``, ``images`` (``points3D`` ignored).

Conventions (COLMAP's, which match ours): ``images`` holds the **world-to-camera**
pose as quaternion ``qvec = (w, x, y, z)`` and translation ``tvec`` in OpenCV axes;
pixel (0, 0) is the top-left corner of the top-left pixel.

Camera models and how they map onto our distortion vector (k1, k2, p1, p2, k3):

| model          | params                                   | distortion           |
|----------------|------------------------------------------|----------------------|
| SIMPLE_PINHOLE | f, cx, cy                                | none                 |
| PINHOLE        | fx, fy, cx, cy                           | none                 |
| SIMPLE_RADIAL  | f, cx, cy, k                             | (k, 0, 0, 0, 0)      |
| RADIAL         | f, cx, cy, k1, k2                        | (k1, k2, 0, 0, 0)    |
| OPENCV         | fx, fy, cx, cy, k1, k2, p1, p2           | (k1, k2, p1, p2, 0)  |
| FULL_OPENCV    | fx, fy, cx, cy, k1, k2, p1, p2, k3, k4, k5, k6 | (k1, k2, p1, p2, k3), only when k4 = k5 = k6 = 0 |

Fisheye and other models are refused with the fix (undistort with
``colmap image_undistorter``, which writes a PINHOLE model).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..scene import Camera
from ._camera_common import pose_to_camera, qvec_to_rotmat, rotmat_to_qvec

log = logging.getLogger(__name__)

__all__ = ["load_colmap", "save_colmap", "find_colmap_model", "COLMAP_MODELS"]

# name -> (model id, number of params)
COLMAP_MODELS: dict[str, tuple[int, int]] = {
    "SIMPLE_PINHOLE": (0, 3),
    "PINHOLE": (1, 4),
    "SIMPLE_RADIAL": (2, 4),
    "RADIAL": (3, 5),
    "OPENCV": (4, 8),
    "OPENCV_FISHEYE": (5, 8),
    "FULL_OPENCV": (6, 12),
    "FOV": (7, 5),
    "SIMPLE_RADIAL_FISHEYE": (8, 4),
    "RADIAL_FISHEYE": (9, 5),
    "THIN_PRISM_FISHEYE": (10, 12),
}
_MODEL_BY_ID = {mid: name for name, (mid, _n) in COLMAP_MODELS.items()}
SUPPORTED_MODELS = ("SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV", "FULL_OPENCV")


def find_colmap_model(path: str | Path) -> Path | None:
    """The folder holding ``cameras.{bin,txt}`` + ``images.{bin,txt}`` at or under ``path`` (sparse/0 etc.)."""
    path = Path(path)
    for cand in (path, path / "sparse" / "0", path / "sparse", path / "colmap" / "sparse" / "0", path / "0"):
        for ext in ("bin", "txt"):
            if (cand / f"cameras.{ext}").is_file() and (cand / f"images.{ext}").is_file():
                return cand
    return None


def _intrinsics(model: str, params: Sequence[float], source: str) -> tuple[np.ndarray, np.ndarray | None]:
    """COLMAP model + params -> (K [3,3], distortion [5] or None)."""
    p = [float(x) for x in params]
    if model not in SUPPORTED_MODELS:
        raise ValueError(
            f"{source}: COLMAP camera model {model} is not supported (supported: {', '.join(SUPPORTED_MODELS)}). "
            "Fix: run `colmap image_undistorter` and use its undistorted images and PINHOLE model"
        )
    n = COLMAP_MODELS[model][1]
    if len(p) != n:
        raise ValueError(f"{source}: COLMAP model {model} takes {n} parameters, found {len(p)}")
    dist = None
    if model == "SIMPLE_PINHOLE":
        fx = fy = p[0]
        cx, cy = p[1], p[2]
    elif model == "PINHOLE":
        fx, fy, cx, cy = p
    elif model == "SIMPLE_RADIAL":
        fx = fy = p[0]
        cx, cy = p[1], p[2]
        dist = [p[3], 0, 0, 0, 0]
    elif model == "RADIAL":
        fx = fy = p[0]
        cx, cy = p[1], p[2]
        dist = [p[3], p[4], 0, 0, 0]
    elif model == "OPENCV":
        fx, fy, cx, cy = p[:4]
        dist = [p[4], p[5], p[6], p[7], 0]
    else:  # FULL_OPENCV
        fx, fy, cx, cy = p[:4]
        if any(p[9:12]):
            raise ValueError(
                f"{source}: FULL_OPENCV camera with rational coefficients k4..k6 = {p[9:12]} is not supported "
                "(only k1, k2, p1, p2, k3). Fix: run `colmap image_undistorter` and use the PINHOLE result"
            )
        dist = [p[4], p[5], p[6], p[7], p[8]]
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
    return K, (np.asarray(dist) if dist is not None and any(dist) else None)


def _model_params(cam: Camera) -> tuple[str, list[float]]:
    """The simplest COLMAP model that represents ``cam`` exactly."""
    K = cam.K
    if abs(K[0, 1]) > 1e-12:
        raise ValueError(f"camera {cam.name!r} has skew {K[0, 1]}; COLMAP models cannot store skew (use cameras.json)")
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    d = cam.distortion
    if d is None:
        return ("SIMPLE_PINHOLE", [fx, cx, cy]) if fx == fy else ("PINHOLE", [fx, fy, cx, cy])
    k1, k2, p1, p2, k3 = (float(x) for x in d)
    if k3 == 0 and p1 == 0 and p2 == 0 and fx == fy:
        return ("SIMPLE_RADIAL", [fx, cx, cy, k1]) if k2 == 0 else ("RADIAL", [fx, cx, cy, k1, k2])
    if k3 == 0:
        return "OPENCV", [fx, fy, cx, cy, k1, k2, p1, p2]
    return "FULL_OPENCV", [fx, fy, cx, cy, k1, k2, p1, p2, k3, 0.0, 0.0, 0.0]


# ------------------------------------------------------------------ reading
def _read_cameras_text(path: Path) -> dict[int, tuple[str, int, int, list[float]]]:
    cams = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        w = line.split()
        try:
            cams[int(w[0])] = (w[1], int(w[2]), int(w[3]), [float(x) for x in w[4:]])
        except (IndexError, ValueError):
            raise ValueError(
                f"{path}:{lineno}: expected 'CAMERA_ID MODEL WIDTH HEIGHT PARAMS...', found {line!r}"
            ) from None
    return cams


def _read_images_text(path: Path) -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    out = []
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not line:
            i += 1
            continue
        w = line.split(maxsplit=9)
        try:
            qvec = np.array([float(x) for x in w[1:5]])
            tvec = np.array([float(x) for x in w[5:8]])
            out.append((w[9], qvec, tvec, int(w[8])))
        except (IndexError, ValueError):
            raise ValueError(
                f"{path}: expected 'IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME' followed by a POINTS2D line, "
                f"found {line!r}"
            ) from None
        i += 2  # the POINTS2D line (possibly empty) follows each image line
    return out


def _read_cameras_binary(path: Path) -> dict[int, tuple[str, int, int, list[float]]]:
    data = path.read_bytes()
    cams = {}
    try:
        (num,) = struct.unpack_from("<Q", data, 0)
        pos = 8
        for _ in range(num):
            cid, mid, w, h = struct.unpack_from("<iiQQ", data, pos)
            pos += 24
            if mid not in _MODEL_BY_ID:
                raise ValueError(f"{path}: unknown COLMAP camera model id {mid} (camera {cid})")
            model = _MODEL_BY_ID[mid]
            n = COLMAP_MODELS[model][1]
            params = list(struct.unpack_from(f"<{n}d", data, pos))
            pos += 8 * n
            cams[cid] = (model, w, h, params)
    except struct.error:
        raise ValueError(f"{path}: truncated COLMAP cameras.bin (file ends early)") from None
    return cams


def _read_images_binary(path: Path) -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    data = path.read_bytes()
    out = []
    try:
        (num,) = struct.unpack_from("<Q", data, 0)
        pos = 8
        for _ in range(num):
            vals = struct.unpack_from("<i7di", data, pos)
            pos += 4 + 56 + 4
            end = data.index(b"\x00", pos)
            name = data[pos:end].decode("utf-8")
            pos = end + 1
            (npts,) = struct.unpack_from("<Q", data, pos)
            pos += 8 + npts * 24  # x, y (double) + point3D id (int64)
            out.append((name, np.array(vals[1:5]), np.array(vals[5:8]), vals[8]))
    except (struct.error, ValueError):
        raise ValueError(f"{path}: truncated COLMAP images.bin (file ends early)") from None
    return out


def load_colmap(path: str | Path, images_dir: str | Path | None = None) -> list[Camera]:
    """Load a COLMAP sparse model (binary preferred when both exist).

    Args:
        path: the model folder (with cameras.bin/txt and images.bin/txt) or a folder holding ``sparse/0``.
        images_dir: where the images are; sets each camera's ``image_path`` (``images_dir / NAME``).

    Returns:
        One Camera per registered image, ``name`` = COLMAP's image NAME (relative path), OpenCV axes.
    """
    model_dir = find_colmap_model(path)
    if model_dir is None:
        raise FileNotFoundError(
            f"no COLMAP model in {path}: expected cameras.bin + images.bin (or .txt) there or in sparse/0. "
            "Fix: pass the folder that holds them with --cameras"
        )
    binary = (model_dir / "cameras.bin").is_file() and (model_dir / "images.bin").is_file()
    if binary:
        cam_file, img_file = model_dir / "cameras.bin", model_dir / "images.bin"
        intr, images = _read_cameras_binary(cam_file), _read_images_binary(img_file)
    else:
        cam_file, img_file = model_dir / "cameras.txt", model_dir / "images.txt"
        intr, images = _read_cameras_text(cam_file), _read_images_text(img_file)
    out = []
    for name, qvec, tvec, cid in images:
        if cid not in intr:
            raise ValueError(f"{img_file}: image {name!r} uses camera {cid}, which {cam_file.name} does not define")
        model, w, h, params = intr[cid]
        K, dist = _intrinsics(model, params, f"{cam_file} (camera {cid})")
        w2c = np.eye(4)
        w2c[:3, :3] = qvec_to_rotmat(qvec)
        w2c[:3, 3] = tvec
        out.append(
            pose_to_camera(
                w2c,
                f"{img_file} (image {name!r})",
                K=K,
                width=w,
                height=h,
                distortion=dist,
                name=name,
                image_path=(Path(images_dir) / name) if images_dir is not None else None,
            )
        )
    log.info("read %d COLMAP %s cameras from %s", len(out), "binary" if binary else "text", model_dir)
    return out


# ------------------------------------------------------------------ writing
def save_colmap(path: str | Path, cameras: Sequence[Camera], binary: bool = False) -> Path:
    """Write cameras as a COLMAP sparse model (one COLMAP camera per view; empty points3D).

    Args:
        path: the model folder to create (e.g. ``scene/sparse/0``).
        cameras: views; ``name`` becomes the COLMAP image NAME.
        binary: write ``.bin`` files instead of ``.txt``.
    """
    from ..workspace import atomic_write_bytes, atomic_write_text

    path = Path(path)
    rows = []
    for i, cam in enumerate(cameras, 1):
        model, params = _model_params(cam)
        q = rotmat_to_qvec(cam.world_to_cam[:3, :3])
        rows.append((i, model, cam.width, cam.height, params, q, cam.world_to_cam[:3, 3], cam.name))
    if binary:
        cb = [struct.pack("<Q", len(rows))]
        ib = [struct.pack("<Q", len(rows))]
        for i, model, w, h, params, q, t, name in rows:
            cb.append(struct.pack("<iiQQ", i, COLMAP_MODELS[model][0], w, h) + struct.pack(f"<{len(params)}d", *params))
            ib.append(struct.pack("<i7di", i, *q, *t, i) + name.encode("utf-8") + b"\x00" + struct.pack("<Q", 0))
        atomic_write_bytes(path / "cameras.bin", b"".join(cb))
        atomic_write_bytes(path / "images.bin", b"".join(ib))
        atomic_write_bytes(path / "points3D.bin", struct.pack("<Q", 0))
    else:
        ct = ["# Camera list with one line of data per camera:", "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]"]
        it = [
            "# Image list with two lines of data per image:",
            "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME",
            "#   POINTS2D[] as (X, Y, POINT3D_ID)",
        ]
        for i, model, w, h, params, q, t, name in rows:
            ct.append(f"{i} {model} {w} {h} " + " ".join(repr(float(x)) for x in params))
            it.append(f"{i} " + " ".join(repr(float(x)) for x in (*q, *t)) + f" {i} {name}")
            it.append("")
        atomic_write_text(path / "cameras.txt", "\n".join(ct) + "\n")
        atomic_write_text(path / "images.txt", "\n".join(it) + "\n")
        atomic_write_text(path / "points3D.txt", "# 3D point list (empty)\n")
    return path
