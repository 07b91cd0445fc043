"""The stages a batch runs per scene, as a registry: name -> what to run, on what, and when it is done.

A :class:`Stage` says

* what to run for one scene (``run``, in a worker process), or, for a *chunked*
  stage such as mask generation, how to load a model once per worker
  (``load_model``), split the scene into chunks (``chunks``) and run one chunk
  (``run_chunk``);
* which resources one task needs (``resources``), so Ray packs GPUs and cores;
* what its result depends on (``fingerprint``: paths, content hashes, configs)
  and which files it produces (``outputs``). The runner records the hash of the
  fingerprint in the workspace's ``batch.json`` after a stage succeeds; a later
  run skips the stage while the hash matches and the outputs exist.

:func:`default_registry` holds the real stages (masks, fit, discretize, render),
which call :func:`omniseg3d_mesh.masks.sam.generate_masks` and the workspace
functions of :mod:`omniseg3d_mesh.pipeline`, and read their typed results. Tests and tools build their own registries from
the same parts.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omniseg3d_mesh.config import config_to_dict
from omniseg3d_mesh.workspace import Workspace, atomic_write_json, content_hash

from .spec import SceneSpec

log = logging.getLogger(__name__)

__all__ = [
    "Stage",
    "StageTask",
    "ResourcePlan",
    "STAGE_ORDER",
    "default_registry",
    "read_marker",
    "write_marker",
    "clear_marker",
    "is_done",
    "folder_fingerprint",
    "path_fingerprint",
    "IMAGE_SUFFIXES",
]

#: the real stages, in the order a scene goes through them
STAGE_ORDER = ("masks", "fit", "discretize", "render")
#: the marker file in each workspace that records finished batch stages
MARKER_NAME = "batch.json"
MARKER_VERSION = 1
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
RENDER_DIR_NAME = "renders"


@dataclass
class StageTask:
    """One stage of one scene: everything a worker needs (picklable).

    Attributes:
        stage: the stage name.
        scene: the scene, with absolute paths and config overrides.
        inputs_hash: hash of the stage's fingerprint, as computed by the driver.
    """

    stage: str
    scene: SceneSpec
    inputs_hash: str = ""

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.scene.workspace)


@dataclass(frozen=True)
class ResourcePlan:
    """What the cluster offers and how much a fit may take.

    Attributes:
        gpus: the cluster has GPUs (ray.cluster_resources()["GPU"] > 0).
        gpus_per_fit: GPUs per fit task when there are GPUs.
        cpus_per_fit: CPU cores per fit task when there are no GPUs.
    """

    gpus: bool = False
    gpus_per_fit: float = 1.0
    cpus_per_fit: float = 1.0


def _cpu_task(plan: ResourcePlan) -> dict:
    return {"num_cpus": 1}


@dataclass(frozen=True)
class Stage:
    """A stage in the registry.

    Attributes:
        name: stage name (a key of the registry).
        fingerprint: ``(scene) -> dict`` of everything the result depends on; runs on
            the driver before the stage is scheduled and raises FileNotFoundError /
            ValueError (with the fix) when an input is missing.
        outputs: ``(scene) -> [Path]`` that must exist for the stage to count as done.
        run: ``(task) -> dict | None`` per-scene work, in a worker. Writes atomically.
        resources: ``(plan) -> {"num_cpus": .., "num_gpus": ..}`` for one task / actor.
        applies: ``(scene) -> str | None``: a reason to skip the stage for this scene
            (e.g. "masks given"), or None when it applies.
        load_model: chunked stages: ``(task) -> model``, once per worker (actor).
        model_key: chunked stages: ``(task) -> str``; workers are shared by tasks with the same key.
        chunks: chunked stages: ``(task) -> [chunk]`` (e.g. lists of image paths).
        run_chunk: chunked stages: ``(model, task, chunk) -> dict | None``.
        finish: chunked stages: ``(task, [chunk results]) -> dict | None`` once all chunks are done.
    """

    name: str
    fingerprint: Callable[[SceneSpec], dict]
    outputs: Callable[[SceneSpec], list[Path]]
    run: Callable[[StageTask], Any] | None = None
    resources: Callable[[ResourcePlan], dict] = _cpu_task
    applies: Callable[[SceneSpec], str | None] = lambda scene: None
    load_model: Callable[[StageTask], Any] | None = None
    model_key: Callable[[StageTask], str] | None = None
    chunks: Callable[[StageTask], list] | None = None
    run_chunk: Callable[[Any, StageTask, Any], Any] | None = None
    finish: Callable[[StageTask, list], Any] | None = None

    @property
    def chunked(self) -> bool:
        return self.run_chunk is not None

    def __post_init__(self) -> None:
        if self.chunked == (self.run is not None):
            raise ValueError(
                f"stage {self.name!r}: give either run (one task per scene) or run_chunk (+ chunks, load_model)"
            )
        if self.chunked and (self.chunks is None or self.load_model is None):
            raise ValueError(f"stage {self.name!r}: a chunked stage needs chunks and load_model besides run_chunk")

    def replace(self, **changes: Any) -> Stage:
        return dataclasses.replace(self, **changes)


# --------------------------------------------------------------------------- fingerprints
def path_fingerprint(path: Path | None, what: str, scene: SceneSpec, content: bool = True) -> Any:
    """A file's content hash (or name/size/mtime with ``content=False``), or a folder's listing.

    Raises:
        FileNotFoundError: ``path`` does not exist; names the scene and the key to fix.
    """
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        return folder_fingerprint(path)
    if path.is_file():
        if content:
            return content_hash(path)
        st = path.stat()
        return [path.name, st.st_size, st.st_mtime_ns]
    raise FileNotFoundError(f"{scene.where}: {what} {path} not found; fix '{what}:' in the scenes file")


def folder_fingerprint(folder: Path) -> str:
    """Hash of a folder's files: relative name, size and modification time (not contents, to stay fast)."""
    rows = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            p = Path(root) / name
            st = p.stat()
            rows.append((str(p.relative_to(folder)), st.st_size, st.st_mtime_ns))
    return content_hash(rows)


