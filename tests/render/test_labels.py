"""Labels back onto the images: agreement with ground truth, COCO output, streaming, atomic writes."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from omniseg3d_mesh.colors import part_palette, pca_colors
from omniseg3d_mesh.pipeline import _saved_part_labels, render_workspace
from omniseg3d_mesh.render import labels as L
from omniseg3d_mesh.render.fragments import Fragments
from omniseg3d_mesh.render.labels import (
    label_map_for_camera,
    load_label_png,
    overlay,
    render_label_map,
    render_pca,
    render_scores,
    render_views,
    save_label_png,
)
from omniseg3d_mesh.scene import Camera, Scene


# --------------------------------------------------------------------------- a scene with known parts
def make_parts_scene(num_views: int = 5, width: int = 96, height: int = 72, image_dir: Path | None = None):
    """Two objects of two parts each on a floor: 0 floor, 1 box + 2 cylinder on it, 3 sphere + 4 stand.

    Returns (scene, vertex_labels [V]). With ``image_dir`` every camera gets an image file
    (the last one at twice the camera's resolution).
    """
    import trimesh

    from omniseg3d_mesh.synthetic.assembly import assemble_parts, ring_cameras

    T = trimesh.transformations.translation_matrix
    parts = [
        trimesh.creation.box(extents=(3.5, 3.5, 0.1), transform=T((0, 0, -0.05))).subdivide().subdivide(),
        trimesh.creation.box(extents=(0.8, 0.8, 0.6), transform=T((-0.7, 0.1, 0.3))).subdivide().subdivide(),
        trimesh.creation.cylinder(radius=0.25, height=0.6, sections=24, transform=T((-0.7, 0.1, 0.9))),
        trimesh.creation.icosphere(subdivisions=3, radius=0.4).apply_translation((0.7, -0.1, 0.9)),
        trimesh.creation.cylinder(radius=0.12, height=0.5, sections=16, transform=T((0.7, -0.1, 0.25))),
    ]
    verts, faces, labels = assemble_parts(parts)
    cams = ring_cameras(num_views, radius=3.2, elevation=2.2, target=(0, 0, 0.4), jitter=0.2, rng=1, width=width, height=height,
                        fov_y_deg=55, name="frame_{:03d}.jpg", image_dir=image_dir)  # fmt: skip
    if image_dir is not None:
        from PIL import Image

        rng = np.random.default_rng(2)
        Path(image_dir).mkdir(parents=True, exist_ok=True)
        for k, cam in enumerate(cams):
            scale = 2 if k == num_views - 1 else 1
            Image.fromarray(rng.integers(0, 255, size=(height * scale, width * scale, 3), dtype=np.uint8)).save(
                cam.image_path
            )
    return Scene(vertices=verts, faces=faces, cameras=cams), labels


def gt_part_map(scene: Scene, camera: Camera, face_labels: np.ndarray) -> np.ndarray:
    """Ground truth by an independent path: one ray per pixel, the hit face's own label."""
    from omniseg3d_mesh.render.raycast import cast_rays

    o, d = camera.pixel_rays()
    _, face, _ = cast_rays(scene, o, d)
    return np.where(face >= 0, face_labels[np.clip(face, 0, None)], -1).reshape(camera.height, camera.width)


def match_ids(pred: list[np.ndarray], gt: list[np.ndarray]) -> dict[int, int]:
    """Predicted id -> GT id, one assignment for all views together (Hungarian on the overlap)."""
    from scipy.optimize import linear_sum_assignment

    p = np.concatenate([x.ravel() for x in pred])
    g = np.concatenate([x.ravel() for x in gt])
    ok = (p >= 0) & (g >= 0)
    pu, pi = np.unique(p[ok], return_inverse=True)
    gu, gi = np.unique(g[ok], return_inverse=True)
    conf = np.zeros((len(pu), len(gu)))
    np.add.at(conf, (pi, gi), 1)
    r, c = linear_sum_assignment(-conf)
    return {int(pu[a]): int(gu[b]) for a, b in zip(r, c)}


@pytest.fixture(scope="module")
def parts_scene():
    return make_parts_scene()


# --------------------------------------------------------------------------- colours
def test_palette_is_fixed_and_distinct():
    pal = part_palette(40)
    assert pal.dtype == np.uint8 and pal.shape == (40, 3)
    np.testing.assert_array_equal(part_palette(7), pal[:7])  # a part's colour does not depend on n
    assert len({tuple(c) for c in pal}) == 40
    d = np.abs(pal[1:].astype(int) - pal[:-1].astype(int)).sum(axis=1)
    assert d.min() > 60  # neighbouring ids look different
    with pytest.raises(ValueError, match="palette size must be >= 0"):
        part_palette(-1)


def test_pca_colors_deterministic():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(500, 16)).astype(np.float32)
    a, b = pca_colors(f), pca_colors(f.copy())
    np.testing.assert_array_equal(a, b)
    assert a.shape == (500, 3) and a.dtype == np.uint8 and a.std() > 20
    with pytest.raises(ValueError, match=r"features must have shape \(V, D\)"):
        pca_colors(np.zeros(5))


