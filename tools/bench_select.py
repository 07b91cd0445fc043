"""Benchmark click selection, hierarchy steps and discretization on a ~1M-vertex mesh.

The mesh is the synthetic floor-with-blocks height field of ``tests/helpers/parts.py``
on an N x N grid (N = 1000 -> 1M vertices) with a synthetic hierarchical field
(part / object / group directions + noise, D = 16).

    /work/main/.venv/bin/python tools/bench_select.py [--n 1000] [--repeat 5] [--skip-discretize]

Timings on a shared machine are noisy: each latency is the median of --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import median_time  # noqa: E402

from omniseg3d_mesh.config import SelectConfig  # noqa: E402
from omniseg3d_mesh.discretize import Discretizer  # noqa: E402
from omniseg3d_mesh.select import Selector  # noqa: E402
from tests.helpers.parts import iou, make_part_scene  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="grid side (vertices = n*n)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--noise", type=float, default=0.15, help="feature noise (0.15: same-part cosine ~0.97; 0.5: ~0.8)")
    ap.add_argument("--smooth-iters", type=int, default=0, help="SelectConfig.smooth_iters (2 for a noisy field)")
    ap.add_argument("--skip-discretize", action="store_true")
    args = ap.parse_args(argv)

    t = time.perf_counter()
    scene = make_part_scene(args.n, noise=args.noise)
    t_scene = time.perf_counter() - t
    v_count, f_count = len(scene.vertices), len(scene.faces)
    sel = Selector(scene.features, scene.vertices, scene.faces, config=SelectConfig(smooth_iters=args.smooth_iters))
    t = time.perf_counter()
    sel.prepare(hierarchy=False)
    _ = sel.score_features
    t_graph = time.perf_counter() - t
    t = time.perf_counter()
    sel.prepare(hierarchy=True)
    t_coarse = time.perf_counter() - t

    click_part = scene.vertex_in(2)
    click_floor = scene.vertex_in(0)
    # thresholds from the clicks' own hierarchy steps (part, group; the floor's first step)
    t_part, _, t_group = (st.threshold for st in sel.hierarchy(f"v:{click_part}")[:3])
    t_floor = sel.hierarchy(f"v:{click_floor}")[0].threshold
    rows = []
    lat, mask = median_time(lambda: sel.select(f"v:{click_part}", t_part), args.repeat)
    rows.append(
        (
            f"select part (grow, t={t_part:.2f})",
            lat * 1e3,
            f"{int(mask.sum())} vertices, IoU part {iou(mask, scene.part == 2):.3f}",
            "<= 50 ms",
        )
    )
    lat, mask = median_time(lambda: sel.select(f"v:{click_part}", t_group), args.repeat)
    rows.append(
        (
            f"select group (grow, t={t_group:.2f})",
            lat * 1e3,
            f"{int(mask.sum())} vertices, IoU group {iou(mask, scene.group == 1):.3f}",
            "<= 50 ms",
        )
    )
    lat, mask = median_time(lambda: sel.select(f"v:{click_floor}", t_floor), args.repeat)
    rows.append(
        (
            f"select floor (grow, t={t_floor:.2f})",
            lat * 1e3,
            f"{int(mask.sum())} vertices ({mask.mean():.0%} of scene)",
            "<= 50 ms",
        )
    )
    lat, steps = median_time(lambda: sel.hierarchy(f"v:{click_part}"), args.repeat)
    desc = " -> ".join(f"{s.approx_size}" for s in steps)
    rows.append(("hierarchy steps (1 click)", lat * 1e3, f"{len(steps)} steps, sizes ~ {desc}", "<= 200 ms"))
    lat, mask = median_time(lambda: sel.hierarchy(f"v:{click_part}")[1].mask, args.repeat)
    rows.append(
        (
            "hierarchy + mask of step 1",
            lat * 1e3,
            f"{int(mask.sum())} vertices, IoU object {iou(mask, scene.object == 1):.3f}",
            "",
        )
    )
    lat, lab = median_time(
        lambda: sel.multi_select([[f"v:{click_part}"], [f"v:{scene.vertex_in(6)}"]], step=0), args.repeat
    )
    rows.append(("multi_select 2 groups (step 0)", lat * 1e3, f"{int((lab >= 0).sum())} labelled", ""))
    if not args.skip_discretize:
        t = time.perf_counter()
        est = Discretizer(min_part_size=50).fit(scene.features, scene.vertices, scene.faces)
        t_disc = time.perf_counter() - t
        from sklearn.metrics import adjusted_rand_score

        ari0 = adjusted_rand_score(scene.part, est.levels_[0])
        ari1 = max(adjusted_rand_score(scene.object, lab) for lab in est.levels_)
        rows.append(
            (
                "discretize (whole scene)",
                t_disc * 1e3,
                f"{est.tree_.num_parts(0)} parts, ARI parts {ari0:.3f}, objects {ari1:.3f} (best level); automatic level: {est.tree_.num_parts(est.level_)} parts",
                "<= 30 s",
            )
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    print(f"\nmesh: {v_count:,} vertices, {f_count:,} faces, D = {scene.features.shape[1]}, feature noise {args.noise}")
    print(f"setup (once): scene {t_scene:.2f} s, vertex graph {t_graph:.2f} s, hierarchy superpoints {t_coarse:.2f} s")
    print()
    print(f"| {'operation':32s} | {'time (ms)':>10s} | {'target':9s} | result")
    print(f"|{'-' * 34}|{'-' * 12}|{'-' * 11}|{'-' * 40}")
    for name, ms, result, target in rows:
        print(f"| {name:32s} | {ms:10.1f} | {target:9s} | {result}")
    print(f"\npeak memory (max RSS): {peak_mb:.0f} MiB")
    print(
        f"load average during the run: {os.getloadavg()[0]:.1f} (2-core CPU shared with other jobs: timings are noisy)"
    )
    print(
        f"command: python tools/bench_select.py --n {args.n} --repeat {args.repeat} --noise {args.noise} --smooth-iters {args.smooth_iters}"
        + (" --skip-discretize" if args.skip_discretize else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
