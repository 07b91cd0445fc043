"""Time the viewer's controller round trip (browser event -> new vertex colours) at ~1M vertices.

Builds the demo scene (floor + boxes, synthetic hierarchical field) at about a million
vertices, then times what each GUI action costs on the server: the ViewerState call
plus the colours it returns, and the encoding of what is sent to the browser.

    python tools/bench_viewer.py [--floor-cells 670] [--resolution 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    from omniseg3d_mesh.cli._ui import print_table
    from omniseg3d_mesh.viewer.app import _GlbEncoder
    from omniseg3d_mesh.viewer.demo import hierarchical_features, make_demo_scene
    from omniseg3d_mesh.viewer.state import ViewerState

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--resolution", type=int, default=5, help="demo box subdivision level (5: ~98k vertices per box)")
    p.add_argument("--floor-cells", type=int, default=800, help="floor grid cells per side (800: ~640k vertices)")
    p.add_argument("--repeats", type=int, default=3, help="clicks per timed action (different objects)")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    demo = make_demo_scene(args.resolution, floor_cells=args.floor_cells)
    feats = hierarchical_features(demo.labels)
    t_data = time.perf_counter() - t0
    t0 = time.perf_counter()
    st = ViewerState(feats, demo.vertices, demo.faces, demo.colors)
    st.warm_up()
    t_warm = time.perf_counter() - t0
    parts = demo.labels["part"]
    rng = np.random.default_rng(0)
    targets = [int(rng.choice(np.flatnonzero(parts == p))) for p in (1, 3, 5, 7, 2, 4)][: max(args.repeats, 1)]
    negs = [int(rng.choice(np.flatnonzero(parts == p))) for p in (2, 4, 6, 8, 1, 3)][: max(args.repeats, 1)]

    timings: dict[str, list[float]] = {}

    def timed(name: str, fn) -> None:
        t = time.perf_counter()
        colors = fn()
        assert colors.shape == (st.num_vertices, 3)
        timings.setdefault(name, []).append(time.perf_counter() - t)

    for v, n in zip(targets, negs):
        st.clear()
        timed("click (new object: scores, hierarchy, grow, colours)", lambda v=v: st.click(v))
        timed("bigger step", st.step_bigger)
        timed("smaller step", st.step_smaller)
        timed("threshold slider", lambda: st.set_threshold(max(-1.0, st.threshold - 0.1)))
        timed("negative click", lambda n=n: st.click(n, positive=False))
        timed("region growing off", lambda: st.set_grow(False))
        timed("region growing on", lambda: st.set_grow(True))
        timed(
            "shift-click (add object to multi-selection)",
            lambda v=v: st.click(targets[0] if v != targets[0] else targets[1], add_group=True),
        )
        timed("display: score heat map", lambda: st.set_mode("scores"))
        timed("display: feature PCA (cached)", lambda: st.set_mode("pca"))
        timed("display: selection", lambda: st.set_mode("selection"))

    colors = st.colors()
    t = time.perf_counter()
    enc = _GlbEncoder(st.vertices, st.faces)
    t_glb_init = time.perf_counter() - t
    for _ in range(max(args.repeats, 1)):
        t = time.perf_counter()
        glb = enc.encode(colors)
        timings.setdefault("encode GLB update (transport glb)", []).append(time.perf_counter() - t)
    for _ in range(max(args.repeats, 1)):
        t = time.perf_counter()
        buf = np.ascontiguousarray(colors).tobytes()
        timings.setdefault("colour buffer update (transport points)", []).append(time.perf_counter() - t)

    rows = [[name, f"{1000 * float(np.median(ts)):.0f}", f"{1000 * max(ts):.0f}"] for name, ts in timings.items()]
    print_table(
        f"viewer round trip, {st.num_vertices:,} vertices / {len(st.faces):,} faces, {os.cpu_count()} CPUs",
        ["action (server side)", "median ms", "max ms"],
        rows,
    )
    print(
        f"one-off: demo data {t_data:.1f} s, warm-up (graph, superpoints, PCA) {t_warm:.1f} s, GLB geometry encode {t_glb_init:.1f} s"
    )
    print(f"bytes per update: glb {len(glb) / 1e6:.1f} MB, points {len(buf) / 1e6:.1f} MB")
    print("command: python tools/bench_viewer.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
