"""CPU fragment backend: Open3D's RaycastingScene (Embree BVH)."""

from __future__ import annotations

import numpy as np

from ..scene import Camera, Scene
from .fragments import Fragments

__all__ = ["raycast_fragments", "RaycastCache"]


class RaycastCache:
    """Keeps one Open3D ray-casting scene per geometry, so many views reuse the BVH."""

    _arrays: tuple | None = None  # the (vertices, faces) objects the BVH was built from
    _scene = None

    @classmethod
    def get(cls, scene: Scene):
        import open3d as o3d

        arrays = cls._arrays
        if arrays is None or arrays[0] is not scene.vertices or arrays[1] is not scene.faces:
            rc = o3d.t.geometry.RaycastingScene()
            rc.add_triangles(
                _cpu_tensor(np.ascontiguousarray(scene.vertices, dtype=np.float32), o3d.core.float32),
                _cpu_tensor(np.ascontiguousarray(scene.faces, dtype=np.uint32), o3d.core.uint32),
            )
            # holding the arrays keeps their identity unique while the BVH is cached
            cls._arrays, cls._scene = (scene.vertices, scene.faces), rc
        return cls._scene

    @classmethod
    def release(cls) -> None:
        """Drop the cached BVH (about 100 bytes a triangle) once no more rays will be cast."""
        cls._arrays = cls._scene = None


def cast_rays(scene: Scene, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cast rays against the mesh.

    Args:
        origins, directions: [N, 3] world-space rays (directions need not be unit).

    Returns:
        t_hit: [N] float32 ray parameter (inf = miss).
        face_ids: [N] int64 (-1 = miss).
        bary_uv: [N, 2] float32 barycentric (u, v): hit = (1-u-v) v0 + u v1 + v v2.
    """
    rays = np.concatenate([origins, directions], axis=1).astype(np.float32)
    t_hit, prim, uv = _cast(scene, rays)
    return t_hit, prim.astype(np.int64), uv


def _cpu_tensor(array: np.ndarray, dtype):
    """An Open3D CPU tensor holding a copy of ``array`` (dtype and device spelled out, as open3d's stubs ask)."""
    import open3d as o3d

    return o3d.core.Tensor(array, dtype, o3d.core.Device("CPU:0"))


def _cast(scene: Scene, rays: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[N, 6] float32 rays -> (t_hit [N] float32, face ids [N] int32 with -1 = miss, uv [N, 2] float32)."""
    import open3d as o3d

    rc = RaycastCache.get(scene)
    ans = rc.cast_rays(_cpu_tensor(rays, o3d.core.float32), nthreads=0)
    t_hit = ans["t_hit"].numpy()
    # own copies (the results outlive Open3D's tensors); uint32 ids, a miss set to -1 below
    prim = ans["primitive_ids"].numpy().astype(np.int32)
    uv = np.array(ans["primitive_uvs"].numpy(), dtype=np.float32)
    prim[~np.isfinite(t_hit)] = -1
    return t_hit, prim, uv


def _pixel_rays32(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """[H*W, 6] float32 rays through every pixel centre, and [H*W] the camera-space z of their directions.

    The same numbers as ``np.concatenate(camera.pixel_rays(), 1).astype(np.float32)`` (same
    float64 operations in the same order), with one output array instead of six temporaries.
    """
    dirs_cam = camera._pixel_directions_camera()  # [N, 3] float64 unit vectors, cached per intrinsics
    c2w = camera.cam_to_world
    rot = c2w[:3, :3]
    world = np.multiply(dirs_cam[:, 0:1], rot[:, 0])
    world += dirs_cam[:, 1:2] * rot[:, 1]
    world += dirs_cam[:, 2:3] * rot[:, 2]
    rays = np.empty((len(dirs_cam), 6), dtype=np.float32)
    rays[:, :3] = c2w[:3, 3]
    rays[:, 3:] = world
    return rays, dirs_cam[:, 2]


def raycast_fragments(scene: Scene, camera: Camera) -> Fragments:
    """Fragments of one view by casting one ray through each pixel centre."""
    if scene.faces is None:
        raise ValueError("ray casting needs a mesh with faces; point clouds use splatting")
    rays, dir_z = _pixel_rays32(camera)
    t_hit, prim, uv = _cast(scene, rays)
    h, w = camera.height, camera.width
    hit = prim >= 0
    # depth along the optical axis = t * (unit ray direction . camera z axis)
    depth = np.where(hit, t_hit * dir_z, np.inf).astype(np.float32)
    uv[~hit] = 0.0  # (u, v) weigh faces[prim][1], [2]
    # compact: the [H, W, 3] vertex ids and weights are expanded only if someone reads them
    return Fragments.from_faces(prim.reshape(h, w), uv.reshape(h, w, 2), depth.reshape(h, w), scene.faces)
