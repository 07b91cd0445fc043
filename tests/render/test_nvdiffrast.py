"""nvdiffrast backend: the clip-space mapping (CPU) and agreement with ray casting (GPU only)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from omniseg3d_mesh.render.nvdiffrast import clip_space_matrix, rasterize_fragments
from omniseg3d_mesh.scene import Camera, Scene


def _camera(width=48, height=36) -> Camera:
    K = np.array([[50.0, 0.7, 23.3], [0.0, 47.0, 19.1], [0.0, 0.0, 1.0]])
    base = Camera.look_at((1.0, -4.0, 2.0), (0, 0, 0.3), width=width, height=height)
    return Camera(K=K, world_to_cam=base.world_to_cam, width=width, height=height, name="cam.png")


def test_clip_space_reproduces_camera_projection():
    cam = _camera()
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1, 1, size=(200, 3))
    near, far = 0.5, 20.0
    M = clip_space_matrix(cam, near, far)
    clip = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ M.T
    uv, depth = cam.project(pts)
    # nvdiffrast pixel j of W covers x/w in [-1 + 2j/W, -1 + 2(j+1)/W]: u = (x/w + 1) W / 2
    u = (clip[:, 0] / clip[:, 3] + 1) * cam.width / 2
    v = (clip[:, 1] / clip[:, 3] + 1) * cam.height / 2  # row i of the output = image row i
    np.testing.assert_allclose(u, uv[:, 0], atol=1e-9)
    np.testing.assert_allclose(v, uv[:, 1], atol=1e-9)
    np.testing.assert_allclose(clip[:, 3], depth, atol=1e-12)
    # z/w runs from -1 at the near plane to +1 at the far plane
    on_axis = cam.cam_to_world[:3, :3] @ np.array([[0, 0, near], [0, 0, far]]).T + cam.center[:, None]
    c = np.concatenate([on_axis.T, np.ones((2, 1))], axis=1) @ M.T
    np.testing.assert_allclose(c[:, 2] / c[:, 3], [-1.0, 1.0], atol=1e-9)


def test_padded_viewport_keeps_pixels():
    cam = _camera(width=45, height=35)
    pts = np.random.default_rng(1).uniform(-1, 1, size=(50, 3))
    M = clip_space_matrix(cam, 0.5, 20.0, viewport=(48, 40))
    clip = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ M.T
    uv, _ = cam.project(pts)
    np.testing.assert_allclose((clip[:, 0] / clip[:, 3] + 1) * 48 / 2, uv[:, 0], atol=1e-9)
    np.testing.assert_allclose((clip[:, 1] / clip[:, 3] + 1) * 40 / 2, uv[:, 1], atol=1e-9)


def test_decode_triangle_ids():
    import torch

    from omniseg3d_mesh.render.nvdiffrast import decode_triangle_ids

    ids = np.array([0, 1, 5, 16777216, 16777217, 300_000_000], dtype=np.int64)
    # nvdiffrast's encoding: small ids as their float value, larger ones as float bits 0x4a800000 + id
    enc = np.where(ids <= 0x01000000, ids.astype(np.float32), (0x4A800000 + ids).astype(np.int32).view(np.float32))
    out = decode_triangle_ids(torch.from_numpy(enc.astype(np.float32)))
    np.testing.assert_array_equal(out.numpy(), ids)


def test_clip_planes_error():
    with pytest.raises(ValueError, match="0 < near < far"):
        clip_space_matrix(_camera(), 2.0, 1.0)


def test_rejects_point_clouds_and_distortion(box_scene):
    scene, _ = box_scene
    with pytest.raises(ValueError, match="needs a mesh with faces"):
        rasterize_fragments(Scene(vertices=scene.vertices), scene.cameras[0])
    cam = _camera()
    cam.distortion = np.array([0.1, 0.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="use --backend cpu"):
        rasterize_fragments(scene, cam)


def _cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:  # pragma: no cover
        return False


HAS_OPEN3D = importlib.util.find_spec("open3d") is not None
HAS_NVDIFFRAST = importlib.util.find_spec("nvdiffrast") is not None
#: CPU-backend fragments for the GPU machine, which may lack open3d (tools/make_gpu_reference.py)
REFERENCE = Path(__file__).parent / "data" / "nvdiffrast_reference.npz"


@pytest.mark.skipif(_cuda(), reason="checks the message shown without CUDA")
def test_without_cuda_says_so(box_scene):
    scene, _ = box_scene
    with pytest.raises(ValueError, match="needs a CUDA device"):
        rasterize_fragments(scene, scene.cameras[0])


def _reference_views():
    """[(scene name, Scene, camera, reference Fragments)] from the stored CPU-backend reference."""
    from omniseg3d_mesh.render.fragments import Fragments

    out = []
    with np.load(REFERENCE) as data:
        for name in data["scenes"].tolist():
            faces = data[f"{name}__faces"]
            n, h, w = data[f"{name}__face_ids"].shape
            cams = [
                Camera(
                    K=data[f"{name}__K"][i],
                    world_to_cam=data[f"{name}__world_to_cam"][i],
                    width=w,
                    height=h,
                    name=f"{name}_{i}.png",
                )
                for i in range(n)
            ]
            scene = Scene(vertices=data[f"{name}__vertices"], faces=faces, cameras=cams)
            for i, cam in enumerate(cams):
                ref = Fragments.from_faces(
                    data[f"{name}__face_ids"][i], data[f"{name}__bary"][i], data[f"{name}__depth"][i], scene.faces
                )
                out.append((name, scene, cam, ref))
    return out


def _assert_agree(gpu, cpu, what, weight_atol=2e-3):
    """nvdiffrast vs the ray caster away from triangle edges (a pixel centre on an edge may go either way)."""
    assert gpu.vertex_ids.shape == cpu.vertex_ids.shape, what
    f = cpu.face_ids
    boundary = np.zeros(f.shape, dtype=bool)
    for axis in (0, 1):
        d = np.diff(f, axis=axis) != 0
        if axis == 0:
            boundary[1:] |= d
            boundary[:-1] |= d
        else:
            boundary[:, 1:] |= d
            boundary[:, :-1] |= d
    inner = ~boundary
    same = gpu.face_ids[inner] == cpu.face_ids[inner]
    assert same.mean() >= 0.99, (what, same.mean())
    both = inner & cpu.valid & (gpu.face_ids == cpu.face_ids)
    np.testing.assert_array_equal(gpu.vertex_ids[both], cpu.vertex_ids[both])
    np.testing.assert_allclose(gpu.weights[both], cpu.weights[both], atol=weight_atol)
    np.testing.assert_allclose(gpu.depth[both], cpu.depth[both], rtol=1e-3)


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda() or not HAS_NVDIFFRAST, reason="needs CUDA and nvdiffrast")
@pytest.mark.skipif(
    not HAS_OPEN3D, reason="needs open3d for the live CPU backend (the stored reference is checked below)"
)
def test_agrees_with_cpu_backend():
    from omniseg3d_mesh.render.raycast import raycast_fragments
    from tests.helpers.scenes import make_box_scene

    scene, _ = make_box_scene(num_views=4, width=317, height=229)  # odd sizes: padding is cropped
    for cam in scene.cameras:
        _assert_agree(rasterize_fragments(scene, cam), raycast_fragments(scene, cam), cam.name)


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda() or not HAS_NVDIFFRAST, reason="needs CUDA and nvdiffrast")
@pytest.mark.skipif(not REFERENCE.is_file(), reason="no stored reference (python tools/make_gpu_reference.py)")
def test_agrees_with_stored_cpu_reference():
    # what a GPU machine without open3d runs: the CPU backend's fragments come from the npz
    for name, scene, cam, ref in _reference_views():
        _assert_agree(rasterize_fragments(scene, cam), ref, f"{name}/{cam.name}")


@pytest.mark.skipif(not HAS_OPEN3D or not REFERENCE.is_file(), reason="needs open3d and the stored reference")
def test_reference_matches_cpu_backend():
    """The stored reference is what the CPU backend computes today (else: python tools/make_gpu_reference.py)."""
    from omniseg3d_mesh.render.raycast import raycast_fragments

    for name, scene, cam, ref in _reference_views():
        now = raycast_fragments(scene, cam)
        np.testing.assert_array_equal(
            now.face_ids, ref.face_ids, err_msg=f"{name}/{cam.name}: regenerate the reference"
        )
        np.testing.assert_allclose(now.weights, ref.weights, atol=1e-3)
        np.testing.assert_allclose(now.depth[now.valid], ref.depth[ref.valid], rtol=1e-6)


class _FakeRasterizer:
    """Stands in for ``nvdiffrast.torch`` on a CPU: answers with the stored reference in nvdiffrast's layout."""

    def __init__(self, scene, cam, ref):
        self.scene, self.cam, self.ref, self.calls = scene, cam, ref, []

    def RasterizeCudaContext(self, device=None):  # noqa: N802 (nvdiffrast's name)
        return object()

    def rasterize(self, ctx, pos, tri, resolution, grad_db=True):
        import torch

        self.calls.append(resolution)
        hp, wp = resolution
        h, w = self.ref.face_ids.shape
        # clip w is the vertices' camera z; the viewport is padded to multiples of 8
        z = self.cam.world_to_camera_points(self.scene.vertices)[:, 2]
        np.testing.assert_allclose(pos[0, :, 3].numpy(), z, rtol=1e-5, atol=1e-5)
        assert hp % 8 == 0 and wp % 8 == 0 and hp >= h and wp >= w and hp - h < 8 and wp - w < 8
        np.testing.assert_array_equal(tri.numpy(), self.scene.faces)
        out = torch.zeros(1, hp, wp, 4)
        hit = self.ref.face_ids >= 0
        b = self.ref.bary.astype(np.float32)
        out[0, :h, :w, 0] = torch.from_numpy(np.where(hit, 1.0 - b[..., 0] - b[..., 1], 0.0))  # weight of vertex 0
        out[0, :h, :w, 1] = torch.from_numpy(np.where(hit, b[..., 0], 0.0))  # weight of vertex 1
        out[0, :h, :w, 2] = 0.5
        out[0, :h, :w, 3] = torch.from_numpy((self.ref.face_ids + 1).astype(np.float32))
        out[0, h:, :, :] = 7.0  # padding must be cropped away
        out[0, :, w:, :] = 7.0
        return out, None


