"""OpenAI: Usage API pages (completions, audio speeches, audio transcriptions), Costs API
pages, and the dashboard's usage and cost CSVs.

Quirks handled (see fixtures/providers/README.md): cost amounts that arrive as JSON
strings with 40 decimals or `0E-6176`; counts written as floats (`59200.0`); empty buckets
(`results: []`, blank CSV rows, a CSV of only the four time columns); a first bucket that
starts at the requested time rather than midnight; the two completions schemas (before
the spec's 2026-07-15 change `input_tokens` counted text only and audio came apart in
`input_audio_tokens`/`output_audio_tokens`; since then `input_tokens` counts everything
and `input_uncached_tokens` exists) told apart by the fields present; `batch: true`
results kept apart; cost line items such as `gpt-4o-mini-2024-07-18, cached input`,
`<model>, cache writes`, `<model>, output, long context`, `priority | ...` and
`evals | ...` prefixes, modality words (`gpt-audio-mini-2025-12-15 audio, input`), bare
models (`whisper`) and non-model items; `line_item: null` (costs grouped by project only:
a total over every model); `1000_tokens` and duration units; ISO columns with and without
`+00:00`; an unquoted comma in `line_item`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from voicegw_cli.reconcile.base import (
    AUDIO_IN,
    AUDIO_OUT,
    BATCH,
    CACHE_WRITE,
    CACHED,
    CACHED_AUDIO,
    CHARACTERS,
    COST,
    LONG_CONTEXT,
    OUTPUT,
    SECONDS,
    UNCACHED,
    UNCACHED_AUDIO,
    USAGE,
    ReadResult,
    Rec,
    Source,
    blank,
    csv_header,
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
from voicegw_cli.reconcile.pages import ReadContext, first_result, page_infos, walk_buckets

PROVIDER = "openai"

_KINDS = {
    "input": UNCACHED,
    "uncached input": UNCACHED,
    "cached input": CACHED,
    "cache read": CACHED,
    "cache reads": CACHED,
    "cache write": CACHE_WRITE,
    "cache writes": CACHE_WRITE,
    "cached write": CACHE_WRITE,
    "output": OUTPUT,
}
#: Qualifiers after the kind: `<model>, output, long context`.
_QUALIFIERS = {"long context": LONG_CONTEXT}
#: `<tier> | <model>, <kind>` prefixes that name a service tier (others, like `evals`,
#: name a product and are dropped). Batch rows are kept apart; the other tiers stay on
#: their model and are shown as its tiers.
_TIER_PREFIXES = ("batch", "priority", "flex", "scale")
#: Usage `service_tier` values that are the standard price.
_STANDARD_TIERS = ("", "default", "auto", "standard")
#: An audio line prices a part of a total: (compared kind, audio part, rate leaf).
_AUDIO_LEAF = {
    UNCACHED: (AUDIO_IN, UNCACHED_AUDIO),
    CACHED: (AUDIO_IN, CACHED_AUDIO),
    OUTPUT: (AUDIO_OUT, AUDIO_OUT),
}
#: Completions fields that exist only since the spec's 2026-07-15 change.
_CURRENT_SPEC_FIELDS = (
    "input_uncached_tokens",
    "input_cache_write_tokens",
    "input_text_tokens",
    "output_text_tokens",
    "input_cached_text_tokens",
    "input_cached_audio_tokens",
    "input_image_tokens",
    "input_cached_image_tokens",
    "output_image_tokens",
)
OLD_SPEC_NOTE = (
    "completions in the Usage API schema before 2026-07-15 (no input_uncached_tokens): "
    "input_tokens read as text only, audio from input_audio_tokens and output_audio_tokens"
    "; how much audio was cached is not reported, so realtime models' cached/uncached "
    "split is compared within their audio input"
)
EMPTY_CSV = "OpenAI dashboard export (no usage)"
_TIME_COLUMNS = {"start_time", "end_time", "start_time_iso", "end_time_iso"}
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


def _current_spec(pages: list[Any]) -> bool | None:
    """True for the current completions schema, False for the one before 2026-07-15, None
    when the file holds no completions result. Told from the fields present: the newer
    schema's own fields (`input_uncached_tokens`, `input_text_tokens`...) on any result."""
    seen = False
    for page in pages:
        for bucket in (page.get("data") or []) if isinstance(page, dict) else []:
            for r in (bucket.get("results") or []) if isinstance(bucket, dict) else []:
                if isinstance(r, dict) and result_type(r) == "completions":
                    seen = True
                    if any(k in r for k in _CURRENT_SPEC_FIELDS):
                        return True
    return False if seen else None


