"""The project's own camera file, ``cameras.json`` (written into every workspace).

It stores exactly what :class:`~omniseg3d_mesh.scene.Camera` holds, in our one
convention, so nothing is lost or converted on the way back::

    {
      "format": "omniseg3d-mesh/cameras",
      "version": 1,
      "convention": "OpenCV axes (x right, y down, z forward); world_to_cam maps world -> camera; pixel (0,0) = top-left corner of the top-left pixel; distortion = OpenCV (k1, k2, p1, p2, k3)",
      "views": [
        {
          "name": "frame_0001.png",
          "image": "images/frame_0001.png",
          "width": 640, "height": 480,
          "K": [[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]],
          "world_to_cam": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 2.5], [0, 0, 0, 1]],
          "distortion": null
        }
      ]
    }

``image`` is relative to the json file's folder when the image lies under it,
absolute otherwise, or ``null`` for virtual views. ``distortion`` is ``null`` or a
list of up to 5 numbers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..scene import Camera

log = logging.getLogger(__name__)

__all__ = ["load_cameras_json", "save_cameras_json", "CAMERAS_JSON_FORMAT", "CAMERAS_JSON_VERSION", "is_cameras_json"]

CAMERAS_JSON_FORMAT = "omniseg3d-mesh/cameras"
CAMERAS_JSON_VERSION = 1
_CONVENTION = (
    "OpenCV axes (x right, y down, z forward); world_to_cam maps world -> camera; "
    "pixel (0,0) = top-left corner of the top-left pixel; distortion = OpenCV (k1, k2, p1, p2, k3)"
)


def is_cameras_json(path: str | Path) -> bool:
    """True when ``path`` is a json file in this format (cheap check of the ``format`` key).

    Raises:
        ValueError: the file is not valid JSON (names the line and column): a truncated
            camera file must not look like a missing one.
    """
    from ..workspace import read_json

    try:
        obj = read_json(path, "camera file", "fix the file or export it again")
    except OSError:
        return False
    return isinstance(obj, dict) and obj.get("format") == CAMERAS_JSON_FORMAT


def save_cameras_json(path: str | Path, cameras: Sequence[Camera]) -> Path:
    """Write cameras to ``path`` (atomic).

    Args:
        path: output json file.
        cameras: the views; image paths are stored relative to ``path``'s folder when possible.
    """
    from ..workspace import atomic_write_json

    path = Path(path)
    base = path.parent.resolve()
    views = []
    for cam in cameras:
        image = None
        if cam.image_path is not None:
            p = Path(cam.image_path).resolve()
            try:
                image = p.relative_to(base).as_posix()
            except ValueError:
                image = os.fspath(p)
        views.append(
            {
                "name": cam.name,
                "image": image,
                "width": cam.width,
                "height": cam.height,
                "K": cam.K.tolist(),
                "world_to_cam": cam.world_to_cam.tolist(),
                "distortion": None if cam.distortion is None else cam.distortion.tolist(),
            }
        )
    doc = {"format": CAMERAS_JSON_FORMAT, "version": CAMERAS_JSON_VERSION, "convention": _CONVENTION, "views": views}
    return atomic_write_json(path, doc)


def load_cameras_json(path: str | Path) -> list[Camera]:
    """Read a ``cameras.json`` written by :func:`save_cameras_json`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not this format, a newer version, or a view with missing/bad fields.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"camera file {path} does not exist")
    from ..workspace import read_json

    doc = read_json(path, "cameras.json", "fix the file or write it again (save_cameras_json)")
    if not isinstance(doc, dict) or doc.get("format") != CAMERAS_JSON_FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(
            f'{path}: not an omniseg3d-mesh cameras.json (expected "format": "{CAMERAS_JSON_FORMAT}", found {found!r}). '
            "Fix: for nerfstudio files name them transforms.json, or pass the right file with --cameras"
        )
    version = doc.get("version")
    if not isinstance(version, int) or version > CAMERAS_JSON_VERSION:
        raise ValueError(
            f"{path}: cameras.json version {version!r} is not supported (this omniseg3d-mesh reads up to "
            f"version {CAMERAS_JSON_VERSION}). Fix: upgrade omniseg3d-mesh"
        )
    cams = []
    for k, v in enumerate(doc.get("views", [])):
        missing = [key for key in ("name", "width", "height", "K", "world_to_cam") if key not in v]
        if missing:
            raise ValueError(
                f"{path}: view {k} lacks {', '.join(missing)}; every view needs name, width, height, K, world_to_cam"
            )
        image = v.get("image")
        if image is not None:
            image = Path(image)
            if not image.is_absolute():
                image = path.parent / image
        try:
            cams.append(
                Camera(
                    K=np.asarray(v["K"], dtype=np.float64),
                    world_to_cam=np.asarray(v["world_to_cam"], dtype=np.float64),
                    width=v["width"],
                    height=v["height"],
                    image_path=image,
                    name=v["name"],
                    distortion=v.get("distortion"),
                )
            )
        except ValueError as exc:
            raise ValueError(f"{path}: view {k} ({v['name']!r}): {exc}") from None
    log.info("read %d cameras from %s", len(cams), path)
    return cams
