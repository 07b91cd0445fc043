"""One dataclass per stage, and the machinery that maps them onto the CLI and YAML.

Every field carries its documentation in ``metadata["help"]``; the CLI builds each
subcommand's ``--help`` from it, so the dataclass *is* the documentation. A YAML
preset (``omniseg3d_mesh/configs/*.yaml``, shipped in the wheel; ``--config NAME``) holds ``{stage: {field: value}}`` or flat
``{field: value}``; command-line flags override it.

This module imports nothing heavy (no torch, no open3d): the CLI reads it to build
``--help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

__all__ = [
    "FragmentConfig",
    "FitConfig",
    "SelectConfig",
    "DiscretizeConfig",
    "MaskConfig",
    "RenderConfig",
    "add_dataclass_arguments",
    "dataclass_from_namespace",
    "load_config_file",
    "config_to_dict",
    "config_from_dict",
]


def opt(default: Any, help: str, **extra: Any) -> Any:
    """A dataclass field with its CLI/YAML documentation."""
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **extra})
    return field(default=default, metadata={"help": help, **extra})


# --------------------------------------------------------------------------- stages
@dataclass
class FragmentConfig:
    """Pixel -> vertex correspondences (rasterization / ray casting)."""

    backend: Literal["auto", "cpu", "nvdiffrast"] = opt(
        "auto", "fragment backend: cpu = Open3D ray casting (Embree); nvdiffrast = GPU rasterizer; auto = nvdiffrast when CUDA and nvdiffrast are present, else cpu"
    )
    point_radius: Optional[float] = opt(
        None, "point clouds: splat radius in world units (default: 1.5x the median nearest-neighbour spacing)"
    )
    point_mode: bool = opt(False, "treat a mesh as a point cloud (ignore its faces)")


@dataclass
class FitConfig:
    """Hierarchical contrastive lifting of 2D masks into a per-vertex field (paper Sec. 3.2-3.3)."""

    steps: int = opt(
        1000, "optimisation steps (one view per step); 1000 from the convergence measurement in docs/fit.md (object separation saturates by 500, part separation still gains a little from 1000 to 2000)"
    )
    num_pixels: int = opt(8192, "pixels sampled per step (paper: 8192 rays per batch)")
    feature_dim: int = opt(32, "feature dimension D (paper: 16; rooms hold more objects than 16 dimensions keep apart: docs/results.md)")
    lr: float = opt(
        3e-2, "initial learning rate of Adam on the per-vertex features (paper: 1e-2 for its NeRF; per-vertex features reach the same quality in half the steps at 3e-2, see docs/fit.md)"
    )
    lr_final: float = opt(3e-4, "final learning rate of the cosine schedule (paper: 3e-4)")
    hier_lambda: float = opt(0.5, "per-level decay lambda of Eq. 6; 0 = the paper's basic (non-hierarchical) loss")
    temperature_alpha: float = opt(10.0, "smoothing alpha of the per-cluster temperature (paper: 10)")
    norm_weight: float = opt(1.0, "weight of the norm loss (Eq. 9), pulling features to unit length")
    smooth_weight: float = opt(0.0, "weight of the optional smoothness term over mesh edges (0 = off)")
    loss: Literal["affinity", "contrastive", "both"] = opt(
        "both", "affinity: cosines regress the Jaccard similarity of the pixels' mask sets (docs/fit.md); contrastive: the paper's hierarchical contrastive loss (Eq. 5-8); both: their sum"
    )
    contrastive_weight: float = opt(1.0, "weight of the hierarchical contrastive loss when --loss is contrastive or both")
    spread_weight: float = opt(0.2, "weight of a weak repulsion between random pairs of seen vertices (relu(cos)^2): objects no view shows together still come apart (the contrastive loss alone sends every object of a two-object view to the antipode of the other, so twins seen only against the floor would align); same-object pairs are held together by the views")
    coarse_nodes: int = opt(30000, "two-level features: f = coarse[voxel] + fine[vertex] with about this many occupied voxels, so the samples per parameter do not fall as the vertex count grows (scenes with fewer vertices fit per vertex only; 0 = off)")
    views_per_step: int = opt(4, "views in each step's batch (num_pixels are shared among them)")
    mask_balanced: float = opt(0.5, "fraction of each view's pixels drawn so that every mask gets the same number of samples (small objects are not drowned by walls); the rest uniform")
    absorb_containment: bool = opt(True, "merge a mask that lies >= containment_ratio inside a larger one into it")
    containment_ratio: float = opt(0.9, "near-containment ratio for absorb_containment")
    min_patch_pixels: int = opt(0, "patches smaller than this many pixels are ignored (0 = keep all; see min_patch_fraction)")
    min_patch_fraction: float = opt(0.0, "patches smaller than this fraction of the image are ignored (0 = keep all: slivers are handled by min_patch_share, which keeps small objects)")
    min_patch_share: float = opt(
        0.2, "patches smaller than this fraction of the smallest mask holding them are ignored: slivers between disagreeing mask outlines, at any image size; a small object's patch is most of its own mask and stays (0 = keep all)"
    )
    diffusion_iters: int = opt(100, "graph diffusion iterations that give unseen vertices features")
    checkpoint_every: int = opt(500, "write a resumable checkpoint every N steps (0 = never)")
    seed: int = opt(0, "random seed; the same seed gives the same field")
    device: str = opt("auto", "torch device: auto (CUDA when present), cpu, cuda, cuda:N", metavar="DEVICE")
    num_threads: int = opt(
        0, "CPU threads torch may use during the fit (0 = torch's default, one per core); 1 is much faster on a machine busy with other work"
    )
    allow_missing_masks: bool = opt(False, "views without masks are skipped with a counted warning instead of an error")


@dataclass
class SelectConfig:
    """Click selection (paper Sec. 3.4)."""

    threshold: Optional[float] = opt(None, "cosine-similarity threshold; default: the first hierarchy step (--step 0)")
    step: Optional[int] = opt(None, "hierarchy step for the click: 0 = smallest (part), 1 = next bigger, ...")
    grow: bool = opt(True, "region growing: keep only graph-connected components that contain a positive click")
    knn: int = opt(8, "point clouds: neighbours per point in the k-nearest-neighbour graph")
    min_step_change: float = opt(0.05, "hierarchy steps: a step is a threshold range over which the selection grows by at most this fraction")
    min_step_width: float = opt(0.05, "hierarchy steps: the narrowest threshold range that counts as a step")
    smooth_iters: int = opt(0, "edge-aware denoising sweeps of the field before scoring (0 = score the field as fitted; 2 helps a noisy field)")
    min_step_size: int = opt(10, "hierarchy steps: ignore selections smaller than this many vertices (a lone noisy vertex is not a step)")
    exact_limit: int = opt(50_000, "hierarchy sweep on vertices up to this many vertices; above it on cached superpoints (masks stay exact)")


@dataclass
class DiscretizeConfig:
    """Whole-scene discretization into parts with HDBSCAN."""

    level: Optional[int] = opt(
        None, "hierarchy level to cut at: 0 = finest parts, larger = coarser (objects, groups); default: automatic, the most persistent cut of the part tree"
    )
    num_parts: Optional[int] = opt(None, "cut the part tree into (at most) this many parts (overrides --level)")
    snap_distance: float = opt(
        0.015, "part boundaries may move this far (fraction of the bounding-box diagonal) onto concave creases and the field's sharpest transitions; 0 = off"
    )
    crease_weight: float = opt(1.0, "how much concave creases attract boundaries, against the field's own transitions (0 = field only)")
    snap_unsure: float = opt(
        0.0, "also let boundaries move through every vertex the field is unsure of (its part beats the next by less than this fraction of their distance); 0 = off, as measured best on psb-dev"
    )
    min_part_size: int = opt(50, "parts with fewer vertices join their most similar neighbouring part")
    min_cluster_size: int = opt(5, "HDBSCAN min_cluster_size, counted in superpoints")
    min_samples: Optional[int] = opt(None, "HDBSCAN min_samples (default: min_cluster_size)")
    superpoint_threshold: float = opt(0.95, "over-segmentation: neighbouring vertices join a superpoint above this cosine similarity")
    max_superpoint_size: int = opt(2000, "over-segmentation: largest superpoint, in vertices")
    knn: int = opt(8, "point clouds: neighbours per point in the k-nearest-neighbour graph")
    level_similarities: list[float] = opt(
        [0.7, 0.4], "coarser levels: level k merges parts whose average cosine similarity is at least the k-th value (decreasing)"
    )
    max_samples: int = opt(5000, "most rows given to HDBSCAN (superpoints repeated in proportion to their size; more superpoints than this are sampled)")
    cluster_selection: Literal["eom", "leaf"] = opt("eom", "HDBSCAN cluster selection: eom = most stable clusters, leaf = finest clusters of the tree")
    smooth_iters: int = opt(2, "edge-aware denoising sweeps of the field before over-segmentation (0 = off)")
    format: Literal["ply", "obj", "glb"] = opt("ply", "file format of the per-part meshes")
    seed: int = opt(0, "random seed")


@dataclass
class MaskConfig:
    """Segment Anything automatic mask generation (paper Sec. 3.1; defaults = the paper's release)."""

    model: Literal["vit_h", "vit_l", "vit_b", "auto"] = opt(
        "vit_h", "SAM backbone; must match the checkpoint (auto = detect it from the checkpoint)"
    )
    points_per_side: int = opt(32, "point grid size (32 x 32 prompts)")
    points_per_batch: int = opt(64, "prompts run through the mask decoder at once")
    pred_iou_thresh: float = opt(0.88, "keep masks whose predicted IoU is at least this")
    stability_score_thresh: float = opt(0.95, "keep masks whose stability score is at least this")
    box_nms_thresh: float = opt(0.7, "box IoU for non-maximum suppression between masks")
    crop_n_layers: int = opt(0, "extra crop layers (0 = whole image only)")
    min_mask_region_area: int = opt(
        128, "remove holes and islands smaller than this many pixels (at the size SAM runs at; 0 = off)"
    )
    max_long_side: int = opt(1024, "downscale images whose long side is larger before SAM (masks are scaled back; 0 = never)")
    device: str = opt("auto", "torch device: auto (CUDA when present), cpu, cuda", metavar="DEVICE")
    strict: bool = opt(False, "stop at the first image that fails instead of reporting it and going on")


@dataclass
class RenderConfig:
    """Labels, scores or feature colours rendered back onto the input views."""

    what: Literal["parts", "selection", "scores", "pca"] = opt("parts", "what to render")
    level: int = opt(0, "hierarchy level of the parts (as in discretize)")
    views: list[str] = opt([], "render only these views (default: all)", metavar="VIEW")
    overlay_alpha: float = opt(0.5, "opacity of the colour overlay on the input image")
    overlays: bool = opt(True, "also write <view>_overlay.png (the colours over the input image, or over grey)")
    click: Optional[str] = opt(
        None, "scores: the click whose feature similarity is rendered, as in select: v:VERTEX | x:X,Y,Z | p:VIEW:U,V",
        metavar="CLICK",
    )
    backend: Literal["auto", "cpu", "nvdiffrast"] = opt(
        "auto", "fragment backend (auto: nvdiffrast when CUDA and nvdiffrast are present, cpu for distorted views)"
    )
    point_radius: Optional[float] = opt(
        None, "point clouds: splat radius in world units (default: 1.5x the median nearest-neighbour spacing)"
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
    """A bad ``--config`` preset (not found, unknown fields): a usage error (CLI exit code 2)."""



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


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, title: str | None = None) -> None:
    """Add one ``--flag`` per field of dataclass ``cls`` (defaults left unset so YAML can fill them)."""
    group = parser.add_argument_group(title or f"{cls.__name__} ({(cls.__doc__ or '').strip().splitlines()[0]})")
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp, optional = _unwrap_optional(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        help_text = f.metadata.get("help", "")
        if "default" not in help_text:  # a help that explains its default already says it once
            help_text += f" (default: {'none' if default is None else default})"
        flag = "--" + f.name.replace("_", "-")
        kwargs: dict[str, Any] = {"dest": f"{cls.__name__}.{f.name}", "default": argparse.SUPPRESS, "help": help_text}
        origin = typing.get_origin(tp)
        if tp is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        if origin is Literal:
            choices = list(typing.get_args(tp))
            group.add_argument(flag, choices=choices, type=type(choices[0]), **kwargs)
        elif origin in (list, tuple):
            (item,) = typing.get_args(tp)[:1]
            group.add_argument(flag, nargs="*", type=item, metavar=f.metadata.get("metavar", _METAVARS.get(item, "X")), **kwargs)
        elif tp in (int, float, str, Path):
            group.add_argument(flag, type=tp, metavar=f.metadata.get("metavar", _METAVARS[tp]), **kwargs)
        else:  # pragma: no cover - a config author used an unsupported type
            raise TypeError(f"{cls.__name__}.{f.name}: unsupported config type {tp}")
        del optional


def config_to_dict(cfg: Any) -> dict:
    """A plain dict of a config dataclass (for YAML/JSON metadata)."""
    out = {}
    for f in dataclasses.fields(cfg):
        val = getattr(cfg, f.name)
        out[f.name] = str(val) if isinstance(val, Path) else val
    return out


def config_from_dict(cls: type, values: dict, source: str = "config") -> Any:
    """Build ``cls`` from ``values``; unknown keys are an error that lists the known ones."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(
            f"{source}: unknown {cls.__name__} field(s) {', '.join(unknown)}; known fields: {', '.join(sorted(names))}"
        )
    return cls(**values)


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
    """The values for ``cls`` in a YAML preset (section named after the stage, or flat)."""
    import yaml

    path = resolve_preset(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of stage -> fields, found {type(data).__name__}")
    stage = next((k for k, v in STAGES.items() if v is cls), None)
    if stage is not None and isinstance(data.get(stage), dict):
        section = data[stage]
    elif any(isinstance(v, dict) for v in data.values()):
        section = {}  # a multi-stage file without this stage's section
    else:
        section = data
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(section) - names)
    if unknown:
        raise ConfigError(f"{path}: unknown {stage or cls.__name__} field(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    return dict(section)


def dataclass_from_namespace(cls: type, ns: argparse.Namespace, config_file: str | Path | None = None) -> Any:
    """Defaults < YAML preset < command-line flags."""
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(load_config_file(config_file, cls))
    prefix = f"{cls.__name__}."
    for key, val in vars(ns).items():
        if key.startswith(prefix):
            values[key[len(prefix):]] = val
    return cls(**values)
