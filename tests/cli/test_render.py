"""``omniseg-mesh render`` in-process: flags, files, and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from omniseg3d_mesh.cli import main


@pytest.fixture
def workspace(tmp_path, box_scene):
    from omniseg3d_mesh.field import Field
    from omniseg3d_mesh.io.cameras_json import save_cameras_json
    from omniseg3d_mesh.workspace import Workspace

    scene, labels = box_scene
    ws = Workspace(tmp_path / "ws")
    ws.save_geometry(scene.vertices, scene.faces, None)
    save_cameras_json(ws.cameras_path, scene.cameras)
    Field(features=np.eye(3, 4, dtype=np.float32)[labels]).save(ws.field_path)
    ws.parts_dir.mkdir()
    np.save(ws.parts_dir / "labels.npy", labels)
    return ws, scene, labels


def test_help_lists_flags(capsys):
    with pytest.raises(SystemExit):
        main(["render", "--help"])
    text = capsys.readouterr().out
    for flag in ("--workspace", "--out", "--what", "--level", "--views", "--labels", "--click", "--overlay-alpha"):
        assert flag in text


def test_render_parts(workspace, tmp_path):
    from omniseg3d_mesh.render.labels import load_label_png

    ws, scene, labels = workspace
    out = tmp_path / "views"
    names = [c.name for c in scene.cameras[:2]]
    assert main(["render", "--workspace", str(ws.root), "--out", str(out), "--views", *names]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == [
        "instances.json",
        "view_000_labels.png",
        "view_000_overlay.png",
        "view_001_labels.png",
        "view_001_overlay.png",
    ]
    lab = load_label_png(out / "view_000_labels.png")
    assert lab.shape == (scene.cameras[0].height, scene.cameras[0].width)
    assert set(np.unique(lab)) == {-1, 0, 1, 2}


def test_render_selection_and_scores(workspace, tmp_path):
    ws, scene, labels = workspace
    np.save(tmp_path / "sel.npy", labels == 2)
    render = ["render", "--workspace", str(ws.root), "--out"]
    out = tmp_path / "sel"
    view = scene.cameras[0].name
    assert main([*render, str(out), "--what", "selection", "--labels", str(tmp_path / "sel.npy"), "--views", view]) == 0
    assert (out / "view_000_labels.png").is_file()
    out = tmp_path / "scores"
    assert main([*render, str(out), "--what", "scores", "--click", "5", "--no-overlays"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"view_{k:03d}_scores.png" for k in range(len(scene.cameras))]


def test_errors_are_one_line(workspace, tmp_path, capsys):
    ws, _, _ = workspace
    with pytest.raises(SystemExit) as exc:
        main(["render", "--workspace", str(ws.root), "--out", str(tmp_path / "o"), "--what", "selection"])
    assert exc.value.code == 2
    assert "needs the selected vertices" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["render", "--workspace", str(tmp_path / "none"), "--out", str(tmp_path / "o")])
    assert exc.value.code == 1  # a run-time failure: no workspace there
