"""Our list prices per unit kind, from the pricing room, for the `rate` explanation.

The diff first recovers the rates our stored costs were computed with (exact, from the
costs themselves); this lookup fills in when that is not possible, e.g. for a day with
too few items, or items that are all unpriced.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from voicegw_cli.reconcile.base import (
    AUDIO_OUT,
    CACHE_WRITE,
    CACHED,
    CACHED_AUDIO,
    CHARACTERS,
    LONG_CONTEXT,
    OUTPUT,
    SECONDS,
    UNCACHED,
    UNCACHED_AUDIO,
)
from voicegw_cli.reconcile.diff import RateLookup

_MILLION = Decimal(1_000_000)


def pricer_lookup(config: Any, provider: str) -> RateLookup | None:
    """A RateLookup backed by `pricing.Pricer`."""
    from voicegw_cli.pricing import Pricer

    pricer = Pricer(getattr(config, "pricing_overrides", None))

    def lookup(model: str, day: date) -> dict[str, tuple[Decimal, str]] | None:
        when = datetime.combine(day, time(12), UTC)
        try:
            rate = pricer.rate_for(provider, model, when)
        except (LookupError, ValueError):
            return None
        return rate_units(rate) if rate is not None else None

    return lookup


def rate_units(rate: Any) -> dict[str, tuple[Decimal, str]]:
    """A pricing `Rate` as {rate leaf: (USD per unit, source)}; a context-size tier's
    leaves are keyed `<leaf>@long context`.

    Token prices are per 1M tokens; cached reads, cache writes and audio fall back as the
    pricer does (rates.py); audio is per `audio_unit` (second, minute or hour)."""
    out = _leaves(rate)
    for _, tier in rate.tiers[-1:]:  # the highest context tier is the long-context one
        out.update({f"{k}@{LONG_CONTEXT}": v for k, v in _leaves(tier).items()})
    return out


def _leaves(rate: Any) -> dict[str, tuple[Decimal, str]]:
    from voicegw_cli.pricing.rates import AUDIO_UNITS

    source = str(rate.source)
    out: dict[str, tuple[Decimal, str]] = {}
    if rate.input is not None:
        out[UNCACHED] = (rate.input / _MILLION, source)
        for unit, price in ((CACHED, rate.cached_input), (CACHE_WRITE, rate.cache_write)):
            out[unit] = ((price if price is not None else rate.input) / _MILLION, source)
        audio = rate.audio_input if rate.audio_input is not None else rate.input
        out[UNCACHED_AUDIO] = (audio / _MILLION, source)
        cached_audio = rate.cached_audio_input if rate.cached_audio_input is not None else audio
        out[CACHED_AUDIO] = (cached_audio / _MILLION, source)
    if rate.output is not None:
        out[OUTPUT] = (rate.output / _MILLION, source)
        audio_out = rate.audio_output if rate.audio_output is not None else rate.output
        out[AUDIO_OUT] = (audio_out / _MILLION, source)
    if rate.audio_price is not None:
        out[SECONDS] = (rate.audio_price / AUDIO_UNITS[rate.audio_unit], source)
    if rate.per_character is not None:
        out[CHARACTERS] = (rate.per_character, source)
    return out
