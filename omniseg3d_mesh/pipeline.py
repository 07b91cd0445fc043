"""The workspace pipeline: the one module that knows where a workspace keeps what.

Each function reads a stage's inputs from a workspace folder (layout in
:mod:`omniseg3d_mesh.workspace`), calls the array core, writes the results back
atomically and returns a typed result:

===========================  ==================================================  ====================
function                     reads -> writes                                     returns
===========================  ==================================================  ====================
:func:`fit_workspace`        mesh, images, masks -> field.npz, geometry.npz,     :class:`FitResult`
                             cameras.json, scene.json (+ caches, checkpoints)
:func:`discretize_workspace` field.npz, geometry.npz -> parts/                   :class:`Parts`
:func:`render_workspace`     geometry, cameras, field, parts -> label maps       :class:`RenderReport`
:func:`load_workspace`       geometry.npz, cameras.json, field.npz               :class:`FittedWorkspace`
:func:`open_selector`        the same, plus the fit's fragment cache             :class:`~omniseg3d_mesh.select.Selector`
===========================  ==================================================  ====================

The array core below (``fit_field``, :class:`~omniseg3d_mesh.discretize.Discretizer`,
:func:`~omniseg3d_mesh.render.labels.render_views`, :class:`~omniseg3d_mesh.select.Selector`)
takes arrays, a :class:`~omniseg3d_mesh.scene.Scene` and configs; the CLI, the viewer and
the batch stages call the functions here.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import (
    DiscretizeConfig,
    FitConfig,
    FragmentConfig,
    MaskConfig,
    RenderConfig,
    SelectConfig,
    config_to_dict,
)
from .progress import ProgressCallback
from .render.labels import RenderReport
from .workspace import Workspace, read_json

if TYPE_CHECKING:  # heavy or cyclic at import time; only for annotations
    from .field import Field
    from .scene import Scene
    from .select import Selector

log = logging.getLogger(__name__)

__all__ = [
    "FitResult",
    "FittedWorkspace",
    "Parts",
    "RenderReport",
    "discretize_workspace",
    "exported_part_labels",
    "fit_workspace",
    "load_field",
    "load_workspace",
    "load_workspace_scene",
    "open_selector",
    "render_workspace",
]


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class FitResult:
    """What :func:`fit_workspace` fitted and where it wrote it.

    Attributes:
        workspace: the workspace holding ``field.npz``, ``geometry.npz``,
            ``cameras.json``, ``scene.json``, ``fragments/``, ``hierarchy/``, ``checkpoints/``.
        field: the fitted field as written to ``field.npz``: features [V, D] float32,
            unit length, and its ``meta`` (steps, views, final_loss, timings, device, ...).
        scene: the geometry and cameras it was fitted on.
    """

    workspace: Workspace
    field: Field
    scene: Scene

    @property
    def field_path(self) -> Path:
        """``<workspace>/field.npz``."""
        return self.workspace.field_path


@dataclass(frozen=True)
class Parts:
    """The parts :func:`discretize_workspace` exported.

    Attributes:
        out: the folder written (``parts.json``, ``labels.npy``, ``labels_levels.npy``,
            ``segmented.ply``, one mesh per part).
        labels: [V] int32 part id per vertex at ``level`` (as in ``labels.npy``; -1 = none).
        level: the level of ``labels`` (0 = finest).
        level_labels: [L, V] int32, the labels of every level (``labels_levels.npy``).
        parents: [P] int, each part's part one level up (-1 at the top level).
        parts_per_level: [L] number of parts per level.
        level_similarities: the merge similarity of each coarser level (L - 1 values).
        manifest: the ``parts.json`` written, including one record per part
            (``id``, ``file``, ``num_vertices``, ``num_faces``, ``parent``, ...).
    """

    out: Path
    labels: np.ndarray
    level: int
    level_labels: np.ndarray
    parents: np.ndarray
    parts_per_level: tuple[int, ...]
    level_similarities: tuple[float, ...]
    manifest: dict = dataclass_field(repr=False)

    @property
    def num_parts(self) -> int:
        """Parts at ``level`` (one file each)."""
        return int(self.manifest["num_parts"])


@dataclass(frozen=True)
class FittedWorkspace:
    """A fitted workspace, loaded: what select, render and the viewer work on.

    Attributes:
        workspace: where it was read from.
        scene: vertices [V, 3], faces [F, 3] or None, colors [V, 3] or None (``geometry.npz``)
            and the cameras (``cameras.json``, empty when absent).
        field: the fitted field (``field.npz``), features [V, D] for the same V.
        fragment_backend: the fragment backend ``fit`` used (its cache key), ``auto`` if unknown.
        point_radius: the splat radius ``fit`` used for a point cloud (None = automatic).
    """

    workspace: Workspace
    scene: Scene
    field: Field
    fragment_backend: str = "auto"
    point_radius: float | None = None


# --------------------------------------------------------------------------- loading
def _find(workspace: Any) -> Workspace:
    """A workspace that holds a field: ``workspace``, else ``./omniseg`` (see :meth:`Workspace.find`)."""
    return workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)


def load_workspace_scene(workspace: Workspace | str | Path) -> Scene:
    """The scene a workspace was fitted on: ``geometry.npz`` + ``cameras.json`` (no cameras when absent).

    Raises:
        FileNotFoundError: no ``geometry.npz`` (names ``omniseg-mesh fit``).
    """
    from .io.cameras_json import load_cameras_json
    from .scene import Scene

    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    geo = ws.load_geometry()
    cams = load_cameras_json(ws.cameras_path) if ws.cameras_path.is_file() else []
    info = ws.read_scene_info()
    source = info.get("mesh") or info.get("source")
    return Scene(
        vertices=geo["vertices"],
        faces=geo["faces"],
        colors=geo["colors"],
        cameras=cams,
        source=Path(source) if source else None,
        camera_format=info.get("camera_format", "cameras.json"),
    )


def load_field(workspace: Workspace | str | Path | None = None) -> Field:
    """The fitted field of a workspace (default: ``./omniseg``)."""
    from .field import Field

    return Field.load(_find(workspace).field_path)


def _field_for(ws: Workspace, scene: Scene) -> Field:
    """``field.npz``, checked against the workspace geometry."""
    from .field import Field

    fld = Field.load(ws.field_path)
    if fld.num_vertices != scene.num_vertices:
        raise ValueError(
            f"{ws.field_path} has features for {fld.num_vertices} vertices but the workspace geometry has "
            f"{scene.num_vertices}: re-run `omniseg-mesh fit` for this geometry"
        )
    return fld


def load_workspace(workspace: Workspace | str | Path | None = None) -> FittedWorkspace:
    """Geometry, cameras and field of a fitted workspace (default: ``./omniseg``).

    Raises:
        FileNotFoundError: no field or no geometry (each names the fix).
        ValueError: the field belongs to another geometry.
    """
    ws = _find(workspace)
    scene = load_workspace_scene(ws)
    return _fitted(ws, scene, _field_for(ws, scene))


def _fitted(ws: Workspace, scene: Scene, fld: Field) -> FittedWorkspace:
    """Scene and field of ``ws`` with the fragment settings its fit recorded in ``scene.json``."""
    frag = (ws.read_scene_info().get("config") or {}).get("fragments") or {}
    return FittedWorkspace(ws, scene, fld, frag.get("backend", "auto"), frag.get("point_radius"))


def open_selector(
    workspace: FittedWorkspace | Workspace | str | Path | None = None,
    config: SelectConfig | None = None,
    **overrides: Any,
) -> Selector:
    """A :class:`~omniseg3d_mesh.select.Selector` over a fitted workspace (default ``./omniseg``),
    or over one already loaded by :func:`load_workspace`.

    Pixel clicks use the workspace's cameras and read (and fill) the fragment cache
    of ``fit`` (same backend and splat radius, so the same cache key); the selector's
    ``colors`` are the geometry's vertex colours.
    """
    from .render.fragments import load_or_compute_fragments
    from .select import Selector

    loaded = workspace if isinstance(workspace, FittedWorkspace) else load_workspace(workspace)
    scene, ws = loaded.scene, loaded.workspace

    def lookup(view: str):
        return load_or_compute_fragments(
            scene, scene.camera(view), ws, backend=loaded.fragment_backend, point_radius=loaded.point_radius
        )

    sel = Selector(
        loaded.field,
        scene.vertices,
        scene.faces,
        cameras=scene.cameras,
        fragments_lookup=lookup,
        config=config,
        **overrides,
    )
    sel.workspace = ws
    sel.colors = scene.colors
    return sel


def exported_part_labels(
    workspace: Workspace, num_vertices: int, parts_dir: str | Path | None = None
) -> tuple[np.ndarray | None, Path]:
    """The part labels (``labels.npy``) ``discretize`` exported for this workspace, and their folder.

    Args:
        workspace: the workspace.
        num_vertices: V of its geometry.
        parts_dir: the parts folder (default: where ``discretize`` last wrote, else ``<workspace>/parts``).

    Returns:
        ([V] int32 labels, or None when there are none for this geometry, the folder).

    Raises:
        FileNotFoundError: ``parts_dir`` given but without ``labels.npy``.
        ValueError: ``parts_dir`` given but its labels belong to another geometry.
    """
    folder = Path(parts_dir) if parts_dir is not None else workspace.exported_parts_dir()
    path = folder / "labels.npy"
    if not path.is_file():
        if parts_dir is not None:
            raise FileNotFoundError(
                f"--parts {folder}: no labels.npy there; pass the folder `omniseg-mesh discretize --out` wrote"
            )
        return None, folder
    labels = np.load(path, allow_pickle=False)
    if labels.shape == (num_vertices,):
        return labels.astype(np.int32), folder
    if parts_dir is not None:
        raise ValueError(
            f"{path}: {labels.shape} labels, but the workspace geometry has {num_vertices} vertices: "
            "these parts belong to another mesh; run `omniseg-mesh discretize` on this workspace"
        )
    return None, folder


# --------------------------------------------------------------------------- fit
def fit_workspace(
    mesh: str | Path,
    images: str | Path | None = None,
    cameras: str | Path | None = None,
    masks: str | Path | None = None,
    workspace: Workspace | str | Path | None = None,
    config: FitConfig | None = None,
    fragment_config: FragmentConfig | None = None,
    sam_checkpoint: str | Path | None = None,
    mask_config: MaskConfig | None = None,
    progress: ProgressCallback | None = None,
) -> FitResult:
    """Load a scene and its masks, fit, and write everything into a workspace.

    Args:
        mesh: mesh or point-cloud file.
        images: the images folder (cameras are found next to it unless ``cameras`` is given).
        cameras: a camera file/folder (COLMAP, transforms.json, ScanNet, cameras.json).
        masks: a masks folder or file (SAM amg folders, COCO-RLE json, .npz); when None,
            masks are generated with SAM from ``sam_checkpoint`` into ``<workspace>/masks``,
            or read from there if they already exist.
        workspace: the workspace folder (default: ``omniseg/`` beside the mesh).
        config, fragment_config: stage settings (None = defaults).
        sam_checkpoint: SAM weights for generating masks.
        mask_config: SAM settings (None = defaults).
        progress: progress callback.

    Returns:
        :class:`FitResult`: the workspace, the field written to ``field.npz`` and the scene.

    Raises:
        NonFiniteFieldError: the fit diverged; nothing in the workspace is replaced.
    """
    from . import __version__
    from .fit import _view_masks_hash, fit_field
    from .io.cameras_json import save_cameras_json
    from .io.geometry import load_scene
    from .workspace import content_hash

    config = config or FitConfig()
    fragment_config = fragment_config or FragmentConfig()
    mesh = Path(mesh)
    ws = (
        workspace
        if isinstance(workspace, Workspace)
        else (Workspace(workspace) if workspace is not None else Workspace.default_for(mesh))
    )
    scene = load_scene(mesh, images=images, cameras=cameras, point_mode=fragment_config.point_mode)
    # a lazy mapping: one view's masks in memory at a time, each read once and its hash kept
    mask_views = _load_or_generate_masks(scene, images, masks, ws, sam_checkpoint, mask_config, config, progress)

    fld = fit_field(scene, mask_views, config=config, workspace=ws, fragment_config=fragment_config, progress=progress)
    _refuse_non_finite(fld, ws, config)
    ws.save_geometry(scene.vertices, scene.faces, scene.colors)
    save_cameras_json(ws.cameras_path, scene.cameras)
    ws.update_scene_info(
        mesh=str(mesh.resolve()),
        images=str(Path(images).resolve()) if images is not None else None,
        cameras=str(Path(cameras).resolve()) if cameras is not None else None,
        masks=str(Path(masks).resolve()) if masks is not None else str(ws.masks_dir),
        camera_format=scene.camera_format,
        num_vertices=scene.num_vertices,
        num_faces=len(scene.faces) if scene.faces is not None else 0,
        point_cloud=scene.is_point_cloud,
        num_views=len(scene.cameras),
        fitted_views=fld.meta["views"],
        geometry_hash=scene.geometry_hash(),
        masks_hash=content_hash([(k, _view_masks_hash(mask_views, k)) for k in sorted(mask_views)]),
        config={"fit": config_to_dict(config), "fragments": config_to_dict(fragment_config)},
        version=__version__,
    )
    fld.meta["source"] = str(mesh.resolve())
    fld.save(ws.field_path)
    return FitResult(workspace=ws, field=fld, scene=scene)


def _refuse_non_finite(fld: Field, ws: Workspace, config: FitConfig) -> None:
    """A diverged fit (NaN / inf features) raises before anything in the workspace is replaced."""
    from .field import NonFiniteFieldError

    bad = ~np.isfinite(fld.features).all(axis=1)
    if not bad.any():
        return
    ckpt = ws.checkpoints_dir / "fit.pt"
    if ckpt.is_file():
        ckpt.unlink()  # holds the diverged state: a re-run must not resume from it
    loss = fld.meta.get("final_loss")
    loss = f"{loss:.4g}" if isinstance(loss, (int, float)) else "unknown"
    kept = f"the previous {ws.field_path} is kept" if ws.field_path.is_file() else f"{ws.field_path} was not written"
    raise NonFiniteFieldError(
        f"the fit diverged: {int(bad.sum())} of {len(bad)} vertices have NaN or inf features "
        f"(last loss {loss}, lr {config.lr:g}); {kept}. "
        f"Fix: lower the learning rate (--lr {config.lr / 10:g}) and fit again"
    )


def _load_or_generate_masks(
    scene: Scene,
    images: Any,
    masks: Any,
    ws: Workspace,
    sam_checkpoint: Any,
    mask_config: MaskConfig | None,
    config: FitConfig,
    progress: ProgressCallback | None,
) -> Mapping[str, np.ndarray]:
    """``--masks`` when given, else the workspace's ``masks/`` (SAM fills in missing views when a checkpoint is given)."""
    if masks is not None:
        from .io.masks import load_masks

        return load_masks(masks, scene.cameras, allow_missing=config.allow_missing_masks, lazy=True)
    from .masks.sam import ensure_masks

    return ensure_masks(
        images,
        scene.cameras,
        ws.masks_dir,
        checkpoint=sam_checkpoint,
        config=mask_config or MaskConfig(),
        progress=progress,
        allow_missing=config.allow_missing_masks,
        lazy=True,
    )


