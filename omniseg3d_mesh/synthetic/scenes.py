"""Indoor-like synthetic scenes built from trimesh primitives, with ground truth at three
levels: part ⊂ object ⊂ group.

A room (floor + four walls, each its own "stuff" part, object and group) holds a
dining set (table + chairs + mugs on the table), a shelf with lidded boxes on its
boards, a lounge (sofa + coffee table) and a floor lamp. Every primitive stays its
own connected component (nothing is welded), so a part is exactly a set of
primitives. Everything (placement, sizes, colours, cameras) follows from the seed;
the preset only changes the tessellation and the default number of views.

:func:`make_room` builds on the same parts a cluttered room scanned from inside (tens
of objects from a phone to a sofa, two identical armchairs, eye-height views, surfaces
no scan view saw dropped): the room-scale benchmark of ``tools/eval_rooms.py``.

World frame: z up, floor top at z = 0, metres. Cameras use :meth:`Camera.look_at`
(OpenCV axes).
"""

from __future__ import annotations

import colorsys
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..scene import Camera, Scene
from .assembly import assemble_parts

log = logging.getLogger(__name__)

__all__ = [
    "SyntheticScene",
    "make_scene",
    "make_room",
    "scan_points",
    "fused_scan",
    "render_shaded",
    "save_synthetic",
    "PRESETS",
    "ROOM_SIZES",
]

LEVELS = ("part", "object", "group")

# preset -> (max edge length of the tessellation in metres, cylinder sections, default views)
PRESETS: dict[str, tuple[float, int, int]] = {
    "small": (0.09, 24, 16),
    "medium": (0.047, 48, 24),
    "large": (0.019, 96, 32),
}


@dataclass
class SyntheticScene:
    """A synthetic scene and its ground-truth hierarchy.

    Attributes:
        scene: the mesh (vertices [V,3] f32, faces [F,3] i32, colors [V,3] u8) and its cameras.
        labels: level ("part", "object", "group") -> [V] int32 ids; parts nest in objects,
            objects in groups.
        part_names: [P] names ("table_0/leg_2").
        object_names: [O] names ("table_0").
        group_names: [G] names ("dining").
        part_object: [P] int32 object id of each part.
        object_group: [O] int32 group id of each object.
        stuff: [O] bool, True for floor and walls (background "stuff").
        preset: the tessellation preset.
        seed: the seed the scene was built from.
    """

    scene: Scene
    labels: dict[str, np.ndarray]
    part_names: list[str]
    object_names: list[str]
    group_names: list[str]
    part_object: np.ndarray
    object_group: np.ndarray
    stuff: np.ndarray
    preset: str = "small"
    seed: int = 0
    meta: dict = field(default_factory=dict)

    def ground_truth_arrays(self) -> dict[str, np.ndarray]:
        """The hierarchy as named arrays (what ``gt_labels.npz`` holds): the per-vertex ``labels``,
        ``part_object``, ``object_group``, ``stuff`` and the part / object / group names."""
        return {
            **self.labels,
            "part_object": self.part_object,
            "object_group": self.object_group,
            "stuff": self.stuff,
            "part_names": np.asarray(self.part_names),
            "object_names": np.asarray(self.object_names),
            "group_names": np.asarray(self.group_names),
        }

    @property
    def num_parts(self) -> int:
        return len(self.part_names)

    @property
    def num_objects(self) -> int:
        return len(self.object_names)

    def multi_part_objects(self) -> np.ndarray:
        """[K] ids of the non-stuff objects made of two or more parts."""
        counts = np.bincount(self.part_object, minlength=self.num_objects)
        return np.flatnonzero((counts >= 2) & ~self.stuff)


# --------------------------------------------------------------------------- building blocks
def _translate(mesh, xyz):
    import trimesh

    mesh.apply_transform(trimesh.transformations.translation_matrix(xyz))
    return mesh


def _box(extents, center, tess):
    import trimesh

    m = trimesh.creation.box(extents=extents)
    return _translate(_refine(m, tess), center)


def _cylinder(radius, height, center, tess, axis="z"):
    import trimesh

    sections = max(8, int(tess[1] * min(1.0, max(radius, 0.02) / 0.15) ** 0.5))
    m = trimesh.creation.cylinder(radius=radius, height=height, sections=sections)
    if axis == "x":
        m.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (0, 1, 0)))
    elif axis == "y":
        m.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (1, 0, 0)))
    return _translate(_refine(m, tess), center)


def _refine(mesh, tess):
    """Subdivide until no edge is longer than the preset's max edge."""
    import trimesh

    max_edge = tess[0]
    v, f = trimesh.remesh.subdivide_to_size(mesh.vertices, mesh.faces, max_edge=max_edge, max_iter=12)
    return trimesh.Trimesh(vertices=v, faces=f, process=False)


def _rotate_z(meshes, angle, pivot):
    import trimesh

    rot = trimesh.transformations.rotation_matrix(angle, (0, 0, 1), point=(pivot[0], pivot[1], 0.0))
    for m in meshes:
        m.apply_transform(rot)


class _Builder:
    """Collects parts with their object and group, and their colours."""

    def __init__(self, rng: np.random.Generator, tess):
        self.rng = rng
        self.tess = tess
        self.parts: list[tuple[str, int, list, np.ndarray]] = []  # name, object id, meshes, colour
        self.object_names: list[str] = []
        self.object_group: list[int] = []
        self.stuff: list[bool] = []
        self.group_names: list[str] = []
        self.object_boxes: dict[int, np.ndarray] = {}

    def group(self, name: str) -> int:
        self.group_names.append(name)
        return len(self.group_names) - 1

    def obj(self, name: str, group: int, stuff: bool = False) -> int:
        self.object_names.append(name)
        self.object_group.append(group)
        self.stuff.append(stuff)
        return len(self.object_names) - 1

    def part(self, obj: int, name: str, meshes: list, rgb) -> None:
        self.parts.append((f"{self.object_names[obj]}/{name}", obj, meshes, np.asarray(rgb, float)))

    def color(self, hue: float, sat: float = 0.55, val: float = 0.75) -> np.ndarray:
        h = (hue + self.rng.uniform(-0.03, 0.03)) % 1.0
        s = np.clip(sat + self.rng.uniform(-0.1, 0.1), 0, 1)
        v = np.clip(val + self.rng.uniform(-0.08, 0.08), 0, 1)
        return np.array(colorsys.hsv_to_rgb(h, s, v))


# --------------------------------------------------------------------------- furniture
def _table(b: _Builder, gid: int, name: str, center, size, height, angle, hue):
    oid = b.obj(name, gid)
    t = b.tess
    lx, ly = size
    top = _box((lx, ly, 0.05), (center[0], center[1], height - 0.025), t)
    legs = []
    r = 0.035
    for sx in (-1, 1):
        for sy in (-1, 1):
            legs.append(
                _cylinder(
                    r,
                    height - 0.05,
                    (center[0] + sx * (lx / 2 - 0.08), center[1] + sy * (ly / 2 - 0.08), (height - 0.05) / 2),
                    t,
                )
            )
    _rotate_z([top, *legs], angle, center)
    b.part(oid, "top", [top], b.color(hue, 0.5, 0.7))
    for i, leg in enumerate(legs):
        b.part(oid, f"leg_{i}", [leg], b.color(hue + 0.5, 0.45, 0.45))
    return oid


def _chair(b: _Builder, gid: int, name: str, center, facing, hue, colors=None):
    """A chair (seat, back, four legs) at ``center`` facing ``facing``; ``colors`` (seat, back,
    legs) fixes the colours (identical chairs) instead of drawing them around ``hue``."""
    oid = b.obj(name, gid)
    t = b.tess
    s, h = 0.46, 0.46
    seat = _box((s, s, 0.06), (center[0], center[1], h - 0.03), t)
    back = _box((s, 0.06, 0.5), (center[0], center[1] + s / 2 - 0.03, h + 0.25), t)
    legs = [
        _box(
            (0.05, 0.05, h - 0.06),
            (center[0] + sx * (s / 2 - 0.04), center[1] + sy * (s / 2 - 0.04), (h - 0.06) / 2),
            t,
        )
        for sx in (-1, 1)
        for sy in (-1, 1)
    ]
    # the back is at +y before rotation; turn the chair so that it faces `facing`
    angle = np.arctan2(facing[1] - center[1], facing[0] - center[0]) - (-np.pi / 2)
    _rotate_z([seat, back, *legs], angle, center)
    b.part(oid, "seat", [seat], b.color(hue, 0.6, 0.75) if colors is None else colors[0])
    b.part(oid, "back", [back], b.color(hue + 0.08, 0.6, 0.6) if colors is None else colors[1])
    for i, leg in enumerate(legs):
        b.part(oid, f"leg_{i}", [leg], b.color(hue - 0.1, 0.3, 0.35) if colors is None else colors[2])
    return oid


