"""One dataclass per stage, and the machinery that maps them onto the CLI and YAML.

The configs are frozen (change one with ``dataclasses.replace``) and check every field
against its type and range when built: ``FitConfig(lr=-1)`` raises
``ValueError("FitConfig.lr must be > 0, got -1")``. A stage that uses another stage's
settings holds that config (``RenderConfig.fragments`` is a :class:`FragmentConfig`)
instead of repeating its fields.

Every field carries its documentation in ``metadata["help"]``; the CLI builds each
subcommand's ``--help`` from it, so the dataclass *is* the documentation. A YAML
preset (``omniseg3d_mesh/configs/*.yaml``, shipped in the wheel; ``--config NAME``) holds
``{stage: {field: value}}`` (nested configs as nested mappings) or flat ``{field: value}``;
command-line flags override it.

This module imports nothing heavy (no torch, no open3d): the CLI reads it to build
``--help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import numbers
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "FragmentConfig",
    "FitConfig",
    "SelectConfig",
    "DiscretizeConfig",
    "MaskConfig",
    "RenderConfig",
    "add_config_arguments",
    "add_dataclass_arguments",
    "dataclass_from_namespace",
    "load_config_file",
    "config_to_dict",
    "config_from_dict",
]


def opt(
    default: Any,
    help: str,
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    default_text: str | None = None,
    metavar: str | None = None,
) -> Any:
    """A config field: its default, its documentation (``--help``) and its allowed range.

    ``gt`` / ``ge`` / ``le`` bound the value (each item of a tuple), checked when the
    config is built; ``default_text`` is what ``--help`` says the default means when the
    bare value would not (``None`` = automatic, ...). Defaults are immutable (tuples).
    """
    meta = {"help": help, "gt": gt, "ge": ge, "le": le, "default_text": default_text, "metavar": metavar}
    return field(default=default, metadata={k: v for k, v in meta.items() if v is not None})


def nested(cls: type, help: str) -> Any:
    """A config field that holds another stage's config (its defaults by default)."""
    return field(default_factory=cls, metadata={"help": help})


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _check_value(label: str, value: Any, tp: Any, meta: Mapping[str, Any]) -> None:
    """Raise ValueError naming ``label`` unless ``value`` has type ``tp`` and lies in ``meta``'s range."""
    if typing.get_origin(tp) is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ValueError(f"{label} must be one of {', '.join(map(_fmt, choices))}, got {_fmt(value)}")
        return
    kinds = {bool: (bool,), int: (numbers.Integral,), float: (numbers.Real,), str: (str,)}[tp]
    if not isinstance(value, kinds) or (tp is not bool and isinstance(value, bool)):
        raise ValueError(
            f"{label} must be {'an' if tp is int else 'a'} {tp.__name__}, got {_fmt(value)} ({type(value).__name__})"
        )
    gt, ge, le = meta.get("gt"), meta.get("ge"), meta.get("le")
    if (
        (gt is not None and not value > gt)
        or (ge is not None and not value >= ge)
        or (le is not None and not value <= le)
    ):
        if le is None:
            allowed = f"> {gt}" if gt is not None else f">= {ge}"
        elif gt is None and ge is None:
            allowed = f"<= {le}"
        else:
            allowed = f"in ({gt}, {le}]" if gt is not None else f"in [{ge}, {le}]"
        raise ValueError(f"{label} must be {allowed}, got {value}")


class _Config:
    """Base of the stage configs: every field is checked against its type and range when built.

    Lists become tuples (the configs are frozen, so they are immutable all the way down);
    a nested config must be given as its dataclass (:func:`config_from_dict` builds one
    from a mapping).
    """

    def __post_init__(self) -> None:
        name = type(self).__name__
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value, (tp, optional) = getattr(self, f.name), _unwrap_optional(hints[f.name])
            label = f"{name}.{f.name}"
            if value is None and optional:
                continue
            if isinstance(tp, type) and dataclasses.is_dataclass(tp):
                if not isinstance(value, tp):
                    raise ValueError(f"{label} must be a {tp.__name__}, got {type(value).__name__}")
            elif typing.get_origin(tp) is tuple:
                if not isinstance(value, (list, tuple)):
                    raise ValueError(f"{label} must be a list, got {_fmt(value)}")
                object.__setattr__(self, f.name, tuple(value))
                for i, item in enumerate(value):
                    _check_value(f"{label}[{i}]", item, typing.get_args(tp)[0], f.metadata)
            else:
                _check_value(label, value, tp, f.metadata)


