import math
from dataclasses import replace

import numpy as np
import pytest

from omniseg3d_mesh.config import FitConfig, FragmentConfig
from omniseg3d_mesh.fit import fit_field, prepare_views
from omniseg3d_mesh.workspace import Workspace

# object -> list of (primitive, size, centre) parts; parts of one object touch
_OBJECTS = [
    [("box", (0.6, 0.6, 0.4), (-1.0, -0.3, 0.2)), ("box", (0.3, 0.3, 0.5), (-1.0, -0.3, 0.65))],
    [
        ("cyl", (0.25, 0.6), (0.1, 0.6, 0.3)),
        ("sphere", 0.25, (0.1, 0.6, 0.85)),
        ("box", (0.3, 0.2, 0.2), (0.45, 0.6, 0.3)),
    ],
    [("box", (0.5, 0.4, 0.3), (0.9, -0.6, 0.15)), ("box", (0.5, 0.4, 0.3), (0.9, -0.6, 0.45))],
]


def make_parts_scene(num_views=10, width=96, height=72, subdivisions=2, seed=0):
    """Three objects of 2-3 parts on a floor. Returns (scene, part [V], object [V]); the floor is
    its own part and object."""
    import trimesh

    from omniseg3d_mesh.scene import Scene
    from omniseg3d_mesh.synthetic.assembly import assemble_parts, ring_cameras

    T = trimesh.transformations.translation_matrix
    floor = trimesh.creation.box(extents=(4, 4, 0.1), transform=T((0, 0, -0.05)))
    for _ in range(subdivisions + 1):
        floor = floor.subdivide()
    meshes, part_of, obj_of = [floor], [0], [0]
    for o, parts in enumerate(_OBJECTS, start=1):
        for kind, size, centre in parts:
            if kind == "box":
                m = trimesh.creation.box(extents=size, transform=T(centre))
                for _ in range(subdivisions):
                    m = m.subdivide()
            elif kind == "cyl":
                m = trimesh.creation.cylinder(
                    radius=size[0], height=size[1], sections=24, transform=T(centre)
                ).subdivide()
            else:
                m = trimesh.creation.icosphere(subdivisions=2, radius=size)
                m.apply_translation(centre)
            meshes.append(m)
            part_of.append(len(part_of))
            obj_of.append(o)
    verts, faces, piece = assemble_parts(meshes)
    cams = ring_cameras(num_views, radius=(2.6, 3.4), elevation=(1.5, 2.5), jitter=0.15, rng=seed,
                        width=width, height=height, fov_y_deg=55)  # fmt: skip
    return Scene(vertices=verts, faces=faces, cameras=cams), np.asarray(part_of)[piece], np.asarray(obj_of)[piece]


def simulate_masks(scene, part, obj, seed=0):
    """Part and object masks from rendered GT labels that disagree between views
    (:func:`~omniseg3d_mesh.synthetic.masks.label_map_masks`)."""
    from omniseg3d_mesh.render.fragments import compute_fragments
    from omniseg3d_mesh.synthetic.masks import label_map_masks

    rng = np.random.default_rng(seed)
    out = {}
    for k, cam in enumerate(scene.cameras):
        dom = compute_fragments(scene, cam, "auto").dominant_vertex()  # nvdiffrast on a GPU machine without open3d
        valid = dom >= 0
        pmap = np.where(valid, part[np.clip(dom, 0, None)], -1)
        omap = np.where(valid, obj[np.clip(dom, 0, None)], -1)
        out[cam.name] = label_map_masks(pmap, omap, k, rng)
    return out


@pytest.fixture(scope="module")
def parts_scene():
    scene, part, obj = make_parts_scene(subdivisions=3)
    return scene, part, obj, simulate_masks(scene, part, obj)


def _similarity_levels(features, part, obj, keep):
    f = features[keep]
    p, o = part[keep], obj[keep]
    sim = f @ f.T
    same_part = p[:, None] == p[None, :]
    same_obj = o[:, None] == o[None, :]
    return (
        float(sim[same_part].mean()),
        float(sim[~same_part & same_obj].mean()),
        float(sim[~same_obj].mean()),
    )


FAST = FitConfig(steps=300, num_pixels=1024, lr=0.03, checkpoint_every=0, device="cpu", num_threads=1)


@pytest.fixture(scope="module")
def fitted(parts_scene):
    scene, part, obj, masks = parts_scene
    return fit_field(scene, masks, FAST, fragment_config=FragmentConfig(backend="cpu"))


