"""The workspace pipeline: each stage on a tiny real workspace, and what it returns."""

from __future__ import annotations

import json

import numpy as np
import pytest

from omniseg3d_mesh.config import (
    DiscretizeConfig,
    FitConfig,
    FragmentConfig,
    RenderConfig,
)
from omniseg3d_mesh.field import Field
from omniseg3d_mesh.pipeline import (
    FitResult,
    FittedWorkspace,
    Parts,
    RenderReport,
    discretize_workspace,
    fit_workspace,
    load_workspace,
    load_workspace_scene,
    open_selector,
    render_workspace,
)
from omniseg3d_mesh.workspace import Workspace

FIT = FitConfig(steps=30, num_pixels=512, lr=0.03, device="cpu", num_threads=1, checkpoint_every=10, seed=0)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[FitResult, np.ndarray]:
    """The example boxes (4 views, 48x36), masks from their true parts, fitted for 30 steps."""
    from omniseg3d_mesh.io.example import box_scene_geometry, write_example_scene
    from omniseg3d_mesh.io.geometry import load_scene
    from omniseg3d_mesh.io.masks import mask_key, save_masks_npz
    from omniseg3d_mesh.render.fragments import compute_fragments
    from omniseg3d_mesh.render.labels import render_label_map

    root = tmp_path_factory.mktemp("pipeline")
    mesh, images = write_example_scene(root, num_views=4, width=48, height=36)
    labels = box_scene_geometry()[3]
    for cam in load_scene(mesh, images).cameras:
        seen = render_label_map(compute_fragments(load_scene(mesh, images), cam, "cpu"), labels)
        save_masks_npz(root / "masks" / f"{mask_key(cam.name)}.npz", np.stack([seen == k for k in range(3)]))
    result = fit_workspace(
        mesh,
        images,
        masks=root / "masks",
        workspace=root / "ws",
        config=FIT,
        fragment_config=FragmentConfig(backend="cpu"),
    )
    return result, labels


def test_fit_workspace_writes_the_workspace_and_returns_what_it_wrote(fitted):
    result, labels = fitted
    ws = result.workspace
    assert isinstance(result, FitResult) and isinstance(ws, Workspace) and result.field_path == ws.root / "field.npz"
    for path in (ws.field_path, ws.geometry_path, ws.cameras_path, ws.scene_json, ws.checkpoints_dir / "fit.pt"):
        assert path.is_file(), path
    assert len(list(ws.fragments_dir.glob("*.npz"))) == 4 and len(list(ws.hierarchy_dir.glob("*.npz"))) == 4
    # the returned field is the one on disk, fitted on the returned scene
    np.testing.assert_array_equal(Field.load(ws.field_path).features, result.field.features)
    assert result.field.features.shape == (result.scene.num_vertices, FIT.feature_dim) == (len(labels), FIT.feature_dim)
    assert result.field.meta["steps"] == 30 and result.field.meta["device"] == "cpu"
    assert sorted(result.field.meta["views"]) == [c.name for c in result.scene.cameras]
    info = json.loads(ws.scene_json.read_text())
    assert info["num_vertices"] == result.scene.num_vertices and info["config"]["fragments"]["backend"] == "cpu"


def test_load_workspace_twice_gives_the_same_field(fitted):
    result, _ = fitted
    a, b = load_workspace(result.workspace), load_workspace(result.workspace.root)
    assert isinstance(a, FittedWorkspace) and a.workspace.root == b.workspace.root
    np.testing.assert_array_equal(a.field.features, b.field.features)
    np.testing.assert_array_equal(a.field.features, result.field.features)
    np.testing.assert_array_equal(a.scene.vertices, result.scene.vertices)
    assert [c.name for c in a.scene.cameras] == [c.name for c in result.scene.cameras]
    assert a.fragment_backend == "cpu"  # what fit cached its fragments with: pixel clicks reuse them


def test_open_selector_answers_pixel_clicks_from_the_fit_cache(fitted):
    result, labels = fitted
    sel = open_selector(result.workspace.root)
    cam = result.scene.cameras[0]
    vertex = int(np.flatnonzero(labels == 1)[0])
    assert sel.resolve(f"v:{vertex}") == vertex
    np.testing.assert_array_equal(sel.colors, result.scene.colors)
    dom = sel._fragments_lookup(cam.name).dominant_vertex()  # the fragments fit cached for this view
    row, col = np.argwhere(dom >= 0)[0]
    assert sel.resolve(f"p:{cam.name}:{col + 0.5},{row + 0.5}") == dom[row, col]


