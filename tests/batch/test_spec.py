"""SCENES.yaml / CSV parsing: paths, defaults + overrides, and every error message."""

from __future__ import annotations

from pathlib import Path

import pytest

from omniseg3d_mesh.batch.spec import load_batch_spec
from omniseg3d_mesh.config import DiscretizeConfig, FitConfig


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD_YAML = """\
workspace_root: out
defaults:
  fit: {steps: 20, num_pixels: 64}
  discretize: {min_part_size: 10}
scenes:
  - name: chair
    mesh: chair/mesh.ply
    images: chair/images
    cameras: chair/cameras.json
    masks: chair/masks
    overrides:
      fit: {steps: 5}
  - name: table
    mesh: /abs/table.obj
    images: table/images
    workspace: ws/table
    sam_checkpoint: sam.pth
"""


def test_yaml_paths_defaults_and_overrides(tmp_path):
    spec = load_batch_spec(_write(tmp_path, "SCENES.yaml", GOOD_YAML))
    chair, table = spec.scenes
    assert chair.name == "chair" and chair.mesh == tmp_path / "chair/mesh.ply"
    assert chair.cameras == tmp_path / "chair/cameras.json" and chair.masks == tmp_path / "chair/masks"
    assert chair.workspace == tmp_path / "out/chair"  # workspace_root/<name>
    assert table.mesh == Path("/abs/table.obj") and table.workspace == tmp_path / "ws/table"
    assert table.cameras is None and table.masks is None and table.sam_checkpoint == tmp_path / "sam.pth"
    fit = chair.config("fit")
    assert isinstance(fit, FitConfig) and fit.steps == 5 and fit.num_pixels == 64  # override over defaults
    assert table.config("fit").steps == 20
    assert table.config("discretize") == DiscretizeConfig(min_part_size=10)
    assert spec.scene("table") is table
    with pytest.raises(KeyError, match="no scene named 'sofa'; scenes: chair, table"):
        spec.scene("sofa")


def test_default_workspace_is_beside_the_mesh(tmp_path):
    spec = load_batch_spec(_write(tmp_path, "s.yml", "scenes:\n  - {name: a, mesh: a/m.ply, images: a/img}\n"))
    assert spec.scenes[0].workspace == tmp_path / "a" / "omniseg"


def test_csv(tmp_path):
    text = "name,mesh,images,cameras,masks,workspace\na,a.ply,imgs_a,,masks_a,\n# a comment row\nb,b.ply,imgs_b,cams.json,,wb\n"
    spec = load_batch_spec(_write(tmp_path, "scenes.csv", text))
    a, b = spec.scenes
    assert a.cameras is None and a.masks == tmp_path / "masks_a" and a.workspace == tmp_path / "omniseg"
    assert b.cameras == tmp_path / "cams.json" and b.masks is None and b.workspace == tmp_path / "wb"
    assert a.config("fit") == FitConfig()


@pytest.mark.parametrize(
    "text, match",
    [
        (
            "scenes:\n  - name: a\n    images: i\n",
            r"s\.yaml, line 2 \(scene 'a'\): 'mesh' is required but missing; fix: add 'mesh: \.\.\.'",
        ),
        (
            "scenes:\n  - {name: a, mesh: m, images: i}\n  - {name: a, mesh: n, images: j, workspace: w}\n",
            r"line 3 \(scene 'a'\): scene name 'a' is used twice \(first at .*line 2",
        ),
        (
            "scenes:\n  - {name: a, mesh: d/m, images: i}\n  - {name: b, mesh: d/n, images: j}\n",
            r"line 3 \(scene 'b'\): workspace .*d/omniseg is shared with scene 'a'.*fix: give each scene 'workspace: DIR'",
        ),
        ("scenes:\n  - {name: 'a b', mesh: m, images: i}\n", r"'name' must be a file-name-safe string .* found 'a b'"),
        (
            "scenes:\n  - {name: a, mesh: m, images: i, steps: 3}\n",
            r"line 2 \(scene 'a'\): unknown key\(s\) 'steps'.*config values go under 'overrides",
        ),
        (
            "scenes:\n  - {name: a, mesh: m, images: i, overrides: {fit: {stepz: 3}}}\n",
            r"line 2 \(scene 'a'\): 'overrides.fit': unknown FitConfig field\(s\) stepz; known fields: .*steps",
        ),
        (
            "scenes:\n  - {name: a, mesh: m, images: i, overrides: {fitt: {steps: 3}}}\n",
            r"unknown stage 'fitt' under 'overrides'; expected one of masks, fragments, fit, discretize, render",
        ),
        (
            "scenes:\n  - {name: a, mesh: m, images: i, overrides: [1]}\n",
            r"'overrides' must be a mapping of stage -> \{field: value\}, found list",
        ),
        (
            "scenes:\n  - {name: a, mesh: m, images: i, overrides: {fit: 3}}\n",
            r"'overrides.fit' must be a mapping of field -> value, found int",
        ),
        ("scenes:\n  - {name: a, mesh: 3, images: i}\n", r"'mesh' must be a path, found int 3"),
        (
            "defaults:\n  discretize: {levle: 1}\nscenes:\n  - {name: a, mesh: m, images: i}\n",
            r"s\.yaml, line 2: 'defaults.discretize': unknown DiscretizeConfig field\(s\) levle",
        ),
        ("scenes: []\n", r"'scenes' must be a non-empty list of scenes, found list \[\]"),
        ("defaults: {}\n", r"'scenes' must be a non-empty list of scenes, found nothing"),
        ("scenes:\n  - just_a_name\n", r"scene #1 must be a mapping with name, mesh, images, found str 'just_a_name'"),
        ("- a\n- b\n", r"expected a mapping with a 'scenes:' list at the top level, found list"),
        ("scene:\n  - {name: a}\n", r"unknown top-level key\(s\) 'scene'; expected scenes, defaults, workspace_root"),
        (
            "workspace_root: 3\nscenes:\n  - {name: a, mesh: m, images: i}\n",
            r"'workspace_root' must be a path, found int 3",
        ),
        ("scenes:\n  - {name: a, mesh: m\n", r"s\.yaml, line \d+: not valid YAML"),
    ],
)
def test_yaml_errors(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        load_batch_spec(_write(tmp_path, "s.yaml", text))


@pytest.mark.parametrize(
    "text, match",
    [
        (
            "name,mesh,imgs\na,m,i\n",
            r"scenes\.csv, line 1: expected a header with the columns name,mesh,images .* found 'name,mesh,imgs' \(unknown: imgs\) \(missing: images\)",
        ),
        ("name,mesh,images\na,m\n", r"scenes\.csv, line 2: expected 3 cells \(name,mesh,images\), found 2"),
        ("name,mesh,images\n,m,i\n", r"scenes\.csv, line 2: 'name' is required but missing"),
        ("name,mesh,images\n", r"no scenes after the header"),
        ("\n", r"empty CSV"),
    ],
)
def test_csv_errors(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        load_batch_spec(_write(tmp_path, "scenes.csv", text))


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"scenes file .*nope\.yaml not found; fix: pass a SCENES\.yaml"):
        load_batch_spec(tmp_path / "nope.yaml")
    with pytest.raises(ValueError, match=r"expected a \.yaml, \.yml or \.csv scenes file, found suffix '\.txt'"):
        load_batch_spec(_write(tmp_path, "s.txt", "scenes: []"))
