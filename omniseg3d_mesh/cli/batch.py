"""``omniseg-mesh batch SCENES.yaml``: many scenes through masks, fit, discretize and render.

Config values per stage come from the SCENES file (``defaults:`` and per-scene
``overrides:``, see docs/batch.md); the flags here only say how to run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._args import add_path_argument

HELP = "run many scenes through the stages, locally or on Ray"

STAGE_NAMES = ("masks", "fit", "discretize", "render")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenes", type=Path, metavar="SCENES", help="SCENES.yaml or scenes.csv (schema: docs/batch.md)")
    parser.add_argument(
        "--executor",
        choices=["ray", "local"],
        default="ray",
        help="ray: Ray tasks (a local Ray instance, or the cluster of --address); local: one stage after the other, no Ray (default: ray)",
    )
    parser.add_argument(
        "--address",
        default=None,
        metavar="auto|HOST:PORT",
        help="Ray cluster to join (`auto` finds the one started with `ray start` on this node); default: a local Ray instance",
    )
    parser.add_argument(
        "--stages",
        default=",".join(STAGE_NAMES),
        metavar="LIST",
        help=f"comma-separated stages to run, in pipeline order (default: {','.join(STAGE_NAMES)})",
    )
    parser.add_argument(
        "--gpus-per-fit",
        type=float,
        default=1.0,
        metavar="N",
        help="GPUs per fit task when the cluster has GPUs; 0.5 puts two fits on a GPU (default: 1)",
    )
    parser.add_argument(
        "--cpus-per-fit",
        type=float,
        default=1.0,
        metavar="N",
        help="CPU cores per fit task when the cluster has no GPUs (default: 1)",
    )
    parser.add_argument(
        "--num-cpus",
        type=int,
        default=None,
        metavar="N",
        help="cores of the local Ray instance (default: all of this machine's)",
    )
    parser.add_argument(
        "--max-retries", type=int, default=2, metavar="N", help="retries of a task whose worker died (default: 2)"
    )
    parser.add_argument(
        "--mask-workers",
        type=int,
        default=None,
        metavar="N",
        help="SAM actors (default: one per GPU, or one without GPUs)",
    )
    parser.add_argument(
        "--ray-logs",
        action="store_true",
        help="show Ray's own logs (worker output, raylet messages) here; by default they stay in "
        "/tmp/ray/session_latest/logs (also on with -v before the command)",
    )
    parser.add_argument(
        "--rerun", action="store_true", help="ignore recorded results and run every selected stage again"
    )
    add_path_argument(parser, "--report", "FILE", "JSON report (default: <SCENES>.report.json beside the scenes file)")


def default_report_path(scenes: Path) -> Path:
    return scenes.with_name(scenes.stem + ".report.json")


def run(args: argparse.Namespace) -> int:
    from omniseg3d_mesh.batch import BatchOptions, load_batch_spec, parse_stages, run_batch
    from omniseg3d_mesh.cli._ui import UsageError, console, next_hint, print_table, progress_bars

    if args.max_retries < 0:
        raise UsageError(f"--max-retries must be >= 0, found {args.max_retries}")
    if args.gpus_per_fit <= 0 or args.cpus_per_fit <= 0:
        raise UsageError(
            f"--gpus-per-fit and --cpus-per-fit must be > 0, found {args.gpus_per_fit} and {args.cpus_per_fit}"
        )
    if args.address and args.executor == "local":
        raise UsageError("--address joins a Ray cluster, but --executor local runs without Ray; drop one of them")
    try:
        stages = parse_stages(args.stages)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    spec = load_batch_spec(args.scenes)
    options = BatchOptions(
        stages=stages,
        executor=args.executor,
        address=args.address,
        num_cpus=args.num_cpus,
        gpus_per_fit=args.gpus_per_fit,
        cpus_per_fit=args.cpus_per_fit,
        max_retries=args.max_retries,
        mask_workers=args.mask_workers,
        rerun=args.rerun,
        verbose=bool(args.ray_logs) or getattr(args, "verbose", 0) > 0,
    )
    report_path = args.report or default_report_path(spec.path)
    console.print(f"batch: {len(spec.scenes)} scene(s), stages {','.join(stages)}, executor {args.executor}")
    with progress_bars() as progress:
        report = run_batch(spec, options, progress=progress, report_path=report_path)

    rows = []
    by_scene: dict[str, dict] = {s.name: {} for s in spec.scenes}
    for r in report.results:
        by_scene[r.scene][r.stage] = r
    for name, cells in by_scene.items():
        row = [name]
        for stage in stages:
            cell = cells.get(stage)
            row.append("" if cell is None else f"done {cell.seconds:.1f}s" if cell.status == "done" else cell.status)
        rows.append(row)
    print_table(f"batch {spec.path.name} ({report.seconds:.1f} s)", ["scene", *stages], rows)
    failed = report.failed_scenes()
    for name, error in failed.items():
        console.print(f"[red]{name}[/]: {error}", highlight=False)
    console.print(
        f"{len(spec.scenes) - len(failed)} of {len(spec.scenes)} scene(s) finished, {len(failed)} failed; report: {report_path}"
    )
    if failed:
        next_hint(
            f"fix the failed scene(s) and run the same command again (finished stages are skipped; report: {report_path})"
        )
        return 1
    next_hint(
        f"the workspaces of the scenes are in the report ({report_path}); omniseg-mesh view --workspace WORKSPACE"
    )
    return 0