def _images_fingerprint(scene: SceneSpec) -> str:
    if not Path(scene.images).is_dir():
        raise FileNotFoundError(
            f"{scene.where}: images folder {scene.images} not found; fix 'images:' in the scenes file"
        )
    return folder_fingerprint(Path(scene.images))


def list_images(scene: SceneSpec) -> list[Path]:
    """The image files of a scene, sorted by name."""
    images = Path(scene.images)
    if not images.is_dir():
        raise FileNotFoundError(f"{scene.where}: images folder {images} not found; fix 'images:' in the scenes file")
    return sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


# --------------------------------------------------------------------------- the marker (batch.json)
def _marker_path(scene: SceneSpec) -> Path:
    return Path(scene.workspace) / MARKER_NAME


def read_marker(scene: SceneSpec) -> dict:
    """``{stage: {"inputs": hash, "seconds": s, ...}}`` from the workspace's batch.json ({} if none or unreadable)."""
    import json

    path = _marker_path(scene)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        log.warning("ignoring unreadable batch marker %s", path)
        return {}
    if data.get("version") != MARKER_VERSION:
        return {}
    return dict(data.get("stages", {}))


def write_marker(scene: SceneSpec, stage: str, inputs_hash: str, **info: Any) -> None:
    """Record that ``stage`` finished for ``scene`` with inputs ``inputs_hash`` (atomic)."""
    stages = read_marker(scene)
    stages[stage] = {"inputs": inputs_hash, **info}
    atomic_write_json(_marker_path(scene), {"version": MARKER_VERSION, "stages": stages})


def clear_marker(scene: SceneSpec, stages: list[str]) -> None:
    """Forget ``stages`` (before they are re-run, so a failure leaves no stale 'done')."""
    current = read_marker(scene)
    if any(s in current for s in stages):
        for s in stages:
            current.pop(s, None)
        atomic_write_json(_marker_path(scene), {"version": MARKER_VERSION, "stages": current})


def is_done(stage: Stage, scene: SceneSpec, inputs_hash: str) -> bool:
    """The marker says ``stage`` finished with these inputs and its outputs are all there."""
    entry = read_marker(scene).get(stage.name)
    if not entry or entry.get("inputs") != inputs_hash:
        return False
    return all(Path(p).exists() for p in stage.outputs(scene))


# --------------------------------------------------------------------------- the real stages
def _masks_source(scene: SceneSpec) -> Path | None:
    """Where fit takes its masks from: the spec's masks, else masks generated into the workspace."""
    if scene.masks is not None:
        return Path(scene.masks)
    generated = Workspace(scene.workspace).masks_dir
    if generated.is_dir() and any(generated.iterdir()):
        return generated
    return None


