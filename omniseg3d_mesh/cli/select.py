"""``omniseg-mesh select``: select by clicks, print the hierarchy steps, write the selection."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..config import SelectConfig, add_dataclass_arguments, dataclass_from_namespace

HELP = "select by clicks, with hierarchy steps and region growing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # `--click -v:99` must read "-v:99" as a value (a negative click), not as an option:
    # argparse lets values through that match its negative-number pattern, so widen it.
    parser._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+|[vxp]:.*)$")  # noqa: SLF001
    parser.add_argument(
        "--workspace", type=Path, default=None, help="workspace written by `fit` (default: ./omniseg)"
    )
    parser.add_argument(
        "--click",
        action="append",
        required=True,
        metavar="CLICK",
        help="v:VERTEX | x:X,Y,Z | p:VIEW:U,V; prefix '-' for a negative click (repeat for several)",
    )
    parser.add_argument("--out", type=Path, required=True, help="selected sub-mesh (.ply, .obj or .glb); the mask goes to <stem>.mask.npy")
    parser.add_argument("--config", type=Path, default=None, help="YAML preset (a 'select:' section or flat fields)")
    add_dataclass_arguments(parser, SelectConfig)


def run(args: argparse.Namespace) -> int:
    from ..io.export import export_selection
    from ..select import Selector, parse_click
    from ._ui import console, print_table

    config = dataclass_from_namespace(SelectConfig, args, args.config)
    if config.threshold is not None and config.step is not None:
        raise ValueError("give either --threshold or --step, not both")
    clicks = [parse_click(c) for c in args.click]
    sel = Selector.from_workspace(args.workspace, knn=config.knn, config=config)
    steps = sel.hierarchy(clicks)
    if config.threshold is not None:
        mask = sel.select(clicks, config.threshold, grow=config.grow)
        chosen = None
    else:
        if not steps:
            raise ValueError("the clicks select nothing: every vertex is closer to a negative click")
        if config.step is not None and config.step < 0:
            raise ValueError(f"--step must be 0 (smallest) or more, got {config.step}")
        chosen = min(config.step or 0, len(steps) - 1)
        if (config.step or 0) >= len(steps):
            console.print(f"[yellow]step {config.step} requested but the click has {len(steps)} steps: using the last one")
        step = steps[chosen]
        mask = step.mask if config.grow else sel.scores(clicks) >= step.threshold
    rows = [
        [("* " if i == chosen else "") + str(i), f"{st.threshold_hi:.3f} .. {st.threshold_lo:.3f}", f"{st.threshold:.3f}", st.size]
        for i, st in enumerate(steps)
    ]
    print_table("hierarchy steps (smaller -> bigger)", ["step", "threshold range", "threshold", "vertices"], rows)
    result = export_selection(args.out, sel.vertices, sel.faces, sel.colors, mask)
    console.print(
        f"[green]selected[/] {result['num_vertices']} vertices, {result['num_faces']} faces -> {result['mesh']} "
        f"(mask: {result['mask']})"
    )
    return 0
