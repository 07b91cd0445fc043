"""Shared small synthetic data. Area-specific fixtures live beside their tests."""

from __future__ import annotations

import numpy as np
import pytest


def make_box_scene(num_views: int = 6, width: int = 64, height: int = 48, seed: int = 0):
    """Two boxes side by side on a floor plane, cameras on a ring looking at them.

    Returns (scene, vertex_labels) where labels are 0 = floor, 1 = box A, 2 = box B.
    """
    import trimesh

    from omniseg3d_mesh.scene import Camera, Scene

    parts = [
        trimesh.creation.box(extents=(4, 4, 0.1), transform=trimesh.transformations.translation_matrix((0, 0, -0.05))),
        trimesh.creation.box(extents=(0.8, 0.8, 0.8), transform=trimesh.transformations.translation_matrix((-0.7, 0, 0.4))),
        trimesh.creation.box(extents=(0.6, 0.6, 1.0), transform=trimesh.transformations.translation_matrix((0.7, 0, 0.5))),
    ]
    parts = [p.subdivide().subdivide() for p in parts]
    verts, faces, labels = [], [], []
    offset = 0
    for i, p in enumerate(parts):
        verts.append(np.asarray(p.vertices))
        faces.append(np.asarray(p.faces) + offset)
        labels.append(np.full(len(p.vertices), i))
        offset += len(p.vertices)
    rng = np.random.default_rng(seed)
    cams = []
    for k in range(num_views):
        a = 2 * np.pi * k / num_views + rng.uniform(-0.1, 0.1)
        eye = (3.0 * np.cos(a), 3.0 * np.sin(a), 2.0)
        cams.append(Camera.look_at(eye, (0, 0, 0.3), width=width, height=height, fov_y_deg=50, name=f"view_{k:03d}.png"))
    scene = Scene(vertices=np.concatenate(verts), faces=np.concatenate(faces), cameras=cams)
    return scene, np.concatenate(labels)


@pytest.fixture
def box_scene():
    return make_box_scene()
