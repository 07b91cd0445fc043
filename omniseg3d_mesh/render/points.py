"""Point-cloud fragment backend: z-buffered splatting of points.

Every point is a small disc of world radius ``r`` facing the camera. Projected
into a view (distortion included, :meth:`Camera.project`), it covers the pixels
whose centres lie inside an ellipse of radii ``fx * r / z`` and ``fy * r / z``
pixels around its projection (and always the pixel it falls in, so tiny splats
leave no holes). A pixel takes the *nearest* covering point (smallest camera
depth; ties go to the smaller point id) with weight 1.

The z-buffer is one ``scatter_reduce(amin)`` over a packed 64-bit key: the
float32 bit pattern of the depth (order-preserving for positive floats) in the
high 32 bits and the point id in the low 32 bits, so the smallest key is the
nearest point and decoding it gives both the depth and the winner. Candidates
are generated per integer splat radius and processed in bounded chunks, so
memory stays bounded whatever the number of points.
"""

from __future__ import annotations

import logging

import numpy as np

from ..scene import Camera, Scene
from .fragments import Fragments

log = logging.getLogger(__name__)

__all__ = ["splat_points", "default_point_radius", "adaptive_point_radii", "splat_points_reference"]

#: largest splat radius in pixels: a point right in front of the lens would
#: otherwise cover the whole image (its neighbours cover the rest)
MAX_PIXEL_RADIUS = 32
#: candidate (point, pixel) pairs handled at once
_CHUNK = 1 << 22
_SENTINEL = np.iinfo(np.int64).max


def default_point_radius(points: np.ndarray, sample: int = 20000, factor: float = 1.5, seed: int = 0) -> float:
    """Splat radius from the point spacing: ``factor`` x the median nearest-neighbour distance.

    Args:
        points: [N, 3] positions.
        sample: number of points (drawn with a fixed seed) whose nearest neighbour is measured.
        factor: multiple of the median spacing (1.5 closes the gaps between neighbouring splats).
        seed: seed of the sample.

    Returns:
        radius in world units.

    Raises:
        ValueError: fewer than two distinct points (no spacing to measure).
    """
    from scipy.spatial import cKDTree

    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3), got {pts.shape}")
    if len(pts) < 2:
        raise ValueError(
            f"cannot derive a splat radius from {len(pts)} point(s): pass a radius explicitly (--point-radius)"
        )
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(pts), size=min(sample, len(pts)), replace=False)
    tree = cKDTree(pts)
    # k=4 skips exact duplicates (distance 0) in most clouds
    dist, _ = tree.query(pts[idx], k=min(4, len(pts)))
    dist = dist[:, 1:]
    nonzero = dist[dist > 0]
    if nonzero.size == 0:
        raise ValueError(
            f"cannot derive a splat radius: the {len(pts)} points coincide; pass a radius explicitly (--point-radius)"
        )
    # the nearest non-duplicate neighbour of each sampled point
    nearest = np.where(dist > 0, dist, np.inf).min(axis=1)
    nearest = nearest[np.isfinite(nearest)]
    return float(factor * np.median(nearest))


def adaptive_point_radii(points: np.ndarray, factor: float = 1.5, k: int = 2, spread: float = 10.0) -> np.ndarray:
    """Per-point splat radii from the local spacing: ``factor`` x the distance to the k-th neighbour.

    A scan's density varies (a wall has few large triangles, a cup many small ones):
    one radius from the median spacing leaves gaps in the sparse regions, and points
    behind a sparse surface show through them and take its pixels' masks. Each
    point's disc instead covers its own neighbourhood. Radii are kept within
    ``[median / spread, median * spread]`` so an isolated point does not paint the view.

    Args:
        points: [N, 3] positions.
        factor: multiple of the local spacing.
        k: which neighbour measures the spacing (the k-th nearest, duplicates skipped by k > 1).
        spread: largest ratio between a point's radius and the median one.

    Returns:
        [N] float64 radii in world units.
    """
    from scipy.spatial import cKDTree

    pts = np.asarray(points, dtype=np.float64)
    median = default_point_radius(pts, factor=factor)
    kk = int(min(k + 1, len(pts)))
    dist, _ = cKDTree(pts).query(pts, k=kk, workers=-1)
    local = factor * np.asarray(dist)[:, -1]
    return np.clip(local, median / spread, median * spread)


