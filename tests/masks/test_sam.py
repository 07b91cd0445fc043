"""SAM mask generation end to end with a tiny randomly initialised SAM (no weights to download)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")

from omniseg3d_mesh.config import MaskConfig  # noqa: E402
from omniseg3d_mesh.io.masks import load_masks, load_sam_folder, resize_masks, save_masks_npz  # noqa: E402
from omniseg3d_mesh.masks import sam as sam_mod  # noqa: E402
from omniseg3d_mesh.masks.sam import (  # noqa: E402
    build_tiny_sam,
    detect_model_type,
    ensure_masks,
    generate_masks,
    infer_sam_architecture,
    load_sam_model,
    read_sam_checkpoint,
    resolve_device,
)
from omniseg3d_mesh.scene import Camera  # noqa: E402

# thresholds off so that a random network's masks survive; NMS loose to keep several
CFG = MaskConfig(
    model="auto",
    points_per_side=4,
    points_per_batch=16,
    pred_iou_thresh=0.0,
    stability_score_thresh=0.0,
    box_nms_thresh=0.95,
    min_mask_region_area=0,
    max_long_side=64,
    device="cpu",
)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "tiny_sam.pth"
    torch.save(build_tiny_sam(img_size=64, seed=0).state_dict(), path)
    return path


def _image(h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 30, np.uint8)
    for _ in range(3):
        y, x = rng.integers(0, h - h // 3), rng.integers(0, w - w // 3)
        img[y : y + h // 3, x : x + w // 3] = rng.integers(0, 255, 3)
    return img


def _write_images(folder: Path, n=3, h=48, w=64):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(_image(h, w, seed=i)).save(folder / f"img_{i}.png")
    return folder


def _cams(names, w=64, h=48, folder=None):
    return [
        Camera.look_at(
            (0, -3, 1),
            (0, 0, 0),
            width=w,
            height=h,
            fov_y_deg=50,
            name=n,
            image_path=None if folder is None else folder / n,
        )
        for n in names
    ]


def _reference(checkpoint, image, max_long_side=64):
    """What segment-anything's own generator gives for one image (same model, same settings)."""
    from segment_anything import SamAutomaticMaskGenerator

    model = load_sam_model(checkpoint, "auto", "cpu")
    gen = SamAutomaticMaskGenerator(
        model,
        points_per_side=CFG.points_per_side,
        points_per_batch=CFG.points_per_batch,
        pred_iou_thresh=0.0,
        stability_score_thresh=0.0,
        box_nms_thresh=CFG.box_nms_thresh,
        min_mask_region_area=0,
    )
    small = sam_mod._downscale(image, max_long_side)
    anns = gen.generate(small)
    masks = np.stack([a["segmentation"] for a in anns]) if anns else np.zeros((0, *small.shape[:2]), bool)
    return resize_masks(masks, *image.shape[:2]), anns


# --------------------------------------------------------------------------- end to end
def test_generate_masks_end_to_end_reads_back_through_load_masks(tmp_path, tiny_checkpoint):
    images = _write_images(tmp_path / "images")
    calls = []
    report = generate_masks(
        images, tiny_checkpoint, tmp_path / "masks", CFG, progress=lambda *a, **k: calls.append((a, k))
    )
    assert report["total"] == 3 and report["done"] == 3 and report["failed"] == 0 and report["masks"] > 0
    assert report["device"] == "cpu" and report["images_per_s"] > 0
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == ["img_0", "img_1", "img_2"]
    assert calls[-1][0][:3] == ("masks", 3, 3) and "images_per_s" in calls[-1][1]
    loaded = load_masks(tmp_path / "masks", _cams([f"img_{i}.png" for i in range(3)]))
    for i in range(3):
        expected, anns = _reference(tiny_checkpoint, _image(seed=i))
        assert len(expected) > 0
        np.testing.assert_array_equal(loaded[f"img_{i}.png"], expected)
        _, records = load_sam_folder(tmp_path / "masks" / f"img_{i}", with_records=True)
        assert [r["predicted_iou"] for r in records] == pytest.approx([a["predicted_iou"] for a in anns])
        assert [r["area"] for r in records] == [int(m.sum()) for m in expected]


def test_large_images_are_downscaled_and_masks_scaled_back(tmp_path, tiny_checkpoint):
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    big = _image(96, 128, seed=4)
    Image.fromarray(big).save(images / "big.jpg", quality=100)
    report = generate_masks(images, tiny_checkpoint, tmp_path / "masks", CFG)
    assert report["done"] == 1
    masks = load_masks(tmp_path / "masks", _cams(["big.jpg"], w=128, h=96))["big.jpg"]
    read_back = np.asarray(Image.open(images / "big.jpg").convert("RGB"))
    expected, anns = _reference(tiny_checkpoint, read_back, max_long_side=64)  # SAM saw 64x48
    assert masks.shape[1:] == (96, 128)
    np.testing.assert_array_equal(masks, expected)
    _, records = load_sam_folder(tmp_path / "masks" / "big", with_records=True)
    assert records[0]["crop_box"] == [0, 0, 128, 96]  # reported in full-size pixels