# --------------------------------------------------------------------------- per-pixel rules
def _frags(ids, weights):
    ids = np.asarray(ids, dtype=np.int32)
    w = np.asarray(weights, dtype=np.float32)
    return Fragments(
        vertex_ids=ids, weights=w, depth=np.ones(ids.shape[:2], np.float32), face_ids=np.zeros(ids.shape[:2], np.int32)
    )


def test_face_majority_rule():
    labels = np.array([5, 5, 7, 8, 9])
    ids = [[[0, 1, 2], [2, 0, 1], [2, 3, 4], [-1, -1, -1]]]
    w = [[[0.1, 0.1, 0.8], [0.8, 0.1, 0.1], [0.2, 0.5, 0.3], [0, 0, 0]]]
    out = render_label_map(_frags(ids, w), labels)
    # two of three vertices agree -> that label even when the odd one has the largest weight;
    # all three differ -> the first vertex's (export's rule); background -> -1
    np.testing.assert_array_equal(out, [[5, 5, 7, -1]])
    assert out.dtype == np.int32
    # point clouds (K = 1) take the point's label; unlabelled vertices stay -1
    pts = _frags([[[0], [3], [-1]]], [[[1], [1], [0]]])
    np.testing.assert_array_equal(render_label_map(pts, np.array([-1, 0, 0, 4])), [[-1, 4, -1]])


def test_mesh_pixels_follow_export_face_rule(parts_scene):
    """A pixel shows the part whose exported mesh holds the face it sees."""
    export = pytest.importorskip("omniseg3d_mesh.io.export")
    from omniseg3d_mesh.render.fragments import compute_fragments

    scene, _ = parts_scene
    rng = np.random.default_rng(5)
    labels = rng.integers(-1, 6, size=scene.num_vertices)  # many faces with three different labels
    frags = compute_fragments(scene, scene.cameras[0], "cpu")
    out = render_label_map(frags, labels)
    faces = export.face_labels(scene.faces, labels)
    expect = np.where(frags.face_ids >= 0, faces[np.clip(frags.face_ids, 0, None)], -1)
    np.testing.assert_array_equal(out, expect)


def test_label_map_errors():
    f = _frags([[[0, 1, 2]]], [[[1, 0, 0]]])
    with pytest.raises(ValueError, match="integer array"):
        render_label_map(f, np.array([0.5, 1.0, 2.0]))
    with pytest.raises(ValueError, match="reference vertex 2"):
        render_label_map(f, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"scores must be a \[V\] array"):
        render_scores(f, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="needs features"):
        render_pca(f)


def test_scores_and_pca_maps():
    f = _frags([[[0, 1, 2], [-1, -1, -1]]], [[[0.5, 0.25, 0.25], [0, 0, 0]]])
    s = render_scores(f, np.array([1.0, 0.0, -1.0]))
    assert s[0, 0] == pytest.approx(0.25) and np.isnan(s[0, 1])
    rgb = render_pca(f, colors=np.array([[200, 0, 0], [0, 200, 0], [0, 0, 200]], np.uint8))
    np.testing.assert_array_equal(rgb[0], [[100, 50, 50], [0, 0, 0]])


def test_overlay():
    img = np.full((4, 5, 3), 100, np.uint8)
    lab = np.full((4, 5), -1)
    lab[1:3, 1:4] = 2
    out = overlay(img, lab, alpha=1.0, boundaries=False)
    np.testing.assert_array_equal(out[1, 1], part_palette(3)[2])
    np.testing.assert_array_equal(out[0, 0], [100, 100, 100])  # unlabelled pixels keep the photo
    grey = overlay(None, lab, alpha=0.0)
    assert grey.shape == (4, 5, 3) and grey[0, 0, 0] == L.BACKGROUND_GREY
    with pytest.raises(ValueError, match="render at the image size"):
        overlay(np.zeros((3, 3, 3), np.uint8), lab)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        overlay(img, lab, alpha=2.0)
    with pytest.raises(ValueError, match="palette has 1 colours"):
        overlay(img, lab, palette=np.zeros((1, 3), np.uint8))


