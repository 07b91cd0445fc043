"""nerfstudio / instant-ngp ``transforms.json`` (also the Blender ``camera_angle_x`` form).

Conventions of the file:

* ``frames[i].transform_matrix`` is **camera-to-world in OpenGL axes** (x right,
  y up, z back). We flip y and z to get OpenCV axes.
* Intrinsics ``fl_x, fl_y, cx, cy, w, h`` and distortion ``k1, k2, k3, p1, p2`` sit at
  the top level (shared) or in each frame (overrides). Without ``fl_x`` the Blender
  form ``camera_angle_x`` (horizontal field of view, radians) gives
  ``fl_x = 0.5 * w / tan(0.5 * camera_angle_x)``, ``fl_y = fl_x`` (or from
  ``camera_angle_y``); ``cx, cy`` default to the image centre; ``w, h`` default to
  the image file's size. Pixel coordinates: nerfstudio and instant-ngp cast the ray
  of pixel (i, j) through (j + 0.5, i + 0.5) with the stored ``cx, cy``, i.e. the
  same corner convention as COLMAP and as ours.
* ``applied_transform`` (3x4, written by nerfstudio's ``ns-process-data``): in
  nerfstudio's own words it is "the transformation to saved coordinates from
  original data coordinates", i.e. ``c2w_saved = A @ c2w_original`` (nerfstudio's
  ``colmap_to_json`` swaps y/z and negates z of the COLMAP world and records that
  as ``applied_transform``). The mesh lives in the original frame (e.g. COLMAP's),
  so we undo it: ``c2w = inv(A) @ c2w_saved``. A missing key means identity,
  except — as in nerfstudio's dataparser — when ``colmap/sparse/0`` sits beside the
  file: then nerfstudio's legacy COLMAP value ``[[0,1,0,0],[1,0,0,0],[0,0,-1,0]]``
  is assumed (with a warning).
* ``camera_model`` must be ``OPENCV`` (or absent / ``PINHOLE``); fisheye and
  equirectangular are refused; a non-zero ``k4`` is refused.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..scene import Camera
from ._camera_common import OPENGL_TO_OPENCV, find_image, image_size, pose_to_camera, similarity_parts, transform_camera

log = logging.getLogger(__name__)

__all__ = ["load_transforms", "save_transforms", "transforms_applied_transform"]

# what nerfstudio assumes for COLMAP conversions written before applied_transform was recorded
LEGACY_COLMAP_APPLIED_TRANSFORM = [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, -1, 0]]

_INTRINSIC_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h", "k1", "k2", "k3", "k4", "p1", "p2",
                   "camera_angle_x", "camera_angle_y", "camera_model")  # fmt: skip


def _read_json(path: Path) -> dict:
    from ..workspace import read_json

    meta = read_json(path, "transforms.json", "fix the file or export it again")
    if not isinstance(meta, dict) or not isinstance(meta.get("frames"), list):
        raise ValueError(
            f"{path}: expected a transforms.json object with a 'frames' list, found {type(meta).__name__}"
            + (f" with keys {sorted(meta)}" if isinstance(meta, dict) else "")
        )
    return meta


def _applied_transform(meta: dict, path: Path) -> np.ndarray | None:
    """The 4x4 ``applied_transform`` of a transforms.json (nerfstudio's legacy default beside colmap/), or None."""
    if "applied_transform" not in meta and (path.parent / "colmap" / "sparse" / "0").is_dir():
        # nerfstudio's dataparser does the same for files written before the key existed
        log.warning(
            "%s has no applied_transform but sits beside colmap/sparse/0: assuming nerfstudio's legacy "
            "COLMAP conversion %s (as nerfstudio does)",
            path,
            LEGACY_COLMAP_APPLIED_TRANSFORM,
        )
        meta = {**meta, "applied_transform": LEGACY_COLMAP_APPLIED_TRANSFORM}
    if "applied_transform" not in meta:
        return None
    A = np.asarray(meta["applied_transform"], dtype=np.float64)
    if A.shape == (3, 4):
        A = np.vstack([A, [0, 0, 0, 1]])
    if A.shape != (4, 4):
        raise ValueError(f"{path}: applied_transform must be 3x4 (or 4x4), found shape {A.shape}")
    similarity_parts(A, f"{path} applied_transform")
    return A


def transforms_applied_transform(path: str | Path) -> np.ndarray:
    """The 4x4 ``applied_transform`` of a transforms.json (identity when it has none).

    nerfstudio's ``dataparser_transforms.json`` maps this file's frame (the one with
    ``applied_transform`` applied) onto the frame its exported meshes live in.
    """
    path = Path(path)
    A = _applied_transform(_read_json(path), path)
    return np.eye(4) if A is None else A


def load_transforms(path: str | Path, images_dir: str | Path | None = None) -> list[Camera]:
    """Load a nerfstudio / instant-ngp ``transforms.json``.

    Args:
        path: the json file.
        images_dir: an extra folder to look for images in (for sizes when ``w``/``h`` are absent).

    Returns:
        One Camera per frame, OpenCV axes, in the mesh's original frame (``applied_transform`` undone);
        ``name`` = the frame's ``file_path`` (relative, as written).
    """
    path = Path(path)
    meta = _read_json(path)
    A = _applied_transform(meta, path)
    if meta.get("applied_scale", 1.0) not in (1, 1.0):
        log.warning("%s: applied_scale=%s is ignored (cameras stay in the saved scale)", path, meta["applied_scale"])
    out = []
    for k, frame in enumerate(meta["frames"]):
        src = f"{path} (frame {k})"
        intr = {key: meta[key] for key in _INTRINSIC_KEYS if key in meta}
        intr.update({key: frame[key] for key in _INTRINSIC_KEYS if key in frame})
        ref = frame.get("file_path")
        if not ref or "transform_matrix" not in frame:
            raise ValueError(f"{src}: each frame needs 'file_path' and 'transform_matrix', found keys {sorted(frame)}")
        model = str(intr.get("camera_model", "OPENCV")).upper()
        if model not in ("OPENCV", "PINHOLE"):
            raise ValueError(
                f"{src}: camera_model {model} is not supported (OPENCV or PINHOLE only). "
                "Fix: undistort the images (e.g. nerfstudio / COLMAP undistorter) and write a pinhole transforms.json"
            )
        if float(intr.get("k4", 0.0)) != 0.0:
            raise ValueError(f"{src}: k4={intr['k4']} is not supported by the OPENCV model (k1, k2, k3, p1, p2 only)")
        w, h = intr.get("w"), intr.get("h")
        if w is None or h is None:
            img = find_image(path.parent, ref)
            if img is None and images_dir is not None:
                img = find_image(Path(images_dir), Path(ref).name)
            if img is None:
                raise ValueError(
                    f"{src}: no image size: the file has no 'w'/'h' and image {ref!r} was not found next to it. "
                    'Fix: add "w" and "h" to transforms.json or put the images where file_path points'
                )
            w, h = image_size(img)
        w, h = int(w), int(h)
        if "fl_x" in intr:
            fx = float(intr["fl_x"])
            fy = float(intr.get("fl_y", fx))
        elif "camera_angle_x" in intr:
            fx = 0.5 * w / math.tan(0.5 * float(intr["camera_angle_x"]))
            fy = 0.5 * h / math.tan(0.5 * float(intr["camera_angle_y"])) if "camera_angle_y" in intr else fx
        else:
            raise ValueError(f"{src}: no focal length: expected 'fl_x' (and 'fl_y') or 'camera_angle_x'")
        cx, cy = float(intr.get("cx", w / 2)), float(intr.get("cy", h / 2))
        dist = [float(intr.get(key, 0.0)) for key in ("k1", "k2", "p1", "p2", "k3")]
        c2w = np.asarray(frame["transform_matrix"], dtype=np.float64)
        if c2w.shape == (3, 4):
            c2w = np.vstack([c2w, [0, 0, 0, 1]])
        if c2w.shape != (4, 4):
            raise ValueError(f"{src}: transform_matrix must be 4x4, found shape {c2w.shape}")
        if not np.all(np.isfinite(c2w)):
            raise ValueError(f"{src}: transform_matrix contains NaN or inf; remove that frame")
        c2w_cv = c2w @ OPENGL_TO_OPENCV
        cam = pose_to_camera(
            np.linalg.inv(c2w_cv),
            src,
            K=np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]]),
            width=w,
            height=h,
            distortion=dist,
            name=str(ref)[2:] if str(ref).startswith("./") else str(ref),
            image_path=find_image(path.parent, ref) or (path.parent / ref),
        )
        if A is not None:
            cam = transform_camera(cam, np.linalg.inv(A), f"{path} applied_transform")
        out.append(cam)
    log.info("read %d frames from %s%s", len(out), path, " (applied_transform undone)" if A is not None else "")
    return out


