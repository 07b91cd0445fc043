#!/usr/bin/env python
"""How faithfully point splats reproduce the mesh's visibility on a room (no fit).

For every ``--every``-th view of a cached room (``tools/eval_rooms.py`` builds and caches
it), the pixels the mesh's ray casting covers are compared with the point splats of the
same vertices: the share of covered pixels whose winning point belongs to another object
than the mesh shows there (those pixels hand that object's masks to the wrong points),
the share left empty (both for the fit's fragments, outline empty, and for renders, outline
covered), and the share of vertices that win at least one pixel in the fit's fragments. Rows:
camera-facing discs (``oriented=False``, the splatting before surfels) and surfels (the
default).

    python tools/splat_check.py                 # room seed 0, 80 views at 640x480
    python tools/splat_check.py --seed 1 --every 4
    python tools/splat_check.py --ablate        # + outline past 0.4 and 0.6 of the radius
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--views", type=int, default=80)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--every", type=int, default=10, help="use every n-th view")
    p.add_argument("--cache", default="/tmp/omniseg_rooms")
    p.add_argument("--ablate", action="store_true", help="also other outline distances (docs/results.md)")
    p.add_argument(
        "--point-source",
        choices=["scan", "vertices"],
        default="scan",
        help="the cloud: evenly spaced surface points (default) or the mesh's own vertices",
    )
    args = p.parse_args(argv)

    import eval_rooms as er

    from omniseg3d_mesh.render.fragments import load_or_compute_fragments
    from omniseg3d_mesh.synthetic.masks import gt_label_maps

    case = er.prepare_room(args.seed, args.views, "90k", args.width, args.height, cache=args.cache)
    mesh, syn = case.scene, case.syn
    cloud_case = er.prepare_room(
        args.seed,
        args.views,
        "90k",
        args.width,
        args.height,
        cache=args.cache,
        point_mode=True,
        point_source=args.point_source,
    )
    cloud, obj_pt = cloud_case.scene, cloud_case.syn.labels["object"]
    if args.point_source == "scan":  # each point's triangle, to tell which points lie on what the mesh shows
        from omniseg3d_mesh.synthetic.scenes import scan_points

        tri = np.asarray(mesh.faces)[scan_points(syn, seed=args.seed)[1]]
    else:
        tri = np.arange(mesh.num_vertices)[:, None]
    cams = mesh.cameras[:: args.every]
    ghash = mesh.geometry_hash()
    print(
        f"Room seed {args.seed}: {mesh.num_vertices} vertices, {cloud.num_vertices} points ({args.point_source}), "
        f"{len(cams)} of {len(mesh.cameras)} views at {args.width}x{args.height}.\n"
    )
    print(
        "| splats | fit: covered pixels showing another object than the mesh | fit: mesh pixels left empty "
        "| render (outline covered): another object | render: left empty | vertices winning a pixel "
        "(of those on what the mesh shows) |"
    )
    print("|---|---|---|---|---|---|")
    from omniseg3d_mesh.render import points

    rows = [("camera-facing discs", False, {}), ("surfels (default)", True, {})]
    if args.ablate:  # the outline distance (module constant of render/points.py, in squared radii)
        rows[1:1] = [
            ("surfels, outline past 0.4 radius", True, {"_FRINGE": 0.16}),
            ("surfels, outline past 0.6 radius", True, {"_FRINGE": 0.36}),
        ]
    for name, oriented, overrides in rows:
        saved = {k: getattr(points, k) for k in overrides}
        for k, v in overrides.items():
            setattr(points, k, v)
        covered = 0
        wrong, empty = np.zeros(2, np.int64), np.zeros(2, np.int64)  # fit, render
        won = np.zeros(cloud.num_vertices, bool)
        shown = np.zeros(mesh.num_vertices, bool)
        for cam in cams:
            fm = load_or_compute_fragments(mesh, cam, case.workspace, backend="cpu", geometry_hash=ghash)
            om = gt_label_maps(syn, fm)["object"]
            ok = (fm.vertex_ids >= 0) & (fm.weights > 0)
            shown[fm.vertex_ids[ok]] = True
            full = points.splat_points(cloud, cam, oriented=oriented)
            covered += int((om >= 0).sum())
            for i, frags in enumerate((full.without_outline(), full)):
                vid = frags.vertex_ids[..., 0]
                if i == 0:
                    won[vid[vid >= 0]] = True
                op = np.where(vid >= 0, obj_pt[np.maximum(vid, 0)], -1)
                both = (om >= 0) & (op >= 0)
                wrong[i] += int((both & (om != op)).sum())
                empty[i] += int(((om >= 0) & (op < 0)).sum())
        for k, v in saved.items():
            setattr(points, k, v)
        w, e = 100 * wrong / covered, 100 * empty / covered
        print(
            f"| {name} | {w[0]:.2f} % | {e[0]:.2f} % | {w[1]:.2f} % | {e[1]:.2f} % | {100 * won[shown[tri].any(axis=1)].mean():.1f} % |"
        )
    print(f"\nCommand: `python tools/splat_check.py {' '.join(sys.argv[1:] if argv is None else argv)}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
