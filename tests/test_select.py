"""Click selection: scores, region growing, hierarchy steps, multi-select, clicks of every kind."""

from __future__ import annotations

import numpy as np
import pytest

from omniseg3d_mesh import graph
from omniseg3d_mesh.config import SelectConfig
from omniseg3d_mesh.field import Field
from omniseg3d_mesh.select import Click, Selector, parse_click
from omniseg3d_mesh.workspace import Workspace
from tests.helpers.parts import iou, make_part_scene, top_camera


@pytest.fixture(scope="module")
def scene():
    return make_part_scene(60)


@pytest.fixture(scope="module")
def selector(scene):
    return Selector(scene.features, scene.vertices, scene.faces)


# --------------------------------------------------------------------------- reference
def reference_grow(adj, scores, threshold, seeds):
    """Slow, obvious region growing: components of {score >= t} containing a seed."""
    above = scores >= threshold
    comp = graph.connected_components(adj, above)
    keep = {comp[s] for s in seeds if above[s]}
    return np.isin(comp, list(keep)) & above


def test_grow_matches_reference(scene, selector):
    rng = np.random.default_rng(0)
    for _ in range(6):
        clicks = [f"v:{v}" for v in rng.integers(0, len(scene.vertices), size=rng.integers(1, 3))]
        t = float(rng.uniform(-0.2, 0.95))
        s = selector.scores(clicks)
        pos = np.array([int(c[2:]) for c in clicks])
        ref = reference_grow(selector.adjacency, s, t, pos)
        np.testing.assert_array_equal(selector.select(clicks, t), ref)


@pytest.mark.parametrize("exact_limit", [10**9, 0], ids=["vertices", "superpoints"])
def test_hierarchy_steps_walk_part_object_group(scene, exact_limit):
    sel = Selector(scene.features, scene.vertices, scene.faces, config=SelectConfig(exact_limit=exact_limit))
    steps = sel.hierarchy(Click.at_vertex(scene.vertex_in(2)))
    assert len(steps) >= 3
    assert iou(steps[0].mask, scene.part == 2) >= 0.9
    assert iou(steps[1].mask, scene.object == 1) >= 0.9
    assert iou(steps[2].mask, scene.group == 1) >= 0.9
    sizes = [st.size for st in steps]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    for a, b in zip(steps, steps[1:]):
        assert a.threshold_lo >= b.threshold_hi  # ranges ordered high -> low, disjoint
        assert not (a.mask & ~b.mask).any()  # nested
    for st in steps:
        assert st.threshold_lo <= st.threshold <= st.threshold_hi
        np.testing.assert_array_equal(st.mask, sel.select(Click.at_vertex(scene.vertex_in(2)), st.threshold))


def test_hierarchy_exact_sizes_match_masks(scene, selector):
    for st in selector.hierarchy(f"v:{scene.vertex_in(6)}"):
        assert st.approx_size == st.size


def test_select_step_and_past_last(scene, selector):
    click = f"v:{scene.vertex_in(5)}"
    steps = selector.hierarchy(click)
    assert iou(selector.select_step(click, 1).mask, scene.object == 3) >= 0.9
    assert selector.select_step(click, 99).size == steps[-1].size


def test_region_growing_drops_disconnected_lookalikes(scene):
    feats = scene.features.copy()
    twin = np.flatnonzero(scene.part == 6)
    src = np.flatnonzero(scene.part == 2)
    feats[twin] = feats[src[np.arange(len(twin)) % len(src)]]
    sel = Selector(feats, scene.vertices, scene.faces)
    click = f"v:{scene.vertex_in(2)}"
    grown = sel.select(click, 0.9)
    flat = sel.select(click, 0.9, grow=False)
    assert iou(grown, scene.part == 2) >= 0.9
    assert iou(flat, (scene.part == 2) | (scene.part == 6)) >= 0.9


def test_negative_click_removes_closer_vertices(scene, selector):
    pos, neg = Click.at_vertex(scene.vertex_in(1)), Click.at_vertex(scene.vertex_in(2), positive=False)
    assert iou(selector.select([pos], 0.6), scene.object == 1) >= 0.9
    sel = selector.select([pos, neg], 0.6)
    assert iou(sel, scene.part == 1) >= 0.9
    s = selector.scores([pos, neg])
    assert np.isneginf(s[scene.part == 2]).mean() > 0.95


def test_several_positive_clicks_take_the_max(scene, selector):
    a, b = f"v:{scene.vertex_in(1)}", f"v:{scene.vertex_in(7)}"
    np.testing.assert_allclose(selector.scores([a, b]), np.maximum(selector.scores(a), selector.scores(b)))
    both = selector.select([a, b], 0.9)
    assert iou(both, (scene.part == 1) | (scene.part == 7)) >= 0.9


