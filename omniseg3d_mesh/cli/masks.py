"""``omniseg-mesh masks IMAGES/ --sam-checkpoint FILE``: Segment Anything masks per image."""

from __future__ import annotations

import argparse
from pathlib import Path

from omniseg3d_mesh.config import MaskConfig, add_config_arguments, dataclass_from_namespace

from ._args import add_path_argument

HELP = "generate Segment Anything masks for a folder of images"

OUT_HELP = "output folder, one <image stem>/ per image in segment-anything's amg layout (default: IMAGES/../masks)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", type=Path, metavar="IMAGES", help="folder of input images (.png, .jpg, ...)")
    add_path_argument(
        parser,
        "--sam-checkpoint",
        "FILE",
        "SAM checkpoint, e.g. sam_vit_h_4b8939.pth (links in the segment-anything README)",
        required=True,
    )
    add_path_argument(parser, "--out", "DIR", OUT_HELP)
    add_config_arguments(parser, MaskConfig)


def run(args: argparse.Namespace) -> int:
    from omniseg3d_mesh.cli._ui import console, next_hint, print_table, progress_bars
    from omniseg3d_mesh.masks.sam import generate_masks

    config = dataclass_from_namespace(MaskConfig, args, args.config)
    images = Path(args.images)
    out = args.out if args.out is not None else images.resolve().parent / "masks"
    with progress_bars() as progress:
        result = generate_masks(images, args.sam_checkpoint, out, config, progress=progress)
    print_table(
        f"masks -> {out}",
        ["images", "done", "skipped", "failed", "masks", "images/s", "seconds", "device"],
        [
            [
                result["total"],
                result["done"],
                result["skipped"],
                result["failed"],
                result["masks"],
                round(result["images_per_s"], 3),
                round(result["seconds"], 1),
                result["device"] or "-",
            ]
        ],
    )
    if result["failures"]:
        print_table(
            "failed images", ["image", "error"], [[Path(f["image"]).name, f["error"]] for f in result["failures"]]
        )
        console.print(f"[yellow]{result['failed']} image(s) failed[/]")
        next_hint("fix them and run the same command again (done images are skipped)")
        return 1
    next_hint(f"omniseg-mesh fit MESH {images} --masks {out}")
    return 0
