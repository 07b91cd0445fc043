"""Many scenes through the stages (masks, fit, discretize, render), sequentially or on Ray.

    from omniseg3d_mesh.batch import load_batch_spec, run_batch, BatchOptions
    report = run_batch(load_batch_spec("SCENES.yaml"), BatchOptions(executor="ray"))

Ray is optional (the ``ray`` extra) and imported only by the ray executor.
See docs/batch.md for the SCENES schema and running on a cluster.
"""

from __future__ import annotations

from .runner import BatchOptions, BatchReport, StageResult, parse_stages, run_batch, save_report
from .spec import BatchSpec, SceneSpec, load_batch_spec
from .stages import STAGE_ORDER, ResourcePlan, Stage, StageTask, default_registry

__all__ = [
    "BatchOptions",
    "BatchReport",
    "BatchSpec",
    "ResourcePlan",
    "STAGE_ORDER",
    "SceneSpec",
    "Stage",
    "StageResult",
    "StageTask",
    "default_registry",
    "load_batch_spec",
    "parse_stages",
    "run_batch",
    "save_report",
]