# --------------------------------------------------------------------------- discretize
def discretize_workspace(
    workspace: Workspace | str | Path | None = None,
    out: str | Path | None = None,
    config: DiscretizeConfig | None = None,
    progress: ProgressCallback | None = None,
) -> Parts:
    """Discretize a workspace's fitted field and export the parts.

    Reads ``field.npz`` and ``geometry.npz`` (no training data), writes the parts
    folder (default ``<workspace>/parts``) atomically and records it in ``scene.json``,
    so ``render`` and the viewer use these parts.

    Returns:
        :class:`Parts`: the labels written and the export manifest (``parts.json``).
    """
    from .discretize import Discretizer
    from .io.export import export_parts

    config = config or DiscretizeConfig()
    ws = _find(workspace)
    fld = load_field(ws)
    geo = ws.load_geometry()
    verts, faces, colors = geo["vertices"], geo["faces"], geo["colors"]
    automatic = config.level is None and config.num_parts is None and config.mask_granularity
    views = _training_views(ws) if automatic else None
    est = Discretizer(config).fit(fld.features, verts, faces, progress=progress, views=views)
    out_dir = Path(out) if out is not None else ws.parts_dir
    tree = est.tree_
    per_level = tuple(tree.num_parts(lv) for lv in range(tree.num_levels))
    manifest = export_parts(
        out_dir,
        verts,
        faces,
        colors,
        est.labels_,
        parents=est.parents_,
        levels=est.level_,
        format=config.format,
        extra={
            "config": config_to_dict(config),
            "workspace": str(ws.root),
            "parts_per_level": list(per_level),
            "level_similarities": list(tree.similarities),
            "granularity": est.granularity_,
        },
        level_labels=est.levels_,
        progress=progress,
    )
    manifest["out"] = str(out_dir)
    ws.record_parts(out_dir)  # render and the viewer use these parts
    return Parts(
        out=out_dir,
        labels=np.asarray(est.labels_, np.int32),
        level=int(est.level_),
        level_labels=np.asarray(est.levels_, np.int32),
        parents=np.asarray(est.parents_),
        parts_per_level=per_level,
        level_similarities=tuple(float(s) for s in tree.similarities),
        manifest=manifest,
    )


