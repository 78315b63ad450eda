"""Anthropic: Admin API usage report and cost report pages, and the console's token and
cost CSVs.

Quirks handled: cost report `amount` is a string in **cents** (`"123.45"` = $1.2345) while
the console cost CSV's `cost_usd` is dollars; cache writes come split by TTL
(`cache_creation.ephemeral_5m/1h`, or the older flat `cache_creation_input_tokens`, or one
`usage_input_tokens_cache_write` column in older CSVs) and are summed; the console prints
display names (`Claude Haiku 4.5`) and the cost report describes rows in prose
(`Claude Sonnet 4 Usage - Input Tokens`) when `model` is null; `context_window` prints
as `≤ 200k`; counts may be written as floats; non-token costs (web search, code
execution) are kept as their own rows; `service_tier: batch` is kept apart (billed at half
price) and `context_window: 200k-1M` stays on its model as the long-context tier; a token
CSV without cache columns means no cache reads (or writes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from voicegw_cli.reconcile.base import (
    BATCH,
    CACHE_WRITE,
    CACHED,
    COST,
    LONG_CONTEXT,
    OUTPUT,
    UNCACHED,
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
    to_decimal,
)
from voicegw_cli.reconcile.names import split_description
from voicegw_cli.reconcile.pages import (
    ReadContext,
    first_bucket,
    first_result,
    page_infos,
    walk_buckets,
)

PROVIDER = "anthropic"

_TOKEN_TYPES = {
    # cost report API
    "uncached_input_tokens": UNCACHED,
    "output_tokens": OUTPUT,
    "cache_read_input_tokens": CACHED,
    "cache_creation.ephemeral_5m_input_tokens": CACHE_WRITE,
    "cache_creation.ephemeral_1h_input_tokens": CACHE_WRITE,
    "cache_creation_input_tokens": CACHE_WRITE,
    # console cost CSV
    "input_no_cache": UNCACHED,
    "output": OUTPUT,
    "input_cache_read": CACHED,
    "input_cache_write_5m": CACHE_WRITE,
    "input_cache_write_1h": CACHE_WRITE,
    "input_cache_write": CACHE_WRITE,
}
# words of a cost-report description: "... Usage - Input Tokens"
_DESCRIBED = (
    ("cache read", CACHED),
    ("cache write", CACHE_WRITE),
    ("cache creation", CACHE_WRITE),
    ("output", OUTPUT),
    ("input", UNCACHED),
)


def _tier(service_tier: Any, context_window: Any) -> str | None:
    """A result's tier: BATCH (its own row), else priority and/or long context (shown on
    the model's row), None for the standard tier.

    The API's context windows are `0-200k` and `200k-1M`; the console prints `≤ 200k`
    (its long-context spelling is unverified: anything starting `>` or reaching `1M`).
    The console's `usage_type` is read the same way (`batch` in it means batch [U])."""
    st = str(service_tier or "").strip().lower()
    if "batch" in st:
        return BATCH
    cw = str(context_window or "").strip().lower().replace(" ", "")
    tiers = [st] if st and st not in ("standard", "default", "message", "messages") else []
    if cw.startswith(("200k-", ">")) or cw.endswith("1m"):
        tiers.append(LONG_CONTEXT)
    return ", ".join(tiers) or None


def _unit_of(token_type: Any, described: str | None = None) -> str | None:
    if token_type:
        t = str(token_type).strip().lower()
        if t in _TOKEN_TYPES:
            return _TOKEN_TYPES[t]
        if "cache" in t and ("creation" in t or "write" in t):
            return CACHE_WRITE
    if described:
        d = described.lower()
        for word, unit in _DESCRIBED:
            if word in d:
                return unit
    return None


# --------------------------------------------------------------------------- JSON pages


def detect_json(pages: list[Any]) -> str | None:
    bucket = first_bucket(pages)
    if bucket is None or "starting_at" not in bucket:
        return None
    result = first_result(pages)
    if result is None:
        return "Anthropic usage/cost report (empty buckets)"
    if "amount" in result and ("currency" in result or "cost_type" in result):
        return "Anthropic cost report"
    if "uncached_input_tokens" in result or "cache_read_input_tokens" in result:
        return "Anthropic usage report"
    return None


def _bounds(src: Source, bucket: dict[str, Any], where: str) -> tuple[datetime, datetime | None]:
    start = parse_instant(src, bucket.get("starting_at"), f"{where}.starting_at")
    end_raw = bucket.get("ending_at")
    end = parse_instant(src, end_raw, f"{where}.ending_at") if end_raw else None
    return start, end


def read_json(src: Source, pages: list[Any], ctx: ReadContext, fmt: str) -> ReadResult:
    out = ReadResult(src.name, fmt, PROVIDER)
    out.pages = page_infos(src, pages, _bounds)
    for where, start, end, r in walk_buckets(src, pages, ctx, _bounds):
        day = span_day(start, end)
        tier = _tier(r.get("service_tier"), r.get("context_window"))
        if "amount" in r:
            recs = [_cost(src, r, where, day)]
        else:
            recs = _usage(src, r, where, day)
        for rec in recs:
            rec.tier = tier
        out.records.extend(recs)
    return out


