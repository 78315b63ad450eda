"""Config and store for each request, without locking the CLI out.

DuckDB lets one process hold the file, and another process cannot even read it then. So
the server never keeps the store: the first request opens it (folding the spool, as every
CLI command does), requests arriving while it is open share it (a cursor each), and it is
closed again as soon as any of these holds:

* nobody used it for `idle` seconds;
* it has been open for `hold` seconds (the next request reopens it, folding what agents
  wrote meanwhile);
* another process knocked: a `voicegw` command waiting for the lock touches
  `<store>.waiting` on every try (`voicegw_cli.store.knock_path`). The server then lets
  go as soon as the requests in flight finish and stays away for `yield_gap` seconds,
  longer than the waiting command's pause between two tries, so it gets in.

A write (a project created, updated or deleted) closes the store after it, so the spend
snapshot the agents' budget guards read is written at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")

IDLE_SECONDS = 0.25
HOLD_SECONDS = 2.0
#: How long the server stays away after a knock: more than the waiting command's pause.
YIELD_GAP_SECONDS = 0.15


class Backend:
    """One per app: loads the config (again when the file changes) and lends the store."""

    def __init__(
        self,
        config_path: Path | None,
        *,
        idle: float = IDLE_SECONDS,
        hold: float = HOLD_SECONDS,
        yield_gap: float = YIELD_GAP_SECONDS,
    ) -> None:
        from voicegw_cli.projects import default_actor

        self.config_path = config_path
        self.actor = default_actor("api")
        self.idle, self.hold, self.yield_gap = idle, hold, yield_gap
        self._cond = threading.Condition()
        self._store: Any = None
        self._opening = False
        self._retiring = False
        self._users = 0
        self._opened_ns = 0
        self._opened_at = 0.0
        self._last_used = 0.0
        self._away_until = 0.0
        self._config: tuple[Any, Any] | None = None
        self._config_lock = threading.Lock()
        self._reaper: threading.Thread | None = None
        self._stopped = False
        #: Last fold's duration in seconds and items folded since start (for /v1/metrics).
        self.last_fold_seconds: float | None = None
        self.items_folded = 0
        #: Moves on every open of the store and after every write (see `cache`).
        self.generation = 0

    # ------------------------------------------------------------------ config

    def config(self) -> Any:
        """The config, reloaded when voicegw.yaml changes (edits show up without a
        restart, as with the MCP server)."""
        from voicegw_cli.config import find_config_path, load_config

        with self._config_lock:
            path = find_config_path(self.config_path)
            try:
                st = path.stat() if path is not None else None
                stamp = (str(path), st.st_mtime_ns, st.st_size) if st else None
            except OSError:
                stamp = None
            if self._config is None or stamp is None or self._config[0] != stamp:
                self._config = (stamp, load_config(path))
            return self._config[1]

    # ------------------------------------------------------------------ the store

    def _open(self, config: Any) -> Any:
        from voicegw_cli.store import Store

        started = time.perf_counter()
        store = Store.open(config)
        result = store.fold_result
        if result is not None:
            self.last_fold_seconds = time.perf_counter() - started
            self.items_folded += result.items_added
        return store

    def _acquire(self, config: Any) -> Any:
        from voicegw_cli.store import knocked_since

        with self._cond:
            while True:
                store = self._store
                if store is not None and not self._retiring:
                    if knocked_since(config.store_path, self._opened_ns):
                        self._retire_locked(away=True)
                        continue
                    self._users += 1
                    return store
                if store is None and not self._opening and time.monotonic() >= self._away_until:
                    self._opening = True
                    break
                wait = max(0.005, self._away_until - time.monotonic())
                self._cond.wait(timeout=min(wait, 0.05))
        try:
            store = self._open(config)
        except BaseException:
            with self._cond:
                self._opening = False
                self._cond.notify_all()
            raise
        with self._cond:
            self._store = store
            self._opening = False
            self._retiring = False
            self._opened_ns = time.time_ns()
            self._opened_at = self._last_used = time.monotonic()
            self.generation += 1
            self._users += 1
            self._cond.notify_all()
            self._start_reaper()
        return store

    def _release(self, *, close: bool = False) -> None:
        with self._cond:
            self._users -= 1
            self._last_used = time.monotonic()
            if close:
                self.generation += 1
            if close and self._store is not None:
                self._retire_locked(away=False)
            elif self._store is not None and time.monotonic() - self._opened_at > self.hold:
                self._retire_locked(away=False)
            self._close_if_retired_locked()

    def _retire_locked(self, *, away: bool) -> None:
        """No new users; closed when the last one leaves (caller holds the condition)."""
        self._retiring = True
        if away:
            self._away_until = time.monotonic() + self.yield_gap
        self._close_if_retired_locked()

    def _close_if_retired_locked(self) -> None:
        if self._retiring and self._users == 0 and self._store is not None:
            store, self._store = self._store, None
            try:
                store.close()
            except Exception:  # the next open reports a broken store properly
                import logging

                logging.getLogger("voicegw.server").exception("closing the store failed")
            finally:
                self._retiring = False
                self._cond.notify_all()

    def _start_reaper(self) -> None:
        if self._reaper is None or not self._reaper.is_alive():
            self._reaper = threading.Thread(target=self._reap, name="voicegw-store", daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        """Close the store when idle, too old, or knocked for (even between requests)."""
        from voicegw_cli.store import knocked_since

        while not self._stopped:
            time.sleep(min(self.idle, 0.05))
            with self._cond:
                store = self._store
                if store is None:
                    if not self._opening:
                        self._reaper = None
                        return
                    continue
                now = time.monotonic()
                if knocked_since(store.config.store_path, self._opened_ns):
                    self._retire_locked(away=True)
                elif self._users == 0 and (
                    now - self._last_used >= self.idle or now - self._opened_at > self.hold
                ):
                    self._retire_locked(away=False)

    def close(self) -> None:
        """Let go of the store (at shutdown)."""
        self._stopped = True
        with self._cond:
            if self._store is not None:
                self._retire_locked(away=False)

    @contextmanager
    def store(self, *, write: bool = False) -> Iterator[Any]:
        """A store for this request: a cursor on the shared connection (blocking)."""
        from voicegw_cli.store import Store

        config = self.config()
        shared = self._acquire(config)
        view = Store(config, shared.conn.cursor())
        view.read_only = True  # closing the view closes the cursor only
        try:
            yield view
        finally:
            try:
                view.conn.close()
            finally:
                self._release(close=write)

    def run(self, fn: Callable[[Any], T], *, write: bool = False) -> T:
        with self.store(write=write) as store:
            return fn(store)

    async def call(self, fn: Callable[[Any], T], *, write: bool = False) -> T:
        """Run `fn(store)` on a worker thread with the store lent for the call."""
        return await run_in_threadpool(self.run, fn, write=write)
