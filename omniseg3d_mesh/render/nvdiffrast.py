"""GPU fragment backend: nvdiffrast's CUDA rasterizer.

nvdiffrast (https://nvlabs.github.io/nvdiffrast) takes vertex positions in clip
space and returns, per pixel, ``(u, v, z/w, triangle_id + 1)`` with ``u``, ``v``
the perspective-correct barycentrics of the *first* and *second* vertex of the
triangle (the third gets ``1 - u - v``) and 0 in every channel where nothing was
hit. It samples at pixel centres and stores images bottom-up: row 0 of its
output is clip-space ``y = -1``.

Our cameras use OpenCV axes and the corner pixel convention (centre of row i,
column j at (j + 0.5, i + 0.5), rows going down). Mapping pixel ``u`` to clip
``x/w = 2u/W - 1`` and pixel ``v`` to ``y/w = 2v/H - 1`` (no flip) makes output row
i exactly our image row i, with nvdiffrast's sample at ``(j + 0.5, i + 0.5)``, the
same point the CPU backend's ray goes through. With ``w = z_cam``::

    x_clip = (2 (fx x + s y + cx z) / W) - z
    y_clip = (2 (fy y + cy z) / H) - z
    z_clip = ((far + near) z - 2 far near) / (far - near)     (z/w: -1 at near, +1 at far)
    w_clip = z

Depth is not read back from z/w (poor precision) but interpolated from the
vertices' camera-space z with the perspective-correct barycentrics, which is
exact for planar triangles.

Distorted cameras cannot be rasterized (a rasterizer draws straight edges): this
backend raises a ValueError that points to ``--backend cpu`` (exact per-pixel rays)
or undistorting the images first.
"""

from __future__ import annotations

import logging

import numpy as np

from .._deps import require
from ..scene import Camera, Scene
from .fragments import Fragments

log = logging.getLogger(__name__)

__all__ = ["rasterize_fragments", "clip_space_matrix", "decode_triangle_ids"]

#: near plane as a fraction of the far plane (float32 depth-buffer precision vs.
#: clipping surfaces very close to the camera)
NEAR_FRACTION = 1e-4


def _require_nvdiffrast():
    """``nvdiffrast.torch``, with its CUDA rasterizer (nvdiffrast >= 0.3)."""
    dr = require("nvdiffrast.torch", "the nvdiffrast fragment backend")
    if not hasattr(dr, "RasterizeCudaContext"):
        raise ImportError(
            "the nvdiffrast fragment backend needs nvdiffrast >= 0.3 (RasterizeCudaContext); the installed "
            "version only has the OpenGL rasterizer: upgrade nvdiffrast, or use --backend cpu"
        )
    return dr


class _Context:
    """One RasterizeCudaContext per device, and the scene's geometry already on it."""

    ctx = None
    device = None
    arrays: tuple | None = None
    tensors: tuple | None = None  # (homogeneous float64 vertices [V, 4], int32 faces [F, 3]) on the device

    @classmethod
    def get(cls, scene: Scene, device):
        import torch

        dr = _require_nvdiffrast()
        if cls.ctx is None or cls.device != device:
            cls.ctx = dr.RasterizeCudaContext(device=device)
            cls.device = device
            cls.arrays = None
        if cls.arrays is None or cls.arrays[0] is not scene.vertices or cls.arrays[1] is not scene.faces:
            verts = torch.from_numpy(np.ascontiguousarray(scene.vertices, dtype=np.float32)).to(device)
            vh = torch.cat([verts.double(), torch.ones_like(verts[:, :1], dtype=torch.float64)], dim=1)
            faces = torch.from_numpy(np.ascontiguousarray(scene.faces, dtype=np.int32)).to(device)
            cls.arrays, cls.tensors = (scene.vertices, scene.faces), (vh, faces)
        return dr, cls.ctx, cls.tensors


def clip_space_matrix(camera: Camera, near: float, far: float, viewport: tuple[int, int] | None = None) -> np.ndarray:
    """[4, 4] float64 matrix taking world points (homogeneous) to nvdiffrast clip space.

    Rows of the result are ``(x_clip, y_clip, z_clip, w_clip)``; see the module
    docstring for the mapping (OpenCV camera, corner pixel convention, image row
    i = nvdiffrast output row i).

    Args:
        viewport: (width, height) of the rasterized image when it is larger than the
            camera's (padding on the right and bottom); pixel (i, j) stays pixel (i, j).
    """
    if not (0 < near < far):
        raise ValueError(f"clip planes must satisfy 0 < near < far, got near={near}, far={far}")
    W, H = (float(camera.width), float(camera.height)) if viewport is None else (float(viewport[0]), float(viewport[1]))
    K = camera.K
    proj = np.zeros((4, 4))
    proj[0, :3] = [2 * K[0, 0] / W, 2 * K[0, 1] / W, 2 * K[0, 2] / W - 1]
    proj[1, :3] = [0.0, 2 * K[1, 1] / H, 2 * K[1, 2] / H - 1]
    proj[2, 2] = (far + near) / (far - near)
    proj[2, 3] = -2 * far * near / (far - near)
    proj[3, 2] = 1.0
    return proj @ camera.world_to_cam


