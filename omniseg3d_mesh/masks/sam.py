"""Class-agnostic mask proposals with Segment Anything's automatic mask generator.

:func:`generate_masks` runs segment-anything's ``SamAutomaticMaskGenerator`` over a
folder of images and writes, per image, segment-anything's own amg folder layout
(``<image stem>/0.png, 1.png, ..., metadata.csv``; see :mod:`omniseg3d_mesh.io.masks`),
so our masks and those of segment-anything's ``scripts/amg.py`` are interchangeable.

* Large images are downscaled (long side <= ``MaskConfig.max_long_side``) before
  SAM and the masks scaled back (nearest), which bounds memory.
* Resumable: an image whose folder already holds ``metadata.csv`` is skipped; each
  folder is written under a temporary name and renamed when complete, so an
  interrupted run loses at most the image in flight.
* A failing image is reported and counted; the batch goes on unless
  ``MaskConfig.strict``.

torch and segment-anything are imported inside the functions that need them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from omniseg3d_mesh._deps import require
from omniseg3d_mesh.config import MaskConfig
from omniseg3d_mesh.io.masks import (
    find_mask_entries,
    is_complete_sam_folder,
    load_masks,
    mask_key,
    resize_masks,
    save_sam_folder,
)
from omniseg3d_mesh.progress import ProgressCallback, report

log = logging.getLogger(__name__)

__all__ = [
    "IMAGE_EXTENSIONS",
    "STANDARD_MODELS",
    "CHECKPOINT_FILES",
    "SamArchitecture",
    "read_sam_checkpoint",
    "detect_model_type",
    "infer_sam_architecture",
    "assemble_sam",
    "build_tiny_sam",
    "load_sam_model",
    "resolve_device",
    "list_images",
    "generate_masks",
    "ensure_masks",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

# model type -> (ViT embed dim, number of ViT blocks), as in segment_anything/build_sam.py
STANDARD_MODELS: dict[str, tuple[int, int]] = {"vit_h": (1280, 32), "vit_l": (1024, 24), "vit_b": (768, 12)}
# the official checkpoints linked from the segment-anything README
CHECKPOINT_FILES = {"vit_h": "sam_vit_h_4b8939.pth", "vit_l": "sam_vit_l_0b3195.pth", "vit_b": "sam_vit_b_01ec64.pth"}
_CHECKPOINT_HINT = (
    "download an official checkpoint linked from https://github.com/facebookresearch/segment-anything#model-checkpoints "
    "(sam_vit_h_4b8939.pth for --model vit_h, sam_vit_l_0b3195.pth for vit_l, sam_vit_b_01ec64.pth for vit_b)"
)
_SAM_KEYS = (
    "image_encoder.patch_embed.proj.weight",
    "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix",
    "mask_decoder.mask_tokens.weight",
)


# --------------------------------------------------------------------------- model
@dataclass
class SamArchitecture:
    """The sizes that define a SAM network (segment-anything's ``_build_sam`` fixes most of them)."""

    img_size: int = 1024
    patch_size: int = 16
    embed_dim: int = 1280
    depth: int = 32
    num_heads: int = 16
    mlp_ratio: float = 4.0
    window_size: int = 14
    global_attn_indexes: tuple[int, ...] = (7, 15, 23, 31)
    prompt_dim: int = 256
    mask_in_chans: int = 16
    decoder_depth: int = 2
    decoder_mlp_dim: int = 2048
    decoder_heads: int = 8
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    num_multimask_outputs: int = 3


def assemble_sam(arch: SamArchitecture):
    """A randomly initialised ``segment_anything.modeling.Sam`` with the sizes of ``arch`` (eval mode)."""
    from functools import partial

    require("segment_anything", "mask generation")
    import torch
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    grid = arch.img_size // arch.patch_size
    sam = Sam(
        image_encoder=ImageEncoderViT(
            img_size=arch.img_size,
            patch_size=arch.patch_size,
            embed_dim=arch.embed_dim,
            depth=arch.depth,
            num_heads=arch.num_heads,
            mlp_ratio=arch.mlp_ratio,
            out_chans=arch.prompt_dim,
            qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            use_rel_pos=True,
            window_size=arch.window_size,
            global_attn_indexes=tuple(arch.global_attn_indexes),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=arch.prompt_dim,
            image_embedding_size=(grid, grid),
            input_image_size=(arch.img_size, arch.img_size),
            mask_in_chans=arch.mask_in_chans,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=arch.num_multimask_outputs,
            transformer=TwoWayTransformer(
                depth=arch.decoder_depth,
                embedding_dim=arch.prompt_dim,
                mlp_dim=arch.decoder_mlp_dim,
                num_heads=arch.decoder_heads,
            ),
            transformer_dim=arch.prompt_dim,
            iou_head_depth=arch.iou_head_depth,
            iou_head_hidden_dim=arch.iou_head_hidden_dim,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.eval()


def build_tiny_sam(img_size: int = 64, seed: int = 0):
    """A tiny randomly initialised SAM (for tests and demos: no weights to download).

    Same modules as the real thing (ViT image encoder with windowed and global
    attention, prompt encoder, two-way-transformer mask decoder), sizes cut down:
    embed dim 32, 2 blocks, input ``img_size`` (multiple of 8).
    """
    import torch

    if img_size % 8 or img_size < 16:
        raise ValueError(f"img_size must be a multiple of 8 and at least 16, got {img_size}")
    torch.manual_seed(seed)
    arch = SamArchitecture(
        img_size=img_size,
        patch_size=8,
        embed_dim=32,
        depth=2,
        num_heads=2,
        window_size=max(2, img_size // 16),
        global_attn_indexes=(1,),
        prompt_dim=32,
        mask_in_chans=8,
        decoder_depth=2,
        decoder_mlp_dim=64,
        decoder_heads=8,
        iou_head_depth=3,
        iou_head_hidden_dim=32,
    )
    return assemble_sam(arch)


def read_sam_checkpoint(path: str | Path) -> dict:
    """The state dict of a SAM checkpoint, validated (on the CPU).

    Raises:
        FileNotFoundError: no such file, with where to get the official ones.
        ValueError: the file is not a torch state dict with SAM's keys.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"SAM checkpoint {path} not found: {_CHECKPOINT_HINT}, and pass it with --sam-checkpoint FILE"
        )
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a non-checkpoint
        raise ValueError(
            f"{path} is not a SAM checkpoint: torch.load could not read it ({type(exc).__name__}: {str(exc)[:160]}); "
            f"expected a PyTorch state dict such as sam_vit_h_4b8939.pth: {_CHECKPOINT_HINT}"
        ) from None
    for wrapper in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if isinstance(state, dict) and state and all(isinstance(k, str) and k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    if not isinstance(state, dict) or not all(k in state for k in _SAM_KEYS):
        found = (
            f"a {type(state).__name__}"
            if not isinstance(state, dict)
            else f"keys {', '.join(list(map(str, state))[:4]) or '(none)'}"
        )
        raise ValueError(
            f"{path} is not a SAM checkpoint: expected a state dict with image_encoder.*, prompt_encoder.* and "
            f"mask_decoder.* weights, found {found}; {_CHECKPOINT_HINT}"
        )
    return state


def _encoder_size(state: Mapping[str, Any]) -> tuple[int, int]:
    embed_dim = int(state["image_encoder.patch_embed.proj.weight"].shape[0])
    blocks = {k.split(".")[2] for k in state if k.startswith("image_encoder.blocks.")}
    return embed_dim, len(blocks)


def detect_model_type(state: Mapping[str, Any]) -> str | None:
    """``"vit_h"``, ``"vit_l"`` or ``"vit_b"`` from the ViT embed dim and depth; None for other sizes."""
    size = _encoder_size(state)
    return next((name for name, s in STANDARD_MODELS.items() if s == size), None)


def infer_sam_architecture(state: Mapping[str, Any]) -> SamArchitecture:
    """Read every size of a SAM network off its state dict (any size, e.g. :func:`build_tiny_sam`)."""
    embed_dim, depth = _encoder_size(state)
    patch = int(state["image_encoder.patch_embed.proj.weight"].shape[-1])
    if "image_encoder.pos_embed" not in state or "image_encoder.blocks.0.attn.rel_pos_h" not in state:
        raise ValueError("cannot build this SAM: its image encoder has no absolute and relative position embeddings")
    grid = int(state["image_encoder.pos_embed"].shape[1])
    head_dim = int(state["image_encoder.blocks.0.attn.rel_pos_h"].shape[1])
    sizes = [(int(state[f"image_encoder.blocks.{i}.attn.rel_pos_h"].shape[0]) + 1) // 2 for i in range(depth)]
    windows = sorted({s for s in sizes if s != grid})
    if len(windows) > 1:
        raise ValueError(f"cannot build this SAM: its attention blocks use several window sizes {windows}")
    # all-global encoders are built with window_size 0; otherwise blocks at the full grid are global
    window_size = windows[0] if windows else 0
    global_idx = tuple(i for i, s in enumerate(sizes) if s == grid) if windows else ()
    prompt_dim = int(state["mask_decoder.mask_tokens.weight"].shape[1])
    dec_layers = {k.split(".")[3] for k in state if k.startswith("mask_decoder.transformer.layers.")}
    iou_layers = {k.split(".")[3] for k in state if k.startswith("mask_decoder.iou_prediction_head.layers.")}
    internal = int(state["mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.weight"].shape[0])
    return SamArchitecture(
        img_size=grid * patch,
        patch_size=patch,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=embed_dim // head_dim,
        mlp_ratio=int(state["image_encoder.blocks.0.mlp.lin1.weight"].shape[0]) / embed_dim,
        window_size=window_size,
        global_attn_indexes=global_idx,
        prompt_dim=prompt_dim,
        mask_in_chans=int(state["prompt_encoder.mask_downscaling.3.weight"].shape[0]),
        decoder_depth=len(dec_layers),
        decoder_mlp_dim=int(state["mask_decoder.transformer.layers.0.mlp.lin1.weight"].shape[0]),
        # head count is not stored in the weights: SAM's decoder uses 8
        decoder_heads=8 if internal % 8 == 0 else 1,
        iou_head_depth=len(iou_layers),
        iou_head_hidden_dim=int(state["mask_decoder.iou_prediction_head.layers.0.weight"].shape[0]),
        num_multimask_outputs=int(state["mask_decoder.mask_tokens.weight"].shape[0]) - 1,
    )


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when CUDA is available, else ``cpu``; an unavailable CUDA device is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here; use --device cpu (or auto)")
    return device


def load_sam_model(checkpoint: str | Path, model: str = "vit_h", device: str = "auto"):
    """A SAM model with the checkpoint's weights, in eval mode on ``device``.

    Args:
        checkpoint: a SAM state dict (e.g. ``sam_vit_h_4b8939.pth``).
        model: ``vit_h`` / ``vit_l`` / ``vit_b`` (built with segment-anything's
            ``sam_model_registry``; must match the checkpoint), or ``auto``: the type
            is detected, and a non-standard size is built from the sizes stored in
            the checkpoint.
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N``.

    Raises:
        FileNotFoundError / ValueError: missing file, not a SAM checkpoint, a model
            type that does not match the checkpoint (the message names the right one).
        ImportError: segment-anything is not installed (names the ``sam`` extra).
    """
    sam_pkg = require("segment_anything", "mask generation")
    state = read_sam_checkpoint(checkpoint)
    detected = detect_model_type(state)
    embed_dim, depth = _encoder_size(state)
    if model not in (*STANDARD_MODELS, "auto"):
        raise ValueError(f"unknown SAM model {model!r}; choose one of vit_h, vit_l, vit_b, auto")
    if model != "auto" and detected != model:
        right = (
            f"pass --model {detected}"
            if detected
            else "pass --model auto to build it from the sizes stored in the checkpoint"
        )
        what = f"a SAM {detected}" if detected else "a non-standard SAM"
        raise ValueError(
            f"{checkpoint} holds {what} (ViT embed dim {embed_dim}, {depth} blocks), but --model {model} was asked for "
            f"(embed dim {STANDARD_MODELS[model][0]}, {STANDARD_MODELS[model][1]} blocks): {right}"
        )
    if detected is not None:
        sam = sam_pkg.sam_model_registry[detected](checkpoint=None)
    else:
        sam = assemble_sam(infer_sam_architecture(state))
    try:
        sam.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(
            f"{checkpoint}: the weights do not fit a SAM {detected or 'model'}: {str(exc)[:300]}"
        ) from None
    dev = resolve_device(device)
    sam.to(dev).eval()
    log.info(
        "loaded SAM %s (%d blocks, input %d px) from %s on %s",
        detected or "custom",
        depth,
        sam.image_encoder.img_size,
        checkpoint,
        dev,
    )
    return sam


# --------------------------------------------------------------------------- images
def list_images(images_dir: str | Path) -> list[Path]:
    """The image files directly in ``images_dir`` (by extension), sorted by name."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise FileNotFoundError(f"images folder {images_dir} not found; pass the folder that holds the input images")
    return sorted(
        p
        for p in images_dir.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ValueError(
            f"cannot read image {path}: {exc}; expected a PNG / JPEG image: replace the file or remove it from the folder"
        ) from None


def _downscale(image: np.ndarray, max_long_side: int) -> np.ndarray:
    from PIL import Image

    h, w = image.shape[:2]
    if max_long_side <= 0 or max(h, w) <= max_long_side:
        return image
    s = max_long_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))


class _Upscaled(Sequence):
    """Masks made at SAM's working size, scaled to the image size one at a time (memory)."""

    def __init__(self, masks: list[np.ndarray], height: int, width: int):
        self.masks, self.height, self.width = masks, height, width

    def __len__(self) -> int:
        return len(self.masks)

    def __getitem__(self, i):
        return resize_masks(np.asarray(self.masks[i], bool)[None], self.height, self.width)[0]


def _scaled_records(anns: list[dict], sx: float, sy: float) -> list[dict]:
    out = []
    for a in anns:
        x, y, w, h = a["crop_box"]
        out.append(
            {
                # area and bbox are measured on the full-size mask when it is written
                "point_coords": [[float(p[0]) * sx, float(p[1]) * sy] for p in a["point_coords"]],
                "predicted_iou": float(a["predicted_iou"]),
                "stability_score": float(a["stability_score"]),
                "crop_box": [x * sx, y * sy, w * sx, h * sy],
            }
        )
    return out


def _image_keys(images_dir: Path, images: Sequence[str | Path] | Mapping[str, str | Path] | None) -> dict[str, Path]:
    if isinstance(images, Mapping):
        return {str(k): Path(v) for k, v in images.items()}
    paths = (
        list_images(images_dir)
        if images is None
        else [p if Path(p).is_absolute() else images_dir / p for p in map(Path, images)]
    )
    keys: dict[str, Path] = {}
    for p in paths:
        try:
            rel = p.resolve().relative_to(images_dir.resolve()).as_posix()
        except ValueError:
            rel = p.name
        key = mask_key(rel)
        if key in keys:
            raise ValueError(
                f"{keys[key].name} and {p.name} have the same stem {key!r}; masks are named by stem, rename one of them"
            )
        keys[key] = p
    return keys


# --------------------------------------------------------------------------- generation
def generate_masks(
    images_dir: str | Path,
    checkpoint: str | Path | None,
    out_dir: str | Path,
    config: MaskConfig | None = None,
    progress: ProgressCallback | None = None,
    *,
    images: Sequence[str | Path] | Mapping[str, str | Path] | None = None,
    model: Any = None,
) -> dict:
    """Run SAM's automatic mask generator on every image, writing segment-anything's amg folders.

    Args:
        images_dir: the folder of input images.
        checkpoint: a SAM checkpoint (``sam_vit_h_4b8939.pth`` for the paper's
            ViT-H). Only loaded when some image still needs masks (None is fine
            when none does).
        out_dir: where ``<image stem>/`` folders go (created).
        config: generator settings (default ``MaskConfig()``: the paper's release).
        progress: ``progress("masks", done, total, images_per_s=..., failed=...)``.
        images: only these images (paths, absolute or relative to ``images_dir``),
            or a mapping output name -> image path; default: every image in
            ``images_dir``.
        model: an already loaded SAM (from :func:`load_sam_model`), so a worker
            that handles many chunks loads the checkpoint once; ``checkpoint`` is
            then only used for reports. None: ``checkpoint`` is loaded here when
            some image needs masks.

    Returns:
        report dict: ``total``, ``done``, ``skipped``, ``failed``, ``failures``
        (list of {image, error}), ``masks`` (written), ``seconds``,
        ``images_per_s``, ``model``, ``device``, ``out_dir``.

    Raises:
        FileNotFoundError / ValueError: missing images folder or checkpoint, not a
            SAM checkpoint, model type mismatch, no images; with ``config.strict`` the
            first failing image (an unreadable one names the file).
        ImportError: the ``sam`` extra is not installed.
    """
    config = config or MaskConfig()
    images_dir = Path(images_dir)
    out_dir = Path(out_dir)
    todo_map = _image_keys(images_dir, images)
    if not todo_map:
        raise ValueError(f"no images found in {images_dir} (looked for {', '.join(IMAGE_EXTENSIONS)})")
    report_: dict[str, Any] = {
        "total": len(todo_map),
        "done": 0,
        "skipped": 0,
        "failed": 0,
        "failures": [],
        "masks": 0,
        "seconds": 0.0,
        "images_per_s": 0.0,
        "model": config.model,
        "device": None,
        "out_dir": str(out_dir),
    }
    if checkpoint is not None and not Path(checkpoint).is_file():
        read_sam_checkpoint(checkpoint)  # a named checkpoint that is not there fails early, with the fix
    todo = {k: p for k, p in todo_map.items() if not is_complete_sam_folder(out_dir / k)}
    report_["skipped"] = len(todo_map) - len(todo)
    if report_["skipped"]:
        log.info("%d of %d image(s) already have masks in %s: skipped", report_["skipped"], len(todo_map), out_dir)
    if not todo:
        report(progress, "masks", len(todo_map), len(todo_map), images_per_s=0.0, failed=0)
        return report_
    if checkpoint is None and model is None:
        raise ValueError(
            f"{len(todo)} image(s) need masks but no SAM checkpoint was given: pass --sam-checkpoint FILE ({_CHECKPOINT_HINT})"
        )
    require("segment_anything", "mask generation")
    if config.min_mask_region_area > 0:
        require("cv2", "SAM's small-region clean-up (min_mask_region_area > 0)")
    from segment_anything import SamAutomaticMaskGenerator

    if model is None:
        assert checkpoint is not None  # no model and no checkpoint raised above
        model = load_sam_model(checkpoint, config.model, config.device)
    sam = model
    device = str(next(sam.parameters()).device)
    report_["device"] = device
    generator = SamAutomaticMaskGenerator(
        sam,
        points_per_side=config.points_per_side,
        points_per_batch=config.points_per_batch,
        pred_iou_thresh=config.pred_iou_thresh,
        stability_score_thresh=config.stability_score_thresh,
        box_nms_thresh=config.box_nms_thresh,
        crop_n_layers=config.crop_n_layers,
        min_mask_region_area=config.min_mask_region_area,
        output_mode="binary_mask",
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    processed = 0
    report(progress, "masks", report_["skipped"], len(todo_map), images_per_s=0.0, failed=0)
    for key, path in todo.items():
        try:
            n = _generate_one(generator, path, out_dir / key, config.max_long_side)
            report_["done"] += 1
            report_["masks"] += n
        except Exception as exc:  # noqa: BLE001 - one bad image must not end the batch
            msg = str(exc)
            if "out of memory" in msg.lower():
                msg += "; lower --max-long-side or --points-per-batch"
            if config.strict:
                if isinstance(exc, (ValueError, FileNotFoundError)):
                    raise
                raise RuntimeError(
                    f"mask generation failed on {path}: {msg} (without --strict failures are counted and skipped)"
                ) from exc
            log.warning("mask generation failed on %s: %s", path, msg)
            report_["failed"] += 1
            report_["failures"].append({"image": str(path), "error": msg})
        processed += 1
        elapsed = time.perf_counter() - start
        report(
            progress,
            "masks",
            report_["skipped"] + processed,
            len(todo_map),
            images_per_s=processed / max(elapsed, 1e-9),
            failed=report_["failed"],
        )
    report_["seconds"] = time.perf_counter() - start
    report_["images_per_s"] = processed / max(report_["seconds"], 1e-9)
    log.info(
        "masks: %d done, %d skipped, %d failed (%.2f images/s) into %s",
        report_["done"],
        report_["skipped"],
        report_["failed"],
        report_["images_per_s"],
        out_dir,
    )
    return report_


def _generate_one(generator, image_path: Path, folder: Path, max_long_side: int) -> int:
    import torch

    image = _read_rgb(image_path)
    height, width = image.shape[:2]
    small = _downscale(image, max_long_side)
    h, w = small.shape[:2]
    with torch.inference_mode():
        anns = generator.generate(small)
    masks = [a["segmentation"] for a in anns]
    records = _scaled_records(anns, width / w, height / h)
    save_sam_folder(folder, _Upscaled(masks, height, width), records)
    log.debug("%s: %d masks (SAM ran at %dx%d)", image_path.name, len(masks), w, h)
    return len(masks)


def ensure_masks(
    images_dir: str | Path | None,
    cameras: Sequence[Any],
    masks_dir: str | Path,
    checkpoint: str | Path | None = None,
    config: MaskConfig | None = None,
    progress: ProgressCallback | None = None,
    allow_missing: bool = False,
    lazy: bool = False,
) -> Mapping[str, np.ndarray]:
    """Masks for every camera: generate the missing ones into ``masks_dir``, then load.

    What ``fit --sam-checkpoint`` uses (``masks_dir`` = the workspace's ``masks/``).

    Args:
        images_dir: where the images are (used for cameras without ``image_path``).
        cameras: the scene's cameras; a camera's image is its ``image_path``, else
            ``images_dir / camera.name``.
        masks_dir: the folder to read masks from and generate missing ones into.
        checkpoint: a SAM checkpoint; None = only read what is there.
        config: generator settings (default ``MaskConfig()``).
        progress: progress callback (stage ``"masks"``).
        allow_missing: views without masks are skipped with a counted warning.
        lazy: return a mapping that reads each view's masks on access
            (:class:`~omniseg3d_mesh.io.masks.MaskViews`) instead of a dict.

    Returns:
        view name -> masks [M, H, W] bool at the camera's resolution.

    Raises:
        ValueError: views without masks and no checkpoint (names ``--masks DIR`` and
            ``--sam-checkpoint FILE``), or generation left views without masks.
    """
    masks_dir = Path(masks_dir)
    entries = find_mask_entries(masks_dir) if masks_dir.is_dir() else {}
    missing = [c for c in cameras if mask_key(c.name) not in entries and Path(c.name).stem not in entries]
    if missing and checkpoint is None:
        if entries and allow_missing:
            return load_masks(masks_dir, cameras, allow_missing=True, lazy=lazy)
        names = ", ".join(c.name for c in missing[:5]) + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else "")
        raise ValueError(
            f"no masks for {len(missing)} of {len(cameras)} view(s) ({names}) in {masks_dir}: pass --masks DIR with "
            "segment-anything masks per image (a <stem>/ PNG folder, <stem>.json or <stem>.npz), or --sam-checkpoint FILE "
            "to generate them with Segment Anything"
        )
    if missing:
        images: dict[str, Path] = {}
        for cam in missing:
            path = (
                cam.image_path if cam.image_path is not None else (Path(images_dir) / cam.name if images_dir else None)
            )
            if path is None or not Path(path).is_file():
                raise FileNotFoundError(
                    f"image of view {cam.name} not found (looked for {path}); masks cannot be generated without it: "
                    "pass the images folder, or --masks DIR with existing masks"
                )
            images[mask_key(cam.name)] = Path(path)
        result = generate_masks(images_dir or Path("."), checkpoint, masks_dir, config, progress, images=images)
        if result["failed"]:
            log.warning(
                "SAM failed on %d image(s): %s", result["failed"], ", ".join(f["image"] for f in result["failures"][:5])
            )
    return load_masks(masks_dir, cameras, allow_missing=allow_missing, lazy=lazy)
