"""Per-view mask proposals on disk: segment-anything's own output forms and a plain npz.

Three forms are read and written (loaders and writers in pairs):

* **SAM folder** -- what segment-anything's ``scripts/amg.py`` writes by default: one
  folder per image, named after the image's stem, holding one PNG per mask
  (``0.png``, ``1.png``, ... single channel, 0 / 255; any non-zero pixel is read as
  inside, so 0 / 1 PNGs work too) and ``metadata.csv`` with the
  header ``id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,
  predicted_iou,stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h``
  (boxes in XYWH pixels, as SAM reports them).
  :func:`save_sam_folder` / :func:`load_sam_folder`.
* **COCO-RLE json** -- what ``amg.py --convert-to-rle`` writes: one ``<stem>.json``
  per image holding the list of SAM's annotation dicts (``segmentation`` as a COCO
  RLE ``{"size": [H, W], "counts": str}``, ``area``, ``bbox``, ``predicted_iou``,
  ``point_coords``, ``stability_score``, ``crop_box``).
  :func:`save_coco_rle_json` / :func:`load_coco_rle_json`.
* **npz** -- ``<stem>.npz`` with key ``masks``: a boolean stack [M, H, W].
  :func:`save_masks_npz` / :func:`load_masks_npz`. A single ``.npz`` may also hold
  every view at once, one key per image stem.

:func:`load_masks` reads a folder of any mix of these, matches entries to cameras by
image stem and resizes (nearest) masks to each camera's resolution; with
``lazy=True`` it returns a :class:`MaskViews` mapping that reads a view's masks only
when asked for them (one view in memory at a time: 300 views of 20 masks at
640x480 are 1.8 GB as boolean arrays).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from omniseg3d_mesh.io.rle import decode_rle, encode_rle
from omniseg3d_mesh.workspace import (
    atomic_directory,
    atomic_save_npz,
    atomic_write_json,
    content_hash,
    read_npz,
    safe_view_name,
)

log = logging.getLogger(__name__)

__all__ = [
    "SAM_METADATA_HEADER",
    "mask_key",
    "load_masks",
    "MaskViews",
    "masks_hash",
    "save_sam_folder",
    "load_sam_folder",
    "save_coco_rle_json",
    "load_coco_rle_json",
    "save_masks_npz",
    "load_masks_npz",
    "resize_masks",
    "mask_records",
    "find_mask_entries",
    "is_complete_sam_folder",
]

SAM_METADATA_HEADER = (
    "id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,predicted_iou,"
    "stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h"
)
_HEADER_FIELDS = SAM_METADATA_HEADER.split(",")
MISSING_MASKS_FIX = "--allow-missing-masks"


# --------------------------------------------------------------------------- helpers
def mask_key(view_name: str) -> str:
    """The name of a view's mask entry: the image path without its extension, file-safe.

    ``"view_000.png"`` -> ``"view_000"`` (what segment-anything's amg.py names its
    output folder); ``"sub/a.jpg"`` -> ``"sub__a"``.
    """
    return safe_view_name(str(Path(view_name).with_suffix("")).replace("\\", "/"))


def _as_stack(masks: Any, what: str) -> np.ndarray:
    arr = np.asarray(masks)
    if arr.ndim != 3:
        raise ValueError(f"{what}: expected a mask stack [M, H, W], got shape {arr.shape}")
    if arr.dtype != bool:
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{what}: expected boolean masks, got dtype {arr.dtype}")
        arr = arr > (127 if arr.dtype == np.uint8 and arr.max(initial=0) > 1 else 0)
    return arr


def resize_masks(masks: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of a mask stack (pixel-centre sampling).

    Args:
        masks: [M, h, w] bool.
        height, width: the output size.

    Returns:
        [M, height, width] bool (the input itself when the size already matches).
    """
    m, h, w = masks.shape
    if (h, w) == (height, width):
        return masks
    if m == 0 or h == 0 or w == 0:
        return np.zeros((m, height, width), bool)
    rows = np.minimum(((np.arange(height) + 0.5) * (h / height)).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * (w / width)).astype(np.int64), w - 1)
    return masks[:, rows[:, None], cols[None, :]]


