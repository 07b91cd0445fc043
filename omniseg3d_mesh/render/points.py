"""Point-cloud fragment backend: z-buffered splatting of points.

Every point is a small disc of world radius ``r``. By default the disc lies in the
surface's tangent plane (a surfel; normals from the principal axes of each point's
neighbourhood, :func:`point_normals`): a pixel is covered when its ray meets that
plane within ``r`` of the point, at the depth where it meets it. Discs facing the
camera instead (``oriented=False``: the pixels whose centres lie inside an ellipse
of radii ``fx * r / z`` and ``fy * r / z`` pixels around the projection) stand up
out of surfaces seen at a grazing angle: on a room's floor, seen from eye height,
every floor point's disc rose ``r`` above the floor and hid the feet of the
furniture behind it, so those pixels gave the floor's masks to the wrong points
(5.4 % of the covered pixels of a synthetic room showed another object than the
mesh there). Surfels take two passes: the nearest depth per pixel finds the front
surface, then the pixel goes to the disc whose centre is nearest its ray among those
meeting it just behind that front, and a pixel no disc covers near its centre (a
surface's outline) is marked :attr:`Fragments.outline`: renders show it, the fit leaves
it empty (1.1 % wrong pixels, docs/results.md). Camera-facing
discs give a pixel to the *nearest* covering point (smallest depth). Either way a
point always covers the pixel it falls in (tiny splats leave no holes), ties go to
the smaller point id, and the winner has weight 1. Projection includes distortion (:meth:`Camera.project`); a pixel's ray
near a point is the point's own ray offset by the pinhole step (distortion varies
little across one splat).

Each pass is one ``scatter_reduce(amin)`` over a packed 64-bit key: the
float32 bit pattern of the depth (or squared centre distance; order-preserving for positive floats) in the
high 32 bits and the point id in the low 32 bits, so the smallest key is the
nearest point and decoding it gives both the depth and the winner. Candidates
are generated per integer splat radius and processed in bounded chunks, so
memory stays bounded whatever the number of points; the second pass reuses the
first pass's covered pixels (up to ``_KEEP`` of them) rather than meeting the rays again.
"""

from __future__ import annotations

import logging

import numpy as np

from ..graph import point_normals  # its home is graph.py; re-exported here
from ..scene import Camera, Scene
from .fragments import Fragments

log = logging.getLogger(__name__)

__all__ = ["splat_points", "default_point_radius", "adaptive_point_radii", "point_normals", "splat_points_reference"]

#: largest splat radius in pixels: a point right in front of the lens would
#: otherwise cover the whole image (its neighbours cover the rest)
MAX_PIXEL_RADIUS = 32
#: surfels seen more edge-on than this (|cos| of the ray to the normal) cover only their own pixel
_MIN_COS = 0.05
#: surfel splats are searched over a window this much wider than a camera-facing disc's
#: (a tilted disc's near rim projects a little larger)
_WINDOW_SLACK = 1.25
#: surfels: a pixel goes to the disc whose centre is nearest its ray among those that meet
#: the ray within this many of their radii behind the nearest surface (the surface's own
#: discs overlap there; nearest-depth would hand every pixel to whichever tilts forward)
_SURFACE_BAND = 0.5
#: surfels: a pixel whose nearest disc centre is farther than sqrt(this) times the disc's
#: local radius (1.5 x its spacing, before the radii are clipped) is left out
_FRINGE = 0.25
#: candidate (point, pixel) pairs handled at once
_CHUNK = 1 << 22
#: surfels: covered (point, pixel) pairs kept from the first pass for the second (20 bytes
#: each; a 640x480 room view has ~2.3 M); beyond, the second pass intersects the rays again
_KEEP = 1 << 25
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


