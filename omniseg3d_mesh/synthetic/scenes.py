"""Indoor-like synthetic scenes built from trimesh primitives, with ground truth at three
levels: part ⊂ object ⊂ group.

A room (floor + four walls, each its own "stuff" part, object and group) holds a
dining set (table + chairs + mugs on the table), a shelf with lidded boxes on its
boards, a lounge (sofa + coffee table) and a floor lamp. Every primitive stays its
own connected component (nothing is welded), so a part is exactly a set of
primitives. Everything (placement, sizes, colours, cameras) follows from the seed;
the preset only changes the tessellation and the default number of views.

World frame: z up, floor top at z = 0, metres. Cameras use :meth:`Camera.look_at`
(OpenCV axes).
"""

from __future__ import annotations

import colorsys
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..scene import Camera, Scene

log = logging.getLogger(__name__)

__all__ = ["SyntheticScene", "make_scene", "render_shaded", "save_synthetic", "PRESETS"]

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
            legs.append(_cylinder(r, height - 0.05, (center[0] + sx * (lx / 2 - 0.08), center[1] + sy * (ly / 2 - 0.08), (height - 0.05) / 2), t))
    _rotate_z([top, *legs], angle, center)
    b.part(oid, "top", [top], b.color(hue, 0.5, 0.7))
    for i, leg in enumerate(legs):
        b.part(oid, f"leg_{i}", [leg], b.color(hue + 0.5, 0.45, 0.45))
    return oid


def _chair(b: _Builder, gid: int, name: str, center, facing, hue):
    oid = b.obj(name, gid)
    t = b.tess
    s, h = 0.46, 0.46
    seat = _box((s, s, 0.06), (center[0], center[1], h - 0.03), t)
    back = _box((s, 0.06, 0.5), (center[0], center[1] + s / 2 - 0.03, h + 0.25), t)
    legs = [
        _box((0.05, 0.05, h - 0.06), (center[0] + sx * (s / 2 - 0.04), center[1] + sy * (s / 2 - 0.04), (h - 0.06) / 2), t)
        for sx in (-1, 1)
        for sy in (-1, 1)
    ]
    # the back is at +y before rotation; turn the chair so that it faces `facing`
    angle = np.arctan2(facing[1] - center[1], facing[0] - center[0]) - (-np.pi / 2)
    _rotate_z([seat, back, *legs], angle, center)
    b.part(oid, "seat", [seat], b.color(hue, 0.6, 0.75))
    b.part(oid, "back", [back], b.color(hue + 0.08, 0.6, 0.6))
    for i, leg in enumerate(legs):
        b.part(oid, f"leg_{i}", [leg], b.color(hue - 0.1, 0.3, 0.35))
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


