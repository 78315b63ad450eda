"""`Pricer`: prices line items one at a time (the runtime hook) or a table at once.

Rates are resolved once per (provider, model) and cached, so `price_item` costs a few
microseconds after the first item of a model; genai-prices' data is loaded on the first
model that needs it. The Pricer is safe to share between threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from voicegw_cli import clock
from voicegw_cli.items import UNPRICED, LineItem
from voicegw_cli.pricing.catalog import load_catalog
from voicegw_cli.pricing.overrides import override_schedule, parse_overrides
from voicegw_cli.pricing.periods import epoch_us
from voicegw_cli.pricing.plan import Plan, build_plan
from voicegw_cli.pricing.providers import canonical_provider
from voicegw_cli.pricing.rates import SCALE, InvalidUnits, Rate

_TOKEN_ATTRS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "audio_input_tokens",
    "audio_output_tokens",
)


class Pricer:
    """Prices line items. `overrides` is `pricing.overrides` from voicegw.yaml, raw (as
    in `Config.pricing_overrides`); invalid overrides raise `ConfigError`."""

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        self._overrides = {
            key: override_schedule(periods)
            for key, periods in parse_overrides(overrides or {}, source="pricing.overrides").items()
        }
        self._catalog = load_catalog()
        self._plans: dict[tuple[str, str], Plan] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ resolution

    def plan(self, provider: str, model: str) -> Plan:
        """Every schedule that can price `provider`/`model` (cached)."""
        key = (canonical_provider(provider), (model or "").strip().lower())
        plan = self._plans.get(key)
        if plan is None:
            with self._lock:
                plan = self._plans.get(key)
                if plan is None:
                    override = self._overrides.get(f"{key[0]}/{key[1]}")
                    plan = build_plan(key[0], (model or "").strip(), override, self._catalog)
                    self._plans[key] = plan
        return plan

    def rate_for(
        self, provider: str, model: str, when: datetime, modality: str | None = None
    ) -> Rate | None:
        """The rate in force for `provider`/`model` at `when` (None: no price known).

        For stt/tts the per-unit rate is preferred, otherwise the token rate; tiered
        rates carry their tiers in `Rate.tiers`."""
        plan = self.plan(provider, model)
        return plan.preferred(plan.periods_at(epoch_us(when)), modality)

    def rates_for(self, provider: str, model: str, when: datetime) -> list[tuple[str, Rate]]:
        """Every rate that could price the model at `when`, as (slot name, rate), in
        priority order (override, catalog, catalog_batch, genai)."""
        from voicegw_cli.pricing.plan import SLOTS

        plan = self.plan(provider, model)
        periods = plan.periods_at(epoch_us(when))
        out = []
        for slot, name in enumerate(SLOTS):
            r = plan.rate(slot, periods[slot])
            if r is not None:
                out.append((name, r))
        return out

    def choose(self, item: LineItem) -> Rate | None:
        """The rate (tier applied) that prices this item, or None."""
        plan = self.plan(item.provider, item.model)
        has_tokens = any(getattr(item, a) for a in _TOKEN_ATTRS)
        rate = plan.choose(
            plan.periods_at(epoch_us(item.timestamp)),
            bool(item.metadata) and item.metadata.get("streamed") is False,
            has_tokens,
            item.audio_seconds > 0,
            item.characters > 0,
        )
        if rate is not None and rate.tiers:
            rate = rate.for_input_tokens(item.input_tokens)
        return rate

    # --------------------------------------------------------------------- pricing

    def price_item(self, item: LineItem) -> LineItem:
        """Fill `item.cost_usd` and `item.pricing_source` in place (and return the item).

        Prices every item it is given, whatever cost it carried. Unknown models and
        contradictory units give cost None and source `unpriced`, never $0."""
        rate = self.choose(item)
        cost = None
        if rate is not None:
            cached_audio = 0
            if item.cached_input_tokens > 0 and item.audio_input_tokens > 0 and item.metadata:
                cached_audio = int(item.metadata.get("input_cached_audio_tokens") or 0)
            try:
                cost = rate.cost_units(
                    input_tokens=item.input_tokens,
                    cached_input_tokens=item.cached_input_tokens,
                    cache_write_tokens=item.cache_write_tokens,
                    output_tokens=item.output_tokens,
                    reasoning_tokens=item.reasoning_tokens,
                    audio_input_tokens=item.audio_input_tokens,
                    audio_output_tokens=item.audio_output_tokens,
                    cached_audio_input_tokens=cached_audio,
                    audio_seconds=float(item.audio_seconds or 0.0),
                    characters=item.characters,
                )
            except InvalidUnits:
                cost = None
        if cost is None:
            item.cost_usd, item.pricing_source = None, UNPRICED
        else:
            item.cost_usd, item.pricing_source = Decimal(cost).scaleb(-SCALE), rate.source
        return item

    def price_table(self, table: Any) -> Any:
        """Price a pyarrow Table of line-item columns in bulk: rows whose `cost_usd` is
        null get `cost_usd` (decimal128(18,10)) and `pricing_source`; rows that carry a
        cost keep it. Same results as `price_item`, row for row."""
        from voicegw_cli.pricing.table import price_table

        return price_table(self, table)

    # ---------------------------------------------------------------------- helpers

    def override_keys(self) -> list[str]:
        """`provider/model` keys of the configured overrides (lowercase)."""
        return sorted(self._overrides)

    def unpriced_models(
        self, pairs: Iterable[tuple[str, str]], when: datetime | None = None
    ) -> list[str]:
        """`provider/model` ids (canonical provider) that nothing can price at `when`."""
        when = when or clock.now()
        out = set()
        for provider, model in pairs:
            plan = self.plan(provider, model)
            periods = plan.periods_at(epoch_us(when))
            if not plan.candidates(periods, False):
                out.add(f"{plan.provider}/{model}")
        return sorted(out)
