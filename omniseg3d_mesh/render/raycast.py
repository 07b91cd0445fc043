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
                o3d.core.Tensor(np.ascontiguousarray(scene.vertices, dtype=np.float32)),
                o3d.core.Tensor(np.ascontiguousarray(scene.faces, dtype=np.uint32)),
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
    import open3d as o3d

    rc = RaycastCache.get(scene)
    rays = np.concatenate([origins, directions], axis=1).astype(np.float32)
    ans = rc.cast_rays(o3d.core.Tensor(rays), nthreads=0)
    t_hit = ans["t_hit"].numpy()
    prim = ans["primitive_ids"].numpy().astype(np.int64)
    uv = ans["primitive_uvs"].numpy()
    miss = ~np.isfinite(t_hit)
    prim[miss] = -1
    return t_hit, prim, uv


def raycast_fragments(scene: Scene, camera: Camera) -> Fragments:
    """Fragments of one view by casting one ray through each pixel centre."""
    if scene.faces is None:
        raise ValueError("ray casting needs a mesh with faces; point clouds use splatting")
    origins, dirs = camera.pixel_rays()
    t_hit, prim, uv = cast_rays(scene, origins, dirs)
    h, w = camera.height, camera.width
    hit = prim >= 0
    # depth along the optical axis = t * (ray direction . camera z axis)
    zaxis = camera.cam_to_world[:3, 2]
    depth = np.full(h * w, np.inf, dtype=np.float32)
    depth[hit] = (t_hit[hit] * (dirs[hit] @ zaxis)).astype(np.float32)
    bary = np.where(hit[:, None], uv, 0.0).astype(np.float32)  # (u, v) weight faces[prim][1], [2]
    # compact: the [H, W, 3] vertex ids and weights are expanded only if someone reads them
    return Fragments.from_faces(prim.astype(np.int32).reshape(h, w), bary.reshape(h, w, 2), depth.reshape(h, w), scene.faces)
