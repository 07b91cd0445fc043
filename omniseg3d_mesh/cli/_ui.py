"""Terminal output for the CLI: logging, progress bars, tables, friendly errors (rich)."""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Iterator

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

console = Console(stderr=True)
out = Console()


def setup_logging(verbose: int = 0) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger("omniseg3d_mesh")
    root.setLevel(min(level, logging.INFO))
    if not any(isinstance(h, RichHandler) for h in root.handlers):
        handler = RichHandler(console=console, show_path=False, show_time=False)
        handler.setLevel(logging.INFO if verbose == 0 else level)
        root.addHandler(handler)
        # propagation stays on: the root logger has no handler in a CLI run (so nothing
        # prints twice), and test tools that listen on the root (pytest's caplog) still hear us


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print bad-input errors as one clear message instead of a traceback; exit code 2."""
    try:
        yield
    except (ValueError, FileNotFoundError, FileExistsError, KeyError, ImportError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        console.print(f"[bold red]error:[/] {msg}")
        raise SystemExit(2) from None


@contextlib.contextmanager
def progress_bars() -> Iterator[Any]:
    """A ``progress(stage, done, total, **info)`` callback that draws one bar per stage."""
    bars = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )
    tasks: dict[str, Any] = {}

    def callback(stage: str, done: int, total: int, **info: Any) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(stage, total=total, info="")
        text = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items())
        bars.update(tasks[stage], completed=done, total=total, info=text)

    with bars:
        yield callback


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r])
    out.print(table)