# --------------------------------------------------------------------------- stages
@dataclass(frozen=True)
class FragmentConfig(_Config):
    """Pixel -> vertex correspondences (rasterization / ray casting)."""

    backend: Literal["auto", "cpu", "nvdiffrast"] = opt(
        "auto",
        "fragment backend: cpu = Open3D ray casting (Embree); nvdiffrast = GPU rasterizer; auto = nvdiffrast when CUDA and nvdiffrast are present, else cpu (and cpu for distorted views)",
    )
    point_radius: float | None = opt(
        None,
        "point clouds: splat radius in the geometry's units",
        gt=0,
        default_text="1.5x the median nearest-neighbour spacing",
    )
    point_mode: bool = opt(False, "treat a mesh as a point cloud (ignore its faces)")


@dataclass(frozen=True)
class FitConfig(_Config):
    """Hierarchical contrastive lifting of 2D masks into a per-vertex field (paper Sec. 3.2-3.3)."""

    steps: int = opt(
        1000,
        "optimisation steps, each on views_per_step views (why 1000: the convergence table in docs/fit.md)",
        ge=0,
    )
    num_pixels: int = opt(8192, "pixels sampled per step, shared among its views (paper: 8192 rays per batch)", ge=1)
    feature_dim: int = opt(
        32,
        "feature dimension D of the field (paper: 16; why 32: docs/fit.md)",
        ge=1,
    )
    lr: float = opt(
        3e-2,
        "initial Adam learning rate on the per-vertex features (paper: 1e-2 for its NeRF; why 3e-2: docs/fit.md)",
        gt=0,
    )
    lr_final: float = opt(3e-4, "final learning rate of the cosine schedule (paper: 3e-4)", ge=0)
    hier_lambda: float = opt(
        0.5,
        "per-level weight decay lambda of the hierarchical loss (Eq. 6); 0 = the paper's basic (non-hierarchical) loss",
        ge=0,
    )
    temperature_alpha: float = opt(
        10.0, "alpha of the per-cluster temperature sum|f - mu| / (n log(n + alpha)) (paper: 10)", gt=0
    )
    norm_weight: float = opt(1.0, "weight of the norm loss (Eq. 9), pulling features to unit length", ge=0)
    smooth_weight: float | None = opt(
        1.0,
        "weight of the smoothness term, the mean squared feature difference over surface edges (a mesh's edges, or a point cloud's k nearest neighbours whose normals agree); 0 = off (why 1: docs/fit.md)",
        ge=0,
    )
    smooth_edges_per_vertex: float = opt(
        80.0,
        "smoothness edges drawn over the whole fit per vertex: a step draws max(num_pixels, smooth_edges_per_vertex x vertices / steps) edges, at most 4 x num_pixels, so a large surface is averaged about as often per vertex as one of ~100k vertices (where 80 gives num_pixels a step); 0 = num_pixels edges a step whatever the size (docs/fit.md)",
        ge=0,
    )
    loss: Literal["affinity", "contrastive", "both"] = opt(
        "both",
        "affinity: cosines regress the Jaccard similarity of the pixels' mask sets; contrastive: the paper's hierarchical contrastive loss (Eq. 5-8); both: their sum (docs/fit.md)",
    )
    contrastive_weight: float = opt(
        1.0, "weight of the hierarchical contrastive loss when --loss is contrastive or both", ge=0
    )
    spread_weight: float = opt(
        0.2,
        "weight of a weak repulsion, relu(cos)^2, between random pairs of seen vertices, so objects no view shows together still come apart (docs/fit.md); 0 = off",
        ge=0,
    )
    coarse_nodes: int = opt(
        30000,
        "two-level features f = coarse[voxel] + fine[vertex] with about this many occupied voxels, so large meshes keep their samples per parameter; meshes with fewer vertices fit per vertex only (0 = off)",
        ge=0,
    )
    min_coarse_samples: float = opt(
        200.0,
        "large meshes: the fit runs whole multiples of steps until each coarse row gets about this many vertex samples (steps x num_pixels x 3 / coarse rows): a mesh of more than ~860k vertices fits 2 x steps or more (3 x at 2M), since its coarse level grows with it (docs/fit.md); 0 = exactly steps",
        ge=0,
    )
    coarse_vertices: int = opt(
        7,
        "large meshes: the coarse level grows to about vertices / coarse_vertices voxels when that is more than coarse_nodes, so a voxel's size follows the mesh's detail and few voxels straddle a part boundary (docs/fit.md)",
        ge=1,
    )
    spread_votes: bool = opt(
        False,
        "the spread term's random pairs take the masks' multi-view co-membership (mean Jaccard over the views showing both) as their cosine target instead of plain repulsion (docs/fit.md)",
    )
    vote_init_iters: int = opt(
        0,
        "start the features from the masks' multi-view co-membership: rounds of vote-weighted averaging of random vectors over the nodes that share masks (docs/fit.md); 0 = random start",
        ge=0,
        le=20,
    )
    optimizer: Literal["adam", "lazy_adam", "block_adam"] = opt(
        "block_adam",
        "block_adam: lazy Adam whose rarely sampled fine rows lean on their block's second moment, so a row moves by its evidence (docs/fit.md); lazy_adam: Adam that moves only the rows a step sampled; adam: dense Adam over every row, as the paper",
    )
    block_prior: float = opt(
        10.0,
        "block_adam: a fine row's second moment is its own mean over its k samples and its block's, weighed k : block_prior (docs/fit.md)",
        ge=0,
    )
    views_per_step: int = opt(4, "views in each step's batch (num_pixels are shared among them)", ge=1)
    mask_balanced: float = opt(
        0.5,
        "fraction (0-1) of each view's pixels (those boundary_share leaves) drawn so that every mask gets the same number of samples (small objects are not drowned by walls); the rest uniform",
        ge=0,
        le=1,
    )
    boundary_share: float = opt(
        0.25,
        "fraction (0-1) of each view's pixels drawn from the bands along its mask boundaries (where two masks' patches meet: objects against their neighbours, parts inside objects); the rest as mask_balanced says",
        ge=0,
        le=1,
    )
    boundary_radius: int = opt(2, "half-width in pixels of those bands (boundary_share)", ge=1)
    absorb_containment: bool = opt(
        True,
        "a mask lying at least containment_ratio inside a larger one extends the larger one to cover it, so the nesting is exact",
    )
    containment_ratio: float = opt(
        0.9, "absorb_containment: the fraction (0-1) of a mask that must lie inside the larger one", ge=0, le=1
    )
    min_patch_pixels: int = opt(
        0, "patches smaller than this many pixels are ignored (0 = keep all; see min_patch_fraction)", ge=0
    )
    min_patch_fraction: float = opt(
        0.0,
        "patches smaller than this fraction (0-1) of the image are ignored (0 = keep all; slivers are handled by min_patch_share, which keeps small objects)",
        ge=0,
        le=1,
    )
    min_patch_share: float = opt(
        0.2,
        "patches smaller than this fraction (0-1) of the smallest mask holding them are ignored: the slivers between disagreeing mask outlines; a small object's patch is most of its own mask and stays (0 = keep all)",
        ge=0,
        le=1,
    )
    diffusion_iters: int = opt(100, "graph diffusion iterations that give features to vertices no view sees", ge=0)
    checkpoint_every: int = opt(500, "write a resumable checkpoint every N steps (0 = never)", ge=0)
    seed: int = opt(0, "random seed; the same seed gives the same field", ge=0)
    device: str = opt("auto", "torch device: auto (CUDA when present), cpu, cuda, cuda:N", metavar="DEVICE")
    num_threads: int = opt(
        0,
        "CPU threads torch may use during the fit (0 = torch's default, one per core); 1 is much faster on a machine busy with other work",
        ge=0,
    )
    allow_missing_masks: bool = opt(False, "views without masks are skipped with a counted warning instead of an error")