def _sam_bbox(mask: np.ndarray) -> list[float]:
    """XYWH box the way segment-anything reports it (w = x_max - x_min, 0s if empty)."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if ys.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs[0]), float(ys[0]), float(xs[-1] - xs[0]), float(ys[-1] - ys[0])]


def mask_records(masks: Sequence[np.ndarray] | np.ndarray) -> list[dict]:
    """SAM-style annotation records for masks that did not come from SAM.

    ``area`` and ``bbox`` are measured, ``point_coords`` is a pixel inside the mask,
    ``predicted_iou`` and ``stability_score`` are 1 and ``crop_box`` is the image.
    """
    out = []
    for mask in masks:
        mask = np.asarray(mask, bool)
        h, w = mask.shape
        ys, xs = np.nonzero(mask)
        point = [float(xs[xs.size // 2]), float(ys[ys.size // 2])] if xs.size else [0.0, 0.0]
        out.append(
            {
                "area": int(xs.size),
                "bbox": _sam_bbox(mask),
                "predicted_iou": 1.0,
                "point_coords": [point],
                "stability_score": 1.0,
                "crop_box": [0.0, 0.0, float(w), float(h)],
            }
        )
    return out


def _check_records(records: Sequence[dict] | None, masks: np.ndarray | Sequence[np.ndarray], where: str) -> list[dict]:
    if records is None:
        return mask_records(masks)
    records = list(records)
    if len(records) != len(masks):
        raise ValueError(f"{where}: {len(masks)} masks but {len(records)} records; pass one record per mask (or none)")
    out = []
    for mask, rec in zip(masks, records):
        full = mask_records([mask])[0]
        full.update({k: v for k, v in rec.items() if v is not None})
        out.append(full)
    return out


def _num(value: Any) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


# --------------------------------------------------------------------------- SAM folder
def save_sam_folder(
    out_dir: str | Path, masks: Sequence[np.ndarray] | np.ndarray, records: Sequence[dict] | None = None
) -> Path:
    """Write one image's masks in segment-anything's amg folder layout, atomically.

    Args:
        out_dir: the image's folder (``<masks>/<image stem>``); replaced if it exists.
        masks: [M, H, W] bool, or a sequence of M [H, W] bool masks (read one at a
            time, so a lazy sequence keeps memory low). M may be 0.
        records: SAM annotation dicts (``area``, ``bbox``, ``point_coords``,
            ``predicted_iou``, ``stability_score``, ``crop_box``), one per mask;
            fields a record lacks are measured from its mask (:func:`mask_records`).

    Returns:
        ``out_dir``.
    """
    from PIL import Image

    out_dir = Path(out_dir)
    if isinstance(masks, np.ndarray):
        masks = _as_stack(masks, str(out_dir))
    given = list(records) if records is not None else None
    if given is not None and len(given) != len(masks):
        raise ValueError(f"{out_dir}: {len(masks)} masks but {len(given)} records; pass one record per mask (or none)")
    lines = [SAM_METADATA_HEADER]
    with atomic_directory(out_dir) as tmp:
        for i in range(len(masks)):
            mask = np.asarray(masks[i], bool)
            if mask.ndim != 2:
                raise ValueError(f"{out_dir}: mask {i} must be [H, W], got shape {mask.shape}")
            Image.fromarray(mask.astype(np.uint8) * 255).save(tmp / f"{i}.png")
            rec = mask_records([mask])[0]
            if given is not None:
                rec.update({k: v for k, v in given[i].items() if v is not None})
            row = [
                str(i),
                _num(rec["area"]),
                *(_num(v) for v in rec["bbox"]),
                *(_num(v) for v in rec["point_coords"][0]),
                _num(rec["predicted_iou"]),
                _num(rec["stability_score"]),
                *(_num(v) for v in rec["crop_box"]),
            ]
            lines.append(",".join(row))
        (tmp / "metadata.csv").write_text("\n".join(lines))
    return out_dir


def is_complete_sam_folder(path: str | Path) -> bool:
    """A SAM folder counts as complete once its ``metadata.csv`` exists (written last)."""
    return (Path(path) / "metadata.csv").is_file()


def _read_metadata(path: Path) -> list[dict]:
    text = path.read_text()
    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if r]
    if not rows or [c.strip() for c in rows[0]] != _HEADER_FIELDS:
        found = ",".join(rows[0]) if rows else "an empty file"
        raise ValueError(
            f"{path}: not a segment-anything metadata.csv (expected the header {SAM_METADATA_HEADER!r}, found {found[:120]!r}); "
            "write it with segment-anything's scripts/amg.py or `omniseg-mesh masks`"
        )
    records = []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(_HEADER_FIELDS):
            raise ValueError(f"{path}, line {n}: expected {len(_HEADER_FIELDS)} values, found {len(row)}")
        try:
            v = [float(x) for x in row]
        except ValueError as exc:
            raise ValueError(f"{path}, line {n}: expected numbers, found {','.join(row)[:120]!r}") from exc
        records.append(
            {
                "id": int(v[0]),
                "area": int(v[1]),
                "bbox": v[2:6],
                "point_coords": [v[6:8]],
                "predicted_iou": v[8],
                "stability_score": v[9],
                "crop_box": v[10:14],
            }
        )
    return records


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            arr = np.asarray(img)
    except (OSError, UnidentifiedImageError) as exc:
        raise ValueError(
            f"cannot read mask image {path}: {exc}; expected a single-channel PNG, 0 = outside, any other value = inside"
        ) from exc
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=2) if arr.shape[2] >= 3 else arr[..., 0]
    # any non-zero pixel is inside: SAM writes 0 / 255, many exporters 0 / 1
    return arr != 0


def _stack_masks(masks: list, path: Path, size: tuple[int, int] | None) -> np.ndarray:
    """[M, H, W] bool from per-mask arrays of one image (all the same size)."""
    shapes = {m.shape for m in masks}
    if len(shapes) > 1:
        raise ValueError(
            f"{path}: masks have different sizes {sorted(shapes)}; all masks of one image must have its size"
        )
    if masks:
        return np.stack(masks)
    h, w = size if size is not None else (0, 0)
    return np.zeros((0, h, w), bool)


def load_sam_folder(
    path: str | Path, size: tuple[int, int] | None = None, with_records: bool = False
) -> np.ndarray | tuple[np.ndarray, list[dict]]:
    """Read one image's masks from a segment-anything amg folder.

    With ``metadata.csv`` the masks are its ids in order; without it, every
    ``<n>.png`` in numeric order.

    Args:
        path: the image's folder.
        size: (H, W) to use when the folder holds no mask (PNGs carry the size
            otherwise); default (0, 0).
        with_records: also return the metadata rows as SAM annotation dicts.

    Returns:
        masks [M, H, W] bool (and the records when ``with_records``).
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"mask folder {path} not found; expected a folder of <n>.png masks with metadata.csv")
    meta = path / "metadata.csv"
    if meta.is_file():
        records = _read_metadata(meta)
        files = [path / f"{r['id']}.png" for r in records]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise ValueError(
                f"{meta} lists {len(missing)} mask(s) whose PNG is missing in {path}: {', '.join(missing[:5])}; "
                "the folder is incomplete: regenerate it (delete the folder and run `omniseg-mesh masks` again)"
            )
    else:
        files = sorted((f for f in path.glob("*.png") if f.stem.isdigit()), key=lambda f: int(f.stem))
        if not files:
            raise ValueError(
                f"{path}: no metadata.csv and no <n>.png masks; expected segment-anything's amg output "
                "(0.png, 1.png, ... and metadata.csv)"
            )
        records = None
    masks = [_read_png(f) for f in files]
    stack = _stack_masks(masks, path, size)
    if with_records:
        return stack, (records if records is not None else mask_records(stack))
    return stack