def _mug(b: _Builder, gid: int, name: str, base_xy, z0, hue):
    import trimesh

    oid = b.obj(name, gid)
    t = b.tess
    r, h = 0.06, 0.13
    body = _cylinder(r, h, (base_xy[0], base_xy[1], z0 + h / 2), t)
    handle = trimesh.creation.torus(major_radius=0.04, minor_radius=0.012, major_sections=16, minor_sections=8)
    handle.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (1, 0, 0)))
    handle = _translate(_refine(handle, t), (base_xy[0] + r + 0.015, base_xy[1], z0 + h / 2))
    ang = b.rng.uniform(0, 2 * np.pi)
    _rotate_z([body, handle], ang, base_xy)
    b.part(oid, "body", [body], b.color(hue, 0.7, 0.85))
    b.part(oid, "handle", [handle], b.color(hue + 0.15, 0.7, 0.5))
    return oid


def _shelf(b: _Builder, gid: int, name: str, x, y_back, width, hue):
    oid = b.obj(name, gid)
    t = b.tess
    depth, height = 0.4, 1.8
    yc = y_back - depth / 2
    sides = [_box((0.04, depth, height), (x + sx * (width / 2 - 0.02), yc, height / 2), t) for sx in (-1, 1)]
    board_z = [0.3, 0.9, 1.5]
    boards = [_box((width - 0.08, depth, 0.03), (x, yc, z), t) for z in board_z]
    b.part(oid, "side_0", [sides[0]], b.color(hue, 0.4, 0.55))
    b.part(oid, "side_1", [sides[1]], b.color(hue, 0.4, 0.5))
    for i, m in enumerate(boards):
        b.part(oid, f"board_{i}", [m], b.color(hue + 0.05 * (i + 1), 0.35, 0.7))
    return oid, board_z, yc, depth


def _storage_box(b: _Builder, gid: int, name: str, center_xy, z0, size, hue):
    oid = b.obj(name, gid)
    t = b.tess
    sx, sy, sz = size
    body = _box((sx, sy, sz), (center_xy[0], center_xy[1], z0 + sz / 2), t)
    lid = _box((sx + 0.02, sy + 0.02, 0.04), (center_xy[0], center_xy[1], z0 + sz + 0.02), t)
    b.part(oid, "body", [body], b.color(hue, 0.65, 0.8))
    b.part(oid, "lid", [lid], b.color(hue + 0.5, 0.65, 0.6))
    return oid


def _sofa(b: _Builder, gid: int, name: str, center, angle, hue):
    oid = b.obj(name, gid)
    t = b.tess
    L, D = 1.8, 0.8
    cx, cy = center
    seat = _box((L - 0.3, D - 0.2, 0.4), (cx, cy - 0.1, 0.2), t)
    back = _box((L, 0.2, 0.85), (cx, cy + D / 2 - 0.1, 0.425), t)
    arms = [_box((0.15, D - 0.2, 0.6), (cx + s * (L / 2 - 0.075), cy - 0.1, 0.3), t) for s in (-1, 1)]
    _rotate_z([seat, back, *arms], angle, center)
    b.part(oid, "seat", [seat], b.color(hue, 0.5, 0.7))
    b.part(oid, "back", [back], b.color(hue + 0.06, 0.5, 0.55))
    b.part(oid, "arm_0", [arms[0]], b.color(hue - 0.06, 0.5, 0.45))
    b.part(oid, "arm_1", [arms[1]], b.color(hue - 0.06, 0.5, 0.45))
    return oid


def _lamp(b: _Builder, gid: int, name: str, xy, hue):
    oid = b.obj(name, gid)
    t = b.tess
    base = _cylinder(0.18, 0.05, (xy[0], xy[1], 0.025), t)
    pole = _cylinder(0.03, 1.35, (xy[0], xy[1], 0.05 + 0.675), t)
    shade = _cylinder(0.24, 0.3, (xy[0], xy[1], 1.4 + 0.15), t)
    b.part(oid, "base", [base], b.color(hue, 0.2, 0.3))
    b.part(oid, "pole", [pole], b.color(hue, 0.1, 0.65))
    b.part(oid, "shade", [shade], b.color(hue + 0.1, 0.5, 0.95))
    return oid


def _assemble(b: _Builder, rng):
    """Concatenate the builder's parts (every primitive its own connected component).

    Returns:
        (vertices [V,3] f32, faces [F,3] i32, colors [V,3] u8, labels {level: [V] i32},
        part_object [P] i32, object_group [O] i32).
    """
    pieces = [(pid, rgb, m) for pid, (_, _, meshes, rgb) in enumerate(b.parts) for m in meshes]
    vertices, faces, piece = assemble_parts([m for _, _, m in pieces])
    part = np.array([pid for pid, _, _ in pieces], dtype=np.int32)[piece]
    cols = [np.clip(rgb[None] + rng.normal(0.0, 0.025, size=(len(m.vertices), 3)), 0, 1) for _, rgb, m in pieces]
    part_object_arr = np.asarray([oid for _, oid, _, _ in b.parts], dtype=np.int32)
    object_group = np.asarray(b.object_group, dtype=np.int32)
    labels = {"part": part, "object": part_object_arr[part], "group": object_group[part_object_arr[part]]}
    colors = (np.concatenate(cols) * 255 + 0.5).astype(np.uint8)
    return vertices.astype(np.float32), faces.astype(np.int32), colors, labels, part_object_arr, object_group


# --------------------------------------------------------------------------- the scene
def _synthetic_scene(
    b: _Builder, scene: Scene, labels, part_object, object_group, preset: str, seed: int, meta: dict
) -> SyntheticScene:
    """The :class:`SyntheticScene` of an assembled builder (names and stuff flags from ``b``)."""
    return SyntheticScene(
        scene=scene,
        labels=labels,
        part_names=[p[0] for p in b.parts],
        object_names=list(b.object_names),
        group_names=list(b.group_names),
        part_object=part_object,
        object_group=object_group,
        stuff=np.asarray(b.stuff, dtype=bool),
        preset=preset,
        seed=seed,
        meta=meta,
    )


