"""Cameras for a folder of images: find the calibration, load it, match it to the images.

Formats (one module each, loaders and writers in pairs):

* ``cameras.json`` — the project's own (:mod:`.cameras_json`);
* ``transforms.json`` — nerfstudio / instant-ngp / Blender (:mod:`.transforms`);
* ``colmap-binary`` / ``colmap-text`` — COLMAP sparse model (:mod:`.colmap`);
* ``scannet`` — ScanNet's pose/intrinsic layout (:mod:`.scannet`).

Auto-detection, given ``images/``, tries the formats in that order, each first
next to the images folder (its parent) and then inside it:

1. ``cameras.json`` in the omniseg3d-mesh format;
2. ``transforms.json`` (or ``transforms_<images folder name>.json``, the Blender split form);
3. a COLMAP model: ``cameras.{bin,txt}`` + ``images.{bin,txt}`` in the folder itself,
   ``sparse/0``, ``sparse`` or ``colmap/sparse/0``;
4. a ScanNet scan: ``pose/`` + ``intrinsic/intrinsic_color.txt``.

The first hit is used and reported; other candidates are logged. ``cameras=``
names a file or folder explicitly and skips detection.

Images are matched to cameras by file name (the camera's image reference, with
leading folders dropped until it names a file under ``images/``; references without
an extension match by stem). A camera without its image, an image without a camera,
or an image whose size is not a uniform rescale of its camera's is an error; a
uniformly rescaled image rescales the intrinsics (logged).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ..scene import Camera
from ._camera_common import IMAGE_SUFFIXES, image_size, load_world_transform, transform_camera

log = logging.getLogger(__name__)

__all__ = ["load_cameras", "detect_camera_source", "list_images", "match_images", "load_world_transform"]

FORMATS = ("cameras.json", "transforms.json", "colmap-binary", "colmap-text", "scannet")


def natural_key(name: str) -> list:
    """Sort key that puts ``view_2`` before ``view_10``."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name)]


def list_images(images_dir: str | Path) -> dict[str, Path]:
    """Images under ``images_dir`` (recursive, hidden entries skipped): relative posix path -> file."""
    images_dir = Path(images_dir)
    out = {}
    for p in sorted(images_dir.rglob("*")):
        rel = p.relative_to(images_dir)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            out[rel.as_posix()] = p
    return out


def _classify(path: Path) -> tuple[str, Path] | None:
    """(format, path) when ``path`` (file or folder) is a camera source we can read, else None."""
    from .cameras_json import is_cameras_json
    from .colmap import find_colmap_model
    from .scannet import is_scannet_root

    if path.is_file():
        if path.suffix == ".json":
            if is_cameras_json(path):
                return "cameras.json", path
            from ..workspace import read_json

            try:
                obj = read_json(path, "camera file", "fix the file or export it again")
            except OSError:
                return None
            if isinstance(obj, dict) and isinstance(obj.get("frames"), list):
                return "transforms.json", path
            return None
        if path.name in ("cameras.bin", "images.bin", "cameras.txt", "images.txt"):
            return _classify(path.parent)
        return None
    if path.is_dir():
        model = find_colmap_model(path)
        if model is not None and model == path:
            binary = (model / "cameras.bin").is_file() and (model / "images.bin").is_file()
            return ("colmap-binary" if binary else "colmap-text"), model
        if is_scannet_root(path):
            return "scannet", path
        for name in ("cameras.json", "transforms.json"):
            if (path / name).is_file():
                hit = _classify(path / name)
                if hit:
                    return hit
        if model is not None:
            binary = (model / "cameras.bin").is_file() and (model / "images.bin").is_file()
            return ("colmap-binary" if binary else "colmap-text"), model
    return None


