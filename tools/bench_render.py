"""Benchmark rendering labels back onto views: fragments, point splatting, label files.

Prints a table and the command that reproduces it. Run from the repository root:

    python tools/bench_render.py [--vertices 100000] [--views 20] [--width 640] [--height 480]
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing


def make_mesh(target_vertices: int, seed: int = 0):
    """Spheres (one part each) on a floor, about ``target_vertices`` vertices in all."""
    import trimesh

    from omniseg3d_mesh.synthetic.assembly import assemble_parts

    rng = np.random.default_rng(seed)
    parts = [trimesh.creation.box(extents=(6, 6, 0.1)).subdivide().subdivide()]
    per = len(trimesh.creation.icosphere(subdivisions=4).vertices)
    for _ in range(max(1, target_vertices // per)):
        c = np.append(rng.uniform(-2.2, 2.2, 2), rng.uniform(0.3, 1.2))
        parts.append(trimesh.creation.icosphere(subdivisions=4, radius=rng.uniform(0.2, 0.5)).apply_translation(c))
    return assemble_parts(parts)


def main() -> None:
    from omniseg3d_mesh.render.fragments import compute_fragments
    from omniseg3d_mesh.render.labels import render_views
    from omniseg3d_mesh.render.points import default_point_radius, splat_points
    from omniseg3d_mesh.scene import Scene
    from omniseg3d_mesh.synthetic.assembly import ring_cameras

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vertices", type=int, default=100000)
    ap.add_argument("--views", type=int, default=20)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    v, f, labels = make_mesh(args.vertices)
    cams = ring_cameras(args.views, radius=5.0, elevation=3.0, target=(0, 0, 0.5), width=args.width, height=args.height,
                        fov_y_deg=60.0, name="v{:03d}.png")  # fmt: skip
    mesh = Scene(vertices=v, faces=f, cameras=cams)
    cloud = Scene(vertices=v, cameras=cams)
    rows = []

    t = time.perf_counter()
    for cam in cams:
        compute_fragments(mesh, cam, "cpu")
    dt = time.perf_counter() - t
    rows.append(("mesh fragments (cpu ray casting)", dt, dt / len(cams)))

    t = time.perf_counter()
    radius = default_point_radius(v)
    rows.append(("point radius (cKDTree)", time.perf_counter() - t, float("nan")))
    t = time.perf_counter()
    for cam in cams:
        splat_points(cloud, cam, radius)
    dt = time.perf_counter() - t
    rows.append(("point splatting (torch scatter amin)", dt, dt / len(cams)))

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        rep = render_views(mesh, labels, Path(tmp) / "views", backend="cpu")
        dt = time.perf_counter() - t
    rows.append(("render_views: labels + overlays + COCO", dt, dt / len(cams)))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(
        f"\n{len(v)} vertices, {len(f)} faces, {len(cams)} views at {args.width}x{args.height}, "
        f"{rep.annotations} COCO annotations; {platform.processor() or platform.machine()}"
    )
    print(f"| {'stage':<42} | {'total s':>8} | {'per view s':>10} |")
    print(f"|{'-' * 44}|{'-' * 10}|{'-' * 12}|")
    for name, total, per in rows:
        print(f"| {name:<42} | {total:8.2f} | {per:10.3f} |")
    print(f"peak RSS {rss:.0f} MB")
    threads = f" --threads {args.threads}" if args.threads else ""
    print(
        f"reproduce: python tools/bench_render.py --vertices {args.vertices} --views {args.views} --width {args.width} --height {args.height}{threads}"
    )


if __name__ == "__main__":
    main()
