"""The small-scene builder: meshes assembled into one scene with known parts, and a ring of cameras.

The one place the package, its tests and its tools put primitives together
(:func:`assemble_parts`) and place cameras around them (:func:`ring_cameras`); the
SAM-like masks of such a scene come from
:func:`~omniseg3d_mesh.synthetic.masks.label_map_masks` (label maps in, disagreeing
masks out) or, for the furnished scenes of :mod:`~omniseg3d_mesh.synthetic.scenes`,
:func:`~omniseg3d_mesh.synthetic.masks.simulate_masks`.

World frame: z up; cameras use :meth:`~omniseg3d_mesh.scene.Camera.look_at` (OpenCV axes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..scene import Camera

__all__ = ["assemble_parts", "ring_cameras"]


def assemble_parts(meshes: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate meshes into one, each keeping its own vertices (nothing is welded).

    Args:
        meshes: trimesh meshes, or ``(vertices [n, 3], faces [m, 3])`` pairs.

    Returns:
        vertices [V, 3] float64, faces [F, 3] int64 (re-indexed), labels [V] int64: the
        index in ``meshes`` of the mesh each vertex comes from (map it through an array
        for part / object ids: ``part_of_mesh[labels]``).
    """
    verts, faces, labels = [], [], []
    offset = 0
    for i, m in enumerate(meshes):
        v, f = (m.vertices, m.faces) if hasattr(m, "vertices") else m
        v = np.asarray(v, dtype=np.float64)
        verts.append(v)
        faces.append(np.asarray(f, dtype=np.int64) + offset)
        labels.append(np.full(len(v), i, dtype=np.int64))
        offset += len(v)
    if not verts:
        raise ValueError("assemble_parts needs at least one mesh, got none")
    return np.concatenate(verts), np.concatenate(faces), np.concatenate(labels)


def _draw(value: float | tuple[float, float], rng: np.random.Generator) -> float:
    return float(rng.uniform(value[0], value[1])) if isinstance(value, tuple) else float(value)


def ring_cameras(
    num_views: int,
    *,
    radius: float | tuple[float, float] = 3.0,
    elevation: float | tuple[float, float] = 2.0,
    target: Sequence[float] = (0.0, 0.0, 0.3),
    width: int = 64,
    height: int = 48,
    fov_y_deg: float = 50.0,
    jitter: float = 0.0,
    target_jitter: float = 0.0,
    rng: np.random.Generator | int = 0,
    name: str = "view_{:03d}.png",
    image_dir: str | Path | None = None,
) -> list[Camera]:
    """``num_views`` cameras on a ring around the z axis, looking at ``target``.

    View ``k`` sits at azimuth ``2 pi k / num_views`` (plus a uniform ``±jitter``),
    distance ``radius`` from the axis and height ``elevation``; a ``(lo, hi)`` pair
    instead of a number draws each view's value uniformly. ``target_jitter`` moves each
    view's target by a uniform ``±target_jitter`` in x and y. Draws per view, in this
    order: azimuth, radius, elevation, target x, target y (only the randomised ones),
    so a caller sharing ``rng`` with other draws gets the same cameras every time.

    Args:
        num_views: number of cameras.
        width, height: image size in pixels.
        fov_y_deg: vertical field of view.
        rng: a generator (shared with the caller's other draws) or a seed.
        name: view name pattern, formatted with ``k``.
        image_dir: when given, each camera's ``image_path`` is ``image_dir / name``.

    Returns:
        [num_views] cameras.
    """
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    tx, ty, tz = (float(t) for t in target)
    cams = []
    for k in range(int(num_views)):
        a = 2 * np.pi * k / num_views
        if jitter:
            a += gen.uniform(-jitter, jitter)
        r, z = _draw(radius, gen), _draw(elevation, gen)
        look = (tx, ty, tz)
        if target_jitter:
            look = (
                tx + gen.uniform(-target_jitter, target_jitter),
                ty + gen.uniform(-target_jitter, target_jitter),
                tz,
            )
        view = name.format(k)
        cams.append(
            Camera.look_at(
                (r * np.cos(a), r * np.sin(a), z),
                look,
                width=width,
                height=height,
                fov_y_deg=fov_y_deg,
                name=view,
                image_path=None if image_dir is None else Path(image_dir) / view,
            )  # fmt: skip
        )
    return cams