def test_multi_select_has_no_overlaps(scene, selector):
    groups = [[f"v:{scene.vertex_in(1)}"], [f"v:{scene.vertex_in(2)}"], [f"v:{scene.vertex_in(6)}"]]
    labels = selector.multi_select(groups, threshold=0.6)  # groups 0 and 1 both reach object 1
    assert labels.dtype == np.int32 and labels.shape == (len(scene.vertices),)
    assert iou(labels == 0, scene.part == 1) >= 0.9
    assert iou(labels == 1, scene.part == 2) >= 0.9
    assert iou(labels == 2, scene.object == 3) >= 0.9
    by_step = selector.multi_select(groups, step=0)
    for g, p in enumerate([1, 2, 6]):
        assert iou(by_step == g, scene.part == p) >= 0.9


def test_point_click_snaps_to_nearest_vertex(scene, selector):
    v = scene.vertex_in(3)
    p = scene.vertices[v] + np.array([1e-4, -1e-4, 1e-3])
    assert selector.resolve(Click.at_point(p)) == v
    assert selector.resolve(parse_click("x:" + ",".join(map(str, p)))) == v


def test_pixel_click_through_fragments(scene):
    pytest.importorskip("open3d")
    cam = top_camera()
    sel = Selector(scene.features, scene.vertices, scene.faces, cameras=[cam])
    v = scene.vertex_in(7)
    uv, _ = cam.project(scene.vertices[[v]])
    u, w = uv[0]
    got = sel.resolve(Click.at_pixel(cam.name, u, w))
    assert scene.part[got] == 7
    assert iou(sel.select_step(f"p:{cam.name}:{u},{w}", 0).mask, scene.part == 7) >= 0.9
    with pytest.raises(ValueError, match="sees background"):
        sel.resolve(Click.at_pixel(cam.name, 0.5, 0.5))
    with pytest.raises(ValueError, match="is outside view"):
        sel.resolve(Click.at_pixel(cam.name, 64.0, 3.0))
    with pytest.raises(ValueError, match="unknown view 'nope.png'; views with cameras: top.png"):
        sel.resolve(Click.at_pixel("nope.png", 3, 3))


def test_pixel_click_with_fragments_lookup(scene):
    from omniseg3d_mesh.render.fragments import Fragments

    h, w = 4, 5
    ids = np.full((h, w, 3), -1, np.int32)
    wts = np.zeros((h, w, 3), np.float32)
    ids[2, 3] = [10, 11, 12]
    wts[2, 3] = [0.2, 0.7, 0.1]
    frags = Fragments(ids, wts, np.full((h, w), np.inf, np.float32), np.full((h, w), -1, np.int32))
    sel = Selector(scene.features, scene.vertices, scene.faces, fragments_lookup=lambda view: frags)
    assert sel.resolve("p:any.png:3.5,2.5") == 11


def test_point_cloud_selection_uses_knn_graph(scene):
    sel = Selector(scene.features, scene.vertices, None, knn=8)
    steps = sel.hierarchy(f"v:{scene.vertex_in(5)}")
    assert iou(steps[0].mask, scene.part == 5) >= 0.9


def test_from_workspace(tmp_path, scene):
    ws = Workspace(tmp_path / "omniseg")
    ws.save_geometry(scene.vertices, scene.faces, scene.colors)
    Field(scene.features, {"version": 1}).save(ws.field_path)
    sel = Selector.from_workspace(ws)
    assert iou(sel.select_step(f"v:{scene.vertex_in(4)}", 0).mask, scene.part == 4) >= 0.9
    np.testing.assert_array_equal(sel.colors, scene.colors)


def test_from_workspace_pixel_click(tmp_path, scene):
    pytest.importorskip("open3d")
    cj = pytest.importorskip("omniseg3d_mesh.io.cameras_json")
    ws = Workspace(tmp_path / "omniseg")
    ws.save_geometry(scene.vertices, scene.faces, scene.colors)
    Field(scene.features).save(ws.field_path)
    cam = top_camera()
    cj.save_cameras_json(ws.cameras_path, [cam])
    sel = Selector.from_workspace(ws)
    uv, _ = cam.project(scene.vertices[[scene.vertex_in(3)]])
    assert scene.part[sel.resolve(Click.at_pixel(cam.name, *uv[0]))] == 3
    assert ws.fragments_path(cam.name).is_file()  # cached for the next click


# --------------------------------------------------------------------------- parsing and errors
def test_parse_click_forms():
    assert parse_click("v:12") == Click("vertex", True, vertex=12)
    assert parse_click("-v:99") == Click("vertex", False, vertex=99)
    assert parse_click("+x:0.1,0.2,0.3").point == (0.1, 0.2, 0.3)
    c = parse_click("p:cam:0:320,240.5")
    assert (c.view, c.uv, c.positive) == ("cam:0", (320.0, 240.5), True)
    for text in ("v:12", "-v:99", "x:0.1,0.2,0.3", "-p:a.png:1,2"):
        assert str(parse_click(text)) == text


