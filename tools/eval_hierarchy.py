#!/usr/bin/env python
"""The paper's hierarchical benchmark (Sec. 4.1, Tables 1, 3, 4) on synthetic scenes.

For every seed and mask-simulator preset: build a synthetic indoor scene, simulate
SAM proposals, fit fields with different settings, and score them with the paper's
protocol (best threshold per query and level, Eq. 12). Prints markdown tables and the
command that reproduced them.

    python tools/eval_hierarchy.py                 # full: 3 seeds x clean/medium/hard
    python tools/eval_hierarchy.py --quick         # one seed, hard only, fewer steps
    python tools/eval_hierarchy.py --tables 1 3d   # only Table 1 and the 3D metrics
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LAMBDAS = (0.0, 0.1, 0.2, 0.5, 1.0)
DIMS = (4, 8, 16, 32)


def _parse(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[1], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="one seed, hard preset, 8 views at 240x180, 600 steps")
    p.add_argument("--seeds", type=int, nargs="*", default=None, help="scene/mask seeds (default 0 1 2; quick: 0)")
    p.add_argument(
        "--presets",
        nargs="*",
        default=None,
        choices=["clean", "medium", "hard"],
        help="mask simulator presets (default all; quick: hard)",
    )
    p.add_argument(
        "--tables", nargs="*", default=["1", "3", "4", "3d"], choices=["1", "3", "4", "3d"], help="which tables"
    )
    p.add_argument("--scene", default="small", choices=["small", "medium", "large"], help="scene tessellation preset")
    p.add_argument("--views", type=int, default=None, help="views per scene (default 16; quick: 8)")
    p.add_argument("--width", type=int, default=None, help="view width (default 320; quick: 240)")
    p.add_argument("--height", type=int, default=None, help="view height (default 240; quick: 180)")
    p.add_argument("--steps", type=int, default=None, help="fit steps (default 2000; quick: 600)")
    p.add_argument("--num-pixels", type=int, default=None, help="pixels per step (default: FitConfig's)")
    p.add_argument("--lr", type=float, default=None, help="fit learning rate (default: FitConfig's)")
    p.add_argument("--lr-final", type=float, default=None, help="final learning rate (default: FitConfig's)")
    p.add_argument(
        "--smooth-weight", type=float, default=None, help="mesh-edge smoothness weight (default: FitConfig's)"
    )
    p.add_argument(
        "--min-patch-pixels",
        type=int,
        default=None,
        help="fit: ignore patches smaller than this (default: FitConfig's)",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML with a fit: section of FitConfig overrides (the tables below were made with omniseg3d_mesh/configs/synthetic.yaml: the paper's loss)",
    )
    p.add_argument("--queries", type=int, default=4, help="queries per view")
    p.add_argument("--device", default="auto", help="torch device for fitting")
    p.add_argument("--json", type=Path, default=None, help="also write all numbers to this JSON file")
    args = p.parse_args(argv)
    q = args.quick
    args.seeds = args.seeds if args.seeds is not None else ([0] if q else [0, 1, 2])
    args.presets = args.presets or (["hard"] if q else ["clean", "medium", "hard"])
    args.views = args.views or (8 if q else 16)
    args.width = args.width or (240 if q else 320)
    args.height = args.height or (180 if q else 240)
    args.steps = args.steps or (600 if q else 2000)
    return args


def _fit_summary(args) -> str:
    from omniseg3d_mesh.config import FitConfig

    d = FitConfig()
    vals = {
        n: getattr(args, n) if getattr(args, n) is not None else getattr(d, n)
        for n in ("num_pixels", "lr", "lr_final", "smooth_weight", "min_patch_pixels")
    }
    return ", ".join(f"{k}={'auto' if v is None else format(v, 'g')}" for k, v in vals.items())


def _row(name, r):
    return f"| {name} | {r['level1']:.1f} | {r['level2']:.1f} | {r['average']:.1f} |"


def _mean(results):
    keys = [k for k in results[0] if isinstance(results[0][k], (int, float)) and not isinstance(results[0][k], bool)]
    return {k: float(np.mean([r[k] for r in results])) for k in keys}


def main(argv=None) -> int:
    args = _parse(argv)
    import torch

    from omniseg3d_mesh.config import FitConfig
    from omniseg3d_mesh.evaluation import evaluate_3d, evaluate_field, evaluate_masks, prepare_benchmark
    from omniseg3d_mesh.fit import fit_field

    torch.set_num_threads(max(1, torch.get_num_threads()))
    want = set(args.tables)
    variants = {(0.0, 16), (0.5, 16)}
    if "3" in want:
        variants |= {(lam, 16) for lam in LAMBDAS}
    if "4" in want:
        variants |= {(0.5, d) for d in DIMS}
    results: dict = {}
    t_start = time.time()
    base = {}
    if args.config is not None:
        from omniseg3d_mesh.config import load_config_file

        base = load_config_file(args.config, FitConfig)
    for preset in args.presets:
        for seed in args.seeds:
            t0 = time.time()
            data = prepare_benchmark(args.scene, preset, seed, args.views, args.width, args.height, args.queries)
            case = {"masks": evaluate_masks(data), "fits": {}, "fit_seconds": {}}
            for lam, dim in sorted(variants):
                cfg_kwargs = dict(base)
                cfg_kwargs.update(
                    steps=args.steps,
                    hier_lambda=lam,
                    feature_dim=dim,
                    seed=seed,
                    device=args.device,
                    checkpoint_every=0,
                )
                for name in ("num_pixels", "lr", "lr_final", "smooth_weight", "min_patch_pixels"):
                    if getattr(args, name) is not None:
                        cfg_kwargs[name] = getattr(args, name)
                t1 = time.time()
                field = fit_field(data.syn.scene, data.masks, FitConfig(**cfg_kwargs))
                case["fit_seconds"][f"{lam}/{dim}"] = time.time() - t1
                res = evaluate_field(field, data)
                res.pop("per_query")
                case["fits"][f"{lam}/{dim}"] = res
                if "3d" in want and (lam, dim) in {(0.0, 16), (0.5, 16)}:
                    case.setdefault("3d", {})[f"{lam}/{dim}"] = evaluate_3d(field, data, seed=seed)
                print(
                    f"[{preset} seed {seed}] lambda={lam} D={dim}: L1 {res['level1']:.1f} L2 {res['level2']:.1f} "
                    f"avg {res['average']:.1f} ({time.time() - t1:.0f}s)",
                    file=sys.stderr,
                    flush=True,
                )
            case["masks"].pop("per_query")
            case["num_queries"] = len(data.queries)
            case["seconds"] = time.time() - t0
            results[(preset, seed)] = case

    # ---------------------------------------------------------------- tables
    cmd = "python tools/eval_hierarchy.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = [
        f"Synthetic hierarchical benchmark: scene `{args.scene}`, {args.views} views at {args.width}x{args.height}, "
        f"{args.steps} fit steps, seeds {args.seeds}, {args.queries} queries/view, "
        f"fit settings {_fit_summary(args)}; mIoU in % "
        "(best threshold per query and level, paper Eq. 12), mean over seeds.",
        "",
    ]
    for preset in args.presets:
        cases = [results[(preset, s)] for s in args.seeds]
        nq = sum(c["num_queries"] for c in cases)
        fits = {k: _mean([c["fits"][k] for c in cases]) for k in cases[0]["fits"]}
        if "1" in want:
            lines += [
                f"**Table 1 ({preset} masks, {nq} queries)**",
                "",
                "| method | Level 1 | Level 2 | Average |",
                "|---|---|---|---|",
            ]
            lines.append(_row("2D masks only (best proposal containing the query)", _mean([c["masks"] for c in cases])))
            lines.append(_row("ours, w/o hierarchy (lambda = 0)", fits["0.0/16"]))
            lines.append(_row("ours, hierarchical (lambda = 0.5)", fits["0.5/16"]))
            lines.append("")
        if "3" in want:
            lines += [
                f"**Table 3 ({preset} masks): per-level decay lambda**",
                "",
                "| lambda | Level 1 | Level 2 | Average |",
                "|---|---|---|---|",
            ]
            for lam in LAMBDAS:
                lines.append(_row(f"{lam:g}", fits[f"{lam}/16"]))
            lines.append("")
        if "4" in want:
            lines += [
                f"**Table 4 ({preset} masks): feature dimension (lambda = 0.5)**",
                "",
                "| D | " + " | ".join(str(d) for d in DIMS) + " |",
                "|---|" + "---|" * len(DIMS),
            ]
            lines.append("| Avg. mIoU | " + " | ".join(f"{fits[f'0.5/{d}']['average']:.1f}" for d in DIMS) + " |")
            lines.append("")
        if "3d" in want:
            lines += [
                f"**3D metrics ({preset} masks)**",
                "",
                "| method | part ARI | part mIoU | object ARI | object mIoU (best level) | click mIoU (steps) | click mIoU (best threshold) |",
                "|---|---|---|---|---|---|---|",
            ]
            for key, name in (("0.0/16", "lambda = 0"), ("0.5/16", "lambda = 0.5")):
                m = _mean([c["3d"][key] for c in cases])
                lines.append(
                    f"| {name} | {m['part_ari']:.3f} | {m['part_miou']:.1f} | {m['object_ari']:.3f} | {m['object_miou']:.1f} | {m['click_miou']:.1f} | {m['click_miou_threshold']:.1f} |"
                )
            lines.append("")
    fit_s = [s for c in results.values() for s in c["fit_seconds"].values()]
    lines += [
        f"Command: `{cmd.strip()}`",
        "",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() and args.device != 'cpu' else 'CPU only'}; "
        f"total {time.time() - t_start:.0f} s, {np.mean(fit_s):.0f} s per fit.",
    ]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({f"{p}/{s}": c for (p, s), c in results.items()}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
