"""Arguments several commands share, written once."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_workspace_argument(parser: argparse.ArgumentParser) -> None:
    """``--workspace DIR``: the folder ``fit`` wrote (``Workspace.find`` looks in ./omniseg without it)."""
    parser.add_argument(
        "--workspace", type=Path, default=None, metavar="DIR", help="workspace written by `fit` (default: ./omniseg)"
    )
