"""Calendar periods in the configured time zone, as UTC bounds for the store.

"Today", "this week" and "this month" are calendar periods in `timezone:` (UTC by
default), never rolling windows; every report prints the bounds and the zone. One parser
(`resolve`) reads every command's `--period` / `--start` / `--end`, so the words mean the
same everywhere: the CLI, MCP and the HTTP API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from voicegw_cli import clock
from voicegw_cli.errors import UsageError


@dataclass(frozen=True, slots=True)
class Period:
    label: str
    start: date  # first local day, inclusive
    end: date  # last local day, inclusive
    tz: ZoneInfo

    @property
    def start_utc(self) -> datetime:
        """Naive UTC, as the store keeps timestamps."""
        return _local_midnight_utc(self.start, self.tz)

    @property
    def end_utc(self) -> datetime:
        """Exclusive naive-UTC end: the local midnight after the last day."""
        return _local_midnight_utc(self.end + timedelta(days=1), self.tz)

    def describe(self) -> str:
        s = datetime.combine(self.start, time(), self.tz)
        e = datetime.combine(self.end + timedelta(days=1), time(), self.tz)
        return f"{self.label}: {s.isoformat()} to {e.isoformat()} (exclusive), {self.tz.key}"

    def as_dict(self) -> dict[str, str]:
        return {
            "label": self.label,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "timezone": self.tz.key,
            "start_utc": self.start_utc.replace(tzinfo=UTC).isoformat(),
            "end_utc_exclusive": self.end_utc.replace(tzinfo=UTC).isoformat(),
        }


def _local_midnight_utc(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tz).astimezone(UTC).replace(tzinfo=None)


def local_today(tz: ZoneInfo, now: datetime | None = None) -> date:
    return (now or clock.now()).astimezone(tz).date()


def day(d: date, tz: ZoneInfo) -> Period:
    return Period(f"day {d.isoformat()}", d, d, tz)


def week(d: date, tz: ZoneInfo) -> Period:
    start = d - timedelta(days=d.weekday())  # ISO weeks start on Monday
    return Period(f"week of {start.isoformat()}", start, start + timedelta(days=6), tz)


def month(d: date, tz: ZoneInfo) -> Period:
    start = d.replace(day=1)
    nxt = (start + timedelta(days=32)).replace(day=1)
    return Period(f"month {start:%Y-%m}", start, nxt - timedelta(days=1), tz)


def parse_date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: expected a date like 2026-11-01, got {text!r}") from None


#: The words `--period` takes, besides YYYY-MM and YYYY-MM-DD.
PERIOD_WORDS = ("today", "yesterday", "week", "last-week", "month", "last-month")
PERIOD_HELP = (
    "today, yesterday, week, last-week, month, last-month, YYYY-MM (a month) or "
    "YYYY-MM-DD (a day); calendar periods in the configured time zone"
)
UTC_ZONE = ZoneInfo("UTC")


def parse_period(text: str, tz: ZoneInfo, now: datetime | None = None) -> Period:
    """One `--period` value as a Period in `tz`."""
    word = text.strip().lower().replace("_", "-")
    ref = local_today(tz, now)
    if word == "today":
        p = day(ref, tz)
        return Period(f"today {ref.isoformat()}", p.start, p.end, tz)
    if word == "yesterday":
        d = ref - timedelta(days=1)
        return Period(f"yesterday {d.isoformat()}", d, d, tz)
    if word in ("week", "this-week"):
        return week(ref, tz)
    if word == "last-week":
        p = week(ref - timedelta(days=7), tz)
        return Period(f"last {p.label}", p.start, p.end, tz)
    if word in ("month", "this-month"):
        return month(ref, tz)
    if word == "last-month":
        p = month(ref.replace(day=1) - timedelta(days=1), tz)
        return Period(f"last {p.label}", p.start, p.end, tz)
    if len(word) == 7 and word[4] == "-":
        try:
            first = date.fromisoformat(word + "-01")
        except ValueError:
            first = None
        if first is not None:
            return month(first, tz)
    try:
        return day(date.fromisoformat(word), tz)
    except ValueError:
        pass
    raise UsageError(f"--period: expected {PERIOD_HELP.split('; ')[0]}; got {text!r}")


def resolve(
    tz: ZoneInfo,
    *,
    period: str | None = None,
    start: str | None = None,
    end: str | None = None,
    default: str | None = "today",
    utc: bool = False,
    aliases: dict[str, bool] | None = None,
    now: datetime | None = None,
) -> Period:
    """The period a command was asked for: `--period` or `--start/--end` (one of them), or
    an old flag from `aliases` (e.g. {"--today": True}); else `default` (None: required).

    `utc=True` reads the same words in UTC instead of the configured zone (provider
    exports are in UTC)."""
    zone = UTC_ZONE if utc else tz
    chosen = [name for name, on in (aliases or {}).items() if on]
    if period:
        chosen.append("--period")
    if start or end:
        chosen.append("--start/--end")
    if len(chosen) > 1:
        raise UsageError(f"choose one period, not {' and '.join(chosen)}")
    if start or end:
        if not (start and end):
            raise UsageError("--start and --end go together")
        s, e = parse_date(start, "--start"), parse_date(end, "--end")
        if s > e:
            raise UsageError(f"--start {s} is after --end {e}")
        return Period(f"{s.isoformat()} to {e.isoformat()}", s, e, zone)
    if chosen:
        word = period or chosen[0].lstrip("-")
        return parse_period(word, zone, now)
    if default is None:
        raise UsageError("say which period: --period (e.g. last-month) or --start and --end")
    return parse_period(default, zone, now)


SINCE_HELP = (
    "A day (YYYY-MM-DD, from local midnight), a local date-time (an offset like +00:00 "
    "makes it exact), or a duration back from now (30m, 2h, 7d, 2w)"
)


def parse_duration(text: str, option: str) -> float:
    """`10s`, `1.5m`, `2h`, `500ms` or plain seconds (`10`) as seconds (> 0)."""
    import re

    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)?", text.strip())
    if not m or float(m.group(1)) <= 0:
        raise UsageError(f"{option}: expected a duration like 10s, 1m or 500ms, got {text!r}")
    scale = {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "h": 3600.0}[m.group(2)]
    return float(m.group(1)) * scale


def parse_since(
    text: str, tz: ZoneInfo, *, option: str = "--since", now: datetime | None = None
) -> datetime:
    """A `--since` value as a naive-UTC instant: dates and date-times without an offset are
    local to `tz`, like every other period word; durations count back from now."""
    import re

    m = re.fullmatch(r"(\d+)\s*([smhdw])", text.strip())
    if m:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
        delta = timedelta(**{unit[m.group(2)]: int(m.group(1))})
        return ((now or clock.now()) - delta).astimezone(UTC).replace(tzinfo=None)
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{option}: expected a date, date-time or duration like 2h, got {text!r}"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(UTC).replace(tzinfo=None)


def choose(
    tz: ZoneInfo,
    *,
    today: bool = False,
    week_: bool = False,
    month_: bool = False,
    start: str | None = None,
    end: str | None = None,
    default: str = "today",
    now: datetime | None = None,
) -> Period:
    """One period from mutually exclusive CLI flags."""
    chosen = [n for n, v in (("--today", today), ("--week", week_), ("--month", month_)) if v]
    if start or end:
        chosen.append("--start/--end")
    if len(chosen) > 1:
        raise UsageError(f"choose one period, not {' and '.join(chosen)}")
    ref = local_today(tz, now)
    if start or end:
        if not (start and end):
            raise UsageError("--start and --end go together")
        s, e = parse_date(start, "--start"), parse_date(end, "--end")
        if s > e:
            raise UsageError(f"--start {s} is after --end {e}")
        return Period(f"{s.isoformat()} to {e.isoformat()}", s, e, tz)
    kind = {"--today": "today", "--week": "week", "--month": "month"}.get(
        chosen[0] if chosen else "", default
    )
    if kind == "week":
        return week(ref, tz)
    if kind == "month":
        return month(ref, tz)
    p = day(ref, tz)
    return Period(f"today {ref.isoformat()}", p.start, p.end, tz)
