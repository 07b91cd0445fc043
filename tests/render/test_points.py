"""Point-cloud splatting: agrees with the mesh's ray casting, respects occlusion, matches a slow reference."""

from __future__ import annotations

import numpy as np
import pytest

from omniseg3d_mesh.render.points import default_point_radius, splat_points, splat_points_reference
from omniseg3d_mesh.scene import Camera, Scene
from omniseg3d_mesh.synthetic.assembly import ring_cameras


def _mesh_and_samples(n: int = 30000, seed: int = 0):
    import trimesh

    parts = [
        trimesh.creation.box(extents=(3, 3, 0.1), transform=trimesh.transformations.translation_matrix((0, 0, -0.05))),
        trimesh.creation.box(
            extents=(0.8, 0.8, 0.8), transform=trimesh.transformations.translation_matrix((-0.6, 0, 0.4))
        ),
        trimesh.creation.icosphere(subdivisions=3, radius=0.45).apply_translation((0.6, 0.1, 0.45)),
    ]
    mesh = trimesh.util.concatenate(parts)
    pts, _ = trimesh.sample.sample_surface_even(mesh, n, seed=seed)
    cams = ring_cameras(4, width=80, height=60, name="v{}.png")
    mesh_scene = Scene(vertices=mesh.vertices, faces=mesh.faces, cameras=cams)
    cloud = Scene(vertices=pts, cameras=cams)
    return mesh_scene, cloud


def test_default_radius_from_spacing():
    g = np.stack(np.meshgrid(np.arange(30), np.arange(30), indexing="ij"), -1).reshape(-1, 2) * 0.1
    pts = np.concatenate([g, np.zeros((len(g), 1))], axis=1)
    assert default_point_radius(pts) == pytest.approx(0.15, rel=1e-6)