def read_json(src: Source, pages: list[Any], ctx: ReadContext, fmt: str) -> ReadResult:
    out = ReadResult(src.name, fmt, PROVIDER)
    out.pages = page_infos(src, pages, _bounds)
    skipped: dict[str, int] = {}
    current = _current_spec(pages)
    if current is False:
        out.notes.append(f"{src.name}: {OLD_SPEC_NOTE}")
    for where, start, end, result in walk_buckets(src, pages, ctx, _bounds):
        day = span_day(start, end)
        kind = result_type(result)
        if kind == "completions":
            tier = _usage_tier(result.get("batch"), result.get("service_tier"))
            get = _getter(src, result, where)
            out.records.extend(_completions(get, _model(result), day, current is not False, tier))
        elif kind == "audio_speeches":
            qty = opt_quantity(src, result, "characters", where) or 0.0
            out.records.append(
                Rec(_model(result), day, CHARACTERS, qty, None, USAGE, modality="tts")
            )
        elif kind == "audio_transcriptions":
            qty = opt_quantity(src, result, "seconds", where) or 0.0
            out.records.append(Rec(_model(result), day, SECONDS, qty, None, USAGE, modality="stt"))
        elif kind == "costs":
            out.records.extend(_cost(src, result, where, day))
        else:
            name = str(result.get("object") or "unknown")
            skipped[name] = skipped.get(name, 0) + 1
    for name, n in skipped.items():
        out.notes.append(f"{src.name}: skipped {n} result(s) of kind {name} (not compared)")
    return out


def _usage_tier(batch: Any, service_tier: Any) -> str | None:
    """BATCH for `batch: true` (group_by=batch), else a non-standard `service_tier`."""
    if batch is True or str(batch).strip().lower() == "true":
        return BATCH
    st = str(service_tier or "").strip().lower()
    return None if st in _STANDARD_TIERS else st


def _model(result: dict[str, Any]) -> str | None:
    model = result.get("model")
    return str(model) if model else None


def _getter(src: Source, r: dict[str, Any], where: str):
    """`get(field)` -> the result's count, or None when the field is absent or null."""
    return lambda key: opt_quantity(src, r, key, where)


