"""Scene and Camera: the ground floor every other module stands on.

Conventions (one internal convention; converters live in ``io/`` only):

* World-to-camera transforms are 4x4 matrices in **OpenCV axes**: x right, y down,
  z forward (the camera looks along +z).
* Pixel coordinates are continuous with (0, 0) at the top-left *corner* of the
  top-left pixel, so the centre of pixel (row i, column j) is (u, v) = (j + 0.5,
  i + 0.5). This is COLMAP's and nerfstudio's convention.
* Lens distortion uses OpenCV's radial-tangential model with coefficients
  ``(k1, k2, p1, p2, k3)`` applied to normalised camera coordinates. COLMAP's
  SIMPLE_RADIAL / RADIAL / OPENCV models are special cases of it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["Camera", "Scene"]

# camera-space ray directions per (intrinsics, distortion, size): most datasets share them
_DIRECTIONS_CACHE: dict = {}


def _as_matrix(value, shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf values: {arr.tolist()}")
    return arr


@dataclass
class Camera:
    """A calibrated pinhole camera with optional radial-tangential distortion.

    Attributes:
        K: [3, 3] float64 intrinsics (fx, fy, cx, cy in pixels, corner convention).
        world_to_cam: [4, 4] float64 rigid transform, OpenCV axes.
        width: image width in pixels.
        height: image height in pixels.
        image_path: the image this camera belongs to (``None`` for virtual cameras).
        name: view name, by default the image file name without directories.
        distortion: [5] float64 OpenCV coefficients (k1, k2, p1, p2, k3), or ``None``.
    """

    K: np.ndarray
    world_to_cam: np.ndarray
    width: int
    height: int
    image_path: Path | None = None
    name: str = ""
    distortion: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.K = _as_matrix(self.K, (3, 3), "K")
        self.world_to_cam = _as_matrix(self.world_to_cam, (4, 4), "world_to_cam")
        self.width, self.height = int(self.width), int(self.height)
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera size must be positive, got {self.width}x{self.height}")
        if self.K[0, 0] <= 0 or self.K[1, 1] <= 0:
            raise ValueError(f"focal lengths must be positive, got fx={self.K[0, 0]}, fy={self.K[1, 1]}")
        rot = self.world_to_cam[:3, :3]
        if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-4) or np.linalg.det(rot) < 0:
            raise ValueError(
                "world_to_cam rotation is not orthonormal with determinant +1 "
                "(scaled or mirrored pose?); normalise the rotation before building the Camera"
            )
        if self.distortion is not None:
            dist = np.zeros(5)
            given = np.asarray(self.distortion, dtype=np.float64).ravel()
            if given.size > 5:
                raise ValueError(f"distortion takes at most 5 coefficients (k1, k2, p1, p2, k3), got {given.size}")
            dist[: given.size] = given
            self.distortion = None if not np.any(dist) else dist
        if self.image_path is not None:
            self.image_path = Path(self.image_path)
        if not self.name and self.image_path is not None:
            self.name = self.image_path.name

    # ----------------------------------------------------------------- poses
    @property
    def cam_to_world(self) -> np.ndarray:
        """[4, 4] camera-to-world transform (OpenCV axes)."""
        rot = self.world_to_cam[:3, :3]
        out = np.eye(4)
        out[:3, :3] = rot.T
        out[:3, 3] = -rot.T @ self.world_to_cam[:3, 3]
        return out

    @property
    def center(self) -> np.ndarray:
        """[3] camera centre in world coordinates."""
        return self.cam_to_world[:3, 3]

    @property
    def is_distorted(self) -> bool:
        return self.distortion is not None

    # ------------------------------------------------------------ distortion
    def distort_normalized(self, xy: np.ndarray) -> np.ndarray:
        """Apply lens distortion to normalised coordinates.

        Args:
            xy: [N, 2] undistorted normalised coordinates (x/z, y/z).

        Returns:
            [N, 2] distorted normalised coordinates.
        """
        if self.distortion is None:
            return xy
        k1, k2, p1, p2, k3 = self.distortion
        x, y = xy[:, 0], xy[:, 1]
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return np.stack([xd, yd], axis=1)

    def undistort_normalized(self, xy_d: np.ndarray, iterations: int = 50, tol: float = 1e-12) -> np.ndarray:
        """Invert :meth:`distort_normalized` with Newton's method (exact to ``tol``).

        Args:
            xy_d: [N, 2] distorted normalised coordinates.

        Returns:
            [N, 2] undistorted normalised coordinates.
        """
        if self.distortion is None:
            return xy_d
        k1, k2, p1, p2, k3 = self.distortion
        xy = xy_d.copy()
        for _ in range(iterations):
            x, y = xy[:, 0], xy[:, 1]
            r2 = x * x + y * y
            radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
            drad = k1 + r2 * (2 * k2 + 3 * k3 * r2)  # d radial / d r2
            fx = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x) - xy_d[:, 0]
            fy = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y - xy_d[:, 1]
            j00 = radial + 2 * x * x * drad + 2 * p1 * y + 6 * p2 * x
            j01 = 2 * x * y * drad + 2 * p1 * x + 2 * p2 * y
            j10 = 2 * x * y * drad + 2 * p1 * x + 2 * p2 * y
            j11 = radial + 2 * y * y * drad + 6 * p1 * y + 2 * p2 * x
            det = j00 * j11 - j01 * j10
            det = np.where(np.abs(det) < 1e-15, 1e-15, det)
            dx = (j11 * fx - j01 * fy) / det
            dy = (j00 * fy - j10 * fx) / det
            xy = xy - np.stack([dx, dy], axis=1)
            if np.max(np.abs(dx) + np.abs(dy), initial=0.0) < tol:
                break
        return xy

    # ------------------------------------------------------------ projection
    def world_to_camera_points(self, points: np.ndarray) -> np.ndarray:
        """[N, 3] world points -> [N, 3] camera-space points (OpenCV axes)."""
        pts = np.asarray(points, dtype=np.float64)
        rot, t = self.world_to_cam[:3, :3], self.world_to_cam[:3, 3]
        # elementwise, not BLAS (see pixel_rays)
        return pts[:, 0:1] * rot[:, 0] + pts[:, 1:2] * rot[:, 1] + pts[:, 2:3] * rot[:, 2] + t

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project world points to pixels (distortion applied).

        Args:
            points: [N, 3] world coordinates.

        Returns:
            uv: [N, 2] float64 pixel coordinates (corner convention; NaN behind camera).
            depth: [N] float64 camera-space z (positive in front of the camera).
        """
        cam = self.world_to_camera_points(points)
        depth = cam[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = cam[:, :2] / depth[:, None]
        xy[depth <= 0] = np.nan
        xy = self.distort_normalized(xy)
        K = self.K
        uv = np.empty_like(xy)
        uv[:, 0] = K[0, 0] * xy[:, 0] + K[0, 1] * xy[:, 1] + K[0, 2]
        uv[:, 1] = K[1, 1] * xy[:, 1] + K[1, 2]
        return uv, depth

    def pixel_centers(self) -> np.ndarray:
        """[H*W, 2] float64 centres of all pixels, row-major (v outer, u inner)."""
        u = np.arange(self.width, dtype=np.float64) + 0.5
        v = np.arange(self.height, dtype=np.float64) + 0.5
        uu, vv = np.meshgrid(u, v)
        return np.stack([uu.ravel(), vv.ravel()], axis=1)

    def _directions_camera(self, uv: np.ndarray) -> np.ndarray:
        """[N, 3] unit ray directions in camera space through pixels ``uv`` [N, 2]."""
        kinv = np.linalg.inv(self.K)
        u, v = uv[:, 0], uv[:, 1]
        xy_d = np.empty_like(uv)
        xy_d[:, 0] = kinv[0, 0] * u + kinv[0, 1] * v + kinv[0, 2]
        xy_d[:, 1] = kinv[1, 1] * v + kinv[1, 2]
        xy = self.undistort_normalized(xy_d)
        dirs = np.empty((len(xy), 3))
        dirs[:, :2] = xy
        dirs[:, 2] = 1.0
        dirs /= np.sqrt(np.einsum("ij,ij->i", dirs, dirs))[:, None]
        return dirs

    def _pixel_directions_camera(self) -> np.ndarray:
        """Camera-space directions through every pixel centre, shared by views with the same intrinsics."""
        key = (
            self.K.tobytes(),
            None if self.distortion is None else self.distortion.tobytes(),
            self.width,
            self.height,
        )
        dirs = _DIRECTIONS_CACHE.get(key)
        if dirs is None:
            dirs = self._directions_camera(self.pixel_centers())
            dirs.setflags(write=False)
            if len(_DIRECTIONS_CACHE) >= 4:
                _DIRECTIONS_CACHE.pop(next(iter(_DIRECTIONS_CACHE)))
            _DIRECTIONS_CACHE[key] = dirs
        return dirs

    def pixel_rays(self, uv: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """World-space rays through pixels; distorted cameras are undistorted exactly.

        Args:
            uv: [N, 2] pixel coordinates, or ``None`` for all pixel centres (row-major).

        Returns:
            origins: [N, 3] float64 (the camera centre).
            directions: [N, 3] float64 unit vectors in world coordinates.
        """
        if uv is None:
            dirs_cam = self._pixel_directions_camera()
        else:
            dirs_cam = self._directions_camera(np.asarray(uv, dtype=np.float64))
        c2w = self.cam_to_world
        rot = c2w[:3, :3]
        # Elementwise arithmetic instead of matrix products on purpose: BLAS threads
        # fight with the OpenMP threads a ray caster leaves spinning (measured 6x slower).
        # A rotation keeps the unit length of the camera-space directions.
        dirs = dirs_cam[:, 0:1] * rot[:, 0] + dirs_cam[:, 1:2] * rot[:, 1] + dirs_cam[:, 2:3] * rot[:, 2]
        origins = np.broadcast_to(c2w[:3, 3], dirs.shape).copy()
        return origins, dirs

    # ---------------------------------------------------------------- helpers
    @classmethod
    def look_at(
        cls,
        eye,
        target,
        up=(0.0, 0.0, 1.0),
        width: int = 640,
        height: int = 480,
        fov_y_deg: float = 60.0,
        name: str = "",
        image_path: Path | None = None,
    ) -> Camera:
        """A pinhole camera at ``eye`` looking at ``target`` (``up`` = world up direction)."""
        eye, target, up = (np.asarray(a, dtype=np.float64) for a in (eye, target, up))
        z = target - eye
        if np.linalg.norm(z) < 1e-12:
            raise ValueError("look_at: eye and target coincide")
        z /= np.linalg.norm(z)
        x = np.cross(z, up)
        if np.linalg.norm(x) < 1e-8:  # looking along up: pick another up
            x = np.cross(z, np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0]))
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        c2w = np.eye(4)
        c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = x, y, z, eye
        f = 0.5 * height / np.tan(np.deg2rad(fov_y_deg) / 2)
        K = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])
        return cls(K=K, world_to_cam=np.linalg.inv(c2w), width=width, height=height, name=name, image_path=image_path)

    def scaled(self, width: int, height: int) -> Camera:
        """The same camera for an image resized to ``width`` x ``height``."""
        sx, sy = width / self.width, height / self.height
        K = self.K.copy()
        K[0] *= sx
        K[1] *= sy
        return replace(self, K=K, width=width, height=height)

    def transformed(self, world_transform: np.ndarray) -> Camera:
        """The same camera after the world is moved by a 4x4 rigid ``world_transform``.

        A point p in the old world frame is ``world_transform @ p`` in the new one.
        """
        T = _as_matrix(world_transform, (4, 4), "world_transform")
        return replace(self, world_to_cam=self.world_to_cam @ np.linalg.inv(T))

    def fingerprint(self) -> str:
        """Content hash of everything that changes which pixel sees which surface."""
        h = hashlib.blake2b(digest_size=16)
        for arr in (self.K, self.world_to_cam, np.array([self.width, self.height], np.float64)):
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
        if self.distortion is not None:
            h.update(self.distortion.astype(np.float64).tobytes())
        return h.hexdigest()