def detect_camera_source(images_dir: str | Path) -> tuple[str, Path]:
    """Find the camera file/folder for ``images_dir`` (see the module docstring for the order).

    Returns:
        (format name, path of the file or model folder).

    Raises:
        FileNotFoundError: nothing found, listing where it looked.
    """
    from .cameras_json import is_cameras_json
    from .colmap import find_colmap_model
    from .scannet import is_scannet_root

    images_dir = Path(images_dir)
    places = [images_dir.parent, images_dir]
    found: list[tuple[str, Path]] = []
    for place in places:
        p = place / "cameras.json"
        if p.is_file() and is_cameras_json(p):
            found.append(("cameras.json", p))
    for place in places:
        for name in ("transforms.json", f"transforms_{images_dir.name}.json"):
            p = place / name
            if p.is_file() and _classify(p) == ("transforms.json", p):
                found.append(("transforms.json", p))
    for place in places:
        model = find_colmap_model(place)
        if model is not None:
            binary = (model / "cameras.bin").is_file() and (model / "images.bin").is_file()
            found.append(("colmap-binary" if binary else "colmap-text", model))
    for place in places:
        if is_scannet_root(place):
            found.append(("scannet", place))
    if not found:
        raise FileNotFoundError(
            f"no cameras found for {images_dir}: looked in {images_dir.parent} and {images_dir} for cameras.json, "
            "transforms.json, a COLMAP model (sparse/0/cameras.bin ...) and a ScanNet scan (pose/, intrinsic/). "
            "Fix: pass the camera file or folder with --cameras PATH"
        )
    fmt, path = found[0]
    others = [f"{f} at {p}" for f, p in found[1:] if p != path]
    log.info("cameras: %s at %s%s", fmt, path, f" (also found, not used: {'; '.join(others)})" if others else "")
    return fmt, path


def _read_source(fmt: str, path: Path, images_dir: Path | None) -> tuple[list[Camera], list[str]]:
    if fmt == "cameras.json":
        from .cameras_json import load_cameras_json

        return load_cameras_json(path), []
    if fmt == "transforms.json":
        from .transforms import load_transforms

        return load_transforms(path, images_dir=images_dir), []
    if fmt.startswith("colmap"):
        from .colmap import load_colmap

        return load_colmap(path, images_dir=images_dir), []
    from .scannet import read_scannet

    color = images_dir if images_dir is not None and images_dir.is_dir() else None
    return read_scannet(path, images_dir=color)


def _lookup(ref: str, images: dict[str, Path], stems: dict[str, str]) -> str | None:
    parts = [p for p in ref.replace("\\", "/").split("/") if p not in ("", ".")]
    for k in range(len(parts)):
        key = "/".join(parts[k:])
        if key in images:
            return key
    if parts and not Path(parts[-1]).suffix:  # Blender-style reference without extension
        for k in range(len(parts)):
            key = "/".join(parts[k:])
            if key in stems:
                return stems[key]
    return None


def _names(items: list[str], limit: int = 5) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def match_images(
    cameras: list[Camera], images_dir: str | Path, source: str = "the camera file", skipped: Sequence[str] = ()
) -> list[Camera]:
    """Pair each camera with its image under ``images_dir`` and check sizes.

    Args:
        cameras: cameras whose ``name`` is their image reference (relative path).
        images_dir: the images folder.
        source: the camera file (for messages).
        skipped: image references the loader dropped on purpose (not reported as unmatched).

    Returns:
        Cameras with ``image_path`` set, ``name`` = the image's path relative to ``images_dir``,
        intrinsics rescaled for uniformly resized images; sorted by name.

    Raises:
        FileNotFoundError: a camera's image is missing; ValueError: images without cameras,
        two cameras for one image, or a size that is not a uniform rescale.
    """
    images_dir = Path(images_dir)
    images = list_images(images_dir)
    if not images:
        raise FileNotFoundError(
            f"no images ({', '.join(IMAGE_SUFFIXES)}) in {images_dir}. Fix: pass the folder that holds the views' images"
        )
    stems: dict[str, str] = {}
    for rel in images:
        stems.setdefault(rel.rsplit(".", 1)[0], rel)
    matched: dict[str, Camera] = {}
    missing = []
    for cam in cameras:
        key = _lookup(cam.name, images, stems)
        if key is None:
            missing.append(cam.name)
            continue
        if key in matched:
            raise ValueError(
                f"{source}: cameras {matched[key].name!r} and {cam.name!r} both refer to image {key}; each image needs exactly one camera"
            )
        matched[key] = cam
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(cameras)} cameras in {source} have no image in {images_dir}: missing {_names(missing)}. "
            "Fix: pass the images folder the cameras were calibrated on (and check file names and extensions)"
        )
    ignored = {_lookup(s, images, stems) for s in skipped}
    orphans = [rel for rel in images if rel not in matched and rel not in ignored]
    if orphans:
        raise ValueError(
            f"{len(orphans)} images in {images_dir} have no camera in {source}: {_names(orphans)}. "
            "Fix: move those images out of the folder (e.g. frames the calibration could not register), "
            "or calibrate them too"
        )
    out = []
    notes: dict[tuple, int] = {}
    for rel, cam in sorted(matched.items(), key=lambda kv: natural_key(kv[0])):
        path = images[rel]
        w, h = image_size(path)
        if (w, h) != (cam.width, cam.height):
            s = w / cam.width
            if abs(cam.height * s - h) > 1.0:  # a resize rounds to whole pixels
                raise ValueError(
                    f"image {path} is {w}x{h} but its camera in {source} is {cam.width}x{cam.height}, "
                    "which is not a uniform rescale. Fix: use the images the cameras were calibrated on "
                    "(undistorted or cropped images need their own camera file)"
                )
            notes[(cam.width, cam.height, w, h)] = notes.get((cam.width, cam.height, w, h), 0) + 1
            cam = cam.scaled(w, h)
        out.append(replace(cam, image_path=path, name=rel))
    for (cw, ch, w, h), n in notes.items():
        log.info("%d images are %dx%d while their cameras say %dx%d: intrinsics rescaled", n, w, h, cw, ch)
    return out