def make_scene(
    preset: str = "small",
    seed: int = 0,
    num_views: int | None = None,
    width: int = 640,
    height: int = 480,
    fov_y_deg: float = 60.0,
) -> SyntheticScene:
    """Build a deterministic indoor scene with part / object / group ground truth.

    Args:
        preset: tessellation: ``small`` (~30k vertices), ``medium`` (~150k) or ``large`` (~1M).
        seed: placement, sizes, colours and cameras all follow from it.
        num_views: number of cameras (default: 16 / 24 / 32 by preset).
        width, height: image size of the cameras in pixels.
        fov_y_deg: vertical field of view.

    Returns:
        A :class:`SyntheticScene`; ``scene.cameras`` are named ``view_000.png``, ...
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown synthetic scene preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if num_views is not None and num_views < 1:
        raise ValueError(f"num_views must be at least 1, got {num_views}")
    max_edge, sections, default_views = PRESETS[preset]
    rng = np.random.default_rng(seed)
    b = _Builder(rng, (max_edge, sections))
    t_stuff = (max_edge * 2.5, sections)

    # room: floor and four walls, each its own part/object/group ("stuff")
    RW, RD, RH = rng.uniform(6.5, 7.5), rng.uniform(5.5, 6.5), 2.6
    wall_hue = rng.uniform(0, 1)
    g = b.group("floor")
    o = b.obj("floor", g, stuff=True)
    b.part(o, "floor", [_box((RW, RD, 0.1), (0, 0, -0.05), t_stuff)], b.color(0.08, 0.5, 0.55))
    walls = {
        "wall_back": ((RW, 0.1, RH), (0, RD / 2 + 0.05, RH / 2)),
        "wall_front": ((RW, 0.1, RH), (0, -RD / 2 - 0.05, RH / 2)),
        "wall_left": ((0.1, RD, RH), (-RW / 2 - 0.05, 0, RH / 2)),
        "wall_right": ((0.1, RD, RH), (RW / 2 + 0.05, 0, RH / 2)),
    }
    for i, (name, (ext, ctr)) in enumerate(walls.items()):
        g = b.group(name)
        o = b.obj(name, g, stuff=True)
        b.part(o, name, [_box(ext, ctr, t_stuff)], b.color(wall_hue + 0.04 * i, 0.12, 0.85))

    furniture: list[int] = []
    # dining set: table + chairs around it + mugs on it (left half of the room)
    g = b.group("dining")
    tc = np.array([rng.uniform(-RW / 2 + 1.6, -0.9), rng.uniform(-0.8, 0.6)])
    tsize = (rng.uniform(1.2, 1.6), rng.uniform(0.8, 1.0))
    theight = rng.uniform(0.72, 0.78)
    hue = rng.uniform(0, 1)
    furniture.append(_table(b, g, "table_0", tc, tsize, theight, 0.0, hue))
    chair_hue = rng.uniform(0, 1)
    seats = [(0, -1), (0, 1), (-1, 0), (1, 0)]
    n_chairs = int(rng.integers(3, 5))
    for k, (sx, sy) in enumerate(seats[:n_chairs]):
        off = np.array([sx * (tsize[0] / 2 + 0.35), sy * (tsize[1] / 2 + 0.35)])
        furniture.append(_chair(b, g, f"chair_{k}", tc + off, tc, chair_hue))
    for k in range(int(rng.integers(2, 4))):
        xy = tc + np.array([(k - 1) * tsize[0] * 0.28, rng.uniform(-0.15, 0.15) * tsize[1]])
        furniture.append(_mug(b, g, f"mug_{k}", xy, theight, rng.uniform(0, 1)))

    # shelf against the back wall with lidded boxes on its boards
    g = b.group("storage")
    swidth = rng.uniform(1.1, 1.4)
    shelf_x = rng.uniform(0.4, RW / 2 - swidth / 2 - 0.3)
    shelf_id, board_z, yc, depth = _shelf(b, g, "shelf_0", shelf_x, RD / 2, swidth, rng.uniform(0, 1))
    furniture.append(shelf_id)
    nb = 0
    for z in board_z:
        xs = np.linspace(shelf_x - swidth / 2 + 0.25, shelf_x + swidth / 2 - 0.25, 2)
        for x in xs:
            if rng.uniform() < 0.75:
                size = (rng.uniform(0.25, 0.32), rng.uniform(0.22, 0.3), rng.uniform(0.18, 0.3))
                furniture.append(
                    _storage_box(
                        b, g, f"box_{nb}", (x + rng.uniform(-0.03, 0.03), yc), z + 0.015, size, rng.uniform(0, 1)
                    )
                )
                nb += 1

    # lounge: sofa facing a coffee table (front-right quadrant)
    g = b.group("lounge")
    sc = np.array([rng.uniform(0.6, RW / 2 - 1.3), rng.uniform(-RD / 2 + 1.0, -RD / 2 + 1.4)])
    # the sofa's back is at +y before rotation; face it towards +y (into the room): rotate by pi
    furniture.append(_sofa(b, g, "sofa_0", sc, np.pi, rng.uniform(0, 1)))
    ct = sc + np.array([0.0, 1.05])
    furniture.append(_table(b, g, "coffee_table_0", ct, (rng.uniform(0.8, 1.0), 0.5), 0.42, 0.0, rng.uniform(0, 1)))

    # a floor lamp in a free corner
    g = b.group("lamp")
    lxy = (-RW / 2 + 0.5, RD / 2 - 0.5)
    furniture.append(_lamp(b, g, "lamp_0", lxy, rng.uniform(0, 1)))

    vertices, faces, colors, labels, part_object_arr, object_group = _assemble(b, rng)

    # ---- cameras inside the room, all looking at furniture
    n_views = default_views if num_views is None else int(num_views)
    fboxes = []
    for oid in furniture:
        sel = labels["object"] == oid
        fboxes.append((vertices[sel].min(0), vertices[sel].max(0)))
    cams = _make_cameras(rng, fboxes, furniture, b.object_names, (RW, RD, RH), n_views, width, height, fov_y_deg)
    scene = Scene(vertices=vertices, faces=faces, colors=colors, cameras=cams)
    syn = _synthetic_scene(
        b, scene, labels, part_object_arr, object_group, preset, seed, {"room": [float(RW), float(RD), float(RH)]}
    )
    log.info(
        "synthetic scene %s/seed %d: %d vertices, %d faces, %d parts, %d objects, %d groups, %d views",
        preset,
        seed,
        len(vertices),
        len(faces),
        syn.num_parts,
        syn.num_objects,
        len(b.group_names),
        n_views,
    )
    return syn


def _make_cameras(rng, fboxes, furniture, object_names, room, n_views, width, height, fov):
    """Cameras at standing/sitting height inside the room, each aimed at a piece of furniture."""
    RW, RD, RH = room
    big = [i for i, oid in enumerate(furniture) if not object_names[oid].startswith(("mug", "box"))]
    cams = []
    for k in range(n_views):
        for _attempt in range(200):
            if k % 4 == 3:  # an overview from near a corner, at the room's centre of furniture
                corner = np.array([rng.choice([-1, 1]) * (RW / 2 - 0.4), rng.choice([-1, 1]) * (RD / 2 - 0.4)])
                eye = np.array([*corner, rng.uniform(1.9, 2.3)])
                target = np.array([rng.uniform(-1, 1), rng.uniform(-0.8, 0.8), 0.5])
            else:
                i = big[k % len(big)] if rng.uniform() < 0.7 else int(rng.integers(len(fboxes)))
                lo, hi = fboxes[i]
                target = (lo + hi) / 2 + rng.uniform(-0.1, 0.1, 3)
                az = rng.uniform(0, 2 * np.pi)
                dist = rng.uniform(1.4, 3.0)
                eye = np.array([target[0] + dist * np.cos(az), target[1] + dist * np.sin(az), rng.uniform(1.1, 1.9)])
                if hi[1] > RD / 2 - 0.7 and eye[1] > target[1] - 1.0:  # against the back wall: look from the front
                    continue
            if abs(eye[0]) > RW / 2 - 0.25 or abs(eye[1]) > RD / 2 - 0.25:
                continue
            if any(
                np.all(eye[:2] > lo[:2] - 0.25) and np.all(eye[:2] < hi[:2] + 0.25) and eye[2] < hi[2] + 0.4
                for lo, hi in fboxes
            ):
                continue
            break
        cams.append(Camera.look_at(eye, target, width=width, height=height, fov_y_deg=fov, name=f"view_{k:03d}.png"))
    return cams


# --------------------------------------------------------------------------- cluttered rooms
#: room size -> (max edge length of the tessellation in metres, cylinder sections); the
#: names give the approximate vertex count after the scan culling (it varies by seed)
ROOM_SIZES: dict[str, tuple[float, int]] = {
    "tiny": (0.25, 10),
    "90k": (0.057, 24),
    "500k": (0.0248, 48),
    "2m": (0.0121, 96),
}

#: footprint (x, y) and height of the clutter items, metres
_ITEMS = ("mug", "book", "bottle", "phone", "bowl", "can", "carton", "candle", "book_stack")


def _plane(size, center, normal_axis: int, tess):
    """A flat rectangle (one-sided surface, as a scan has) of ``size`` (two extents) at ``center``,
    a regular grid of triangles no longer than the tessellation's max edge."""
    import trimesh

    e = tess[0]
    na, nb = (max(1, int(np.ceil(x / e))) for x in size)
    ga, gb = np.meshgrid(
        np.linspace(-size[0] / 2, size[0] / 2, na + 1), np.linspace(-size[1] / 2, size[1] / 2, nb + 1), indexing="ij"
    )
    v = np.zeros(((na + 1) * (nb + 1), 3))
    axes = [i for i in range(3) if i != normal_axis]
    v[:, axes[0]], v[:, axes[1]] = ga.ravel(), gb.ravel()
    idx = np.arange(len(v)).reshape(na + 1, nb + 1)
    a, b_, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    faces = np.concatenate([np.stack([a, b_, c], 1), np.stack([a, c, d], 1)])
    return trimesh.Trimesh(vertices=v + np.asarray(center, float), faces=faces, process=False)