def test_default_radius_errors():
    with pytest.raises(ValueError, match="from 1 point"):
        default_point_radius(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="points coincide"):
        default_point_radius(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        default_point_radius(np.zeros((5, 2)))


def test_bad_radius():
    cloud = Scene(vertices=np.random.default_rng(0).normal(size=(10, 3)))
    cam = Camera.look_at((0, 0, 5), (0, 0, 0), up=(0, 1, 0), width=16, height=12)
    with pytest.raises(ValueError, match="positive number of world units"):
        splat_points(cloud, cam, radius=-1.0)


def test_matches_slow_reference():
    rng = np.random.default_rng(3)
    pts = rng.uniform(-1, 1, size=(400, 3))
    cloud = Scene(vertices=pts)
    cam = Camera.look_at((0.3, -3.0, 1.0), (0, 0, 0), width=40, height=30, fov_y_deg=60)
    for oriented in (False, True):
        fast = splat_points(cloud, cam, radius=0.08, oriented=oriented)
        slow = splat_points_reference(cloud, cam, radius=0.08, oriented=oriented)
        np.testing.assert_array_equal(fast.vertex_ids, slow.vertex_ids)
        np.testing.assert_array_equal(fast.depth, slow.depth)
        np.testing.assert_array_equal(fast.outline, slow.outline)
        # a volume of random points is no surface: its surfels mostly leave pixels out
        assert fast.valid.mean() > (0.2 if not oriented else 0.02)
        assert np.all(fast.weights[fast.valid] == 1) and np.all(fast.weights[~fast.valid] == 0)
        assert np.all(fast.face_ids == -1)


def test_surfels_match_reference_on_a_surface():
    _, cloud = _mesh_and_samples(n=3000)
    cam = cloud.cameras[1]
    radius = default_point_radius(cloud.vertices)
    fast = splat_points(cloud, cam, radius=radius)
    slow = splat_points_reference(cloud, cam, radius=radius)
    np.testing.assert_array_equal(fast.vertex_ids, slow.vertex_ids)
    np.testing.assert_array_equal(fast.depth, slow.depth)
    np.testing.assert_array_equal(fast.outline, slow.outline)
    assert fast.valid.mean() > 0.2


def test_distorted_camera_matches_reference():
    rng = np.random.default_rng(4)
    pts = rng.uniform(-1, 1, size=(300, 3))
    cam = Camera.look_at((0.0, -3.0, 0.5), (0, 0, 0), width=32, height=24, fov_y_deg=70)
    cam.distortion = np.array([-0.2, 0.05, 0.001, -0.001, 0.0])
    fast = splat_points(Scene(vertices=pts), cam, radius=0.1)
    slow = splat_points_reference(Scene(vertices=pts), cam, radius=0.1)
    np.testing.assert_array_equal(fast.vertex_ids, slow.vertex_ids)


def test_front_plane_hides_back_plane():
    g = np.stack(np.meshgrid(np.linspace(-1, 1, 60), np.linspace(-1, 1, 60), indexing="ij"), -1).reshape(-1, 2)
    front = np.concatenate([g * 0.5, np.full((len(g), 1), 1.0)], axis=1)  # z = 1, smaller
    back = np.concatenate([g, np.full((len(g), 1), 0.0)], axis=1)  # z = 0, larger
    # back points listed first: the winner must come from depth, not from order
    cloud = Scene(vertices=np.concatenate([back, front]))
    cam = Camera.look_at((0, 0, 4), (0, 0, 0), up=(0, 1, 0), width=64, height=64, fov_y_deg=40)
    frags = splat_points(cloud, cam)
    ids = frags.vertex_ids[..., 0]
    uv, _ = cam.project(front)
    lo, hi = uv.min(axis=0) + 2, uv.max(axis=0) - 2  # well inside the front plane's footprint
    inner = np.zeros(ids.shape, dtype=bool)
    inner[int(lo[1]) : int(hi[1]), int(lo[0]) : int(hi[0])] = True
    assert inner.sum() > 100
    assert np.all(ids[inner] >= len(back))  # only front points there
    # outside the front plane the back plane shows, and nothing is a hole
    outer = frags.valid & ~inner
    assert (ids[outer] < len(back)).mean() > 0.5
    np.testing.assert_allclose(frags.depth[inner], 3.0, atol=1e-5)


def test_agrees_with_mesh_raycast():
    """An evenly sampled cloud (like a scan) splats where the mesh is, with the mesh's occlusion."""
    from omniseg3d_mesh.render.raycast import cast_rays, raycast_fragments

    mesh_scene, cloud = _mesh_and_samples()
    radius = default_point_radius(cloud.vertices)
    agree, cover = [], []
    for cam in mesh_scene.cameras:
        ray = raycast_fragments(mesh_scene, cam)
        pts = splat_points(cloud, cam)
        both = ray.valid & pts.valid
        cover.append((ray.valid == pts.valid).mean())
        # the splatted point lies near the surface point the pixel's ray hits
        o, d = cam.pixel_rays()
        t, _, _ = cast_rays(mesh_scene, o, d)
        hit = (o + d * t[:, None]).reshape(cam.height, cam.width, 3)
        p = cloud.vertices[pts.vertex_ids[..., 0][both]]
        dist = np.linalg.norm(p - hit[both], axis=1)
        # within 2.5 splat radii, or 2.5 pixel footprints where pixels are larger than splats
        pixel = ray.depth[both] / cam.K[0, 0]
        agree.append((dist < 2.5 * np.maximum(radius, pixel)).mean())
    assert min(cover) > 0.97, cover
    assert min(agree) > 0.95, agree


def test_outline_is_covered_and_marked_and_the_fit_leaves_it_empty():
    """Renders cover a surface's outline; the fit's fragments (without_outline) leave it out."""
    from omniseg3d_mesh.render.raycast import raycast_fragments

    mesh_scene, cloud = _mesh_and_samples()
    cam = mesh_scene.cameras[0]
    ray, pts = raycast_fragments(mesh_scene, cam), splat_points(cloud, cam)
    fit = pts.without_outline()
    out = pts.outline
    assert out.dtype == bool and out.shape == pts.depth.shape
    assert 0.02 < out.mean() < 0.4 and np.all(pts.valid[out])
    # the outline is exactly what the fit's fragments leave out, the rest is untouched
    np.testing.assert_array_equal(fit.valid, pts.valid & ~out)
    np.testing.assert_array_equal(fit.vertex_ids[~out], pts.vertex_ids[~out])
    assert np.all(fit.weights[out] == 0) and np.all(np.isinf(fit.depth[out])) and fit.outline is None
    # covering the outline follows the mesh's silhouette; leaving it out does not
    assert (ray.valid == pts.valid).mean() > 0.97
    assert (ray.valid == fit.valid).mean() < 0.9
    # camera-facing discs and fragments without an outline hand themselves back
    assert not splat_points(cloud, cam, oriented=False).outline.any()
    assert fit.without_outline() is fit


def test_default_radii_follow_the_local_spacing():
    """A sparse wall behind a dense object: per-point radii close the wall's gaps, so
    no point behind the wall shows through it."""
    from omniseg3d_mesh.render.points import adaptive_point_radii, splat_points
    from omniseg3d_mesh.scene import Camera, Scene

    g = np.linspace(-1, 1, 21)
    wall = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)  # spacing 0.1
    wall = np.c_[wall, np.zeros(len(wall))]
    dense = np.stack(np.meshgrid(np.linspace(-0.1, 0.1, 41), np.linspace(-0.1, 0.1, 41)), -1).reshape(
        -1, 2
    )  # spacing 0.005
    dense = np.c_[dense + 0.5, np.full(len(dense), -0.1)]
    behind = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    behind = np.c_[behind + 0.05, np.full(len(behind), 0.5)]  # a second wall 0.5 behind, offset by half a spacing
    pts = np.concatenate([wall, dense, behind]).astype(np.float32)
    radii = adaptive_point_radii(pts)
    assert np.median(radii[: len(wall)]) > 5 * np.median(radii[len(wall) : len(wall) + len(dense)])
    cam = Camera.look_at((0, 0, -3), (0, 0, 0), up=(0, -1, 0), width=64, height=64, fov_y_deg=30, name="v.png")
    frags = splat_points(Scene(vertices=pts, faces=None, cameras=[cam]), cam)
    ids = frags.vertex_ids[..., 0]
    centre = ids[16:48, 16:48]
    assert (centre >= 0).all()
    assert not (centre >= len(wall) + len(dense)).any(), "points of the wall behind show through the front wall"