def test_load_workspace_errors(fitted, tmp_path):
    result, _ = fitted
    with pytest.raises(
        FileNotFoundError, match=r"no fitted field at .*field\.npz: run `omniseg-mesh fit MESH IMAGES/` first"
    ):
        load_workspace(tmp_path / "nowhere")
    ws = Workspace(tmp_path / "ws")
    Field(np.ones((3, 4), np.float32)).save(ws.field_path)
    with pytest.raises(FileNotFoundError, match=r"no geometry in workspace .*: run `omniseg-mesh fit`"):
        load_workspace(ws)
    ws.save_geometry(result.scene.vertices, result.scene.faces, None)
    with pytest.raises(
        ValueError, match=rf"has features for 3 vertices but the workspace geometry has {result.scene.num_vertices}"
    ):
        load_workspace(ws)


def test_discretize_workspace_returns_the_parts_it_wrote(fitted, tmp_path):
    result, _ = fitted
    parts = discretize_workspace(result.workspace, out=tmp_path / "parts", config=DiscretizeConfig(min_part_size=20))
    assert isinstance(parts, Parts) and parts.out == tmp_path / "parts"
    np.testing.assert_array_equal(parts.labels, np.load(parts.out / "labels.npy"))
    np.testing.assert_array_equal(parts.level_labels, np.load(parts.out / "labels_levels.npy"))
    np.testing.assert_array_equal(parts.labels, parts.level_labels[parts.level])
    manifest = json.loads((parts.out / "parts.json").read_text())
    assert parts.num_parts == manifest["num_parts"] == len(np.unique(parts.labels[parts.labels >= 0]))
    assert (
        list(parts.parts_per_level) == manifest["parts_per_level"]
        and len(parts.level_similarities) == len(parts.parts_per_level) - 1
    )
    assert len(parts.parents) == parts.num_parts
    # recorded, so render and the viewer use these parts
    assert result.workspace.exported_parts_dir() == (tmp_path / "parts").resolve()


def test_render_workspace_reports_the_files_it_wrote(fitted, tmp_path):
    result, labels = fitted
    np.save(tmp_path / "sel.npy", labels == 2)
    out = tmp_path / "views"
    rep = render_workspace(result.workspace, out, RenderConfig(what="selection"), labels=tmp_path / "sel.npy")
    assert isinstance(rep, RenderReport) and rep.out == out and rep.what == "selection" and rep.views == 4
    assert sorted(rep.files) == sorted(p.name for p in out.iterdir())
    assert "instances.json" in rep.files and sum(f.endswith("_labels.png") for f in rep.files) == 4
    assert rep.parts == 1 and rep.annotations >= 1 and rep.source == f"the values in {tmp_path / 'sel.npy'}"


def test_load_workspace_scene(tmp_path):
    from omniseg3d_mesh.io.cameras_json import save_cameras_json
    from omniseg3d_mesh.scene import Camera

    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], np.float32)
    faces = np.array([[0, 1, 2], [1, 3, 2]], np.int32)
    colors = np.arange(12, dtype=np.uint8).reshape(4, 3)
    ws = Workspace(tmp_path / "ws")
    ws.save_geometry(v, faces, colors)
    cams = [Camera.look_at((3, 0, 1), (0, 0, 0), width=32, height=24, name="a.png")]
    save_cameras_json(ws.cameras_path, cams)
    ws.update_scene_info(mesh="m.ply", camera_format="colmap-text")
    scene = load_workspace_scene(ws)
    np.testing.assert_array_equal(scene.vertices, v)
    np.testing.assert_array_equal(scene.faces, faces)
    np.testing.assert_array_equal(scene.colors, colors)
    assert scene.camera_format == "colmap-text" and scene.cameras[0].name == "a.png" and scene.source.name == "m.ply"
    np.testing.assert_allclose(scene.cameras[0].world_to_cam, cams[0].world_to_cam)