def test_fit_lifts_inconsistent_hierarchy(parts_scene, fitted):
    scene, part, obj, masks = parts_scene
    field = fitted
    f = field.features
    assert f.shape == (scene.num_vertices, FitConfig().feature_dim)
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-5)
    keep = obj > 0  # the objects (the floor is one big part)
    same_part, other_part, other_obj = _similarity_levels(f, part, obj, keep)
    print(f"same part {same_part:.3f}  other part same object {other_part:.3f}  other object {other_obj:.3f}")
    assert same_part > other_part + 0.1
    assert other_part > other_obj + 0.3
    assert field.meta["num_vertices"] == scene.num_vertices
    assert field.meta["views"] == [c.name for c in scene.cameras]


def _seen(views, num_vertices):
    seen = np.zeros(num_vertices, bool)
    for v in views:
        ids = v.vertex_ids[v.weights > 0]
        seen[ids] = True
    return seen


def test_unseen_vertices_get_diffused_features(parts_scene, fitted):
    scene, part, obj, masks = parts_scene
    views = prepare_views(scene, masks, FAST)
    assert all(v.vertex_ids.dtype == np.int32 and v.weights.dtype == np.float16 for v in views)
    seen = _seen(views, scene.num_vertices)
    field = fitted
    assert field.meta["unseen_vertices"] == int((~seen).sum()) > 0
    f = field.features
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-5)
    # the hidden underside of the floor takes the floor's features, not another object's
    floor_seen = f[seen & (part == 0)].mean(0)
    floor_seen /= np.linalg.norm(floor_seen)
    hidden_floor = ~seen & (part == 0)
    assert hidden_floor.sum() > 10
    to_floor = float((f[hidden_floor] @ floor_seen).mean())
    for o in (1, 2, 3):
        other = f[seen & (obj == o)].mean(0)
        other /= np.linalg.norm(other)
        assert to_floor > float((f[hidden_floor] @ other).mean()) + 0.3


SHORT = FitConfig(steps=40, num_pixels=256, lr=0.03, checkpoint_every=10, device="cpu", num_threads=1)


def test_fixed_seed_gives_same_field_and_other_seed_differs(parts_scene):
    scene, part, obj, masks = parts_scene
    a = fit_field(scene, masks, SHORT)
    b = fit_field(scene, masks, SHORT)
    np.testing.assert_array_equal(a.features, b.features)
    c = fit_field(scene, masks, replace(SHORT, seed=1, steps=3))
    d = fit_field(scene, masks, replace(SHORT, steps=3))
    assert not np.array_equal(c.features, d.features)


@pytest.mark.parametrize("coarse", [False, True], ids=["per-vertex rows", "coarse + fine rows"])
def test_interrupted_fit_resumes_to_the_same_result(parts_scene, tmp_path, coarse):
    """Also with a coarse level, where block Adam keeps per-row sample counts and a shared
    second moment in its state: the resumed fit is bit-identical."""
    scene, part, obj, masks = parts_scene
    cfg = replace(SHORT, coarse_nodes=200, coarse_vertices=1000) if coarse else SHORT
    full = fit_field(scene, masks, cfg, workspace=Workspace(tmp_path / "full"))
    ws = Workspace(tmp_path / "cut")

    class Stop(Exception):
        pass

    def stop_at_30(stage, done, total, **info):
        if stage == "fit" and done == 30:
            raise Stop

    with pytest.raises(Stop):
        fit_field(scene, masks, cfg, workspace=ws, progress=stop_at_30)
    assert (ws.checkpoints_dir / "fit.pt").is_file()
    assert any(ws.hierarchy_dir.glob("*.npz")) and any(ws.fragments_dir.glob("*.npz"))
    steps_run = []
    resumed = fit_field(
        scene, masks, cfg, workspace=ws, progress=lambda s, d, t, **i: s == "fit" and steps_run.append(d)
    )
    assert steps_run[0] == 40  # resumed from the checkpoint at step 30 (written before the interrupt)
    np.testing.assert_array_equal(full.features, resumed.features)
    # changed settings do not reuse the checkpoint: a 1-step fit with another lambda starts over
    steps_run.clear()
    fit_field(
        scene,
        masks,
        replace(cfg, hier_lambda=0.2),
        workspace=ws,
        progress=lambda s, d, t, **i: s == "fit" and steps_run.append(d),
    )
    assert steps_run[0] == 10