def test_label_png_roundtrip(tmp_path):
    lab = np.array([[-1, 0, 65534]])
    p = save_label_png(tmp_path / "a.png", lab)
    from PIL import Image

    with Image.open(p) as im:
        assert im.mode.startswith("I;16") or im.mode == "I"
        np.testing.assert_array_equal(np.asarray(im), [[0, 1, 65535]])
    np.testing.assert_array_equal(load_label_png(p), lab)
    with pytest.raises(ValueError, match="does not fit a 16-bit label PNG"):
        save_label_png(tmp_path / "b.png", np.array([[70000]]))


# --------------------------------------------------------------------------- ground truth
def _face_labels(scene, labels):
    return labels[scene.faces[:, 0]]


def test_label_maps_match_ground_truth(parts_scene, tmp_path):
    """Mesh: rendered maps = GT part maps (after matching ids), the same part keeps one id in all views."""
    scene, labels = parts_scene
    rng = np.random.default_rng(0)
    perm = rng.permutation(np.arange(100))[:5]  # the 3D result names parts arbitrarily
    pred_labels = perm[labels]
    noisy = rng.random(len(labels)) < 0.02  # and gets a few vertices wrong
    pred_labels[noisy] = rng.choice(perm, noisy.sum())
    rep = render_views(scene, pred_labels, tmp_path, backend="cpu")
    assert rep.views == len(scene.cameras) and rep.parts == 5
    pred = [load_label_png(tmp_path / f"{Path(c.name).stem}_labels.png") for c in scene.cameras]
    gt = [gt_part_map(scene, c, _face_labels(scene, labels)) for c in scene.cameras]
    mapping = match_ids(pred, gt)
    for p, g in zip(pred, gt):
        np.testing.assert_array_equal(p >= 0, g >= 0)  # occlusion and background exact
        surf = g >= 0
        mapped = np.vectorize(lambda x: mapping.get(int(x), -2))(p[surf])
        assert (mapped == g[surf]).mean() >= 0.95
    # one 3D part, one id: each GT part's majority rendered id is the same in every view
    for part in range(5):
        ids = set()
        for p, g in zip(pred, gt):
            m = g == part
            if m.sum() >= 20:
                vals, counts = np.unique(p[m], return_counts=True)
                ids.add(int(vals[np.argmax(counts)]))
        assert ids == {int(perm[part])}


def test_point_cloud_label_maps_match_ground_truth(parts_scene, tmp_path):
    """Point cloud sampled from the mesh: splatted label maps agree with the mesh's GT maps."""
    import trimesh

    scene, labels = parts_scene
    mesh = trimesh.Trimesh(scene.vertices, scene.faces, process=False)
    pts, face_idx = trimesh.sample.sample_surface_even(mesh, 15000, seed=0)
    point_labels = _face_labels(scene, labels)[face_idx]
    cloud = Scene(vertices=pts, cameras=scene.cameras[:2])
    render_views(cloud, point_labels, tmp_path, images=False)
    for cam in cloud.cameras:
        p = load_label_png(tmp_path / f"{Path(cam.name).stem}_labels.png")
        g = gt_part_map(scene, cam, _face_labels(scene, labels))
        both = (p >= 0) & (g >= 0)
        assert (p[both] == g[both]).mean() >= 0.95
        # renders cover the splats' outline too (the fit's fragments leave it empty)
        assert ((p >= 0) == (g >= 0)).mean() >= 0.97


def test_label_map_for_new_camera(parts_scene):
    scene, labels = parts_scene
    cam = Camera.look_at((0.5, -2.5, 3.0), (0, 0, 0.5), width=64, height=48, fov_y_deg=45)  # not an input view
    out = label_map_for_camera(scene, cam, labels)
    gt = gt_part_map(scene, cam, _face_labels(scene, labels))
    np.testing.assert_array_equal(out, gt)
    with pytest.raises(ValueError, match="one per vertex"):
        label_map_for_camera(scene, cam, labels[:-1])


