"""The stage registry: fingerprints, 'is done' checks, resources, and each error message."""

from __future__ import annotations

from pathlib import Path

import pytest

from omniseg3d_mesh.batch import (
    BatchOptions,
    ResourcePlan,
    Stage,
    StageTask,
    default_registry,
    load_batch_spec,
    run_batch,
)
from omniseg3d_mesh.batch.stages import clear_marker, is_done, read_marker, write_marker
from omniseg3d_mesh.workspace import atomic_save_npz


@pytest.fixture
def scene(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(b"x")
    (tmp_path / "m.ply").write_bytes(b"ply")
    (tmp_path / "S.yaml").write_text("scenes:\n  - {name: a, mesh: m.ply, images: img, workspace: ws}\n")
    return load_batch_spec(tmp_path / "S.yaml").scenes[0]


def test_fingerprint_errors_name_the_fix(scene, tmp_path):
    reg = default_registry()
    with pytest.raises(
        ValueError,
        match=r"line 2 \(scene 'a'\): mask generation needs a Segment Anything checkpoint, found no 'sam_checkpoint:'",
    ):
        reg["masks"].fingerprint(scene)
    with pytest.raises(
        ValueError, match=r"fit needs masks, found neither 'masks:' nor generated masks .* nor a 'sam_checkpoint:'"
    ):
        reg["fit"].fingerprint(scene)
    with pytest.raises(
        FileNotFoundError, match=r"discretize needs a fitted field, found no .*field\.npz; fix: run the fit stage first"
    ):
        reg["discretize"].fingerprint(scene)
    atomic_save_npz(tmp_path / "ws" / "field.npz", features=[[1.0]])
    with pytest.raises(
        FileNotFoundError,
        match=r"render needs the parts of discretize, found no .*parts; fix: run the discretize stage first",
    ):
        reg["render"].fingerprint(scene)
    scene.masks = tmp_path / "nomasks"
    with pytest.raises(FileNotFoundError, match=r"masks .*nomasks not found; fix 'masks:' in the scenes file"):
        reg["fit"].fingerprint(scene)
    scene.images = tmp_path / "noimg"
    with pytest.raises(FileNotFoundError, match=r"images folder .*noimg not found; fix 'images:' in the scenes file"):
        reg["fit"].fingerprint(scene)


def test_masks_chunks_need_images(scene, tmp_path):
    (tmp_path / "img" / "a.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"no images \(\.png, .*\) in .*img; fix 'images:'"):
        default_registry()["masks"].chunks(StageTask("masks", scene))


def test_fit_fingerprint_follows_inputs(scene, tmp_path):
    fit = default_registry()["fit"]
    scene.masks = tmp_path / "img"
    a = fit.fingerprint(scene)
    assert fit.fingerprint(scene) == a
    (tmp_path / "m.ply").write_bytes(b"ply2")
    assert fit.fingerprint(scene)["mesh"] != a["mesh"]
    scene.overrides = {"fit": {"steps": 7}}
    assert fit.fingerprint(scene)["fit"]["steps"] == 7


def test_marker_and_is_done(scene, tmp_path):
    stage = default_registry()["discretize"]
    assert not is_done(stage, scene, "h1")
    write_marker(scene, "discretize", "h1", seconds=1.0)
    assert not is_done(stage, scene, "h1")  # the marker alone is not enough: parts/ is missing
    (tmp_path / "ws" / "parts").mkdir()
    assert is_done(stage, scene, "h1") and not is_done(stage, scene, "h2")
    clear_marker(scene, ["discretize"])
    assert read_marker(scene) == {} and not is_done(stage, scene, "h1")
    (tmp_path / "ws" / "batch.json").write_text("{not json")
    assert read_marker(scene) == {}


def test_resources_declared_per_task():
    reg = default_registry()
    cpu = ResourcePlan(gpus=False, cpus_per_fit=2)
    gpu = ResourcePlan(gpus=True, gpus_per_fit=0.5)
    assert reg["fit"].resources(cpu) == {"num_cpus": 2}
    assert reg["fit"].resources(gpu) == {"num_gpus": 0.5, "num_cpus": 1}
    assert reg["masks"].resources(gpu) == {"num_gpus": 1, "num_cpus": 1}
    assert reg["masks"].resources(cpu) == {"num_cpus": 1}
    assert reg["discretize"].resources(gpu) == {"num_cpus": 1} == reg["render"].resources(gpu)


def test_stage_definition_errors():
    fp = lambda scene: {}  # noqa: E731
    out = lambda scene: []  # noqa: E731
    with pytest.raises(ValueError, match=r"stage 'x': give either run \(one task per scene\) or run_chunk"):
        Stage("x", fp, out)
    with pytest.raises(ValueError, match=r"stage 'x': a chunked stage needs chunks and load_model besides run_chunk"):
        Stage("x", fp, out, run_chunk=lambda m, t, c: None)


def test_run_batch_argument_errors(scene, tmp_path):
    spec = load_batch_spec(tmp_path / "S.yaml")
    with pytest.raises(ValueError, match=r"unknown stage\(s\) fitt; expected some of masks, fit, discretize, render"):
        run_batch(spec, BatchOptions(stages=("fitt",)))
    with pytest.raises(ValueError, match=r"executor must be 'ray' or 'local', found 'dask'"):
        run_batch(spec, BatchOptions(executor="dask"))  # type: ignore[arg-type]


def test_chunked_stage_with_no_chunks_fails_the_scene(scene, tmp_path):
    spec = load_batch_spec(tmp_path / "S.yaml")
    reg = {
        "m": Stage(
            "m",
            lambda s: {},
            lambda s: [],
            load_model=lambda t: None,
            chunks=lambda t: [],
            run_chunk=lambda m, t, c: None,
        )
    }
    report = run_batch(spec, BatchOptions(stages=("m",), executor="local"), registry=reg)
    assert report.failed_scenes() == {"a": f"m: ValueError: {scene.where}: stage m found nothing to do (no chunks)"}


def test_masks_chunk_reports_sam_failures(scene, tmp_path, monkeypatch):
    from omniseg3d_mesh.batch import stages
    from omniseg3d_mesh.masks import sam

    calls = []

    def fake_generate(images_dir, checkpoint, out_dir, config=None, progress=None, *, images=None, model=None):
        calls.append(list(images))
        return {
            "done": 0,
            "skipped": 0,
            "masks": 0,
            "failed": 1,
            "failures": [{"image": "a.png", "error": "cannot identify image file"}],
        }

    monkeypatch.setattr(sam, "generate_masks", fake_generate)
    with pytest.raises(
        RuntimeError, match=r"\(scene 'a'\): SAM failed on 1 image\(s\): a\.png: cannot identify image file"
    ):
        stages._masks_run_chunk(None, StageTask("masks", scene), ["a.png"])
    assert calls == [["a.png"]]


def test_list_images_needs_the_folder(scene, tmp_path):
    from omniseg3d_mesh.batch.stages import list_images

    assert [p.name for p in list_images(scene)] == ["a.png"]
    scene.images = tmp_path / "gone"
    with pytest.raises(FileNotFoundError, match=r"images folder .*gone not found; fix 'images:' in the scenes file"):
        list_images(scene)


def test_ray_executor_without_ray_names_the_extra(scene, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    spec = load_batch_spec(tmp_path / "S.yaml")
    with pytest.raises(
        ImportError,
        match=r"the ray executor of `omniseg-mesh batch` \(or use --executor local\) needs .*'ray'.*pip install -e \"\.\[ray\]\"",
    ):
        run_batch(spec, BatchOptions(executor="ray"))


def test_masks_stage_loads_sam_once_per_worker(tmp_path, monkeypatch):
    """The worker loads SAM once and passes it to generate_masks(model=) for every chunk."""
    from omniseg3d_mesh.masks import sam

    for s in ("a", "b"):
        (tmp_path / s / "img").mkdir(parents=True)
        for k in range(3):
            (tmp_path / s / "img" / f"v{k}.png").write_bytes(b"x")
    (tmp_path / "sam.pth").write_bytes(b"weights")
    (tmp_path / "S.yaml").write_text(
        "scenes:\n"
        "  - {name: a, mesh: a/m.ply, images: a/img, workspace: wa, sam_checkpoint: sam.pth}\n"
        "  - {name: b, mesh: b/m.ply, images: b/img, workspace: wb, sam_checkpoint: sam.pth}\n"
    )
    loads, calls = [], []

    def fake_load(checkpoint, model="vit_h", device="auto"):
        loads.append(str(checkpoint))
        return "the-model"

    def fake_generate(images_dir, checkpoint, out_dir, config=None, progress=None, *, images=None, model=None):
        calls.append((model, list(images)))
        for name in images:
            (Path(out_dir) / Path(name).stem).mkdir(parents=True, exist_ok=True)
        return {"done": len(images), "skipped": 0, "masks": len(images), "failed": 0, "failures": []}

    monkeypatch.setattr(sam, "load_sam_model", fake_load)
    monkeypatch.setattr(sam, "generate_masks", fake_generate)
    spec = load_batch_spec(tmp_path / "S.yaml")
    report = run_batch(
        spec, BatchOptions(stages=("masks",), executor="local"), registry=default_registry(mask_chunk_size=2)
    )
    assert [r.status for r in report.results] == ["done", "done"]
    assert loads == [str(tmp_path / "sam.pth")]  # once, for 2 scenes x 2 chunks
    assert [c[0] for c in calls] == ["the-model"] * 4 and sum(len(c[1]) for c in calls) == 6