def load_cameras(
    images_dir: str | Path | None,
    cameras: str | Path | None = None,
    world_transform=None,
) -> tuple[list[Camera], str]:
    """Load the cameras of a folder of images.

    Args:
        images_dir: the images folder; cameras are matched to its files by name. May be None
            when ``cameras`` is given (then no image checks are made).
        cameras: a camera file or folder (cameras.json, transforms.json, COLMAP model folder
            or one of its files, ScanNet scan folder); default: auto-detected.
        world_transform: optional 4x4 (array, or .txt / .npy / .json file): a point ``p`` in the
            cameras' world frame is ``world_transform @ p`` in the mesh's frame. Rigid or
            rigid + uniform scale. nerfstudio's ``dataparser_transforms.json`` is read with its
            ``scale`` and combined with the transforms.json ``applied_transform``
            (:func:`~omniseg3d_mesh.io._camera_common.load_world_transform`).

    Returns:
        (cameras in OpenCV axes in natural order of view name, format name — one of ``FORMATS``).
    """
    images = Path(images_dir) if images_dir is not None else None
    if images is not None and not images.is_dir():
        raise FileNotFoundError(
            f"images folder {images} does not exist or is not a folder; pass the folder holding the views"
        )
    if cameras is not None:
        cam_path = Path(cameras)
        if not cam_path.exists():
            raise FileNotFoundError(f"camera file or folder {cam_path} does not exist")
        hit = _classify(cam_path)
        if hit is None:
            raise ValueError(
                f"{cam_path}: not a camera source we can read; expected cameras.json, transforms.json, a COLMAP model "
                "folder (cameras.bin/images.bin or .txt) or a ScanNet scan folder (pose/, intrinsic/)"
            )
        fmt, src = hit
        log.info("cameras: %s at %s", fmt, src)
    elif images is not None:
        fmt, src = detect_camera_source(images)
    else:
        raise ValueError("load_cameras needs an images folder or an explicit camera file (cameras=...)")
    if fmt == "scannet" and images is not None and not list_images(images) and (images / "color").is_dir():
        images = images / "color"
    if fmt == "scannet" and images is not None and images == src:
        images = src / "color"
    cams, skipped = _read_source(fmt, src, images)
    if not cams:
        raise ValueError(f"{src}: no cameras in this {fmt} file. Fix: check that the calibration succeeded")
    if images is not None:
        cams = match_images(cams, images, source=str(src), skipped=skipped)
    else:
        cams = sorted(cams, key=lambda c: natural_key(c.name))
    applied = None
    if fmt == "transforms.json" and isinstance(world_transform, (str, Path)):
        from .transforms import transforms_applied_transform

        applied = transforms_applied_transform(src)
    T = load_world_transform(world_transform, applied_transform=applied, camera_format=fmt)
    if T is not None:
        cams = [transform_camera(c, T) for c in cams]
        log.info("applied the world transform to %d cameras", len(cams))
    log.info("loaded %d cameras (%s) from %s", len(cams), fmt, src)
    return cams, fmt