# --------------------------------------------------------------------------- files
def test_coco_json_and_sizes(tmp_path):
    pytest.importorskip("pycocotools")
    from PIL import Image
    from pycocotools.coco import COCO

    scene, labels = make_parts_scene(num_views=3, width=48, height=36, image_dir=tmp_path / "images")
    out = tmp_path / "views"
    rep = render_views(scene, labels, out)
    coco = COCO(str(out / "instances.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["part"]
    imgs = coco.loadImgs(coco.getImgIds())
    assert [i["file_name"] for i in imgs] == [f"frame_{k:03d}.jpg" for k in range(3)]
    assert len(coco.getAnnIds()) == rep.annotations > 0
    for info, cam in zip(imgs, scene.cameras):
        with Image.open(cam.image_path) as im:
            size = im.size
        stem = Path(cam.name).stem
        with Image.open(out / f"{stem}_labels.png") as lab_im:
            assert lab_im.size == size  # exactly the input image's size (the last one is 2x the camera)
        with Image.open(out / f"{stem}_overlay.png") as ov:
            assert ov.size == size and ov.mode == "RGB"
        assert (info["width"], info["height"]) == size
        lab = load_label_png(out / f"{stem}_labels.png")
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[info["id"]]))
        assert sorted(a["part_id"] for a in anns) == sorted(np.unique(lab[lab >= 0]).tolist())
        for a in anns:
            m = coco.annToMask(a).astype(bool)
            np.testing.assert_array_equal(m, lab == a["part_id"])  # RLE decodes to the PNG's pixels
            assert a["area"] == m.sum() and a["iscrowd"] == 0 and a["category_id"] == 1
            x, y, w, h = a["bbox"]
            rows, cols = np.nonzero(m)
            assert (x, y, w, h) == (cols.min(), rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1)


def test_scores_and_pca_files(parts_scene, tmp_path):
    scene, labels = parts_scene
    scores = np.cos(scene.vertices[:, 0]).astype(np.float32)
    rep = render_views(scene, scores, tmp_path, what="scores", views=[scene.cameras[0].name])
    assert rep.files == ("frame_000_scores.png", "frame_000_scores_overlay.png")
    from PIL import Image

    with Image.open(tmp_path / "frame_000_scores.png") as im:
        q = np.asarray(im).astype(np.int64)
    from omniseg3d_mesh.render.fragments import compute_fragments

    expect = render_scores(compute_fragments(scene, scene.cameras[0], "cpu"), scores)
    ok = np.isfinite(expect)
    np.testing.assert_array_equal(q == 0, ~ok)
    np.testing.assert_allclose((q[ok] - 1) / 65534 * 2 - 1, expect[ok], atol=1e-4)
    assert (tmp_path / "frame_000_scores_overlay.png").is_file()
    feats = np.random.default_rng(0).normal(size=(scene.num_vertices, 8))
    rep = render_views(scene, feats, tmp_path, what="pca", views=iter([scene.cameras[1].name]), images=False)
    assert rep.files == ("frame_001_pca.png",) and (tmp_path / "frame_001_pca.png").is_file()
    assert not (tmp_path / "instances.json").exists()  # COCO only for labels


def test_render_views_input_errors(parts_scene, tmp_path):
    scene, labels = parts_scene
    with pytest.raises(ValueError, match="unknown render mode 'colors'"):
        render_views(scene, labels, tmp_path, what="colors")
    with pytest.raises(ValueError, match=r"expected shape \(\d+,\), got \(3,\)"):
        render_views(scene, labels[:3], tmp_path)
    with pytest.raises(ValueError, match="integer part labels"):
        render_views(scene, labels.astype(np.float32), tmp_path)
    with pytest.raises(ValueError, match="does not fit a 16-bit label PNG"):
        render_views(scene, labels + 70000, tmp_path)
    with pytest.raises(ValueError, match="pca needs features"):
        render_views(scene, labels, tmp_path, what="pca")
    with pytest.raises(ValueError, match="scores must be numbers"):
        render_views(scene, labels.astype(bool).astype(object), tmp_path, what="scores")
    with pytest.raises(ValueError, match="no view named 'nope.png'"):
        render_views(scene, labels, tmp_path, views=["nope.png"])
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_selection_mask(parts_scene, tmp_path):
    scene, labels = parts_scene
    render_views(scene, labels == 3, tmp_path, what="selection", views=[scene.cameras[0]])
    lab = load_label_png(tmp_path / "frame_000_labels.png")
    gt = gt_part_map(scene, scene.cameras[0], _face_labels(scene, labels))
    np.testing.assert_array_equal(lab == 0, gt == 3)
    assert set(np.unique(lab)) <= {-1, 0}


