"""The two-boxes-on-a-floor scene with ring cameras, shared by the render tests and ``tools/make_gpu_reference.py``."""

from __future__ import annotations

import numpy as np


def make_box_scene(num_views: int = 6, width: int = 64, height: int = 48, seed: int = 0):
    """Two boxes side by side on a floor plane (:func:`~omniseg3d_mesh.io.example.box_scene_geometry`),
    cameras on a ring looking at them.

    Returns (scene, vertex_labels) where labels are 0 = floor, 1 = box A, 2 = box B.
    """
    from omniseg3d_mesh.io.example import box_scene_geometry
    from omniseg3d_mesh.scene import Scene
    from omniseg3d_mesh.synthetic.assembly import ring_cameras

    verts, faces, _, labels = box_scene_geometry()
    cams = ring_cameras(num_views, jitter=0.1, rng=seed, width=width, height=height)
    return Scene(vertices=verts, faces=faces, cameras=cams), labels.astype(np.int64)