def test_errors(parts_scene):
    scene, part, obj, masks = parts_scene
    name = scene.cameras[0].name
    with pytest.raises(ValueError, match="with no camera: nope.png"):
        fit_field(scene, {**masks, "nope.png": masks[name]}, SHORT)
    partial = {k: v for k, v in masks.items() if k != name}
    with pytest.raises(ValueError, match="1 of 10 views have no masks: view_000.png"):
        fit_field(scene, partial, SHORT)
    field = fit_field(scene, partial, replace(SHORT, allow_missing_masks=True, steps=5))
    assert name not in field.meta["views"]
    with pytest.raises(ValueError, match=r"must have shape \(M, 72, 96\)"):
        fit_field(scene, {**masks, name: masks[name][:, :10]}, SHORT)
    with pytest.raises(ValueError, match="no view has masks"):
        fit_field(scene, {}, FitConfig(allow_missing_masks=True))
    with pytest.raises(ValueError, match="no view has a pixel"):
        fit_field(scene, {k: np.zeros_like(v) for k, v in masks.items()}, SHORT)
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        fit_field(scene, masks, FitConfig(device="gpu0"))


def test_point_cloud_fit(parts_scene):
    """The same scene without faces: splatted fragments (K = 1), kNN-graph diffusion."""
    from omniseg3d_mesh.scene import Scene

    scene, part, obj, masks = parts_scene
    cloud = Scene(vertices=scene.vertices, faces=None, cameras=scene.cameras)
    field = fit_field(cloud, masks, replace(FAST, steps=150))
    f = field.features
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-5)
    same_part, other_part, other_obj = _similarity_levels(f, part, obj, obj > 0)
    assert same_part > other_obj + 0.3 and other_part > other_obj + 0.2


def test_smoothness_is_on_by_default_for_meshes_and_clouds(parts_scene):
    """smooth_weight 1 by default; None (older config files) means the default; 0 is off.
    On a mesh and on a cloud the default term pulls graph neighbours together."""
    from omniseg3d_mesh.fit import resolved_smooth_weight, smoothness_edges
    from omniseg3d_mesh.scene import Scene

    scene, part, obj, masks = parts_scene
    cloud = Scene(vertices=scene.vertices, faces=None, cameras=scene.cameras)
    assert FitConfig().smooth_weight == 1.0
    assert resolved_smooth_weight(FitConfig(smooth_weight=None)) == 1.0
    assert resolved_smooth_weight(FitConfig(smooth_weight=0.0)) == 0.0
    cfg = replace(SHORT, checkpoint_every=0, steps=20)
    for sc in (scene, cloud):
        edges = smoothness_edges(sc)

        def edge_gap(f, edges=edges):
            return float(np.square(f[edges[:, 0]] - f[edges[:, 1]]).sum(1).mean())

        field = fit_field(sc, masks, cfg)
        assert field.meta["smooth_weight"] == 1.0
        np.testing.assert_array_equal(field.features, fit_field(sc, masks, replace(cfg, smooth_weight=None)).features)
        assert edge_gap(field.features) < edge_gap(fit_field(sc, masks, replace(cfg, smooth_weight=0.0)).features)


def test_smoothness_draws_edges_in_proportion_to_large_surfaces(parts_scene):
    """A step draws num_pixels edges up to ~100k vertices, beyond that about
    smooth_edges_per_vertex edges per vertex over the fit, at most 4 x num_pixels; 0 turns
    the scaling off. More edges a step average the field more."""
    from omniseg3d_mesh.fit import smoothness_edges, smoothness_edges_per_step

    cfg = FitConfig()
    assert smoothness_edges_per_step(300_000, 90_000, cfg) == cfg.num_pixels
    assert smoothness_edges_per_step(300_000, 102_400, cfg) == cfg.num_pixels  # 80 x 102,400 / 1000
    assert smoothness_edges_per_step(1_000_000, 300_000, cfg) == 24_000
    assert smoothness_edges_per_step(1_500_000, 500_000, cfg) == 4 * cfg.num_pixels  # the cap, not 40,000
    assert smoothness_edges_per_step(1_500_000, 500_000, replace(cfg, steps=2000)) == 20_000
    assert smoothness_edges_per_step(1_500_000, 500_000, replace(cfg, smooth_edges_per_vertex=0)) == cfg.num_pixels
    assert smoothness_edges_per_step(1000, 500_000, cfg) == 1000  # never more than there are

    scene, part, obj, masks = parts_scene
    edges = smoothness_edges(scene)
    n = len(edges) // 8
    base = replace(SHORT, checkpoint_every=0, steps=20, num_pixels=n, smooth_edges_per_vertex=0)
    many = replace(base, smooth_edges_per_vertex=1e6)  # capped at 4 x num_pixels edges a step
    few_field, many_field = fit_field(scene, masks, base), fit_field(scene, masks, many)
    assert few_field.meta["smooth_edges_per_step"] == n
    assert many_field.meta["smooth_edges_per_step"] == 4 * n < len(edges)

    def edge_gap(f):
        return float(np.square(f[edges[:, 0]] - f[edges[:, 1]]).sum(1).mean())

    assert edge_gap(many_field.features) < 0.8 * edge_gap(few_field.features)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_cuda():
    from omniseg3d_mesh.fit import resolve_device

    with pytest.raises(ValueError, match="requested but CUDA is not available"):
        resolve_device("cuda")
    assert str(resolve_device("auto")) == "cpu"


