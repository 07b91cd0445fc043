"""Benchmark click selection, hierarchy steps and discretization on a ~1M-vertex mesh.

The mesh is the synthetic floor-with-blocks height field of ``tests/select_data.py``
on an N x N grid (N = 1000 -> 1M vertices) with a synthetic hierarchical field
(part / object / group directions + noise, D = 16).

    /work/main/.venv/bin/python tools/bench_select.py [--n 1000] [--repeat 5] [--skip-discretize]

Timings on a shared machine are noisy: each latency is the median of --repeat runs.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from omniseg3d_mesh.discretize import Discretizer  # noqa: E402
from omniseg3d_mesh.select import Selector  # noqa: E402
from tests.select_data import iou, make_part_scene  # noqa: E402


def _median_time(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="grid side (vertices = n*n)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-discretize", action="store_true")
    args = ap.parse_args(argv)

    t = time.perf_counter()
    scene = make_part_scene(args.n)
    t_scene = time.perf_counter() - t
    v_count, f_count = len(scene.vertices), len(scene.faces)
    sel = Selector(scene.features, scene.vertices, scene.faces)
    t = time.perf_counter()
    sel.prepare(hierarchy=False)
    t_graph = time.perf_counter() - t
    t = time.perf_counter()
    sel.prepare(hierarchy=True)
    t_coarse = time.perf_counter() - t

    click_part = scene.vertex_in(2)
    click_floor = scene.vertex_in(0)
    rows = []
    lat, mask = _median_time(lambda: sel.select(f"v:{click_part}", 0.85), args.repeat)
    rows.append(("select part (grow, 0.85)", lat * 1e3, f"{int(mask.sum())} vertices, IoU part {iou(mask, scene.part == 2):.3f}", "<= 50 ms"))
    lat, mask = _median_time(lambda: sel.select(f"v:{click_part}", 0.3), args.repeat)
    rows.append(("select group (grow, 0.3)", lat * 1e3, f"{int(mask.sum())} vertices, IoU group {iou(mask, scene.group == 1):.3f}", "<= 50 ms"))
    lat, mask = _median_time(lambda: sel.select(f"v:{click_floor}", 0.85), args.repeat)
    rows.append(("select floor (grow, 0.85)", lat * 1e3, f"{int(mask.sum())} vertices ({mask.mean():.0%} of scene)", "<= 50 ms"))
    lat, steps = _median_time(lambda: sel.hierarchy(f"v:{click_part}"), args.repeat)
    desc = " -> ".join(f"{s.approx_size}" for s in steps)
    rows.append(("hierarchy steps (1 click)", lat * 1e3, f"{len(steps)} steps, sizes ~ {desc}", "<= 200 ms"))
    lat, mask = _median_time(lambda: sel.hierarchy(f"v:{click_part}")[1].mask, args.repeat)
    rows.append(("hierarchy + mask of step 1", lat * 1e3, f"{int(mask.sum())} vertices, IoU object {iou(mask, scene.object == 1):.3f}", ""))
    lat, lab = _median_time(lambda: sel.multi_select([[f"v:{click_part}"], [f"v:{scene.vertex_in(6)}"]], step=0), args.repeat)
    rows.append(("multi_select 2 groups (step 0)", lat * 1e3, f"{int((lab >= 0).sum())} labelled", ""))
    if not args.skip_discretize:
        t = time.perf_counter()
        est = Discretizer(min_part_size=50).fit(scene.features, scene.vertices, scene.faces)
        t_disc = time.perf_counter() - t
        from sklearn.metrics import adjusted_rand_score

        ari0 = adjusted_rand_score(scene.part, est.levels_[0])
        ari1 = adjusted_rand_score(scene.object, est.levels_[1])
        rows.append(("discretize (whole scene)", t_disc * 1e3, f"{est.tree_.num_parts(0)} parts, ARI parts {ari0:.3f}, objects {ari1:.3f}", "<= 30 s"))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    print(f"\nmesh: {v_count:,} vertices, {f_count:,} faces, D = {scene.features.shape[1]}")
    print(f"setup (once): scene {t_scene:.2f} s, vertex graph {t_graph:.2f} s, hierarchy superpoints {t_coarse:.2f} s")
    print()
    print(f"| {'operation':32s} | {'time (ms)':>10s} | {'target':9s} | result")
    print(f"|{'-' * 34}|{'-' * 12}|{'-' * 11}|{'-' * 40}")
    for name, ms, result, target in rows:
        print(f"| {name:32s} | {ms:10.1f} | {target:9s} | {result}")
    print(f"\npeak memory (max RSS): {peak_mb:.0f} MiB")
    print(f"command: python tools/bench_select.py --n {args.n} --repeat {args.repeat}" + (" --skip-discretize" if args.skip_discretize else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
