"""A fit checkpoint from someone else's workspace must never run code (issue 15, security)."""

from __future__ import annotations

import io
import logging
import os
import shlex

import numpy as np
import pytest

from omniseg3d_mesh.config import FitConfig
from omniseg3d_mesh.fit import _load_checkpoint, fit_field
from omniseg3d_mesh.workspace import Workspace

CFG = FitConfig(steps=6, num_pixels=128, lr=0.03, checkpoint_every=2, device="cpu", num_threads=1)


@pytest.fixture
def box_masks(box_scene):
    from omniseg3d_mesh.render.fragments import compute_fragments

    scene, labels = box_scene
    masks = {}
    for cam in scene.cameras:
        dom = compute_fragments(scene, cam, "cpu").dominant_vertex()
        lab = np.where(dom >= 0, labels[np.clip(dom, 0, None)], -1)
        masks[cam.name] = np.stack([lab == k for k in range(3)])
    return scene, masks


class _RunsCode:
    """Pickles to ``os.system(cmd)``: what a hostile ``fit.pt`` would contain."""

    def __init__(self, cmd: str):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def _crafted_checkpoint(marker) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save({"format": 2, "key": "x", "step": 4, "payload": _RunsCode(f"touch {shlex.quote(str(marker))}")}, buf)
    return buf.getvalue()


def test_crafted_checkpoint_would_run_code_when_unpickled(tmp_path):
    """The test file is a real threat: loading it the old way (weights_only=False) runs the command."""
    import torch

    marker = tmp_path / "proof_it_runs"
    torch.load(io.BytesIO(_crafted_checkpoint(marker)), weights_only=False)
    assert marker.exists()


def test_crafted_checkpoint_is_refused_and_fit_starts_over(box_masks, tmp_path, caplog):
    scene, masks = box_masks
    marker = tmp_path / "pwned"
    ws = Workspace(tmp_path / "ws")
    ckpt = ws.checkpoints_dir / "fit.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(_crafted_checkpoint(marker))

    assert _load_checkpoint(ckpt, "x") is None
    assert not marker.exists()
    assert f"refusing fit checkpoint {ckpt}" in caplog.text and "could run code" in caplog.text
    assert "posix.system" in caplog.text and "nothing in it was run" in caplog.text

    caplog.clear()
    steps = []
    with caplog.at_level(logging.WARNING, logger="omniseg3d_mesh"):
        field = fit_field(scene, masks, CFG, workspace=ws, progress=lambda s, d, t, **i: s == "fit" and steps.append(d))
    assert not marker.exists()
    assert "refusing fit checkpoint" in caplog.text and "the fit starts over" in caplog.text
    assert steps and steps[-1] == CFG.steps and field.meta["steps_done"] == CFG.steps
    # the fit starts over: the same field as a fit without any checkpoint
    fresh = fit_field(scene, masks, CFG, workspace=Workspace(tmp_path / "fresh"))
    np.testing.assert_array_equal(field.features, fresh.features)


def test_checkpoint_holds_only_tensors_numbers_and_strings(box_masks, tmp_path):
    """What fit writes loads with weights_only=True and resumes (the Adam state round-trips)."""
    import torch

    scene, masks = box_masks
    ws = Workspace(tmp_path)
    fit_field(scene, masks, CFG, workspace=ws)
    raw = torch.load(ws.checkpoints_dir / "fit.pt", weights_only=True)
    assert all(isinstance(v, (torch.Tensor, int, float, str)) for v in raw.values())
    assert any(k.startswith("state.0.exp_avg") for k in raw)
