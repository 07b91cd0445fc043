"""A synthetic scene with known parts, objects and groups, and a feature field from its labels.

Shared by the select / discretize / export / CLI tests and by ``tools/bench_select.py``
(``from tests.helpers.parts import make_part_scene``).

The geometry is one connected height-field mesh (a floor with raised blocks), so
region growing can walk from a part to its object as a real scanned surface would:

* floor: part 0, object 0, group 0
* object 1 (group 1): parts 1, 2  (two blocks of different height)
* object 2 (group 1): parts 3, 4
* object 3 (group 2): parts 5, 6, 7

Features are hierarchical: group direction -> object = normalise(group + 0.8 r) ->
part = normalise(object + 0.5 r) -> vertex = normalise(part + noise), with all the
random directions orthonormal when they fit in D, so that cosine similarity is
about 0.97 within a part, 0.8 within an object, 0.5 within a group and ~0 across
groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (x0, x1, y0, y1, height, part, object, group)
BLOCKS = [
    (0.10, 0.35, 0.10, 0.25, 0.15, 1, 1, 1),
    (0.10, 0.35, 0.25, 0.45, 0.30, 2, 1, 1),
    (0.35, 0.50, 0.10, 0.45, 0.20, 3, 2, 1),
    (0.50, 0.60, 0.10, 0.45, 0.10, 4, 2, 1),
    (0.65, 0.90, 0.55, 0.67, 0.10, 5, 3, 2),
    (0.65, 0.90, 0.67, 0.78, 0.20, 6, 3, 2),
    (0.65, 0.90, 0.78, 0.90, 0.30, 7, 3, 2),
]
PART_OBJECT = np.array([0, 1, 1, 2, 2, 3, 3, 3])
PART_GROUP = np.array([0, 1, 1, 1, 1, 2, 2, 2])


@dataclass
class PartScene:
    vertices: np.ndarray  # [V, 3] f32
    faces: np.ndarray  # [F, 3] i32
    colors: np.ndarray  # [V, 3] u8
    part: np.ndarray  # [V] i32
    object: np.ndarray  # [V] i32
    group: np.ndarray  # [V] i32
    features: np.ndarray  # [V, D] f32 unit

    def vertex_in(self, part: int) -> int:
        """A vertex well inside ``part`` (the one nearest the part's centroid)."""
        idx = np.flatnonzero(self.part == part)
        c = self.vertices[idx].mean(0)
        return int(idx[np.argmin(np.linalg.norm(self.vertices[idx] - c, axis=1))])


def grid_mesh(n: int) -> tuple[np.ndarray, np.ndarray]:
    """An n x n vertex grid over the unit square: vertices [n*n, 3] (z = 0), faces [2(n-1)^2, 3]."""
    ys, xs = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n), indexing="ij")
    verts = np.stack([xs.ravel(), ys.ravel(), np.zeros(n * n)], 1).astype(np.float32)
    i, j = np.meshgrid(np.arange(n - 1), np.arange(n - 1), indexing="ij")
    a = (i * n + j).ravel()
    b, c, d = a + 1, a + n, a + n + 1
    faces = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)]).astype(np.int32)
    return verts, faces


def hierarchical_features(part: np.ndarray, dim: int = 16, noise: float = 0.15, seed: int = 0) -> np.ndarray:
    """[V, dim] unit features for the part labels of :data:`BLOCKS` (see module docstring)."""
    rng = np.random.default_rng(seed)
    n_groups, n_objects, n_parts = PART_GROUP.max() + 1, PART_OBJECT.max() + 1, len(PART_OBJECT)
    need = n_groups + n_objects + n_parts
    if need <= dim:
        q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
        basis = q.T[:need]
    else:
        basis = rng.normal(size=(need, dim))
        basis /= np.linalg.norm(basis, axis=1, keepdims=True)
    g_dir = basis[:n_groups]
    o_rand = basis[n_groups : n_groups + n_objects]
    p_rand = basis[n_groups + n_objects :]
    obj_group = np.zeros(n_objects, int)
    obj_group[PART_OBJECT] = PART_GROUP
    o_dir = g_dir[obj_group] + 0.8 * o_rand
    o_dir /= np.linalg.norm(o_dir, axis=1, keepdims=True)
    p_dir = o_dir[PART_OBJECT] + 0.5 * p_rand
    p_dir /= np.linalg.norm(p_dir, axis=1, keepdims=True)
    f = p_dir[part] + rng.normal(scale=noise / np.sqrt(dim), size=(len(part), dim))
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    return f.astype(np.float32)


def make_part_scene(n: int = 60, dim: int = 16, noise: float = 0.15, seed: int = 0) -> PartScene:
    """The floor-with-blocks scene on an ``n`` x ``n`` grid (n = 1000 gives 1M vertices)."""
    verts, faces = grid_mesh(n)
    x, y = verts[:, 0], verts[:, 1]
    part = np.zeros(len(verts), np.int32)
    for x0, x1, y0, y1, h, p, _, _ in BLOCKS:
        inside = (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
        part[inside] = p
        verts[inside, 2] = h
    rng = np.random.default_rng(seed + 1)
    colors = rng.integers(0, 256, size=(len(verts), 3)).astype(np.uint8)
    feats = hierarchical_features(part, dim=dim, noise=noise, seed=seed)
    return PartScene(
        verts, faces, colors, part, PART_OBJECT[part].astype(np.int32), PART_GROUP[part].astype(np.int32), feats
    )


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def top_camera(width: int = 64, height: int = 64, name: str = "top.png"):
    """A camera looking straight down at the unit square from above."""
    from omniseg3d_mesh.scene import Camera

    return Camera.look_at(
        (0.5, 0.5, 2.5), (0.5, 0.5, 0.0), up=(0.0, 1.0, 0.0), width=width, height=height, fov_y_deg=30, name=name
    )