# --------------------------------------------------------------------------- COCO RLE json
def save_coco_rle_json(
    path: str | Path, masks: np.ndarray | Sequence[np.ndarray], records: Sequence[dict] | None = None
) -> Path:
    """Write one image's masks as segment-anything's ``--convert-to-rle`` json, atomically.

    Args:
        path: the output ``<image stem>.json``.
        masks: [M, H, W] bool (M may be 0).
        records: SAM annotation dicts, one per mask (default: measured).
    """
    path = Path(path)
    if isinstance(masks, np.ndarray):
        masks = _as_stack(masks, str(path))
    records = _check_records(records, masks, str(path))
    anns = []
    for mask, rec in zip(masks, records):
        mask = np.asarray(mask, bool)
        anns.append(
            {
                "segmentation": encode_rle(mask),
                "area": int(rec.get("area", int(mask.sum()))),
                "bbox": [float(v) for v in rec["bbox"]],
                "predicted_iou": float(rec["predicted_iou"]),
                "point_coords": [[float(v) for v in p] for p in rec["point_coords"]],
                "stability_score": float(rec["stability_score"]),
                "crop_box": [float(v) for v in rec["crop_box"]],
            }
        )
    return atomic_write_json(path, anns)


def load_coco_rle_json(
    path: str | Path, size: tuple[int, int] | None = None, with_records: bool = False
) -> np.ndarray | tuple[np.ndarray, list[dict]]:
    """Read one image's masks from a segment-anything COCO-RLE json.

    Accepts SAM's list of annotation dicts, or a COCO instances file's
    ``{"annotations": [...]}``.

    Returns:
        masks [M, H, W] bool (and the annotation dicts without ``segmentation`` when
        ``with_records``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mask file {path} not found")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"{path}: not valid JSON ({exc}); expected segment-anything's COCO-RLE output (a list of annotations)"
        ) from exc
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        data = data["annotations"]
    if not isinstance(data, list) or not all(isinstance(a, dict) and "segmentation" in a for a in data):
        raise ValueError(
            f"{path}: expected a list of annotations with a 'segmentation' RLE each "
            f"(segment-anything's amg.py --convert-to-rle output), found {type(data).__name__}"
        )
    masks = []
    for i, ann in enumerate(data):
        try:
            masks.append(decode_rle(ann["segmentation"]))
        except ValueError as exc:
            raise ValueError(f"{path}, annotation {i}: {exc}") from exc
    stack = _stack_masks(masks, path, size)
    if with_records:
        return stack, [{k: v for k, v in a.items() if k != "segmentation"} for a in data]
    return stack


# --------------------------------------------------------------------------- npz
def save_masks_npz(path: str | Path, masks: np.ndarray) -> Path:
    """Write a boolean stack [M, H, W] to ``path`` (key ``masks``), atomically."""
    return atomic_save_npz(path, compress=True, masks=_as_stack(masks, str(path)))


def load_masks_npz(path: str | Path) -> np.ndarray:
    """Read ``masks`` [M, H, W] bool from an npz written by :func:`save_masks_npz`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mask file {path} not found")
    data = read_npz(path, what="mask stack", fix=_NPZ_FIX)
    if "masks" not in data:
        raise ValueError(f"{path}: expected an array named 'masks' [M, H, W], found keys {sorted(data)}")
    return _as_stack(data["masks"], str(path))


