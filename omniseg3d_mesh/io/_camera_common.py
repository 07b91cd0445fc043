"""Small helpers shared by the camera format modules (private)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..scene import Camera

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".exr")

# OpenCV camera axes (x right, y down, z forward) <-> OpenGL (x right, y up, z back)
OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image, reading only its header (PIL lazy open)."""
    from PIL import Image

    with Image.open(path) as im:
        return int(im.size[0]), int(im.size[1])


def find_image(base: Path, ref: str) -> Path | None:
    """The image file ``ref`` names relative to ``base`` (extension added when it has none)."""
    cand = base / ref
    if cand.is_file():
        return cand
    if not Path(ref).suffix:
        for suf in IMAGE_SUFFIXES:
            c = cand.with_name(cand.name + suf)
            if c.is_file():
                return c
    return None


def qvec_to_rotmat(q) -> np.ndarray:
    """Unit quaternion (w, x, y, z) -> [3, 3] rotation matrix (normalised first)."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def rotmat_to_qvec(R: np.ndarray) -> np.ndarray:
    """[3, 3] rotation -> unit quaternion (w, x, y, z) with w >= 0 (Shepperd's method)."""
    R = np.asarray(R, dtype=np.float64)
    tr = np.trace(R)
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = [0.25 * s, (R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s]
    elif R[0, 0] > R[1, 1] and R[0, 0] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        q = [(R[2, 1] - R[1, 2]) / s, 0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s]
    elif R[1, 1] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])
        q = [(R[0, 2] - R[2, 0]) / s, (R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])
        q = [(R[1, 0] - R[0, 1]) / s, (R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return -q if q[0] < 0 else q


def pose_to_camera(c2w_or_w2c: np.ndarray, source: str, **kwargs) -> Camera:
    """Build a Camera, turning a bad pose into an error that names its source."""
    try:
        return Camera(**kwargs, world_to_cam=c2w_or_w2c)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None


def similarity_parts(T: np.ndarray, source: str) -> tuple[float, np.ndarray, np.ndarray]:
    """Split a 4x4 similarity ``T = [s R | t]`` into (s, R, t); refuse shear, mirror, projective."""
    T = np.asarray(T, dtype=np.float64)
    if not np.allclose(T[3], [0, 0, 0, 1], atol=1e-9):
        raise ValueError(f"{source}: the last row of a 4x4 transform must be [0, 0, 0, 1], found {T[3].tolist()}")
    M = T[:3, :3]
    det = np.linalg.det(M)
    if det <= 0:
        raise ValueError(
            f"{source}: the transform mirrors or collapses space (determinant {det:.4g}); "
            "expected a rotation with translation and optionally one uniform scale"
        )
    s = float(np.cbrt(det))
    R = M / s
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-5):
        raise ValueError(
            f"{source}: the 3x3 part is not a rotation times one uniform scale (shear or non-uniform scale); "
            "expected a rigid or similarity 4x4 transform"
        )
    return s, R, T[:3, 3]


def transform_camera(cam: Camera, T: np.ndarray, source: str = "world transform") -> Camera:
    """Move a camera with the world: a point ``p`` becomes ``T @ p`` (rigid or uniform scale)."""
    s, R, t = similarity_parts(T, source)
    if abs(s - 1.0) < 1e-9:
        return cam.transformed(T)
    # p_new = s R p + t  =>  s * cam(p) = Rc R^T p_new + (s tc - Rc R^T t): same pixels, depth scaled by s
    Rc, tc = cam.world_to_cam[:3, :3], cam.world_to_cam[:3, 3]
    w2c = np.eye(4)
    w2c[:3, :3] = Rc @ R.T
    w2c[:3, 3] = s * tc - Rc @ R.T @ t
    return replace(cam, world_to_cam=w2c)


def load_world_transform(value) -> np.ndarray | None:
    """A 4x4 world transform from an array or a .npy / .json / text file (None passes through).

    JSON: a 4x4 (or 3x4) nested list, or an object with one of the keys
    ``world_transform``, ``transform``, ``matrix``. Text: 4 (or 3) rows of 4 numbers.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: wrong shape, non-finite values, or not a similarity transform.
    """
    if value is None:
        return None
    source = "world transform"
    if isinstance(value, (str, Path)):
        path = Path(value)
        source = str(path)
        if not path.is_file():
            raise FileNotFoundError(f"world transform file {path} does not exist; pass a 4x4 matrix as .txt, .npy or .json")
        try:
            if path.suffix == ".npy":
                arr = np.load(path)
            elif path.suffix == ".json":
                obj = json.loads(path.read_text())
                if isinstance(obj, dict):
                    key = next((k for k in ("world_transform", "transform", "matrix") if k in obj), None)
                    if key is None:
                        raise ValueError(f"{path}: expected a 4x4 list or a key 'world_transform', found keys {sorted(obj)}")
                    obj = obj[key]
                arr = np.asarray(obj, dtype=np.float64)
            else:
                arr = np.loadtxt(path, dtype=np.float64, ndmin=2)
        except (ValueError, json.JSONDecodeError) as exc:
            if str(exc).startswith(str(path)):
                raise
            raise ValueError(f"{path}: cannot read a 4x4 matrix ({exc}); write 4 rows of 4 numbers") from None
    else:
        arr = np.asarray(value, dtype=np.float64)
    if arr.shape == (3, 4):
        arr = np.vstack([arr, [0, 0, 0, 1]])
    if arr.shape != (4, 4):
        raise ValueError(f"{source}: a world transform must be a 4x4 (or 3x4) matrix, found shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{source}: the world transform contains NaN or inf")
    similarity_parts(arr, source)
    return arr