@dataclass(frozen=True)
class SelectConfig(_Config):
    """Click selection (paper Sec. 3.4)."""

    threshold: float | None = opt(
        None,
        "cosine-similarity threshold in [-1, 1]: vertices scoring at least this are selected",
        ge=-1,
        le=1,
        default_text="the first hierarchy step (--step 0)",
    )
    step: int | None = opt(None, "hierarchy step for the click: 0 = smallest (part), 1 = next bigger, ...", ge=0)
    grow: bool = opt(True, "region growing: keep only graph-connected components that contain a positive click")
    knn: int = opt(8, "point clouds: neighbours per point in the k-nearest-neighbour graph", ge=1)
    min_step_change: float = opt(
        0.05,
        "hierarchy steps: a step is a threshold range over which the selection grows by at most this fraction of its size",
        ge=0,
    )
    min_step_width: float = opt(
        0.05, "hierarchy steps: the narrowest threshold range (in cosine) that counts as a step", ge=0
    )
    smooth_iters: int = opt(
        0,
        "edge-aware denoising sweeps of the field before scoring (0 = score the field as fitted; 2 helps a noisy field)",
        ge=0,
    )
    min_step_size: int = opt(
        5,
        "hierarchy steps: ignore selections smaller than this many vertices (a lone noisy vertex is not a step; no more than 5: a phone in a room scanned to 90k points has 5-10)",
        ge=0,
    )
    exact_limit: int = opt(
        50_000,
        "hierarchy sweep on vertices up to this many vertices; above it on cached superpoints (masks stay exact)",
        ge=0,
    )


