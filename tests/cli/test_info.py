"""``omniseg-mesh info`` in-process on small scenes written to tmp_path."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from omniseg3d_mesh.cli import main
from omniseg3d_mesh.io.example import write_example_scene


def _coverage(text: str) -> float:
    m = re.search(r"coverage\s*│\s*([\d.]+)% of (vertices|points) seen", text)
    assert m, text
    return float(m.group(1)) / 100


def test_info_on_example_scene(tmp_path, capsys):
    mesh, images = write_example_scene(tmp_path, num_views=6, width=64, height=48)
    assert main(["info", str(mesh), str(images)]) == 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert re.search(r"vertices\s*│\s*294", text) and re.search(r"faces\s*│\s*576", text)
    assert re.search(r"camera format\s*│\s*cameras\.json", text)
    assert re.search(r"views\s*│\s*6", text) and "64x48 (6)" in text
    # the box bottoms rest on the floor and are hidden; everything else is seen
    assert 0.8 < _coverage(text) < 1.0
    assert "warning" not in text

    from omniseg3d_mesh.io.geometry import load_scene
    from omniseg3d_mesh.render.coverage import scene_coverage

    cov = scene_coverage(load_scene(mesh, images))
    assert abs(cov.fraction - _coverage(text)) < 1e-3
    # the inside of the floor's underside (z = -0.1) is never seen; its rim is (the floor's sides)
    v = load_scene(mesh).vertices
    underside = np.isclose(v[:, 2], -0.1) & (np.abs(v[:, :2]).max(axis=1) < 1.9)
    assert underside.sum() >= 5 and not cov.seen[underside].any()


def test_info_warns_on_cameras_facing_away(tmp_path, capsys):
    mesh, images = write_example_scene(tmp_path, num_views=4, width=48, height=36)
    doc = json.loads((tmp_path / "cameras.json").read_text())
    for view in doc["views"]:  # OpenGL camera axes read as OpenCV: the camera turns around
        w2c = np.asarray(view["world_to_cam"])
        view["world_to_cam"] = (np.diag([1.0, -1, -1, 1]) @ w2c).tolist()
    (tmp_path / "cameras.json").write_text(json.dumps(doc))
    assert main(["info", str(mesh), str(images)]) == 0
    text = "".join(capsys.readouterr())
    assert _coverage(text) == 0.0
    assert "no camera sees the geometry (all rays miss)" in " ".join(text.split())
    assert "OpenGL-vs-OpenCV" in " ".join(text.split())


def test_info_warns_on_low_coverage_and_blind_views(tmp_path, capsys):
    mesh, images = write_example_scene(tmp_path, num_views=2, width=48, height=36)
    doc = json.loads((tmp_path / "cameras.json").read_text())
    from omniseg3d_mesh.scene import Camera

    close = Camera.look_at((0.7, -1.2, 0.5), (0.7, 0, 0.5), width=48, height=36, fov_y_deg=30)
    doc["views"][0]["world_to_cam"] = close.world_to_cam.tolist()  # sees a bit of box B
    doc["views"][1]["world_to_cam"] = np.linalg.inv(
        Camera.look_at((0, 0, 5), (0, 0, 10)).cam_to_world
    ).tolist()  # looks up
    (tmp_path / "cameras.json").write_text(json.dumps(doc))
    assert main(["info", str(mesh), str(images)]) == 0
    text = " ".join("".join(capsys.readouterr()).split())
    assert "1 of 2 views see nothing (view_001.png)" in text
    assert "low coverage: only" in text


def test_info_point_mode_and_example_flag(tmp_path, capsys):
    mesh, images = write_example_scene(tmp_path, num_views=4, width=48, height=36)
    assert main(["info", str(mesh), str(images), "--point-mode"]) == 0
    text = "".join(capsys.readouterr())
    assert re.search(r"points\s*│\s*294", text)
    assert 0.5 < _coverage(text) <= 1.0
    assert main(["info", "--example", "--coverage-size", "64"]) == 0
    text = "".join(capsys.readouterr())
    assert "example scene written to" in text and _coverage(text) > 0.8


def test_info_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["info"])
    assert exc.value.code == 2
    assert "info needs MESH and IMAGES/" in capsys.readouterr().err
    mesh, images = write_example_scene(tmp_path, num_views=2, width=32, height=24)
    with pytest.raises(SystemExit):
        main(["info", str(mesh), str(images), "--world-transform", str(tmp_path / "T.txt")])
    assert "world transform file" in " ".join(capsys.readouterr().err.split())


def test_info_hints_at_unit_mismatch(tmp_path, capsys):
    mesh, images = write_example_scene(tmp_path, num_views=4, width=48, height=36)
    from omniseg3d_mesh.io.geometry import load_geometry, save_ply

    v, f, c = load_geometry(mesh)
    save_ply(mesh, v * 1000.0, f, c)  # the mesh in millimetres, cameras in metres
    assert main(["info", str(mesh), str(images)]) == 0
    text = " ".join("".join(capsys.readouterr()).split())
    assert "low coverage" in text
    assert "times the size of the camera rig: different units (mm vs m)" in text
    # cameras far away from a normalised scene: nothing is seen, and the hint says why
    save_ply(mesh, v * 1000.0 + [0, 0, 5000.0], f, c)
    assert main(["info", str(mesh), str(images)]) == 0
    text = " ".join("".join(capsys.readouterr()).split())
    assert "no camera sees the geometry" in text
    assert "times the size of the camera rig (different units" in text
