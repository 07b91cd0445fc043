#!/usr/bin/env python
"""Object level of a room: does the default discretization find the objects?

Builds a synthetic room (``synthetic.make_scene``), simulates SAM-like masks, fits the
field with the DEFAULT FitConfig, discretizes it with the DEFAULT DiscretizeConfig
(automatic level) and with the alternatives below, and scores each against the
ground-truth objects (floor and walls included, each its own object) with
``evaluation.score_discretization``: adjusted Rand index and Hungarian-matched mIoU.

    python tools/eval_room_objects.py                    # seeds 0 1, small room, hard masks
    python tools/eval_room_objects.py --seeds 0 --cache /tmp/room_cache
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

VARIANTS = {
    "defaults (automatic level from the training masks)": {},
    "automatic level from the field alone (noise-floor persistence; the default before masks)": {
        "mask_granularity": False
    },
    "automatic level, no boundary snapping": {"snap_distance": 0.0},
    "finest parts (level 0; the default before issue 14)": {"level": 0, "snap_distance": 0.0},
    "level 1 (similarity 0.7)": {"level": 1},
}


def _parse(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[1], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--scene", default="small", choices=["small", "medium", "large"], help="room tessellation preset")
    p.add_argument("--masks", default="hard", choices=["clean", "medium", "hard"], help="SAM-like error preset")
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1])
    p.add_argument("--views", type=int, default=16)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--steps", type=int, default=None, help="fit steps (default: FitConfig's)")
    p.add_argument("--cache", type=Path, default=None, help="keep fitted fields here (keyed by the settings)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = _parse(argv)
    from omniseg3d_mesh.config import DiscretizeConfig, FitConfig
    from omniseg3d_mesh.discretize import pixel_vertices
    from omniseg3d_mesh.evaluation import prepare_benchmark, score_discretization
    from omniseg3d_mesh.fit import fit_field

    t0 = time.time()
    rows = {name: [] for name in VARIANTS}
    for seed in args.seeds:
        data = prepare_benchmark(args.scene, args.masks, seed, args.views, args.width, args.height)
        sc = data.syn.scene
        cfg = FitConfig(seed=seed, checkpoint_every=0, **({"steps": args.steps} if args.steps else {}))
        key = f"room_{args.scene}_{args.masks}_{seed}_{args.views}_{args.width}x{args.height}_{cfg.steps}.npy"
        path = args.cache / key if args.cache else None
        if path is not None and path.is_file():
            feats = np.load(path)
        else:
            feats = fit_field(sc, data.masks, cfg).features
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, feats)
        # the training masks and their fragments, as discretize_workspace passes them
        views = [
            (pixel_vertices(data.fragments[v].vertex_ids, data.fragments[v].weights), m) for v, m in data.masks.items()
        ]
        for name, kw in VARIANTS.items():
            r = score_discretization(
                feats, sc.vertices, sc.faces, data.syn.labels["object"], DiscretizeConfig(**kw), views=views
            )
            rows[name].append(r)
            print(
                f"[seed {seed}] {name}: {r['parts']} parts (GT {r['gt_segments']}), ARI {r['ari']:.3f}, mIoU {r['miou']:.1f}",
                file=sys.stderr,
                flush=True,
            )
    cmd = "python tools/eval_room_objects.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = [
        f"Object level of the synthetic room `{args.scene}` ({args.masks} masks, {args.views} views at {args.width}x{args.height}, "
        f"default fit), seeds {args.seeds}: mean (± std over seeds).",
        "",
        "| discretization | parts (GT objects) | object ARI | matched object mIoU (%) |",
        "|---|---|---|---|",
    ]
    for name, rs in rows.items():
        parts = np.mean([r["parts"] for r in rs])
        gt = np.mean([r["gt_segments"] for r in rs])
        ari = [r["ari"] for r in rs]
        miou = [r["miou"] for r in rs]
        lines.append(
            f"| {name} | {parts:.1f} ({gt:.1f}) | {np.mean(ari):.3f} ± {np.std(ari):.3f} | {np.mean(miou):.1f} ± {np.std(miou):.1f} |"
        )
    lines += [
        "",
        f"Command: `{cmd.strip()}`",
        "",
        f"Machine: {platform.machine()}, CPU; total {time.time() - t0:.0f} s.",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