# --------------------------------------------------------------------------- streaming and atomic writes
def test_streams_one_view_at_a_time(parts_scene, tmp_path):
    scene, labels = parts_scene
    done = []

    def names():
        for i, cam in enumerate(scene.cameras):
            assert len(done) == i  # the previous view is finished before the next is asked for
            yield cam.name

    render_views(scene, labels, tmp_path, views=names(), progress=lambda stage, d, t, **k: done.append((d, k["view"])))
    assert [d for d, _ in done] == list(range(1, len(scene.cameras) + 1))


def test_memory_does_not_grow_with_views(tmp_path):
    scene, labels = make_parts_scene(num_views=2, width=64, height=48)
    cams = [
        Camera.look_at((3 * np.cos(a), 3 * np.sin(a), 2), (0, 0, 0.4), width=64, height=48, name=f"v{i:03d}.png")
        for i, a in enumerate(np.linspace(0, 6, 24))
    ]
    many = Scene(vertices=scene.vertices, faces=scene.faces, cameras=cams)

    def peak(n):
        tracemalloc.start()
        render_views(many, labels, tmp_path / f"o{n}", views=(c.name for c in cams[:n]), backend="cpu")
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    peak(2)  # warm caches (ray-casting BVH, imports)
    small, large = peak(3), peak(24)
    assert large < 1.5 * small + 2**20, (small, large)


def test_interrupted_run_leaves_output_untouched(parts_scene, tmp_path):
    scene, labels = parts_scene
    out = tmp_path / "views"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    render_views(scene, labels, out, views=[scene.cameras[0].name])
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def boom(stage, done, total, **info):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_views(scene, (labels + 1) % 5, out, progress=boom)
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before  # no new, changed, half-written or temporary files


# --------------------------------------------------------------------------- workspace
def _workspace(tmp_path, scene, labels, parts=True):
    """A fitted workspace on disk: geometry, cameras.json, a field that separates the parts, the parts."""
    from omniseg3d_mesh.field import Field
    from omniseg3d_mesh.io.cameras_json import save_cameras_json
    from omniseg3d_mesh.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    ws.save_geometry(scene.vertices, scene.faces, None)
    save_cameras_json(ws.cameras_path, scene.cameras)
    feats = np.eye(5, 8, dtype=np.float32)[labels] + 0.01 * np.random.default_rng(0).normal(size=(len(labels), 8))
    Field(features=feats, meta={}).save(ws.field_path)
    if parts:
        ws.parts_dir.mkdir(parents=True)
        np.save(ws.parts_dir / "labels.npy", labels)
    return ws


def test_render_workspace_modes(parts_scene, tmp_path):
    from omniseg3d_mesh.config import RenderConfig

    scene, labels = parts_scene
    ws = _workspace(tmp_path, scene, labels)
    one = [scene.cameras[0].name]
    rep = render_workspace(ws, tmp_path / "parts", RenderConfig(views=one))
    assert rep.parts >= 4 and (tmp_path / "parts" / "instances.json").is_file()
    assert rep.source == f"level 0 of the parts exported to {ws.parts_dir}"
    assert sorted(rep.files) == sorted(p.name for p in (tmp_path / "parts").iterdir())
    lab = load_label_png(tmp_path / "parts" / "frame_000_labels.png")
    np.testing.assert_array_equal(lab, gt_part_map(scene, scene.cameras[0], _face_labels(scene, labels)))
    np.save(tmp_path / "sel.npy", labels == 1)
    rep = render_workspace(
        ws.root, tmp_path / "sel", RenderConfig(what="selection", views=one), labels=tmp_path / "sel.npy"
    )
    assert rep.parts == 1 and rep.source == f"the values in {tmp_path / 'sel.npy'}"
    rep = render_workspace(ws, tmp_path / "scores", RenderConfig(what="scores", views=one, click="0"))
    assert (tmp_path / "scores" / "frame_000_scores.png").is_file() and rep.source == "scores of click 0 (vertex 0)"
    rep = render_workspace(ws, tmp_path / "pca", RenderConfig(what="pca", views=one, overlays=False))
    assert rep.files == ("frame_000_pca.png",)


