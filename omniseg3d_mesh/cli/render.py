"""``omniseg-mesh render``: labels, scores or feature colours back onto the input views.

Examples::

    omniseg-mesh render --workspace scene/omniseg --out views/                 # parts (level 0)
    omniseg-mesh render --out views/ --what parts --level 1 --views a.png b.png
    omniseg-mesh render --out views/ --what selection --labels chair.npy
    omniseg-mesh render --out views/ --what scores --click 1234
    omniseg-mesh render --out views/ --what pca
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import RenderConfig, add_dataclass_arguments, dataclass_from_namespace

HELP = "render labels, scores or features back onto the input views"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", type=Path, default=None, help="workspace folder (default: ./omniseg)")
    parser.add_argument("--out", type=Path, required=True, help="output folder for the label maps, overlays and instances.json")
    parser.add_argument(
        "--labels",
        type=Path,
        default=None,
        help="per-vertex values to render instead of the workspace's: [V] int part labels, [V] bool "
        "selection mask or [V] float scores (.npy, .npz or .txt)",
    )
    parser.add_argument("--config", type=Path, default=None, help="YAML preset (section 'render')")
    add_dataclass_arguments(parser, RenderConfig)


def run(args: argparse.Namespace) -> int:
    from ..render.labels import render_workspace
    from ..workspace import Workspace
    from ._ui import console, print_table, progress_bars

    config = dataclass_from_namespace(RenderConfig, args, args.config)
    ws = Workspace.find(args.workspace)
    with progress_bars() as progress:
        rep = render_workspace(ws, args.out, config=config, labels=args.labels, progress=progress)
    print_table(
        f"render ({rep['what']})",
        ["views", "files", "parts", "annotations", "out"],
        [[rep["views"], rep["files"], rep["parts"], rep["annotations"], rep["out"]]],
    )
    console.print(f"wrote {rep['files']} files into {rep['out']}")
    return 0
