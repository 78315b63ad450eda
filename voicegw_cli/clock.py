"""The one source of "now" for the whole library.

Every period, budget day, line-item timestamp and "last N hours" asks this module, never
the wall clock directly, so a test (or a support engineer reproducing a report) can pin
time. Two environment variables reach child processes too:

* ``VOICEGW_NOW=2026-12-01T00:30:00+05:30`` freezes time at that instant;
* ``VOICEGW_CLOCK_OFFSET=<seconds>`` shifts a running clock (what the test suite uses, so
  every process it starts agrees on the time and time still moves).

Monotonic timers (lock waits, flush intervals) stay on `time.monotonic`: they measure
durations, not dates.
"""

from __future__ import annotations

import os
import time as _time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

_offset: float = 0.0
_frozen: float | None = None


def _parse_instant(text: str, var: str) -> float:
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{var}: expected an ISO date-time, got {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _load_env() -> None:
    global _offset, _frozen
    fixed = os.environ.get("VOICEGW_NOW")
    offset = os.environ.get("VOICEGW_CLOCK_OFFSET")
    _frozen = _parse_instant(fixed, "VOICEGW_NOW") if fixed else None
    try:
        _offset = float(offset) if offset else 0.0
    except ValueError:
        raise ValueError(f"VOICEGW_CLOCK_OFFSET: expected seconds, got {offset!r}") from None


_load_env()


def time() -> float:
    """Seconds since the epoch, like `time.time()`, on the library's clock."""
    if _frozen is not None:
        return _frozen
    return _time.time() + _offset


def now() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.fromtimestamp(time(), UTC)


def utcnow_naive() -> datetime:
    """The current instant as naive UTC, the way the store keeps timestamps."""
    return now().replace(tzinfo=None)


def today(tz: ZoneInfo) -> date:
    """The calendar day it is now in `tz`."""
    return now().astimezone(tz).date()


def set_now(when: datetime | None, *, frozen: bool = False) -> None:
    """Move the clock to `when` (running on from there, or stopped there with `frozen`);
    None goes back to the wall clock. Affects this process only."""
    global _offset, _frozen
    if when is None:
        _offset, _frozen = 0.0, None
        return
    if when.tzinfo is None:
        raise ValueError("set_now needs a timezone-aware datetime")
    target = when.timestamp()
    if frozen:
        _frozen = target
    else:
        _frozen = None
        _offset = target - _time.time()


def from_wall(epoch: float) -> float:
    """A wall-clock epoch stamped by someone else (LiveKit uses `time.time()`) on the
    library's clock, so it lines up with everything voicegw stamps."""
    return epoch + offset_seconds()


def offset_seconds() -> float:
    """The shift from the wall clock now in force (for handing to child processes)."""
    return (_frozen - _time.time()) if _frozen is not None else _offset


@contextmanager
def pinned(when: datetime, *, frozen: bool = True) -> Iterator[None]:
    """Run a block at `when`, then restore whatever clock was in force."""
    global _offset, _frozen
    saved = (_offset, _frozen)
    set_now(when, frozen=frozen)
    try:
        yield
    finally:
        _offset, _frozen = saved


def reload_from_env() -> None:
    """Re-read VOICEGW_NOW / VOICEGW_CLOCK_OFFSET (after a test changes them)."""
    _load_env()