@dataclass(frozen=True)
class DiscretizeConfig(_Config):
    """Whole-scene discretization into parts with HDBSCAN."""

    level: int | None = opt(
        None,
        "hierarchy level to cut at: 0 = finest parts, larger = coarser (objects, groups)",
        ge=0,
        default_text="automatic: the cut the training masks agree with, else the most persistent cut of the part tree",
    )
    num_parts: int | None = opt(None, "cut the part tree into (at most) this many parts (overrides --level)", ge=1)
    mask_granularity: bool = opt(
        True,
        "automatic level: when the training masks are at hand (a fitted workspace), the cut of the part tree most masks agree with (a mask holding one side of a merge and not the other votes to keep them apart, one holding both to merge them); off = the most persistent cut of the field alone",
    )
    granularity_weight: Literal["votes", "pairs"] = opt(
        "votes",
        "mask_granularity: votes = one cut height, the one most mask votes agree with; pairs = the cut (at any heights) with the least expected Rand-index error, each merge weighed by the surface pairs it decides: a little better on single objects, worse on rooms whose masks cut floors and walls at random (docs/results.md)",
    )
    snap_distance: float = opt(
        0.015,
        "part boundaries may move this far (fraction of the bounding-box diagonal) onto concave creases and the field's sharpest transitions; 0 = off",
        ge=0,
        le=0.5,
    )
    crease_weight: float = opt(
        1.0, "how much concave creases attract boundaries, against the field's own transitions (0 = field only)", ge=0
    )
    snap_unsure: float = opt(
        0.0,
        "also let boundaries move through every vertex the field is unsure of (its part beats the next by less than this fraction of their distance); 0 = off (the comparison: docs/results.md)",
        ge=0,
        le=1,
    )
    min_part_size: int = opt(50, "parts with fewer vertices join their most similar neighbouring part", ge=0)
    min_cluster_size: int = opt(5, "HDBSCAN min_cluster_size, counted in superpoints", ge=2)
    min_samples: int | None = opt(
        15,
        "HDBSCAN min_samples (counted in its size-weighted rows, about max_samples for the whole surface): density needs this many samples, so the superpoints along a welded scan's seams, whose features lie between the two objects, do not chain them into one cluster (docs/results.md); None = min_cluster_size",
        ge=1,
    )
    keep_noise_pieces: bool = opt(
        True,
        "HDBSCAN's noise superpoints that neighbour each other and agree as closely as the first coarser level merges (level_similarities[0]) form pieces of their own, kept as parts from min_part_size vertices on, instead of each joining its most similar neighbour: on a scan a small object welded to its support is noise to HDBSCAN, and the part tree merges a piece back where its features say so (docs/results.md)",
    )
    superpoint_threshold: float = opt(
        0.95,
        "over-segmentation: neighbouring vertices join a superpoint above this cosine similarity (-1 to 1)",
        ge=-1,
        le=1,
    )
    max_superpoint_size: int = opt(2000, "over-segmentation: largest superpoint, in vertices", ge=1)
    superpoint_rounds: int = opt(
        16,
        "over-segmentation: most rounds of splitting superpoints whose members stray from their mean (a smoothed field chains across gradual boundaries; 3 merged psb-dev's parts, docs/results.md)",
        ge=0,
    )
    knn: int = opt(8, "point clouds: neighbours per point in the k-nearest-neighbour graph", ge=1)
    level_similarities: tuple[float, ...] = opt(
        (0.7, 0.4),
        "coarser levels: level k merges parts whose average cosine similarity is at least the k-th value (decreasing, -1 to 1)",
        ge=-1,
        le=1,
    )
    max_samples: int = opt(
        5000,
        "most rows given to HDBSCAN (superpoints repeated in proportion to their size; more superpoints than this are sampled)",
        ge=1,
    )
    cluster_selection: Literal["eom", "leaf"] = opt(
        "eom",
        "HDBSCAN cluster selection: eom = most stable clusters (leaf when eom leaves one part), leaf = finest clusters of the tree",
    )
    smooth_iters: int = opt(2, "edge-aware denoising sweeps of the field before over-segmentation (0 = off)", ge=0)
    format: Literal["ply", "obj", "glb"] = opt("ply", "file format of the per-part meshes")
    seed: int = opt(0, "random seed", ge=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        sims = list(self.level_similarities)
        if any(b > a for a, b in zip(sims, sims[1:])):
            raise ValueError(f"DiscretizeConfig.level_similarities must decrease (finer levels merge less), got {sims}")


@dataclass(frozen=True)
class MaskConfig(_Config):
    """Segment Anything automatic mask generation (paper Sec. 3.1; defaults = the paper's release)."""

    model: Literal["vit_h", "vit_l", "vit_b", "auto"] = opt(
        "vit_h", "SAM backbone; must match the checkpoint (auto = detect it from the checkpoint)"
    )
    points_per_side: int = opt(32, "point grid size (32 x 32 prompts)", ge=1)
    points_per_batch: int = opt(64, "prompts run through the mask decoder at once", ge=1)
    pred_iou_thresh: float = opt(0.88, "keep masks whose predicted IoU is at least this", ge=0, le=1)
    stability_score_thresh: float = opt(0.95, "keep masks whose stability score is at least this", ge=0, le=1)
    box_nms_thresh: float = opt(0.7, "box IoU for non-maximum suppression between masks", ge=0, le=1)
    crop_n_layers: int = opt(0, "extra crop layers (0 = whole image only)", ge=0)
    min_mask_region_area: int = opt(
        128, "remove holes and islands smaller than this many pixels (at the size SAM runs at; 0 = off)", ge=0
    )
    max_long_side: int = opt(
        1024, "downscale images whose long side is larger before SAM (masks are scaled back; 0 = never)", ge=0
    )
    device: str = opt("auto", "torch device: auto (CUDA when present), cpu, cuda", metavar="DEVICE")
    strict: bool = opt(False, "stop at the first image that fails instead of reporting it and going on")


@dataclass(frozen=True)
class RenderConfig(_Config):
    """Labels, scores or feature colours rendered back onto the input views."""

    what: Literal["parts", "selection", "scores", "pca"] = opt("parts", "what to render")
    level: int = opt(0, "hierarchy level of the parts (as in discretize)", ge=0)
    views: tuple[str, ...] = opt((), "render only these views", default_text="all", metavar="VIEW")
    overlay_alpha: float = opt(0.5, "opacity (0-1) of the colour overlay on the input image", ge=0, le=1)
    overlays: bool = opt(True, "also write <view>_overlay.png (the colours over the input image, or over grey)")
    click: str | None = opt(
        None,
        "scores: the click whose feature similarity is rendered, as in select: v:VERTEX | x:X,Y,Z | p:VIEW:U,V",
        metavar="CLICK",
    )
    fragments: FragmentConfig = nested(
        FragmentConfig,
        "how views are rasterized (its flags --backend, --point-radius, --point-mode; YAML: render: {fragments: {...}})",
    )


STAGES: dict[str, type] = {
    "fragments": FragmentConfig,
    "fit": FitConfig,
    "select": SelectConfig,
    "discretize": DiscretizeConfig,
    "masks": MaskConfig,
    "render": RenderConfig,
}


# --------------------------------------------------------------------------- machinery
class ConfigError(ValueError):
    """A bad ``--config`` preset or flag value (not found, unknown field, out of range): a usage error (CLI exit code 2)."""


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _parse_bool(text: str) -> bool:
    low = str(text).lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


# one placeholder style for every command: N (integer), X (number), TEXT, PATH
_METAVARS = {int: "N", float: "X", str: "TEXT", Path: "PATH"}


def _default_text(f: dataclasses.Field) -> str:
    if "default_text" in f.metadata:
        return f.metadata["default_text"]
    default = f.default
    if default is None:
        return "none"
    if isinstance(default, tuple):
        return " ".join(map(str, default)) or "none"
    return str(default)


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, title: str | None = None) -> None:
    """Add one ``--flag`` per field of dataclass ``cls`` (defaults left unset so YAML can fill them).

    A nested config's fields get flags of their own names in the same group (``--backend``
    for ``RenderConfig.fragments.backend``). Each help ends with one ``(default: ...)``.
    """
    group = parser.add_argument_group(title or f"{cls.__name__} ({(cls.__doc__ or '').strip().splitlines()[0]})")
    _add_fields(group, cls, f"{cls.__name__}.")