@dataclass
class Scene:
    """Geometry plus the calibrated views that look at it.

    Attributes:
        vertices: [V, 3] float32 positions, in the order of the input file.
        faces: [F, 3] int32 triangle vertex ids, or ``None`` for a point cloud.
        colors: [V, 3] uint8 vertex colours, or ``None``.
        cameras: the views, in a stable order.
        source: the geometry file this scene was loaded from.
        camera_format: which camera format the views came from (for reports).
    """

    vertices: np.ndarray
    faces: np.ndarray | None = None
    colors: np.ndarray | None = None
    cameras: list[Camera] = field(default_factory=list)
    source: Path | None = None
    camera_format: str | None = None

    def __post_init__(self) -> None:
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float32)
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3:
            raise ValueError(f"vertices must have shape (V, 3), got {self.vertices.shape}")
        if self.faces is not None:
            self.faces = np.ascontiguousarray(self.faces, dtype=np.int32)
            if self.faces.ndim != 2 or self.faces.shape[1] != 3:
                raise ValueError(f"faces must be triangles with shape (F, 3), got {self.faces.shape}")
        if self.colors is not None:
            self.colors = np.ascontiguousarray(self.colors)
            if self.colors.shape != (len(self.vertices), 3):
                raise ValueError(f"colors must have shape ({len(self.vertices)}, 3), got {self.colors.shape}")
            if self.colors.dtype != np.uint8:
                c = self.colors.astype(np.float64)
                self.colors = (
                    (np.clip(c, 0, 1) * 255 + 0.5).astype(np.uint8)
                    if c.max(initial=0) <= 1.0
                    else np.clip(c, 0, 255).astype(np.uint8)
                )
        if self.source is not None:
            self.source = Path(self.source)

    @property
    def is_point_cloud(self) -> bool:
        return self.faces is None

    @property
    def num_vertices(self) -> int:
        return int(len(self.vertices))

    def camera(self, name: str) -> Camera:
        """The camera whose view name is ``name``."""
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise KeyError(f"no view named {name!r}; views are: {', '.join(c.name for c in self.cameras[:10])}")

    def geometry_hash(self) -> str:
        """Content hash of vertices and faces (not colours, not cameras)."""
        h = hashlib.blake2b(digest_size=16)
        h.update(self.vertices.tobytes())
        if self.faces is not None:
            h.update(b"faces")
            h.update(self.faces.tobytes())
        return h.hexdigest()
