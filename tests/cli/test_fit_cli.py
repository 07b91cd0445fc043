"""``omniseg-mesh fit`` in-process on the small example scene written to tmp_path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from omniseg3d_mesh.cli import main
from omniseg3d_mesh.config import FitConfig


def _write_masks(mesh, images, out):
    """Per view: one mask per box and one for the floor, from the rendered GT labels."""
    from omniseg3d_mesh.io.example import box_scene_geometry
    from omniseg3d_mesh.io.geometry import load_scene
    from omniseg3d_mesh.io.masks import mask_key, save_masks_npz
    from omniseg3d_mesh.render.fragments import compute_fragments

    labels = box_scene_geometry()[3]
    scene = load_scene(mesh, images)
    for cam in scene.cameras:
        dom = compute_fragments(scene, cam, "cpu").dominant_vertex()
        lab = np.where(dom >= 0, labels[np.clip(dom, 0, None)], -1)
        save_masks_npz(out / f"{mask_key(cam.name)}.npz", np.stack([lab == k for k in range(3)]))
    return scene, labels


def test_fit_cli_writes_workspace(tmp_path, capsys):
    from omniseg3d_mesh.field import Field
    from omniseg3d_mesh.io.example import write_example_scene

    mesh, images = write_example_scene(tmp_path, num_views=6, width=64, height=48)
    masks = tmp_path / "masks"
    masks.mkdir()
    scene, labels = _write_masks(mesh, images, masks)
    ws = tmp_path / "ws"
    argv = [
        "fit",
        str(mesh),
        str(images),
        "--masks",
        str(masks),
        "--workspace",
        str(ws),
        "--config",
        "configs/fast.yaml",
        "--steps",
        "40",
        "--num-pixels",
        "512",
        "--lr",
        "0.03",
        "--device",
        "cpu",
        "--num-threads",
        "1",
        "--checkpoint-every",
        "20",
        "--backend",
        "cpu",
    ]
    assert main(argv) == 0
    text = capsys.readouterr()
    assert "fit ->" in text.out and "field.npz" in text.out
    for name in ("field.npz", "geometry.npz", "cameras.json", "scene.json"):
        assert (ws / name).is_file(), name
    assert len(list((ws / "fragments").glob("*.npz"))) == 6 and len(list((ws / "hierarchy").glob("*.npz"))) == 6
    field = Field.load(ws / "field.npz")
    assert field.features.shape == (scene.num_vertices, FitConfig().feature_dim)
    np.testing.assert_allclose(np.linalg.norm(field.features, axis=1), 1.0, atol=1e-5)
    assert field.meta["config"]["steps"] == 40 and field.meta["config"]["num_pixels"] == 512
    info = json.loads((ws / "scene.json").read_text())
    assert info["camera_format"] and info["num_vertices"] == scene.num_vertices and len(info["fitted_views"]) == 6
    # features are consistent within each box and the floor (separation is tested in tests/test_fit.py)
    f = field.features
    for k in range(3):
        mean = f[labels == k].mean(0)
        assert float((f[labels == k] @ (mean / np.linalg.norm(mean))).mean()) > 0.5
    # a second run reuses the finished checkpoint and gives the same field
    assert main(argv) == 0
    np.testing.assert_array_equal(Field.load(ws / "field.npz").features, f)


def test_fit_cli_without_masks_explains(tmp_path, capsys):
    from omniseg3d_mesh.io.example import write_example_scene

    mesh, images = write_example_scene(tmp_path, num_views=2, width=32, height=24)
    with pytest.raises(SystemExit) as exc:
        main(["fit", str(mesh), str(images), "--workspace", str(tmp_path / "ws")])
    assert exc.value.code == 1  # a run-time failure: no masks found
    assert "--sam-checkpoint" in capsys.readouterr().err
