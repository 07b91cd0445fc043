import numpy as np
import pytest

from omniseg3d_mesh.scene import Camera, Scene


def _cam(dist=None):
    return Camera(
        K=[[500, 0, 320.5], [0, 480, 240.2], [0, 0, 1]],
        world_to_cam=Camera.look_at((2, -3, 1.5), (0, 0, 0)).world_to_cam,
        width=640,
        height=480,
        distortion=dist,
    )


@pytest.mark.parametrize("dist", [None, [0.1], [-0.2, 0.05], [-0.25, 0.08, 1e-3, -2e-3, 0.01]])
def test_rays_reproject_to_their_pixels(dist):
    cam = _cam(dist)
    rng = np.random.default_rng(0)
    uv = rng.uniform([0, 0], [640, 480], size=(500, 2))
    origins, dirs = cam.pixel_rays(uv)
    pts = origins + dirs * rng.uniform(0.5, 5, size=(500, 1))
    uv2, depth = cam.project(pts)
    assert np.all(depth > 0)
    np.testing.assert_allclose(uv2, uv, atol=1e-6)


def test_undistort_inverts_distort():
    cam = _cam([-0.3, 0.1, 2e-3, 1e-3, -0.02])
    xy = np.random.default_rng(1).uniform(-0.6, 0.6, size=(1000, 2))
    np.testing.assert_allclose(cam.undistort_normalized(cam.distort_normalized(xy)), xy, atol=1e-9)


def test_look_at_projects_target_to_center():
    cam = Camera.look_at((3, 1, 2), (0.2, 0.1, 0.3), width=64, height=48)
    uv, depth = cam.project(np.array([[0.2, 0.1, 0.3]]))
    np.testing.assert_allclose(uv[0], (32, 24), atol=1e-9)
    assert depth[0] > 0
    np.testing.assert_allclose(cam.center, (3, 1, 2), atol=1e-12)


def test_scaled_camera_scales_pixels():
    cam = _cam()
    half = cam.scaled(320, 240)
    pts = np.array([[0.1, 0.2, 0.3], [-0.5, 0.2, 0.0]])
    np.testing.assert_allclose(half.project(pts)[0], cam.project(pts)[0] / 2, atol=1e-9)


def test_world_transform_moves_cameras_with_the_world():
    cam = _cam()
    T = np.eye(4)
    T[:3, :3] = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]])
    T[:3, 3] = (1, 2, 3)
    pts = np.random.default_rng(2).normal(size=(10, 3))
    moved = pts @ T[:3, :3].T + T[:3, 3]
    np.testing.assert_allclose(cam.transformed(T).project(moved)[0], cam.project(pts)[0], atol=1e-9)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"K": np.eye(2)}, r"K must have shape \(3, 3\)"),
        ({"world_to_cam": np.diag([1, 1, -1, 1.0])}, "orthonormal"),
        ({"width": 0}, "camera size must be positive"),
        ({"distortion": [0.1] * 6}, "at most 5 coefficients"),
        ({"K": [[np.nan, 0, 0], [0, 1, 0], [0, 0, 1]]}, "NaN or inf"),
    ],
)
def test_camera_validation(kwargs, match):
    base = dict(K=np.diag([100.0, 100.0, 1.0]), world_to_cam=np.eye(4), width=10, height=10)
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Camera(**base)


def test_scene_validation():
    with pytest.raises(ValueError, match=r"faces must be triangles with shape \(F, 3\), got \(1, 4\)"):
        Scene(vertices=np.zeros((4, 3)), faces=np.array([[0, 1, 2, 3]]))
    s = Scene(vertices=np.zeros((3, 3)), colors=np.full((3, 3), 0.5))
    assert s.colors.dtype == np.uint8 and s.colors[0, 0] == 128
    assert s.is_point_cloud


def test_cached_pixel_rays_match_explicit_pixels():
    cam = _cam([-0.2, 0.05, 1e-3, 0, 0])
    other = Camera(
        K=cam.K,
        world_to_cam=Camera.look_at((1, 1, 1), (0, 0, 0)).world_to_cam,
        width=640,
        height=480,
        distortion=cam.distortion,
    )
    for c in (cam, other, cam):  # second use of the same intrinsics comes from the cache
        o1, d1 = c.pixel_rays()
        o2, d2 = c.pixel_rays(c.pixel_centers())
        np.testing.assert_allclose(d1, d2, atol=1e-12)
        np.testing.assert_allclose(o1, o2)
