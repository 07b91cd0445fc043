"""``omniseg-mesh select`` and ``omniseg-mesh discretize`` in-process on a hand-built workspace."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from omniseg3d_mesh.cli import main
from omniseg3d_mesh.field import Field
from omniseg3d_mesh.workspace import Workspace
from tests.helpers.parts import iou, make_part_scene, top_camera


@pytest.fixture(scope="module")
def scene():
    return make_part_scene(40)


@pytest.fixture
def workspace(tmp_path, scene):
    ws = Workspace(tmp_path / "omniseg")
    ws.save_geometry(scene.vertices, scene.faces, scene.colors)
    Field(scene.features, {"version": 1}).save(ws.field_path)
    return ws


def test_discretize_cli(tmp_path, workspace, scene, capsys):
    out = tmp_path / "parts"
    rc = main(
        [
            "discretize",
            "--workspace",
            str(workspace.root),
            "--out",
            str(out),
            "--level",
            "1",
            "--min-part-size",
            "10",
            "--format",
            "obj",
        ]
    )
    assert rc == 0
    doc = json.loads((out / "parts.json").read_text())
    assert doc["num_parts"] == 4 and doc["format"] == "obj" and doc["config"]["min_part_size"] == 10
    assert adjusted_rand_score(scene.object, np.load(out / "labels.npy")) >= 0.9
    assert all((out / p["file"]).is_file() for p in doc["parts"])
    assert "hierarchy levels" in capsys.readouterr().out


def test_discretize_cli_default_workspace(tmp_path, workspace, monkeypatch):
    monkeypatch.chdir(tmp_path)  # ./omniseg is where `fit` writes by default
    assert main(["discretize", "--min-part-size", "10"]) == 0
    assert (workspace.parts_dir / "parts.json").is_file()


def test_select_cli_step(tmp_path, workspace, scene, capsys):
    out = tmp_path / "sel.ply"
    v = scene.vertex_in(2)
    assert (
        main(["select", "--workspace", str(workspace.root), "--click", f"v:{v}", "--step", "1", "--out", str(out)]) == 0
    )
    mask = np.load(tmp_path / "sel.mask.npy")
    assert iou(mask, scene.object == 1) >= 0.9
    assert out.is_file()
    text = capsys.readouterr().out
    assert "hierarchy steps" in text and "* 1" in text


def test_select_cli_threshold_negative_no_grow(tmp_path, workspace, scene):
    out = tmp_path / "sel.glb"
    args = ["select", "--workspace", str(workspace.root), "--out", str(out)]
    args += [
        "--click",
        f"v:{scene.vertex_in(1)}",
        "--click",
        f"-v:{scene.vertex_in(2)}",
        "--threshold",
        "0.6",
        "--no-grow",
    ]
    assert main(args) == 0
    assert iou(np.load(tmp_path / "sel.mask.npy"), scene.part == 1) >= 0.9


def test_select_cli_pixel_click(tmp_path, workspace, scene):
    pytest.importorskip("open3d")
    cj = pytest.importorskip("omniseg3d_mesh.io.cameras_json")
    cam = top_camera()
    cj.save_cameras_json(workspace.cameras_path, [cam])
    uv, _ = cam.project(scene.vertices[[scene.vertex_in(6)]])
    out = tmp_path / "sel.ply"
    click = f"p:{cam.name}:{uv[0, 0]:.3f},{uv[0, 1]:.3f}"
    assert main(["select", "--workspace", str(workspace.root), "--click", click, "--out", str(out)]) == 0
    assert iou(np.load(tmp_path / "sel.mask.npy"), scene.part == 6) >= 0.9


def test_cli_errors(tmp_path, workspace, capsys):
    ws = str(workspace.root)
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "select",
                "--workspace",
                ws,
                "--click",
                "v:1",
                "--threshold",
                "0.5",
                "--step",
                "1",
                "--out",
                str(tmp_path / "a.ply"),
            ]
        )
    assert exc.value.code == 2
    assert "give either --threshold or --step, not both" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["select", "--workspace", ws, "--click", "w:1", "--out", str(tmp_path / "a.ply")])
    assert "cannot parse click 'w:1'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["discretize", "--workspace", str(tmp_path / "nowhere")])
    assert "no fitted field" in capsys.readouterr().err


def test_select_cli_step_errors(tmp_path, workspace, capsys):
    base = ["select", "--workspace", str(workspace.root), "--out", str(tmp_path / "a.ply")]
    with pytest.raises(SystemExit):
        main(base + ["--click", "v:5", "--step", "-1"])
    assert "the command line: SelectConfig.step must be >= 0, got -1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(base + ["--click", "v:5", "--click=-v:5"])
    assert "the clicks select nothing" in capsys.readouterr().err
    # a step the click does not have is an error, not silently the last one
    with pytest.raises(SystemExit) as exc:
        main(base + ["--click", "v:5", "--step", "40"])
    assert exc.value.code == 2
    assert re.search(r"--step 40: this click has \d+ step\(s\), numbered 0\.\.\d+", capsys.readouterr().err)
    assert not (tmp_path / "a.ply").exists()
    # a format we cannot write is refused before any work (no field is even loaded)
    with pytest.raises(SystemExit) as exc:
        main(["select", "--workspace", str(tmp_path / "nowhere"), "--click", "v:5", "--out", str(tmp_path / "x.stl")])
    assert exc.value.code == 2
    assert "x.stl must end in .ply, .obj or .glb, got '.stl'" in capsys.readouterr().err
