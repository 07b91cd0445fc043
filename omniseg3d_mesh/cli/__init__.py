"""``omniseg-mesh``: thin commands on top of the library.

Each subcommand lives in its own module ``omniseg3d_mesh/cli/<name>.py`` with
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``. Only the
module of the command being run is imported, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> one-line summary (kept here so the top-level --help imports nothing)
COMMANDS: dict[str, str] = {
    "info": "show what was found: geometry, cameras, views and coverage",
    "masks": "generate Segment Anything masks for a folder of images",
    "fit": "lift multi-view masks into a per-vertex feature field",
    "select": "select by clicks, with hierarchy steps and region growing",
    "discretize": "cut the whole scene into parts (HDBSCAN) and export them",
    "render": "render labels, scores or features back onto the input views",
    "view": "serve the interactive web viewer",
    "demo": "build a synthetic scene, fit, discretize and evaluate it",
    "batch": "run many scenes through the stages, locally or on Ray",
}


def _command_module(name: str):
    return importlib.import_module(f"omniseg3d_mesh.cli.{name}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only ``command``'s module is imported (all when None)."""
    from omniseg3d_mesh import __version__

    parser = argparse.ArgumentParser(
        prog="omniseg-mesh",
        description="Hierarchical 3D segmentation of meshes and point clouds from multi-view SAM masks (OmniSeg3D).",
    )
    parser.add_argument("--version", action="version", version=f"omniseg3d-mesh {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, summary in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary)
        if name == command:
            _command_module(name).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in COMMANDS:
        command = None
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2  # a usage error, as argparse's own
    from omniseg3d_mesh.cli._ui import setup_logging, user_errors

    setup_logging(args.verbose)
    with user_errors():  # exit code 2 for usage errors, 1 for run-time failures (one printed line)
        return int(_command_module(args.command).run(args) or 0)
    return 1  # not reached: user_errors raises SystemExit


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
