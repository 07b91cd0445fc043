#!/usr/bin/env python
"""Scale sweep of the room benchmark: about 90k / 500k / 2M vertices x 60 / 150 / 300 views.

Every (size, views) pair is the room of ``tools/eval_rooms.py`` (same generator, masks
and cache) fitted with the DEFAULT ``FitConfig`` (``--config`` / ``--set`` overrides as
there), and measured by:

* the part gap: mean cosine similarity of vertex pairs on the same part minus pairs on
  other parts of the same object (``evaluation.similarity_levels``, as
  ``tools/bench_fit.py`` measures it; 4000 seen, non-stuff vertices) -- does the part
  structure survive the size?
* object click mIoU: voting (the no-learning anchor), the field's raw score, the
  hierarchy click (best step);
* fit time (preparation included) and the peak RSS of the process that ran the pair.

Each pair runs in its own process, so its peak RSS is its own. 2M x 300 on a 2-core CPU
takes hours (fragments, masks and the fit); the cache keeps the first two for reruns.

    python tools/eval_scale.py                                  # the 3 x 3 sweep, seed 0
    python tools/eval_scale.py --sizes 90k --views 60 150       # a subset
    python tools/eval_scale.py --sizes tiny --views 8 16 --width 160 --height 120   # smoke test
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def run_pair(size: str, views: int, seed: int, args) -> dict:
    """Prepare, fit and measure one (size, views) room in this process."""
    from eval_rooms import evaluate_room, fit_config, prepare_room

    from omniseg3d_mesh.evaluation import similarity_levels

    cfg = fit_config(args.config, args.sets, threads=args.threads, device=args.device)
    t = time.perf_counter()
    case = prepare_room(
        seed, views, size, args.width, args.height, args.objects, args.masks, args.cache, say=lambda *a: None
    )
    t_case = time.perf_counter() - t
    r = evaluate_room(case, cfg)
    syn = case.syn
    same, other_part, other_obj = similarity_levels(
        r.pop("features"), syn.labels["part"], syn.labels["object"], case.seen & ~syn.stuff[syn.labels["object"]]
    )
    r.update(
        size=size,
        views=views,
        seed=seed,
        vertices=int(case.scene.num_vertices),
        case_s=t_case,
        unseen=case.unseen_fraction,
        cos_same=same,
        cos_other_part=other_part,
        cos_other_obj=other_obj,
        part_gap=same - other_part,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        **{f"{k}_s": v for k, v in case.times.items()},
    )
    return r


def _parse(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[1], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--sizes",
        nargs="*",
        default=["90k", "500k", "2m"],
        choices=["tiny", "90k", "500k", "2m"],
        help="room tessellations",
    )
    p.add_argument("--views", type=int, nargs="*", default=[60, 150, 300], help="views per room")
    p.add_argument("--seeds", type=int, nargs="*", default=[0], help="room seeds")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--objects", type=int, default=50, help="non-stuff objects per room")
    p.add_argument("--masks", default="room", help="mask simulator preset")
    p.add_argument("--config", default=None, help="YAML with a fit: section of FitConfig overrides")
    p.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="FitConfig override (repeatable)"
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads for the fit")
    p.add_argument("--device", default="auto", help="torch device for the fit")
    p.add_argument(
        "--cache",
        default="/tmp/omniseg_rooms",
        help="cache of fragments, masks and statistics (shared with eval_rooms.py)",
    )
    p.add_argument(
        "--in-process", action="store_true", help="run the pairs in this process (peak RSS is then cumulative)"
    )
    p.add_argument("--one", nargs=4, metavar=("SIZE", "VIEWS", "SEED", "JSON"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _child_argv(args, size, views, seed, out) -> list[str]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--one",
        size,
        str(views),
        str(seed),
        str(out),
        "--width",
        str(args.width),
        "--height",
        str(args.height),
        "--objects",
        str(args.objects),
        "--masks",
        args.masks,
        "--threads",
        str(args.threads),
        "--device",
        args.device,
        "--cache",
        str(args.cache),
    ]
    if args.config:
        cmd += ["--config", args.config]
    for s in args.sets:
        cmd += ["--set", s]
    return cmd


def main(argv=None) -> int:
    args = _parse(argv)
    if args.one:
        size, views, seed, out = args.one
        r = run_pair(size, int(views), int(seed), args)
        Path(out).write_text(json.dumps(r))
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="eval_scale_") as tmp:
        for size in args.sizes:
            for views in args.views:
                for seed in args.seeds:
                    if args.in_process:
                        r = run_pair(size, views, seed, args)
                    else:
                        out = Path(tmp) / f"{size}_{views}_{seed}.json"
                        subprocess.run(_child_argv(args, size, views, seed, out), check=True)
                        r = json.loads(out.read_text())
                    rows.append(r)
                    print(
                        f"{size} x {views} views, seed {seed}: {r['vertices']} vertices, part gap {r['part_gap']:.3f} "
                        f"(same {r['cos_same']:.3f}, other part {r['cos_other_part']:.3f}, other object {r['cos_other_obj']:.3f}), "
                        f"voting {r['voting']:.1f} raw {r['raw']:.1f} click {r['click']:.1f}, fit {r['fit_s']:.1f} s ({r['steps']} steps), "
                        f"peak RSS {r['peak_rss_mb']:.0f} MB",
                        flush=True,
                    )
    from omniseg3d_mesh.config import FitConfig

    d = FitConfig()
    overrides = ", ".join(args.sets) + (f", --config {args.config}" if args.config else "")
    print(
        f"\nRoom scale sweep: seeds {' '.join(map(str, args.seeds))}, {args.width}x{args.height}, masks {args.masks}; "
        f"fit: defaults (steps {d.steps}, whole multiples on large meshes: see the log lines; num_pixels {d.num_pixels}){' + ' + overrides if overrides.strip(', ') else ''}. "
        "Means over seeds; mIoU in %.\n"
    )
    cols = [
        "size",
        "vertices",
        "views",
        "unseen %",
        "cos same part",
        "cos other part",
        "part gap",
        "voting",
        "raw",
        "click",
        "fit s",
        "peak RSS MB",
    ]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for size in args.sizes:
        for views in args.views:
            rs = [r for r in rows if r["size"] == size and r["views"] == views]
            m = {
                k: float(np.mean([r[k] for r in rs]))
                for k in (
                    "vertices",
                    "unseen",
                    "cos_same",
                    "cos_other_part",
                    "part_gap",
                    "voting",
                    "raw",
                    "click",
                    "fit_s",
                    "peak_rss_mb",
                )
            }
            print(
                f"| {size} | {m['vertices']:.0f} | {views} | {100 * m['unseen']:.1f} | {m['cos_same']:.3f} | {m['cos_other_part']:.3f} | "
                f"{m['part_gap']:.3f} | {m['voting']:.1f} | {m['raw']:.1f} | {m['click']:.1f} | {m['fit_s']:.1f} | {m['peak_rss_mb']:.0f} |"
            )
    print(f"\nCommand: `python tools/eval_scale.py {' '.join(sys.argv[1:] if argv is None else argv)}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
