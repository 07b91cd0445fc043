"""A tiny built-in example on disk: a box scene, its cameras (cameras.json) and blank images.

Used by ``omniseg-mesh info --example`` and by tests that need real files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .cameras_json import save_cameras_json
from .geometry import save_ply

__all__ = ["write_example_scene", "box_scene_geometry"]


def box_scene_geometry() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A floor and two boxes (each subdivided twice).

    Returns:
        vertices [V, 3] float32, faces [F, 3] int32, colors [V, 3] uint8, part labels [V] int32
        (0 floor, 1 box A, 2 box B).
    """
    import trimesh

    from ..synthetic.assembly import assemble_parts

    T = trimesh.transformations.translation_matrix
    parts = [
        trimesh.creation.box(extents=(4, 4, 0.1), transform=T((0, 0, -0.05))),
        trimesh.creation.box(extents=(0.8, 0.8, 0.8), transform=T((-0.7, 0, 0.4))),
        trimesh.creation.box(extents=(0.6, 0.6, 1.0), transform=T((0.7, 0, 0.5))),
    ]
    verts, faces, labels = assemble_parts([p.subdivide().subdivide() for p in parts])
    palette = np.array([[170, 170, 170], [220, 80, 60], [60, 120, 220]], np.uint8)
    return verts.astype(np.float32), faces.astype(np.int32), palette[labels], labels.astype(np.int32)


def write_example_scene(folder: str | Path, num_views: int = 8, width: int = 96, height: int = 72) -> tuple[Path, Path]:
    """Write ``mesh.ply``, ``images/view_XXX.png`` (blank) and ``cameras.json`` into ``folder``.

    Cameras sit on a ring around the boxes, looking at them (OpenCV axes, z up world).

    Returns:
        (mesh path, images folder).
    """
    from PIL import Image

    from ..synthetic.assembly import ring_cameras

    folder = Path(folder)
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    v, f, c, _ = box_scene_geometry()
    mesh = save_ply(folder / "mesh.ply", v, f, c)
    cams = ring_cameras(num_views, radius=3.0, elevation=2.0, width=width, height=height, image_dir=images)
    for cam in cams:
        assert cam.image_path is not None  # ring_cameras(image_dir=...) names every image
        Image.new("RGB", (width, height), (128, 128, 128)).save(cam.image_path)
    save_cameras_json(folder / "cameras.json", cams)
    return mesh, images
