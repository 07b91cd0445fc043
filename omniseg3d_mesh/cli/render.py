"""``omniseg-mesh render``: labels, scores or feature colours back onto the input views.

Examples::

    omniseg-mesh render --workspace scene/omniseg --out views/                 # the parts discretize exported
    omniseg-mesh render --out views/ --parts my_parts/ --level 1 --views a.png b.png
    omniseg-mesh render --out views/ --what selection --labels chair.mask.npy
    omniseg-mesh render --out views/ --what scores --click v:1234
    omniseg-mesh render --out views/ --what pca
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import RenderConfig, add_config_arguments, dataclass_from_namespace
from ._args import add_path_argument, add_workspace_argument

HELP = "render labels, scores or features back onto the input views"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_workspace_argument(parser)
    add_path_argument(
        parser, "--out", "DIR", "output folder for the label maps, overlays and instances.json", required=True
    )
    parser.add_argument(
        "--parts",
        type=Path,
        default=None,
        metavar="DIR",
        help="--what parts: the folder `discretize --out` wrote (default: where discretize last wrote for this "
        "workspace, recorded in its scene.json, else <workspace>/parts)",
    )
    parser.add_argument(
        "--labels",
        type=Path,
        default=None,
        metavar="FILE",
        help="per-vertex values to render instead of the workspace's: [V] int part labels, [V] bool "
        "selection mask or [V] float scores (.npy, .npz or .txt)",
    )
    add_config_arguments(parser, RenderConfig)


def run(args: argparse.Namespace) -> int:
    from ..pipeline import render_workspace
    from ..workspace import Workspace
    from ._ui import UsageError, console, next_hint, print_table, progress_bars

    config = dataclass_from_namespace(RenderConfig, args, args.config)
    if config.what == "selection" and args.labels is None:
        raise UsageError(
            "rendering a selection needs the selected vertices: pass --labels MASK.npy "
            "(a [V] bool mask or [V] int labels, e.g. the <out>.mask.npy `omniseg-mesh select` writes)"
        )
    if config.what == "scores" and args.labels is None and config.click is None:
        raise UsageError("rendering scores needs --click v:VERTEX | x:X,Y,Z | p:VIEW:U,V, or --labels SCORES.npy")
    if args.parts is not None and config.what != "parts":
        raise UsageError(f"--parts is for --what parts, not --what {config.what}")
    if config.click is not None:
        from ..select import parse_click

        text = str(config.click).strip()
        try:
            parse_click(f"v:{text}" if text.isdigit() else text)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    ws = Workspace.find(args.workspace)
    with progress_bars() as progress:
        rep = render_workspace(ws, args.out, config=config, labels=args.labels, progress=progress, parts=args.parts)
    console.print(f"rendered {rep.source}", highlight=False)
    print_table(
        f"render ({rep.what})",
        ["views", "files", "parts", "annotations", "out"],
        [[rep.views, len(rep.files), rep.parts, rep.annotations, str(rep.out)]],
    )
    console.print(f"wrote {len(rep.files)} files into {rep.out}", highlight=False)
    next_hint(
        f"open the *_overlay.png files in {rep.out}, or explore interactively: omniseg-mesh view --workspace {ws.root}"
    )
    return 0
