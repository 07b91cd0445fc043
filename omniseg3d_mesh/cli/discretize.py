"""``omniseg-mesh discretize``: cut the whole scene into parts and export them."""

from __future__ import annotations

import argparse

from ..config import DiscretizeConfig, add_config_arguments, dataclass_from_namespace
from ._args import add_path_argument, add_workspace_argument

HELP = "cut the whole scene into parts (HDBSCAN) and export them"

OUT_HELP = "output folder (default: <workspace>/parts); recorded in the workspace so render and view use these parts"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_workspace_argument(parser)
    add_path_argument(parser, "--out", "DIR", OUT_HELP)
    add_config_arguments(parser, DiscretizeConfig)


def run(args: argparse.Namespace) -> int:
    from ..pipeline import discretize_workspace
    from ..workspace import Workspace
    from ._ui import console, next_hint, print_table, progress_bars

    config = dataclass_from_namespace(DiscretizeConfig, args, args.config)
    ws = Workspace.find(args.workspace)
    with progress_bars() as progress:
        result = discretize_workspace(ws, out=args.out, config=config, progress=progress)
    print_table(
        "hierarchy levels",
        ["level", "parts", "merge similarity"],
        [
            [lv, n, "-" if lv == 0 else round(result.level_similarities[lv - 1], 3)]
            for lv, n in enumerate(result.parts_per_level)
        ],
    )
    parts = sorted(result.manifest["parts"], key=lambda r: -r["num_vertices"])
    rows = [[r["id"], r["file"], r["num_vertices"], r["num_faces"], r["parent"]] for r in parts[:20]]
    title = f"parts at level {result.level}" + (f" (largest 20 of {len(parts)})" if len(parts) > 20 else "")
    print_table(title, ["id", "file", "vertices", "faces", "parent"], rows)
    console.print(
        f"[green]wrote[/] {result.num_parts} parts to {result.out} (parts.json, labels.npy, segmented.ply)",
        highlight=False,
    )
    next_hint(f"omniseg-mesh render --workspace {ws.root} --out views/   (renders these parts onto the input views)")
    return 0
