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
    quat = np.asarray(q)
    quat /= np.linalg.norm(quat)
    return -quat if quat[0] < 0 else quat


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


_DATAPARSER_KEYS = {"transform", "scale"}


def _read_dataparser_transforms(obj: dict, path: Path) -> np.ndarray:
    """nerfstudio's ``dataparser_transforms.json`` -> 4x4 ``S @ D`` (a point ``p`` -> ``scale * (D @ p)``)."""
    D = np.asarray(obj["transform"], dtype=np.float64)
    if D.shape == (3, 4):
        D = np.vstack([D, [0, 0, 0, 1]])
    if D.shape != (4, 4):
        raise ValueError(f"{path}: 'transform' must be a 3x4 (or 4x4) matrix, found shape {D.shape}")
    try:
        scale = float(obj["scale"])
    except (TypeError, ValueError):
        raise ValueError(f"{path}: 'scale' must be a number, found {obj['scale']!r}") from None
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"{path}: 'scale' must be a positive number, found {scale}")
    return np.diag([scale, scale, scale, 1.0]) @ D


def load_world_transform(
    value, applied_transform: np.ndarray | None = None, camera_format: str | None = None
) -> np.ndarray | None:
    """A 4x4 world transform from an array or a .npy / .json / text file (None passes through).

    JSON: a 4x4 (or 3x4) nested list, an object with exactly one of the keys
    ``world_transform``, ``transform``, ``matrix``, or nerfstudio's
    ``dataparser_transforms.json`` (``{"transform": 3x4, "scale": s}``, written by
    ``ns-train`` beside its checkpoints; ``ns-export`` meshes live in that frame). The
    dataparser maps the frame of nerfstudio's ``transforms.json`` -- poses with its
    ``applied_transform`` A applied -- onto the mesh frame, ``p -> s * (D @ p)``; the
    cameras here are read with A undone, so the result is ``S @ D @ A``. Any other
    JSON key is refused. Text: 4 (or 3) rows of 4 numbers.

    Args:
        value: array, file path or None.
        applied_transform: the 4x4 A of the transforms.json the cameras came from.
        camera_format: the camera format; a dataparser file needs ``transforms.json``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: wrong shape, non-finite values, unknown JSON keys, or not a similarity transform.
    """
    if value is None:
        return None
    source = "world transform"
    if isinstance(value, (str, Path)):
        path = Path(value)
        source = str(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"world transform file {path} does not exist; pass a 4x4 matrix as .txt, .npy or .json"
            )
        try:
            if path.suffix == ".npy":
                arr = np.load(path, allow_pickle=False)
            elif path.suffix == ".json":
                from ..workspace import read_json

                obj = read_json(path, "world transform", "write a 4x4 list of numbers")
                if isinstance(obj, dict) and set(obj) == _DATAPARSER_KEYS:
                    if camera_format is not None and camera_format != "transforms.json":
                        raise ValueError(
                            f"{path}: a nerfstudio dataparser_transforms.json maps the frame of nerfstudio's "
                            f"transforms.json, but the cameras are {camera_format}. Fix: pass --cameras "
                            "with the transforms.json that ns-process-data wrote"
                        )
                    arr = _read_dataparser_transforms(obj, path)
                    if applied_transform is not None:
                        arr = arr @ np.asarray(applied_transform, dtype=np.float64)
                    log.info(
                        "%s: nerfstudio dataparser transform, scale %g%s",
                        path,
                        float(obj["scale"]),
                        ", combined with the transforms.json applied_transform"
                        if applied_transform is not None
                        else "",
                    )
                elif isinstance(obj, dict):
                    keys = [k for k in ("world_transform", "transform", "matrix") if k in obj]
                    unknown = sorted(set(obj) - {"world_transform", "transform", "matrix"})
                    if len(keys) != 1 or unknown:
                        raise ValueError(
                            f"{path}: expected a 4x4 list, an object with one key 'world_transform' (or 'transform', "
                            f"'matrix'), or nerfstudio's dataparser_transforms.json ('transform' and 'scale'); "
                            f"found keys {sorted(obj)}"
                            + (f" (not understood: {', '.join(unknown)})" if unknown else "")
                        )
                    arr = np.asarray(obj[keys[0]], dtype=np.float64)
                else:
                    arr = np.asarray(obj, dtype=np.float64)
            else:
                arr = np.loadtxt(path, dtype=np.float64, ndmin=2)
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
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