# --------------------------------------------------------------------------- the scene
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
    sx = rng.uniform(0.4, RW / 2 - swidth / 2 - 0.3)
    shelf_id, board_z, yc, depth = _shelf(b, g, "shelf_0", sx, RD / 2, swidth, rng.uniform(0, 1))
    furniture.append(shelf_id)
    nb = 0
    for z in board_z:
        xs = np.linspace(sx - swidth / 2 + 0.25, sx + swidth / 2 - 0.25, 2)
        for x in xs:
            if rng.uniform() < 0.75:
                size = (rng.uniform(0.25, 0.32), rng.uniform(0.22, 0.3), rng.uniform(0.18, 0.3))
                furniture.append(_storage_box(b, g, f"box_{nb}", (x + rng.uniform(-0.03, 0.03), yc), z + 0.015, size, rng.uniform(0, 1)))
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

    # ---- concatenate: every primitive is its own connected component
    verts, faces, cols, part_lab = [], [], [], []
    offset = 0
    part_object = []
    for pid, (_, oid, meshes, rgb) in enumerate(b.parts):
        part_object.append(oid)
        for m in meshes:
            v = np.asarray(m.vertices, dtype=np.float32)
            verts.append(v)
            faces.append(np.asarray(m.faces, dtype=np.int64) + offset)
            jitter = rng.normal(0.0, 0.025, size=(len(v), 3))
            cols.append(np.clip(rgb[None] + jitter, 0, 1))
            part_lab.append(np.full(len(v), pid, dtype=np.int32))
            offset += len(v)
    vertices = np.concatenate(verts)
    part = np.concatenate(part_lab)
    part_object_arr = np.asarray(part_object, dtype=np.int32)
    object_group = np.asarray(b.object_group, dtype=np.int32)
    labels = {"part": part, "object": part_object_arr[part], "group": object_group[part_object_arr[part]]}
    colors = (np.concatenate(cols) * 255 + 0.5).astype(np.uint8)

    # ---- cameras inside the room, all looking at furniture
    n_views = default_views if num_views is None else int(num_views)
    fboxes = []
    for oid in furniture:
        sel = labels["object"] == oid
        fboxes.append((vertices[sel].min(0), vertices[sel].max(0)))
    cams = _make_cameras(rng, fboxes, furniture, b.object_names, (RW, RD, RH), n_views, width, height, fov_y_deg)
    scene = Scene(vertices=vertices, faces=np.concatenate(faces).astype(np.int32), colors=colors, cameras=cams)
    syn = SyntheticScene(
        scene=scene,
        labels=labels,
        part_names=[p[0] for p in b.parts],
        object_names=list(b.object_names),
        group_names=list(b.group_names),
        part_object=part_object_arr,
        object_group=object_group,
        stuff=np.asarray(b.stuff, dtype=bool),
        preset=preset,
        seed=seed,
        meta={"room": [float(RW), float(RD), float(RH)]},
    )
    log.info(
        "synthetic scene %s/seed %d: %d vertices, %d faces, %d parts, %d objects, %d groups, %d views",
        preset, seed, len(vertices), len(scene.faces), syn.num_parts, syn.num_objects, len(b.group_names), n_views,
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
            if any(np.all(eye[:2] > lo[:2] - 0.25) and np.all(eye[:2] < hi[:2] + 0.25) and eye[2] < hi[2] + 0.4 for lo, hi in fboxes):
                continue
            break
        cams.append(Camera.look_at(eye, target, width=width, height=height, fov_y_deg=fov, name=f"view_{k:03d}.png"))
    return cams


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
    colors = (scene.colors if scene.colors is not None else np.full((scene.num_vertices, 3), 180, np.uint8)).astype(np.float32)
    rgb = fragments.interpolate(colors)
    valid = fragments.valid
    v = scene.vertices
    f = scene.faces
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


def save_synthetic(out_dir: str | Path, syn: SyntheticScene, fragments_by_view: dict | None = None, progress=None) -> dict:
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
    atomic_write_bytes(out / "mesh.ply", mesh.export(file_type="ply", encoding="binary"))
    cams = []
    for i, cam in enumerate(sc.cameras):
        frags = (fragments_by_view or {}).get(cam.name) or compute_fragments(sc, cam, "cpu")
        img = render_shaded(sc, frags, cam)
        path = out / "images" / cam.name
        import io as _io

        buf = _io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG")
        atomic_write_bytes(path, buf.getvalue())
        cams.append(Camera(K=cam.K, world_to_cam=cam.world_to_cam, width=cam.width, height=cam.height, image_path=path, name=cam.name))
        report(progress, "images", i + 1, len(sc.cameras))
    _write_cameras_json(out / "cameras.json", cams)
    atomic_save_npz(
        out / "gt_labels.npz",
        part=syn.labels["part"],
        object=syn.labels["object"],
        group=syn.labels["group"],
        part_object=syn.part_object,
        object_group=syn.object_group,
        stuff=syn.stuff,
        part_names=np.asarray(syn.part_names),
        object_names=np.asarray(syn.object_names),
        group_names=np.asarray(syn.group_names),
    )
    return {"mesh": out / "mesh.ply", "images": out / "images", "cameras": out / "cameras.json", "labels": out / "gt_labels.npz"}