def add_config_arguments(parser: argparse.ArgumentParser, *classes: type, note: str = "") -> None:
    """``--config FILE|NAME`` (a YAML preset for these stages) and one flag group per class.

    Read them back with ``dataclass_from_namespace(Cls, args, args.config)``; ``note`` adds
    to the ``--config`` help (other sections the command reads from the preset).
    """
    sections = " and ".join(f"'{next((k for k, v in STAGES.items() if v is cls), cls.__name__)}:'" for cls in classes)
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE|NAME",
        help=f"YAML preset file or shipped preset name ({', '.join(preset_names())}): its {sections} "
        f"section{'s' if len(classes) > 1 else ''}{note}{', or flat fields' if len(classes) == 1 else ''}; the flags below override it",
    )
    for cls in classes:
        add_dataclass_arguments(parser, cls)


def _add_fields(group: Any, cls: type, dest_prefix: str) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp, _ = _unwrap_optional(hints[f.name])
        if dataclasses.is_dataclass(tp):
            _add_fields(group, tp, f"{dest_prefix}{f.name}.")  # type: ignore[arg-type]
            continue
        help_text = f"{f.metadata.get('help', '')} (default: {_default_text(f)})"
        flag = "--" + f.name.replace("_", "-")
        kwargs: dict[str, Any] = {"dest": dest_prefix + f.name, "default": argparse.SUPPRESS, "help": help_text}
        origin = typing.get_origin(tp)
        if tp is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
        elif origin is Literal:
            choices = list(typing.get_args(tp))
            group.add_argument(flag, choices=choices, type=type(choices[0]), **kwargs)
        elif origin is tuple:
            item = typing.get_args(tp)[0]
            group.add_argument(
                flag, nargs="*", type=item, metavar=f.metadata.get("metavar", _METAVARS.get(item, "X")), **kwargs
            )
        elif tp in (int, float, str, Path):
            group.add_argument(flag, type=tp, metavar=f.metadata.get("metavar", _METAVARS[tp]), **kwargs)
        else:  # pragma: no cover - a config author used an unsupported type
            raise TypeError(f"{cls.__name__}.{f.name}: unsupported config type {tp}")


