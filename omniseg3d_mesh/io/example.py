"""A tiny built-in example on disk: a box scene, its cameras (cameras.json) and blank images.

Used by ``omniseg-mesh info --example`` and by tests that need real files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..scene import Camera
from .cameras_json import save_cameras_json
from .geometry import save_ply

__all__ = ["write_example_scene", "box_scene_geometry"]


def _box(center, extents, subdivisions: int = 2) -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    mesh = trimesh.creation.box(extents=extents, transform=trimesh.transformations.translation_matrix(center))
    for _ in range(subdivisions):
        mesh = mesh.subdivide()
    return np.asarray(mesh.vertices), np.asarray(mesh.faces)


def box_scene_geometry() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A floor and two boxes.

    Returns:
        vertices [V, 3] float32, faces [F, 3] int32, colors [V, 3] uint8, part labels [V] int32
        (0 floor, 1 box A, 2 box B).
    """
    parts = [_box((0, 0, -0.05), (4, 4, 0.1)), _box((-0.7, 0, 0.4), (0.8, 0.8, 0.8)), _box((0.7, 0, 0.5), (0.6, 0.6, 1.0))]
    palette = np.array([[170, 170, 170], [220, 80, 60], [60, 120, 220]], np.uint8)
    verts, faces, labels = [], [], []
    offset = 0
    for i, (v, f) in enumerate(parts):
        verts.append(v)
        faces.append(f + offset)
        labels.append(np.full(len(v), i, np.int32))
        offset += len(v)
    labels = np.concatenate(labels)
    return (np.concatenate(verts).astype(np.float32), np.concatenate(faces).astype(np.int32), palette[labels], labels)


def write_example_scene(folder: str | Path, num_views: int = 8, width: int = 96, height: int = 72) -> tuple[Path, Path]:
    """Write ``mesh.ply``, ``images/view_XXX.png`` (blank) and ``cameras.json`` into ``folder``.

    Cameras sit on a ring around the boxes, looking at them (OpenCV axes, z up world).

    Returns:
        (mesh path, images folder).
    """
    from PIL import Image

    folder = Path(folder)
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    v, f, c, _ = box_scene_geometry()
    mesh = save_ply(folder / "mesh.ply", v, f, c)
    cams = []
    for k in range(num_views):
        a = 2 * np.pi * k / num_views
        name = f"view_{k:03d}.png"
        Image.new("RGB", (width, height), (128, 128, 128)).save(images / name)
        cams.append(
            Camera.look_at((3.0 * np.cos(a), 3.0 * np.sin(a), 2.0), (0, 0, 0.3), width=width, height=height,
                           fov_y_deg=50, name=name, image_path=images / name)  # fmt: skip
        )
    save_cameras_json(folder / "cameras.json", cams)
    return mesh, images
