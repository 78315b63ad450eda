"""The tidy shape every provider reader produces, and the strict value parsing they share.

Each reader turns one export into `Rec`s: (model, day, unit kind, quantity, cost). Units
and costs are kept apart because providers ship them in separate files (OpenAI usage vs
costs, Anthropic usage report vs cost report); the diff decides which file's quantities
count. Every value goes through one of the parsers below so that a bad cell always names
its file and its row or field, and becomes exit 3 instead of a traceback.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from voicegw_cli.errors import InputError

# Unit kinds compared by reconcile. Input-token kinds are disjoint: uncached + cached +
# cache writes = everything sent as input (text, audio and image alike). The two audio
# kinds are *parts* of those totals, compared so that a text/audio split shows apart:
# audio input counts cached audio too (as our `audio_input_tokens` does), audio output is
# the audio part of output.
UNCACHED = "uncached_input_tokens"
CACHED = "cached_input_tokens"
CACHE_WRITE = "cache_write_tokens"
OUTPUT = "output_tokens"
AUDIO_IN = "audio_input_tokens"
AUDIO_OUT = "audio_output_tokens"
SECONDS = "audio_seconds"
CHARACTERS = "characters"
CREDITS = "credits"
UNITS: tuple[str, ...] = (
    UNCACHED,
    CACHED,
    CACHE_WRITE,
    OUTPUT,
    AUDIO_IN,
    AUDIO_OUT,
    SECONDS,
    CHARACTERS,
    CREDITS,
)
INPUT_FAMILY: tuple[str, ...] = (UNCACHED, CACHED, CACHE_WRITE)
#: part kind -> the total it is part of
AUDIO_PARTS: dict[str, str] = {AUDIO_IN: UNCACHED, AUDIO_OUT: OUTPUT}

# Rate leaves: what one billed line prices. For text-only models a leaf is its unit kind;
# realtime lines split input and output by modality (and cached audio apart).
UNCACHED_AUDIO = "uncached_audio_input_tokens"
CACHED_AUDIO = "cached_audio_input_tokens"
LEAVES: tuple[str, ...] = (
    UNCACHED,
    CACHED,
    CACHE_WRITE,
    OUTPUT,
    UNCACHED_AUDIO,
    CACHED_AUDIO,
    AUDIO_OUT,
    SECONDS,
    CHARACTERS,
    CREDITS,
)

# Tiers a provider bills apart. Batch is kept on its own row (half price, and never what
# a live voice agent sends); long context stays on its model, shown as its own tier.
BATCH = "batch"
LONG_CONTEXT = "long context"

USAGE = "usage"  # a record from a usage/metering export: its quantity is authoritative
COST = "cost"  # a record from a billing export: its cost counts, its quantity is a fallback


@dataclass(slots=True)
class Rec:
    """One provider figure. `model=None` means the export is not split by model."""

    model: str | None
    day: date | None  # None: the figure covers more than one day (a monthly line)
    unit: str | None  # None: a cost with no unit kind (an invoice line, a flat fee)
    quantity: float | None
    cost: Decimal | None
    kind: str
    modality: str | None = None  # stt/llm/tts/realtime hint for exports without models
    qtol: float = 0.0  # half the last printed digit of the quantity: rounding slack
    ctol: Decimal = Decimal(0)  # the same for the cost
    tier: str | None = None  # BATCH, LONG_CONTEXT, priority...; None: the standard tier
    leaf: str | None = None  # the rate leaf a cost prices, when it is not `unit` itself


@dataclass(slots=True)
class Page:
    """One page of a paged admin API response, as read: how it ends and what it covers."""

    index: int
    has_more: bool
    next_page: str | None
    first_start: datetime | None
    last_end: datetime | None


@dataclass(slots=True)
class ReadResult:
    """What one file held: its format, provider, records and anything worth telling."""

    path: str
    fmt: str
    provider: str
    records: list[Rec] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)  # paged JSON only


class Source:
    """An input file being read; builds `InputError`s that name it and the spot."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.name = str(path)
        self.text = text

    def error(self, where: str | None, problem: str) -> InputError:
        return InputError(self.name, where, problem)


# ---------------------------------------------------------------------------- values


@lru_cache(maxsize=256)
def _half_unit(exponent: int) -> Decimal:
    return Decimal(5).scaleb(exponent - 1) if exponent < 0 else Decimal("0.5")


def half_ulp(value: Decimal) -> Decimal:
    """Half a unit of the last digit written: how far rounding may have moved it."""
    exp = value.as_tuple().exponent
    return _half_unit(exp) if isinstance(exp, int) else Decimal(0)


def text_slack(text: str, *, integers: bool = True) -> Decimal:
    """half_ulp read off printed text (cheaper than parsing twice on hot paths).

    `integers=False` gives whole numbers no slack: a count printed as `12` is exact."""
    dot = text.find(".")
    if dot < 0 or "e" in text or "E" in text:
        return _half_unit(0) if integers else Decimal(0)
    return _half_unit(dot + 1 - len(text.rstrip()))