def _floor_and_box():
    """A floor (spacing 0.05) and a box (spacing 0.02) standing on it, 3 m from an eye-height camera."""
    g = np.linspace(-2, 2, 81)
    floor = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    floor = np.c_[floor, np.zeros(len(floor))]
    s = np.linspace(-0.2, 0.2, 21)
    a, b = (x.ravel() for x in np.meshgrid(s, s, indexing="ij"))
    h = np.linspace(0.0, 0.4, 21)
    ah, hh = (x.ravel() for x in np.meshgrid(s, h, indexing="ij"))
    box = np.concatenate(
        [
            np.c_[a, b, np.full_like(a, 0.4)],  # top
            np.c_[ah, np.full_like(ah, -0.2), hh],
            np.c_[ah, np.full_like(ah, 0.2), hh],
            np.c_[np.full_like(ah, -0.2), ah, hh],
            np.c_[np.full_like(ah, 0.2), ah, hh],
        ]
    )
    box = np.unique(np.round(box, 6), axis=0)
    cam = Camera.look_at((0.0, -3.0, 1.6), (0.0, 0.0, 0.2), width=160, height=120, fov_y_deg=40, name="v.png")
    return floor, box, cam


def test_surfels_keep_the_floor_from_hiding_what_stands_on_it():
    """Seen from eye height the floor is at a grazing angle: discs facing the camera stand up
    out of it and cover the foot of the box behind them; discs in the floor's plane do not.
    The pixels where the box's own faces are seen must show box points."""
    floor, box, cam = _floor_and_box()
    cloud = Scene(vertices=np.concatenate([floor, box]), cameras=[cam])
    # where the box really is: its front face x in [-0.2, 0.2], z in [0, 0.4] at y = -0.2
    uv, _ = cam.project(np.array([[-0.2, -0.2, 0.0], [0.2, -0.2, 0.0], [-0.2, -0.2, 0.4], [0.2, -0.2, 0.4]]))
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    region = np.zeros((cam.height, cam.width), bool)
    region[int(np.ceil(lo[1])) + 1 : int(hi[1]) - 1, int(np.ceil(lo[0])) + 1 : int(hi[0]) - 1] = True
    # its bottom fifth: the part a standing-up floor disc would cover
    bottom = region & (np.arange(cam.height)[:, None] > hi[1] - 0.2 * (hi[1] - lo[1]))
    share = {}
    for oriented in (True, False):
        ids = splat_points(cloud, cam, oriented=oriented).vertex_ids[..., 0]
        share[oriented] = (ids[bottom] >= len(floor)).mean()
    assert share[True] > 0.95, share
    assert share[False] < 0.8, share  # what the camera-facing discs did


def test_point_normals_of_a_plane_and_a_box_face():
    from omniseg3d_mesh.render.points import point_normals

    floor, box, _ = _floor_and_box()
    n = point_normals(floor)
    np.testing.assert_allclose(np.abs(n[:, 2]), 1.0, atol=1e-6)
    # inside the box's front face (away from its edges) the normal is the face's, +-y
    side = (np.abs(box[:, 1] + 0.2) < 1e-9) & (np.abs(box[:, 0]) < 0.15) & (box[:, 2] > 0.05) & (box[:, 2] < 0.35)
    assert side.sum() > 100
    np.testing.assert_allclose(np.abs(point_normals(box)[side, 1]), 1.0, atol=1e-6)


def test_second_pass_gives_the_same_fragments_when_it_intersects_the_rays_again(monkeypatch):
    """Past the budget of covered pixels kept from the first pass, the second recomputes them."""
    from omniseg3d_mesh.render import points

    _, cloud = _mesh_and_samples(n=3000)
    cam = cloud.cameras[2]
    kept = splat_points(cloud, cam)
    monkeypatch.setattr(points, "_KEEP", 50)  # only the first chunk or none is kept
    again = splat_points(cloud, cam)
    np.testing.assert_array_equal(kept.vertex_ids, again.vertex_ids)
    np.testing.assert_array_equal(kept.depth, again.depth)
    np.testing.assert_array_equal(kept.outline, again.outline)
