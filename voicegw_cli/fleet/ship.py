"""The shipper: closed spool segments to `storage.ship_to`, one immutable object each.

A spool file whose writer's lock is free is final (see `voicegw_cli.spool`). The shipper
claims such a file with the same lock (so two shippers never take one file, and a writer
never has it), puts its complete lines as one object named by window, host and the file's
own unique name (`layout.object_key`), then moves it to `.shipped/<window>/` in the
spool. It stays there, counted by this host's budget guard, until the published snapshot
says its window is sealed (folded centrally for good); then it is deleted.

Killed at any point, nothing is lost: before the move the file is still in the spool and
is shipped again (the central fold knows each segment by host and name, so a second copy
adds nothing); after it the object is in the bucket. Upload failures leave the file where
it is and the next pass retries, with backoff; the spool keeps growing, bounded by
`max_backlog_bytes`, past which the hook warns and holds new usage in memory.

One pass at a time per spool directory (a lock file elects the shipper among the
processes of a host); the agent's event loop never waits for any of this.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import random
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicegw_cli import clock
from voicegw_cli.fleet.layout import WINDOW, object_key, parse_window, window_name, window_of
from voicegw_cli.fleet.target import Target, TargetError, open_target
from voicegw_cli.spool import host_name, segment_files

if TYPE_CHECKING:
    from voicegw_cli.config import Config

log = logging.getLogger("voicegw.fleet")

#: Shipped segments wait here (by window) until the central fold has sealed their window.
SHIPPED_DIR = ".shipped"
STATE_NAME = ".ship-state.json"
LOCK_NAME = ".shipper.lock"
#: Shipped segments are dropped after this long even without a sealing snapshot.
KEEP_SHIPPED = timedelta(hours=48)
#: Backoff after failed passes: doubling from the ship interval up to this.
MAX_BACKOFF_SECONDS = 60.0


def ship_host(config: Config) -> str:
    """This host's name in object keys: `storage.host`, else $VOICEGW_HOST, else hostname."""
    name = (config.ship.host if config.ship else None) or host_name()
    return name.replace("/", "_")


def ship_interval(config: Config) -> float:
    """How often a host's shipper looks for closed segments."""
    assert config.ship is not None
    return min(5.0, max(0.2, config.ship.segment_max_seconds / 2))


def shipped_dir(spool_dir: Path) -> Path:
    return Path(spool_dir) / SHIPPED_DIR


def shipped_files(spool_dir: Path) -> list[tuple[datetime, str, Path]]:
    """(window start, spool path, file) of every shipped segment kept here."""
    root = shipped_dir(spool_dir)
    out: list[tuple[datetime, str, Path]] = []
    if not root.is_dir():
        return out
    for day in sorted(root.iterdir()):
        if not day.is_dir():
            continue
        for win in sorted(day.iterdir()):
            try:
                start = parse_window(f"{day.name}/{win.name}")
            except ValueError:
                continue
            for rel, path in segment_files(win):
                out.append((start, rel, path))
    return out


# ------------------------------------------------------------------ backlog


