"""``omniseg-mesh select``: select by clicks, print the hierarchy steps, write the selection."""

from __future__ import annotations

import argparse
import re

from ..config import SelectConfig, add_config_arguments, dataclass_from_namespace
from ._args import add_path_argument, add_workspace_argument

HELP = "select by clicks, with hierarchy steps and region growing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # `--click -v:99` must read "-v:99" as a value (a negative click), not as an option:
    # argparse lets values through that match its negative-number pattern, so widen it.
    parser._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+|[vxp]:.*)$")  # noqa: SLF001
    add_workspace_argument(parser)
    parser.add_argument(
        "--click",
        action="append",
        required=True,
        metavar="CLICK",
        help="v:VERTEX | x:X,Y,Z | p:VIEW:U,V; prefix '-' for a negative click (repeat for several)",
    )
    add_path_argument(
        parser,
        "--out",
        "FILE",
        "selected sub-mesh (.ply, .obj or .glb); the mask goes to <stem>.mask.npy",
        required=True,
    )
    add_config_arguments(parser, SelectConfig)


def run(args: argparse.Namespace) -> int:
    from ..io.export import selection_format
    from ..pipeline import open_selector
    from ..select import parse_click
    from ._ui import UsageError, console, next_hint, print_table

    config = dataclass_from_namespace(SelectConfig, args, args.config)
    if config.threshold is not None and config.step is not None:
        raise UsageError("give either --threshold or --step, not both")
    try:
        selection_format(args.out)  # a wrong --out is refused before the work
        clicks = [parse_click(c) for c in args.click]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    sel = open_selector(args.workspace, config=config)

    def steps_table(steps, chosen) -> None:
        rows = [
            [
                ("* " if i == chosen else "") + str(i),
                f"{st.threshold_hi:.3f} .. {st.threshold_lo:.3f}",
                f"{st.threshold:.3f}",
                st.size,
            ]
            for i, st in enumerate(steps)
        ]
        print_table("hierarchy steps (smaller -> bigger)", ["step", "threshold range", "threshold", "vertices"], rows)

    try:
        choice = sel.choose(clicks, threshold=config.threshold, step=config.step, grow=config.grow)
    except IndexError as exc:  # a step this click does not have: show the ones it has
        steps_table(sel.hierarchy(clicks, grow=config.grow), None)
        raise UsageError(f"--{exc} (table above); pick one of them, or --threshold T") from None
    steps_table(choice.steps, choice.step)
    from ..io.export import export_selection

    result = export_selection(args.out, sel.vertices, sel.faces, sel.colors, choice.mask)
    console.print(
        f"[green]selected[/] {result['num_vertices']} vertices, {result['num_faces']} faces -> {result['mesh']} "
        f"(mask: {result['mask']})"
    )
    ws = f" --workspace {args.workspace}" if args.workspace is not None else ""
    next_hint(
        f"omniseg-mesh render{ws} --what selection --labels {result['mask']} --out views/   "
        "(or --step N for a bigger/smaller step)"
    )
    return 0