def to_decimal(src: Source, value: Any, where: str, *, allow_negative: bool = True) -> Decimal:
    """Money and quantities arrive as JSON numbers, strings with 40 decimals, or CSV text."""
    if type(value) is str:  # the common case, first: plain decimal text
        try:
            d = Decimal(value)
        except InvalidOperation:
            d = _lenient(src, value, where)
    elif isinstance(value, Decimal):
        d = value
    elif isinstance(value, bool):
        raise src.error(where, f"expected a number, got {value!r}")
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, float):
        d = Decimal(repr(value))
    else:
        raise src.error(where, f"expected a number, got {type(value).__name__} {value!r}")
    if not d.is_finite():
        raise src.error(where, f"expected a finite number, got {value!r}")
    if d < 0 and not allow_negative:
        raise src.error(where, f"negative quantity {value!r}; usage cannot be below zero")
    return d


def _lenient(src: Source, value: str, where: str) -> Decimal:
    """Text a person may have typed: `$1,234.50`."""
    text = value.strip().replace(",", "").removeprefix("$")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise src.error(where, f"expected a number, got {value!r}") from None


def to_quantity(src: Source, value: Any, where: str) -> tuple[float, float]:
    """A non-negative count or measure (ints may be written as floats: `59200.0`).

    Returns the value and its rounding slack."""
    d = to_decimal(src, value, where, allow_negative=False)
    if type(value) is str:
        return float(d), float(text_slack(value, integers=False))
    exp = d.as_tuple().exponent
    return float(d), float(_half_unit(exp)) if isinstance(exp, int) and exp < 0 else 0.0


def opt_quantity(src: Source, obj: dict[str, Any], key: str, where: str) -> float | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    return to_quantity(src, value, f"{where}.{key}" if where else key)[0]


def day_from_unix(src: Source, value: Any, where: str, *, millis: bool = False) -> date:
    seconds = to_decimal(src, value, where)
    if millis:
        seconds = seconds / 1000
    try:
        return datetime.fromtimestamp(float(seconds), UTC).date()
    except (OverflowError, OSError, ValueError):
        raise src.error(where, f"not a unix time: {value!r}") from None


def parse_instant(src: Source, value: Any, where: str) -> datetime:
    """An ISO date or date-time; no offset means UTC (provider exports are UTC)."""
    if not isinstance(value, str) or not value.strip():
        raise src.error(where, f"expected a date or date-time, got {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        dt = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        raise src.error(where, f"expected a date or date-time, got {value!r}") from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def span_day(start: datetime, end: datetime | None) -> date | None:
    """The day a bucket belongs to, or None when it spans more than one UTC day.

    A bucket may start mid-day (OpenAI's first bucket starts at the requested time) and
    still be one day; a monthly bucket cannot be put on a day."""
    if end is None or (end - start).total_seconds() <= 86400:
        return start.date()
    return None


# ---------------------------------------------------------------------------- CSV


def csv_rows(
    src: Source, required: Sequence[str], *, fix_row=None
) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a CSV export as dicts keyed by lower-cased header, with their line number.

    `required` columns must be present (else exit 3 naming the missing ones); a row
    with a different field count is an error unless `fix_row` can repair it."""
    reader = csv.reader(io.StringIO(src.text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise src.error("row 1", "empty file") from None
    except csv.Error as exc:
        raise src.error("row 1", f"not a readable CSV ({exc})") from None
    names = [h.strip().lower() for h in header]
    missing = [c for c in required if c not in names]
    if missing:
        raise src.error(
            "row 1 (header)",
            f"missing column(s) {', '.join(missing)}; found {', '.join(names) or 'none'}",
        )
    width = len(names)
    try:
        for row in reader:
            line = reader.line_num
            if not "".join(row).strip():
                continue
            if len(row) != width and fix_row is not None:
                row = fix_row(names, row)
            if len(row) != width:
                raise src.error(f"row {line}", f"{len(row)} fields where the header has {width}")
            yield line, dict(zip(names, row, strict=True))
    except csv.Error as exc:
        raise src.error(f"row {reader.line_num}", f"not a readable CSV ({exc})") from None


def csv_header(text: str) -> list[str]:
    """The lower-cased header of CSV text, or [] when it has none."""
    try:
        return [h.strip().lower() for h in next(csv.reader(io.StringIO(text, newline="")))]
    except (StopIteration, csv.Error):
        return []


def cell_quantity(src: Source, row: dict[str, str], col: str, line: int) -> tuple[float, float]:
    """A CSV count: blank is 0 (empty buckets), `10.0` is 10."""
    text = row.get(col, "").strip()
    if not text:
        return 0.0, 0.0
    return to_quantity(src, text, f"row {line} column {col}")


def row_counts(src: Source, row: dict[str, str], line: int):
    """`q(column)` -> that row's count, for readers that pick many columns of one row."""
    return lambda col: cell_quantity(src, row, col, line)[0]


def blank(row: dict[str, str], cols: Sequence[str]) -> bool:
    return all(not row.get(c, "").strip() for c in cols)