def _masks_applies(scene: SceneSpec) -> str | None:
    return "masks given in the scenes file" if scene.masks is not None else None


def _masks_fingerprint(scene: SceneSpec) -> dict:
    if scene.sam_checkpoint is None:
        raise ValueError(
            f"{scene.where}: mask generation needs a Segment Anything checkpoint, found no 'sam_checkpoint:'; "
            "fix: add 'sam_checkpoint: PATH.pth' to the scene, or give precomputed 'masks: DIR'"
        )
    return {
        "images": _images_fingerprint(scene),
        # checkpoints are gigabytes: name/size/mtime, not contents
        "checkpoint": path_fingerprint(scene.sam_checkpoint, "sam_checkpoint", scene, content=False),
        "config": config_to_dict(scene.config("masks")),
    }


def _masks_model_key(task: StageTask) -> str:
    cfg = task.scene.config("masks")
    return content_hash(str(task.scene.sam_checkpoint), cfg.model, cfg.device)


def _masks_load_model(task: StageTask) -> Any:
    """The SAM model (``masks.sam.load_sam_model``), loaded once per worker and passed to every chunk."""
    from omniseg3d_mesh.masks import sam

    cfg = task.scene.config("masks")
    checkpoint = task.scene.sam_checkpoint
    assert checkpoint is not None  # the stage's inputs check refuses a scene without one (see above)
    return sam.load_sam_model(checkpoint, cfg.model, cfg.device)


def _masks_chunks(task: StageTask, chunk_size: int = 16) -> list:
    images = list_images(task.scene)
    if not images:
        raise FileNotFoundError(
            f"{task.scene.where}: no images ({', '.join(IMAGE_SUFFIXES)}) in {task.scene.images}; fix 'images:'"
        )
    names = [p.name for p in images]
    return [names[i : i + chunk_size] for i in range(0, len(names), chunk_size)]


def _masks_run_chunk(model: Any, task: StageTask, chunk: list[str]) -> dict:
    """Masks for some images of one scene into <workspace>/masks (generate_masks writes one folder per image, atomically)."""
    from omniseg3d_mesh.masks import sam

    scene = task.scene
    result = sam.generate_masks(
        scene.images,
        scene.sam_checkpoint,
        task.workspace.masks_dir,
        scene.config("masks"),
        images=list(chunk),
        model=model,
    )
    if result["failed"]:
        failures = "; ".join(f"{f['image']}: {f['error']}" for f in result["failures"][:3])
        raise RuntimeError(f"{scene.where}: SAM failed on {result['failed']} image(s): {failures}")
    return {k: result[k] for k in ("done", "skipped", "masks")}


def _masks_finish(task: StageTask, results: list) -> dict:
    return {"chunks": len(results)}


def _masks_resources(plan: ResourcePlan) -> dict:
    return {"num_gpus": 1, "num_cpus": 1} if plan.gpus else {"num_cpus": 1}


def _fit_fingerprint(scene: SceneSpec) -> dict:
    if not Path(scene.mesh).is_file():
        raise FileNotFoundError(f"{scene.where}: mesh file {scene.mesh} not found; fix 'mesh:' in the scenes file")
    images = _images_fingerprint(scene)
    if scene.masks is not None:
        masks: Any = path_fingerprint(scene.masks, "masks", scene)
    elif scene.sam_checkpoint is not None:
        # generated (by the masks stage, or by fit itself): determined by images, checkpoint and settings,
        # so the fingerprint is the same before and after the masks exist
        masks = {
            "sam_checkpoint": path_fingerprint(scene.sam_checkpoint, "sam_checkpoint", scene, content=False),
            "config": config_to_dict(scene.config("masks")),
        }
    elif _masks_source(scene) is not None:  # masks someone put into the workspace
        masks = folder_fingerprint(Workspace(scene.workspace).masks_dir)
    else:
        raise ValueError(
            f"{scene.where}: fit needs masks, found neither 'masks:' nor generated masks in "
            f"{Workspace(scene.workspace).masks_dir} nor a 'sam_checkpoint:'; fix: add 'masks: DIR', or "
            "'sam_checkpoint: FILE' and run the masks stage"
        )
    return {
        "mesh": path_fingerprint(scene.mesh, "mesh", scene),
        "images": images,
        "cameras": path_fingerprint(scene.cameras, "cameras", scene),
        "masks": masks,
        "fit": config_to_dict(scene.config("fit")),
        "fragments": config_to_dict(scene.config("fragments")),
    }


