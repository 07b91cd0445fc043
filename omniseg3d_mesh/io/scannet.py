"""ScanNet layout: ``pose/<frame>.txt``, ``intrinsic/intrinsic_color.txt``, ``color/<frame>.jpg``.

* ``pose/<frame>.txt``: 4x4 **camera-to-world**, OpenCV axes. ScanNet has frames whose
  pose is ``-inf`` (tracking lost); they are skipped with one warning that counts them.
* ``intrinsic/intrinsic_color.txt``: 4x4 whose top-left 3x3 is K of the colour
  camera (pixel-corner convention assumed, as everywhere here). No distortion.
* Image sizes come from the colour images (ScanNet stores none in the text files).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..scene import Camera
from ._camera_common import IMAGE_SUFFIXES, image_size, pose_to_camera

log = logging.getLogger(__name__)

__all__ = ["load_scannet", "save_scannet", "is_scannet_root"]


def is_scannet_root(path: str | Path) -> bool:
    path = Path(path)
    return (path / "pose").is_dir() and (path / "intrinsic" / "intrinsic_color.txt").is_file()


def _natural_key(s: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def read_scannet(root: str | Path, images_dir: str | Path | None = None) -> tuple[list[Camera], list[str]]:
    """Like :func:`load_scannet` but also returns the image names of skipped (non-finite) frames."""
    root = Path(root)
    if not is_scannet_root(root):
        raise FileNotFoundError(
            f"{root} is not a ScanNet scan: expected pose/*.txt and intrinsic/intrinsic_color.txt. "
            "Fix: pass the scan folder (the one holding color/, pose/, intrinsic/)"
        )
    kfile = root / "intrinsic" / "intrinsic_color.txt"
    try:
        k4 = np.loadtxt(kfile, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{kfile}: cannot read a 4x4 intrinsic matrix ({exc})") from None
    if k4.shape not in ((4, 4), (3, 3)):
        raise ValueError(f"{kfile}: expected a 4x4 intrinsic matrix, found shape {k4.shape}")
    K = k4[:3, :3]
    color = Path(images_dir) if images_dir is not None else root / "color"
    by_stem: dict[str, Path] = {}
    if color.is_dir():
        for p in color.iterdir():
            if p.suffix.lower() in IMAGE_SUFFIXES:
                by_stem.setdefault(p.stem, p)
    poses = sorted((root / "pose").glob("*.txt"), key=lambda p: _natural_key(p.stem))
    cams, skipped = [], []
    for pf in poses:
        img = by_stem.get(pf.stem)
        name = img.name if img is not None else f"{pf.stem}.jpg"
        try:
            c2w = np.loadtxt(pf, ndmin=2)
        except ValueError as exc:
            raise ValueError(f"{pf}: cannot read a 4x4 pose ({exc})") from None
        if c2w.shape != (4, 4):
            raise ValueError(f"{pf}: expected a 4x4 camera-to-world pose, found shape {c2w.shape}")
        if not np.all(np.isfinite(c2w)):
            skipped.append(name)
            continue
        if img is None:
            raise FileNotFoundError(
                f"{pf}: no colour image for frame {pf.stem!r} in {color} (needed for the image size). "
                "Fix: extract the colour frames (ScanNet's reader writes color/<frame>.jpg) or pass IMAGES"
            )
        size = image_size(img)
        cams.append(
            pose_to_camera(np.linalg.inv(c2w), str(pf), K=K, width=size[0], height=size[1], name=name, image_path=img)
        )
    if skipped:
        log.warning(
            "%s: skipped %d of %d frames whose pose is not finite (ScanNet marks lost tracking with -inf)",
            root,
            len(skipped),
            len(poses),
        )
    log.info("read %d ScanNet frames from %s", len(cams), root)
    return cams, skipped


def load_scannet(root: str | Path, images_dir: str | Path | None = None) -> list[Camera]:
    """Load a ScanNet scan's colour cameras.

    Args:
        root: the scan folder (``pose/``, ``intrinsic/``, ``color/``).
        images_dir: where the colour images are (default ``root/color``).

    Returns:
        One Camera per frame with a finite pose, natural frame order, ``name`` = image file name.
    """
    return read_scannet(root, images_dir)[0]


def save_scannet(root: str | Path, cameras: Sequence[Camera]) -> Path:
    """Write poses and the shared intrinsics in the ScanNet layout (images are not written).

    All cameras must share one undistorted K (ScanNet has a single colour intrinsic).
    Frame names are the camera names without their suffix.
    """
    from ..workspace import atomic_write_text

    root = Path(root)
    K = cameras[0].K
    for cam in cameras:
        if cam.distortion is not None or not np.allclose(cam.K, K):
            raise ValueError(f"ScanNet layout stores one pinhole intrinsic for all frames; camera {cam.name!r} differs")
    k4 = np.eye(4)
    k4[:3, :3] = K
    fmt = lambda m: "\n".join(" ".join(repr(float(x)) for x in row) for row in m) + "\n"  # noqa: E731
    atomic_write_text(root / "intrinsic" / "intrinsic_color.txt", fmt(k4))
    for cam in cameras:
        atomic_write_text(root / "pose" / f"{Path(cam.name).stem}.txt", fmt(cam.cam_to_world))
    return root
