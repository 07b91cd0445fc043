"""The controller callbacks the viewer's buttons use, on a demo workspace with known labels."""

from __future__ import annotations

import numpy as np
import pytest

from omniseg3d_mesh.colors import part_palette, score_colors
from omniseg3d_mesh.viewer.state import DISPLAY_MODES, ViewerState


def first_vertex(labels: np.ndarray, value: int) -> int:
    return int(np.flatnonzero(labels == value)[0])


def test_click_selects_the_clicked_part(state, demo_ws):
    _, gt = demo_ws
    state.click(first_vertex(gt["part"], 1))
    np.testing.assert_array_equal(state.selection(), gt["part"] == 1)
    assert state.mode == "selection" and state.step == 0


def test_bigger_smaller_walk_the_hierarchy(state, demo_ws):
    _, gt = demo_ws
    state.click(first_vertex(gt["part"], 1))
    state.step_bigger()
    assert state.step == 1
    np.testing.assert_array_equal(state.selection(), gt["object"] == 1)
    state.step_bigger()  # region growing: the boxes touch the floor (bridged pieces), so the next step is the whole scene
    assert state.selection().all()
    state.step_smaller()
    np.testing.assert_array_equal(state.selection(), gt["object"] == 1)
    state.set_grow(False)  # without growing the group step appears
    state.step_bigger()
    np.testing.assert_array_equal(state.selection(), gt["group"] == 1)
    state.step_smaller()
    state.step_smaller()
    np.testing.assert_array_equal(state.selection(), gt["part"] == 1)
    state.step_smaller()  # clamped at the smallest step
    assert state.step == 0


def test_slider_lands_on_the_matching_step(state, demo_ws):
    _, gt = demo_ws
    state.click(first_vertex(gt["part"], 3))
    t = state.steps[1].threshold
    state.set_threshold(t + 0.01)
    assert state.step == 1
    np.testing.assert_array_equal(state.selection(), gt["object"] == 2)
    state.set_threshold(0.999)  # above every step: only vertices almost identical to the click
    assert state.selection().sum() < (gt["part"] == 3).sum()
    state.step_bigger()  # from a slider position, bigger goes to the first larger step
    np.testing.assert_array_equal(state.selection(), gt["part"] == 3)


def test_negative_click_removes_a_part(state, demo_ws):
    _, gt = demo_ws
    state.click(first_vertex(gt["part"], 1))
    state.step_bigger()
    state.click(first_vertex(gt["part"], 2), positive=False)
    np.testing.assert_array_equal(state.selection(), gt["part"] == 1)
    assert np.isneginf(state.scores()[gt["part"] == 2]).all()
    state.undo()
    np.testing.assert_array_equal(state.selection(), gt["object"] == 1)


def test_append_click_unions_two_parts(state, demo_ws):
    _, gt = demo_ws
    state.click(first_vertex(gt["part"], 1))
    state.click(first_vertex(gt["part"], 5), append=True)
    np.testing.assert_array_equal(state.selection(), (gt["part"] == 1) | (gt["part"] == 5))


def test_multi_selection_colours_each_object(state, demo_ws):
    _, gt = demo_ws
    state.click(first_vertex(gt["part"], 1))
    state.step_bigger()
    state.click(first_vertex(gt["part"], 5), add_group=True)
    lab = state.labels()
    np.testing.assert_array_equal(lab == 0, gt["object"] == 1)
    np.testing.assert_array_equal(lab == 1, gt["part"] == 5)
    col = state.colors()
    assert col.shape == (len(gt["part"]), 3) and col.dtype == np.uint8
    assert (col[gt["object"] == 1] == state.group_color(0)).all()
    assert (col[gt["part"] == 5] == state.group_color(1)).all()
    assert state.group_color(0) != state.group_color(1)
    rest = lab < 0
    assert not (col[rest] == state.group_color(0)).all(axis=1).any()
    state.commit_group()
    assert len(state.groups) == 2 and state.clicks == []
    state.clear()
    assert state.groups == [] and (state.labels() == -1).all()


def test_display_modes(state, demo_ws):
    _, gt = demo_ws
    n = len(gt["part"])
    for mode in DISPLAY_MODES:
        c = state.set_mode(mode)
        assert c.shape == (n, 3) and c.dtype == np.uint8
    np.testing.assert_array_equal(state.colors("original"), state.original)
    pca = state.colors("pca")
    # PCA colours separate objects: mean colours of two different boxes differ clearly
    assert np.abs(pca[gt["object"] == 1].mean(0) - pca[gt["object"] == 3].mean(0)).max() > 30
    state.click(first_vertex(gt["part"], 1))
    heat = state.colors("scores")
    hot = heat[gt["part"] == 1].astype(int).mean(0)
    cold = heat[gt["group"] == 3].astype(int).mean(0)
    assert hot[0] > cold[0] and cold[2] > hot[2]  # red where similar, blue where not
    with pytest.raises(ValueError, match="unknown display mode 'nope': expected one of original"):
        state.set_mode("nope")