def _completions(get, model: str | None, day, current: bool, tier: str | None) -> list[Rec]:
    """One completions result (or usage CSV row) as our unit kinds.

    Current schema: `input_tokens` counts text, audio and image, cached and cache writes
    included; `input_uncached_tokens` excludes cache writes; `input_audio_tokens` counts
    uncached audio only, `input_cached_audio_tokens` the cached audio. Before 2026-07-15:
    `input_tokens` and `input_cached_tokens` counted text only, `input_audio_tokens` all
    audio (cached included) and `output_tokens` text output only; how much audio was
    cached was not reported, so it is counted uncached with that much slack on the
    cached/uncached split."""
    cached = get("input_cached_tokens") or 0.0
    write = get("input_cache_write_tokens")
    audio_in = get("input_audio_tokens")
    audio_out = get("output_audio_tokens")
    slack = 0.0
    if current:
        uncached = get("input_uncached_tokens")
        if uncached is None:
            uncached = max((get("input_tokens") or 0.0) - cached - (write or 0.0), 0.0)
        output = get("output_tokens") or 0.0
        if audio_in is not None:
            audio_in += get("input_cached_audio_tokens") or 0.0
    else:
        write = None
        text = get("input_tokens") or 0.0
        uncached = max(text - cached, 0.0) + (audio_in or 0.0)
        output = (get("output_tokens") or 0.0) + (audio_out or 0.0)
        slack = audio_in or 0.0
    modality = "realtime" if (audio_in or audio_out) else "llm"

    def rec(unit: str, qty: float, qtol: float = 0.0) -> Rec:
        return Rec(model, day, unit, qty, None, USAGE, modality, qtol, tier=tier)

    recs = [rec(UNCACHED, uncached, slack), rec(CACHED, cached, slack), rec(OUTPUT, output)]
    if write is not None:
        recs.append(rec(CACHE_WRITE, write))
    if audio_in is not None:
        recs.append(rec(AUDIO_IN, audio_in))
    if audio_out is not None:
        recs.append(rec(AUDIO_OUT, audio_out))
    return recs


@lru_cache(maxsize=4096)
def parse_line_item(text: str) -> tuple[str, str | None, str | None, str | None]:
    """`gpt-4o-mini-2024-07-18, cached input` -> (model, unit kind, modality word, tier).

    `evals | gpt-4o-mini..., input` keeps the model; `priority | <model>, output, long
    context` keeps it too, with its tiers;
    items that name no model (`assistants api | file search`) come back whole with no
    unit."""
    s = text.strip()
    tiers = []
    if " | " in s:
        prefix, rest = s.split(" | ", 1)
        prefix = prefix.strip().lower()
        if prefix in _TIER_PREFIXES:
            tiers.append(prefix)
        elif "," not in rest:  # not a model line: keep the whole text as its name
            return s, None, None, None
        s = rest.strip()
    parts = [p.strip() for p in s.split(",")]
    model, unit = parts[0], None
    for part in parts[1:]:
        low = part.lower()
        if low in _KINDS:
            unit = _KINDS[low]
        elif low in _QUALIFIERS:
            tiers.append(_QUALIFIERS[low])
        else:  # a comma inside the name itself: keep it
            model = f"{model}, {part}"
    word = None
    m = _MODALITY_WORD.match(model)
    if m:
        model, word = m.group("model"), m.group("word").lower()
    return model, unit, word, ", ".join(tiers) or None


def _cost(src: Source, r: dict[str, Any], where: str, day) -> list[Rec]:
    amount = r.get("amount")
    if isinstance(amount, dict):
        value, currency = amount.get("value"), amount.get("currency")
    else:
        value, currency = amount, r.get("currency")
    if value is None:
        return []
    cost = to_decimal(src, value, f"{where}.amount.value")
    if currency and str(currency).lower() != "usd":
        raise src.error(f"{where}.amount.currency", f"only USD is supported, got {currency!r}")
    # A JSON number is the server's exact float; only a printed string can be rounded.
    ctol = half_ulp(cost) if isinstance(value, str) else Decimal(0)
    line = r.get("line_item")
    return _cost_recs(
        src, line, cost, r.get("quantity"), r.get("quantity_unit"), where, day, ctol=ctol
    )


def _cost_recs(
    src: Source,
    line: Any,
    cost: Decimal,
    quantity: Any,
    quantity_unit: Any,
    where: str,
    day,
    ctol: Decimal | None = None,
    qwhere: str | None = None,
) -> list[Rec]:
    """A cost line as records: the line itself and, for an audio line, its quantity as
    the audio part of its total too. `line_item: null` (costs grouped by project only)
    is a total over every model, of every modality."""
    if not line:
        model, unit, word, tier = None, None, None, None
    else:
        model, unit, word, tier = parse_line_item(str(line))
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
    modality = _MODALITY.get(unit, "llm") if unit else None
    leaf, part = None, None
    if word == "audio" and unit in _AUDIO_LEAF:
        modality = "realtime"
        part, leaf = _AUDIO_LEAF[unit]
    rec = Rec(
        model,
        day,
        unit,
        qty,
        cost,
        COST,
        modality=modality,
        qtol=qtol,
        ctol=half_ulp(cost) if ctol is None else ctol,
        tier=tier,
        leaf=leaf,
    )
    if part is None:
        return [rec]
    return [rec, Rec(model, day, part, qty, None, COST, modality, qtol, tier=tier)]