def _usage(src: Source, r: dict[str, Any], where: str, day) -> list[Rec]:
    model = str(r["model"]) if r.get("model") else None
    creation = r.get("cache_creation")
    write = 0.0
    if isinstance(creation, dict):
        for key in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"):
            write += opt_quantity(src, creation, key, f"{where}.cache_creation") or 0.0
    write += opt_quantity(src, r, "cache_creation_input_tokens", where) or 0.0

    def q(key: str) -> float:
        return opt_quantity(src, r, key, where) or 0.0

    return [
        Rec(model, day, UNCACHED, q("uncached_input_tokens"), None, USAGE, modality="llm"),
        Rec(model, day, CACHED, q("cache_read_input_tokens"), None, USAGE, modality="llm"),
        Rec(model, day, CACHE_WRITE, write, None, USAGE, modality="llm"),
        Rec(model, day, OUTPUT, q("output_tokens"), None, USAGE, modality="llm"),
    ]


def _cost(src: Source, r: dict[str, Any], where: str, day) -> Rec:
    currency = str(r.get("currency") or "USD")
    if currency.upper() != "USD":
        raise src.error(f"{where}.currency", f"only USD is supported, got {currency!r}")
    cents = to_decimal(src, r.get("amount"), f"{where}.amount")
    model = str(r["model"]) if r.get("model") else None
    described = None
    if r.get("description"):
        parts = split_description(str(r["description"]))
        if parts:
            model = model or parts[0]
            described = parts[1]
    cost_type = str(r.get("cost_type") or "tokens")
    unit = _unit_of(r.get("token_type"), described) if cost_type == "tokens" else None
    if cost_type != "tokens":  # web search, code execution: not a token line of a model
        model = f"{cost_type} ({model})" if model else cost_type
    dollars, tol = cents / 100, half_ulp(cents) / 100
    return Rec(model, day, unit, None, dollars, COST, modality="llm", ctol=tol)


# --------------------------------------------------------------------------- console CSVs

TOKEN_CSV_REQUIRED = (
    "usage_date_utc",
    "model_version",
    "usage_input_tokens_no_cache",
    "usage_output_tokens",
)
_READ_COLUMN = "usage_input_tokens_cache_read"
COST_CSV_REQUIRED = ("usage_date_utc", "model", "token_type", "cost_usd")
_WRITE_COLUMNS = (
    "usage_input_tokens_cache_write_5m",
    "usage_input_tokens_cache_write_1h",
    "usage_input_tokens_cache_write",
)


def detect_csv(header: list[str]) -> str | None:
    cols = set(header)
    if "usage_date_utc" not in cols:
        return None
    if "usage_input_tokens_no_cache" in cols:
        return "Anthropic console token CSV"
    if {"token_type", "cost_usd"} <= cols:
        return "Anthropic console cost CSV"
    return None


def _day(src: Source, row: dict[str, str], line: int):
    return parse_instant(src, row["usage_date_utc"], f"row {line} column usage_date_utc").date()


def read_token_csv(src: Source, ctx: ReadContext, fmt: str) -> ReadResult:
    """Cache columns are optional: an account that never cached may get a CSV without
    them, and an absent column means none of that kind (compared as 0, so a hook that
    logged cache reads the provider never billed shows as `cached`)."""
    out = ReadResult(src.name, fmt, PROVIDER)
    metrics = TOKEN_CSV_REQUIRED[2:] + (_READ_COLUMN,) + _WRITE_COLUMNS
    header = set(csv_header(src.text))
    absent = [c for c in (_READ_COLUMN,) if c not in header]
    if not header & set(_WRITE_COLUMNS):
        absent.append("usage_input_tokens_cache_write_*")
    if absent:
        out.notes.append(
            f"{src.name}: no {' or '.join(absent)} column: read as no cache "
            + (
                "reads or writes"
                if len(absent) == 2
                else "reads"
                if _READ_COLUMN in absent
                else "writes"
            )
        )
    for line, row in csv_rows(src, TOKEN_CSV_REQUIRED):
        if blank(row, metrics):
            continue
        day = _day(src, row, line)
        model = row["model_version"].strip() or None
        tier = _tier(row.get("usage_type"), row.get("context_window"))

        q = row_counts(src, row, line)
        for unit, qty in (
            (UNCACHED, q("usage_input_tokens_no_cache")),
            (CACHED, q(_READ_COLUMN)),
            (CACHE_WRITE, sum(q(c) for c in _WRITE_COLUMNS)),
            (OUTPUT, q("usage_output_tokens")),
        ):
            out.records.append(Rec(model, day, unit, qty, None, USAGE, "llm", tier=tier))
    return out


def read_cost_csv(src: Source, ctx: ReadContext, fmt: str) -> ReadResult:
    out = ReadResult(src.name, fmt, PROVIDER)
    for line, row in csv_rows(src, COST_CSV_REQUIRED):
        text = row["cost_usd"].strip()
        if not text:
            continue
        dollars = to_decimal(src, text, f"row {line} column cost_usd")
        model: str | None = row["model"].strip() or None
        cost_type = row.get("cost_type", "").strip().lower() or "token"
        unit = _unit_of(row["token_type"]) if cost_type in ("token", "tokens") else None
        if cost_type not in ("token", "tokens"):
            model = f"{cost_type} ({model})" if model else cost_type
        out.records.append(
            Rec(
                model,
                _day(src, row, line),
                unit,
                None,
                dollars,
                COST,
                modality="llm",
                ctol=half_ulp(dollars),
                tier=_tier(row.get("usage_type"), row.get("context_window")),
            )
        )
    return out
