"""How long-running library work says how far it has got (no rendering here).

A library function that can take long (ingest, reprice, export, reconcile, demo) accepts
`progress: Progress | None`. It calls `begin(label, total, unit)` once per phase, then
`update(done)` with the absolute amount done so far: never decreasing within a phase, and
ending at `total`. The CLI renders it (`voicegw_cli.cli.progress`); tests record it.

`watch_query` reports a long DuckDB statement's own progress while it runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Progress(Protocol):
    def begin(self, label: str, total: int, unit: str = "rows") -> None:
        """A new phase of `total` `unit`s ("bytes" or "rows") starts."""

    def update(self, done: int) -> None:
        """`done` of the phase's total are done (absolute, monotonic)."""


class Phase:
    """The phase being reported, clamped so what the receiver sees only grows."""

    def __init__(self, progress: Progress | None, label: str, total: int, unit: str) -> None:
        self.progress = progress
        self.total = max(int(total), 0)
        self.done = 0
        self._lock = threading.Lock()
        if progress is not None:
            progress.begin(label, self.total, unit)

    def update(self, done: float) -> None:
        if self.progress is None:
            return
        with self._lock:
            value = min(int(done), self.total)
            if value > self.done:
                self.done = value
                self.progress.update(value)

    def finish(self) -> None:
        if self.progress is not None:
            with self._lock:
                if self.done < self.total:
                    self.done = self.total
                    self.progress.update(self.total)


def phase(progress: Progress | None, label: str, total: int, unit: str = "rows") -> Phase:
    return Phase(progress, label, total, unit)


#: Seconds between two looks at a running statement's progress.
POLL = 0.1


def watch_query(
    conn: Any, run: Callable[[], T], report: Phase, start: float = 0, span: float | None = None
) -> T:
    """Run `run()` (DuckDB statements on `conn`) while a thread maps the statement's
    percentage done onto `report` as `start + pct * span`. Without a receiver it only runs."""
    if report.progress is None:
        return run()
    span = report.total - start if span is None else span
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(POLL):
            try:
                pct = conn.query_progress()
            except Exception:  # the connection is between statements or closing
                continue
            if pct is not None and pct >= 0:
                report.update(start + span * min(pct, 100.0) / 100.0)

    old = _settings(conn)
    conn.execute(
        "SET enable_progress_bar = true; SET enable_progress_bar_print = false;"
        " SET progress_bar_time = 0"
    )
    watcher = threading.Thread(target=poll, name="voicegw-progress", daemon=True)
    watcher.start()
    try:
        return run()
    finally:
        stop.set()
        watcher.join()
        _restore(conn, old)


_SETTINGS = ("enable_progress_bar", "enable_progress_bar_print", "progress_bar_time")


def _settings(conn: Any) -> dict[str, Any]:
    names = ", ".join(f"'{n}'" for n in _SETTINGS)
    rows = conn.execute(
        f"SELECT name, value FROM duckdb_settings() WHERE name IN ({names})"
    ).fetchall()
    return dict(rows)


def _restore(conn: Any, old: dict[str, Any]) -> None:
    try:
        for name, value in old.items():
            conn.execute(f"SET {name} = '{value}'")
    except Exception:  # an aborted transaction or a closed store: nothing to restore
        pass
