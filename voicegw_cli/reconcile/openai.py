"""OpenAI: Usage API pages (completions, audio speeches, audio transcriptions), Costs API
pages, and the dashboard's usage and cost CSVs.

Quirks handled (see fixtures/providers/README.md): cost amounts that arrive as JSON
strings with 40 decimals or `0E-6176`; counts written as floats (`59200.0`); empty buckets
(`results: []`, blank CSV rows); a first bucket that starts at the requested time rather
than midnight; `input_uncached_tokens` present or not (older spec versions); cost line
items such as `gpt-4o-mini-2024-07-18, cached input`, `evals | ...` prefixes, modality
words (`gpt-audio-mini-2025-12-15 audio, input`) and non-model items; `1000_tokens` and
duration units; ISO columns with and without `+00:00`; an unquoted comma in `line_item`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from voicegw_cli.reconcile.base import (
    CACHE_WRITE,
    CACHED,
    CHARACTERS,
    COST,
    OUTPUT,
    SECONDS,
    UNCACHED,
    USAGE,
    ReadResult,
    Rec,
    Source,
    blank,
    csv_rows,
    half_ulp,
    opt_quantity,
    parse_instant,
    row_counts,
    span_day,
    text_slack,
    to_decimal,
    to_quantity,
)
from voicegw_cli.reconcile.pages import ReadContext, first_result, walk_buckets

PROVIDER = "openai"

_KINDS = {
    "input": UNCACHED,
    "uncached input": UNCACHED,
    "cached input": CACHED,
    "cache read": CACHED,
    "cache write": CACHE_WRITE,
    "cached write": CACHE_WRITE,
    "output": OUTPUT,
}
# quantity_unit -> (unit kind or None for "not a compared unit", factor to our unit)
_QUANTITY_UNITS: dict[str, tuple[str | None, int]] = {
    "tokens": ("tokens", 1),
    "1000_tokens": ("tokens", 1000),
    "duration_seconds": (SECONDS, 1),
    "duration_minutes": (SECONDS, 60),
    "duration_hours": (SECONDS, 3600),
    "characters": (CHARACTERS, 1),
    "images": (None, 1),
    "gibibyte_hours": (None, 1),
}
_MODALITY = {SECONDS: "stt", CHARACTERS: "tts"}
_MODALITY_WORD = re.compile(r"^(?P<model>\S.*?)\s+(?P<word>audio|text|image)$", re.IGNORECASE)


# --------------------------------------------------------------------------- detection


def result_type(result: dict[str, Any]) -> str | None:
    """completions | audio_speeches | audio_transcriptions | costs | other | None."""
    obj = str(result.get("object") or "")
    if obj == "organization.costs.result" or ("amount" in result and "line_item" in result):
        return "costs"
    if obj.startswith("organization.usage."):
        kind = obj.removeprefix("organization.usage.").removesuffix(".result")
        known = ("completions", "audio_speeches", "audio_transcriptions")
        return kind if kind in known else "other"
    if "num_model_requests" in result:
        if "input_tokens" in result:
            return "completions"
        if "characters" in result:
            return "audio_speeches"
        if "seconds" in result:
            return "audio_transcriptions"
        return "other"
    return None


def detect_json(pages: list[Any]) -> str | None:
    if not pages or not isinstance(pages[0], dict):
        return None
    page = pages[0]
    data = page.get("data")
    if not isinstance(data, list):
        return None
    result = first_result(pages)
    if result is not None:
        kind = result_type(result)
        if kind is None:
            return None
        return "OpenAI Costs API" if kind == "costs" else f"OpenAI Usage API ({kind})"
    # Only empty buckets: OpenAI's have unix `start_time`.
    if page.get("object") == "page" and all(
        isinstance(b, dict) and isinstance(b.get("start_time"), int) for b in data
    ):
        return "OpenAI Usage/Costs API (empty buckets)"
    return None


# --------------------------------------------------------------------------- JSON pages


def _bounds(src: Source, bucket: dict[str, Any], where: str) -> tuple[datetime, datetime | None]:
    start = _unix(src, bucket.get("start_time"), f"{where}.start_time")
    end_raw = bucket.get("end_time")
    end = _unix(src, end_raw, f"{where}.end_time") if end_raw is not None else None
    return start, end


def _unix(src: Source, value: Any, where: str) -> datetime:
    if value is None:
        raise src.error(where, "missing")
    seconds = to_decimal(src, value, where)
    try:
        return datetime.fromtimestamp(float(seconds), UTC)
    except (OverflowError, OSError, ValueError):
        raise src.error(where, f"not a unix time: {value!r}") from None


def read_json(src: Source, pages: list[Any], ctx: ReadContext, fmt: str) -> ReadResult:
    out = ReadResult(src.name, fmt, PROVIDER)
    skipped: dict[str, int] = {}
    for where, start, end, result in walk_buckets(src, pages, ctx, _bounds):
        day = span_day(start, end)
        kind = result_type(result)
        if kind == "completions":
            out.records.extend(_completions(src, result, where, day))
        elif kind == "audio_speeches":
            qty = opt_quantity(src, result, "characters", where) or 0.0
            out.records.append(
                Rec(_model(result), day, CHARACTERS, qty, None, USAGE, modality="tts")
            )
        elif kind == "audio_transcriptions":
            qty = opt_quantity(src, result, "seconds", where) or 0.0
            out.records.append(Rec(_model(result), day, SECONDS, qty, None, USAGE, modality="stt"))
        elif kind == "costs":
            rec = _cost(src, result, where, day)
            if rec is not None:
                out.records.append(rec)
        else:
            name = str(result.get("object") or "unknown")
            skipped[name] = skipped.get(name, 0) + 1
    for name, n in skipped.items():
        out.notes.append(f"{src.name}: skipped {n} result(s) of kind {name} (not compared)")
    return out


def _model(result: dict[str, Any]) -> str | None:
    model = result.get("model")
    return str(model) if model else None


def _completions(src: Source, r: dict[str, Any], where: str, day) -> list[Rec]:
    total = opt_quantity(src, r, "input_tokens", where) or 0.0
    cached = opt_quantity(src, r, "input_cached_tokens", where) or 0.0
    write = opt_quantity(src, r, "input_cache_write_tokens", where)
    uncached = opt_quantity(src, r, "input_uncached_tokens", where)
    if uncached is None:  # older spec: input_tokens includes cached (and cache writes)
        uncached = max(total - cached - (write or 0.0), 0.0)
    output = opt_quantity(src, r, "output_tokens", where) or 0.0
    model = _model(r)
    recs = [
        Rec(model, day, UNCACHED, uncached, None, USAGE, modality="llm"),
        Rec(model, day, CACHED, cached, None, USAGE, modality="llm"),
        Rec(model, day, OUTPUT, output, None, USAGE, modality="llm"),
    ]
    if write is not None:
        recs.append(Rec(model, day, CACHE_WRITE, write, None, USAGE, modality="llm"))
    return recs


@lru_cache(maxsize=4096)
def parse_line_item(text: str) -> tuple[str, str | None, str | None]:
    """`gpt-4o-mini-2024-07-18, cached input` -> (model, unit kind, modality word).

    `evals | gpt-4o-mini..., input` keeps the model; items that name no model
    (`assistants api | file search`) come back whole with no unit."""
    s = text.strip()
    if " | " in s:
        _, rest = s.split(" | ", 1)
        if "," not in rest:  # not a model line: keep the whole text as its name
            return s, None, None
        s = rest.strip()
    model, _, kind = s.rpartition(",") if "," in s else (s, "", "")
    model, kind = model.strip(), kind.strip().lower()
    word = None
    m = _MODALITY_WORD.match(model)
    if m:
        model, word = m.group("model"), m.group("word").lower()
    return model, _KINDS.get(kind), word


def _cost(src: Source, r: dict[str, Any], where: str, day) -> Rec | None:
    amount = r.get("amount")
    if isinstance(amount, dict):
        value, currency = amount.get("value"), amount.get("currency")
    else:
        value, currency = amount, r.get("currency")
    if value is None:
        return None
    cost = to_decimal(src, value, f"{where}.amount.value")
    if currency and str(currency).lower() != "usd":
        raise src.error(f"{where}.amount.currency", f"only USD is supported, got {currency!r}")
    # A JSON number is the server's exact float; only a printed string can be rounded.
    ctol = half_ulp(cost) if isinstance(value, str) else Decimal(0)
    line = r.get("line_item")
    return _cost_rec(
        src, line, cost, r.get("quantity"), r.get("quantity_unit"), where, day, ctol=ctol
    )


def _cost_rec(
    src: Source,
    line: Any,
    cost: Decimal,
    quantity: Any,
    quantity_unit: Any,
    where: str,
    day,
    ctol: Decimal | None = None,
    qwhere: str | None = None,
) -> Rec:
    if not line:
        model, unit, word = None, None, None
    else:
        model, unit, word = parse_line_item(str(line))
    qty: float | None = None
    qtol = 0.0
    if quantity not in (None, ""):
        qty, qtol = to_quantity(src, quantity, qwhere or f"{where}.quantity")
        kind, factor = _QUANTITY_UNITS.get(str(quantity_unit or "tokens"), (None, 1))
        if kind is None:
            qty = None
        else:
            qty, qtol = qty * factor, qtol * factor
            if kind != "tokens" and unit is None:
                unit = kind
            elif kind != "tokens" and unit in (UNCACHED, OUTPUT):
                unit = kind  # "whisper-1, input" measured in seconds
    if unit is None:
        qty = None
    modality = _MODALITY.get(unit, "llm")
    if word == "audio" and unit is not None and modality == "llm":
        modality = "realtime"
    return Rec(
        model,
        day,
        unit,
        qty,
        cost,
        COST,
        modality=modality,
        qtol=qtol,
        ctol=half_ulp(cost) if ctol is None else ctol,
    )


# --------------------------------------------------------------------------- dashboard CSVs

COST_CSV_REQUIRED = ("amount_value", "line_item")
USAGE_CSV_REQUIRED = ("num_model_requests", "model")


def detect_csv(header: list[str]) -> str | None:
    cols = set(header)
    has_time = bool({"start_time", "start_time_iso"} & cols)
    if has_time and {"amount_value", "line_item"} <= cols:
        return "OpenAI dashboard cost CSV"
    if (
        has_time
        and "num_model_requests" in cols
        and ({"input_tokens", "characters", "seconds"} & cols)
    ):
        return "OpenAI dashboard usage CSV"
    return None


def _row_day(src: Source, row: dict[str, str], line: int, seen: dict[tuple[str, str], date | None]):
    """The row's bucket day; a month of hourly rows repeats a few hundred bucket bounds,
    so each distinct (start, end) is parsed once per file."""
    start_text = row.get("start_time", "").strip() or row.get("start_time_iso", "").strip()
    end_text = row.get("end_time", "").strip() or row.get("end_time_iso", "").strip()
    bounds = (start_text, end_text)
    if bounds not in seen:
        if not start_text:
            raise src.error(f"row {line} column start_time", "missing bucket start")
        start_col = "start_time" if row.get("start_time", "").strip() else "start_time_iso"
        end_col = "end_time" if row.get("end_time", "").strip() else "end_time_iso"
        start = _csv_time(src, start_text, f"row {line} column {start_col}")
        end = _csv_time(src, end_text, f"row {line} column {end_col}") if end_text else None
        seen[bounds] = span_day(start, end)
    return seen[bounds]


def _csv_time(src: Source, text: str, where: str) -> datetime:
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return _unix(src, text, where)
    return parse_instant(src, text, where)


def _merge_unquoted_line_item(names: list[str], row: list[str]) -> list[str]:
    """`..., gpt-4o-mini-2024-07-18, input, ...` written without quotes: one field too many."""
    if len(row) != len(names) + 1 or "line_item" not in names:
        return row
    i = names.index("line_item")
    if row[i + 1].strip().lower() in _KINDS or row[i + 1].strip().lower().endswith(
        ("input", "output")
    ):
        return row[:i] + [f"{row[i]},{row[i + 1]}"] + row[i + 2 :]
    return row


def read_cost_csv(src: Source, ctx: ReadContext, fmt: str) -> ReadResult:
    """A month of hourly rows repeats each (line item, unit, day) many times: rows are
    checked one by one, then summed per group before a record is built, so the diff
    works on a few thousand records instead of a hundred thousand."""
    out = ReadResult(src.name, fmt, PROVIDER)
    days: dict[tuple[str, str], date | None] = {}
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for line, row in csv_rows(src, COST_CSV_REQUIRED, fix_row=_merge_unquoted_line_item):
        text = row["amount_value"].strip()
        if not text:
            continue  # an empty bucket
        cost = to_decimal(src, text, f"row {line} column amount_value")
        currency = row.get("amount_currency", "").strip()
        if currency and currency.lower() != "usd":
            raise src.error(
                f"row {line} column amount_currency", f"only USD is supported, got {currency!r}"
            )
        quantity = row.get("quantity", "").strip() or None
        qty, qtol = (
            to_quantity(src, quantity, f"row {line} column quantity") if quantity else (0.0, 0.0)
        )
        key = (
            row["line_item"],
            row.get("quantity_unit", "").strip() or None,
            _row_day(src, row, line, days),
            quantity is not None,
        )
        acc = groups.get(key)
        if acc is None:
            groups[key] = [cost, qty, qtol, text_slack(text), line]
        else:
            acc[0] += cost
            acc[1] += qty
            acc[2] += qtol
            acc[3] += text_slack(text)
    for (line_item, unit, day, has_qty), (cost, qty, qtol, ctol, line) in groups.items():
        rec = _cost_rec(
            src,
            line_item,
            cost,
            repr(qty) if has_qty else None,
            unit,
            f"row {line}",
            day,
            ctol=ctol,
            qwhere=f"row {line} column quantity",
        )
        if rec.quantity is not None:
            rec.qtol = qtol * (rec.quantity / qty if qty else 1.0)
        out.records.append(rec)
    return out


def read_usage_csv(src: Source, ctx: ReadContext, fmt: str) -> ReadResult:
    out = ReadResult(src.name, fmt, PROVIDER)
    metrics = ("input_tokens", "output_tokens", "characters", "seconds")
    days: dict[tuple[str, str], date | None] = {}
    for line, row in csv_rows(src, USAGE_CSV_REQUIRED):
        if blank(row, metrics + ("num_model_requests",)):
            continue  # an empty bucket
        day = _row_day(src, row, line, days)
        model = row.get("model", "").strip() or None

        q = row_counts(src, row, line)
        if "input_tokens" in row and not blank(row, ("input_tokens", "output_tokens")):
            total, cached = q("input_tokens"), q("input_cached_tokens")
            write = q("input_cache_write_tokens")
            uncached = (
                q("input_uncached_tokens")
                if row.get("input_uncached_tokens", "").strip()
                else max(total - cached - write, 0.0)
            )
            out.records += [
                Rec(model, day, UNCACHED, uncached, None, USAGE, modality="llm"),
                Rec(model, day, CACHED, cached, None, USAGE, modality="llm"),
                Rec(model, day, OUTPUT, q("output_tokens"), None, USAGE, modality="llm"),
            ]
            if "input_cache_write_tokens" in row:
                out.records.append(Rec(model, day, CACHE_WRITE, write, None, USAGE, modality="llm"))
        elif row.get("characters", "").strip():
            out.records.append(
                Rec(model, day, CHARACTERS, q("characters"), None, USAGE, modality="tts")
            )
        elif row.get("seconds", "").strip():
            out.records.append(Rec(model, day, SECONDS, q("seconds"), None, USAGE, modality="stt"))
    return out
