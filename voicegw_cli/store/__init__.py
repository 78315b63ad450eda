"""The DuckDB usage store: one embedded file, opened briefly by each command.

DuckDB lets one process hold a file read-write and locks every other process out, so a
command waits a little for another voicegw command to finish instead of failing, and
never shows a raw DuckDB traceback.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from voicegw_cli.errors import StoreBusyError, VoicegwError

if TYPE_CHECKING:
    import duckdb

    from voicegw_cli.config import Config
    from voicegw_cli.store.fold import FoldResult

DEFAULT_LOCK_TIMEOUT = 10.0


class StoreError(VoicegwError):
    exit_code = 3


def _lock_timeout() -> float:
    try:
        return float(os.environ.get("VOICEGW_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT))
    except ValueError:
        return DEFAULT_LOCK_TIMEOUT


#: How long a command waits silently for the lock before it says what it is waiting for.
WAIT_NOTICE_AFTER = 0.5


def _holder(message: str) -> str:
    """`another voicegw process (PID 123)` from DuckDB's lock error, when it names one."""
    import re

    m = re.search(r"PID (\d+)", message)
    return f"process {m.group(1)}" if m else "another process"


#: Longest pause between two tries for the lock: a long-lived reader (`voicegw serve`)
#: that sees a knock lets go for a little longer than this.
MAX_RETRY_DELAY = 0.05


def knock_path(path: Path) -> Path:
    """The file a process waiting for the store's lock touches on every try, so a server
    holding the store (`voicegw serve`) sees it and lets go between two requests."""
    return path.with_name(path.name + ".waiting")


def knocked_since(path: Path, ns: int) -> bool:
    """Has anyone knocked (see `knock_path`) since `ns` (time.time_ns)?"""
    try:
        return knock_path(path).stat().st_mtime_ns > ns
    except OSError:
        return False


def _knock(path: Path) -> None:
    knock = knock_path(path)
    try:
        os.utime(knock)
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            knock.touch()
    except OSError:
        pass


def connect(
    path: Path,
    *,
    read_only: bool = False,
    timeout: float | None = None,
    on_wait: Callable[[str], None] | None = None,
):
    """Open the DuckDB file, retrying while another process holds its lock; `on_wait` is
    told once, after half a second, what is being waited for."""
    import duckdb

    timeout = _lock_timeout() if timeout is None else timeout
    started = time.monotonic()
    deadline = started + timeout
    told = on_wait is None
    delay = 0.02
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            conn = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            msg = str(exc)
            if "lock" not in msg.lower():
                raise StoreError(f"{path}: cannot open the store: {msg.splitlines()[0]}") from None
            _knock(path)
            now = time.monotonic()
            if not told and now - started >= WAIT_NOTICE_AFTER:
                told = True
                on_wait(  # type: ignore[misc]
                    f"waiting up to {timeout:g}s for {path}: {_holder(msg)} has it open "
                    "(another voicegw command or an MCP server)"
                )
            if now >= deadline:
                raise StoreBusyError(
                    f"{path}: the store is in use by another process (waited {timeout:g}s; "
                    "set VOICEGW_LOCK_TIMEOUT to wait longer)"
                ) from None
            time.sleep(delay)
            delay = min(delay * 1.5, MAX_RETRY_DELAY)
        except duckdb.Error as exc:
            raise StoreError(
                f"{path}: not a usable voicegw store: {str(exc).splitlines()[0]}"
            ) from None
    conn.execute("SET TimeZone='UTC'")
    # DuckDB 2.0's compressed materialization narrows sort keys from column statistics and
    # gets SUMs over a FULL OUTER JOIN with an empty side wrong ("INT128 ... out of range
    # for INT8" in the calls queries on a store with usage but no call records yet).
    conn.execute("SET disabled_optimizers = 'compressed_materialization'")
    return conn


class Store:
    """An open store. Use `Store.open(config)` as a context manager."""

    def __init__(self, config: Config, conn: duckdb.DuckDBPyConnection) -> None:
        self.config = config
        self.conn = conn
        self.fold_result: FoldResult | None = None
        self.dirty = False
        self.read_only = False
        #: Set after a failed write (a full disk): close only closes, writes nothing more.
        self.broken = False

    @classmethod
    def open(
        cls,
        config: Config,
        *,
        fold: bool = True,
        read_only: bool = False,
        timeout: float | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> Store:
        conn = connect(config.store_path, read_only=read_only, timeout=timeout, on_wait=on_wait)
        store = cls(config, conn)
        store.read_only = read_only
        try:
            if not read_only:
                from voicegw_cli.store.migrations import migrate

                migrate(conn)
                if fold:
                    store.fold()
        except BaseException:
            conn.close()
            raise
        return store

    def fold(self) -> FoldResult:
        """Fold what is new: the local spool, or with `storage.ship_to` the segments the
        fleet's hosts shipped there (the local spool is then the shipper's to upload)."""
        if self.config.ship is not None:
            from voicegw_cli.store.shipped import fold_shipped

            self.fold_result = fold_shipped(self.conn, self.config)
        else:
            from voicegw_cli.store.fold import fold_spool

            self.fold_result = fold_spool(self.conn, self.config.spool_dir)
        if self.fold_result.changed or not _snapshot_exists(self.config):
            self.dirty = True
        return self.fold_result

    def insert_items(self, table: Any) -> int:
        """Insert an Arrow table of line-item columns; rows whose id exists are skipped."""
        from voicegw_cli.store.fold import insert_items

        added = insert_items(self.conn, table)
        self.dirty = self.dirty or added > 0
        return added

    def insert_staged(self, name: str) -> int:
        """Insert the line items of temporary table `name` (typed, by column name); rows
        whose id exists are skipped. Runs in the caller's transaction."""
        from voicegw_cli.store.fold import insert_from

        added = insert_from(self.conn, name)
        self.dirty = self.dirty or added > 0
        return added

    def close(self) -> None:
        try:
            if not self.read_only and not self.broken:
                from voicegw_cli.store.snapshot import projects_changed, write_snapshot

                if self.dirty or projects_changed(self.conn, self.config):
                    payload = write_snapshot(self.conn, self.config)
                    if self.config.ship is not None and not self.config.ship.read_only:
                        _publish(self.config, payload)
                from voicegw_cli.store.gateway_snapshot import refresh_gateway_snapshot

                refresh_gateway_snapshot(self.conn, self.config)
        finally:
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _publish(config: Config, payload: dict[str, Any]) -> None:
    """Put the snapshot where every host's guard reads it; a failure only delays them."""
    import logging

    from voicegw_cli.fleet.snapshot import publish
    from voicegw_cli.fleet.target import TargetError, open_target

    try:
        publish(open_target(config.ship), payload)
    except TargetError as exc:
        logging.getLogger("voicegw.store").warning(
            "voicegw: cannot publish the spend snapshot: %s", exc
        )


def _snapshot_exists(config: Config) -> bool:
    from voicegw_cli.store.snapshot import snapshot_path

    return snapshot_path(config).exists()


__all__ = ["Store", "StoreError", "connect"]
