"""LLM (and realtime) token prices from genai-prices, turned into dated `Rate`s.

genai-prices ships its price data inside the package; we read it once per
(provider, model) and never start its `UpdatePrices` (that fetches from the internet).
A model's prices may be a list of conditional prices (a price change on a date, off-peak
hours): each becomes one entry of a `Schedule`, so callers can split any number of items
by price period with vector comparisons instead of calling `calc_price` (~70 µs) per row.
Context-size tiers (`TieredPrices`) become `Rate.tiers`. Request-context variants
(service tier, batch) are not known for line items, so standard prices apply.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal
from functools import lru_cache
from importlib import metadata
from typing import Any

from voicegw_cli.pricing.periods import DailyWindow, Schedule, StartsOn, period_bounds
from voicegw_cli.pricing.rates import Rate

#: genai-prices price keys -> Rate token fields (USD per 1M tokens).
_TOKEN_KEYS = {
    "input_mtok": "input",
    "cache_read_mtok": "cached_input",
    "cache_write_mtok": "cache_write",
    "output_mtok": "output",
    "output_reasoning_mtok": "reasoning",
    "input_audio_mtok": "audio_input",
    "cache_audio_read_mtok": "cached_audio_input",
    "output_audio_mtok": "audio_output",
}
_UNIT_KEYS = {"audio_hours", "input_audio_hours", "input_mchars", "cache_write_5m_mtok"}
#: genai-prices applies a 10 s minimum per request to these Groq models.
_GROQ_MIN_10S = {"whisper-large-v3", "whisper-large-v3-turbo"}


@lru_cache(maxsize=1)
def genai_version() -> str:
    try:
        return metadata.version("genai-prices")
    except metadata.PackageNotFoundError:  # pragma: no cover - it is a dependency
        return "unknown"


def genai_source() -> str:
    """The `pricing_source` of items priced from genai-prices data."""
    return f"genai-prices@{genai_version()}"


@lru_cache(maxsize=1)
def _snapshot() -> Any:
    from genai_prices.data_snapshot import get_snapshot

    return get_snapshot()


def genai_provider_ids() -> list[str]:
    return [p.id for p in _snapshot().providers]


def _provider(provider: str) -> Any:
    for p in _snapshot().providers:
        if p.id == provider:
            return p
    return None


def genai_models(provider: str) -> list[str]:
    """Model ids genai-prices lists for a provider (for close-match suggestions)."""
    p = _provider(provider)
    return [m.id for m in p.models] if p is not None else []


def genai_schedule(
    provider: str,
    model: str,
    *,
    as_provider: str | None = None,
    as_model: str | None = None,
    note: str | None = None,
) -> Schedule | None:
    """The dated rates genai-prices has for a model, or None when it does not know it.

    `provider` is a canonical provider id (see `providers.canonical_provider`); genai-prices
    knows providers by those ids (Groq included, which it does not accept as a host)."""
    prov = _provider(provider)
    if prov is None:
        return None
    try:
        _prov, info = _snapshot().find_provider_model(model, prov, None, None)
    except LookupError:
        return None
    from genai_prices import types as gt

    raw = info.prices
    if isinstance(raw, gt.ModelPrice):
        slots: list[tuple[Any, Any]] = [(None, raw)]
    else:
        slots = [(_condition(cp.constraint), cp.prices) for cp in raw]
    conditions = [c for c, _ in slots]
    matched = info.id if info.id.lower() != model.lower() else None
    entries = []
    for i, (cond, mp) in enumerate(slots):
        start, end, text = period_bounds(conditions, i)
        rate = _rate_from_model_price(
            mp,
            provider=as_provider or provider,
            model=as_model or model,
            valid_from=start,
            valid_to=end,
            condition=text if not isinstance(cond, DailyWindow) else cond.describe(),
            matched=matched,
            note=note,
            min_10s=prov.id == "groq" and info.id in _GROQ_MIN_10S,
        )
        entries.append((cond, rate))
    return Schedule(tuple(entries))


def _condition(constraint: Any) -> StartsOn | DailyWindow | None:
    from genai_prices import types as gt

    if constraint is None:
        return None
    if isinstance(constraint, gt.StartDateConstraint):
        return StartsOn(constraint.start_date)
    if isinstance(constraint, gt.TimeOfDateConstraint):
        return DailyWindow(_utc_time(constraint.start_time), _utc_time(constraint.end_time))
    raise ValueError(f"unsupported genai-prices constraint: {constraint!r}")


def _utc_time(t: time) -> time:
    if t.tzinfo is None:
        return t
    return datetime.combine(datetime(1970, 1, 1).date(), t).astimezone(UTC).time()


def _rate_from_model_price(
    mp: Any,
    *,
    provider: str,
    model: str,
    valid_from: Any,
    valid_to: Any,
    condition: str | None,
    matched: str | None,
    note: str | None,
    min_10s: bool,
) -> Rate | None:
    from genai_prices import types as gt

    values = {k: v for k, v in mp.__dict__.items() if not k.startswith("_") and v is not None}
    tier_starts = sorted(
        {t.start for v in values.values() if isinstance(v, gt.TieredPrices) for t in v.tiers}
    )

    def at(value: Any, threshold: int | None) -> Decimal:
        if not isinstance(value, gt.TieredPrices):
            return value
        price = value.base
        if threshold is not None:
            for tier in value.tiers:  # sorted ascending
                if tier.start <= threshold:
                    price = tier.price
        return price

    def build(threshold: int | None) -> Rate:
        fields: dict[str, Any] = {}
        for key, attr in _TOKEN_KEYS.items():
            if key in values:
                fields[attr] = at(values[key], threshold)
        if "cache_write" not in fields and "cache_write_5m_mtok" in values:
            fields["cache_write"] = at(values["cache_write_5m_mtok"], threshold)
        hours = values.get("input_audio_hours", values.get("audio_hours"))
        if hours is not None:
            fields.update(audio_price=at(hours, threshold), audio_unit="hour")
            if min_10s:
                fields["minimum_seconds"] = Decimal(10)
        if "input_mchars" in values:
            fields["per_character"] = at(values["input_mchars"], threshold) / 1_000_000
        ignored = tuple(sorted(k for k in values if k not in _TOKEN_KEYS and k not in _UNIT_KEYS))
        return Rate(
            provider=provider,
            model=model,
            source=genai_source(),
            valid_from=valid_from,
            valid_to=valid_to,
            condition=condition,
            matched_model=matched,
            not_applied=ignored,
            note=note,
            **fields,
        )

    base = build(None)
    if not (base.bills_tokens or base.bills_seconds or base.bills_characters):
        return None
    if tier_starts:
        tiers = tuple((s, build(s)) for s in tier_starts)
        base = base.with_labels(tiers=tiers)
    return base
