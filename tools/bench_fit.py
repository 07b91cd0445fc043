"""Benchmark ``fit_field`` end to end on a synthetic scene of objects made of parts.

A floor with a 4x4 grid of objects (2-3 parts each: boxes, cylinders, spheres), about
100k vertices (``--vertices``), 60 views (``--views``) on a hemisphere ring at 640x480.
Masks come from the ground-truth part/object labels rendered through the fragments,
made to disagree between views the way SAM's do: every 3rd view misses a part mask,
every 4th merges two neighbouring objects, every 5th splits a part in two.

Per device (``--device cpu cuda`` runs each in its own process, so peak RSS and GPU
memory are each run's own) it prints: rasterize (the fragment pass with ``--backend``,
written to the workspace cache), cache writes (time the background writer spent,
overlapped with the rasterization), prepare (cache load + masks + hierarchies), fit
(the step loop, steps/s), total (fragments + the whole ``fit_field`` call), peak RSS
(once every view is prepared, and at the end: the difference is what the step loop adds),
peak GPU memory (CUDA), and quality: mean cosine similarity between vertices of the
same part / other parts of the same object / other objects (on 4000 random object
vertices that some view sees), and the gaps between them; the last column draws the
4000 vertices by surface area instead (the same surface weighs the same at any vertex
count: this scene refines only some objects at 2M, and its cylinders gain vertices
faster than its boxes, so the vertex-weighted gaps also change with the mix). ``--steps 250 500 1000``
runs one fit per value (the cosine schedule depends on the total).

``--masks disk`` writes each view's masks to an npz and fits from
``load_masks(..., lazy=True)`` (one view's masks in memory at a time), the way
``omniseg-mesh fit --masks DIR`` runs; ``memory`` keeps them in a dict.

    python tools/bench_fit.py --threads 1                     # the default table (CPU)
    python tools/bench_fit.py --device cpu cuda --backend auto
    python tools/bench_fit.py --vertices 1000000 --views 300 --masks disk --steps 20 --threads 1
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def make_scene(target_vertices: int = 100_000, num_views: int = 60, width: int = 640, height: int = 480, seed: int = 0):
    """Returns (scene, part [V], object [V]); the floor is part 0 / object 0."""
    import trimesh

    from omniseg3d_mesh.scene import Scene
    from omniseg3d_mesh.synthetic.assembly import assemble_parts, ring_cameras

    rng = np.random.default_rng(seed)
    T = trimesh.transformations.translation_matrix

    def box(size, centre, sub):
        m = trimesh.creation.box(extents=size, transform=T(centre))
        for _ in range(sub):
            m = m.subdivide()
        return m

    def part_mesh(kind, size, centre, sub):
        if kind == "box":
            return box(size, centre, sub)
        if kind == "cyl":
            m = trimesh.creation.cylinder(
                radius=size[0], height=size[1], sections=32 * 2 ** max(sub - 3, 0), transform=T(centre)
            )
            for _ in range(max(sub - 2, 0)):
                m = m.subdivide()
            return m
        m = trimesh.creation.icosphere(subdivisions=max(sub, 1), radius=size)
        m.apply_translation(centre)
        return m

    def build(sub, fine_objects=16):
        """Objects 1..fine_objects at subdivision level ``sub``, the rest one level coarser."""
        meshes = [(box((7, 7, 0.1), (0, 0, -0.05), sub + 2), 0, 0)]
        part = 1
        for o, (gx, gy) in enumerate(
            [(x, y) for x in (-2.25, -0.75, 0.75, 2.25) for y in (-2.25, -0.75, 0.75, 2.25)], start=1
        ):
            kind = o % 3
            cx, cy = gx + rng.uniform(-0.1, 0.1), gy + rng.uniform(-0.1, 0.1)
            if kind == 0:  # table-like: base + top + side block
                parts = [
                    ("box", (0.7, 0.7, 0.5), (cx, cy, 0.25)),
                    ("box", (0.9, 0.9, 0.12), (cx, cy, 0.56)),
                    ("box", (0.25, 0.25, 0.3), (cx + 0.2, cy + 0.2, 0.77)),
                ]
            elif kind == 1:  # lamp-like: cylinder + sphere
                parts = [("cyl", (0.25, 0.7), (cx, cy, 0.35)), ("sphere", 0.3, (cx, cy, 0.98))]
            else:  # two stacked boxes
                parts = [("box", (0.8, 0.5, 0.4), (cx, cy, 0.2)), ("box", (0.8, 0.5, 0.4), (cx, cy, 0.6))]
            for kind_, size, centre in parts:
                meshes.append((part_mesh(kind_, size, centre, sub if o <= fine_objects else sub - 1), part, o))
                part += 1
        return meshes

    sub = 1
    while True:
        meshes = build(sub)
        n = sum(len(m.vertices) for m, _, _ in meshes)
        if n >= 0.5 * target_vertices or sub >= 6:
            break
        sub += 1
    if n > 1.5 * target_vertices and sub > 1:
        # levels jump ~4x (0.36M -> 2.04M): refine only as many objects as land near the target
        coarse = sum(len(m.vertices) for m, _, _ in build(sub, fine_objects=0))
        fine = int(np.clip(round(16 * (target_vertices - coarse) / max(n - coarse, 1)), 0, 16))
        meshes = build(sub, fine_objects=fine)
    verts, faces, piece = assemble_parts([m for m, _, _ in meshes])
    cams = ring_cameras(num_views, radius=(4.5, 6.5), elevation=(2.0, 3.5), jitter=0.05, target_jitter=1.2, rng=rng,
                        width=width, height=height, fov_y_deg=50)  # fmt: skip
    part_of, obj_of = np.array([p for _, p, _ in meshes]), np.array([o for _, _, o in meshes])
    return Scene(vertices=verts, faces=faces, cameras=cams), part_of[piece], obj_of[piece]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


COLUMNS = [
    "device",
    "fragments",
    "steps",
    "rasterize s",
    "cache writes s (background)",
    "prepare s",
    "fit s (steps/s)",
    "total s",
    "peak RSS MB (prepared / end)",
    "GPU MB",
    "cos same part",
    "cos other part",
    "cos other obj",
    "gap part",
    "gap object",
    "gap part / object (area)",
]


def run_device(args) -> tuple[str, list[list]]:
    """One device: fragments pass, masks, one fit per ``--steps`` value; returns (scene summary, table rows)."""
    import torch

    from omniseg3d_mesh.config import FitConfig, FragmentConfig, config_from_dict, load_config_file
    from omniseg3d_mesh.evaluation import similarity_levels
    from omniseg3d_mesh.fit import fit_field
    from omniseg3d_mesh.graph import vertex_areas
    from omniseg3d_mesh.io.masks import load_masks, mask_key, save_masks_npz
    from omniseg3d_mesh.render.fragments import iter_fragments, resolve_backend
    from omniseg3d_mesh.synthetic.masks import label_map_masks
    from omniseg3d_mesh.workspace import Workspace

    cuda = args.device.startswith("cuda")
    t = time.perf_counter()
    scene, part, obj = make_scene(args.vertices, args.views, args.width, args.height)
    t_scene = time.perf_counter() - t
    kind = resolve_backend(args.backend, scene, scene.cameras[0])
    print(
        f"scene: {scene.num_vertices} vertices, {len(scene.faces)} faces, {len(scene.cameras)} views "
        f"{args.width}x{args.height}, {part.max()} parts in {obj.max()} objects ({t_scene:.1f} s); "
        f"fragments: {kind}; fit device: {args.device}",
        flush=True,
    )

    # object neighbours (nearest centroid) for the merge disagreement
    cents = np.stack([scene.vertices[obj == o].mean(0) for o in range(obj.max() + 1)])
    d = np.linalg.norm(cents[:, None, :2] - cents[None, :, :2], axis=2)
    d[0, :] = d[:, 0] = d[np.arange(len(d)), np.arange(len(d))] = np.inf
    neighbours = {o: int(np.argmin(d[o])) for o in range(1, len(d))}

    # time the fragment cache writes (on the background writer) apart from the rasterization
    import omniseg3d_mesh.render.fragments as fragments_module

    save_time = [0.0]
    original_save = fragments_module.atomic_save_npz

    def timed_save(*a, **kw):
        t0 = time.perf_counter()
        try:
            return original_save(*a, **kw)
        finally:
            save_time[0] += time.perf_counter() - t0

    fragments_module.atomic_save_npz = timed_save
    tmp = tempfile.TemporaryDirectory(prefix="bench_fit_")
    ws = Workspace(Path(tmp.name) / "ws")
    masks_dir = Path(tmp.name) / "masks"
    rng = np.random.default_rng(0)
    masks = {}
    n_masks = 0
    seen = np.zeros(scene.num_vertices, bool)  # vertices some view sees (quality is measured on those)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t_frag = 0.0
    t = time.perf_counter()
    for k, (cam, frags) in enumerate(iter_fragments(scene, workspace=ws, backend=args.backend)):
        t_frag += time.perf_counter() - t
        dom = frags.dominant_vertex()
        pmap = np.where(dom >= 0, part[np.clip(dom, 0, None)], -1)
        omap = np.where(dom >= 0, obj[np.clip(dom, 0, None)], -1)
        view_masks = label_map_masks(pmap, omap, k, rng, neighbours, min_pixels=16)
        n_masks += len(view_masks)
        if args.masks == "disk":
            save_masks_npz(masks_dir / f"{mask_key(cam.name)}.npz", view_masks)
        else:
            masks[cam.name] = view_masks
        hit = frags.face_ids[frags.face_ids >= 0]
        seen[scene.faces[hit].ravel()] = True
        del frags, dom, pmap, omap, view_masks
        t = time.perf_counter()
    t_frag += time.perf_counter() - t  # the generator's close waits for the last write
    fragments_module.atomic_save_npz = original_save
    t_cache = save_time[0]
    if args.masks == "disk":
        masks = load_masks(masks_dir, scene.cameras, lazy=True)
    print(
        f"fragments: {t_frag:.1f} s wall, the cache writer busy {t_cache:.1f} s of it; "
        f"masks: {n_masks} ({n_masks / len(scene.cameras):.1f} per view, {args.masks})",
        flush=True,
    )

    area = vertex_areas(scene.vertices, scene.faces)  # the area-weighted gaps do not change with the tessellation
    base = {}
    if args.config:
        base.update(load_config_file(args.config, FitConfig))
    for name in ("num_pixels", "lr", "hier_lambda", "smooth_weight"):
        if getattr(args, name) is not None:
            base[name] = getattr(args, name)
    base.update(device=args.device, num_threads=args.threads, checkpoint_every=0)
    rows = []
    for steps in args.steps:
        cfg_values = dict(base)
        if steps is not None:
            cfg_values["steps"] = steps
        cfg = config_from_dict(FitConfig, cfg_values)
        speed = {}

        def progress(stage, done, total, *, _speed=speed, **info):
            if stage == "fit" and "steps_per_s" in info:
                _speed["v"] = info["steps_per_s"]
            if stage == "hierarchy" and done == total:  # prepare_views is done: what the views cost
                _speed["rss_prepared"] = peak_rss_mb()

        t = time.perf_counter()
        field = fit_field(
            scene, masks, cfg, workspace=ws, fragment_config=FragmentConfig(backend=args.backend), progress=progress
        )
        total = time.perf_counter() - t
        meta = field.meta
        same, other_part, other_obj = similarity_levels(field.features, part, obj, seen & (obj > 0))
        a_same, a_part, a_obj = similarity_levels(field.features, part, obj, seen & (obj > 0), weights=area)
        gpu = f"{torch.cuda.max_memory_allocated() / 2**20:.0f}" if cuda else "-"
        threads = args.threads if args.threads > 0 else torch.get_num_threads()
        dev = torch.cuda.get_device_name(0) if cuda else f"CPU, {threads} thread{'s' if threads > 1 else ''}"
        rows.append(
            [
                dev,
                kind,
                meta["steps"],
                f"{t_frag:.1f}",
                f"{t_cache:.1f}",
                f"{meta['prepare_seconds']:.1f}",
                f"{meta['fit_seconds']:.1f} ({speed.get('v', 0):.0f})",
                f"{t_frag + total:.1f}",
                f"{speed.get('rss_prepared', 0):.0f} / {peak_rss_mb():.0f}",
                gpu,
                f"{same:.3f}",
                f"{other_part:.3f}",
                f"{other_obj:.3f}",
                f"{same - other_part:.3f}",
                f"{other_part - other_obj:.3f}",
                f"{a_same - a_part:.3f} / {a_part - a_obj:.3f}",
            ]
        )
        print("  ".join(str(x) for x in rows[-1]), flush=True)
    tmp.cleanup()
    summary = (
        f"{scene.num_vertices} vertices, {len(scene.faces)} faces, {len(scene.cameras)} views {args.width}x{args.height}, "
        f"masks {args.masks}"
    )
    return summary, rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vertices", type=int, default=100_000, help="target vertex count (the scene lands near it)")
    ap.add_argument("--views", type=int, default=60)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--steps", type=int, nargs="*", default=[None], help="one fit per value (default: FitConfig.steps)")
    ap.add_argument("--num-pixels", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--hier-lambda", type=float, default=None)
    ap.add_argument("--smooth-weight", type=float, default=None)
    ap.add_argument(
        "--device", nargs="+", default=["cpu"], help="fit device(s): cpu, cuda, cuda:N; one row (and process) each"
    )
    ap.add_argument("--backend", default="auto", choices=["auto", "cpu", "nvdiffrast"], help="fragment backend")
    ap.add_argument(
        "--masks",
        default="memory",
        choices=["memory", "disk"],
        help="keep masks in a dict, or write them per view and stream them with load_masks(lazy=True)",
    )
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    ap.add_argument("--config", default=None, help="YAML preset for FitConfig")
    ap.add_argument("--json", default=None, help=argparse.SUPPRESS)  # a child process writes its rows here
    args = ap.parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)

    import logging

    logging.basicConfig(format="%(name)s: %(message)s", level=logging.WARNING)
    logging.getLogger("omniseg3d_mesh.fit").setLevel(logging.INFO)  # training pixels and their MB
    if len(args.device) == 1:
        args.device = args.device[0]
        summary, rows = run_device(args)
        if args.json:
            Path(args.json).write_text(json.dumps([summary, rows]))
            return 0
    else:  # each device in its own process: peak RSS and GPU memory are then that run's own
        import subprocess

        rows = []
        for dev in args.device:
            with tempfile.TemporaryDirectory() as td:
                out = Path(td) / "rows.json"
                child = [a for a in argv]
                i = child.index("--device")
                j = i + 1
                while j < len(child) and not child[j].startswith("--"):
                    j += 1
                child[i:j] = ["--device", dev]
                subprocess.run([sys.executable, __file__, *child, "--json", str(out)], check=True)
                summary, more = json.loads(out.read_text())
                rows += more

    print(f"\nscene: {summary}")
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")
    print("\ncommand: python tools/bench_fit.py " + " ".join(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