def test_hierarchy_cache_and_unreadable_caches(parts_scene, tmp_path, monkeypatch, caplog):
    import omniseg3d_mesh.fit as fit_module
    from omniseg3d_mesh.fit import load_or_build_hierarchy

    scene, part, obj, masks = parts_scene
    ws = Workspace(tmp_path)
    name = scene.cameras[1].name
    first = load_or_build_hierarchy(name, masks[name], FAST, ws)
    assert ws.hierarchy_path(name).is_file()

    def no_build(*a, **k):
        raise AssertionError("rebuilt although the masks did not change")

    monkeypatch.setattr(fit_module, "build_hierarchy", no_build)
    again = load_or_build_hierarchy(name, masks[name], FAST, ws)
    np.testing.assert_array_equal(first.patch_map, again.patch_map)
    monkeypatch.undo()
    with np.load(ws.hierarchy_path(name)) as data:
        key_before = str(data["key"])
    load_or_build_hierarchy(name, masks[name][:-1], FAST, ws)  # one mask fewer -> rebuilt, new key
    with np.load(ws.hierarchy_path(name)) as data:
        assert str(data["key"]) != key_before
    # corrupt caches are rebuilt / ignored with a warning, never fatal
    ws.hierarchy_path(name).write_bytes(b"not an npz")
    load_or_build_hierarchy(name, masks[name], FAST, ws)
    assert "rebuilding unreadable hierarchy cache" in caplog.text
    ckpt = ws.checkpoints_dir / "fit.pt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    ckpt.write_bytes(b"garbage")
    fit_field(scene, masks, replace(SHORT, steps=2, checkpoint_every=1), workspace=ws)
    assert "ignoring unreadable fit checkpoint" in caplog.text


def test_views_without_usable_pixels_are_skipped(parts_scene, caplog):
    scene, part, obj, masks = parts_scene
    name = scene.cameras[2].name
    some_empty = {**masks, name: np.zeros_like(masks[name])}
    field = fit_field(scene, some_empty, replace(SHORT, steps=2, checkpoint_every=0))
    assert name not in field.meta["views"] and len(field.meta["views"]) == 9
    assert f"view {name} has no pixel with both a surface hit and a mask; skipped" in caplog.text
    assert "views have no masks and are skipped" not in caplog.text


def test_paper_loss_and_two_level_features_also_lift_the_hierarchy(parts_scene):
    """The paper's contrastive loss alone (the documented baseline) and the coarse + fine
    parametrisation both give the part / object ordering on the same scene."""
    scene, part, obj, masks = parts_scene
    for extra in (
        {"loss": "contrastive", "views_per_step": 1, "mask_balanced": 0.0, "spread_weight": 0.0},
        {"coarse_nodes": 800},
    ):
        f = fit_field(scene, masks, replace(FAST, **extra), fragment_config=FragmentConfig(backend="cpu")).features
        same_part, other_part, other_obj = _similarity_levels(f, part, obj, obj > 0)
        assert same_part > other_part + 0.05, extra
        assert other_part > other_obj + 0.2, extra


def _two_patch_view(first: int, n: int = 1000, band=None):
    """A point-cloud ViewData of n pixels: patch 0 holds the first ``first``, patch 1 the rest
    (one mask each, equal mask-balanced mass)."""
    from omniseg3d_mesh.fit import ViewData

    return ViewData(
        name="v",
        explicit_ids=np.zeros((n, 1), np.int32),
        explicit_weights=np.ones((n, 1), np.float16),
        patch_ids=np.r_[np.zeros(first, np.int32), np.ones(n - first, np.int32)],
        votes=np.eye(2, dtype=np.int32),
        patch_start=np.array([0, first, n]),
        patch_mass=np.array([1.0, 1.0]),
        boundary_idx=band,
    )


