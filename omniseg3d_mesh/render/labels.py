"""Labels, scores and feature colours rendered back onto the views.

A pixel shows what the surface it sees carries, through the same fragments the fit
used, so occlusion is exact and pixels on no surface are background:

* part labels: a mesh pixel takes the label of its *face*, by export's rule
  (:func:`omniseg3d_mesh.io.export.face_labels`): the majority of the face's three
  vertices, and the first vertex's label when all three differ, so a pixel shows
  exactly the part whose exported mesh holds that face. A point-cloud pixel takes
  its point's label. Background and unlabelled (-1) pixels are -1.
* scores: interpolated with the barycentric weights (NaN = background).
* features: the first three principal components of the field (computed once
  over all vertices, so a part has the same colour in every view).

:func:`render_views` writes, per view, ``<stem>_labels.png`` (16-bit, part id + 1,
0 = background / unlabelled, the input image's size), ``<stem>_overlay.png`` (the
labels over the photo, or over grey when the image file is missing) and, for the
whole set, ``instances.json`` (COCO instances: one category "part", RLE masks).
Views are processed one at a time and the COCO entries are streamed to disk, so
memory does not grow with the number of views. Everything is written into a
temporary folder beside the outputs and moved into place at the end: an
interrupted run leaves the output folder as it was.

Colours come from :mod:`omniseg3d_mesh.colors`; which values to render for a fitted
workspace (its exported parts, a click's scores, ...) is decided by
:func:`omniseg3d_mesh.pipeline.render_workspace`, not here.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..colors import BACKGROUND_GREY, part_palette, pca_colors, score_colors
from ..io.rle import encode_rle, rle_area
from ..progress import ProgressCallback, report
from ..scene import Camera, Scene
from ..workspace import Workspace, make_temp_dir, safe_view_name
from .fragments import Fragments, compute_fragments, load_or_compute_fragments

log = logging.getLogger(__name__)

__all__ = [
    "render_label_map",
    "render_scores",
    "render_pca",
    "overlay",
    "label_map_for_camera",
    "render_views",
    "RenderReport",
    "save_label_png",
    "load_label_png",
]


@dataclass(frozen=True)
class RenderReport:
    """What :func:`render_views` wrote.

    Attributes:
        out: the output folder.
        what: ``parts``, ``selection``, ``scores`` or ``pca``.
        views: number of views rendered.
        files: the files written into ``out``, in writing order (names relative to ``out``).
        annotations: COCO annotations in ``instances.json`` (0 for scores / pca).
        parts: distinct part ids seen in any view (0 for scores / pca).
        source: which values were rendered (filled in by
            :func:`omniseg3d_mesh.pipeline.render_workspace`; else ``what``).
    """

    out: Path
    what: str
    views: int
    files: tuple[str, ...]
    annotations: int
    parts: int
    source: str = ""


MAX_PART_ID = 65534  # part id + 1 must fit a 16-bit PNG


# --------------------------------------------------------------------------- per-view maps
def _check_per_vertex(values: np.ndarray, fragments: Fragments, what: str) -> None:
    need = int(fragments.vertex_ids.max(initial=-1)) + 1
    if len(values) < need:
        raise ValueError(
            f"{what} has {len(values)} entries but the fragments reference vertex {need - 1}: "
            "pass one value per vertex of the fitted geometry"
        )


def render_label_map(fragments: Fragments, vertex_labels: np.ndarray) -> np.ndarray:
    """The label each pixel sees.

    Args:
        fragments: one view's fragments (K = 3 for meshes, 1 for point clouds).
        vertex_labels: [V] int labels (-1 = unlabelled).

    Returns:
        [H, W] int32 labels: mesh pixels the majority label of the hit face's vertices
        (all three different: the first vertex's, as export assigns faces), point
        pixels their point's label (other K: the largest weight's vertex), -1 for
        background and unlabelled surface.
    """
    labels = np.asarray(vertex_labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iub":
        raise ValueError(f"vertex_labels must be a [V] integer array, got shape {labels.shape} dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    _check_per_vertex(labels, fragments, "vertex_labels")
    ids = np.clip(fragments.vertex_ids, 0, None)
    lab = labels[ids] if len(labels) else np.full(ids.shape, -1)
    if lab.shape[-1] == 1:
        out = lab[..., 0]
    elif lab.shape[-1] == 3:
        # export's face rule: l1 only when l1 == l2 outvote l0, else l0 (majority or first vertex)
        l0, l1, l2 = lab[..., 0], lab[..., 1], lab[..., 2]
        out = np.where((l1 == l2) & (l0 != l1), l1, l0)
    else:
        k = np.argmax(fragments.weights, axis=-1)
        out = np.take_along_axis(lab, k[..., None], axis=-1)[..., 0]  # dominant vertex
    out = np.where(fragments.valid, out, -1)
    return out.astype(np.int32)


def render_scores(fragments: Fragments, scores: np.ndarray) -> np.ndarray:
    """[H, W] float32 per-vertex ``scores`` [V] interpolated over the surface (NaN = background)."""
    s = np.asarray(scores, dtype=np.float32)
    if s.ndim != 1:
        raise ValueError(f"scores must be a [V] array, got shape {s.shape}")
    _check_per_vertex(s, fragments, "scores")
    return fragments.interpolate(s, fill=np.nan).astype(np.float32)


def render_pca(
    fragments: Fragments, features: np.ndarray | None = None, colors: np.ndarray | None = None
) -> np.ndarray:
    """[H, W, 3] uint8 feature colours (black background).

    Args:
        fragments: one view's fragments.
        features: [V, D] field features (colours from :func:`pca_colors`), or
        colors: [V, 3] uint8 precomputed colours (pass these to keep views consistent).
    """
    if colors is None:
        if features is None:
            raise ValueError("render_pca needs features [V, D] or precomputed colors [V, 3]")
        colors = pca_colors(features)
    cols = np.asarray(colors, dtype=np.float32)
    _check_per_vertex(cols, fragments, "colors")
    img = fragments.interpolate(cols, fill=0.0)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _boundaries(label_map: np.ndarray) -> np.ndarray:
    """[H, W] bool: pixels whose right or lower neighbour has another label."""
    edge = np.zeros(label_map.shape, dtype=bool)
    dx = label_map[:, 1:] != label_map[:, :-1]
    dy = label_map[1:, :] != label_map[:-1, :]
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:, :] |= dy
    edge[:-1, :] |= dy
    return edge


def overlay(
    image: np.ndarray | None,
    label_map: np.ndarray,
    alpha: float = 0.5,
    palette: np.ndarray | None = None,
    boundaries: bool = True,
) -> np.ndarray:
    """Colour the labelled pixels of ``image``.

    Args:
        image: [H, W, 3] uint8 photo (grey [H, W] is expanded), or None for a grey canvas.
        label_map: [H, W] int part ids (-1 = leave the pixel as it is).
        alpha: opacity of the part colours (0 = photo only, 1 = colours only).
        palette: [N, 3] uint8 colours by part id (default: :func:`part_palette`).
        boundaries: draw part outlines at full opacity.

    Returns:
        [H, W, 3] uint8.
    """
    label_map = np.asarray(label_map)
    h, w = label_map.shape
    if image is None:
        base = np.full((h, w, 3), BACKGROUND_GREY, dtype=np.uint8)
    else:
        base = np.asarray(image)
        if base.ndim == 2:
            base = np.repeat(base[..., None], 3, axis=2)
        base = base[..., :3]
        if base.shape[:2] != (h, w):
            raise ValueError(
                f"image is {base.shape[1]}x{base.shape[0]} but the label map is {w}x{h}; render at the image size"
            )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"overlay alpha must be in [0, 1], got {alpha}")
    top = int(label_map.max(initial=-1))
    pal = part_palette(top + 1) if palette is None else np.asarray(palette, dtype=np.uint8)
    if top >= len(pal):
        raise ValueError(f"palette has {len(pal)} colours but the label map holds part id {top}")
    out = base.astype(np.float32).copy()
    lab = label_map >= 0
    col = pal[np.clip(label_map, 0, None)].astype(np.float32) if len(pal) else np.zeros_like(out)
    out[lab] = (1 - alpha) * out[lab] + alpha * col[lab]
    if boundaries:
        edge = _boundaries(label_map) & lab
        out[edge] = col[edge] * 0.6
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _backend_for(camera: Camera, backend: str) -> str:
    # a rasterizer cannot draw distorted views: auto falls back to exact ray casting
    return "cpu" if backend == "auto" and camera.is_distorted else backend


def label_map_for_camera(
    scene: Scene,
    camera: Camera,
    vertex_labels: np.ndarray,
    backend: str = "cpu",
    point_radius: float | None = None,
) -> np.ndarray:
    """[H, W] int32 labels seen from any camera pose (e.g. a preview in an annotation tool).

    Args:
        scene: the geometry (mesh or point cloud).
        camera: any camera, not necessarily an input view (see ``Camera.look_at``).
        vertex_labels: [V] int labels (-1 = unlabelled).
        backend: ``cpu``, ``nvdiffrast`` or ``auto`` (see :func:`compute_fragments`).
        point_radius: point clouds only: splat radius in world units.
    """
    labels = np.asarray(vertex_labels)
    if labels.shape != (scene.num_vertices,):
        raise ValueError(f"vertex_labels must have shape ({scene.num_vertices},) (one per vertex), got {labels.shape}")
    frags = compute_fragments(scene, camera, _backend_for(camera, backend), point_radius)
    return render_label_map(frags, labels)


# --------------------------------------------------------------------------- PNG I/O
def save_label_png(path: str | Path, label_map: np.ndarray) -> Path:
    """Write ``label_map`` [H, W] (-1 = background) as a 16-bit PNG of part id + 1."""
    from PIL import Image

    lab = np.asarray(label_map)
    if lab.max(initial=-1) > MAX_PART_ID:
        raise ValueError(f"part id {int(lab.max())} does not fit a 16-bit label PNG (largest is {MAX_PART_ID})")
    Image.fromarray((lab.astype(np.int64) + 1).clip(0).astype(np.uint16)).save(path, format="PNG")
    return Path(path)


def load_label_png(path: str | Path) -> np.ndarray:
    """[H, W] int32 part ids (-1 = background) from a label PNG written by :func:`save_label_png`."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im).astype(np.int32) - 1