def decode_triangle_ids(w):
    """nvdiffrast's float32 ``triangle_id + 1`` channel -> int64 ids (0 = nothing).

    Ids up to 2^24 are stored as the float value itself; larger ones (meshes of more
    than 16.7 M triangles) as the float whose bit pattern is ``0x4a800000 + id``.
    """
    import torch

    small = torch.round(w).long()
    large = w.contiguous().view(torch.int32).long() - 0x4A800000
    return torch.where(w <= 16777216.0, small, large)


def _clip_planes(zmax: float) -> tuple[float, float]:
    """(near, far) planes from the largest camera-space z of the geometry."""
    if zmax <= 0:
        return 1e-3, 1.0  # nothing in front of the camera: any valid planes do
    far = zmax * 1.01 + 1e-6
    return far * NEAR_FRACTION, far


def rasterize_fragments(scene: Scene, camera: Camera, device=None) -> Fragments:
    """Fragments of one view with nvdiffrast (CUDA).

    Args:
        scene: a mesh (``faces`` [F, 3]); point clouds use :mod:`.points`.
        camera: an undistorted pinhole view (OpenCV axes, corner pixel convention).
        device: CUDA device (default: the current one).

    Returns:
        Fragments: ``vertex_ids`` [H, W, 3] int32 = the hit triangle's vertices (-1 =
        background), ``weights`` [H, W, 3] float32 barycentrics in the same order,
        ``depth`` [H, W] float32 camera z (inf = background), ``face_ids`` [H, W] int32.

    Raises:
        ValueError: point cloud, or a distorted camera (use ``--backend cpu``).
        ImportError: nvdiffrast is not installed.
    """
    import torch

    if scene.faces is None:
        raise ValueError("the nvdiffrast backend needs a mesh with faces; point clouds use splatting")
    if camera.is_distorted:
        raise ValueError(
            f"view {camera.name!r} has lens distortion {np.asarray(camera.distortion).tolist()}, which a rasterizer "
            "cannot reproduce: use --backend cpu (exact per-pixel rays) or undistort the images first"
        )
    if not torch.cuda.is_available():
        raise ValueError("the nvdiffrast backend needs a CUDA device and none is available: use --backend cpu")
    device = torch.device("cuda", torch.cuda.current_device()) if device is None else torch.device(device)
    dr, ctx, (vh, faces) = _Context.get(scene, device)
    h, w = camera.height, camera.width
    # early CUDA-rasterizer releases need sizes divisible by 8: pad right/bottom, crop after
    hp, wp = -(-h // 8) * 8, -(-w // 8) * 8
    # Everything per vertex stays on the device (the host does O(1) work per view): the
    # camera z of every vertex, its maximum (the far plane), then clip space.
    w2c = torch.from_numpy(camera.world_to_cam).to(device=device, dtype=torch.float64)
    zcam64 = vh @ w2c[2]  # [V] camera z = clip w
    near, far = _clip_planes(float(zcam64.max()) if len(zcam64) else 0.0)
    mvp = torch.from_numpy(clip_space_matrix(camera, near, far, viewport=(wp, hp))).to(
        device=device, dtype=torch.float64
    )
    clip = vh @ mvp.T  # [V, 4], w = camera z
    with torch.no_grad():
        rast, _ = dr.rasterize(ctx, clip.float()[None].contiguous(), faces, resolution=(hp, wp), grad_db=False)
    rast = rast[0, :h, :w]  # [H, W, 4]: (u, v, z/w, triangle_id + 1), row i = image row i
    tri = decode_triangle_ids(rast[..., 3]) - 1  # [H, W], -1 = background
    hit = tri >= 0
    u, v = rast[..., 0], rast[..., 1]
    # u, v, 1 - u - v weigh faces[tri][0], [1], [2]; the compact form keeps the last two
    bary = torch.stack([v, 1.0 - u - v], dim=-1)
    tri_c = tri.clamp_min(0)
    zcam = zcam64.float()
    corners = faces[tri_c].long()  # [H, W, 3]
    depth = zcam[corners[..., 0]] * u + zcam[corners[..., 1]] * bary[..., 0] + zcam[corners[..., 2]] * bary[..., 1]
    bary = torch.where(hit[..., None], bary, torch.zeros_like(bary))
    depth = torch.where(hit, depth, torch.full_like(depth, float("inf")))
    # read back 16 bytes a pixel (face id, two weights, depth); vertex ids and the
    # first weight are expanded on the host only if someone reads them
    return Fragments.from_faces(
        face_ids=tri.int().cpu().numpy(),
        bary=bary.float().cpu().numpy(),
        depth=depth.float().cpu().numpy(),
        faces=scene.faces,
    )