@dataclass(slots=True)
class Backlog:
    """What this host has not shipped yet, and how shipping is going."""

    files: int = 0
    bytes: int = 0
    closed_files: int = 0
    oldest_seconds: float | None = None
    shipped_waiting: int = 0
    last_success: str | None = None
    last_error: str | None = None
    failures: int = 0

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def _read_state(spool_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((Path(spool_dir) / STATE_NAME).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def unshipped_bytes(spool_dir: Path) -> int:
    total = 0
    for _rel, path in segment_files(spool_dir):
        with contextlib.suppress(FileNotFoundError):
            total += path.stat().st_size
    return total


def backlog(spool_dir: Path) -> Backlog:
    """Unshipped spool files (open and closed) and the last pass's outcome."""
    from voicegw_cli.spool import writer_alive

    out = Backlog()
    now = clock.time()
    for _rel, path in segment_files(spool_dir):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        out.files += 1
        out.bytes += st.st_size
        if not writer_alive(path):
            out.closed_files += 1
        age = max(0.0, now - st.st_mtime)
        out.oldest_seconds = age if out.oldest_seconds is None else max(out.oldest_seconds, age)
    out.shipped_waiting = len(shipped_files(spool_dir))
    state = _read_state(spool_dir)
    out.last_success = state.get("last_success")
    out.last_error = state.get("last_error")
    out.failures = int(state.get("failures") or 0)
    return out


# ------------------------------------------------------------------ one pass


@dataclass(slots=True)
class ShipResult:
    shipped: int = 0
    bytes: int = 0
    #: Files still being written (skipped until their writer closes them).
    live: int = 0
    #: Uploads repeated because they finished too late for their window.
    reshipped: int = 0
    torn_bytes: int = 0
    pruned: int = 0
    error: str | None = None
    #: False when another process on this host was already shipping.
    elected: bool = True

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


class Shipper:
    """Ships one spool directory's closed segments (`ship_once`)."""

    def __init__(self, config: Config, *, target: Target | None = None) -> None:
        if config.ship is None:
            raise TargetError("storage.ship_to is not set: nothing to ship to")
        self.config = config
        self.settings = config.ship
        self.spool_dir = Path(config.spool_dir)
        self.target = target or open_target(config.ship)
        self.host = ship_host(config)

    def _elect(self, wait: float) -> int | None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.spool_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return None
                time.sleep(0.05)

    def ship_once(self, *, wait: float = 0.0) -> ShipResult:
        """Ship every closed segment now; stops at the first upload failure (the bucket is
        down: the rest waits for the next pass). Never raises for the target's errors."""
        result = ShipResult()
        fd = self._elect(wait)
        if fd is None:
            result.elected = False
            return result
        try:
            try:
                for rel, path in segment_files(self.spool_dir):
                    self._ship_file(rel, path, result)
            except TargetError as exc:
                result.error = str(exc)
            result.pruned = self.prune()
            self._write_state(result)
        finally:
            os.close(fd)  # releases the election lock
        return result

    def _ship_file(self, rel: str, path: Path, result: ShipResult) -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                result.live += 1  # its writer still appends to it
                return
            try:  # the claim is ours; is it still the file listed (not moved meanwhile)?
                if not os.path.samestat(os.fstat(fd), os.stat(path)):
                    return
            except FileNotFoundError:
                return
            with os.fdopen(os.dup(fd), "rb") as f:
                data = f.read()
            cut = data.rfind(b"\n") + 1
            if cut < len(data):
                result.torn_bytes += len(data) - cut
                log.warning(
                    "voicegw: %s: dropping %d bytes of a torn last line (its writer died)",
                    path,
                    len(data) - cut,
                )
            if cut == 0:
                path.unlink(missing_ok=True)
                return
            window = self._upload(rel, data[:cut], result)
            dest = shipped_dir(self.spool_dir) / window_name(window) / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
            result.shipped += 1
            result.bytes += cut
        finally:
            os.close(fd)

    def _upload(self, rel: str, body: bytes, result: ShipResult) -> datetime:
        """Put `body` into the current window; again if it finished too late for it."""
        late = timedelta(seconds=self.settings.grace_seconds / 2)
        for _ in range(3):
            window = window_of(clock.now())
            self.target.put(object_key(window, self.host, rel), body)
            if clock.now() <= window + WINDOW + late:
                return window
            result.reshipped += 1
        raise TargetError(f"{self.target.url}: uploads keep finishing too late for their window")

    def prune(self, sealed_through: datetime | None = None) -> int:
        """Delete shipped segments whose window the published snapshot says is sealed (or
        that are older than KEEP_SHIPPED); returns how many were deleted."""
        if sealed_through is None:
            sealed_through = self._sealed_through()
        too_old = clock.now() - KEEP_SHIPPED
        root = shipped_dir(self.spool_dir)
        removed = 0
        if not root.is_dir():
            return 0
        for day in sorted(root.iterdir()):
            for win in sorted(day.iterdir()) if day.is_dir() else []:
                try:
                    start = parse_window(f"{day.name}/{win.name}")
                except ValueError:
                    continue
                sealed = sealed_through is not None and start + WINDOW <= sealed_through
                if sealed or start + WINDOW <= too_old:
                    removed += len(segment_files(win))
                    shutil.rmtree(win, ignore_errors=True)
            with contextlib.suppress(OSError):
                day.rmdir()  # only when empty
        return removed

    def _sealed_through(self) -> datetime | None:
        from voicegw_cli.fleet.snapshot import fetch

        try:
            snap = fetch(
                self.config, max_age=self.config.budgets.refresh_seconds, target=self.target
            )
        except TargetError:
            return None
        return sealed_through(snap)

    def _write_state(self, result: ShipResult) -> None:
        state = _read_state(self.spool_dir)
        stamp = clock.now().isoformat()
        if result.error:
            state["last_error"] = f"{stamp} {result.error}"
            state["failures"] = int(state.get("failures") or 0) + 1
        else:
            state["failures"] = 0
            if result.shipped:
                state["last_success"] = stamp
        path = self.spool_dir / STATE_NAME
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(state))
            os.replace(tmp, path)
        except OSError:
            pass


def sealed_through(snapshot: dict[str, Any] | None) -> datetime | None:
    """Every window ending at or before this instant is folded for good (per snapshot)."""
    text = ((snapshot or {}).get("fleet") or {}).get("sealed_through")
    if not text:
        return None
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


# ------------------------------------------------------------------ the hook's thread


class ShipperThread:
    """A shipper in a background thread of an agent process (owned by the Recorder).

    Ships every `ship_interval`; after a failed pass waits longer (doubling, with
    jitter, up to a minute). After each pass it measures the backlog: past
    `max_backlog_bytes` it warns and `backlog_full` is True until the backlog drains.
    """

    def __init__(self, config: Config, *, on_exit: Callable[[], Any] | None = None) -> None:
        self.config = config
        self.shipper = Shipper(config)
        self._on_exit = on_exit
        self._exit_hooked = False
        self._final_done = False
        self.interval = ship_interval(config)
        self.backlog_full = False
        self.last: ShipResult | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0
        self._warned_at = -1e9

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._final_done = False
        self._thread = threading.Thread(target=self._run, name="voicegw-shipper", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _delay(self) -> float:
        if not self._failures:
            return self.interval
        base = min(MAX_BACKOFF_SECONDS, self.interval * 2**self._failures)
        return base * (0.5 + random.random() / 2)

    def _hook_exit(self) -> None:
        """pyarrow shuts its S3 client down at exit (an atexit hook of pyarrow.fs):
        registered after it, our last flush and ship run before it. Done in this thread,
        so the import never lands on the agent's event loop."""
        if self._exit_hooked:
            return
        import atexit

        import pyarrow.fs  # noqa: F401

        atexit.register(self._at_exit)
        self._exit_hooked = True

    def _run(self) -> None:
        self._hook_exit()
        while not self._stop.is_set():
            self._wake.wait(self._delay())
            self._wake.clear()
            if self._stop.is_set():
                break
            self.run_once()

    def run_once(self, wait: float = 0.0) -> ShipResult | None:
        try:
            result = self.shipper.ship_once(wait=wait)
        except Exception:  # never let the thread die; the next pass retries
            log.exception("voicegw: shipping the spool failed")
            self._failures += 1
            return None
        self.last = result
        if result.elected:
            if result.error:
                self._failures += 1
                log.warning("voicegw: cannot ship the spool (will retry): %s", result.error)
            else:
                self._failures = 0
        self._check_backlog()
        return result

    def _check_backlog(self) -> None:
        limit = self.config.ship.max_backlog_bytes if self.config.ship else 0
        size = unshipped_bytes(self.config.spool_dir)
        full = size > limit
        now = time.monotonic()
        if full and (not self.backlog_full or now - self._warned_at > 60):
            self._warned_at = now
            log.warning(
                "voicegw: %d bytes of usage not shipped (limit %d): new usage is held in "
                "memory until %s is reachable again",
                size,
                limit,
                self.config.ship.url if self.config.ship else "the target",
            )
        self.backlog_full = full

    def _at_exit(self) -> None:
        try:
            if self._on_exit is not None:
                self._on_exit()
            else:
                self.stop(timeout=2.0)
        except Exception:  # pragma: no cover - best effort at interpreter exit
            log.exception("voicegw: the last ship at exit failed")

    def stop(self, *, final: bool = True, timeout: float = 5.0) -> None:
        """Stop the thread; with `final`, make one last pass (waiting for another
        process's pass up to `timeout`)."""
        self._stop.set()
        self._wake.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
        self._thread = None
        if final and not self._final_done:
            self._final_done = True
            self.run_once(wait=timeout)
