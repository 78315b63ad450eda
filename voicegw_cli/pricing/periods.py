"""Price periods: which of a model's dated (or time-of-day) prices applies at an instant.

A `Schedule` is an ordered list of (condition, rate) pairs with genai-prices' semantics:
the *last* entry whose condition holds wins; when none holds, the first entry applies.
A rate of None means "no price in this period" (an override before its `effective_from`,
a catalog model before its first listed price). Conditions are evaluated on UTC
microseconds since the epoch, one instant at a time or for a whole numpy array at once, so
a million rows are split into their price periods with a few vector comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voicegw_cli.pricing.rates import Rate

_US_PER_DAY = 86_400_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us(when: datetime) -> int:
    """UTC microseconds since the epoch; a naive datetime is taken as UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def day_start_us(day: date) -> int:
    return (day - date(1970, 1, 1)).days * _US_PER_DAY


@dataclass(frozen=True, slots=True)
class StartsOn:
    """In force from this UTC date on (inclusive)."""

    day: date

    def active(self, ts_us: int) -> bool:
        return ts_us >= day_start_us(self.day)

    def active_array(self, ts_us: Any) -> Any:
        return ts_us >= day_start_us(self.day)

    def describe(self) -> str:
        return f"from {self.day.isoformat()}"


@dataclass(frozen=True, slots=True)
class DailyWindow:
    """In force every day between two UTC times of day (the window may cross midnight)."""

    start: time
    end: time

    def _bounds(self) -> tuple[int, int]:
        def us(t: time) -> int:
            if t.tzinfo is not None:
                t = datetime.combine(date(1970, 1, 1), t).astimezone(UTC).time()
            return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond

        return us(self.start), us(self.end)

    def active(self, ts_us: int) -> bool:
        lo, hi = self._bounds()
        tod = ts_us % _US_PER_DAY
        return (tod >= lo or tod < hi) if hi < lo else (lo <= tod < hi)

    def active_array(self, ts_us: Any) -> Any:
        lo, hi = self._bounds()
        tod = ts_us % _US_PER_DAY
        return (tod >= lo) | (tod < hi) if hi < lo else (tod >= lo) & (tod < hi)

    def describe(self) -> str:
        lo, hi = self._bounds()

        def fmt(us: int) -> str:
            minutes = us // 60_000_000
            return f"{minutes // 60:02d}:{minutes % 60:02d}"

        return f"daily {fmt(lo)}-{fmt(hi)} UTC"


Condition = StartsOn | DailyWindow


@dataclass(frozen=True, slots=True)
class Schedule:
    entries: tuple[tuple[Condition | None, Rate | None], ...]

    def index(self, ts_us: int) -> int:
        """The entry in force at this instant, or -1 when that entry has no rate."""
        chosen = 0
        for i in range(len(self.entries) - 1, -1, -1):
            cond = self.entries[i][0]
            if cond is None or cond.active(ts_us):
                chosen = i
                break
        return chosen if self.entries[chosen][1] is not None else -1

    def index_array(self, ts_us: Any) -> Any:
        """`index` for a numpy int64 array of instants (returns an int64 array)."""
        import numpy as np

        idx = np.zeros(len(ts_us), dtype=np.int64)
        for i, (cond, _rate) in enumerate(self.entries):
            if i == 0:
                continue
            if cond is None:
                idx[:] = i
            else:
                idx[cond.active_array(ts_us)] = i
        missing = [i for i, (_c, rate) in enumerate(self.entries) if rate is None]
        if missing:
            idx[np.isin(idx, missing)] = -1
        return idx

    def rate_at(self, ts_us: int) -> Rate | None:
        i = self.index(ts_us)
        return None if i < 0 else self.entries[i][1]

    @property
    def rates(self) -> list[Rate | None]:
        return [rate for _cond, rate in self.entries]


def period_bounds(
    conditions: list[Condition | None], i: int
) -> tuple[date | None, date | None, str | None]:
    """(valid_from, valid_to, condition text) of entry `i` under last-active-wins."""
    cond = conditions[i]
    if isinstance(cond, DailyWindow):
        return None, None, cond.describe()
    start = cond.day if isinstance(cond, StartsOn) else None
    later = [
        c.day
        for c in conditions[i + 1 :]
        if isinstance(c, StartsOn) and (start is None or c.day > start)
    ]
    windows = [c for c in conditions[i + 1 :] if isinstance(c, DailyWindow)]
    text = None
    if windows:
        text = "outside " + ", ".join(w.describe() for w in windows)
    return start, (min(later) if later else None), text