def _fit_run(task: StageTask) -> dict:
    from omniseg3d_mesh.pipeline import fit_workspace

    scene = task.scene
    masks = _masks_source(scene)
    fit_workspace(
        scene.mesh,
        scene.images,
        cameras=scene.cameras,
        masks=masks,
        workspace=scene.workspace,
        config=scene.config("fit"),
        fragment_config=scene.config("fragments"),
        sam_checkpoint=scene.sam_checkpoint if masks is None else None,
        mask_config=scene.config("masks") if masks is None else None,
    )
    return {}


def _fit_resources(plan: ResourcePlan) -> dict:
    if plan.gpus:
        return {"num_gpus": plan.gpus_per_fit, "num_cpus": 1}
    return {"num_cpus": plan.cpus_per_fit}


def _field_hash(scene: SceneSpec, stage: str) -> str:
    path = Workspace(scene.workspace).field_path
    if not path.is_file():
        raise FileNotFoundError(
            f"{scene.where}: {stage} needs a fitted field, found no {path}; fix: run the fit stage first (--stages fit,{stage})"
        )
    return content_hash(path)


def _discretize_fingerprint(scene: SceneSpec) -> dict:
    return {"field": _field_hash(scene, "discretize"), "config": config_to_dict(scene.config("discretize"))}


def _discretize_run(task: StageTask) -> dict:
    from omniseg3d_mesh.pipeline import discretize_workspace

    parts = discretize_workspace(task.workspace, out=None, config=task.scene.config("discretize"))
    return {"parts": parts.num_parts}


def _render_fingerprint(scene: SceneSpec) -> dict:
    cfg = scene.config("render")
    parts = Workspace(scene.workspace).parts_dir
    if cfg.what == "parts" and not parts.is_dir():
        raise FileNotFoundError(
            f"{scene.where}: render needs the parts of discretize, found no {parts}; "
            "fix: run the discretize stage first (--stages discretize,render)"
        )
    return {
        "field": _field_hash(scene, "render"),
        "parts": folder_fingerprint(parts) if parts.is_dir() else None,
        "config": config_to_dict(cfg),
    }


def _render_run(task: StageTask) -> dict:
    from omniseg3d_mesh.pipeline import render_workspace

    out = Path(task.scene.workspace) / RENDER_DIR_NAME
    rep = render_workspace(task.workspace, out, config=task.scene.config("render"))
    return {
        "out": str(rep.out),
        "what": rep.what,
        "views": rep.views,
        "files": len(rep.files),
        "annotations": rep.annotations,
        "parts": rep.parts,
        "source": rep.source,
    }


def default_registry(mask_chunk_size: int = 16) -> dict[str, Stage]:
    """The real stages: masks (chunked, SAM model loaded once per worker), fit, discretize, render."""
    return {
        "masks": Stage(
            name="masks",
            fingerprint=_masks_fingerprint,
            outputs=lambda scene: [Workspace(scene.workspace).masks_dir],
            applies=_masks_applies,
            resources=_masks_resources,
            load_model=_masks_load_model,
            model_key=_masks_model_key,
            chunks=lambda task: _masks_chunks(task, mask_chunk_size),
            run_chunk=_masks_run_chunk,
            finish=_masks_finish,
        ),
        "fit": Stage(
            name="fit",
            fingerprint=_fit_fingerprint,
            outputs=lambda scene: [
                Workspace(scene.workspace).field_path,
                Workspace(scene.workspace).geometry_path,
                Workspace(scene.workspace).cameras_path,
            ],
            run=_fit_run,
            resources=_fit_resources,
        ),
        "discretize": Stage(
            name="discretize",
            fingerprint=_discretize_fingerprint,
            outputs=lambda scene: [Workspace(scene.workspace).parts_dir],
            run=_discretize_run,
        ),
        "render": Stage(
            name="render",
            fingerprint=_render_fingerprint,
            outputs=lambda scene: [Path(scene.workspace) / RENDER_DIR_NAME],
            run=_render_run,
        ),
    }
