"""The rough edges a new user hits (issue 15): parts, presets, clicks, exit codes, progress, --help, hints."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest

from omniseg3d_mesh.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ws(tmp_path, box_scene):
    """A workspace with a field whose features are the box labels (so parts = boxes)."""
    from omniseg3d_mesh.field import Field
    from omniseg3d_mesh.io.cameras_json import save_cameras_json
    from omniseg3d_mesh.workspace import Workspace

    scene, labels = box_scene
    w = Workspace(tmp_path / "ws")
    w.save_geometry(scene.vertices, scene.faces, None)
    rng = np.random.default_rng(0)
    feats = np.eye(3, 8, dtype=np.float32)[labels] + 0.01 * rng.standard_normal((len(labels), 8)).astype(np.float32)
    Field(features=feats).save(w.field_path)
    save_cameras_json(w.cameras_path, scene.cameras)
    return w, scene, labels


def _rendered_ids(folder):
    from omniseg3d_mesh.render.labels import load_label_png

    ids = set()
    for p in sorted(Path(folder).glob("*_labels.png")):
        ids |= set(np.unique(load_label_png(p)).tolist())
    return ids - {-1}


def test_render_uses_the_parts_discretize_exported_and_says_so(ws, tmp_path, capsys):
    w, scene, labels = ws
    custom = tmp_path / "my_parts"
    assert main(["discretize", "--workspace", str(w.root), "--out", str(custom), "--min-part-size", "5"]) == 0
    out = capsys.readouterr()
    assert out.err.rstrip().splitlines()[-1].startswith("next: omniseg-mesh render")
    exported = np.load(custom / "labels.npy")
    # a different labelling in <workspace>/parts must not be used: discretize recorded where it wrote
    w.parts_dir.mkdir()
    np.save(w.parts_dir / "labels.npy", np.full(len(labels), 7, np.int32))
    assert main(["render", "--workspace", str(w.root), "--out", str(tmp_path / "v1"), "--no-overlays"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert f"rendered level 0 of the parts exported to {custom.resolve()}" in err
    assert _rendered_ids(tmp_path / "v1") <= set(np.unique(exported).tolist()) and 7 not in _rendered_ids(
        tmp_path / "v1"
    )
    # --parts DIR picks a folder explicitly
    assert (
        main(
            [
                "render",
                "--workspace",
                str(w.root),
                "--out",
                str(tmp_path / "v2"),
                "--parts",
                str(w.parts_dir),
                "--no-overlays",
            ]
        )
        == 0
    )
    assert f"parts exported to {w.parts_dir}" in " ".join(capsys.readouterr().err.split())
    assert _rendered_ids(tmp_path / "v2") == {7}
    # a level the export does not hold is an error naming the fix, not other ids
    (w.parts_dir / "labels_levels.npy").unlink(missing_ok=True)
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "render",
                "--workspace",
                str(w.root),
                "--out",
                str(tmp_path / "v3"),
                "--parts",
                str(w.parts_dir),
                "--level",
                "3",
            ]
        )
    assert exc.value.code == 1
    assert re.search(
        r"the parts in .*parts hold level 0, not level 3: run `omniseg-mesh discretize --level 3",
        " ".join(capsys.readouterr().err.split()),
    )


def test_render_without_exported_parts_warns_that_it_discretizes(ws, tmp_path, capsys):
    w, scene, labels = ws
    assert main(["render", "--workspace", str(w.root), "--out", str(tmp_path / "v"), "--no-overlays"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "a fresh discretize with default settings (no exported parts in" in err
    assert "run `omniseg-mesh discretize` first, or pass --parts DIR" in err


def test_viewer_shows_the_exported_parts(ws, tmp_path):
    from omniseg3d_mesh.pipeline import discretize_workspace
    from omniseg3d_mesh.viewer.app import step_label
    from omniseg3d_mesh.viewer.state import ViewerState

    w, scene, labels = ws
    discretize_workspace(w, out=tmp_path / "elsewhere")
    state = ViewerState.from_workspace(w)
    np.testing.assert_array_equal(state.parts, np.load(tmp_path / "elsewhere" / "labels.npy"))
    assert state.status()["parts_source"] == str((tmp_path / "elsewhere").resolve())
    with pytest.raises(FileNotFoundError, match="--parts .*nothing: no labels.npy there"):
        ViewerState.from_workspace(w, parts_dir=tmp_path / "nothing")
    # the viewer numbers hierarchy steps as `select --step N` does: 0 = smallest
    assert step_label(0, 3) == "0 of 0..2" and step_label(None, 0) == "-"


def test_render_click_takes_the_select_syntax(ws, tmp_path, capsys):
    w, scene, labels = ws
    base = ["render", "--workspace", str(w.root), "--what", "scores", "--no-overlays"]
    x = ",".join(f"{c:.6f}" for c in scene.vertices[5])
    for k, click in enumerate(["v:5", "5", f"x:{x}"]):
        assert main(base + ["--out", str(tmp_path / f"s{k}"), "--click", click]) == 0
        err = " ".join(capsys.readouterr().err.split())
        assert f"rendered scores of click {click} (vertex 5)" in err
    a, b = (np.asarray(__import__("PIL.Image").Image.open(tmp_path / f"s{k}" / "view_000_scores.png")) for k in (0, 2))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(SystemExit) as exc:
        main(base + ["--out", str(tmp_path / "bad"), "--click", "w:5"])
    assert exc.value.code == 2 and "cannot parse click 'w:5'" in capsys.readouterr().err


def test_presets_ship_in_the_package_and_load_by_name(tmp_path, monkeypatch):
    import tomllib

    from omniseg3d_mesh.config import FitConfig, load_config_file, preset_names, resolve_preset

    pkg = ROOT / "omniseg3d_mesh"
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["omniseg3d_mesh"]
    shipped = {p.relative_to(pkg).as_posix() for pattern in data for p in pkg.glob(pattern)}
    assert {f"configs/{n}.yaml" for n in ("default", "paper", "fast", "sam", "sam_fast")} <= shipped
    assert "py.typed" in shipped and (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert not (ROOT / "configs").exists()  # one home for the presets
    monkeypatch.chdir(tmp_path)  # outside a source checkout
    assert "paper" in preset_names()
    for name in ("paper", "paper.yaml", "configs/paper.yaml"):
        assert resolve_preset(name) == pkg / "configs" / "paper.yaml"
    assert FitConfig(**load_config_file("paper", FitConfig)).steps == 2000


def test_exit_codes_usage_2_runtime_1(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["select", "--click", "v:1", "--out", "a.ply", "--nope"])  # argparse
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["discretize", "--workspace", str(tmp_path), "--config", "nosuchpreset"])
    assert exc.value.code == 2 and "shipped presets" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["discretize", "--workspace", str(tmp_path / "nowhere")])
    assert exc.value.code == 1 and "no fitted field" in capsys.readouterr().err


def test_progress_and_logs_are_plain_lines_off_a_terminal(capsys):
    from omniseg3d_mesh.cli import _ui

    assert not _ui.console.is_terminal  # pytest captures: like a pipe
    cb = _ui._plain_progress(every=3600)
    for i in range(1, 101):
        cb("fit", i, 100, loss=0.5)
    cb("fragments", 1, 7, view="a" * 150)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "fit: 1/100 (1%) loss=0.5 [0s]" and lines[1].startswith("fit: 100/100 (100%)")
    assert lines[2].startswith("fragments: 1/7") and "a" * 150 in lines[2]  # first report of a stage, not wrapped
    assert len(lines) == 3
    _ui.setup_logging(0)
    logging.getLogger("omniseg3d_mesh.test").warning("a long path %s", "/x" * 100)
    err = capsys.readouterr().err
    assert f"warning: a long path {'/x' * 100}\n" in err  # one line, not wrapped
    assert not any(line != line.rstrip() for line in err.splitlines())  # no padding


def test_help_has_one_default_each_and_one_placeholder_style(capsys):
    allowed = {
        "N",
        "X",
        "PX",
        "TEXT",
        "PATH",
        "DIR",
        "FILE",
        "FILE|NAME",
        "CLICK",
        "VIEW",
        "DEVICE",
        "LIST",
        "PORT",
        "ADDRESS",
        "MESH",
        "IMAGES",
        "SCENES",
        "auto|HOST:PORT",
    }
    for name in COMMANDS:
        with pytest.raises(SystemExit):
            main([name, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert not re.search(r"\(default: [^)]*\) \(default:", text), name
        usage = text.split(" options:")[0]
        metavars = set(re.findall(r"--[\w-]+ ([A-Z|:a-z]+[A-Z])\b", usage)) | set(re.findall(r"\[([A-Z_]+)\]", usage))
        assert metavars <= allowed, (name, metavars - allowed)
        assert "WORKSPACE" not in text and "SCENE_SEED" not in text


def test_batch_keeps_rays_own_logs_out_unless_asked(monkeypatch):
    from omniseg3d_mesh import _deps
    from omniseg3d_mesh.batch.runner import BatchOptions, _RayExecutor

    calls = []

    class FakeRay:
        def is_initialized(self):
            return False

        def init(self, **kw):
            calls.append(kw)

        def remote(self, f):
            return f

    monkeypatch.setattr(_deps, "require", lambda *a, **k: FakeRay())
    _RayExecutor(BatchOptions(executor="ray"))
    _RayExecutor(BatchOptions(executor="ray", verbose=True))
    assert calls[0]["log_to_driver"] is False and calls[0]["logging_level"] == logging.ERROR
    assert calls[1]["log_to_driver"] is True


def test_segmented_ply_has_an_integer_label_per_vertex(tmp_path, box_scene):
    import trimesh

    from omniseg3d_mesh.io.export import export_parts

    scene, labels = box_scene
    export_parts(tmp_path / "parts", scene.vertices, scene.faces, None, labels)
    header = (tmp_path / "parts" / "segmented.ply").read_bytes().split(b"end_header")[0].decode()
    assert "property int label" in header
    mesh = trimesh.load(tmp_path / "parts" / "segmented.ply", process=False)
    raw = mesh.metadata["_ply_raw"]["vertex"]["data"]
    np.testing.assert_array_equal(np.asarray(raw["label"]).ravel(), labels)
    assert len(mesh.vertices) == len(labels)  # process=False keeps the vertex ids
