"""``omniseg-mesh fit MESH IMAGES/``: lift multi-view masks into a per-vertex feature field."""

from __future__ import annotations

import argparse
from pathlib import Path

from omniseg3d_mesh.config import FitConfig, FragmentConfig, MaskConfig, add_config_arguments, dataclass_from_namespace

from ._args import add_path_argument

HELP = "lift multi-view masks into a per-vertex feature field"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mesh", type=Path, metavar="MESH", help="mesh or point cloud (.ply, .obj, .off, .glb, ...)")
    parser.add_argument("images", type=Path, metavar="IMAGES", help="folder of the calibrated input images")
    add_path_argument(
        parser,
        "--cameras",
        "PATH",
        "camera file or folder (COLMAP sparse/0, transforms.json, ScanNet, cameras.json); default: found next to IMAGES",
    )
    parser.add_argument(
        "--masks",
        type=Path,
        default=None,
        metavar="DIR",
        help="masks per image: segment-anything amg folders (<stem>/ with metadata.csv), COCO-RLE <stem>.json or .npz "
        "(default: the workspace's masks/, generated there with --sam-checkpoint)",
    )
    add_path_argument(parser, "--sam-checkpoint", "FILE", "SAM checkpoint to generate missing masks with")
    add_path_argument(parser, "--workspace", "DIR", "workspace folder (default: omniseg/ beside the mesh)")
    add_config_arguments(parser, FitConfig, FragmentConfig, note=" (and 'masks:' with --sam-checkpoint)")


def run(args: argparse.Namespace) -> int:
    import time

    from omniseg3d_mesh.cli._ui import next_hint, print_table, progress_bars
    from omniseg3d_mesh.pipeline import fit_workspace

    config = dataclass_from_namespace(FitConfig, args, args.config)
    frag_config = dataclass_from_namespace(FragmentConfig, args, args.config)
    mask_config = _mask_config(args.config) if args.sam_checkpoint else None
    t0 = time.perf_counter()
    with progress_bars() as progress:
        result = fit_workspace(
            args.mesh,
            args.images,
            cameras=args.cameras,
            masks=args.masks,
            workspace=args.workspace,
            config=config,
            fragment_config=frag_config,
            sam_checkpoint=args.sam_checkpoint,
            mask_config=mask_config,
            progress=progress,
        )
    ws, meta = result.workspace, result.field.meta
    steps = meta["steps"]
    rate = f"{steps / meta['fit_seconds']:.1f} steps/s" if meta["fit_seconds"] > 0 else "resumed (already done)"
    print_table(
        f"fit -> {ws.field_path}",
        ["", ""],
        [
            ["vertices", f"{meta['num_vertices']} ({meta['unseen_vertices']} unseen, filled by diffusion)"],
            ["views", len(meta["views"])],
            ["features", f"{meta['feature_dim']} dims, unit length"],
            ["steps", f"{steps}, {rate}"],
            ["final loss", meta["final_loss"]],
            [
                "time",
                f"prepare {meta['prepare_seconds']:.1f} s, fit {meta['fit_seconds']:.1f} s, total {time.perf_counter() - t0:.1f} s",
            ],
            ["device", meta["device"]],
        ],
    )
    next_hint(
        f"omniseg-mesh discretize --workspace {ws.root}   or   omniseg-mesh select --workspace {ws.root} --click v:VERTEX --out sel.ply"
    )
    return 0


def _mask_config(config_file) -> MaskConfig:
    """SAM settings from the preset's ``masks:`` section (a fit-only or flat preset has none)."""
    if config_file is None:
        return MaskConfig()
    from omniseg3d_mesh.config import resolve_preset

    try:
        import yaml

        data = yaml.safe_load(resolve_preset(config_file).read_text())
    except (OSError, yaml.YAMLError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("masks"), dict):
        return dataclass_from_namespace(MaskConfig, argparse.Namespace(), config_file)
    return MaskConfig()
