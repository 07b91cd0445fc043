"""A small demo workspace for trying the viewer without fitting anything.

A floor with a few boxes (each box an object made of two parts: body and lid; two of
the objects form a group) and a *synthetic* hierarchical feature field built from the
ground-truth labels: a group direction + an object offset + a part offset + noise, so
the click hierarchy reads part (~0.75 similar) -> object (~0.4) -> group (~0).
Used by the viewer's tests, ``tools/screenshot_viewer.py`` and ``tools/bench_viewer.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..field import normalize_features
from ..workspace import Workspace

__all__ = ["DemoScene", "make_demo_scene", "hierarchical_features", "make_demo_workspace"]


@dataclass
class DemoScene:
    """vertices [V,3] f32, faces [F,3] i32, colors [V,3] u8, labels: level -> [V] i32, cameras."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    labels: dict
    cameras: list


def _grid(nx: int, ny: int, size: float) -> tuple[np.ndarray, np.ndarray]:
    xs = np.linspace(-size / 2, size / 2, nx)
    ys = np.linspace(-size / 2, size / 2, ny)
    gx, gy = np.meshgrid(xs, ys, indexing="xy")
    v = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], axis=1)
    i = np.arange(nx * ny).reshape(ny, nx)
    a, b, c, d = i[:-1, :-1].ravel(), i[:-1, 1:].ravel(), i[1:, 1:].ravel(), i[1:, :-1].ravel()
    f = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    return v, f


def make_demo_scene(resolution: int = 1, num_views: int = 8, floor_cells: int | None = None) -> DemoScene:
    """The demo geometry with ground-truth part / object / group labels.

    Args:
        resolution: 1 gives ~2k vertices; each +1 subdivides the boxes once more and
            doubles the floor grid (about 4x the vertices; 5 gives ~550k).
        num_views: cameras on a ring around the scene.
        floor_cells: floor grid cells per side (default ``25 * 2**(resolution-1)``).
    """
    import trimesh

    from ..synthetic.assembly import assemble_parts, ring_cameras

    # (centre xy, extents, base colour, object id, group id)
    boxes = [
        ((-1.0, -0.4), (0.9, 0.9, 0.7), (200, 80, 60), 1, 1),
        ((0.1, -0.5), (0.6, 0.6, 1.1), (70, 130, 200), 2, 1),
        ((0.9, 0.6), (0.8, 0.5, 0.5), (90, 170, 90), 3, 2),
        ((-0.6, 0.9), (0.5, 0.5, 0.9), (220, 180, 60), 4, 3),
    ]
    n = (floor_cells or 25 * 2 ** (resolution - 1)) + 1
    fv, ff = _grid(n, n, 4.0)
    meshes, parts, objects, groups, cols = (
        [(fv, ff)],
        [np.zeros(len(fv), int)],
        [np.zeros(len(fv), int)],
        [np.zeros(len(fv), int)],
        [],
    )
    checker = ((np.floor(fv[:, 0] * 2) + np.floor(fv[:, 1] * 2)) % 2)[:, None]
    cols.append(np.where(checker > 0, [150, 150, 140], [175, 175, 165]))
    for k, (xy, ext, col, obj, grp) in enumerate(boxes):
        m = trimesh.creation.box(extents=ext)
        for _ in range(resolution + 2):
            m = m.subdivide()
        v = np.asarray(m.vertices) + np.array([xy[0], xy[1], ext[2] / 2 + 0.002])
        lid = v[:, 2] > ext[2] * 0.75
        meshes.append((v, m.faces))
        parts.append(np.where(lid, 2 * k + 2, 2 * k + 1))
        objects.append(np.full(len(v), obj))
        groups.append(np.full(len(v), grp))
        c = np.array(col, float)[None].repeat(len(v), 0)
        c[lid] = c[lid] * 0.6 + 90
        cols.append(c)
    vertices, faces, _ = assemble_parts(meshes)
    vertices = vertices.astype(np.float32)
    rng = np.random.default_rng(0)
    colors = np.clip(np.concatenate(cols) + rng.normal(0, 4, (len(vertices), 3)), 0, 255).astype(np.uint8)
    labels = {
        "part": np.concatenate(parts).astype(np.int32),
        "object": np.concatenate(objects).astype(np.int32),
        "group": np.concatenate(groups).astype(np.int32),
    }
    cams = ring_cameras(num_views, radius=4.0, elevation=2.5, width=320, height=240)
    return DemoScene(vertices, faces.astype(np.int32), colors, labels, cams)


def hierarchical_features(labels: dict, dim: int = 32, noise: float = 0.03, seed: int = 0) -> np.ndarray:
    """[V, dim] float32 unit features: group direction + object offset + part offset + noise.

    Same part -> cosine ~1, same object -> ~0.75, same group -> ~0.4, else ~0 (exact
    when dim >= the number of labels of all levels together, else only roughly).
    """
    rng = np.random.default_rng(seed)
    weights = {"group": np.sqrt(0.4), "object": np.sqrt(0.35), "part": np.sqrt(0.25)}
    n = len(next(iter(labels.values())))
    feats = np.zeros((n, dim), np.float32)
    total = sum(int(labels[k].max()) + 1 for k in weights)
    basis, _ = np.linalg.qr(rng.normal(size=(max(dim, total), max(dim, total))))
    basis = basis[:total, :dim] if total <= dim else rng.normal(size=(total, dim)) / np.sqrt(dim)
    basis = normalize_features(basis, dtype=None)
    start = 0
    for level, w in weights.items():
        lab = labels[level]
        k = int(lab.max()) + 1
        feats += w * basis[start + lab]
        start += k
    feats += rng.normal(0, noise, feats.shape).astype(np.float32)
    return normalize_features(feats)


def make_demo_workspace(
    root: str | Path, resolution: int = 1, seed: int = 0, floor_cells: int | None = None
) -> Workspace:
    """Write a demo workspace (geometry.npz, field.npz, labels_gt.npz, cameras.json when
    the project's camera writer is present) under ``root``."""
    from ..field import Field
    from ..workspace import atomic_save_npz

    demo = make_demo_scene(resolution, floor_cells=floor_cells)
    ws = Workspace(root)
    ws.save_geometry(demo.vertices, demo.faces, demo.colors)
    feats = hierarchical_features(demo.labels, seed=seed)
    Field(feats, meta={"source": "viewer demo", "num_vertices": len(feats), "synthetic": True}).save(ws.field_path)
    atomic_save_npz(ws.root / "labels_gt.npz", **demo.labels)
    from ..io.cameras_json import save_cameras_json

    save_cameras_json(ws.cameras_path, demo.cameras)
    return ws