@pytest.mark.parametrize(
    "text, match",
    [
        ("12", r"cannot parse click '12': expected v:VERTEX"),
        ("q:3", r"cannot parse click 'q:3'"),
        ("v:abc", r"vertex id must be a non-negative integer"),
        ("v:-3", r"vertex id must be a non-negative integer"),
        ("x:1,2", r"expected 3 finite coordinates, got 2"),
        ("x:1,a,2", r"cannot parse click 'x:1,a,2'"),
        ("p:320,240", r"expected VIEW:U,V"),
        ("p:a.png:1", r"cannot parse click 'p:a.png:1'"),
    ],
)
def test_parse_click_errors(text, match):
    with pytest.raises(ValueError, match=match):
        parse_click(text)


def test_click_constructor_errors():
    with pytest.raises(ValueError, match="click kind must be 'vertex', 'point' or 'pixel'"):
        Click("face", vertex=1)
    with pytest.raises(ValueError, match="a pixel click needs view and uv"):
        Click("pixel", uv=(1.0, 2.0))
    with pytest.raises(ValueError, match="a point click needs 3 coordinates"):
        Click.at_point([1.0, 2.0])


def test_selector_errors(scene, selector):
    with pytest.raises(ValueError, match="features has 5 rows but the geometry has 3600 vertices"):
        Selector(scene.features[:5], scene.vertices, scene.faces)
    with pytest.raises(ValueError, match=r"features must have shape \(V, D\)"):
        Selector(scene.features[:, 0], scene.vertices)
    with pytest.raises(ValueError, match=r"vertices must have shape \(V, 3\)"):
        Selector(scene.features, scene.vertices[:, :2])
    with pytest.raises(ValueError, match=r"faces must be triangles with shape \(F, 3\)"):
        Selector(scene.features, scene.vertices, scene.faces[:, :2])
    with pytest.raises(ValueError, match="vertex 3600 does not exist, the geometry has vertices 0..3599"):
        selector.select("v:3600", 0.5)
    with pytest.raises(ValueError, match="only negative clicks given .*at least one positive click is needed"):
        selector.select("-v:3", 0.5)
    with pytest.raises(ValueError, match="no clicks given"):
        selector.scores([])
    with pytest.raises(ValueError, match=r"threshold is a cosine similarity and must be in \[-1, 1\], got 1.5"):
        selector.select("v:3", 1.5)
    with pytest.raises(ValueError, match="give either threshold or step for multi_select, not both"):
        selector.multi_select([["v:1"]], threshold=0.5, step=1)
    with pytest.raises(ValueError, match="no click groups given"):
        selector.multi_select([])
    with pytest.raises(ValueError, match="step must be 0 .smallest. or more, got -1"):
        selector.select_step("v:1", -1)
    with pytest.raises(ValueError, match="unknown view 'a.png'; views with cameras: none"):
        selector.resolve("p:a.png:1,1")


def test_choose_is_the_one_selection_policy(scene, selector):
    click = f"v:{scene.vertex_in(5)}"
    steps = selector.hierarchy(click)
    first = selector.choose(click)  # default: step 0 of the grown hierarchy
    assert first.step == 0 and list(first.steps) == steps and first.threshold == steps[0].threshold
    np.testing.assert_array_equal(first.mask, steps[0].mask)
    bigger = selector.choose(click, step=1)
    assert iou(bigger.mask, scene.object == 3) >= 0.9
    at = selector.choose(click, threshold=0.6, grow=False)
    assert at.step is None and at.threshold == 0.6
    np.testing.assert_array_equal(at.mask, selector.scores(click) >= 0.6)
    with pytest.raises(
        IndexError, match=rf"step 40: this click has {len(steps)} step\(s\), numbered 0\.\.{len(steps) - 1}"
    ):
        selector.choose(click, step=40)
    with pytest.raises(ValueError, match="give either a threshold or a step, not both"):
        selector.choose(click, threshold=0.5, step=1)
    with pytest.raises(ValueError, match="step must be 0 \\(smallest\\) or more, got -1"):
        selector.choose(click, step=-1)
    v = scene.vertex_in(2)
    with pytest.raises(ValueError, match="the clicks select nothing"):
        selector.choose([f"v:{v}", f"-v:{v}"])