def test_second_run_skips_done_images(tmp_path, tiny_checkpoint):
    images = _write_images(tmp_path / "images")
    out = tmp_path / "masks"
    generate_masks(images, tiny_checkpoint, out, CFG)
    before = (out / "img_1" / "metadata.csv").stat().st_mtime_ns
    again = generate_masks(images, None, out, CFG)  # nothing to do: the checkpoint is not even needed
    assert again["skipped"] == 3 and again["done"] == 0
    # an image whose folder is incomplete (no metadata.csv, e.g. amg.py killed) is redone
    for f in (out / "img_2").iterdir():
        if f.name == "metadata.csv":
            f.unlink()
    third = generate_masks(images, tiny_checkpoint, out, CFG)
    assert third["skipped"] == 2 and third["done"] == 1
    assert (out / "img_1" / "metadata.csv").stat().st_mtime_ns == before
    assert (out / "img_2" / "metadata.csv").is_file()


def test_corrupt_image_counted_or_fatal_with_strict(tmp_path, tiny_checkpoint):
    images = _write_images(tmp_path / "images", n=2)
    (images / "bad.png").write_bytes(b"this is not a png")
    report = generate_masks(images, tiny_checkpoint, tmp_path / "masks", CFG)
    assert report["done"] == 2 and report["failed"] == 1
    assert report["failures"][0]["image"].endswith("bad.png") and "cannot read image" in report["failures"][0]["error"]
    assert not (tmp_path / "masks" / "bad").exists()
    strict = replace(CFG, strict=True)
    with pytest.raises(ValueError, match=r"cannot read image .*bad.png.*replace the file or remove it"):
        generate_masks(images, tiny_checkpoint, tmp_path / "masks2", strict)


def test_other_failures_counted_with_hint_or_raised_with_strict(tmp_path, tiny_checkpoint, monkeypatch):
    images = _write_images(tmp_path / "images", n=1)

    def oom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(sam_mod, "_generate_one", oom)
    report = generate_masks(images, tiny_checkpoint, tmp_path / "masks", CFG)
    assert report["failed"] == 1 and "lower --max-long-side or --points-per-batch" in report["failures"][0]["error"]
    strict = replace(CFG, strict=True)
    with pytest.raises(RuntimeError, match="mask generation failed on .*img_0.png: CUDA out of memory"):
        generate_masks(images, tiny_checkpoint, tmp_path / "masks", strict)


# --------------------------------------------------------------------------- checkpoints
def _fake_standard_state(embed_dim=768, depth=12):
    state = {
        "image_encoder.patch_embed.proj.weight": torch.zeros(embed_dim, 3, 1, 1),
        "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix": torch.zeros(2, 2),
        "mask_decoder.mask_tokens.weight": torch.zeros(4, 2),
    }
    for i in range(depth):
        state[f"image_encoder.blocks.{i}.norm1.weight"] = torch.zeros(1)
    return state


def test_model_type_detected_and_mismatch_names_the_right_model(tmp_path, tiny_checkpoint):
    assert detect_model_type(_fake_standard_state(768, 12)) == "vit_b"
    assert detect_model_type(_fake_standard_state(1280, 32)) == "vit_h"
    torch.save(_fake_standard_state(768, 12), tmp_path / "b.pth")
    with pytest.raises(
        ValueError, match=r"holds a SAM vit_b \(ViT embed dim 768, 12 blocks\), but --model vit_h.*pass --model vit_b"
    ):
        load_sam_model(tmp_path / "b.pth", "vit_h", "cpu")
    with pytest.raises(ValueError, match="holds a non-standard SAM .*pass --model auto"):
        load_sam_model(tiny_checkpoint, "vit_l", "cpu")
    with pytest.raises(ValueError, match="unknown SAM model 'vit_x'"):
        load_sam_model(tiny_checkpoint, "vit_x", "cpu")


def test_tiny_checkpoint_architecture_round_trips(tiny_checkpoint):
    state = read_sam_checkpoint(tiny_checkpoint)
    arch = infer_sam_architecture(state)
    assert (arch.img_size, arch.patch_size, arch.embed_dim, arch.depth, arch.num_heads) == (64, 8, 32, 2, 2)
    assert arch.window_size == 4 and arch.global_attn_indexes == (1,)
    model = load_sam_model(tiny_checkpoint, "auto", "cpu")
    assert model.image_encoder.img_size == 64
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, state[k])


