"""``omniseg-mesh demo`` end to end, shrunk (tiny views, few steps)."""

from __future__ import annotations

import numpy as np
import pytest

from omniseg3d_mesh.cli import main


def test_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    rc = main(
        [
            "demo",
            "--out",
            str(out),
            "--views",
            "3",
            "--width",
            "80",
            "--height",
            "60",
            "--steps",
            "30",
            "--num-pixels",
            "512",
        ]
    )
    assert rc == 0
    assert (out / "scene" / "mesh.ply").is_file()
    assert sorted(p.name for p in (out / "scene" / "images").iterdir()) == [
        "view_000.png",
        "view_001.png",
        "view_002.png",
    ]
    assert (out / "scene" / "masks" / "view_000" / "metadata.csv").is_file()
    assert (out / "workspace" / "field.npz").is_file()
    labels = np.load(out / "parts" / "labels.npy")
    with np.load(out / "scene" / "gt_labels.npz") as gt:
        assert labels.shape == gt["part"].shape
    from PIL import Image

    sheet = Image.open(out / "demo_sheet.png")
    assert sheet.size[0] == 3 * 80 and sheet.size[1] >= 2 * 60
    printed = capsys.readouterr().out
    assert "2D masks only" in printed and "Level 2" in printed


def test_demo_help_is_light():
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