def test_mask_balanced_sampling_draws_small_masks_as_often_as_big_ones():
    n = 1000
    view = _two_patch_view(990, n)  # patch 0: 990 pixels (one mask), patch 1: 10 pixels (another mask)
    rng = np.random.default_rng(0)
    balanced = view.sample(rng, 4000, 1.0)
    assert 0.45 < np.mean(view.patch_ids[balanced] == 1) < 0.55
    uniform = view.sample(rng, 4000, 0.0)
    assert np.mean(view.patch_ids[uniform] == 1) < 0.03
    assert balanced.min() >= 0 and balanced.max() < n


def test_boundary_sampling_draws_its_share_from_the_band_and_nothing_without_one():
    n = 1000
    band = np.arange(400, 420, dtype=np.int32)  # 2 % of the view's pixels
    view = _two_patch_view(500, n, band)
    rng = np.random.default_rng(0)
    idx = view.sample(rng, 4000, 0.5, boundary=0.25)
    assert len(idx) == 4000 and idx.min() >= 0 and idx.max() < n
    in_band = np.isin(idx, band)
    assert in_band[-1000:].all()  # the band's quarter
    assert 0.005 < in_band[:-1000].mean() < 0.04  # the rest draws the band only by chance (2 %)
    view.boundary_idx = np.zeros(0, np.int32)  # a view with one mask has no band: plain sampling
    assert not np.isin(view.sample(rng, 4000, 0.5, boundary=0.25), band).all()
    assert len(view.sample(rng, 4000, 0.5, boundary=0.25)) == 4000


def test_a_diverging_fit_stops_with_a_clear_error(parts_scene):
    from omniseg3d_mesh.fit import FitDivergedError

    scene, part, obj, masks = parts_scene
    with pytest.raises(FitDivergedError, match="diverged at step .*Lower the learning rate"):
        fit_field(scene, masks, replace(SHORT, lr=1e30, steps=20, checkpoint_every=0))


