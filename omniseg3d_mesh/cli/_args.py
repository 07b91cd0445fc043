"""Arguments several commands share, written once."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_workspace_argument(parser: argparse.ArgumentParser) -> None:
    """``--workspace DIR``: the folder ``fit`` wrote (``Workspace.find`` looks in ./omniseg without it)."""
    parser.add_argument(
        "--workspace", type=Path, default=None, metavar="DIR", help="workspace written by `fit` (default: ./omniseg)"
    )


def add_path_argument(
    parser: argparse.ArgumentParser, flag: str, metavar: str, help: str, required: bool = False
) -> None:
    """A path option: ``type=Path``, ``None`` when not given (unless ``required``)."""
    if required:
        parser.add_argument(flag, type=Path, required=True, metavar=metavar, help=help)
    else:
        parser.add_argument(flag, type=Path, default=None, metavar=metavar, help=help)
