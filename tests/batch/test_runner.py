"""The batch runner on a local Ray (2 CPUs, started once for this module) and sequentially.

Three tiny scenes, one broken on purpose (its mesh is missing): two finish, the
broken one is reported with a clear error; a second run skips the finished work; a
worker killed during a fit is retried and its scene completes; the mask stage's
model is loaded once per actor.
"""

from __future__ import annotations

import functools
import json
import os
import re
import uuid
from pathlib import Path

import numpy as np
import pytest

from omniseg3d_mesh.batch import BatchOptions, Stage, default_registry, load_batch_spec, run_batch
from omniseg3d_mesh.batch.stages import list_images, read_marker
from omniseg3d_mesh.workspace import Workspace, atomic_directory, atomic_save_npz, atomic_write_json, atomic_write_text

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance with 2 CPUs for the whole module (each start costs seconds)."""
    import sys

    # the test stages live in this module, which Ray workers cannot import: ship them by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024 * 1024, log_to_driver=False)
    yield ray
    ray.shutdown()


# --------------------------------------------------------------------------- synthetic scenes
def _make_scene_files(root: Path, name: str, seed: int) -> dict:
    """A tiny box scene on disk: mesh.ply, images/, masks/ (one file per view)."""
    import trimesh

    d = root / name
    (d / "images").mkdir(parents=True)
    (d / "masks").mkdir()
    box = trimesh.creation.box(extents=(1.0 + 0.1 * seed, 1.0, 1.0))
    box.export(d / "mesh.ply")
    for k in range(3):
        (d / "images" / f"view_{k:03d}.png").write_bytes(b"png" + bytes([seed, k]))
        np.save(d / "masks" / f"view_{k:03d}.npy", np.zeros((2, 4, 4), bool))
    return {"name": name, "mesh": f"{name}/mesh.ply", "images": f"{name}/images", "masks": f"{name}/masks"}


def _write_spec(root: Path, broken: str | None = "broken", n_good: int = 2, extra: dict | None = None) -> Path:
    import yaml

    scenes = [_make_scene_files(root, f"scene{i}", i) for i in range(n_good)]
    if broken:
        entry = _make_scene_files(root, broken, 9)
        (root / entry["mesh"]).unlink()  # broken on purpose: the mesh file is missing
        scenes.insert(1, entry)
    for s in scenes:
        s.update(extra or {})
    spec = {"workspace_root": "ws", "defaults": {"fit": {"steps": 3}}, "scenes": scenes}
    path = root / "SCENES.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


# --------------------------------------------------------------------------- test stages
def _fake_fit(task) -> dict:
    """Stands in for fit: a 'field' that depends on the mesh bytes and the config."""
    mesh = Path(task.scene.mesh).read_bytes()
    steps = task.scene.config("fit").steps
    feats = np.frombuffer(mesh[:64].ljust(64, b"\0"), np.uint8).astype(np.float32).reshape(4, 16) * steps
    ws = Workspace(task.scene.workspace)
    atomic_save_npz(ws.field_path, features=feats)
    ws.save_geometry(np.zeros((4, 3), np.float32), None, None)
    atomic_write_json(ws.cameras_path, {"views": []})
    return {"pid": os.getpid()}


def _fake_discretize(task) -> dict:
    feats = np.load(Workspace(task.scene.workspace).field_path)["features"]
    with atomic_directory(Workspace(task.scene.workspace).parts_dir) as tmp:
        atomic_write_json(tmp / "manifest.json", {"parts": int(feats.shape[0])})
    return {"parts": int(feats.shape[0])}


def _crash_once_then(marker: str, inner, task):
    """Kill the worker process the first time (leaving a marker), then run ``inner``."""
    if not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os._exit(1)
    return inner(task)


def _raise_after_partial_write(task):
    ws = Workspace(task.scene.workspace)
    with atomic_directory(ws.parts_dir) as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("discretize blew up")


def _registry(fit_run=_fake_fit, discretize_run=_fake_discretize) -> dict[str, Stage]:
    reg = default_registry()
    reg["fit"] = reg["fit"].replace(run=fit_run)
    reg["discretize"] = reg["discretize"].replace(run=discretize_run)
    return reg


def _statuses(report) -> dict[tuple[str, str], str]:
    return {(r.scene, r.stage): r.status for r in report.results}


STAGES = ("masks", "fit", "discretize")


# --------------------------------------------------------------------------- tests
def _check_broken_batch(tmp_path: Path, executor: str) -> None:
    spec_path = _write_spec(tmp_path)
    spec = load_batch_spec(spec_path)
    events = []
    report = run_batch(
        spec,
        BatchOptions(stages=STAGES, executor=executor, max_retries=1),
        registry=_registry(),
        progress=lambda stage, done, total, **info: events.append((stage, done, total, info)),
        report_path=tmp_path / "report.json",
    )
    st = _statuses(report)
    for good in ("scene0", "scene1"):
        assert st[(good, "masks")] == "skipped"  # masks given in the spec
        assert st[(good, "fit")] == "done" and st[(good, "discretize")] == "done"
        assert (tmp_path / "ws" / good / "parts" / "manifest.json").is_file()
        assert set(read_marker(spec.scene(good))) == {"fit", "discretize"}
    assert st[("broken", "fit")] == "failed" and st[("broken", "discretize")] == "blocked"
    assert list(report.failed_scenes()) == ["broken"]
    assert re.fullmatch(
        rf"fit: FileNotFoundError: {re.escape(str(spec_path))}, line \d+ \(scene 'broken'\): mesh file "
        rf"{re.escape(str(tmp_path / 'broken' / 'mesh.ply'))} not found; fix 'mesh:' in the scenes file",
        report.failed_scenes()["broken"],
    )
    assert not (tmp_path / "ws" / "broken" / "field.npz").exists()
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["summary"]["fit"] == {"done": 2, "failed": 1}
    assert {(r["scene"], r["stage"], r["status"]) for r in saved["results"]} >= {("broken", "fit", "failed")}
    assert all(set(r) >= {"scene", "stage", "seconds", "status", "error"} for r in saved["results"])
    # progress: one final event per stage with every scene accounted for
    last = {stage: info for stage, done, total, info in events if done == total}
    assert last["fit"] == {"completed": 2, "skipped": 0, "failed": 1, "blocked": 0}
    assert last["discretize"]["blocked"] == 1

    # a second run skips the finished work, and still reports the broken scene
    again = run_batch(spec, BatchOptions(stages=STAGES, executor=executor), registry=_registry())
    st2 = _statuses(again)
    assert all(st2[(g, s)] == "skipped" for g in ("scene0", "scene1") for s in ("fit", "discretize"))
    assert {r.note for r in again.results if r.scene == "scene0" and r.stage == "fit"} == {"up to date"}
    assert st2[("broken", "fit")] == "failed"

    # changing a scene's config re-runs exactly that scene's fit and discretize
    text = spec_path.read_text().replace("name: scene1\n", "name: scene1\n  overrides: {fit: {steps: 4}}\n")
    spec_path.write_text(text)
    third = run_batch(load_batch_spec(spec_path), BatchOptions(stages=STAGES, executor=executor), registry=_registry())
    st3 = _statuses(third)
    assert st3[("scene0", "fit")] == "skipped" and st3[("scene1", "fit")] == "done" and st3[("scene1", "discretize")] == "done"


def test_ray_broken_scene_is_reported_and_rerun_skips(tmp_path, local_ray):
    _check_broken_batch(tmp_path, "ray")


def test_local_executor_same_behaviour(tmp_path):
    _check_broken_batch(tmp_path, "local")


def test_ray_killed_worker_is_retried(tmp_path, local_ray):
    spec = load_batch_spec(_write_spec(tmp_path, broken=None, n_good=1))
    marker = tmp_path / "crashed.pid"
    fit_run = functools.partial(_crash_once_then, str(marker), _fake_fit)
    report = run_batch(spec, BatchOptions(stages=("fit", "discretize"), executor="ray", max_retries=2), registry=_registry(fit_run))
    assert marker.is_file()  # the first attempt really died
    assert _statuses(report) == {("scene0", "fit"): "done", ("scene0", "discretize"): "done"}

    # with no retries left, the lost worker is reported as the scene's error
    marker.unlink()
    report = run_batch(spec, BatchOptions(stages=("fit",), executor="ray", max_retries=0, rerun=True), registry=_registry(fit_run))
    (row,) = report.results
    assert row.status == "failed" and row.error.startswith("worker died 1 time(s) (retried 0x)")
    assert "fit" not in read_marker(spec.scene("scene0"))  # a failed stage leaves no marker


def test_failed_stage_leaves_nothing_half_written(tmp_path, local_ray):
    spec = load_batch_spec(_write_spec(tmp_path, broken=None, n_good=1))
    report = run_batch(spec, BatchOptions(stages=("fit", "discretize"), executor="ray"),
                       registry=_registry(discretize_run=_raise_after_partial_write))
    st = _statuses(report)
    assert st[("scene0", "fit")] == "done" and st[("scene0", "discretize")] == "failed"
    assert report.failed_scenes()["scene0"] == "discretize: RuntimeError: discretize blew up"
    ws = tmp_path / "ws" / "scene0"
    assert not ws.joinpath("parts").exists() and not [p for p in ws.iterdir() if p.name.startswith(".parts")]
    assert set(read_marker(spec.scene("scene0"))) == {"fit"}


# --------------------------------------------------------------------------- chunked (mask) stage
def _load_counting_model(loads_dir: str, task):
    atomic_write_text(Path(loads_dir) / f"{os.getpid()}-{uuid.uuid4().hex}", "loaded")
    return {"pid": os.getpid()}


def _masks_chunk(model, task, chunk):
    out = Workspace(task.scene.workspace).masks_dir
    for name in chunk:
        atomic_write_json(out / f"{name}.json", {"by": model["pid"]})
    return {"images": len(chunk)}


def _chunk_registry(loads_dir: Path) -> dict[str, Stage]:
    reg = _registry()
    reg["masks"] = Stage(
        name="masks",
        fingerprint=lambda scene: {"images": [p.name for p in list_images(scene)]},
        outputs=lambda scene: [Workspace(scene.workspace).masks_dir],
        load_model=functools.partial(_load_counting_model, str(loads_dir)),
        model_key=lambda task: "fake-sam",
        chunks=lambda task: [[p.name for p in list_images(task.scene)][i : i + 2] for i in range(0, 3, 2)],
        run_chunk=_masks_chunk,
    )
    return reg


@pytest.mark.parametrize("executor", ["ray", "local"])
def test_chunked_stage_loads_model_once_per_worker(tmp_path, executor, request):
    if executor == "ray":
        request.getfixturevalue("local_ray")
    spec = load_batch_spec(_write_spec(tmp_path, broken=None, n_good=2))
    loads = tmp_path / "loads"
    loads.mkdir()
    report = run_batch(spec, BatchOptions(stages=("masks",), executor=executor, mask_workers=1), registry=_chunk_registry(loads))
    assert _statuses(report) == {("scene0", "masks"): "done", ("scene1", "masks"): "done"}
    assert len(list(loads.iterdir())) == 1  # 2 scenes x 2 chunks, one model load
    for s in ("scene0", "scene1"):
        assert len(list((tmp_path / "ws" / s / "masks").glob("*.json"))) == 3