def _save_rgb_png(path: Path, rgb: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB").save(path, format="PNG")


def _save_score_png(path: Path, score_map: np.ndarray) -> None:
    """16-bit PNG of scores: 0 = background, 1 + round((s + 1) / 2 * 65534) for s in [-1, 1]."""
    from PIL import Image

    s = np.clip(np.nan_to_num(score_map, nan=-2.0), -2.0, 1.0)
    q = np.where(s < -1.5, 0, 1 + np.round((np.clip(s, -1, 1) + 1) / 2 * 65534)).astype(np.uint16)
    Image.fromarray(q).save(path, format="PNG")


# --------------------------------------------------------------------------- many views
def _image_info(camera: Camera) -> tuple[Path | None, tuple[int, int]]:
    """The image file (if it exists) and the (width, height) to render at."""
    path = camera.image_path
    if path is not None and Path(path).is_file():
        from PIL import Image

        with Image.open(path) as im:
            return Path(path), (int(im.width), int(im.height))
    return None, (camera.width, camera.height)


def _load_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _iter_cameras(scene: Scene, views: Iterable[Camera | str] | None) -> Iterator[Camera]:
    if views is None:
        yield from scene.cameras
        return
    if isinstance(views, (str, Camera)):
        views = [views]
    for v in views:
        if isinstance(v, Camera):
            yield v
            continue
        try:
            yield scene.camera(v)
        except KeyError:
            names = ", ".join(c.name for c in scene.cameras[:10])
            raise ValueError(
                f"no view named {v!r} in the scene; views are: {names}{' ...' if len(scene.cameras) > 10 else ''}"
            ) from None


def _view_stem(name: str, seen: set[str]) -> str:
    safe = safe_view_name(name)
    stem = Path(safe).stem or safe
    if stem in seen:
        stem = safe.replace(".", "_")
    seen.add(stem)
    return stem


def _bbox(mask: np.ndarray) -> list[int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)]