@pytest.mark.skipif(not REFERENCE.is_file(), reason="no stored reference (python tools/make_gpu_reference.py)")
def test_rasterizer_output_is_decoded_like_the_cpu_backend(monkeypatch):
    """The whole rasterize_fragments path on a CPU, nvdiffrast replaced by a fake that returns the reference."""
    import torch

    from omniseg3d_mesh.render import nvdiffrast as backend

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(backend._Context, "ctx", None)
    monkeypatch.setattr(backend._Context, "arrays", None)
    for _name, scene, cam, ref in _reference_views():
        fake = _FakeRasterizer(scene, cam, ref)
        monkeypatch.setattr(backend, "_require_nvdiffrast", lambda fake=fake: fake)
        monkeypatch.setattr(backend._Context, "ctx", None)
        got = rasterize_fragments(scene, cam, device="cpu")
        assert fake.calls and got.is_compact
        np.testing.assert_array_equal(got.face_ids, ref.face_ids)
        np.testing.assert_array_equal(got.vertex_ids, ref.vertex_ids)
        np.testing.assert_allclose(got.weights, ref.weights, atol=1e-6)
        np.testing.assert_allclose(got.depth[got.valid], ref.depth[ref.valid], rtol=1e-3)
        assert np.all(np.isinf(got.depth[~got.valid]))


def test_old_nvdiffrast_is_named(monkeypatch):
    import types

    from omniseg3d_mesh.render import nvdiffrast as backend

    monkeypatch.setattr(backend, "require", lambda module, purpose: types.SimpleNamespace())
    with pytest.raises(ImportError, match="needs nvdiffrast >= 0.3"):
        backend._require_nvdiffrast()