def test_hierarchy_without_growing_steps_through_score_valleys(scene, selector):
    """Plain thresholding ignores connectivity: steps sit in empty score ranges, masks are {score >= t}."""
    click = f"v:{scene.vertex_in(5)}"
    scores = selector.scores(click)
    steps = selector.hierarchy(click, grow=False)
    assert steps and [st.size for st in steps] == sorted(st.size for st in steps)
    for st in steps:
        np.testing.assert_array_equal(st.mask, scores >= st.threshold)
        assert st.approx_size == st.size
        inside = (scores >= st.threshold_lo) & (scores < st.threshold_hi)
        bins = round((st.threshold_hi - st.threshold_lo) / 0.01)  # a valley: (almost) no vertex in any of its bins
        assert inside.sum() <= max(1, int(2e-4 * len(scores))) * bins
    chosen = selector.choose(click, step=len(steps) - 1, grow=False)
    np.testing.assert_array_equal(chosen.mask, scores >= steps[-1].threshold)


def test_select_step_when_everything_is_excluded(scene, selector):
    v = scene.vertex_in(2)
    with pytest.raises(ValueError, match="the clicks select nothing"):
        selector.select_step([f"v:{v}", f"-v:{v}"], 0)


def test_a_noisy_clicked_vertex_is_not_a_step(scene):
    feats = scene.features.copy()
    v = scene.vertex_in(2)
    rng = np.random.default_rng(1)
    odd = feats[v] + 0.9 * rng.normal(size=feats.shape[1]).astype(np.float32) / np.sqrt(feats.shape[1])
    feats[v] = odd / np.linalg.norm(odd)  # the clicked vertex itself is an outlier
    steps = Selector(feats, scene.vertices, scene.faces).hierarchy(f"v:{v}")
    assert steps[0].size >= SelectConfig().min_step_size


@pytest.mark.parametrize("exact_limit", [10**9, 0], ids=["vertices", "superpoints"])
def test_noisy_field_with_denoising(exact_limit):
    noisy = make_part_scene(60, noise=0.5, seed=2)  # same-part cosine ~0.8
    cfg = SelectConfig(smooth_iters=2, exact_limit=exact_limit)
    sel = Selector(noisy.features, noisy.vertices, noisy.faces, config=cfg)
    steps = sel.hierarchy(f"v:{noisy.vertex_in(2)}")
    assert iou(steps[0].mask, noisy.part == 2) >= 0.9
    assert iou(steps[1].mask, noisy.object == 1) >= 0.9


def test_selector_reads_its_config(scene):
    sel = Selector(scene.features, scene.vertices, None, config=SelectConfig(smooth_iters=1), knn=5)
    assert sel.config == SelectConfig(smooth_iters=1, knn=5)
    assert sel.adjacency.getnnz(axis=1).min() >= 5  # the point-cloud graph has config.knn neighbours
    with pytest.raises(ValueError, match=r"^SelectConfig.knn must be >= 1, got 0$"):
        Selector(scene.features, scene.vertices, None, knn=0)


def test_point_cloud_superpoints_do_not_cross_a_contact(monkeypatch):
    # A wall standing on a floor, as points, with a field that tells them apart by a cosine
    # of 0.9. The sweep's superpoints are cut on the cloud's surface graph (the one the fit
    # smooths on; the normals are given exactly here, estimated ones blur at a contact), so
    # none holds floor and wall points and the click on the wall has the wall as a step. On
    # the plain k-nearest-neighbour graph, denoising blends the foot of the wall into the
    # floor and the superpoints along it hold both.
    s = 0.01
    gx, gy = np.meshgrid(np.arange(0.0, 0.4, s), np.arange(0.0, 0.4, s))
    floor = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], 1)
    wy, wz = np.meshgrid(np.arange(0.0, 0.4, s), np.arange(0.5 * s, 0.2, s))
    wall = np.stack([np.full(wy.size, 0.4), wy.ravel(), wz.ravel()], 1)
    pts = np.concatenate([floor, wall]).astype(np.float32)
    is_wall = np.r_[np.zeros(len(floor), bool), np.ones(len(wall), bool)]
    normals = np.where(is_wall[:, None], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0])
    monkeypatch.setattr(graph, "point_normals", lambda p, k=10: normals)
    feats = np.zeros((len(pts), 4), np.float32)
    feats[:, 0] = np.where(is_wall, 0.9, 1.0)
    feats[is_wall, 1] = np.sqrt(1 - 0.9**2)
    feats += 0.002 * np.random.default_rng(0).normal(size=feats.shape).astype(np.float32)
    sel = Selector(feats, pts, None, exact_limit=0)
    lab = sel._coarse_graph()[0]
    assert not np.isin(lab[is_wall], lab[~is_wall]).any()
    steps = sel.hierarchy(Click.at_point([0.4, 0.2, 0.1]))
    assert max(iou(st.mask, is_wall) for st in steps) >= 0.95
