"""Batch throughput: sequential (``--executor local``) against a local Ray instance, plus a projection.

Writes a demo batch (tiny box scenes with masks, see omniseg3d_mesh.batch.demo),
runs the selected stages for all scenes sequentially, then again on a local Ray
instance (``ray.init(num_cpus=...)``), and prints

* measured: wall time and scenes per minute of both executors, the Ray start-up
  time, and the mean per-scene time of each stage (from the sequential run);
* a PROJECTION (not a measurement) for N GPU nodes, derived from those stage times
  under stated assumptions: fit on a GPU slot takes the measured fit time divided
  by ``--gpu-speedup``; mask generation takes ``--sam-s-per-image`` per image on a
  GPU; discretize and render take their measured CPU times on one core each; the
  stages of different scenes overlap perfectly and shared storage is not the
  bottleneck. Steady-state throughput per node is then
  ``60 / max((t_masks + t_fit) / gpus, (t_discretize + t_render) / cores)`` scenes
  per minute, times N nodes.

Usage::

    python tools/bench_batch.py --scenes 6 --cpus 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from omniseg3d_mesh.batch import BatchOptions, load_batch_spec, parse_stages, run_batch  # noqa: E402
from omniseg3d_mesh.batch.demo import write_demo_batch  # noqa: E402


def _warm_worker() -> int:
    """Import what the stages import (torch, open3d, the stage modules), once per worker process."""
    import sklearn.cluster  # noqa: F401 - discretize's HDBSCAN
    import torch
    import trimesh  # noqa: F401 - part export

    import omniseg3d_mesh.discretize  # noqa: F401
    import omniseg3d_mesh.fit  # noqa: F401
    import omniseg3d_mesh.render.labels  # noqa: F401

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # the optimizer's first use imports more
    time.sleep(0.5)  # hold the worker so that the next warm-up task lands on another one
    return os.getpid()


def _table(title: str, header: list[str], rows: list[list]) -> str:
    cells = [[f"{c:.3g}" if isinstance(c, float) else str(c) for c in r] for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(cells[0], widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells[1:]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=6, help="number of demo scenes")
    ap.add_argument("--views", type=int, default=6, help="views per scene")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--height", type=int, default=48)
    ap.add_argument("--subdivisions", type=int, default=3, help="mesh subdivisions (3: ~2.3k vertices per scene)")
    ap.add_argument("--steps", type=int, default=200, help="fit steps per scene")
    ap.add_argument("--num-pixels", type=int, default=1024, help="fit pixels per step")
    ap.add_argument("--stages", default="fit,discretize,render", help="stages to time (masks need a SAM checkpoint)")
    ap.add_argument("--cpus", type=int, default=2, help="cores of the local Ray instance")
    ap.add_argument("--nodes", default="1,4,16,64", help="projection: numbers of GPU nodes")
    ap.add_argument("--gpus-per-node", type=int, default=8, help="projection: GPUs per node")
    ap.add_argument(
        "--cores-per-node", type=int, default=32, help="projection: CPU cores per node for discretize/render"
    )
    ap.add_argument(
        "--gpu-speedup",
        type=float,
        default=1.0,
        help="projection: fit on one GPU is this many times faster than the measured fit here (1 = no speed-up assumed)",
    )
    ap.add_argument(
        "--sam-s-per-image",
        type=float,
        default=0.0,
        help="projection: SAM seconds per image on one GPU (0 = masks given, no mask stage)",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch/OpenMP threads per task, both executors (Ray gives a 1-CPU task 1 thread)",
    )
    ap.add_argument(
        "--keep", type=Path, default=None, help="write the demo batch here and keep it (default: a temp folder)"
    )
    args = ap.parse_args(argv)
    # before torch is imported anywhere; Ray workers inherit it (and Ray sets it per task anyway)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    load_before = os.getloadavg()[0]

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_batch_"))
    try:
        t = time.perf_counter()
        defaults = {
            "fit": {"steps": args.steps, "num_pixels": args.num_pixels, "checkpoint_every": 0, "seed": 0},
            "discretize": {"min_part_size": 20},
        }
        spec_path = write_demo_batch(
            root,
            args.scenes,
            defaults=defaults,
            views=args.views,
            width=args.width,
            height=args.height,
            subdivisions=args.subdivisions,
        )
        make_s = time.perf_counter() - t
        spec = load_batch_spec(spec_path)
        stages = parse_stages(args.stages)

        # sequential, no Ray
        t = time.perf_counter()
        seq = run_batch(spec, BatchOptions(stages=stages, executor="local", rerun=True))
        seq_s = time.perf_counter() - t
        if seq.failed_scenes():
            print("sequential run failed:", seq.failed_scenes(), file=sys.stderr)
            return 1

        # local Ray: start it ourselves to time the start-up separately
        import ray

        t = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        init_s = time.perf_counter() - t
        try:
            t = time.perf_counter()
            cold = run_batch(spec, BatchOptions(stages=stages, executor="ray", rerun=True))
            cold_s = time.perf_counter() - t
        finally:
            ray.shutdown()
        # again with workers that already imported torch/open3d (a long batch amortises this)
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        try:
            t = time.perf_counter()
            pids = ray.get([ray.remote(num_cpus=1)(_warm_worker).remote() for _ in range(args.cpus)])
            warm_s = time.perf_counter() - t
            t = time.perf_counter()
            par = run_batch(spec, BatchOptions(stages=stages, executor="ray", rerun=True))
            ray_s = time.perf_counter() - t
        finally:
            ray.shutdown()
        if cold.failed_scenes():
            print("ray run failed:", cold.failed_scenes(), file=sys.stderr)
            return 1
        if par.failed_scenes():
            print("ray run failed:", par.failed_scenes(), file=sys.stderr)
            return 1
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    n = len(spec.scenes)
    per_stage = {s: [r.seconds for r in seq.results if r.stage == s and r.status == "done"] for s in stages}
    mean = {s: (sum(v) / len(v) if v else 0.0) for s, v in per_stage.items()}
    ray_stage = {s: [r.seconds for r in par.results if r.stage == s and r.status == "done"] for s in stages}
    ray_mean = {s: (sum(v) / len(v) if v else 0.0) for s, v in ray_stage.items()}

    print(
        f"machine: {os.cpu_count()} cores (load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after), "
        f"no GPU; local Ray with {args.cpus} CPUs; {args.threads} torch thread(s) per task"
    )
    print(
        f"scenes: {args.views} views {args.width}x{args.height}, fit {args.steps} steps x {args.num_pixels} px "
        f"(demo batch written in {make_s:.1f} s, not counted)"
    )
    print()
    print(
        _table(
            f"MEASURED: {n} scenes, stages {','.join(stages)}",
            ["executor", "wall s", "scenes/min", "note"],
            [
                ["local (sequential)", seq_s, 60 * n / seq_s, ""],
                [
                    f"ray ({args.cpus} CPUs), new workers",
                    cold_s,
                    60 * n / cold_s,
                    f"workers import torch/open3d in their first task; excludes Ray start-up {init_s:.1f} s",
                ],
                [
                    f"ray ({args.cpus} CPUs), warm workers",
                    ray_s,
                    60 * n / ray_s,
                    f"after warming {len(set(pids))} worker(s) in {warm_s:.1f} s",
                ],
                [
                    f"ray ({args.cpus} CPUs), new workers + start",
                    cold_s + init_s,
                    60 * n / (cold_s + init_s),
                    "what one batch costs",
                ],
            ],
        )
    )
    print()
    print(
        _table(
            "MEASURED: mean seconds per scene and stage (inside the task)",
            ["stage", "sequential", "ray (warm workers)"],
            [[s, mean[s], ray_mean[s]] for s in stages],
        )
    )
    print()
    t_fit = mean.get("fit", 0.0) / args.gpu_speedup
    t_masks = args.sam_s_per_image * args.views
    t_cpu = mean.get("discretize", 0.0) + mean.get("render", 0.0)
    gpu_bound = (t_masks + t_fit) / args.gpus_per_node
    cpu_bound = t_cpu / args.cores_per_node
    per_node = 60.0 / max(gpu_bound, cpu_bound, 1e-9)
    bottleneck = "GPU (masks+fit)" if gpu_bound >= cpu_bound else "CPU (discretize+render)"
    rows = [[int(k), int(k) * args.gpus_per_node, per_node * int(k), bottleneck] for k in args.nodes.split(",")]
    print(
        _table(
            f"PROJECTION (not measured): nodes x {args.gpus_per_node} GPUs + {args.cores_per_node} cores; "
            f"fit {t_fit:.2f} s/scene (measured / {args.gpu_speedup:g}), masks {t_masks:.2f} s/scene, "
            f"discretize+render {t_cpu:.2f} s/scene on one core",
            ["nodes", "GPUs", "scenes/min", "bound by"],
            rows,
        )
    )
    print()
    print("command: python " + " ".join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