_WHAT = ("parts", "selection", "scores", "pca")


def _prepare_values(scene: Scene, values: Any, what: str) -> np.ndarray:
    if what not in _WHAT:
        raise ValueError(f"unknown render mode {what!r}; choose one of {', '.join(_WHAT)}")
    arr = np.asarray(values)
    V = scene.num_vertices
    if what == "pca":
        if arr.ndim != 2 or len(arr) != V:
            raise ValueError(
                f"pca needs features [V, D] with V = {V} (the geometry's vertex count), got shape {arr.shape}"
            )
        return pca_colors(arr) if not (arr.shape[1] == 3 and arr.dtype == np.uint8) else arr
    if arr.shape != (V,):
        raise ValueError(f"{what} needs one value per vertex: expected shape ({V},), got {arr.shape}")
    if what == "scores":
        if arr.dtype.kind not in "fiu":
            raise ValueError(f"scores must be numbers, got dtype {arr.dtype}")
        return arr.astype(np.float32)
    if arr.dtype == bool:
        return np.where(arr, 0, -1).astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{what} needs integer part labels (or a bool selection mask), got dtype {arr.dtype}")
    if arr.size and int(arr.max()) > MAX_PART_ID:
        raise ValueError(f"part id {int(arr.max())} does not fit a 16-bit label PNG (largest is {MAX_PART_ID})")
    return arr.astype(np.int64)