_NPZ_FIX = "write it again with np.savez(path, masks=stack) (a bool [M, H, W] stack) or `omniseg-mesh masks`"


def _load_npz_key(path: Path, key: str) -> np.ndarray:
    return _as_stack(read_npz(path, keys=[key], what="mask stack", fix=_NPZ_FIX)[key], f"{path}[{key}]")


def masks_hash(masks: np.ndarray) -> str:
    """Content hash of a [M, H, W] bool stack (hashes the packed bits)."""
    m = np.asarray(masks, dtype=bool)
    return content_hash(str(m.shape), np.packbits(m.reshape(len(m), -1), axis=1) if m.size else np.zeros(0, np.uint8))


# --------------------------------------------------------------------------- many views
@dataclass
class _Entry:
    key: str
    path: Path
    load: Callable[[tuple[int, int]], np.ndarray]


def _npz_key_loader(path: Path, key: str) -> Callable[[tuple[int, int]], np.ndarray]:
    """An :class:`_Entry` loader for one array of a multi-image npz (the size is checked by the caller)."""
    return lambda size: _load_npz_key(path, key)


def _npz_names(path: Path) -> list[str]:
    """The array names of an npz without reading the arrays (ValueError naming the file if unreadable)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            return [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(
            f"{path}: cannot read the mask stack: the file is truncated or corrupt ({exc}); {_NPZ_FIX}"
        ) from None


def find_mask_entries(source: str | Path) -> dict[str, _Entry]:
    """The mask entries in a folder (or a multi-view npz), keyed by image stem.

    Folder entries: ``<stem>/`` (SAM folder), ``<stem>.json`` (COCO RLE),
    ``<stem>.npz`` (key ``masks``). Hidden names (temporary files of an interrupted
    write) are ignored.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(
            f"masks {source} not found; expected a folder with one <image stem>/ (segment-anything PNG folder), "
            "<image stem>.json (COCO RLE) or <image stem>.npz per image"
        )
    entries: dict[str, _Entry] = {}
    if source.is_file():
        if source.suffix.lower() != ".npz":
            raise ValueError(
                f"{source}: a single masks file must be an .npz with one [M, H, W] array per image stem; "
                "pass the folder that holds the per-image .json / .npz files or SAM folders instead"
            )
        names = _npz_names(source)
        for name in names:
            entries[name] = _Entry(name, source, _npz_key_loader(source, name))
        return entries

    def add(key: str, path: Path, load: Callable) -> None:
        if key in entries:
            raise ValueError(
                f"masks for {key!r} found twice in {source}: {entries[key].path.name} and {path.name}; keep only one of them"
            )
        entries[key] = _Entry(key, path, load)

    for child in sorted(source.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir():
            if (child / "metadata.csv").is_file() or any(f.stem.isdigit() for f in child.glob("*.png")):
                add(child.name, child, lambda size, p=child: load_sam_folder(p, size=size))
        elif child.suffix.lower() == ".json":
            add(child.stem, child, lambda size, p=child: load_coco_rle_json(p, size=size))
        elif child.suffix.lower() == ".npz":
            add(child.stem, child, lambda size, p=child: load_masks_npz(p))
    return entries


def _names(items: Iterable[str], limit: int = 8) -> str:
    items = list(items)
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def load_masks(
    source: str | Path, cameras: Sequence[Any], allow_missing: bool = False, lazy: bool = False
) -> dict[str, np.ndarray] | MaskViews:
    """Masks per view, matched to cameras by image stem, at each camera's resolution.

    Args:
        source: a folder holding per image a SAM folder ``<stem>/``, a COCO-RLE
            ``<stem>.json`` or an ``<stem>.npz`` (any mix), or one ``.npz`` with an
            array per image stem.
        cameras: the scene's cameras (``name``, ``width``, ``height`` are used).
        allow_missing: cameras without masks are skipped and mask entries without a
            camera ignored, each with a counted warning, instead of an error.
        lazy: return a :class:`MaskViews` mapping that reads each view's masks when
            it is accessed (bounded memory; an unreadable entry then raises on access).

    Returns:
        view name -> masks [M, H, W] bool at the camera's (H, W); masks at a uniformly
        rescaled resolution are resized with nearest-neighbour sampling, masks at another
        aspect ratio are refused (as images are).

    Raises:
        ValueError: cameras without masks or masks without a camera (and not
            ``allow_missing``), no masks at all, or an unreadable entry.
    """
    source = Path(source)
    entries = find_mask_entries(source)
    if not entries:
        raise ValueError(
            f"no masks found in {source}: expected per image a folder <image stem>/ with metadata.csv and <n>.png "
            "(segment-anything's amg.py output), <image stem>.json (amg.py --convert-to-rle) or <image stem>.npz; "
            "generate them with `omniseg-mesh masks IMAGES/ --sam-checkpoint FILE`"
        )
    keys = [mask_key(cam.name) for cam in cameras]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(
            f"several cameras share the image stem(s) {_names(dup)}; masks are matched by stem, so image names must differ"
        )
    stems = [Path(cam.name).stem for cam in cameras]
    matched: dict[str, _Entry] = {}
    missing: list[str] = []
    for cam, key, stem in zip(cameras, keys, stems):
        entry = entries.get(key)
        if entry is None and stems.count(stem) == 1:
            entry = entries.get(stem)  # amg.py names outputs by base name only
        if entry is None:
            missing.append(cam.name)
        else:
            matched[cam.name] = entry
    used = {e.key for e in matched.values()}
    extra = sorted(k for k in entries if k not in used)
    if (missing or extra) and not allow_missing:
        problems = []
        if missing:
            problems.append(f"{len(missing)} of {len(cameras)} camera(s) have no masks: {_names(missing)}")
        if extra:
            problems.append(f"{len(extra)} mask set(s) match no camera: {_names(extra)}")
        raise ValueError(
            f"masks in {source} do not match the cameras: {'; '.join(problems)}. Masks are matched by image stem "
            f"(view_000.png <- view_000/, view_000.json or view_000.npz). Generate the missing ones "
            f"(`omniseg-mesh masks IMAGES/ --sam-checkpoint FILE`), or pass {MISSING_MASKS_FIX} to skip "
            "views without masks and ignore masks without a camera"
        )
    if missing:
        log.warning("skipping %d view(s) without masks: %s", len(missing), _names(missing))
    if extra:
        log.warning("ignoring %d mask set(s) that match no camera: %s", len(extra), _names(extra))
    if not matched:
        raise ValueError(
            f"none of the {len(cameras)} camera(s) has masks in {source}; check that image names match the mask names"
        )
    views = MaskViews(matched, {cam.name: (cam.height, cam.width) for cam in cameras if cam.name in matched})
    if lazy:
        return views
    out = {name: views[name] for name in views}
    if views.resized:
        log.info("resized the masks of %d view(s) to their camera's resolution", views.resized)
    return out


class MaskViews(Mapping):
    """View name -> masks [M, H, W] bool at the camera's resolution, read on access.

    What ``load_masks(..., lazy=True)`` returns: nothing is held between accesses, so
    a fit over hundreds of views keeps one view's masks in memory at a time. Each read
    also records the masks' :func:`masks_hash` (a few ms), so :meth:`content_hash`
    needs no second read.
    """

    lazy = True

    def __init__(self, entries: Mapping[str, _Entry], sizes: Mapping[str, tuple[int, int]]):
        self._entries = dict(entries)
        self._sizes = dict(sizes)
        self._hashes: dict[str, str] = {}
        self.resized = 0

    def __getitem__(self, name: str) -> np.ndarray:
        entry = self._entries[name]
        height, width = self._sizes[name]
        try:
            masks = entry.load((height, width))
        except Exception as exc:  # read at fit time, long after load_masks: say which view and file
            raise ValueError(
                f"cannot read the masks of view {name!r} from {entry.path}: {exc}; regenerate that entry "
                f"(or remove it and pass {MISSING_MASKS_FIX})"
            ) from exc
        if masks.shape[1:] != (height, width):
            h, w = masks.shape[1:]
            if h and w and abs(height * (w / width) - h) > 1.0:  # the rule cameras use for images
                raise ValueError(
                    f"{entry.path}: masks are {w}x{h} but the camera of {name} is {width}x{height}, "
                    "which is not a uniform rescale (a different aspect ratio): these masks do not belong to this "
                    "image, or it was cropped. Fix: make the masks from the images the cameras describe "
                    f"(`omniseg-mesh masks IMAGES/`), or crop/resize them to {width}x{height}"
                )
            masks = resize_masks(masks, height, width)
            self.resized += 1
        masks = np.ascontiguousarray(masks)
        self._hashes[name] = masks_hash(masks)
        return masks

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def path(self, name: str) -> Path:
        """The file or folder the view's masks are read from."""
        return self._entries[name].path

    def content_hash(self, name: str) -> str:
        """:func:`masks_hash` of the view's masks (reads them only if not read yet)."""
        if name not in self._hashes:
            self[name]
        return self._hashes[name]