def _training_views(ws: Workspace) -> Iterator[tuple[np.ndarray, np.ndarray]] | None:
    """``(pixel vertex [H, W], masks [M, H, W])`` per view of the masks the field was fitted
    from (the ``masks`` that ``scene.json`` records, with the fit's cached fragments), read
    one view at a time; None when the workspace has no cameras or those masks are gone
    (the automatic level then comes from the field alone)."""
    from .discretize import pixel_vertices
    from .io.masks import load_masks
    from .render.fragments import load_or_compute_fragments

    info = ws.read_scene_info()
    src = info.get("masks")
    if not src or not Path(src).exists() or not ws.cameras_path.is_file():
        log.info("no training masks at hand (%s): the automatic level comes from the field alone", src)
        return None
    scene = load_workspace_scene(ws)
    frag = (info.get("config") or {}).get("fragments") or {}
    try:
        masks = load_masks(src, scene.cameras, allow_missing=True, lazy=True)
    except (FileNotFoundError, ValueError) as err:
        log.warning(
            "%s: the training masks cannot be read (%s); the automatic level comes from the field alone", src, err
        )
        return None

    def gen() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for cam in scene.cameras:
            if cam.name not in masks:
                continue
            fr = load_or_compute_fragments(
                scene, cam, ws, backend=frag.get("backend", "auto"), point_radius=frag.get("point_radius")
            )
            yield pixel_vertices(fr.vertex_ids, fr.weights), np.asarray(masks[cam.name], dtype=bool)

    return gen()