def test_training_pixels_are_compact_and_streamed_masks_give_the_same_views(parts_scene, tmp_path):
    from omniseg3d_mesh.fit import load_or_build_hierarchy
    from omniseg3d_mesh.io.masks import load_masks, mask_key, masks_hash, save_masks_npz
    from omniseg3d_mesh.render.fragments import compute_fragments

    scene, _, _, masks = parts_scene
    for name, m in masks.items():
        save_masks_npz(tmp_path / "masks" / f"{mask_key(name)}.npz", m)
    lazy = load_masks(tmp_path / "masks", scene.cameras, lazy=True)
    in_memory = prepare_views(scene, masks, FAST)
    streamed = prepare_views(scene, lazy, FAST, workspace=Workspace(tmp_path / "ws"))
    assert [v.name for v in in_memory] == [v.name for v in streamed]
    for a, b in zip(in_memory, streamed):
        assert a.masks_hash == b.masks_hash == masks_hash(masks[a.name])
        for field in ("patch_ids", "votes", "face_ids", "bary"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    # compact: a triangle id and two float16 weights per pixel, expanded on demand to what the fragments hold
    view = in_memory[0]
    cam = scene.camera(view.name)
    frags = compute_fragments(scene, cam, "cpu")
    hier = load_or_build_hierarchy(cam.name, masks[cam.name], FAST, None)
    keep = frags.valid & (hier.patch_map >= 0)
    order = np.argsort(hier.patch_map[keep], kind="stable")  # training pixels are grouped by patch
    np.testing.assert_array_equal(view.vertex_ids, frags.vertex_ids[keep][order])
    np.testing.assert_allclose(view.weights.astype(np.float32), frags.weights[keep][order], atol=1e-3)
    np.testing.assert_array_equal(view.patch_ids, hier.patch_map[keep][order])
    np.testing.assert_array_equal(np.diff(view.patch_start), np.bincount(view.patch_ids, minlength=hier.num_patches))
    assert view.vertex_ids.dtype == np.int32 and view.weights.dtype == np.float16
    band = hier.boundary_band(FAST.boundary_radius)[keep][order]
    assert band.any() and not band.all()
    np.testing.assert_array_equal(view.boundary_idx, np.flatnonzero(band))
    extra = view.votes.nbytes + view.patch_start.nbytes + view.patch_mass.nbytes + view.boundary_idx.nbytes
    assert view.nbytes == view.num_pixels * (4 + 4 + 4) + extra


def test_point_cloud_views_keep_explicit_ids(parts_scene):
    from omniseg3d_mesh.scene import Scene

    scene, _, _, masks = parts_scene
    points = Scene(vertices=scene.vertices, cameras=scene.cameras)
    views = prepare_views(points, masks, FAST, fragment_config=FragmentConfig(point_radius=0.05))
    v = views[0]
    assert not v.is_compact and v.vertex_ids.shape == (v.num_pixels, 1)
    assert np.all(v.weights == 1) and v.vertex_ids.min() >= 0


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs CUDA")
def test_fit_on_cuda_lifts_the_hierarchy(parts_scene):
    scene, part, obj, masks = parts_scene
    field = fit_field(scene, masks, replace(FAST, device="cuda"), fragment_config=FragmentConfig(backend="auto"))
    assert field.meta["device"].startswith("cuda")
    same_part, other_part, other_obj = _similarity_levels(field.features, part, obj, obj > 0)
    assert same_part > other_part + 0.1
    assert other_part > other_obj + 0.3


def test_pixel_vertices_numpy_and_torch_agree():
    import torch

    from omniseg3d_mesh.fit import pixel_vertices

    rng = np.random.default_rng(0)
    faces = rng.integers(0, 50, size=(30, 3)).astype(np.int32)
    face_ids = rng.integers(0, 30, size=200).astype(np.int32)
    bary = (rng.random((200, 2)) * 0.5).astype(np.float16)
    ids, w = pixel_vertices(faces, face_ids, bary)
    np.testing.assert_array_equal(ids, faces[face_ids])
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(w[:, 1:], bary.astype(np.float32))
    tids, tw = pixel_vertices(torch.from_numpy(faces), torch.from_numpy(face_ids).long(), torch.from_numpy(bary))
    np.testing.assert_array_equal(tids.numpy(), ids)
    np.testing.assert_array_equal(tw.numpy(), w)


def test_prepare_views_does_not_depend_on_the_worker_threads(parts_scene, monkeypatch):
    import omniseg3d_mesh.fit as fit_module

    scene, _, _, masks = parts_scene
    results = []
    for workers in (1, 3):
        monkeypatch.setattr(fit_module, "_prepare_workers", lambda w=workers: w)
        results.append(prepare_views(scene, masks, FAST))
    for a, b in zip(*results):
        assert a.name == b.name and a.masks_hash == b.masks_hash
        for field in ("patch_ids", "votes", "face_ids", "bary"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_point_cloud_fit_keeps_a_box_apart_from_the_floor_it_stands_on():
    """Eye-height views of a box on a floor, as a point cloud, with exact masks: the floor's
    splats must not hand its masks to the box's foot (surfels, render/points.py), so a click
    on the box selects the box, foot included."""
    import trimesh

    from omniseg3d_mesh.evaluation import best_threshold_iou
    from omniseg3d_mesh.render.raycast import raycast_fragments
    from omniseg3d_mesh.scene import Camera, Scene

    floor = trimesh.creation.box(
        extents=(4, 4, 0.02), transform=trimesh.transformations.translation_matrix((0, 0, -0.01))
    )
    box = trimesh.creation.box(
        extents=(0.5, 0.5, 0.5), transform=trimesh.transformations.translation_matrix((0, 0, 0.25))
    )
    mesh = trimesh.util.concatenate([floor, box])
    face_obj = np.r_[np.zeros(len(floor.faces), int), np.ones(len(box.faces), int)]
    cams = [
        Camera.look_at(
            (3.0 * np.cos(a), 3.0 * np.sin(a), 1.6), (0, 0, 0.2), width=96, height=72, fov_y_deg=45, name=f"v{k}.png"
        )
        for k, a in enumerate(np.linspace(0, 2 * np.pi, 6, endpoint=False))
    ]
    mesh_scene = Scene(vertices=mesh.vertices, faces=mesh.faces, cameras=cams)
    masks = {}
    for cam in cams:
        fid = raycast_fragments(mesh_scene, cam).face_ids
        lab = np.where(fid >= 0, face_obj[np.maximum(fid, 0)], -1)
        masks[cam.name] = np.stack([lab == 0, lab == 1])
    pts, face_idx = trimesh.sample.sample_surface_even(mesh, 6000, seed=0)
    point_obj = face_obj[face_idx]
    cloud = Scene(vertices=pts, faces=None, cameras=cams)
    # the splats alone (no smoothness term, no boundary band): camera-facing discs gave 0.67 here,
    # and 0.61 on the foot below
    alone = {**FAST.__dict__, "steps": 200, "boundary_share": 0.0}
    field = fit_field(cloud, masks, FitConfig(**{**alone, "smooth_weight": 0.0}))
    on_box = np.flatnonzero(point_obj == 1)
    click = on_box[np.argmin(np.linalg.norm(pts[on_box] - (0.0, -0.25, 0.25), axis=1))]  # the box's front face
    iou, _ = best_threshold_iou(field.features @ field.features[click], point_obj == 1)
    assert iou > 0.78, iou
    foot = (point_obj == 1) & (pts[:, 2] < 0.05)  # the box's lowest 5 cm, where the floor's discs stood up
    assert (field.features[foot] @ field.features[click]).mean() > 0.67
    # the smoothness term (the default on point clouds) couples each point with its neighbours: 0.86 -> 0.93 here
    smooth = fit_field(cloud, masks, FitConfig(**alone)).features
    smooth_iou = best_threshold_iou(smooth @ smooth[click], point_obj == 1)[0]
    assert smooth_iou > iou + 0.03, (smooth_iou, iou)
    # the defaults add the boundary band, which samples this small box's whole outline: at its
    # contact with the floor that costs a little here (0.93 -> 0.90; docs/results.md, "Mask-boundary bands")
    auto = fit_field(cloud, masks, FitConfig(**{**FAST.__dict__, "steps": 200})).features
    assert best_threshold_iou(auto @ auto[click], point_obj == 1)[0] > max(iou, smooth_iou - 0.06)


def test_lazy_adam_keeps_rarely_sampled_vertices_apart():
    """Few samples per vertex (a large mesh in miniature: ~47 vertices per coarse node, as 2M
    vertices had at 30000 nodes): dense Adam keeps moving a fine row (zero at start) on its
    momentum long after its few samples, which scatters the vertices of one part; lazy Adam moves
    only the rows a step sampled, and same-part vertices stay together. Lazy Adam still moves a
    row sampled once by a sign-sized step; block Adam's rarely sampled rows lean on their block's
    second moment and move by their evidence: same-part vertices agree more again."""
    scene, part, obj = make_parts_scene(subdivisions=4)
    masks = simulate_masks(scene, part, obj)
    cfg = FitConfig(
        steps=200,
        num_pixels=512,
        lr=0.03,
        coarse_nodes=300,
        coarse_vertices=1000,  # keep the 300 nodes
        smooth_weight=0.0,  # the optimisers alone: the smoothness term would also gather a part's vertices
        checkpoint_every=0,
        device="cpu",
        num_threads=1,
    )
    gaps = {}
    for opt in ("adam", "lazy_adam", "block_adam"):
        f = fit_field(scene, masks, replace(cfg, optimizer=opt), fragment_config=FragmentConfig(backend="cpu")).features
        views = prepare_views(scene, masks, cfg)
        keep = (obj > 0) & _seen(views, scene.num_vertices)
        rng = np.random.default_rng(0)
        keep = np.flatnonzero(keep)
        keep = np.isin(np.arange(len(obj)), rng.choice(keep, min(len(keep), 3000), replace=False))
        same_part, other_part, _ = _similarity_levels(f, part, obj, keep)
        gaps[opt] = (same_part, same_part - other_part)
    assert gaps["lazy_adam"][0] > gaps["adam"][0] + 0.05  # same-part vertices agree more (0.70 vs 0.62)
    assert gaps["lazy_adam"][1] > gaps["adam"][1] + 0.03  # and the part gap is wider (0.34 vs 0.29)
    assert gaps["block_adam"][0] > gaps["lazy_adam"][0] + 0.05
    assert gaps["block_adam"][1] > gaps["lazy_adam"][1]


def test_the_coarse_level_follows_the_vertex_count():
    """Above coarse_nodes x coarse_vertices vertices the coarse grid has about vertices /
    coarse_vertices voxels; below, about coarse_nodes; a mesh with at most coarse_nodes
    vertices has no coarse level."""
    scene, part, obj = make_parts_scene(subdivisions=4)
    masks = simulate_masks(scene, part, obj)
    v = scene.num_vertices
    cfg = replace(FAST, steps=2)
    grown = fit_field(scene, masks, replace(cfg, coarse_nodes=100, coarse_vertices=7)).meta["coarse_nodes"]
    floor = fit_field(scene, masks, replace(cfg, coarse_nodes=100, coarse_vertices=1000)).meta["coarse_nodes"]
    assert 0.5 * v / 7 < grown < 2 * v / 7  # voxel_clusters hits its target within a factor
    assert 50 < floor < 200 and grown > 5 * floor
    assert fit_field(scene, masks, replace(cfg, coarse_nodes=v)).meta["coarse_nodes"] == 0


@pytest.mark.parametrize("two_level", [False, True])
def test_a_steps_gathered_rows_get_the_gradient_autograd_gives_the_full_tensor(two_level):
    """The step reads its rows once (repeats, coarse + fine) into a leaf tensor; the row
    gradient it hands the optimizer equals the full parameter's autograd gradient, and
    the sparse form holds exactly the rows read."""
    import torch

    from omniseg3d_mesh.fit import _gather_step_rows, _row_gradient

    gen = torch.Generator().manual_seed(0)
    num_v, coarse = 50, 7
    node_of = torch.randint(0, coarse, (num_v,), generator=gen) if two_level else None
    offset = coarse if two_level else 0
    features = torch.nn.Parameter(torch.randn(offset + num_v, 4, generator=gen))
    ids = torch.tensor([3, 3, 9, 41, 3, 17, 9, 0])  # repeats on purpose
    weights = torch.rand(len(ids), generator=gen)

    def loss_of(f):  # any loss of the read features
        return (weights[:, None] * f).pow(2).sum() + f[0] @ f[1]

    rows, sub, f = _gather_step_rows(features, ids, node_of, offset)
    loss_of(f).backward()
    grad = _row_gradient(features, rows, sub.grad, sparse=True)

    full = features.index_select(0, ids + offset)
    if node_of is not None:
        full = full + features.index_select(0, node_of[ids])
    loss_of(full).backward()
    assert torch.allclose(grad.to_dense(), features.grad, atol=1e-6)
    assert torch.allclose(_row_gradient(features, rows, sub.grad, sparse=False), features.grad, atol=1e-6)
    expected = set((ids + offset).tolist()) | (set(node_of[ids].tolist()) if node_of is not None else set())
    assert set(grad.coalesce().indices()[0].tolist()) == expected


def test_large_meshes_fit_whole_multiples_of_steps_so_coarse_rows_keep_their_samples(parts_scene):
    """steps x num_pixels x 3 vertex samples spread over the coarse rows: when the coarse level
    grows past coarse_nodes and leaves a row fewer than min_coarse_samples (or than a row gets
    at the floor, if that is less), the fit runs the smallest whole multiple of steps that
    does not; without a coarse level, at its floor, or with 0, exactly steps. The fit's meta
    and progress say how many it ran."""
    from omniseg3d_mesh.fit import coarse_rows_target, scheduled_steps, smoothness_edges_per_step

    cfg = FitConfig()  # 1000 steps x 8192 pixels x 3 = 24.6M samples; floor 30k rows
    assert coarse_rows_target(cfg, 20_000) == 0 and coarse_rows_target(cfg, 90_000) == 30_000
    assert coarse_rows_target(cfg, 2_100_000) == 300_000
    assert scheduled_steps(cfg, 20_000) == 1000  # no coarse level
    assert scheduled_steps(cfg, 90_000) == 1000  # the floor: 819 samples a row
    assert scheduled_steps(cfg, 840_000) == 1000  # 120k rows: 205
    assert scheduled_steps(cfg, 1_000_000) == 2000  # 143k rows: 172 -> 344
    assert scheduled_steps(cfg, 2_100_000) == 3000  # 300k rows: 82 -> 246
    assert scheduled_steps(cfg, 4_200_000) == 5000
    assert scheduled_steps(replace(cfg, min_coarse_samples=0), 4_200_000) == 1000
    assert scheduled_steps(replace(cfg, steps=0), 4_200_000) == 0
    quick = replace(cfg, steps=100, num_pixels=1024)  # 10 samples a row at the floor: kept, not 200
    assert scheduled_steps(quick, 200_000) == 100
    assert scheduled_steps(quick, 2_100_000) == 1000
    # the smoothness term draws its edges over the steps actually run
    assert smoothness_edges_per_step(10_000_000, 2_000_000, cfg, 3000) == 4 * cfg.num_pixels
    assert smoothness_edges_per_step(10_000_000, 300_000, cfg, 2000) == 12_000  # 80 x 300k / 2000

    scene, part, obj, masks = parts_scene
    base = replace(FAST, steps=6, num_pixels=64, coarse_nodes=50, coarse_vertices=4)
    rows = coarse_rows_target(base, scene.num_vertices)
    budget = 6 * 64 * 3
    expected = 6 * math.ceil(min(40, budget / 50) * rows / budget)
    seen = []
    field = fit_field(
        scene, masks, replace(base, min_coarse_samples=40), progress=lambda s, d, t, **k: seen.append((s, t))
    )
    assert field.meta["coarse_nodes"] > 0 and rows > 50
    assert expected > 6 and field.meta["steps"] == field.meta["steps_done"] == expected
    assert ("fit", expected) in seen and field.meta["config"]["steps"] == 6
    assert fit_field(scene, masks, replace(base, min_coarse_samples=0)).meta["steps"] == 6
