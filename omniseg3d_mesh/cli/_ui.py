"""Terminal output for the CLI: logging, progress bars, tables, friendly errors (rich).

On a terminal: rich bars, coloured log lines. In a pipe or a log file: plain lines,
never wrapped or padded, and a progress line per stage every
``OMNISEG_PROGRESS_EVERY`` seconds (default 10) and when a stage completes.

Exit codes: 0 success, 2 a usage error (a wrong flag or flag combination, argparse's
own errors included), 1 a run-time failure (a bad input file, a missing workspace, ...).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

EXIT_FAILURE = 1
EXIT_USAGE = 2


def _console(stderr: bool) -> Console:
    probe = Console(stderr=stderr)
    if probe.is_terminal:
        return probe
    # a pipe or a file: no wrapping at 80 columns (paths stay whole), no padding
    return Console(stderr=stderr, soft_wrap=True, width=100_000)


console = _console(stderr=True)
out = _console(stderr=False)


class UsageError(ValueError):
    """A wrong flag or combination of flags: printed as one line, exit code 2."""


class _PlainStderrHandler(logging.Handler):
    """``level: message``, one line, to whatever ``sys.stderr`` is when the record comes."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f"{record.levelname.lower()}: {record.getMessage()}\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def setup_logging(verbose: int = 0) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger("omniseg3d_mesh")
    root.setLevel(min(level, logging.INFO))
    if not any(getattr(h, "_omniseg_cli", False) for h in root.handlers):
        if console.is_terminal:
            handler: logging.Handler = RichHandler(console=console, show_path=False, show_time=False)
        else:  # one plain line per record: no wrapping, no padding to the console width
            handler = _PlainStderrHandler()
        handler._omniseg_cli = True  # type: ignore[attr-defined]
        handler.setLevel(logging.INFO if verbose == 0 else level)
        root.addHandler(handler)
        # propagation stays on: the root logger has no handler in a CLI run (so nothing
        # prints twice), and test tools that listen on the root (pytest's caplog) still hear us


def _is_usage_error(exc: BaseException) -> bool:
    from ..config import ConfigError

    return isinstance(exc, (UsageError, ConfigError))


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print bad-input errors as one clear message instead of a traceback.

    Exit code 2 for usage errors (:class:`UsageError`, a bad ``--config``), 1 for
    run-time failures (bad files, missing workspace, ...).
    """
    try:
        yield
    except (ValueError, FileNotFoundError, FileExistsError, KeyError, ImportError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        console.print(f"[bold red]error:[/] {msg}", highlight=False)
        raise SystemExit(EXIT_USAGE if _is_usage_error(exc) else EXIT_FAILURE) from None


def next_hint(text: str) -> None:
    """The last line of a command: what to run next."""
    console.print(f"next: {text}", highlight=False)


def _plain_progress(every: float | None = None):
    """A progress callback printing plain lines (for pipes and log files)."""
    every = float(os.environ.get("OMNISEG_PROGRESS_EVERY", "10")) if every is None else every
    started: dict[str, float] = {}
    last: dict[str, float] = {}

    def callback(stage: str, done: int, total: int, **info: Any) -> None:
        now = time.monotonic()
        started.setdefault(stage, now)
        finished = total > 0 and done >= total
        if not finished and now - last.get(stage, started[stage] - every) < every:
            return
        last[stage] = now
        text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items())
        pct = f" ({100 * done / total:.0f}%)" if total else ""
        elapsed = now - started[stage]
        sys.stderr.write(f"{stage}: {done}/{total}{pct} {text} [{elapsed:.0f}s]".replace("  ", " ").rstrip() + "\n")
        sys.stderr.flush()

    return callback


@contextlib.contextmanager
def progress_bars() -> Iterator[Any]:
    """A ``progress(stage, done, total, **info)`` callback: one bar per stage on a terminal,
    plain periodic lines otherwise."""
    if not console.is_terminal:
        yield _plain_progress()
        return
    bars = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
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