def render_views(
    scene: Scene,
    values: np.ndarray,
    out_dir: str | Path,
    what: str = "parts",
    views: Iterable[Camera | str] | None = None,
    images: bool = True,
    workspace: Workspace | None = None,
    progress: ProgressCallback | None = None,
    backend: str = "auto",
    point_radius: float | None = None,
    alpha: float = 0.5,
) -> RenderReport:
    """Render per-vertex labels / scores / feature colours into every view and write them.

    Files written into ``out_dir`` (``<stem>`` = the view's file name without extension):

    * ``parts`` / ``selection``: ``<stem>_labels.png`` (16-bit, part id + 1, 0 =
      background), ``<stem>_overlay.png``, and ``instances.json`` (COCO instances:
      images with the input file names, one category "part", per view and part an
      annotation with an RLE mask, ``area``, ``bbox`` [x, y, w, h], ``iscrowd`` 0
      and ``part_id``: the same 3D part has the same ``part_id`` in every view).
    * ``scores``: ``<stem>_scores.png`` (16-bit: 0 = background, 1 + round((s+1)/2 *
      65534)) and ``<stem>_scores_overlay.png`` (heat map).
    * ``pca``: ``<stem>_pca.png`` (RGB) and ``<stem>_pca_overlay.png``.

    Label maps have exactly the input image's size (a camera whose image file has
    another size is rescaled to it); overlays use the image when its file exists,
    else a grey canvas.

    Args:
        scene: geometry and cameras.
        values: ``parts``: [V] int labels (-1 = unlabelled); ``selection``: [V] bool
            (or int, -1 = not selected); ``scores``: [V] float; ``pca``: [V, D] features.
        out_dir: output folder (created; files of other names in it are kept).
        what: ``parts``, ``selection``, ``scores`` or ``pca``.
        views: view names or cameras to render, any iterable (consumed lazily, one
            view at a time); default all of ``scene.cameras``.
        images: also write the overlay images.
        workspace: reuse (and fill) its fragment cache.
        progress: ``progress("render", done, total, view=name)``.
        backend: fragment backend (``auto`` uses ray casting for distorted views).
        point_radius: point clouds only: splat radius in world units.
        alpha: overlay opacity.

    Returns:
        :class:`RenderReport`: the folder, the files written, views, annotations and parts.
    """
    vals = _prepare_values(scene, values, what)
    if isinstance(views, (str, Camera)):
        views = [views]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    total = len(views) if isinstance(views, Sized) else (len(scene.cameras) if views is None else 0)
    ghash = scene.geometry_hash()
    tmp = make_temp_dir(out_dir, "render")
    labels_mode = what in ("parts", "selection")
    n_views = n_ann = 0
    parts_seen: set[int] = set()
    written: list[str] = []
    try:
        # both closed in the finally below (opened only in the labels modes)
        images_fh = open(tmp / ".images.jsonl", "w") if labels_mode else None  # noqa: SIM115
        ann_fh = open(tmp / ".annotations.jsonl", "w") if labels_mode else None  # noqa: SIM115
        try:
            seen: set[str] = set()
            for cam in _iter_cameras(scene, views):
                image_path, (iw, ih) = _image_info(cam)
                if (iw, ih) == (cam.width, cam.height):
                    frags = load_or_compute_fragments(
                        scene, cam, workspace, _backend_for(cam, backend), point_radius, geometry_hash=ghash
                    )
                else:  # render at the image's own size (not cached: the cache holds the fit's views)
                    log.info(
                        "view %s: camera is %dx%d, image %dx%d; rendering at the image size",
                        cam.name,
                        cam.width,
                        cam.height,
                        iw,
                        ih,
                    )
                    cam = cam.scaled(iw, ih)
                    frags = compute_fragments(scene, cam, _backend_for(cam, backend), point_radius)
                stem = _view_stem(cam.name, seen)
                photo = _load_rgb(image_path) if images and image_path is not None else None
                n_views += 1
                if labels_mode:
                    assert images_fh is not None and ann_fh is not None  # opened for the labels modes
                    lmap = render_label_map(frags, vals)
                    save_label_png(tmp / f"{stem}_labels.png", lmap)
                    written.append(f"{stem}_labels.png")
                    if images:
                        _save_rgb_png(tmp / f"{stem}_overlay.png", overlay(photo, lmap, alpha))
                        written.append(f"{stem}_overlay.png")
                    file_name = image_path.name if image_path is not None else (Path(cam.name).name or cam.name)
                    images_fh.write(
                        json.dumps({"id": n_views, "file_name": file_name, "width": iw, "height": ih, "view": cam.name})
                        + "\n"
                    )
                    for pid in np.unique(lmap[lmap >= 0]).tolist():
                        mask = lmap == pid
                        rle = encode_rle(mask)
                        n_ann += 1
                        parts_seen.add(int(pid))
                        ann = {
                            "id": n_ann,
                            "image_id": n_views,
                            "category_id": 1,
                            "segmentation": rle,
                            "area": rle_area(rle),
                            "bbox": _bbox(mask),
                            "iscrowd": 0,
                            "part_id": int(pid),
                        }
                        ann_fh.write(json.dumps(ann) + "\n")
                elif what == "scores":
                    smap = render_scores(frags, vals)
                    _save_score_png(tmp / f"{stem}_scores.png", smap)
                    written.append(f"{stem}_scores.png")
                    if images:
                        heat = score_colors(smap)
                        base = photo if photo is not None else np.full(heat.shape, BACKGROUND_GREY, np.uint8)
                        ok = np.isfinite(smap)
                        blend = base.astype(np.float32)
                        blend[ok] = (1 - alpha) * blend[ok] + alpha * heat[ok]
                        _save_rgb_png(tmp / f"{stem}_scores_overlay.png", np.round(blend).astype(np.uint8))
                        written.append(f"{stem}_scores_overlay.png")
                else:  # pca
                    rgb = render_pca(frags, colors=vals)
                    _save_rgb_png(tmp / f"{stem}_pca.png", rgb)
                    written.append(f"{stem}_pca.png")
                    if images:
                        base = photo if photo is not None else np.full(rgb.shape, BACKGROUND_GREY, np.uint8)
                        ok = frags.valid
                        blend = base.astype(np.float32)
                        blend[ok] = (1 - alpha) * blend[ok] + alpha * rgb[ok]
                        _save_rgb_png(tmp / f"{stem}_pca_overlay.png", np.round(blend).astype(np.uint8))
                        written.append(f"{stem}_pca_overlay.png")
                del frags
                report(progress, "render", n_views, max(total, n_views), view=cam.name)
        finally:
            for fh in (images_fh, ann_fh):
                if fh is not None:
                    fh.close()
        if labels_mode:
            _write_coco(tmp / "instances.json", tmp / ".images.jsonl", tmp / ".annotations.jsonl")
            written.append("instances.json")
        # move into place: every file is complete before it gets its final name
        for name in written:
            os.replace(tmp / name, out_dir / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("rendered %s for %d views into %s", what, n_views, out_dir)
    return RenderReport(out_dir, what, n_views, tuple(written), n_ann, len(parts_seen), source=what)


def _write_coco(path: Path, images_jsonl: Path, ann_jsonl: Path) -> None:
    """Assemble a COCO instances file from streamed image and annotation lines."""
    with open(path, "w") as out:
        out.write('{"info": {"description": "omniseg3d_mesh part labels rendered onto the input views"},\n')
        out.write(' "licenses": [],\n "categories": [{"id": 1, "name": "part", "supercategory": "part"}],\n')
        for key, src in (("images", images_jsonl), ("annotations", ann_jsonl)):
            out.write(f' "{key}": [')
            first = True
            with open(src) as fh:
                for line in fh:
                    out.write(("\n  " if first else ",\n  ") + line.rstrip("\n"))
                    first = False
            out.write("\n ]" + (",\n" if key == "images" else "\n"))
        out.write("}\n")
