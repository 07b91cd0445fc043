"""Benchmark geometry loading (every format) and the coverage check of ``omniseg-mesh info``.

A random triangle soup with V vertices and 2V faces is written as binary PLY, ascii
PLY, OBJ (with separate vt indices), OFF and GLB, then loaded with
``load_geometry``; coverage is measured on the same mesh with a ring of cameras.

    /work/main/.venv/bin/python tools/bench_io.py [--vertices 500000] [--views 20] [--repeat 3]

Each time is the median of --repeat runs (the machine is shared; expect noise).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import median_time  # noqa: E402

from omniseg3d_mesh.io.geometry import load_geometry, save_ply  # noqa: E402
from omniseg3d_mesh.render.coverage import scene_coverage  # noqa: E402
from omniseg3d_mesh.scene import Scene  # noqa: E402
from omniseg3d_mesh.synthetic.assembly import ring_cameras  # noqa: E402
from tests.helpers.formats import write_glb, write_obj, write_off, write_ply_ascii  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vertices", type=int, default=500_000)
    ap.add_argument("--views", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    import logging

    logging.getLogger("omniseg3d_mesh").setLevel(logging.ERROR)
    rng = np.random.default_rng(0)
    nv = args.vertices
    # a wavy sheet: a real surface, so coverage has something to see
    side = int(np.sqrt(nv))
    nv = side * side
    x, y = np.meshgrid(np.linspace(-1, 1, side), np.linspace(-1, 1, side))
    v = np.stack([x.ravel(), y.ravel(), 0.1 * np.sin(6 * x.ravel()) * np.cos(5 * y.ravel())], 1)
    i = np.arange(side - 1)
    a = (i[:, None] * side + i[None, :]).ravel()
    faces = np.concatenate([np.stack([a, a + 1, a + side], 1), np.stack([a + 1, a + side + 1, a + side], 1)])
    faces = faces[rng.permutation(len(faces))]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        writers = {
            "PLY binary": (tmp / "m.ply", lambda p: save_ply(p, v, faces)),
            "PLY ascii": (tmp / "a.ply", lambda p: write_ply_ascii(p, v, faces)),
            "OBJ (v/vt)": (tmp / "m.obj", lambda p: write_obj(p, v, faces)),
            "OFF": (tmp / "m.off", lambda p: write_off(p, v, faces)),
            "GLB": (tmp / "m.glb", lambda p: write_glb(p, [(v, faces, (0, 0, 0), None)])),
        }
        for name, (path, write) in writers.items():
            write(path)
            t, (verts, tri, _) = median_time(lambda path=path: load_geometry(path), args.repeat)
            assert len(verts) == nv and len(tri) == len(faces)
            rows.append((f"load {name}", f"{path.stat().st_size / 2**20:.0f} MiB", t))
    scene = Scene(vertices=v, faces=faces)
    scene.cameras = ring_cameras(
        args.views, radius=2.0, elevation=1.5, target=(0, 0, 0), width=1280, height=960, fov_y_deg=60.0, name="{}"
    )
    t, cov = median_time(lambda: scene_coverage(scene, long_side=200), args.repeat)
    rows.append((f"coverage, {args.views} views at 200 px", f"{100 * cov.fraction:.1f}% seen", t))
    print(f"\n{nv:,} vertices, {len(faces):,} faces; median of {args.repeat} runs")
    print(f"{'what':<34} {'size / result':>14} {'seconds':>9}")
    for what, extra, sec in rows:
        print(f"{what:<34} {extra:>14} {sec:>9.2f}")
    print(
        f"\nreproduce: /work/main/.venv/bin/python tools/bench_io.py --vertices {args.vertices} --views {args.views} --repeat {args.repeat}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
