"""How long-running library functions report progress without printing.

Library code never draws progress bars (the CLI does). A long function takes an
optional ``progress`` callback and calls it as ``progress(stage, done, total, **info)``,
e.g. ``progress("fit", 120, 3000, loss=0.41)``. ``report`` is a no-op-safe helper.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ProgressCallback = Callable[..., None]

__all__ = ["ProgressCallback", "report"]


def report(progress: ProgressCallback | None, stage: str, done: int, total: int, **info: Any) -> None:
    """Call ``progress`` if one was given."""
    if progress is not None:
        progress(stage, done, total, **info)