def _item(b: _Builder, gid: int, kind: str, xy, z0, hue) -> tuple[int, float]:
    """One clutter item on a surface at height ``z0``; returns (object id, footprint radius)."""
    t = b.tess
    n = sum(1 for o in b.object_names if o.startswith(kind + "_"))
    name = f"{kind}_{n}"
    x, y = xy
    if kind == "mug":
        return _mug(b, gid, name, xy, z0, hue), 0.09
    oid = b.obj(name, gid)
    if kind in ("book", "phone", "carton"):
        dims = {
            "book": (b.rng.uniform(0.15, 0.24), b.rng.uniform(0.11, 0.17), b.rng.uniform(0.02, 0.05)),
            "phone": (0.075, 0.15, 0.01),
            "carton": tuple(b.rng.uniform(0.08, 0.16, 3)),
        }[kind]
        m = _box(dims, (x, y, z0 + dims[2] / 2), t)
        _rotate_z([m], b.rng.uniform(0, np.pi), xy)
        b.part(oid, "body", [m], b.color(hue, 0.6, 0.7))
        return oid, 0.5 * float(np.hypot(dims[0], dims[1]))
    if kind == "book_stack":  # two or three books lying on each other: one object per stack, one part per book
        z = z0
        for i in range(int(b.rng.integers(2, 4))):
            d = (b.rng.uniform(0.17, 0.24), b.rng.uniform(0.12, 0.16), b.rng.uniform(0.02, 0.04))
            m = _box(d, (x, y, z + d[2] / 2), t)
            _rotate_z([m], b.rng.uniform(-0.2, 0.2), xy)
            b.part(oid, f"book_{i}", [m], b.color(hue + 0.25 * i, 0.6, 0.7))
            z += d[2]
        return oid, 0.15
    if kind == "bottle":
        body = _cylinder(0.035, 0.18, (x, y, z0 + 0.09), t)
        neck = _cylinder(0.013, 0.07, (x, y, z0 + 0.18 + 0.035), t)
        b.part(oid, "body", [body], b.color(hue, 0.6, 0.6))
        b.part(oid, "neck", [neck], b.color(hue + 0.5, 0.6, 0.8))
        return oid, 0.05
    r, h = {"bowl": (0.08, 0.05), "can": (0.033, 0.12), "candle": (0.03, 0.1)}[kind]
    b.part(oid, "body", [_cylinder(r, h, (x, y, z0 + h / 2), t)], b.color(hue, 0.6, 0.8))
    return oid, r + 0.02


def _wall_clock(b: _Builder, gid: int, xyz, axis: str, hue):
    """A clock on a wall: a thin disc (axis ``x`` or ``y``: the wall's normal) with two hands."""
    oid = b.obj("clock_0", gid)
    t = b.tess
    x, y, z = xyz
    s = 1.0 if (x if axis == "x" else y) < 0 else -1.0  # towards the room
    face = _cylinder(0.11, 0.03, xyz, t, axis=axis)
    off = np.array([s * 0.02, 0, 0]) if axis == "x" else np.array([0, s * 0.02, 0])
    hand_a = (0.008, 0.01, 0.08) if axis == "y" else (0.01, 0.008, 0.08)
    hand_b = (0.06, 0.01, 0.008) if axis == "y" else (0.01, 0.06, 0.008)
    b.part(oid, "face", [face], b.color(hue, 0.1, 0.95))
    b.part(
        oid,
        "hands",
        [_box(hand_a, np.asarray(xyz) + off + [0, 0, 0.03], t), _box(hand_b, np.asarray(xyz) + off, t)],
        b.color(hue, 0.3, 0.15),
    )
    return oid


def _frame(b: _Builder, gid: int, name: str, xyz, size, axis: str, hue):
    """A picture on a wall: frame (thin box) and canvas in front of it."""
    oid = b.obj(name, gid)
    t = b.tess
    x, y, z = xyz
    s = 1.0 if (x if axis == "x" else y) < 0 else -1.0
    w, h = size
    ext = (0.03, w, h) if axis == "x" else (w, 0.03, h)
    can = (0.01, w - 0.08, h - 0.08) if axis == "x" else (w - 0.08, 0.01, h - 0.08)
    off = np.array([s * 0.02, 0, 0]) if axis == "x" else np.array([0, s * 0.02, 0])
    b.part(oid, "frame", [_box(ext, xyz, t)], b.color(hue, 0.4, 0.35))
    b.part(oid, "canvas", [_box(can, np.asarray(xyz) + off, t)], b.color(hue + 0.3, 0.6, 0.8))
    return oid


def _desk_lamp(b: _Builder, gid: int, xy, z0, hue):
    oid = b.obj("desk_lamp_0", gid)
    t = b.tess
    b.part(oid, "base", [_cylinder(0.07, 0.02, (xy[0], xy[1], z0 + 0.01), t)], b.color(hue, 0.3, 0.3))
    b.part(oid, "arm", [_cylinder(0.01, 0.4, (xy[0], xy[1], z0 + 0.22), t)], b.color(hue, 0.1, 0.7))
    b.part(oid, "head", [_cylinder(0.06, 0.08, (xy[0], xy[1], z0 + 0.46), t)], b.color(hue + 0.1, 0.6, 0.9))
    return oid


def _monitor(b: _Builder, gid: int, xy, z0, hue):
    oid = b.obj("monitor_0", gid)
    t = b.tess
    x, y = xy
    b.part(oid, "foot", [_box((0.22, 0.16, 0.02), (x, y, z0 + 0.01), t)], b.color(hue, 0.1, 0.2))
    b.part(oid, "stand", [_box((0.05, 0.03, 0.2), (x, y + 0.03, z0 + 0.12), t)], b.color(hue, 0.1, 0.25))
    b.part(oid, "screen", [_box((0.6, 0.03, 0.36), (x, y, z0 + 0.38), t)], b.color(hue, 0.2, 0.1))
    return oid


def _plant(b: _Builder, gid: int, xy, hue):
    import trimesh

    oid = b.obj("plant_0", gid)
    t = b.tess
    b.part(oid, "pot", [_cylinder(0.16, 0.35, (xy[0], xy[1], 0.175), t)], b.color(hue, 0.5, 0.55))
    leaves = trimesh.creation.icosphere(subdivisions=2, radius=0.32)
    leaves = _translate(_refine(leaves, t), (xy[0], xy[1], 0.35 + 0.3))
    b.part(oid, "leaves", [leaves], b.color(0.3, 0.6, 0.45))
    return oid


class _Supports:
    """Horizontal surfaces that carry clutter, with the footprints already taken."""

    def __init__(self):
        self.surfaces: list[tuple[float, float, float, float, float, int]] = []  # x0 x1 y0 y1 z group
        self.taken: list[list[tuple[float, float, float]]] = []

    def add(self, lo_xy, hi_xy, z, gid, taken=()):
        self.surfaces.append((float(lo_xy[0]), float(hi_xy[0]), float(lo_xy[1]), float(hi_xy[1]), float(z), gid))
        self.taken.append(list(taken))

    def place(self, rng, radius: float):
        """A free spot ``(surface index, xy)`` for a footprint of ``radius``, or None."""
        area = np.array([max(s[1] - s[0], 0) * max(s[3] - s[2], 0) for s in self.surfaces])
        for _ in range(40):
            i = int(rng.choice(len(area), p=area / area.sum()))
            x0, x1, y0, y1, _, _ = self.surfaces[i]
            if x1 - x0 < 2 * radius or y1 - y0 < 2 * radius:
                continue
            xy = np.array([rng.uniform(x0 + radius, x1 - radius), rng.uniform(y0 + radius, y1 - radius)])
            if all(np.hypot(*(xy - (tx, ty))) >= radius + tr for tx, ty, tr in self.taken[i]):
                return i, xy
        return None


