"""The Rich progress bar on stderr for long commands (a `voicegw_cli.progress.Progress`).

Shown only when stderr is a terminal and `--quiet` was not given; otherwise commands get
`None` and the library reports to no one. Bytes or rows per second, and an ETA.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def quiet() -> bool:
    """`--quiet`, from the CLI context object (False outside a command)."""
    from typer._click.globals import get_current_context  # Typer's own click

    ctx = get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    if root is not None and isinstance(root.obj, dict) and "quiet" in root.obj:
        return bool(root.obj["quiet"])
    return False


class RichProgress:
    """One bar per phase, on the given console."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[detail]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task: Any = None
        self._unit = "rows"

    def begin(self, label: str, total: int, unit: str = "rows") -> None:
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._unit = unit
        self._task = self._bar.add_task(label, total=total or None, detail="", rate="")
        self.update(0)  # the units show from the first frame

    def update(self, done: int) -> None:
        if self._task is None:
            return
        self._bar.update(self._task, completed=done, detail=self._detail(done))

    def _detail(self, done: int) -> str:
        task = self._bar.tasks[-1]
        if not task.total:  # a phase that cannot say how far it is (the demo's fold)
            return ""
        speed = task.speed or 0
        if self._unit == "bytes":
            return f"{_size(done)}/{_size(task.total or 0)} {_size(speed)}/s"
        return f"{done:,}/{int(task.total or 0):,} rows {speed:,.0f} rows/s"

    def __enter__(self) -> RichProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


@contextmanager
def progress_bar(console: Any = None) -> Iterator[RichProgress | None]:
    """A progress receiver for the library, or None when stderr is not a terminal or the
    run is `--quiet`. `console` (tests) replaces the stderr console."""
    if quiet():
        yield None
        return
    if console is None:
        from rich.console import Console

        console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    with RichProgress(console) as bar:
        yield bar