def config_to_dict(cfg: Any) -> dict:
    """A plain dict of a config dataclass, nested configs as dicts and tuples as lists (for YAML/JSON)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        val = getattr(cfg, f.name)
        if dataclasses.is_dataclass(val):
            val = config_to_dict(val)
        elif isinstance(val, tuple):
            val = list(val)
        out[f.name] = str(val) if isinstance(val, Path) else val
    return out


def _nested_fields(cls: type) -> dict[str, type]:
    """``{field name: config class}`` of the configs nested in ``cls``."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if dataclasses.is_dataclass(hints[f.name])}


def _check_keys(cls: type, values: Mapping[str, Any], where: str, what: str) -> None:
    """Unknown keys are a ConfigError that lists the known ones; a key of a nested config
    written flat (``render: {backend: cpu}``) says where it lives now."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        moved = [
            f"{key} belongs under '{sub}:' ({sub}: {{{key}: ...}})"
            for key in unknown
            for sub, sub_cls in _nested_fields(cls).items()
            if key in {f.name for f in dataclasses.fields(sub_cls)}
        ]
        hint = f" ({'; '.join(moved)})" if moved else ""
        raise ConfigError(
            f"{where}: unknown {what} field(s) {', '.join(unknown)}{hint}; known fields: {', '.join(sorted(names))}"
        )
    for sub, sub_cls in _nested_fields(cls).items():
        if isinstance(values.get(sub), Mapping):
            _check_keys(sub_cls, values[sub], where, f"{what}.{sub}")


def _build(cls: type, values: Mapping[str, Any]) -> Any:
    kwargs = dict(values)
    for sub, sub_cls in _nested_fields(cls).items():
        if isinstance(kwargs.get(sub), Mapping):
            kwargs[sub] = _build(sub_cls, kwargs[sub])
    return cls(**kwargs)


def config_from_dict(cls: type, values: Mapping[str, Any], source: str = "config") -> Any:
    """Build ``cls`` from ``values`` (nested configs as mappings); an unknown key or a value out of
    range is a :class:`ConfigError` that starts with ``source``."""
    _check_keys(cls, values, source, cls.__name__)
    try:
        return _build(cls, values)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None


PRESETS_DIR = Path(__file__).parent / "configs"


def preset_names() -> list[str]:
    """The presets shipped in the package (``omniseg3d_mesh/configs/*.yaml``)."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def resolve_preset(path: str | Path) -> Path:
    """A ``--config`` value as a file: a path, or a shipped preset by name (``paper``,
    ``fast.yaml``, ``configs/fast.yaml`` all work outside a source checkout)."""
    path = Path(path)
    if path.is_file():
        return path
    for cand in (PRESETS_DIR / path.name, PRESETS_DIR / f"{path.name}.yaml"):
        if cand.is_file():
            return cand
    raise ConfigError(
        f"config file {path} not found; give a YAML file or one of the shipped presets: {', '.join(preset_names())} "
        "(e.g. --config fast)"
    )


def load_config_file(path: str | Path, cls: type) -> dict:
    """The values for ``cls`` in a YAML preset (section named after the stage, or flat), keys
    checked; nested configs stay mappings: build with :func:`config_from_dict`."""
    import yaml

    path = resolve_preset(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of stage -> fields, found {type(data).__name__}")
    stage = next((k for k, v in STAGES.items() if v is cls), None)
    if any(k in STAGES and isinstance(v, dict) for k, v in data.items()):  # {stage: {field: value}}
        strays = sorted(str(k) for k in data if k not in STAGES)
        if strays:
            raise ConfigError(
                f"{path}: {', '.join(strays)} not a stage; put fields under their stage's section ({', '.join(STAGES)})"
            )
        section = data.get(stage) or {}
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: '{stage}' must be a mapping of fields, found {type(section).__name__}")
    else:  # flat {field: value} for one stage
        section = data
    _check_keys(cls, section, str(path), stage or cls.__name__)
    return dict(section)


def dataclass_from_namespace(cls: type, ns: argparse.Namespace, config_file: str | Path | None = None) -> Any:
    """Defaults < YAML preset < command-line flags."""
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(load_config_file(config_file, cls))
    prefix = f"{cls.__name__}."
    for key, val in vars(ns).items():
        if key.startswith(prefix):
            *parents, name = key[len(prefix) :].split(".")
            target = values
            for part in parents:  # a nested config's flag: merge into its section
                target[part] = target = dict(target.get(part) or {})
            target[name] = val
    source = "the command line" if config_file is None else f"{config_file} with the command line"
    return config_from_dict(cls, values, source=source)