def test_wrapped_checkpoints_are_unwrapped(tmp_path, tiny_checkpoint):
    state = torch.load(tiny_checkpoint, weights_only=True)
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "w.pth")
    assert set(read_sam_checkpoint(tmp_path / "w.pth")) == set(state)


def test_checkpoint_errors(tmp_path, tiny_checkpoint):
    with pytest.raises(
        FileNotFoundError, match=r"SAM checkpoint .*nope.pth not found: download .*sam_vit_h_4b8939.pth"
    ):
        read_sam_checkpoint(tmp_path / "nope.pth")
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(ValueError, match="is not a SAM checkpoint: torch.load could not read it"):
        read_sam_checkpoint(tmp_path / "text.pth")
    torch.save({"encoder.weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(
        ValueError, match="is not a SAM checkpoint: expected a state dict with image_encoder.*found keys encoder.weight"
    ):
        read_sam_checkpoint(tmp_path / "other.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="is not a SAM checkpoint: .*found a list"):
        read_sam_checkpoint(tmp_path / "list.pth")
    state = torch.load(tiny_checkpoint, weights_only=True)
    bad = dict(state)
    bad["mask_decoder.output_hypernetworks_mlps.0.layers.2.weight"] = torch.zeros(3, 3)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="the weights do not fit a SAM model"):
        load_sam_model(tmp_path / "bad.pth", "auto", "cpu")
    nopos = {k: v for k, v in state.items() if k != "image_encoder.pos_embed"}
    with pytest.raises(ValueError, match="no absolute and relative position embeddings"):
        infer_sam_architecture(nopos)
    mixed = dict(state)
    mixed["image_encoder.blocks.1.attn.rel_pos_h"] = torch.zeros(5, 16)
    with pytest.raises(ValueError, match="several window sizes"):
        infer_sam_architecture(mixed)
    with pytest.raises(ValueError, match="img_size must be a multiple of 8"):
        build_tiny_sam(img_size=20)


def test_generate_masks_input_errors(tmp_path, tiny_checkpoint):
    with pytest.raises(FileNotFoundError, match="images folder .*nowhere not found"):
        generate_masks(tmp_path / "nowhere", tiny_checkpoint, tmp_path / "m", CFG)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images found in"):
        generate_masks(tmp_path / "empty", tiny_checkpoint, tmp_path / "m", CFG)
    images = _write_images(tmp_path / "images", n=1)
    with pytest.raises(
        ValueError, match=r"1 image\(s\) need masks but no SAM checkpoint was given: pass --sam-checkpoint"
    ):
        generate_masks(images, None, tmp_path / "m", CFG)
    with pytest.raises(FileNotFoundError, match="SAM checkpoint .*missing.pth not found"):
        generate_masks(images, tmp_path / "missing.pth", tmp_path / "m", CFG)
    (images / "img_0.jpg").write_bytes((images / "img_0.png").read_bytes())
    with pytest.raises(ValueError, match="have the same stem 'img_0'"):
        generate_masks(images, tiny_checkpoint, tmp_path / "m", CFG)


def test_missing_sam_extra_names_it(tmp_path, tiny_checkpoint, monkeypatch):
    images = _write_images(tmp_path / "images", n=1)
    monkeypatch.setitem(sys.modules, "segment_anything", None)
    with pytest.raises(ImportError, match=r'mask generation needs .*segment_anything.*pip install -e "\.\[sam\]"'):
        generate_masks(images, tiny_checkpoint, tmp_path / "m", CFG)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_device_without_cuda():
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match="CUDA is not available here; use --device cpu"):
        resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_generate_masks_on_cuda(tmp_path, tiny_checkpoint):
    images = _write_images(tmp_path / "images", n=1)
    cfg = replace(CFG, device="auto")
    report = generate_masks(images, tiny_checkpoint, tmp_path / "masks", cfg)
    assert report["device"].startswith("cuda") and report["done"] == 1


# --------------------------------------------------------------------------- ensure_masks (fit's entry)
def test_ensure_masks_generates_only_what_is_missing(tmp_path, tiny_checkpoint):
    images = _write_images(tmp_path / "images")
    cams = _cams([f"img_{i}.png" for i in range(3)], folder=images)
    masks_dir = tmp_path / "ws" / "masks"
    own = np.zeros((2, 48, 64), bool)
    own[0, :10] = own[1, 20:] = True
    save_masks_npz(masks_dir / "img_0.npz", own)
    out = ensure_masks(images, cams, masks_dir, tiny_checkpoint, CFG)
    assert list(out) == ["img_0.png", "img_1.png", "img_2.png"]
    np.testing.assert_array_equal(out["img_0.png"], own)
    assert not (masks_dir / "img_0").exists() and (masks_dir / "img_1" / "metadata.csv").is_file()
    # everything present: no checkpoint needed
    again = ensure_masks(images, cams, masks_dir, None, CFG)
    np.testing.assert_array_equal(again["img_2.png"], out["img_2.png"])