def make_room(
    seed: int = 0,
    num_objects: int = 50,
    num_views: int = 80,
    size: str = "90k",
    width: int = 640,
    height: int = 480,
    fov_y_deg: float = 60.0,
    scan_views: int = 200,
) -> SyntheticScene:
    """A cluttered room scanned from inside at eye height: the room-scale benchmark scene.

    Floor and four walls (one-sided surfaces, each its own stuff object) around tens of
    objects of very different sizes: a dining table with four chairs pushed against it, a
    desk with monitor, keyboard, lamp and chair, a shelf with boxes and rows of books, a
    sofa with a coffee table, a floor lamp (a thin pole), a plant, a clock and pictures on
    the walls, a bin, a backpack, a scale, and small clutter (mugs, books, bottles,
    phones, cans, ...) on the tables and boards until ``num_objects`` things stand in the
    room. Two identical armchairs stand against the left and right walls and no view
    shows both (``meta["twins"]``).

    Like a scan, the mesh holds only what a scan trajectory saw: ``scan_views`` cameras
    anywhere in the free space at 0.6-2.0 m; faces none of them hits (bottoms resting on
    a support, backs against a wall, insides) are dropped. The benchmark's cameras then
    stand in the free floor space at eye height (1.2-1.8 m), look around and slightly
    down, and keep 1.8 m from the small clutter so that it stays small in every view;
    what only the scan's low views saw (undersides of table tops and seats, the floor
    under furniture) is seen by none of them: 15-20 % of the vertices at 80 views
    (measure it with the fragments; fewer with more views).

    Args:
        seed: layout, sizes, colours and cameras follow from it.
        num_objects: non-stuff objects to reach with clutter (the fixed furniture is ~25-40
            with the shelf's rows; the count stops early when the surfaces are full).
        num_views: cameras.
        size: tessellation, one of :data:`ROOM_SIZES` (the name is about the vertex count).
        width, height: image size in pixels.
        fov_y_deg: vertical field of view.
        scan_views: cameras of the simulated scan that decides which faces exist.

    Returns:
        A :class:`SyntheticScene` (``preset`` = ``room-<size>``); ``meta`` holds ``room``
        (width, depth, height), ``twins`` (the two identical objects' ids), ``max_edge``
        (the tessellation) and ``kind``.
    """
    if size not in ROOM_SIZES:
        raise ValueError(f"unknown room size {size!r}; choose one of {', '.join(ROOM_SIZES)}")
    if num_views < 1:
        raise ValueError(f"num_views must be at least 1, got {num_views}")
    rng = np.random.default_rng(seed)
    b = _Builder(rng, ROOM_SIZES[size])
    t = b.tess
    RW, RD, RH = rng.uniform(7.0, 8.0), rng.uniform(5.6, 6.4), 2.6
    obstacles: list[int] = []  # objects the cameras keep out of
    small: list[int] = []  # clutter the cameras keep their distance from

    # ---- stuff: floor and walls, one-sided like a scan, as dense as the furniture
    g = b.group("floor")
    b.part(b.obj("floor", g, stuff=True), "floor", [_plane((RW, RD), (0, 0, 0), 2, t)], b.color(0.08, 0.5, 0.55))
    wall_hue = rng.uniform(0, 1)
    walls = {
        "wall_back": ((RW, RH), (0, RD / 2, RH / 2), 1),
        "wall_front": ((RW, RH), (0, -RD / 2, RH / 2), 1),
        "wall_left": ((RD, RH), (-RW / 2, 0, RH / 2), 0),
        "wall_right": ((RD, RH), (RW / 2, 0, RH / 2), 0),
    }
    for i, (name, (ext, ctr, ax)) in enumerate(walls.items()):
        g = b.group(name)
        b.part(b.obj(name, g, stuff=True), name, [_plane(ext, ctr, ax, t)], b.color(wall_hue + 0.04 * i, 0.12, 0.85))
    sup = _Supports()

    # ---- dining: table, four chairs pushed against its long sides
    g = b.group("dining")
    tc = np.array([rng.uniform(-1.5, -1.0), rng.uniform(-0.9, -0.5)])
    ts = (rng.uniform(1.3, 1.6), rng.uniform(0.85, 1.0))
    th = rng.uniform(0.72, 0.76)
    obstacles.append(_table(b, g, "table_0", tc, ts, th, 0.0, rng.uniform(0, 1)))
    sup.add(tc - np.array(ts) / 2 + 0.05, tc + np.array(ts) / 2 - 0.05, th, g)
    chair_hue = rng.uniform(0, 1)
    for k, (sx, sy) in enumerate([(-1, -1), (1, -1), (-1, 1), (1, 1)]):
        c = tc + np.array([sx * ts[0] * 0.24, sy * (ts[1] / 2 + 0.12)])
        obstacles.append(_chair(b, g, f"chair_{k}", c, c - np.array([0, sy]), chair_hue))

    # ---- desk against the back wall (left), monitor, lamp, chair
    g = b.group("desk")
    dc = np.array([rng.uniform(-RW / 2 + 1.0, -RW / 2 + 1.4), RD / 2 - 0.33])
    obstacles.append(_table(b, g, "desk_0", dc, (1.3, 0.6), 0.74, 0.0, rng.uniform(0, 1)))
    obstacles.append(_monitor(b, g, dc + [0.0, 0.12], 0.74, rng.uniform(0, 1)))
    b.part(
        b.obj("keyboard_0", g),
        "body",
        [_box((0.42, 0.13, 0.02), (dc[0], dc[1] - 0.14, 0.75), t)],
        b.color(0.0, 0.0, 0.25),
    )
    small.append(len(b.object_names) - 1)
    small.append(_desk_lamp(b, g, dc + [0.5, 0.15], 0.74, rng.uniform(0, 1)))
    sup.add(dc + [-0.62, -0.27], dc + [-0.33, 0.25], 0.74, g)
    obstacles.append(_chair(b, g, "desk_chair_0", dc + [0.0, -0.65], dc + [0.0, -2.0], rng.uniform(0, 1)))

    # ---- shelf against the back wall (right): boxes and standing books on its boards
    g = b.group("storage")
    sw = rng.uniform(1.2, 1.5)
    shelf_x = rng.uniform(0.2, 0.9)
    shelf_id, board_z, yc, depth = _shelf(b, g, "shelf_0", shelf_x, RD / 2, sw, rng.uniform(0, 1))
    obstacles.append(shelf_id)
    nb = 0
    for z in board_z:
        x = shelf_x - sw / 2 + 0.08
        while x < shelf_x + sw / 2 - 0.3:
            u = rng.uniform()
            if u < 0.3:  # a gap
                x += rng.uniform(0.1, 0.3)
            elif u < 0.6:  # a lidded box
                bs = (rng.uniform(0.22, 0.3), rng.uniform(0.22, 0.3), rng.uniform(0.16, 0.26))
                _storage_box(b, g, f"box_{nb}", (x + bs[0] / 2, yc), z + 0.015, bs, rng.uniform(0, 1))
                nb += 1
                x += bs[0] + 0.04
            else:  # a row of standing books (one object, one part per book)
                oid = b.obj(f"books_{nb}", g)
                nb += 1
                for i in range(int(rng.integers(3, 7))):
                    bw, bh = rng.uniform(0.025, 0.05), rng.uniform(0.2, 0.28)
                    m = _box((bw, rng.uniform(0.15, 0.2), bh), (x + bw / 2, yc, z + 0.015 + bh / 2), t)
                    b.part(oid, f"book_{i}", [m], b.color(rng.uniform(0, 1), 0.6, 0.6))
                    x += bw + 0.003
                x += 0.06

    # ---- lounge: sofa against the front wall facing into the room, coffee table in front
    g = b.group("lounge")
    sc = np.array([rng.uniform(0.6, 1.2), -RD / 2 + 0.45])
    obstacles.append(_sofa(b, g, "sofa_0", sc, np.pi, rng.uniform(0, 1)))
    ct = sc + np.array([0.0, 1.05])
    cts = (rng.uniform(0.9, 1.1), 0.55)
    obstacles.append(_table(b, g, "coffee_table_0", ct, cts, 0.42, 0.0, rng.uniform(0, 1)))
    sup.add(ct - np.array(cts) / 2 + 0.04, ct + np.array(cts) / 2 - 0.04, 0.42, g)

    # ---- two identical armchairs at the left and right ends of the room, facing its centre
    g = b.group("twins")
    twin = b.color(rng.uniform(0, 1), 0.7, 0.7)
    twin_colors = (twin, twin * 0.8, b.color(0.1, 0.3, 0.3))
    ty = rng.uniform(0.4, 1.0)
    twins = [
        _chair(b, g, "armchair_0", (-RW / 2 + 0.45, ty), (0.0, ty), 0.0, colors=twin_colors),
        _chair(b, g, "armchair_1", (RW / 2 - 0.45, ty), (0.0, ty), 0.0, colors=twin_colors),
    ]
    obstacles.extend(twins)

    # ---- things on the floor and on the walls
    g = b.group("corner")
    obstacles.append(_lamp(b, g, "lamp_0", (-RW / 2 + 0.45, -RD / 2 + 0.45), rng.uniform(0, 1)))
    obstacles.append(_plant(b, g, (RW / 2 - 0.45, -RD / 2 + 0.45), rng.uniform(0, 1)))
    g = b.group("floor_things")
    bin_xy = dc + [0.95, 0.05]
    oid = b.obj("bin_0", g)
    b.part(oid, "body", [_cylinder(0.14, 0.32, (bin_xy[0], bin_xy[1], 0.16), t)], b.color(rng.uniform(0, 1), 0.5, 0.5))
    obstacles.append(oid)
    oid = b.obj("backpack_0", g)
    bp = np.array([RW / 2 - 0.35, ty - 0.8])
    b.part(oid, "body", [_box((0.3, 0.18, 0.42), (bp[0], bp[1], 0.21), t)], b.color(rng.uniform(0, 1), 0.7, 0.5))
    b.part(
        oid, "pocket", [_box((0.22, 0.06, 0.18), (bp[0], bp[1] - 0.12, 0.12), t)], b.color(rng.uniform(0, 1), 0.7, 0.4)
    )
    _rotate_z([m for p in b.parts[-2:] for m in p[2]], -np.pi / 2, bp)
    obstacles.append(oid)
    oid = b.obj("scale_0", g)
    b.part(oid, "body", [_box((0.3, 0.3, 0.03), (RW / 2 - 0.4, ty + 0.8, 0.015), t)], b.color(0.0, 0.0, 0.85))
    obstacles.append(oid)
    g = b.group("wall_things")
    small.append(_wall_clock(b, g, (rng.uniform(-0.5, 0.5), -RD / 2 + 0.02, 2.05), "y", rng.uniform(0, 1)))
    _frame(b, g, "picture_0", (-RW / 2 + 0.02, ty - 1.5, 1.55), (0.7, 0.5), "x", rng.uniform(0, 1))
    _frame(b, g, "picture_1", (shelf_x - sw / 2 - 0.7, RD / 2 - 0.02, 1.6), (0.5, 0.6), "y", rng.uniform(0, 1))

    # ---- clutter on the tables and boards until num_objects things stand in the room
    things = sum(1 for s_ in b.stuff if not s_)
    groups = {i: gid for i, (_, _, _, _, _, gid) in enumerate(sup.surfaces)}
    while things < num_objects:
        kind = _ITEMS[int(rng.integers(len(_ITEMS)))]
        probe = {
            "mug": 0.09,
            "book": 0.14,
            "bottle": 0.05,
            "phone": 0.09,
            "bowl": 0.1,
            "can": 0.05,
            "carton": 0.12,
            "candle": 0.05,
            "book_stack": 0.15,
        }[kind]
        spot = sup.place(rng, probe)
        if spot is None:
            break
        i, xy = spot
        oid, r = _item(b, groups[i], kind, xy, sup.surfaces[i][4], rng.uniform(0, 1))
        sup.taken[i].append((float(xy[0]), float(xy[1]), max(r, probe)))
        small.append(oid)
        things += 1

    vertices, faces, colors, labels, part_object_arr, object_group = _assemble(b, rng)
    boxes = {
        oid: (vertices[labels["object"] == oid].min(0), vertices[labels["object"] == oid].max(0))
        for oid in set(obstacles) | set(small)
    }
    # a scan holds only the surfaces its trajectory saw: drop what a dense sweep of low and
    # high views never hits (undersides resting on a support, backs against walls, insides)
    same = [tuple(np.flatnonzero(labels["object"] == o) for o in twins)]  # the twins stay identical
    keep_v, faces = _scan_visible(
        vertices,
        faces,
        (RW, RD, RH),
        [boxes[o] for o in obstacles],
        np.random.default_rng([seed, 1]),
        scan_views,
        same,
        height=int(np.clip(3.5 / t[0], 120, 480)),  # a pixel no wider than the triangles at ~3 m
    )
    vertices, colors = vertices[keep_v], colors[keep_v]
    labels = {k: v[keep_v] for k, v in labels.items()}
    twin_pts = [vertices[labels["object"] == o][:: max(1, int((labels["object"] == o).sum()) // 300)] for o in twins]
    cams = _room_cameras(
        rng,
        (RW, RD, RH),
        [boxes[o] for o in obstacles],
        np.array([(boxes[o][0] + boxes[o][1]) / 2 for o in small]).reshape(-1, 3),
        twin_pts,
        num_views,
        width,
        height,
        fov_y_deg,
    )
    scene = Scene(vertices=vertices, faces=faces, colors=colors, cameras=cams)
    meta = {
        "kind": "room",
        "room": [float(RW), float(RD), float(RH)],
        "twins": [int(o) for o in twins],
        "max_edge": float(t[0]),
    }
    syn = _synthetic_scene(b, scene, labels, part_object_arr, object_group, f"room-{size}", seed, meta)
    log.info(
        "room %s/seed %d: %d vertices, %d faces, %d parts, %d objects (%d things), %d views",
        size,
        seed,
        len(vertices),
        len(faces),
        syn.num_parts,
        syn.num_objects,
        things,
        num_views,
    )
    return syn


def _scan_visible(vertices, faces, room, boxes, rng, n_views: int, same=(), height: int = 240):
    """What a scan trajectory sees: ``(keep [V] bool, faces reindexed to the kept vertices)``.

    ``n_views`` cameras anywhere in the free floor space at 0.4-2.0 m, looking around and
    down; a face is kept when one of its vertices belongs to a hit triangle. ``same``:
    pairs of equally long vertex-id arrays (identical objects, vertex for vertex) that
    keep the same vertices (what either one shows).
    """
    from ..render.fragments import compute_fragments

    RW, RD, _ = room
    mesh = Scene(vertices=vertices, faces=faces)
    hit = np.zeros(len(vertices), bool)
    for k in range(n_views):
        for _attempt in range(200):
            eye = np.array(
                [
                    rng.uniform(-RW / 2 + 0.4, RW / 2 - 0.4),
                    rng.uniform(-RD / 2 + 0.4, RD / 2 - 0.4),
                    rng.uniform(0.6, 2.0),
                ]
            )
            if not any(
                np.all(eye[:2] > lo[:2] - 0.15) and np.all(eye[:2] < hi[:2] + 0.15) and eye[2] < hi[2] + 0.3
                for lo, hi in boxes
            ):
                break
        yaw = rng.uniform(0, 2 * np.pi)
        dist = rng.uniform(1.0, 3.0)
        target = eye + np.array([dist * np.cos(yaw), dist * np.sin(yaw), 0.0])
        target[2] = rng.uniform(0.0, 1.4)
        cam = Camera.look_at(eye, target, width=height * 4 // 3, height=height, fov_y_deg=60.0, name=f"scan_{k:03d}")
        f = compute_fragments(mesh, cam, "cpu")
        ok = f.face_ids >= 0
        hit[faces[f.face_ids[ok]].ravel()] = True
    for ia, ib in same:
        hit[ia] = hit[ib] = hit[ia] | hit[ib]
    keep_f = hit[faces].any(axis=1)
    keep_v = np.zeros(len(vertices), bool)
    keep_v[faces[keep_f].ravel()] = True
    new_id = np.cumsum(keep_v) - 1
    return keep_v, new_id[faces[keep_f]].astype(np.int32)


def _in_view(cam: Camera, points: np.ndarray, margin: float = 0.1) -> bool:
    """Whether any of ``points`` projects into the image (occlusion ignored: conservative)."""
    uv, depth = cam.project(points)
    ok = depth > 0.05
    mu, mv = margin * cam.width, margin * cam.height
    ok &= (uv[:, 0] > -mu) & (uv[:, 0] < cam.width + mu) & (uv[:, 1] > -mv) & (uv[:, 1] < cam.height + mv)
    return bool(ok.any())


def _room_cameras(rng, room, boxes, small_centres, twin_pts, n_views, width, height, fov, min_small_dist=1.8):
    """Eye-height cameras in the free floor space, looking around; never both twins in one view."""
    RW, RD, _ = room
    cams: list[Camera] = []
    for k in range(n_views):
        cam = None
        for attempt in range(500):
            eye = np.array(
                [
                    rng.uniform(-RW / 2 + 0.7, RW / 2 - 0.7),
                    rng.uniform(-RD / 2 + 0.7, RD / 2 - 0.7),
                    rng.uniform(1.2, 1.8),
                ]
            )
            if any(np.all(eye[:2] > lo[:2] - 0.3) and np.all(eye[:2] < hi[:2] + 0.3) for lo, hi in boxes):
                continue
            if (
                len(small_centres)
                and attempt < 400
                and np.min(np.linalg.norm(small_centres - eye, axis=1)) < min_small_dist
            ):
                continue
            yaw = rng.uniform(0, 2 * np.pi)
            dist = rng.uniform(2.0, 3.5)
            target = eye + np.array([dist * np.cos(yaw), dist * np.sin(yaw), 0.0])
            target[2] = rng.uniform(0.4, 1.3)
            cand = Camera.look_at(eye, target, width=width, height=height, fov_y_deg=fov, name=f"view_{k:03d}.png")
            if sum(_in_view(cand, p) for p in twin_pts) >= 2:
                continue
            cam = cand
            break
        if cam is None:
            raise RuntimeError(f"room cameras: no free spot for view {k} after 500 tries (room {RW:.1f} x {RD:.1f} m)")
        cams.append(cam)
    return cams


# --------------------------------------------------------------------------- point clouds
def scan_points(
    syn: SyntheticScene, num_points: int | None = None, seed: int = 0, oversample: int = 4
) -> tuple[SyntheticScene, np.ndarray, np.ndarray]:
    """The scene's surface as a scanner's point cloud: evenly spaced points, not its vertices.

    A scan (a depth camera's fused cloud, a reconstruction's vertices) samples the surface
    about evenly; a synthetic mesh's vertices do not: they sit on rims, corners and edge
    loops, with wide gaps across flat faces. The points here are ``oversample`` x
    ``num_points`` area-weighted random points thinned to one per cell of a voxel grid
    (the one nearest the cell's centre) whose cell is sized (once refined) to leave
    about ``num_points`` of them. Each point
    takes the labels of its triangle (all vertices of a triangle share them) and the
    colour interpolated at its position; the cameras are the mesh's.

    Args:
        syn: a synthetic scene with a mesh (e.g. :func:`make_room`).
        num_points: points to aim for (default: the mesh's vertex count).
        seed: the sampling's random seed.
        oversample: random points drawn per kept point before thinning.

    Returns:
        ``(points, face, nearest)``: a :class:`SyntheticScene` whose scene has no faces
        and whose labels are per point; [N] int64 the mesh triangle each point lies on,
        and [N] int64 that triangle's vertex nearest the point.
    """
    from dataclasses import replace

    from ..graph import face_areas

    sc = syn.scene
    if sc.faces is None or len(sc.faces) == 0:
        raise ValueError("scan_points needs a mesh (faces); this scene is already a point cloud")
    n = int(num_points or sc.num_vertices)
    rng = np.random.default_rng(seed)
    v = np.asarray(sc.vertices, np.float64)
    f = np.asarray(sc.faces, np.int64)
    area = face_areas(v, f)
    face = rng.choice(len(f), size=oversample * n, p=area / area.sum())
    r1, r2 = np.sqrt(rng.random(len(face))), rng.random(len(face))
    bary = np.stack([1.0 - r1, r1 * (1.0 - r2), r1 * r2], axis=1)
    pts = np.einsum("nk,nkd->nd", bary, v[f[face]])
    origin = pts.min(0)

    def thin(cell: float) -> np.ndarray:
        """Per grid cell the point nearest its centre: neighbours end up about a cell apart."""
        grid = (pts - origin) / cell
        key = np.floor(grid).astype(np.int64)
        order = np.lexsort((np.square(grid - key - 0.5).sum(1), key[:, 2], key[:, 1], key[:, 0]))
        k = key[order]
        return order[np.r_[True, (k[1:] != k[:-1]).any(axis=1)]]

    cell = float(np.sqrt(area.sum() / n))
    keep = thin(cell)
    for _ in range(2):  # a flat surface crosses a cube in about 1-1.5 cell areas: refine the cell
        if abs(len(keep) - n) < 0.02 * n:
            break
        cell *= float(np.sqrt(len(keep) / n))
        keep = thin(cell)
    keep = np.sort(keep)
    face, bary, pts = face[keep], bary[keep], pts[keep]
    colors = None
    if sc.colors is not None:
        c = np.asarray(sc.colors, np.float64)[f[face]]
        colors = np.clip(np.rint(np.einsum("nk,nkd->nd", bary, c)), 0, 255).astype(np.uint8)
    first = f[face, 0]
    cloud = Scene(vertices=pts.astype(np.float32), faces=None, colors=colors, cameras=sc.cameras)
    labels = {k: np.asarray(lab)[first] for k, lab in syn.labels.items()}
    corner = np.argmin(np.linalg.norm(pts[:, None] - v[f[face]], axis=2), axis=1)
    nearest = f[face, corner]
    return replace(syn, scene=cloud, labels=labels, meta={**syn.meta, "scan_points_cell": cell}), face, nearest


def fused_scan(
    syn: SyntheticScene,
    num_vertices: int | None = None,
    voxel: float = 0.015,
    depths: list[np.ndarray] | None = None,
    seed: int = 0,
) -> tuple[SyntheticScene, np.ndarray]:
    """The scene as a depth-camera scan reconstructs it: one welded, evenly tessellated mesh.

    A real scan's mesh (ScanNet's, a phone scanner's) is fused from depth images: one
    surface, where a phone on a table is a bump of the table top with a few vertices and
    the pieces of a synthetic scene (a table leg pushed into its top, a book lying on a
    shelf) are welded together. Here every camera's depth image (the scene's own ray
    casting, or ``depths``) is fused into a truncated signed distance volume of ``voxel``
    metres (open3d's ``VoxelBlockGrid``, truncation 4 voxels), meshed by marching cubes
    and decimated (quadric error) to about ``num_vertices``, as ScanNet decimates its
    meshes. Each vertex takes the labels and colour of the nearest point of the original
    surface (evenly spaced samples, :func:`scan_points` at 8x the vertex count).

    Args:
        syn: a synthetic scene with a mesh and cameras (e.g. :func:`make_room`).
        num_vertices: vertices to aim for (default: the mesh's vertex count).
        voxel: the fusion's voxel size in metres (the smallest detail that survives).
        depths: per camera of ``syn.scene.cameras`` the [H, W] depth along the optical
            axis (inf or 0 = no surface); default: ray cast here.
        seed: the seed of the surface samples the labels are read from.

    Returns:
        ``(scan, nearest)``: a :class:`SyntheticScene` with the fused mesh, its per-vertex
        labels and the original cameras; [V'] int64 the original vertex nearest each
        fused vertex's surface point (to carry per-vertex facts such as visibility).
    """
    from dataclasses import replace

    import open3d as o3d
    import open3d.core as o3c
    from scipy.spatial import cKDTree

    sc = syn.scene
    if sc.faces is None or len(sc.faces) == 0:
        raise ValueError("fused_scan needs a mesh (faces) to take depth images of; this scene is a point cloud")
    if not sc.cameras:
        raise ValueError("fused_scan needs the scene's cameras: the scan is fused from their depth images")
    if depths is not None and len(depths) != len(sc.cameras):
        raise ValueError(f"depths: expected one image per camera ({len(sc.cameras)}), got {len(depths)}")
    grid = o3d.t.geometry.VoxelBlockGrid(
        attr_names=("tsdf", "weight"),
        attr_dtypes=(o3c.float32, o3c.float32),
        attr_channels=(o3c.SizeVector([1]), o3c.SizeVector([1])),
        voxel_size=float(voxel),
        block_resolution=8,
        block_count=200_000,
    )
    for i, cam in enumerate(sc.cameras):
        if depths is None:
            from ..render.fragments import compute_fragments

            d = compute_fragments(sc, cam, "cpu").depth
        else:
            d = np.asarray(depths[i])
        if d.shape != (cam.height, cam.width):
            raise ValueError(f"depths[{i}] has shape {d.shape}, camera {cam.name!r} is {cam.height}x{cam.width}")
        img = o3d.t.geometry.Image(
            o3c.Tensor.from_numpy(np.ascontiguousarray(np.where(np.isfinite(d), d, 0.0), np.float32))
        )
        k = o3c.Tensor.from_numpy(np.ascontiguousarray(cam.K, np.float64))
        ext = o3c.Tensor.from_numpy(np.ascontiguousarray(cam.world_to_cam, np.float64))
        blocks = grid.compute_unique_block_coordinates(img, k, ext, 1.0, 1e3, trunc_voxel_multiplier=4.0)
        grid.integrate(blocks, img, k, ext, 1.0, 1e3, trunc_voxel_multiplier=4.0)
    try:  # a voxel seen once counts (synthetic depth has no noise to average out)
        mesh = grid.extract_triangle_mesh(weight_threshold=1.0).to_legacy()
    except RuntimeError as e:  # open3d raises on an empty volume
        raise ValueError("fused_scan: the depth images fused to no surface; check the cameras and depths") from e
    mesh.remove_duplicated_vertices()
    n = int(num_vertices or sc.num_vertices)
    mesh = mesh.simplify_quadric_decimation(target_number_of_triangles=2 * n)
    mesh.remove_degenerate_triangles()
    mesh.remove_unreferenced_vertices()
    verts = np.asarray(mesh.vertices, np.float32)
    faces = np.asarray(mesh.triangles, np.int32)
    if len(faces) == 0:
        raise ValueError("fused_scan: the depth images fused to no surface; check the cameras and depths")
    dense, _, dense_nearest = scan_points(syn, num_points=8 * sc.num_vertices, seed=seed)
    _, idx = cKDTree(dense.scene.vertices).query(verts, workers=-1)
    colors = None if dense.scene.colors is None else np.asarray(dense.scene.colors)[idx]
    scan = Scene(vertices=verts, faces=faces, colors=colors, cameras=sc.cameras)
    labels = {k: np.asarray(lab)[idx] for k, lab in dense.labels.items()}
    meta = {**syn.meta, "fused_voxel": float(voxel)}
    return replace(syn, scene=scan, labels=labels, meta=meta), dense_nearest[idx]


# --------------------------------------------------------------------------- images and files
def render_shaded(scene: Scene, fragments, camera: Camera, ambient: float = 0.35) -> np.ndarray:
    """A simple shaded colour image: interpolated vertex colours x Lambert (head light).

    Args:
        scene: mesh with colours.
        fragments: the view's :class:`~omniseg3d_mesh.render.fragments.Fragments`.
        camera: the view (for the light direction).
        ambient: ambient share of the light.

    Returns:
        [H, W, 3] uint8 image (background dark grey).
    """
    colors = (scene.colors if scene.colors is not None else np.full((scene.num_vertices, 3), 180, np.uint8)).astype(
        np.float32
    )
    rgb = fragments.interpolate(colors)
    valid = fragments.valid
    v = scene.vertices
    f = scene.faces
    assert f is not None  # shading needs triangles: the synthetic scenes are meshes
    fid = np.clip(fragments.face_ids, 0, None)
    tri = v[f[fid]]  # [H, W, 3, 3]
    n = np.cross(tri[..., 1, :] - tri[..., 0, :], tri[..., 2, :] - tri[..., 0, :])
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    _, dirs = camera.pixel_rays()
    lam = np.abs((n.reshape(-1, 3) * dirs).sum(1)).reshape(valid.shape)
    shade = ambient + (1 - ambient) * lam
    img = np.clip(rgb * shade[..., None], 0, 255)
    img[~valid] = 40
    return img.astype(np.uint8)


def _write_cameras_json(path: Path, cameras: list[Camera]) -> None:
    """The project's cameras.json (io.cameras_json when present, else the same fields by hand)."""
    try:
        from ..io.cameras_json import save_cameras_json
    except ImportError:  # io not merged yet: write the contract's fields directly
        from ..workspace import atomic_write_json

        atomic_write_json(
            path,
            {
                "format": "omniseg3d_mesh.cameras",
                "version": 1,
                "convention": "OpenCV axes, world_to_cam 4x4, pixel (0,0) = top-left corner",
                "cameras": [
                    {
                        "name": c.name,
                        "image": c.name,
                        "width": c.width,
                        "height": c.height,
                        "K": c.K.tolist(),
                        "world_to_cam": c.world_to_cam.tolist(),
                        "distortion": None if c.distortion is None else c.distortion.tolist(),
                    }
                    for c in cameras
                ],
            },
        )
        return
    save_cameras_json(path, cameras)


def save_synthetic(
    out_dir: str | Path, syn: SyntheticScene, fragments_by_view: dict | None = None, progress=None
) -> dict:
    """Write a synthetic scene in the project's own formats.

    Layout::

        out_dir/mesh.ply          binary PLY with vertex colours
        out_dir/images/<view>     shaded PNG per camera
        out_dir/cameras.json      the cameras (project format)
        out_dir/gt_labels.npz     part/object/group [V] int32 + names + parent arrays

    Args:
        out_dir: target folder (created).
        syn: the scene.
        fragments_by_view: view name -> Fragments (computed when missing).
        progress: optional ``progress(stage, done, total)`` callback.

    Returns:
        dict of the written paths (``mesh``, ``images``, ``cameras``, ``labels``).
    """
    import trimesh
    from PIL import Image

    from ..progress import report
    from ..render.fragments import compute_fragments
    from ..workspace import atomic_save_npz, atomic_write_bytes

    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    sc = syn.scene
    mesh = trimesh.Trimesh(vertices=sc.vertices, faces=sc.faces, vertex_colors=sc.colors, process=False)
    # binary PLY export returns bytes (trimesh's annotation is the union over all formats)
    atomic_write_bytes(out / "mesh.ply", cast(bytes, mesh.export(file_type="ply", encoding="binary")))
    cams = []
    for i, cam in enumerate(sc.cameras):
        frags = (fragments_by_view or {}).get(cam.name) or compute_fragments(sc, cam, "cpu")
        img = render_shaded(sc, frags, cam)
        path = out / "images" / cam.name
        import io as _io

        buf = _io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG")
        atomic_write_bytes(path, buf.getvalue())
        cams.append(
            Camera(
                K=cam.K,
                world_to_cam=cam.world_to_cam,
                width=cam.width,
                height=cam.height,
                image_path=path,
                name=cam.name,
            )
        )
        report(progress, "images", i + 1, len(sc.cameras))
    _write_cameras_json(out / "cameras.json", cams)
    truth: dict[str, Any] = syn.ground_truth_arrays()  # Any: atomic_save_npz also takes flags by keyword
    atomic_save_npz(out / "gt_labels.npz", **truth)
    return {
        "mesh": out / "mesh.ply",
        "images": out / "images",
        "cameras": out / "cameras.json",
        "labels": out / "gt_labels.npz",
    }
