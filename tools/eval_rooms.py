#!/usr/bin/env python
"""Room-scan benchmark: cluttered synthetic rooms seen from inside, object click mIoU.

For every seed: build a cluttered room (``synthetic.scenes.make_room``: ~50 objects of
very different sizes, walls and floor, eye-height views from inside, ~15 % of the
vertices unseen, two identical armchairs no view shows together), compute its fragments
(CPU ray casting), simulate SAM-like masks (``room`` preset: merges, part groups,
splits, misses, boundary noise, SAM's ~100 px smallest mask), fit the field with the
DEFAULT ``FitConfig`` (plus ``--config`` / ``--set`` overrides), and click every object
(not floor / walls) on its central vertex. Three answers per click, IoU over the mesh
vertices against the object:

* voting -- the no-learning anchor: multi-view mask voting at the best threshold;
* raw    -- the field's cosine score at the best threshold;
* click  -- the user's click: ``Selector.hierarchy`` (steps + region growing), best step.

"small" = objects under 0.2 % of the image in every view. ``--point-mode`` adds the same
rooms as point clouds (the same masks; ``--point-source scan``, the default: evenly
spaced points on the surface, as many as the mesh has vertices, as a scanner gives;
``vertices``: the mesh's own vertices). Fragments, masks and the
ground-truth statistics are cached per (seed, views, size, image size) under ``--cache``,
so a re-run with another fit config only refits.

    python tools/eval_rooms.py                          # 3 seeds, 80 views, 90k, 640x480
    python tools/eval_rooms.py --quick                  # one small fast room
    python tools/eval_rooms.py --set lr=0.1 --set steps=2000
    python tools/eval_rooms.py --config configs/synthetic.yaml --point-mode
    python tools/eval_rooms.py --discretize             # + the object level of the default discretization
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: bump when the cached masks / statistics change meaning
CACHE_VERSION = 1
SMALL_FRACTION = 0.002


class LazyMasks(Mapping):
    """view name -> [M, H, W] bool masks, read from per-view npz files on access (bounded memory)."""

    def __init__(self, paths: dict[str, Path]):
        self.paths = paths

    def __getitem__(self, name: str) -> np.ndarray:
        from omniseg3d_mesh.io.masks import load_masks_npz

        return load_masks_npz(self.paths[name])

    def __iter__(self):
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)


@dataclass
class RoomCase:
    """One room, ready to fit: scene (mesh or points), masks, voting memberships, ground truth."""

    syn: object
    scene: object  # what is fitted: the mesh, or the same vertices as a point cloud
    workspace: object
    masks: LazyMasks
    seen: np.ndarray  # [V] bool: some view (mesh fragments) sees the vertex
    max_area: np.ndarray  # [O] largest fraction of an image the object covers over the views
    times: dict = field(default_factory=dict)
    point_radius: float | None = None  # splat radius of the point-cloud fragments
    _memberships: list | None = None
    _clickable: np.ndarray | None = None

    def memberships(self) -> list:
        """Per view the [V, M] vertex-mask membership voting needs (built on first use, after
        the fit, so that the fit's peak memory does not hold them)."""
        if self._memberships is None:
            from omniseg3d_mesh.evaluation import vertex_mask_membership
            from omniseg3d_mesh.render.fragments import load_or_compute_fragments

            t = time.perf_counter()
            sc = self.scene
            ghash = sc.geometry_hash()
            seen_here = np.zeros(sc.num_vertices, bool)
            out = []
            for cam in sc.cameras:
                frags = load_or_compute_fragments(
                    sc, cam, self.workspace, backend="cpu", point_radius=self.point_radius, geometry_hash=ghash
                ).without_outline()  # the pixels the fit uses (point splats' outline left out)
                member, seen_view = vertex_mask_membership(frags, self.masks[cam.name], sc.num_vertices)
                out.append(member)
                seen_here |= seen_view
            self._memberships, self._clickable = out, self.seen & seen_here
            self.times["memberships"] = time.perf_counter() - t
        return self._memberships

    @property
    def clickable(self) -> np.ndarray:
        """[V] bool vertices a user can click: seen by the views, in the fitted geometry's fragments too."""
        self.memberships()
        return self._clickable

    @property
    def unseen_fraction(self) -> float:
        return float(1.0 - self.seen.mean())

    def _present(self) -> np.ndarray:
        """[O] bool: non-stuff objects some view shows that have vertices (a sparse point
        cloud can miss a tiny object)."""
        has = np.bincount(self.syn.labels["object"], minlength=len(self.max_area)) > 0
        return ~self.syn.stuff & (self.max_area > 0) & has

    def objects(self) -> np.ndarray:
        """Non-stuff objects some view shows (the ones clicked)."""
        return np.flatnonzero(self._present())

    def small_objects(self) -> np.ndarray:
        return np.flatnonzero(self._present() & (self.max_area < SMALL_FRACTION))


def case_dir(
    cache: Path, seed: int, views: int, size: str, width: int, height: int, num_objects: int, mask_preset: str
) -> Path:
    return Path(cache) / f"room_s{seed}_o{num_objects}_v{views}_{size}_{width}x{height}_{mask_preset}"


def load_or_make_room(root: Path, seed: int, num_objects: int, views: int, size: str, width: int, height: int):
    """``make_room`` through a cache file in ``root`` (keyed by the generator's source and arguments)."""
    import json

    import omniseg3d_mesh.synthetic.scenes as scenes
    from omniseg3d_mesh.scene import Camera, Scene
    from omniseg3d_mesh.workspace import content_hash

    key = content_hash(Path(scenes.__file__), seed, num_objects, views, size, width, height)
    path = Path(root) / "room.npz"
    if path.is_file():
        with np.load(path) as d:
            if str(d["key"]) == key:
                cams = [
                    Camera(K=K, world_to_cam=T, width=width, height=height, name=str(n))
                    for K, T, n in zip(d["K"], d["world_to_cam"], d["camera_names"])
                ]
                return scenes.SyntheticScene(
                    scene=Scene(vertices=d["vertices"], faces=d["faces"], colors=d["colors"], cameras=cams),
                    labels={k: d[k] for k in ("part", "object", "group")},
                    part_names=[str(x) for x in d["part_names"]],
                    object_names=[str(x) for x in d["object_names"]],
                    group_names=[str(x) for x in d["group_names"]],
                    part_object=d["part_object"],
                    object_group=d["object_group"],
                    stuff=d["stuff"],
                    preset=f"room-{size}",
                    seed=seed,
                    meta=json.loads(str(d["meta"])),
                )
    syn = scenes.make_room(seed, num_objects=num_objects, num_views=views, size=size, width=width, height=height)
    sc = syn.scene
    _save_mesh(
        path,
        key,
        sc,
        **syn.ground_truth_arrays(),
        meta=np.array(json.dumps(syn.meta)),
        K=np.stack([c.K for c in sc.cameras]),
        world_to_cam=np.stack([c.world_to_cam for c in sc.cameras]),
        camera_names=np.asarray([c.name for c in sc.cameras]),
    )
    return syn


def _save_mesh(path: Path, key: str, scene, **arrays) -> None:
    """Cache a mesh (vertices, faces, colours) and other arrays under ``key``, atomically."""
    from omniseg3d_mesh.workspace import atomic_save_npz

    atomic_save_npz(path, key=np.array(key), vertices=scene.vertices, faces=scene.faces, colors=scene.colors, **arrays)


def prepare_room(
    seed: int,
    views: int = 80,
    size: str = "90k",
    width: int = 640,
    height: int = 480,
    num_objects: int = 50,
    mask_preset: str = "room",
    cache: str | Path = "/tmp/omniseg_rooms",
    point_mode: bool = False,
    point_radius: float | None = None,
    point_source: str = "scan",
    geometry: str = "pieces",
    say=print,
) -> RoomCase:
    """Build (or load from the cache) one room case: the room, fragments, masks, GT statistics."""
    if geometry not in ("pieces", "fused"):
        raise ValueError(f"geometry must be 'pieces' or 'fused', got {geometry!r}")
    from omniseg3d_mesh.io.masks import save_masks_npz
    from omniseg3d_mesh.render.fragments import load_or_compute_fragments
    from omniseg3d_mesh.scene import Scene
    from omniseg3d_mesh.synthetic.masks import gt_label_maps, simulate_view_masks, with_overrides
    from omniseg3d_mesh.synthetic.scenes import scan_points
    from omniseg3d_mesh.workspace import Workspace, atomic_save_npz, content_hash

    times = {}
    t = time.perf_counter()
    root = case_dir(cache, seed, views, size, width, height, num_objects, mask_preset)
    syn = load_or_make_room(root, seed, num_objects, views, size, width, height)
    mesh = syn.scene
    times["build"] = time.perf_counter() - t
    ws = Workspace(root)
    key = content_hash(
        CACHE_VERSION,
        mesh.geometry_hash(),
        [c.fingerprint() for c in mesh.cameras],
        repr(with_overrides(mask_preset)),
        seed,
    )
    mask_paths = {c.name: root / "masks" / f"{Path(c.name).stem}.npz" for c in mesh.cameras}
    stats_path = root / "stats.npz"
    stats = None
    if stats_path.is_file() and all(p.is_file() for p in mask_paths.values()):
        with np.load(stats_path) as data:
            if str(data["key"]) == key:
                stats = {"seen": data["seen"].astype(bool), "max_area": data["max_area"]}
    masks = LazyMasks(mask_paths)
    t = time.perf_counter()
    if stats is None:  # the mesh pass: fragments (cached in the workspace), masks, GT statistics
        seen = np.zeros(mesh.num_vertices, bool)
        max_area = np.zeros(syn.num_objects)
        ghash = mesh.geometry_hash()
        t_masks = 0.0
        for i, cam in enumerate(mesh.cameras):
            frags = load_or_compute_fragments(mesh, cam, ws, backend="cpu", geometry_hash=ghash)
            ok = (frags.vertex_ids >= 0) & (frags.weights > 0)
            seen[frags.vertex_ids[ok]] = True
            om = gt_label_maps(syn, frags)["object"]
            max_area = np.maximum(max_area, np.bincount(om[om >= 0], minlength=syn.num_objects) / om.size)
            t0 = time.perf_counter()
            m = simulate_view_masks(syn, frags, mask_preset, seed=seed, view_index=i)
            save_masks_npz(mask_paths[cam.name], m)
            t_masks += time.perf_counter() - t0
        atomic_save_npz(stats_path, key=np.array(key), seen=seen, max_area=max_area)
        stats = {"seen": seen, "max_area": max_area}
        times["fragments"] = time.perf_counter() - t - t_masks
        times["masks"] = t_masks
        say(f"  seed {seed}: fragments {times['fragments']:.1f} s, masks {t_masks:.1f} s (cached in {root})")
    scene, radius, seen = mesh, None, stats["seen"]
    if geometry == "fused":  # the room as a depth-camera scan reconstructs it: one welded mesh
        syn, nearest = load_or_fuse(root, syn, ws)
        seen, mesh, scene = seen[nearest], syn.scene, syn.scene
        ws = Workspace(root / "fused")
        if point_mode:  # the held-out protocol: the scan mesh's own vertices as the cloud
            scene = Scene(vertices=mesh.vertices, faces=None, colors=mesh.colors, cameras=mesh.cameras)
            ws = Workspace(root / ("fused_points" if point_radius is None else f"fused_points_r{point_radius:g}"))
        return RoomCase(syn, scene, ws, masks, seen, stats["max_area"], times, point_radius if point_mode else None)
    if point_mode:
        radius = point_radius  # None: the project's default splat radius (what `--point-mode` does)
        if point_source == "scan":  # evenly spaced surface points, as a scanner gives
            syn, _, nearest = scan_points(syn, seed=seed)
            seen = seen[nearest]  # a point is seen when its triangle's nearest vertex is
            scene = syn.scene
            ws = Workspace(root / ("points_scan" if radius is None else f"points_scan_r{radius:g}"))
        elif point_source == "vertices":  # the mesh's own vertices (on rims and edge loops)
            scene = Scene(vertices=mesh.vertices, faces=None, colors=mesh.colors, cameras=mesh.cameras)
            ws = Workspace(root / ("points" if radius is None else f"points_r{radius:g}"))
        else:
            raise ValueError(f"point_source must be 'scan' or 'vertices', got {point_source!r}")
    return RoomCase(syn, scene, ws, masks, seen, stats["max_area"], times, radius)


#: the fused scan's voxel (metres): ScanNet fuses at about 1 cm and decimates
FUSED_VOXEL = 0.015


def load_or_fuse(root: Path, syn, ws):
    """The room's fused scan (``synthetic.scenes.fused_scan`` from the cached fragments'
    depth, as many vertices as the mesh), cached in ``root/fused/scan.npz``."""
    from dataclasses import replace

    from omniseg3d_mesh.render.fragments import load_or_compute_fragments
    from omniseg3d_mesh.scene import Scene
    from omniseg3d_mesh.synthetic.scenes import fused_scan
    from omniseg3d_mesh.workspace import content_hash

    mesh = syn.scene
    key = content_hash("fused-v1", mesh.geometry_hash(), [c.fingerprint() for c in mesh.cameras], FUSED_VOXEL)
    path = root / "fused" / "scan.npz"
    if path.is_file():
        with np.load(path) as data:
            if str(data["key"]) == key:
                scan = Scene(
                    vertices=data["vertices"], faces=data["faces"], colors=data["colors"], cameras=mesh.cameras
                )
                labels = {k: data[f"label_{k}"] for k in syn.labels}
                return replace(syn, scene=scan, labels=labels), data["nearest"]
    ghash = mesh.geometry_hash()
    depths = [load_or_compute_fragments(mesh, c, ws, backend="cpu", geometry_hash=ghash).depth for c in mesh.cameras]
    fused, nearest = fused_scan(syn, voxel=FUSED_VOXEL, depths=depths)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save_mesh(path, key, fused.scene, nearest=nearest, **{f"label_{k}": v for k, v in fused.labels.items()})
    return fused, nearest


def fit_config(
    config_file: str | None, sets: list[str], steps: int | None = None, threads: int = 1, device: str = "auto"
):
    """The default FitConfig with the overrides of a YAML ``fit:`` section and ``key=value`` pairs."""
    import yaml

    from omniseg3d_mesh.config import FitConfig, config_from_dict, load_config_file

    values: dict = {"checkpoint_every": 0, "num_threads": threads, "device": device}
    if config_file:
        values.update(load_config_file(config_file, FitConfig))
    for item in sets:
        if "=" not in item:
            raise ValueError(f"--set expects key=value (a FitConfig field), got {item!r}")
        k, v = item.split("=", 1)
        values[k.strip().replace("-", "_")] = yaml.safe_load(v)
    if steps is not None:
        values["steps"] = steps
    return config_from_dict(FitConfig, values, source="--config/--set")


def discretize_room(case: RoomCase, features: np.ndarray, config=None) -> dict:
    """The default discretization's object level against the room's objects (floor and walls
    included): ARI, matched mIoU, parts, and the labels rendered back onto the views.

    The automatic level reads the training masks and their fragments, as
    ``discretize_workspace`` does (streamed, one view at a time).
    """
    from omniseg3d_mesh.discretize import Discretizer, pixel_vertices
    from omniseg3d_mesh.evaluation import discretization_scores, view_label_agreement
    from omniseg3d_mesh.render.fragments import load_or_compute_fragments

    sc = case.scene
    ghash = sc.geometry_hash()

    def pixel_maps():
        for cam in sc.cameras:
            fr = load_or_compute_fragments(
                sc, cam, case.workspace, backend="cpu", point_radius=case.point_radius, geometry_hash=ghash
            )
            yield cam.name, pixel_vertices(fr.vertex_ids, fr.weights)

    t = time.perf_counter()
    est = Discretizer(config).fit(
        features, sc.vertices, sc.faces, views=((pix, case.masks[name]) for name, pix in pixel_maps())
    )
    gt = case.syn.labels["object"]
    ari, miou = discretization_scores(est.labels_, gt)
    agree = view_label_agreement(est.labels_, gt, (pix for _, pix in pixel_maps()))
    return {
        "parts": int(est.labels_.max()) + 1,
        "gt_objects": int(len(np.unique(gt[gt >= 0]))),
        "ari": ari,
        "miou": 100.0 * miou,
        "view_agreement": agree,
        "granularity": est.granularity_,
        "discretize_s": time.perf_counter() - t,
    }


def evaluate_room(case: RoomCase, cfg) -> dict:
    """Fit the field on a prepared room and click every object: voting / raw / click IoU, per object."""
    from omniseg3d_mesh.config import FragmentConfig
    from omniseg3d_mesh.evaluation import object_click_ious
    from omniseg3d_mesh.fit import fit_field
    from omniseg3d_mesh.select import Selector

    t = time.perf_counter()
    fld = fit_field(
        case.scene,
        case.masks,
        cfg,
        workspace=case.workspace,
        fragment_config=FragmentConfig(backend="cpu", point_radius=case.point_radius),
    )
    t_fit = time.perf_counter() - t
    t = time.perf_counter()
    sc = case.scene
    sel = Selector(fld, sc.vertices, sc.faces)
    objs = case.objects()
    res = object_click_ious(sel, case.syn.labels["object"], objs, case.memberships(), clickable=case.clickable)
    small = np.isin(objs, case.small_objects())
    twins = [list(objs).index(o) for o in case.syn.meta["twins"] if o in objs]
    twin_cos = (
        float(sel.features[res["clicks"][twins[0]]] @ sel.features[res["clicks"][twins[1]]])
        if len(twins) == 2
        else float("nan")
    )
    out = {
        "fit_s": t_fit,
        "prepare_s": float(fld.meta.get("prepare_seconds", float("nan"))),
        "eval_s": time.perf_counter() - t,
        "objects": len(objs),
        "small": int(small.sum()),
        "twin_cos": twin_cos,
        "steps": int(fld.meta["steps"]),  # what the fit ran (a large mesh runs a multiple of config.steps)
        "features": fld.features,
    }
    for k in ("voting", "raw", "click"):
        out[k] = 100.0 * float(res[k].mean())
        out[k + "_small"] = 100.0 * float(res[k][small].mean()) if small.any() else float("nan")
    return out


def _fmt(vals) -> str:
    vals = np.asarray(vals, float)
    return f"{vals.mean():.1f} ± {vals.std():.1f}" if len(vals) > 1 else f"{vals.mean():.1f}"


def _parse(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[1], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seeds", type=int, nargs="*", default=None, help="room seeds (default 0 1 2; quick: 0)")
    p.add_argument("--views", type=int, default=None, help="views per room (default 80; quick: 24)")
    p.add_argument(
        "--size",
        default=None,
        choices=["tiny", "90k", "500k", "2m"],
        help="tessellation, about this many vertices (default 90k; quick: tiny)",
    )
    p.add_argument("--width", type=int, default=None, help="image width (default 640; quick: 320)")
    p.add_argument("--height", type=int, default=None, help="image height (default 480; quick: 240)")
    p.add_argument("--objects", type=int, default=50, help="non-stuff objects per room")
    p.add_argument("--masks", default="room", help="mask simulator preset (default room)")
    p.add_argument("--quick", action="store_true", help="one tiny room: seed 0, 24 views at 320x240, 300 steps")
    p.add_argument("--point-mode", action="store_true", help="also fit the same rooms as point clouds (same masks)")
    p.add_argument(
        "--point-radius",
        type=float,
        default=None,
        help="point mode: splat radius in metres (default: the project's, from the point spacing)",
    )
    p.add_argument(
        "--point-source",
        choices=["scan", "vertices"],
        default="scan",
        help="point mode: evenly spaced surface points as a scanner gives, as many as the mesh's vertices "
        "(default), or the mesh's own vertices (on rims and edge loops, wide gaps across faces)",
    )
    p.add_argument(
        "--geometry",
        choices=["pieces", "fused"],
        default="pieces",
        help="the room's mesh: the generator's pieces (default; a phone is its own closed box of ~50 vertices), or "
        "the room as a depth-camera scan reconstructs it (synthetic.scenes.fused_scan: the views' depth fused at "
        "1.5 cm and decimated to as many vertices, one welded surface, as ScanNet's meshes); with --point-mode the "
        "fused mesh's own vertices are the cloud",
    )
    p.add_argument(
        "--discretize",
        action="store_true",
        help="also discretize each field with the defaults and score its object level (ARI, mIoU, views)",
    )
    p.add_argument(
        "--config",
        default=None,
        help="YAML with a fit: section of FitConfig overrides (and discretize: with --discretize)",
    )
    p.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="FitConfig override (repeatable)"
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads for the fit (default 1)")
    p.add_argument("--device", default="auto", help="torch device for the fit")
    p.add_argument("--cache", default="/tmp/omniseg_rooms", help="cache of fragments, masks and statistics")
    args = p.parse_args(argv)
    q = args.quick
    args.seeds = args.seeds if args.seeds is not None else ([0] if q else [0, 1, 2])
    args.views = args.views or (24 if q else 80)
    args.size = args.size or ("tiny" if q else "90k")
    args.width = args.width or (320 if q else 640)
    args.height = args.height or (240 if q else 480)
    return args


def _geometry_name(args, point_mode: bool) -> str:
    if args.geometry == "fused":
        return "fused scan, its vertices as points" if point_mode else "fused scan mesh"
    return f"points ({args.point_source})" if point_mode else "mesh"


def main(argv=None) -> int:
    args = _parse(argv)
    from omniseg3d_mesh.config import FitConfig

    cfg = fit_config(
        args.config,
        args.sets,
        steps=300 if args.quick and not any(s.startswith("steps") for s in args.sets) else None,
        threads=args.threads,
        device=args.device,
    )
    disc_cfg = None
    if args.discretize and args.config:  # the YAML's discretize: section, if any
        from omniseg3d_mesh.config import DiscretizeConfig, config_from_dict, load_config_file

        disc_cfg = config_from_dict(
            DiscretizeConfig, load_config_file(args.config, DiscretizeConfig), source=args.config
        )
    modes = [False, True] if args.point_mode else [False]
    rows: dict[bool, list[dict]] = {m: [] for m in modes}
    info = []
    for seed in args.seeds:
        for pm in modes:
            t = time.perf_counter()
            case = prepare_room(
                seed,
                args.views,
                args.size,
                args.width,
                args.height,
                args.objects,
                args.masks,
                args.cache,
                point_mode=pm,
                point_radius=args.point_radius,
                point_source=args.point_source,
                geometry=args.geometry,
            )
            t_prep = time.perf_counter() - t
            r = evaluate_room(case, cfg)
            r["case_s"] = t_prep
            if args.discretize:
                r["disc"] = discretize_room(case, r["features"], disc_cfg)
            rows[pm].append(r)
            if not pm:
                info.append(
                    (
                        seed,
                        case.scene.num_vertices,
                        len(case.objects()),
                        len(case.small_objects()),
                        case.unseen_fraction,
                    )
                )
            print(
                f"seed {seed}{' points' if pm else ''}: {case.scene.num_vertices} vertices, {r['objects']} objects ({r['small']} small), "
                f"unseen {100 * case.unseen_fraction:.1f} %: voting {r['voting']:.1f} raw {r['raw']:.1f} click {r['click']:.1f} "
                f"| small {r['voting_small']:.1f} / {r['raw_small']:.1f} / {r['click_small']:.1f} | twins cos {r['twin_cos']:.2f} "
                f"| case {t_prep:.1f} s, fit {r['fit_s']:.1f} s (prepare {r['prepare_s']:.1f}), eval {r['eval_s']:.1f} s",
                flush=True,
            )
            if args.discretize:
                dz = r["disc"]
                print(
                    f"  discretize: {dz['parts']} parts ({dz['gt_objects']} objects incl. floor and walls), "
                    f"ARI {dz['ari']:.3f}, matched mIoU {dz['miou']:.1f}, views {dz['view_agreement']:.3f} "
                    f"(level from {dz['granularity']}, {dz['discretize_s']:.1f} s)",
                    flush=True,
                )

    d = FitConfig()
    changed = {
        k: getattr(cfg, k)
        for k in d.__dataclass_fields__
        if getattr(cfg, k) != getattr(d, k) and k not in ("checkpoint_every", "num_threads", "device")
    }
    print()
    print(
        f"Rooms: seeds {' '.join(map(str, args.seeds))}, {args.views} views {args.width}x{args.height}, size {args.size} "
        "(per seed vertices / objects clicked / small / unseen: "
        + "; ".join(f"{v} / {o} / {s} / {100 * u:.1f} %" for _, v, o, s, u in info)
        + f"), masks {args.masks}; "
        f"fit: defaults{'' if not changed else ' + ' + ', '.join(f'{k}={v}' for k, v in changed.items())}."
    )
    print("Object click mIoU (%), mean ± std over seeds; the click is each object's central vertex.\n")
    print("| geometry | method | all objects | small objects | twins cos | fit s |")
    print("|---|---|---|---|---|---|")
    for pm in modes:
        rs = rows[pm]
        geo = _geometry_name(args, pm)
        fit_s = _fmt([r["fit_s"] for r in rs])
        for k, name in (
            ("voting", "voting (no learning)"),
            ("raw", "field, raw score"),
            ("click", "field, hierarchy click"),
        ):
            tw = _fmt([r["twin_cos"] for r in rs]) if k != "voting" else ""
            print(
                f"| {geo} | {name} | {_fmt([r[k] for r in rs])} | {_fmt([r[k + '_small'] for r in rs])} | {tw} | {fit_s if k != 'voting' else ''} |"
            )
    if args.discretize:
        print(
            "\nObject level of the default discretization (floor and walls are objects too), mean ± std over seeds:\n"
        )
        print("| geometry | parts (objects) | object ARI | matched object mIoU (%) | label agreement on the views |")
        print("|---|---|---|---|---|")
        for pm in modes:
            ds = [r["disc"] for r in rows[pm]]
            print(
                f"| {_geometry_name(args, pm)} | {_fmt([x['parts'] for x in ds])} ({_fmt([x['gt_objects'] for x in ds])}) "
                f"| {np.mean([x['ari'] for x in ds]):.3f} ± {np.std([x['ari'] for x in ds]):.3f} "
                f"| {_fmt([x['miou'] for x in ds])} "
                f"| {np.mean([x['view_agreement'] for x in ds]):.3f} ± {np.std([x['view_agreement'] for x in ds]):.3f} |"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(
        f"\nPeak RSS {peak:.0f} MB. Command: `python tools/eval_rooms.py {' '.join(sys.argv[1:] if argv is None else argv)}`"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