def adaptive_point_radii(
    points: np.ndarray, factor: float = 1.5, k: int = 2, spread: float = 10.0, return_local: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
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
        [N] float64 radii in world units (with ``return_local``: also the [N] radii before clipping).
    """
    from scipy.spatial import cKDTree

    pts = np.asarray(points, dtype=np.float64)
    median = default_point_radius(pts, factor=factor)
    kk = int(min(k + 1, len(pts)))
    dist, _ = cKDTree(pts).query(pts, k=kk, workers=-1)
    local = factor * np.asarray(dist)[:, -1]
    clipped = np.clip(local, median / spread, median * spread)
    return (clipped, local) if return_local else clipped


def splat_settings() -> tuple:
    """The constants a splat's outcome depends on (part of the fragment cache key)."""
    return (_MIN_COS, _WINDOW_SLACK, _SURFACE_BAND, _FRINGE)


class _RadiusCache:
    """Remembers the default (per-point) radii and normals of the last point array (views of one scene share them)."""

    arrays: np.ndarray | None = None
    radius: np.ndarray | None = None
    fringe_scale: np.ndarray | None = None
    normal_arrays: np.ndarray | None = None
    normal: np.ndarray | None = None

    @classmethod
    def get(cls, points: np.ndarray) -> np.ndarray:
        radius = cls.radius
        if cls.arrays is not points or radius is None:
            radius, local = adaptive_point_radii(points, return_local=True)
            # fringe scale: the local radius over the splatted one (>= 1 where clipping shrank a disc)
            cls.fringe_scale = np.maximum(local / np.maximum(radius, 1e-30), 1.0)
            cls.radius, cls.arrays = radius, points
            log.info("point splat radii %.4g (median, 1.5x local spacing)", float(np.median(radius)))
        return radius

    @classmethod
    def normals(cls, points: np.ndarray) -> np.ndarray:
        normal = cls.normal
        if cls.normal_arrays is not points or normal is None:
            normal = point_normals(points)
            cls.normal, cls.normal_arrays = normal, points
        return normal


def _project(scene: Scene, camera: Camera, radius):
    """Visible points: ids [N], pixel coords [N, 2], depth [N], pixel radii [N, 2] (radius: scalar or [V]).

    The pixel radii are those of a camera-facing disc (clamped to ``MAX_PIXEL_RADIUS``)."""
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


def _surfels(scene: Scene, camera: Camera, ids: np.ndarray, radius, normals: np.ndarray | None):
    """Camera-space centres [N, 3], unit normals [N, 3] and world radii [N] of the splatted points."""
    pts = np.asarray(scene.vertices, dtype=np.float64)[ids]
    rot, trans = camera.world_to_cam[:3, :3], camera.world_to_cam[:3, 3]
    centre = pts @ rot.T + trans
    nrm = (_RadiusCache.normals(scene.vertices) if normals is None else np.asarray(normals, dtype=np.float64))[
        ids
    ] @ rot.T
    rad = np.broadcast_to(np.asarray(radius, dtype=np.float64), (len(scene.vertices),))[ids]
    return centre, nrm, rad


def splat_points(
    scene: Scene, camera: Camera, radius: float | None = None, oriented: bool = True, normals: np.ndarray | None = None
) -> Fragments:
    """Fragments of one view of a point cloud by z-buffered splatting (K = 1, weight 1).

    Args:
        scene: the points are ``scene.vertices`` [V, 3] (faces, if any, are ignored).
        camera: the view (OpenCV axes, corner pixel convention, distortion applied).
        radius: splat radius in world units (default: per point, :func:`adaptive_point_radii`).
        oriented: discs in the surface's tangent plane (default) rather than facing the camera.
        normals: [V, 3] normals for ``oriented`` (default: :func:`point_normals`).

    Returns:
        Fragments with ``vertex_ids`` [H, W, 1] int32 (-1 = background), ``weights``
        [H, W, 1] float32 (1 on covered pixels), ``depth`` [H, W] float32 (camera z of
        the winning point, inf = background), ``face_ids`` [H, W] all -1.
    """
    import torch

    default_radii = radius is None
    radius = _check_inputs(scene, radius)
    h, w = camera.height, camera.width
    ids, uv, depth, radii = _project(scene, camera, radius)
    zbuf = torch.full((h * w,), _SENTINEL, dtype=torch.int64)
    # surfels: each chunk's points and window, with its covered pixels (pixel, depth, squared
    # centre distance, chunk row) kept for the second pass instead of intersecting the rays
    # again, up to _KEEP pixels (20 bytes each); later chunks are intersected again
    chunks: list[tuple] = []
    kept = 0
    if len(ids):
        # packed key: float32 depth bits (monotonic for positive floats) << 32 | point id
        dbits = depth.astype(np.float32).view(np.int32).astype(np.int64)
        keys = torch.from_numpy((dbits << 32) | ids.astype(np.int64))
        # each splat covers at most a (2R+1)^2 pixel window; group points by that R
        reach = np.maximum(radii[:, 0], radii[:, 1]) * (_WINDOW_SLACK if oriented else 1.0)
        win = np.maximum(np.ceil(np.minimum(reach, MAX_PIXEL_RADIUS)).astype(np.int64), 1)
        if oriented:
            centre, nrm, rad = (
                torch.from_numpy(np.ascontiguousarray(g)) for g in _surfels(scene, camera, ids, radius, normals)
            )
            band = _SURFACE_BAND * rad
            pids = torch.from_numpy(ids.astype(np.int64))
            focal = (float(camera.K[0, 0]), float(camera.K[1, 1]))
        uv_t, radii_t = torch.from_numpy(uv), torch.from_numpy(radii)
        for r in np.unique(win):
            sel = np.flatnonzero(win == r)
            oy, ox = _window(int(r))
            per_chunk = max(1, _CHUNK // oy.numel())
            for start in range(0, len(sel), per_chunk):
                s = torch.from_numpy(sel[start : start + per_chunk])
                if not oriented:
                    pix, row = _disc_pixels(uv_t[s], radii_t[s], ox, oy, h, w)
                    zbuf.scatter_reduce_(0, pix, keys[s][row], reduce="amin", include_self=True)
                    continue
                pix, t, rho2, row = _surfel_pixels(uv_t[s], centre[s], nrm[s], rad[s], ox, oy, h, w, focal)
                zbuf.scatter_reduce_(
                    0, pix, (t.float().view(torch.int32).long() << 32) | pids[s][row], reduce="amin", include_self=True
                )
                keep = kept + len(pix) <= _KEEP
                kept += len(pix) if keep else 0
                chunks.append((s, ox, oy, (pix.int(), t, rho2, row.int()) if keep else None))
    hit = zbuf != _SENTINEL
    vid = torch.full((h * w,), -1, dtype=torch.int64)
    vid[hit] = zbuf[hit] & 0xFFFFFFFF
    zbits = (zbuf[hit] >> 32).to(torch.int32)
    dep = torch.full((h * w,), float("inf"), dtype=torch.float32)
    dep[hit] = zbits.view(torch.float32)
    if oriented and len(ids):  # second pass: within the front surface, the disc nearest the pixel's ray
        cbuf = torch.full((h * w,), _SENTINEL, dtype=torch.int64)
        for s, ox, oy, cand in chunks:
            pix, t, rho2, row = cand or _surfel_pixels(uv_t[s], centre[s], nrm[s], rad[s], ox, oy, h, w, focal)
            pix, row = pix.long(), row.long()
            near = t <= dep[pix].double() + band[s][row]  # meets the ray within the band behind the front
            key = (rho2[near].view(torch.int32).long() << 32) | pids[s][row[near]]
            cbuf.scatter_reduce_(0, pix[near], key, reduce="amin", include_self=True)
        del chunks
        vid[hit] = cbuf[hit] & 0xFFFFFFFF
        # a pixel no disc covers near its centre is the outline of a surface's outermost discs,
        # past the surface's edge as often as not: marked, so the fit leaves it out rather
        # than give that surface's masks to it (renders show it)
        rho2 = (cbuf[hit] >> 32).to(torch.int32).view(torch.float32)
        outline = torch.zeros(h * w, dtype=torch.bool)
        limit = torch.full_like(rho2, _FRINGE)
        scale = _RadiusCache.fringe_scale
        if default_radii and scale is not None:  # where clipping shrank a disc below its spacing, its radius says less
            limit = limit * torch.from_numpy(scale**2)[vid[hit]].float()
        outline[hit] = rho2 > limit
    vid_np = vid.numpy().astype(np.int32).reshape(h, w, 1)
    return Fragments(
        vertex_ids=vid_np,
        weights=(vid_np >= 0).astype(np.float32),
        depth=dep.numpy().reshape(h, w),
        face_ids=np.full((h, w), -1, dtype=np.int32),
        outline=outline.numpy().reshape(h, w) if oriented and len(ids) else np.zeros((h, w), bool),
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


def _surfel_hits(off_x, off_y, centre, normal, rad, focal):
    """Where the rays of pixels at offsets (off_x, off_y) [N, P] pixels from each point's projection
    meet the point's tangent plane: (inside the disc [N, P] bool, camera depth there [N, P] float64,
    squared distance from the point there in disc radii [N, P] float64).

    The ray of an offset pixel is the point's own ray (x/z, y/z, 1) plus the pinhole step
    (off_x / fx, off_y / fy, 0); it meets the plane ``n . (X - c) = 0`` at depth
    ``t = (n . c) / (n . ray)``.
    """
    import torch

    cz = centre[:, 2:3]
    rx = centre[:, 0:1] / cz + off_x / focal[0]
    ry = centre[:, 1:2] / cz + off_y / focal[1]
    n_dot_ray = normal[:, 0:1] * rx + normal[:, 1:2] * ry + normal[:, 2:3]
    ray_len = torch.sqrt(rx * rx + ry * ry + 1.0)
    facing = n_dot_ray.abs() > _MIN_COS * ray_len
    t = (normal * centre).sum(1, keepdim=True) / torch.where(facing, n_dot_ray, torch.ones_like(n_dot_ray))
    dx, dy, dz = t * rx - centre[:, 0:1], t * ry - centre[:, 1:2], t - cz
    rho2 = (dx * dx + dy * dy + dz * dz) / (rad * rad).clamp_min(1e-30)[:, None]
    inside = facing & (t > 0) & (rho2 <= 1.0)
    return inside, t, rho2


def _offsets(uv, ox, oy):
    """The pixel each point falls in ([N] int64 column and row) and the offsets [N, P] float64
    of the window's pixel centres from the point's projection."""
    import torch

    fu, fv = uv[:, 0], uv[:, 1]
    base_x, base_y = torch.floor(fu), torch.floor(fv)
    off_x = ox[None, :].double() + (base_x - fu + 0.5)[:, None]
    off_y = oy[None, :].double() + (base_y - fv + 0.5)[:, None]
    return base_x.long(), base_y.long(), off_x, off_y


def _in_image(inside, bx, by, ox, oy, h: int, w: int):
    """Flat pixel index [M] and chunk row [M] of the candidates ``inside`` [N, P] that fall in the image.

    The pixel a point falls in (offset 0, 0) is always a candidate (no holes from sub-pixel splats).
    """
    inside = inside | ((ox == 0) & (oy == 0))[None, :]
    row, col = inside.nonzero(as_tuple=True)
    px, py = bx[row] + ox[col], by[row] + oy[col]
    ok = (px >= 0) & (px < w) & (py >= 0) & (py < h)
    return (py * w + px)[ok], row[ok], col[ok]


def _disc_pixels(uv, radii, ox, oy, h: int, w: int):
    """Camera-facing discs: (flat pixel [M], chunk row [M]) of the pixels whose centres lie in each ellipse."""
    bx, by, off_x, off_y = _offsets(uv, ox, oy)
    # offsets in splat radii (float32 is plenty for offsets of a few pixels)
    du = off_x.float() * (1.0 / radii[:, 0:1].clamp_min(1e-9)).float()
    dv = off_y.float() * (1.0 / radii[:, 1:2].clamp_min(1e-9)).float()
    pix, row, _ = _in_image(du * du + dv * dv <= 1.0, bx, by, ox, oy, h, w)
    return pix, row


def _surfel_pixels(uv, centre, normal, rad, ox, oy, h: int, w: int, focal):
    """Surfels: the pixels whose rays meet each disc, with (flat pixel [M] int64, depth there [M]
    float64, squared distance from the disc's centre in radii [M] float32, chunk row [M]).

    The pixel a point falls in keeps the point's depth (and distance 1) when its ray misses the disc (edge-on).
    """
    import torch

    bx, by, off_x, off_y = _offsets(uv, ox, oy)
    inside, t, rho2 = _surfel_hits(off_x, off_y, centre, normal, rad, focal)
    pix, row, col = _in_image(inside, bx, by, ox, oy, h, w)
    hit = inside[row, col]
    t = torch.where(hit, t[row, col], centre[row, 2])
    rho2 = torch.where(hit, rho2[row, col], torch.ones_like(t)).float()
    return pix, t, rho2, row


def splat_points_reference(
    scene: Scene, camera: Camera, radius: float, oriented: bool = True, normals: np.ndarray | None = None
) -> Fragments:
    """Slow, obvious z-buffer (a Python loop over points) that :func:`splat_points` must match."""
    h, w = camera.height, camera.width
    radius = float(radius)
    ids, uv, depth, radii = _project(scene, camera, radius)
    if oriented:
        centres, nrms, _ = _surfels(scene, camera, ids, radius, normals)
        fx, fy = float(camera.K[0, 0]), float(camera.K[1, 1])

    def covered(n):
        """(row, col, depth, squared distance in radii) of every pixel point n covers."""
        u, v = uv[n]
        rx, ry = radii[n]
        cx, cy = int(np.floor(u)), int(np.floor(v))
        reach = max(rx, ry) * (_WINDOW_SLACK if oriented else 1.0)
        r = max(int(np.ceil(min(reach, MAX_PIXEL_RADIUS))), 1)
        for i in range(cy - r, cy + r + 1):
            for j in range(cx - r, cx + r + 1):
                if not (0 <= i < h and 0 <= j < w):
                    continue
                own = i == cy and j == cx
                if not oriented:
                    inside = ((j + 0.5 - u) / max(rx, 1e-9)) ** 2 + ((i + 0.5 - v) / max(ry, 1e-9)) ** 2 <= 1.0
                    if inside or own:
                        yield i, j, depth[n], 0.0
                    continue
                # where the pixel's ray meets the point's tangent plane
                c, nv = centres[n], nrms[n]
                ray = np.array([c[0] / c[2] + (j + 0.5 - u) / fx, c[1] / c[2] + (i + 0.5 - v) / fy, 1.0])
                nr = float(nv @ ray)
                t, rho2, inside = depth[n], 1.0, False
                if abs(nr) > _MIN_COS * np.linalg.norm(ray):
                    tt = float(nv @ c) / nr
                    rr = float(np.sum((tt * ray - c) ** 2)) / (radius * radius)
                    if tt > 0 and rr <= 1.0:
                        t, rho2, inside = tt, rr, True
                if inside or own:
                    yield i, j, t, rho2

    best_depth32 = np.full((h, w), np.inf, dtype=np.float32)
    winner = np.full((h, w), -1, dtype=np.int64)
    for n, pid in enumerate(ids):  # nearest depth
        for i, j, t, _ in covered(n):
            if (np.float32(t), pid) < (best_depth32[i, j], winner[i, j] if winner[i, j] >= 0 else np.inf):
                best_depth32[i, j], winner[i, j] = np.float32(t), pid
    if oriented:  # within the front surface, the disc centre nearest the ray; outlines marked
        best = np.full((h, w), np.inf, dtype=np.float32)
        for n, pid in enumerate(ids):
            for i, j, t, rho2 in covered(n):
                in_front = t <= float(best_depth32[i, j]) + _SURFACE_BAND * radius
                if in_front and (np.float32(rho2), pid) < (best[i, j], winner[i, j] if best[i, j] < np.inf else np.inf):
                    best[i, j], winner[i, j] = np.float32(rho2), pid
    outline = (best > _FRINGE) & (winner >= 0) if oriented else np.zeros((h, w), bool)
    vid = winner.astype(np.int32)[..., None]
    return Fragments(
        vertex_ids=vid,
        weights=(vid >= 0).astype(np.float32),
        depth=best_depth32,
        face_ids=np.full((h, w), -1, dtype=np.int32),
        outline=outline,
    )