def test_ensure_masks_errors(tmp_path, tiny_checkpoint):
    images = _write_images(tmp_path / "images", n=2)
    cams = _cams(["img_0.png", "img_1.png"], folder=images)
    with pytest.raises(ValueError, match=r"no masks for 2 of 2 view\(s\).*pass --masks DIR.*or --sam-checkpoint FILE"):
        ensure_masks(images, cams, tmp_path / "masks", None, CFG)
    save_masks_npz(tmp_path / "masks" / "img_0.npz", np.ones((1, 48, 64), bool))
    with pytest.raises(ValueError, match=r"no masks for 1 of 2 view\(s\) \(img_1.png\)"):
        ensure_masks(images, cams, tmp_path / "masks", None, CFG)
    assert list(ensure_masks(images, cams, tmp_path / "masks", None, CFG, allow_missing=True)) == ["img_0.png"]
    ghost = _cams(["ghost.png"])
    with pytest.raises(FileNotFoundError, match="image of view ghost.png not found"):
        ensure_masks(tmp_path / "nowhere", ghost, tmp_path / "masks", tiny_checkpoint, CFG)


# --------------------------------------------------------------------------- CLI
@pytest.fixture
def restore_logging():
    """The CLI attaches its own log handler; put the package logger back for caplog users."""
    import logging

    logger = logging.getLogger("omniseg3d_mesh")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield
    logger.handlers[:] = saved[0]
    logger.propagate, logger.level = saved[1], saved[2]


def test_cli_masks_smoke(tmp_path, tiny_checkpoint, capsys, restore_logging):
    from omniseg3d_mesh.cli import main

    preset = Path(__file__).resolve().parents[2] / "omniseg3d_mesh" / "configs" / "sam_fast.yaml"
    images = _write_images(tmp_path / "scene" / "images", n=2)
    (images / "broken.jpg").write_bytes(b"nope")
    argv = [
        "masks",
        str(images),
        "--sam-checkpoint",
        str(tiny_checkpoint),
        "--config",
        str(preset),
        "--model",
        "auto",
        "--points-per-side",
        "4",
        "--pred-iou-thresh",
        "0",
        "--stability-score-thresh",
        "0",
        "--min-mask-region-area",
        "0",
        "--device",
        "cpu",
    ]
    assert main(argv) == 1  # one image failed: counted, reported, exit code 1
    out = capsys.readouterr().out
    assert "failed images" in out and "broken.jpg" in out
    assert sorted(p.name for p in (tmp_path / "scene" / "masks").iterdir()) == ["img_0", "img_1"]
    (images / "broken.jpg").unlink()
    assert main(argv) == 0
    with pytest.raises(SystemExit) as exc:
        main([*argv[:3], str(tmp_path / "no.pth")])
    assert exc.value.code == 1  # a run-time failure (a missing file), not a usage error
    assert "not found" in capsys.readouterr().err


def test_presets_hold_the_paper_settings():
    from omniseg3d_mesh.config import load_config_file

    root = Path(__file__).resolve().parents[2] / "omniseg3d_mesh" / "configs"
    paper = MaskConfig(**load_config_file(root / "sam.yaml", MaskConfig))
    assert paper == MaskConfig()  # the dataclass defaults are the paper's
    assert (paper.model, paper.points_per_side, paper.pred_iou_thresh, paper.stability_score_thresh) == (
        "vit_h",
        32,
        0.88,
        0.95,
    )
    assert (paper.box_nms_thresh, paper.min_mask_region_area) == (0.7, 128)
    fast = MaskConfig(**load_config_file(root / "sam_fast.yaml", MaskConfig))
    assert (fast.model, fast.points_per_side) == ("vit_b", 16)


def test_standard_models_are_built_with_segment_anythings_registry(tiny_checkpoint, monkeypatch):
    """The registry branch, cheaply: pretend the tiny size is vit_b and the registry builds it."""
    import segment_anything

    built = []

    def fake_vit_b(checkpoint=None):
        assert checkpoint is None  # weights are loaded by us, on the CPU, after validation
        built.append(True)
        return build_tiny_sam(64, seed=1)

    monkeypatch.setitem(sam_mod.STANDARD_MODELS, "vit_b", (32, 2))
    monkeypatch.setitem(segment_anything.sam_model_registry, "vit_b", fake_vit_b)
    model = load_sam_model(tiny_checkpoint, "vit_b", "cpu")
    assert built and detect_model_type(model.state_dict()) == "vit_b"
    state = read_sam_checkpoint(tiny_checkpoint)
    torch.testing.assert_close(
        model.state_dict()["mask_decoder.mask_tokens.weight"], state["mask_decoder.mask_tokens.weight"]
    )