def test_render_workspace_errors(parts_scene, tmp_path):
    from omniseg3d_mesh.config import RenderConfig
    from omniseg3d_mesh.field import Field

    scene, labels = parts_scene
    ws = _workspace(tmp_path, scene, labels)
    out = tmp_path / "o"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        render_workspace(tmp_path / "missing", out)
    with pytest.raises(ValueError, match="needs the selected vertices"):
        render_workspace(ws, out, RenderConfig(what="selection"))
    with pytest.raises(ValueError, match="needs a query: pass --click"):
        render_workspace(ws, out, RenderConfig(what="scores"))
    with pytest.raises(
        ValueError, match="click v:99999999: vertex 99999999 does not exist, the geometry has vertices 0.."
    ):
        render_workspace(ws, out, RenderConfig(what="scores", click="99999999"))
    with pytest.raises(FileNotFoundError, match="labels file .*nope.npy not found"):
        render_workspace(ws, out, labels=tmp_path / "nope.npy")
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(ValueError, match="expected a per-vertex array as .npy, .npz or .txt"):
        render_workspace(ws, out, labels=tmp_path / "x.csv")
    np.savez(tmp_path / "two.npz", a=labels, b=labels)
    with pytest.raises(ValueError, match="expected an .npz with one array"):
        render_workspace(ws, out, labels=tmp_path / "two.npz")
    with pytest.raises(ValueError, match="no view named 'zzz.png'"):
        render_workspace(ws, out, RenderConfig(views=["zzz.png"]))
    Field(features=np.zeros((3, 4), np.float32)).save(ws.field_path)
    with pytest.raises(ValueError, match="has features for 3 vertices"):
        render_workspace(ws, out, RenderConfig(what="pca"))
    assert not out.exists() or not any(p.suffix == ".png" for p in out.iterdir())


def test_render_workspace_without_cameras(parts_scene, tmp_path):
    from omniseg3d_mesh.workspace import Workspace

    scene, _ = parts_scene
    ws = Workspace(tmp_path / "ws")
    ws.root.mkdir()
    with pytest.raises(FileNotFoundError, match="no geometry in workspace"):
        render_workspace(ws, tmp_path / "o")
    ws.save_geometry(scene.vertices, scene.faces, None)
    with pytest.raises(FileNotFoundError, match="no cameras"):
        render_workspace(ws, tmp_path / "o")


def test_render_workspace_picks_saved_level(parts_scene, tmp_path):
    from omniseg3d_mesh.config import RenderConfig

    scene, labels = parts_scene
    ws = _workspace(tmp_path, scene, labels)
    coarse = np.where(labels <= 2, 0, 1)  # level 1: the two objects (and the floor with the first)
    np.save(ws.parts_dir / "labels_levels.npy", np.stack([labels, coarse]))
    one = [scene.cameras[0].name]
    rep = render_workspace(ws, tmp_path / "l1", RenderConfig(level=1, views=one))
    assert rep.parts == 2
    gt = gt_part_map(scene, scene.cameras[0], _face_labels(scene, coarse))
    np.testing.assert_array_equal(load_label_png(tmp_path / "l1" / "frame_000_labels.png"), gt)
    # labels.npy alone counts for the level its manifest names
    (ws.parts_dir / "labels_levels.npy").unlink()
    (ws.parts_dir / "parts.json").write_text(json.dumps({"level": 2}))
    assert _saved_part_labels(ws.parts_dir, 2) is not None
    with pytest.raises(
        ValueError, match=r"the parts in .* hold level 2, not level 0: run `omniseg-mesh discretize --level 0"
    ):
        _saved_part_labels(ws.parts_dir, 0)  # other ids than the exported ones: an error, not a silent re-discretize
    assert _saved_part_labels(tmp_path / "empty", 0) is None  # no export at all


def test_render_workspace_runs_discretize(parts_scene, tmp_path):
    pytest.importorskip("omniseg3d_mesh.discretize")
    from omniseg3d_mesh.config import RenderConfig

    scene, labels = parts_scene
    ws = _workspace(tmp_path, scene, labels, parts=False)
    rep = render_workspace(ws, tmp_path / "out", RenderConfig(views=[scene.cameras[0].name]))
    assert rep.parts >= 2 and rep.source.startswith("level 0 of a fresh discretize")