# --------------------------------------------------------------------------- render
def _load_array(path: str | Path, what: str) -> np.ndarray:
    """A per-vertex array from ``.npy``, a one-array ``.npz`` or ``.txt``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {path} not found")
    if path.suffix == ".npz":
        with np.load(path) as data:
            if len(data.files) != 1:
                raise ValueError(f"{path}: expected an .npz with one array, found {sorted(data.files)}; pass a .npy")
            return np.asarray(data[data.files[0]])
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if path.suffix == ".txt":
        return np.loadtxt(path, ndmin=1)
    raise ValueError(f"{path}: expected a per-vertex array as .npy, .npz or .txt, found {path.suffix or 'no suffix'}")


def _saved_part_labels(parts_dir: Path, level: int, explicit: bool = False) -> np.ndarray | None:
    """Labels at ``level`` from a discretize export in ``parts_dir``, or None when it holds no parts.

    ``labels_levels.npy`` [L, V] holds every level; ``labels.npy`` [V] the level named
    in ``parts.json`` (an export without a manifest counts as level 0).

    Raises:
        ValueError: the folder holds parts, but not at ``level`` (rendering other ids
            than the exported ones would be silently wrong).
    """
    all_levels = parts_dir / "labels_levels.npy"
    single = parts_dir / "labels.npy"
    if not all_levels.is_file() and not single.is_file():
        if explicit:
            raise FileNotFoundError(
                f"--parts {parts_dir}: no labels.npy there; pass the folder `omniseg-mesh discretize --out` wrote"
            )
        return None
    levels_found = []
    if all_levels.is_file():
        table = _load_array(all_levels, "part labels")
        if table.ndim == 2 and 0 <= level < len(table):
            return table[level]
        levels_found.append(f"levels 0..{len(table) - 1}" if table.ndim == 2 else "no level table")
    if single.is_file():
        manifest = parts_dir / "parts.json"
        saved_level = 0
        if manifest.is_file():
            saved_level = read_json(manifest, "parts manifest").get("level")
        if saved_level == level:
            return _load_array(single, "part labels")
        levels_found.append(f"level {saved_level}")
    raise ValueError(
        f"the parts in {parts_dir} hold {' and '.join(levels_found)}, not level {level}: run "
        f"`omniseg-mesh discretize --level {level} --out {parts_dir}` or render --level with one of those"
    )


def _render_values(
    ws: Workspace, scene: Scene, config: RenderConfig, labels: Any, parts_dir: Any, source: dict
) -> np.ndarray:
    """The per-vertex values ``config.what`` renders; ``source["parts"]`` says where they came from."""
    if isinstance(labels, (str, Path)):
        labels = _load_array(labels, "labels")
    what = config.what
    if what == "parts":
        if labels is not None:
            return np.asarray(labels)
        explicit = parts_dir is not None
        folder = Path(parts_dir) if explicit else ws.exported_parts_dir()
        saved = _saved_part_labels(folder, config.level, explicit=explicit)
        if saved is not None:
            source["parts"] = f"level {config.level} of the parts exported to {folder}"
            return saved
        from .discretize import discretize

        source["parts"] = (
            f"level {config.level} of a fresh discretize with default settings (no exported parts in {folder}; "
            "run `omniseg-mesh discretize` first, or pass --parts DIR, to render the parts you exported)"
        )
        log.warning("rendering %s", source["parts"])
        cfg = DiscretizeConfig(level=config.level)
        return np.asarray(discretize(_field_for(ws, scene), scene.vertices, scene.faces, cfg))
    if what == "selection":
        if labels is None:
            raise ValueError(
                "rendering a selection needs the selected vertices: pass --labels MASK.npy "
                "(a [V] bool mask or [V] int labels, e.g. saved by `omniseg-mesh select`)"
            )
        return np.asarray(labels)
    if what == "scores":
        if labels is not None:
            return np.asarray(labels, dtype=np.float32)
        if config.click is None:
            raise ValueError(
                "rendering scores needs a query: pass --click v:VERTEX | x:X,Y,Z | p:VIEW:U,V (scores = cosine "
                "similarity to that click's feature, as in select) or --labels SCORES.npy (a [V] float array)"
            )
        from .select import parse_click

        text = str(config.click).strip()
        click = parse_click(f"v:{text}" if text.isdigit() else text)  # a bare vertex id still works
        fld = _field_for(ws, scene)
        sel = open_selector(_fitted(ws, scene, fld))
        vertex = sel.resolve(click)
        source["parts"] = f"scores of click {text} (vertex {vertex})"
        return fld.scores(fld.features[vertex])
    return _field_for(ws, scene).features  # pca


def render_workspace(
    workspace: Workspace | str | Path,
    out: str | Path,
    config: RenderConfig | None = None,
    labels: np.ndarray | str | Path | None = None,
    progress: ProgressCallback | None = None,
    parts: str | Path | None = None,
) -> RenderReport:
    """Render a fitted workspace's parts / selection / scores / features into its views.

    Args:
        workspace: the workspace folder (geometry.npz, cameras.json, field.npz, parts/).
        out: output folder.
        config: what to render (``parts`` from the discretize export in ``parts/`` when it
            holds ``config.level`` (``labels_levels.npy``, or ``labels.npy`` with its
            level in ``parts.json``), else by running discretize at that level;
            ``selection`` from ``labels``;
            ``scores`` from ``labels`` or ``config.click``; ``pca`` from the field).
        labels: per-vertex values overriding the workspace's (array or .npy/.npz/.txt path).
        progress: ``progress(stage, done, total, **info)``.
        parts: the folder ``discretize`` exported to (default: the one it recorded in
            ``scene.json``, else ``<workspace>/parts``); a folder without ``config.level``
            is an error. Without any export, parts come from a default discretize (warned).

    Returns:
        :class:`~omniseg3d_mesh.render.labels.RenderReport` of
        :func:`~omniseg3d_mesh.render.labels.render_views`, with ``source``: which values were rendered.
    """

    from .render.labels import render_views

    config = config or RenderConfig()
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    if not ws.root.is_dir():
        raise FileNotFoundError(
            f"workspace {ws.root} does not exist: run `omniseg-mesh fit` first or pass --workspace DIR"
        )
    scene = load_workspace_scene(ws)
    if config.fragments.point_mode:  # splat a mesh workspace's vertices as points
        scene = dataclasses.replace(scene, faces=None)
    if not scene.cameras:
        raise FileNotFoundError(
            f"workspace {ws.root} has no cameras ({ws.cameras_path.name} missing or empty): "
            "run `omniseg-mesh fit` with the images and cameras to create it"
        )
    source: dict = {}
    values = _render_values(ws, scene, config, labels, parts, source)
    if labels is not None:
        source["parts"] = f"the values in {labels}" if isinstance(labels, (str, Path)) else "the given values"
    report = render_views(
        scene,
        values,
        out,
        what=config.what,
        views=list(config.views) or None,
        images=config.overlays,
        workspace=ws,
        progress=progress,
        backend=config.fragments.backend,
        point_radius=config.fragments.point_radius,
        alpha=config.overlay_alpha,
    )
    return dataclasses.replace(report, source=source.get("parts", config.what))