class _RadiusCache:
    """Remembers the default (per-point) radii of the last point array (views of one scene share them)."""

    arrays: np.ndarray | None = None
    radius: np.ndarray | None = None

    @classmethod
    def get(cls, points: np.ndarray) -> np.ndarray:
        radius = cls.radius
        if cls.arrays is not points or radius is None:
            radius = adaptive_point_radii(points)
            cls.radius, cls.arrays = radius, points
            log.info("point splat radii %.4g (median, 1.5x local spacing)", float(np.median(radius)))
        return radius


def _project(scene: Scene, camera: Camera, radius):
    """Visible points: ids [N], pixel coords [N, 2], depth [N], pixel radii [N, 2] (radius: scalar or [V])."""
    uv, depth = camera.project(scene.vertices)
    ok = (depth > 0) & np.all(np.isfinite(uv), axis=1)
    fx, fy = camera.K[0, 0], camera.K[1, 1]
    with np.errstate(divide="ignore"):
        rx = fx * radius / depth
        ry = fy * radius / depth
    # a splat that cannot reach the image is dropped before any pixel is generated
    rmax = np.minimum(np.maximum(rx, ry), MAX_PIXEL_RADIUS) + 1.0
    ok &= (uv[:, 0] > -rmax) & (uv[:, 0] < camera.width + rmax)
    ok &= (uv[:, 1] > -rmax) & (uv[:, 1] < camera.height + rmax)
    ids = np.flatnonzero(ok)
    radii = np.stack([np.minimum(rx[ids], MAX_PIXEL_RADIUS), np.minimum(ry[ids], MAX_PIXEL_RADIUS)], axis=1)
    return ids, uv[ids], depth[ids], radii


def _check_inputs(scene: Scene, radius: float | None):
    if len(scene.vertices) >= 2**31:
        raise ValueError(f"point splatting handles at most 2^31 points, got {len(scene.vertices)}")
    if radius is None:
        return _RadiusCache.get(scene.vertices)
    radius = float(radius)
    if not np.isfinite(radius) or radius <= 0:
        raise ValueError(f"point splat radius must be a positive number of world units, got {radius}")
    return radius


