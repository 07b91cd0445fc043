"""Which vertices the views see: a quick check that geometry and cameras fit together.

For each view the camera is shrunk (intrinsics rescaled) so its long side is about
``long_side`` pixels, and:

* meshes: rays are cast (:func:`~omniseg3d_mesh.render.fragments.compute_fragments`,
  CPU backend) to get a depth map; a vertex is seen when it projects inside the
  image, in front of the camera, and no nearer surface covers it (its depth is at
  most the largest depth of the 3x3 pixels around it, plus a small tolerance), or
  when it is a corner of a triangle some ray hits (fitting learns it through that
  triangle's interpolation).
  Projecting vertices makes the count independent of the reduced resolution.
* point clouds: a numpy z-buffer of the projected points; a point is seen when it
  lies within a small depth band behind the nearest point of its pixel.

The numbers are a diagnosis, not a fragment computation: a view that sees nothing,
or cameras that all face away from the geometry, is the usual sign of an axis or
frame mix-up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..progress import ProgressCallback, report
from ..scene import Camera, Scene

log = logging.getLogger(__name__)

__all__ = ["ViewCoverage", "Coverage", "scene_coverage"]


@dataclass
class ViewCoverage:
    """What one view sees.

    Attributes:
        name: view name.
        width, height: the view's full resolution.
        hit_fraction: fraction of (reduced-resolution) pixels that see the geometry.
        vertices_seen: number of vertices this view sees.
        faces_geometry: True when the geometry's centre lies in front of the camera.
    """

    name: str
    width: int
    height: int
    hit_fraction: float
    vertices_seen: int
    faces_geometry: bool


@dataclass
class Coverage:
    """Coverage of a scene by its views.

    Attributes:
        seen: [V] bool, vertex seen by at least one view.
        views: per-view details, in camera order.
    """

    seen: np.ndarray
    views: list[ViewCoverage] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        """Fraction of vertices seen by at least one view."""
        return float(self.seen.mean()) if self.seen.size else 0.0

    @property
    def blind_views(self) -> list[str]:
        """Views that see no vertex at all."""
        return [v.name for v in self.views if v.vertices_seen == 0]

    @property
    def facing_away(self) -> list[str]:
        """Views whose camera has the geometry's centre behind it."""
        return [v.name for v in self.views if not v.faces_geometry]


def _reduced(cam: Camera, long_side: int) -> Camera:
    s = min(1.0, long_side / max(cam.width, cam.height))
    if s >= 1.0:
        return cam
    return cam.scaled(max(1, round(cam.width * s)), max(1, round(cam.height * s)))


def _max3x3(depth: np.ndarray) -> np.ndarray:
    pad = np.pad(depth, 1, mode="edge")
    h, w = depth.shape
    return np.max(np.stack([pad[i : i + h, j : j + w] for i in range(3) for j in range(3)]), axis=0)


def _view_seen_mesh(scene: Scene, cam: Camera, tol: float) -> tuple[np.ndarray, float]:
    from .fragments import compute_fragments

    frags = compute_fragments(scene, cam, backend="cpu")
    depth = np.where(np.isfinite(frags.depth), frags.depth, np.inf)
    uv, z = cam.project(scene.vertices)
    inside = np.all(np.isfinite(uv), axis=1) & (z > 0)
    inside &= (uv[:, 0] >= 0) & (uv[:, 0] < cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] < cam.height)
    seen = np.zeros(len(scene.vertices), bool)
    idx = np.flatnonzero(inside)
    if idx.size:
        px = np.clip(uv[idx].astype(np.int64), 0, [cam.width - 1, cam.height - 1])
        limit = _max3x3(depth)[px[:, 1], px[:, 0]]
        seen[idx] = z[idx] <= limit * (1 + 1e-3) + tol
    hit_ids = frags.vertex_ids[frags.weights > 0]
    seen[hit_ids[hit_ids >= 0]] = True
    return seen, float(frags.valid.mean())


def _view_seen_points(scene: Scene, cam: Camera, tol: float) -> tuple[np.ndarray, float]:
    uv, z = cam.project(scene.vertices)
    inside = np.all(np.isfinite(uv), axis=1) & (z > 0)
    inside &= (uv[:, 0] >= 0) & (uv[:, 0] < cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] < cam.height)
    seen = np.zeros(len(scene.vertices), bool)
    idx = np.flatnonzero(inside)
    if idx.size == 0:
        return seen, 0.0
    px = uv[idx].astype(np.int64)
    flat = px[:, 1] * cam.width + px[:, 0]
    zbuf = np.full(cam.width * cam.height, np.inf)
    np.minimum.at(zbuf, flat, z[idx])
    seen[idx] = z[idx] <= zbuf[flat] * 1.02 + tol
    return seen, float(np.isfinite(zbuf).mean())


def scene_coverage(scene: Scene, long_side: int = 200, progress: ProgressCallback | None = None) -> Coverage:
    """Which vertices are seen by at least one of the scene's views.

    Args:
        scene: geometry and cameras (OpenCV axes).
        long_side: each view is checked at this many pixels along its longer side (or its own size if smaller).
        progress: optional ``progress(stage, done, total)`` callback (stage ``"coverage"``).

    Returns:
        :class:`Coverage` with ``seen`` [V] bool and per-view numbers.
    """
    verts = scene.vertices.astype(np.float64)
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    diag = float(np.linalg.norm(hi - lo)) or 1.0
    centre = (lo + hi) / 2
    tol = (2e-3 if scene.faces is not None else 1e-2) * diag
    seen = np.zeros(len(verts), bool)
    views = []
    for i, cam in enumerate(scene.cameras):
        small = _reduced(cam, long_side)
        if scene.faces is not None:
            view_seen, hit = _view_seen_mesh(scene, small, tol)
        else:
            view_seen, hit = _view_seen_points(scene, small, tol)
        seen |= view_seen
        in_front = bool(cam.world_to_camera_points(centre[None])[0, 2] > 0)
        views.append(ViewCoverage(cam.name, cam.width, cam.height, hit, int(view_seen.sum()), in_front))
        report(progress, "coverage", i + 1, len(scene.cameras))
    cov = Coverage(seen=seen, views=views)
    log.info("coverage: %.1f%% of %d vertices seen by %d views", 100 * cov.fraction, len(verts), len(views))
    return cov
