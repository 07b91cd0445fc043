"""``omniseg-mesh info MESH IMAGES/``: what was found, and whether cameras and geometry fit together."""

from __future__ import annotations

import argparse
from collections import Counter

HELP = "show what was found: geometry, cameras, views and coverage"

LOW_COVERAGE = 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mesh", nargs="?", metavar="MESH", help="mesh or point cloud (.ply, .obj, .off, .glb, .gltf)")
    parser.add_argument("images", nargs="?", metavar="IMAGES", help="folder of the calibrated images")
    parser.add_argument(
        "--cameras",
        default=None,
        metavar="PATH",
        help="camera file or folder (default: auto-detected next to / inside IMAGES)",
    )
    parser.add_argument(
        "--world-transform",
        default=None,
        metavar="FILE",
        help="4x4 matrix file (.txt/.npy/.json) mapping the cameras' world onto the mesh's, or nerfstudio's dataparser_transforms.json (scale included)",
    )
    parser.add_argument("--point-mode", action="store_true", help="treat a mesh as a point cloud")
    parser.add_argument(
        "--coverage-size",
        type=int,
        default=200,
        metavar="PX",
        help="long side, in pixels, of the reduced views the coverage check casts (default: 200)",
    )
    parser.add_argument(
        "--example", action="store_true", help="run on a small built-in example scene (written to a temporary folder)"
    )


def _summary_rows(scene, coverage) -> list[list]:
    n_v = scene.num_vertices
    rows = [["geometry", str(scene.source)]]
    if scene.is_point_cloud:
        rows.append(["points", f"{n_v:,}"])
    else:
        rows.append(["vertices", f"{n_v:,}"])
        rows.append(["faces", f"{len(scene.faces):,}"])
    rows.append(["colours", "yes" if scene.colors is not None else "no"])
    rows.append(["camera format", scene.camera_format or "-"])
    rows.append(["views", str(len(scene.cameras))])
    sizes = Counter((c.width, c.height) for c in scene.cameras)
    rows.append(["resolutions", ", ".join(f"{w}x{h} ({n})" for (w, h), n in sizes.most_common())])
    distorted = sum(c.is_distorted for c in scene.cameras)
    if distorted:
        rows.append(["distorted views", str(distorted)])
    if coverage is not None:
        rows.append(
            ["coverage", f"{100 * coverage.fraction:.1f}% of {'points' if scene.is_point_cloud else 'vertices'} seen"]
        )
    return rows


def run(args: argparse.Namespace) -> int:
    import tempfile

    from omniseg3d_mesh.cli._ui import UsageError, console, next_hint, print_table, progress_bars
    from omniseg3d_mesh.io.geometry import load_scene
    from omniseg3d_mesh.render.coverage import scene_coverage

    tmp = None
    mesh, images = args.mesh, args.images
    if args.example:
        from omniseg3d_mesh.io.example import write_example_scene

        tmp = tempfile.TemporaryDirectory(prefix="omniseg-example-")
        mesh, images = write_example_scene(tmp.name)
        console.print(f"example scene written to {tmp.name}")
    elif mesh is None or images is None:
        raise UsageError("info needs MESH and IMAGES/ (e.g. `omniseg-mesh info scene.ply images/`), or --example")
    try:
        scene = load_scene(
            mesh, images, cameras=args.cameras, point_mode=args.point_mode, world_transform=args.world_transform
        )
        coverage = None
        if scene.cameras:
            with progress_bars() as progress:
                coverage = scene_coverage(scene, long_side=args.coverage_size, progress=progress)
        print_table("omniseg-mesh info", ["", "found"], _summary_rows(scene, coverage))
        if coverage is None:
            next_hint(f"omniseg-mesh info {mesh} IMAGES/   (add the images folder to check the cameras)")
            return 0
        if len(scene.cameras) <= 30:
            print_table(
                "views",
                ["view", "size", "hit pixels", "vertices seen", "faces geometry"],
                [
                    [
                        v.name,
                        f"{v.width}x{v.height}",
                        f"{100 * v.hit_fraction:.1f}%",
                        v.vertices_seen,
                        "yes" if v.faces_geometry else "NO",
                    ]
                    for v in coverage.views
                ],  # fmt: skip
            )
        _warn(console, scene, coverage)
        if tmp is None:
            next_hint(f"omniseg-mesh fit {mesh} {images} --masks MASKS/   (or --sam-checkpoint FILE to make the masks)")
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


def _scale_ratio(scene) -> float | None:
    """Geometry bounding-box diagonal over the spread of the camera centres (None for < 2 cameras)."""
    import numpy as np

    centres = np.array([c.center for c in scene.cameras])
    spread = float(np.linalg.norm(centres.max(axis=0) - centres.min(axis=0))) if len(centres) > 1 else 0.0
    if spread <= 0:
        return None
    v = scene.vertices
    return float(np.linalg.norm(v.max(axis=0) - v.min(axis=0))) / spread


def _warn(console, scene, coverage) -> None:
    blind, away = coverage.blind_views, coverage.facing_away
    n = len(coverage.views)
    if len(blind) == n:
        hint = (
            f"the geometry's centre is behind {len(away)} of {n} cameras: the cameras face away from it, the classic "
            "OpenGL-vs-OpenCV axes flip or a camera-to-world / world-to-camera swap"
            if len(away) > n // 2
            else "the cameras and the geometry are probably in different world frames (scale, offset or up axis)"
        )
        ratio = _scale_ratio(scene)
        if ratio is not None and (ratio > 20 or ratio < 0.05):
            hint += (
                f"; the geometry is {ratio:.3g} times the size of the camera rig (different units, e.g. mm vs m, "
                "or a normalised NeRF frame?)"
            )
        console.print(
            f"[bold yellow]warning:[/] no camera sees the geometry (all rays miss): {hint}. "
            "Check that --cameras is the calibration of these images and that the mesh is in the same frame; "
            "pass --world-transform to align them."
        )
        return
    if blind:
        more = f" and {len(blind) - 5} more" if len(blind) > 5 else ""
        console.print(
            f"[bold yellow]warning:[/] {len(blind)} of {n} views see nothing ({', '.join(blind[:5])}{more}); "
            "those cameras may be misplaced or belong to another scene"
        )
    if coverage.fraction < LOW_COVERAGE:
        ratio = _scale_ratio(scene)
        units = (
            f" The geometry is {ratio:.3g} times the size of the camera rig: different units (mm vs m) or frames?"
            if ratio is not None and (ratio > 20 or ratio < 0.05)
            else ""
        )
        console.print(
            f"[bold yellow]warning:[/] low coverage: only {100 * coverage.fraction:.1f}% of the "
            f"{'points' if scene.is_point_cloud else 'vertices'} are seen by any view; unseen parts get features "
            f"only by diffusion from their neighbours. Add views of the hidden parts, or check the camera frame.{units}"
        )