def splat_points(scene: Scene, camera: Camera, radius: float | None = None) -> Fragments:
    """Fragments of one view of a point cloud by z-buffered splatting (K = 1, weight 1).

    Args:
        scene: the points are ``scene.vertices`` [V, 3] (faces, if any, are ignored).
        camera: the view (OpenCV axes, corner pixel convention, distortion applied).
        radius: splat radius in world units (default: per point, :func:`adaptive_point_radii`).

    Returns:
        Fragments with ``vertex_ids`` [H, W, 1] int32 (-1 = background), ``weights``
        [H, W, 1] float32 (1 on covered pixels), ``depth`` [H, W] float32 (camera z of
        the winning point, inf = background), ``face_ids`` [H, W] all -1.
    """
    import torch

    radius = _check_inputs(scene, radius)
    h, w = camera.height, camera.width
    ids, uv, depth, radii = _project(scene, camera, radius)
    zbuf = torch.full((h * w,), _SENTINEL, dtype=torch.int64)
    if len(ids):
        # packed key: float32 depth bits (monotonic for positive floats) << 32 | point id
        dbits = depth.astype(np.float32).view(np.int32).astype(np.int64)
        keys = (dbits << 32) | ids.astype(np.int64)
        # each splat covers at most a (2R+1)^2 pixel window; group points by that R
        win = np.ceil(np.maximum(radii[:, 0], radii[:, 1])).astype(np.int64)
        win = np.maximum(win, 1)
        for r in np.unique(win):
            sel = np.flatnonzero(win == r)
            oy, ox = _window(int(r))
            per_chunk = max(1, _CHUNK // oy.numel())
            for start in range(0, len(sel), per_chunk):
                s = sel[start : start + per_chunk]
                _splat_chunk(
                    zbuf, torch.from_numpy(uv[s]), torch.from_numpy(radii[s]), torch.from_numpy(keys[s]), ox, oy, h, w
                )
    hit = zbuf != _SENTINEL
    vid = torch.full((h * w,), -1, dtype=torch.int64)
    vid[hit] = zbuf[hit] & 0xFFFFFFFF
    zbits = (zbuf[hit] >> 32).to(torch.int32)
    dep = torch.full((h * w,), float("inf"), dtype=torch.float32)
    dep[hit] = zbits.view(torch.float32)
    vid_np = vid.numpy().astype(np.int32).reshape(h, w, 1)
    return Fragments(
        vertex_ids=vid_np,
        weights=(vid_np >= 0).astype(np.float32),
        depth=dep.numpy().reshape(h, w),
        face_ids=np.full((h, w), -1, dtype=np.int32),
    )


def _window(r: int):
    """Pixel offsets a splat of radius <= r can reach: the (2r+1)^2 square without its corners.

    A pixel centre at offset o from the point's pixel lies between |o| - 0.5 and
    |o| + 0.5 pixels from the point along each axis, so offsets whose nearest
    possible centre is farther than r are never inside.
    """
    import torch

    offs = np.arange(-r, r + 1)
    oy, ox = np.meshgrid(offs, offs, indexing="ij")
    near = np.maximum(np.abs(ox) - 0.5, 0) ** 2 + np.maximum(np.abs(oy) - 0.5, 0) ** 2 <= r * r
    return torch.from_numpy(oy[near]), torch.from_numpy(ox[near])


def _splat_chunk(zbuf, uv, radii, keys, ox, oy, h: int, w: int) -> None:
    """Scatter the keys of one chunk of points over their (2R+1)^2 pixel windows (amin)."""
    import torch

    fu, fv = uv[:, 0], uv[:, 1]
    base_x, base_y = torch.floor(fu), torch.floor(fv)
    # offset of each candidate pixel centre from the projected point, in splat radii
    # (float32 is plenty for offsets of a few pixels)
    inv_rx = (1.0 / radii[:, 0:1].clamp_min(1e-9)).float()
    inv_ry = (1.0 / radii[:, 1:2].clamp_min(1e-9)).float()
    du = (ox[None, :].float() + (base_x - fu + 0.5).float()[:, None]) * inv_rx
    dv = (oy[None, :].float() + (base_y - fv + 0.5).float()[:, None]) * inv_ry
    px = base_x.long()[:, None] + ox[None, :]  # [N, P]
    py = base_y.long()[:, None] + oy[None, :]
    inside = du * du + dv * dv <= 1.0
    # the pixel a point falls in is always covered (no holes from sub-pixel splats)
    inside |= (ox == 0)[None, :] & (oy == 0)[None, :]
    inside &= (px >= 0) & (px < w) & (py >= 0) & (py < h)
    pix = (py * w + px)[inside]
    k = keys[:, None].expand_as(px)[inside]
    zbuf.scatter_reduce_(0, pix, k, reduce="amin", include_self=True)


def splat_points_reference(scene: Scene, camera: Camera, radius: float) -> Fragments:
    """Slow, obvious z-buffer (a Python loop over points) that :func:`splat_points` must match."""
    h, w = camera.height, camera.width
    radius = float(radius)
    ids, uv, depth, radii = _project(scene, camera, radius)
    best_depth32 = np.full((h, w), np.inf, dtype=np.float32)
    winner = np.full((h, w), -1, dtype=np.int64)
    for pid, (u, v), z, (rx, ry) in zip(ids, uv, depth, radii):
        z32 = np.float32(z)
        cx, cy = int(np.floor(u)), int(np.floor(v))
        r = max(int(np.ceil(max(rx, ry))), 1)
        for i in range(cy - r, cy + r + 1):
            for j in range(cx - r, cx + r + 1):
                if not (0 <= i < h and 0 <= j < w):
                    continue
                inside = ((j + 0.5 - u) / max(rx, 1e-9)) ** 2 + ((i + 0.5 - v) / max(ry, 1e-9)) ** 2 <= 1.0
                if not (inside or (i == cy and j == cx)):
                    continue
                if (z32, pid) < (best_depth32[i, j], winner[i, j] if winner[i, j] >= 0 else np.inf):
                    best_depth32[i, j], winner[i, j] = z32, pid
    vid = winner.astype(np.int32)[..., None]
    return Fragments(
        vertex_ids=vid,
        weights=(vid >= 0).astype(np.float32),
        depth=best_depth32,
        face_ids=np.full((h, w), -1, dtype=np.int32),
    )