def save_transforms(
    path: str | Path,
    cameras: Sequence[Camera],
    applied_transform: np.ndarray | None = None,
    form: str = "per_frame",
    image_prefix: str = "images/",
    write_size: bool = True,
) -> Path:
    """Write cameras as a nerfstudio ``transforms.json`` (atomic).

    Args:
        path: output json file.
        cameras: views (OpenCV axes, in the original frame).
        applied_transform: optional 3x4/4x4 ``A``; poses are saved as ``A @ c2w`` and ``A`` is recorded.
        form: ``per_frame`` (intrinsics in each frame), ``global`` (shared intrinsics at the top;
            all cameras must agree), or ``angle`` (Blender ``camera_angle_x``: one square-pixel,
            centred, undistorted camera).
        image_prefix: prefix of each frame's ``file_path`` (``images/`` + camera name).
        write_size: write ``w``/``h`` (the Blender form usually has none).
    """
    from ..workspace import atomic_write_json

    def intrinsics(cam: Camera) -> dict:
        if abs(cam.K[0, 1]) > 1e-12:
            raise ValueError(f"camera {cam.name!r} has skew; transforms.json cannot store it (use cameras.json)")
        d = {"fl_x": cam.K[0, 0], "fl_y": cam.K[1, 1], "cx": cam.K[0, 2], "cy": cam.K[1, 2]}
        if write_size:
            d.update(w=cam.width, h=cam.height)
        if cam.distortion is not None:
            k1, k2, p1, p2, k3 = cam.distortion
            d.update(k1=k1, k2=k2, k3=k3, p1=p1, p2=p2)
        return d

    meta: dict = {}
    frames = []
    A = None
    if applied_transform is not None:
        A = np.asarray(applied_transform, dtype=np.float64)
        if A.shape == (3, 4):
            A = np.vstack([A, [0, 0, 0, 1]])
        meta["applied_transform"] = A[:3].tolist()
    if form == "global":
        shared = {json.dumps(intrinsics(c), sort_keys=True) for c in cameras}
        if len(shared) != 1:
            raise ValueError(f"form='global' needs one shared camera, found {len(shared)} different intrinsics")
        meta.update(intrinsics(cameras[0]))
        meta["camera_model"] = "OPENCV"
    elif form == "angle":
        c0 = cameras[0]
        for c in cameras:
            if (c.distortion is not None or c.K[0, 0] != c.K[1, 1] or c.K[0, 2] != c.width / 2
                    or c.K[1, 2] != c.height / 2 or not np.array_equal(c.K, c0.K)):  # fmt: skip
                raise ValueError(
                    f"form='angle' needs identical centred square-pixel pinhole cameras; {c.name!r} is not"
                )
        meta["camera_angle_x"] = 2 * math.atan(0.5 * c0.width / c0.K[0, 0])
        if write_size:
            meta.update(w=c0.width, h=c0.height)
    elif form != "per_frame":
        raise ValueError(f"unknown transforms.json form {form!r}; choose per_frame, global or angle")
    for cam in cameras:
        c2w = cam.cam_to_world @ OPENGL_TO_OPENCV  # OpenCV -> OpenGL axes (the flip is its own inverse)
        if A is not None:
            c2w = A @ c2w
        frame = {"file_path": f"{image_prefix}{cam.name}", "transform_matrix": c2w.tolist()}
        if form == "per_frame":
            frame.update(intrinsics(cam))
        frames.append(frame)
    meta["frames"] = frames
    return atomic_write_json(path, meta)