def test_discretize_and_export_parts(state, demo_ws, tmp_path):
    _, gt = demo_ws
    with pytest.raises(ValueError, match="no parts to export: run discretize first"):
        state.export_parts(tmp_path / "p")
    state.discretize(level=0, min_part_size=20)
    assert state.mode == "parts" and state.parts is not None
    # every ground-truth part of a box is (mostly) one discovered part
    for p in (1, 2, 7, 8):
        _, counts = np.unique(state.parts[gt["part"] == p], return_counts=True)
        assert counts.max() / counts.sum() > 0.9
    fitted = state.discretizer
    state.discretize(level=1, min_part_size=20)  # another level: a cut of the same tree, no refit
    assert state.discretizer is fitted
    assert state.parts.max() <= state.discretizer.tree_.cut(0).max()
    with pytest.raises(ValueError, match="the part tree has levels 0..[0-9]+, got level 9"):
        state.discretize(level=9, min_part_size=20)
    pytest.importorskip("omniseg3d_mesh.io.export")
    state.discretize(level=0, min_part_size=20)
    state.export_parts(tmp_path / "parts")
    np.testing.assert_array_equal(np.load(tmp_path / "parts" / "labels.npy"), state.parts)
    assert (tmp_path / "parts" / "parts.json").is_file()
    assert len(list((tmp_path / "parts").glob("part_*.ply"))) == state.parts.max() + 1


def test_export_selection_writes_into_the_workspace(demo_ws, tmp_path):
    import shutil

    from omniseg3d_mesh.workspace import Workspace

    src, gt = demo_ws
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(src.root, ws.root)
    st = ViewerState.from_workspace(ws)
    with pytest.raises(ValueError, match="nothing is selected: click on the mesh first"):
        st.export_selection()
    pytest.importorskip("omniseg3d_mesh.io.export")
    st.click(first_vertex(gt["part"], 1))
    st.step_bigger()
    result = st.export_selection()
    assert (ws.root / "selection.ply").is_file() and "objects" not in result
    np.testing.assert_array_equal(np.load(ws.root / "selection.mask.npy"), gt["object"] == 1)
    # multi-selection: the union, plus one file per object
    st.click(first_vertex(gt["part"], 5), add_group=True)
    result = st.export_selection()
    np.testing.assert_array_equal(np.load(ws.root / "selection.mask.npy"), (gt["object"] == 1) | (gt["part"] == 5))
    labels = np.load(ws.root / "selection_objects" / "labels.npy")
    np.testing.assert_array_equal(labels, st.labels())
    assert len(list((ws.root / "selection_objects").glob("part_*.ply"))) == 2
    # parts exported into the workspace come back when the viewer opens it again
    st.discretize(level=0, min_part_size=20)
    assert st.export_parts()["out"] == str(ws.root / "parts")
    np.testing.assert_array_equal(ViewerState.from_workspace(ws).parts, st.parts)


def test_scores_match_the_slow_reference(state, demo_ws):
    _, gt = demo_ws
    from omniseg3d_mesh.viewer.state import ViewerClick

    clicks = [
        ViewerClick(first_vertex(gt["part"], 1)),
        ViewerClick(first_vertex(gt["part"], 7)),
        ViewerClick(first_vertex(gt["part"], 2), positive=False),
    ]
    f = state.features
    ref = np.empty(state.num_vertices, np.float32)
    for v in range(state.num_vertices):
        pos = max(float(f[v] @ f[c.vertex]) for c in clicks if c.positive)
        neg = max(float(f[v] @ f[c.vertex]) for c in clicks if not c.positive)
        ref[v] = -np.inf if neg > pos else pos
    np.testing.assert_allclose(state.scores(clicks), ref, rtol=1e-5, atol=1e-5)


def test_pick_mesh_and_point_cloud(state, demo_ws):
    _, gt = demo_ws
    # straight down onto the top of the green box (object 3, centred at (0.9, 0.6))
    v = state.pick((0.9, 0.6, 5.0), (0.0, 0.0, -1.0))
    assert v is not None and gt["object"][v] == 3
    assert state.pick((0.0, 0.0, 5.0), (0.0, 0.0, 1.0)) is None  # looking away
    cloud = ViewerState(state.features, state.vertices, None, None)
    v = cloud.pick((0.9, 0.6, 5.0), (0.0, 0.0, -1.0))
    assert v is not None and gt["object"][v] == 3
    assert cloud.mode == "pca"  # no colours: starts in PCA mode


def test_errors(state, demo_ws, tmp_path):
    _, gt = demo_ws
    n = state.num_vertices
    with pytest.raises(ValueError, match=f"vertex id {n} is out of range: the mesh has {n} vertices"):
        state.click(n)
    with pytest.raises(ValueError, match=r"threshold must be a cosine similarity in \[-1, 1\], got 1.5"):
        state.set_threshold(1.5)
    with pytest.raises(ValueError, match="discretize needs level >= 0 and min_part_size >= 1"):
        state.discretize(level=-1)
    with pytest.raises(
        ValueError, match=r"the field has features of shape \(3, 4\) but the geometry has vertices of shape \(2, 3\)"
    ):
        ViewerState(np.ones((3, 4)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"colors must have shape \(2, 3\) \(one RGB per vertex\), got \(2, 4\)"):
        ViewerState(np.ones((2, 4)), np.zeros((2, 3)), colors=np.zeros((2, 4), np.uint8))
    bare = ViewerState(state.features, state.vertices, state.faces)
    bare.click(first_vertex(gt["part"], 1))
    with pytest.raises(ValueError, match="no output folder: pass one, or open the viewer on a workspace"):
        bare.export_selection()
    with pytest.raises(FileNotFoundError, match="no fitted field at"):
        ViewerState.from_workspace(tmp_path / "empty")


def test_palette_and_heat():
    pal = part_palette(20)
    assert pal.shape == (20, 3) and len({tuple(c) for c in pal}) == 20
    h = score_colors(np.array([0.0, 1.0, -np.inf], np.float32), lo=0.0, none_color=(70, 70, 80))
    assert h[0, 2] > h[0, 0] and h[1, 0] > h[1, 2] and tuple(h[2]) == (70, 70, 80)