# --------------------------------------------------------------------------- dashboard CSVs

COST_CSV_REQUIRED = ("amount_value", "line_item")
USAGE_CSV_REQUIRED = ("num_model_requests", "model")


def detect_csv(header: list[str]) -> str | None:
    cols = set(header)
    if "start_time" in cols and cols <= _TIME_COLUMNS:
        return EMPTY_CSV
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
    """`..., gpt-4o-mini-2024-07-18, input, ...` written without quotes: a field or two
    too many (`<model>, output, long context`)."""
    extra = len(row) - len(names)
    if extra not in (1, 2) or "line_item" not in names:
        return row
    i = names.index("line_item")
    tail = [f.strip().lower() for f in row[i + 1 : i + 1 + extra]]
    if all(t in _KINDS or t in _QUALIFIERS or t.endswith(("input", "output")) for t in tail):
        return row[:i] + [",".join(row[i : i + 1 + extra])] + row[i + 1 + extra :]
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
        recs = _cost_recs(
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
        for rec in recs:
            if rec.quantity is not None:
                rec.qtol = qtol * (rec.quantity / qty if qty else 1.0)
        out.records.extend(recs)
    return out


def read_empty_csv(src: Source, ctx: ReadContext, fmt: str) -> ReadResult:
    """A dashboard export of only the four time columns: the period had no usage at all.

    The rows (empty buckets) are still checked, so a damaged file is not taken for an
    empty month."""
    out = ReadResult(src.name, fmt, PROVIDER)
    days: dict[tuple[str, str], date | None] = {}
    seen = sorted(
        {d for line, row in csv_rows(src, ("start_time",)) if (d := _row_day(src, row, line, days))}
    )
    span = f" ({seen[0]}..{seen[-1]})" if seen else ""
    out.notes.append(f"{src.name}: no usage columns: OpenAI reported no usage{span}")
    return out


def read_usage_csv(src: Source, ctx: ReadContext, fmt: str) -> ReadResult:
    out = ReadResult(src.name, fmt, PROVIDER)
    metrics = ("input_tokens", "output_tokens", "characters", "seconds")
    days: dict[tuple[str, str], date | None] = {}
    header = set(csv_header(src.text))
    current = bool(header & set(_CURRENT_SPEC_FIELDS))
    if "input_tokens" in header and not current:
        out.notes.append(f"{src.name}: {OLD_SPEC_NOTE}")
    for line, row in csv_rows(src, USAGE_CSV_REQUIRED):
        if blank(row, metrics + ("num_model_requests",)):
            continue  # an empty bucket
        day = _row_day(src, row, line, days)
        model = row.get("model", "").strip() or None

        q = row_counts(src, row, line)
        if "input_tokens" in row and not blank(row, ("input_tokens", "output_tokens")):
            tier = _usage_tier(row.get("batch"), row.get("service_tier"))

            def get(col: str, row=row, q=q) -> float | None:
                return q(col) if row.get(col, "").strip() else None

            out.records += _completions(get, model, day, current, tier)
        elif row.get("characters", "").strip():
            out.records.append(
                Rec(model, day, CHARACTERS, q("characters"), None, USAGE, modality="tts")
            )
        elif row.get("seconds", "").strip():
            out.records.append(Rec(model, day, SECONDS, q("seconds"), None, USAGE, modality="stt"))
    return out
