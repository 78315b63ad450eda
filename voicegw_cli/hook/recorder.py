"""The off-loop half of the hook: one background thread per process that turns queued usage
into priced line items and appends them to this process's spool file, in batches.

Why a thread and a deque: the agent's event loop must pay almost nothing per usage event,
so the only thing done on the loop is `Recorder.submit`, a single `deque.append` of the raw
event data and a function that converts it later. Everything that costs (delta arithmetic,
building `LineItem`s, pricing, JSON, file I/O) happens here, off the loop, once per flush
interval. A hard crash therefore loses at most what was queued since the last flush.

The flusher works on a fixed cadence (the next tick is due one interval after the previous
tick *started*), so an event waits at most one interval plus the time to process its own
batch. While it works it briefly sleeps every few hundred microseconds, giving the GIL back
so the agent's loop never waits for a whole switch interval (5 ms) behind a large batch.

With `storage.ship_to` (a fleet), the recorder also owns a shipper thread
(`voicegw_cli.fleet.ship.ShipperThread`): the flusher closes spool files at their rotation
age on each tick, the shipper uploads closed ones. While the unshipped backlog is over its
bound, new usage waits in memory (like a failing disk) instead of growing the spool.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicegw_cli import clock
from voicegw_cli.items import UNPRICED, LineItem
from voicegw_cli.spool import SpoolWriter, dumps_record, events_dir, rotate_due

if TYPE_CHECKING:
    from voicegw_cli.config import Config
    from voicegw_cli.fleet.ship import ShipperThread

log = logging.getLogger("voicegw.hook")

#: A function run off the loop that turns one queued payload into line items (priced here)
#: and other spool records (dicts of `voicegw_cli.records`, written as they are).
Converter = Callable[[Any], Iterable[LineItem | dict[str, Any]]]

#: Give the GIL back after this much continuous work in the flusher thread...
_YIELD_AFTER_S = 0.0002
#: ...by sleeping this long (a zero sleep does not reliably let a waiting thread in).
_YIELD_FOR_S = 0.00005
#: Serialised lines kept for a retry when the spool cannot be written (disk full...).
_MAX_UNWRITTEN_BYTES = 64 << 20


class _BacklogFull(OSError):
    """The unshipped spool is over `storage.max_backlog_bytes`."""


class _Yielder:
    """Cooperative GIL release for CPU-bound work in the flusher thread; remembers the
    longest stretch of work between two releases (an upper bound on our GIL hold)."""

    __slots__ = ("_last", "enabled", "longest")

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._last = time.perf_counter()
        self.longest = 0.0

    def __call__(self) -> None:
        now = time.perf_counter()
        stretch = now - self._last
        if self.enabled and stretch > _YIELD_AFTER_S:
            if stretch > self.longest:
                self.longest = stretch
            time.sleep(_YIELD_FOR_S)
            self._last = time.perf_counter()

    def done(self) -> float:
        return max(self.longest, time.perf_counter() - self._last)


@dataclass(slots=True)
class RecorderStats:
    events: int = 0
    items: int = 0
    #: Call records, latency samples and errors written (`voicegw_cli.records`).
    records: int = 0
    batches: int = 0
    bytes_written: int = 0
    convert_errors: int = 0
    write_errors: int = 0
    unpriced: int = 0
    #: Guardrail events written to the events spool.
    events_written: int = 0
    #: Longest stretch of flusher work between GIL releases, seconds.
    longest_stretch_s: float = 0.0


def _default_pricer(overrides: dict[str, Any] | None) -> Any:
    """The shared Pricer, or None when the pricing room is unavailable (items stay unpriced
    and `voicegw reprice` can price them later from their units)."""
    try:
        from voicegw_cli.pricing import Pricer
    except ImportError:  # pragma: no cover - pricing is part of the package
        log.warning("voicegw pricing is unavailable; usage is recorded unpriced")
        return None
    return Pricer(overrides or None)


def _warm_pricer(pricer: Any) -> None:
    """Load the LLM price data now: the first LLM rate lookup loads genai-prices (~0.1 s of
    work that holds the GIL), which must not land in the middle of a call."""
    if pricer is None:
        return
    warm = getattr(pricer, "warm", None)
    if callable(warm):
        warm()
        return

    pricer.rate_for("openai", "gpt-4o-mini", clock.now())


class Recorder:
    """Queues usage on the event loop; prices and spools it in a background thread.

    `submit` is the only method meant for the event loop. `flush` drains synchronously
    from any thread; `aflush` does it without blocking the loop.
    """

    def __init__(
        self,
        spool_dir: str | Path,
        *,
        flush_interval: float = 1.0,
        pricing_overrides: dict[str, Any] | None = None,
        pricer_factory: Callable[[dict[str, Any] | None], Any] | None = None,
        yield_gil: bool = True,
        ship_config: Config | None = None,
    ) -> None:
        if flush_interval <= 0:
            raise ValueError("flush_interval must be > 0")
        #: A config with `storage.ship_to`: spool files rotate and a shipper thread runs.
        self.ship_config = ship_config if ship_config and ship_config.ship else None
        self.spool_dir = Path(spool_dir)
        self.flush_interval = float(flush_interval)
        self.pricing_overrides = pricing_overrides
        self._pricer_factory = pricer_factory or _default_pricer
        self._yield_gil = yield_gil
        self._init_process_state()
        _RECORDERS.add(self)

    # -------------------------------------------------------------- process state

    def _init_process_state(self) -> None:
        """Everything that must not be shared with a forked child."""
        self._queue: deque[tuple[Converter, Any]] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._drain_lock = threading.Lock()
        self._pricer_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._writer = SpoolWriter(self.spool_dir)
        # Guardrail events: records queued on the loop, written beside the usage (the
        # writer opens its file on first use, so processes without guardrails have none).
        self._events: deque[dict[str, Any]] = deque()
        self._event_writer = SpoolWriter(events_dir(self.spool_dir))
        self._unwritten_events = b""
        self._pricer: Any = None
        self._pricer_ready = False
        self._unwritten = b""
        self._warned_unpriced: set[tuple[str, str]] = set()
        self._shipper: ShipperThread | None = None
        self.stats = RecorderStats()

    def _after_fork_in_child(self) -> None:
        # The parent's queued events are the parent's to write: a child that kept them
        # would write them twice. Locks may have been held by the parent's flusher thread.
        self._init_process_state()

    # -------------------------------------------------------------- event loop side

    def submit(self, convert: Converter, payload: Any) -> None:
        """Queue one event; called on the agent's event loop, so it only appends."""
        self._queue.append((convert, payload))

    def submit_event(self, record: dict[str, Any]) -> None:
        """Queue one guardrail event record (on the event loop: a single append)."""
        self._events.append(record)

    def wake(self) -> None:
        """Ask the flusher to drain now (e.g. a session closed) instead of at the next tick."""
        self._wake.set()

    # -------------------------------------------------------------- thread

    def start(self) -> None:
        """Start the flusher thread if it is not running in this process (idempotent)."""
        t = self._thread
        if t is not None and t.is_alive():
            return
        self._stop.clear()
        self._start_shipper()
        self._thread = threading.Thread(target=self._run, name="voicegw-flusher", daemon=True)
        self._thread.start()

    def _start_shipper(self) -> None:
        cfg = self.ship_config
        if cfg is None or cfg.ship is None:
            return
        from voicegw_cli.fleet.ship import ShipperThread
        from voicegw_cli.spool import Rotation, set_rotation

        set_rotation(Rotation(cfg.ship.segment_max_bytes, cfg.ship.segment_max_seconds))
        if self._shipper is None:
            self._shipper = ShipperThread(cfg, on_exit=lambda: self.stop(timeout=2.0))
        self._shipper.start()

    @property
    def shipper(self) -> ShipperThread | None:
        return self._shipper

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        self._get_pricer()  # load price tables now, not in the middle of a call's first batch
        interval = self.flush_interval
        next_tick = time.monotonic() + interval
        while not self._stop.is_set():
            self._wake.wait(max(0.0, next_tick - time.monotonic()))
            self._wake.clear()
            started = time.monotonic()
            try:
                self._drain()
                if self._shipper is not None:
                    rotate_due()  # closed files are the shipper's to upload
            except Exception:  # never let the flusher die; the next tick retries
                log.exception("voicegw: flushing usage failed")
            next_tick = started + interval

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and write everything still queued."""
        self._stop.set()
        self._wake.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
        self._thread = None
        self.flush()
        if self._shipper is not None:  # close this file and ship it with the rest
            self._writer.close()
            self._shipper.stop(final=True, timeout=timeout)

    def close(self) -> None:
        self.stop()
        self._writer.close()
        self._event_writer.close()

    # -------------------------------------------------------------- draining

    def flush(self) -> int:
        """Drain the queue now, from any thread; returns the number of line items written
        (call records, latency samples and errors are counted in `stats.records`)."""
        return self._drain()

    async def aflush(self) -> int:
        return await asyncio.to_thread(self._drain)

    @property
    def pending(self) -> int:
        return len(self._queue) + len(self._events)

    def warm(self) -> None:
        """Load price tables now (e.g. in a worker's setup function), not at first use."""
        self._get_pricer()

    def _get_pricer(self) -> Any:
        if not self._pricer_ready:
            with self._pricer_lock:
                if not self._pricer_ready:
                    try:
                        self._pricer = self._pricer_factory(self.pricing_overrides)
                        _warm_pricer(self._pricer)
                    except Exception:
                        log.exception("voicegw: could not load prices; usage is recorded unpriced")
                        self._pricer = None
                    self._pricer_ready = True
        return self._pricer

    def _price(self, item: LineItem, pricer: Any) -> None:
        if pricer is not None and item.cost_usd is None:
            try:
                pricer.price_item(item)
            except Exception as exc:  # a price bug must not lose the units
                key = (item.provider, item.model)
                if key not in self._warned_unpriced:
                    self._warned_unpriced.add(key)
                    log.warning(
                        "voicegw: cannot price %s/%s (%s); recorded unpriced",
                        item.provider,
                        item.model,
                        exc,
                    )
                item.cost_usd, item.pricing_source = None, UNPRICED
        if item.cost_usd is None:
            self.stats.unpriced += 1

    def _drain_events(self) -> None:
        """Write queued guardrail events (called with the drain lock held)."""
        q = self._events
        if not q and not self._unwritten_events:
            return
        records: list[dict[str, Any]] = []
        while True:
            try:
                records.append(q.popleft())
            except IndexError:
                break
        data = self._unwritten_events + b"".join(dumps_record(r).encode() + b"\n" for r in records)
        try:
            self._event_writer.write_lines(data)
        except OSError as exc:
            self.stats.write_errors += 1
            log.error("voicegw: cannot write guardrail events (%s); will retry", exc)
            self._unwritten_events = data if len(data) <= _MAX_UNWRITTEN_BYTES else b""
            return
        self._unwritten_events = b""
        self.stats.events_written += len(records)

    def _drain(self) -> int:
        with self._drain_lock:
            self._drain_events()
            q = self._queue
            batch: list[tuple[Converter, Any]] = []
            pop = q.popleft
            while True:
                try:
                    batch.append(pop())
                except IndexError:
                    break
            if not batch and not self._unwritten:
                return 0
            yielder = _Yielder(self._yield_gil)
            items: list[LineItem] = []
            records: list[dict[str, Any]] = []
            for convert, payload in batch:
                try:
                    for out in convert(payload):
                        (items if isinstance(out, LineItem) else records).append(out)
                except Exception:
                    self.stats.convert_errors += 1
                    log.exception("voicegw: could not convert a usage event")
                yielder()
            self.stats.events += len(batch)
            pricer = self._get_pricer() if items else None
            parts: list[bytes] = [self._unwritten]
            for item in items:
                self._price(item, pricer)
                parts.append(dumps_record(item.to_record()).encode() + b"\n")
                yielder()
            for rec in records:
                parts.append(dumps_record(rec).encode() + b"\n")
            data = b"".join(parts)
            self.stats.longest_stretch_s = max(self.stats.longest_stretch_s, yielder.done())
            if not data:
                return 0
            try:
                if self._shipper is not None and self._shipper.backlog_full:
                    raise _BacklogFull  # the shipper thread warns; hold usage in memory
                self._writer.write_lines(data)
            except OSError as exc:
                self.stats.write_errors += 1
                if not isinstance(exc, _BacklogFull):
                    log.error(
                        "voicegw: cannot write the spool in %s (%s); will retry",
                        self.spool_dir,
                        exc,
                    )
                if len(data) > _MAX_UNWRITTEN_BYTES:
                    log.error("voicegw: dropping %d bytes of unwritten usage", len(data))
                    data = b""
                self._unwritten = data
                return 0
            self._unwritten = b""
            self.stats.items += len(items)
            self.stats.records += len(records)
            self.stats.batches += 1
            self.stats.bytes_written += len(data)
            return len(items)


# ------------------------------------------------------------------ process-wide

_RECORDERS: weakref.WeakSet[Recorder] = weakref.WeakSet()
_SHARED: dict[tuple[str, float], Recorder] = {}
_shared_lock = threading.Lock()


def shared_recorder(
    spool_dir: str | Path,
    *,
    flush_interval: float = 1.0,
    pricing_overrides: dict[str, Any] | None = None,
    ship_config: Config | None = None,
) -> Recorder:
    """The process's recorder for a spool directory, started (one flusher thread, and a
    shipper thread when `ship_config` has `storage.ship_to`)."""
    key = (str(Path(spool_dir).resolve()), float(flush_interval))
    with _shared_lock:
        rec = _SHARED.get(key)
        if rec is None:
            rec = Recorder(
                spool_dir,
                flush_interval=flush_interval,
                pricing_overrides=pricing_overrides,
                ship_config=ship_config,
            )
            _SHARED[key] = rec
    rec.start()
    return rec


def flush_all() -> int:
    """Write everything queued by every recorder in this process (blocking)."""
    return sum(rec.flush() for rec in list(_RECORDERS))


def _at_exit() -> None:
    for rec in list(_RECORDERS):
        try:
            rec.stop(timeout=2.0)
        except Exception:  # pragma: no cover - best effort at interpreter exit
            log.exception("voicegw: final flush failed")
    # A last ship may have used S3 for the first time just now, after pyarrow's own exit
    # hook: finalize it, or the AWS SDK crashes the interpreter on its way out.
    pafs = sys.modules.get("pyarrow.fs")
    if pafs is not None and hasattr(pafs, "ensure_s3_finalized"):
        pafs.ensure_s3_finalized()


def _after_fork_in_child() -> None:
    global _shared_lock
    _shared_lock = threading.Lock()
    for rec in list(_RECORDERS):
        rec._after_fork_in_child()


atexit.register(_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)
