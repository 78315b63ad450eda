"""Everything that can price one provider/model, and the rule that picks a rate per item.

A `Plan` holds up to four schedules, in priority order:

1. the override from `pricing.overrides` (negotiated rates win),
2. the catalog entry (the `batch` variant for items whose metadata says `streamed: false`),
3. genai-prices.

Which one prices an item depends on what it metered. An item with tokens takes the first
rate that has token prices, so `gpt-4o-transcribe` and `gpt-4o-mini-tts` are priced from
genai-prices tokens whenever LiveKit reports tokens; an item with only audio seconds or
characters takes the first rate that bills one of those units, so the same models fall
back to the catalog's per-minute estimate when LiveKit reports only audio duration.
An item with no usage at all costs 0 at the first known rate. Nothing found: unpriced.

LiveKit Inference (`livekit`, model `deepgram/nova-3`) is its own billing provider: its
catalog entries come first; a model it does not list is priced at the underlying
provider's list price (catalog, then genai-prices for LLMs such as `openai/gpt-4.1-mini`),
relabeled as provider `livekit` with a note saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voicegw_cli.pricing.periods import Schedule
from voicegw_cli.pricing.rates import Rate

#: Schedule slots of a plan, in priority order.
OVERRIDE, CATALOG, CATALOG_BATCH, GENAI = range(4)
SLOTS = ("override", "catalog", "catalog_batch", "genai")
_VIA_LIVEKIT = (
    "LiveKit Inference bills this model as provider livekit; priced at the underlying "
    "provider's list price (assumed pass-through, not checked against LiveKit's price page)"
)


@dataclass(frozen=True, slots=True)
class Plan:
    provider: str
    model: str
    schedules: tuple[Schedule | None, Schedule | None, Schedule | None, Schedule | None]

    @property
    def known(self) -> bool:
        return any(s is not None and any(r is not None for r in s.rates) for s in self.schedules)

    @property
    def has_batch(self) -> bool:
        return self.schedules[CATALOG_BATCH] is not None

    def periods_at(self, ts_us: int) -> tuple[int, int, int, int]:
        return tuple(-1 if s is None else s.index(ts_us) for s in self.schedules)  # type: ignore[return-value]

    def periods_array(self, ts_us: Any) -> list[Any]:
        import numpy as np

        return [
            np.full(len(ts_us), -1, dtype=np.int64) if s is None else s.index_array(ts_us)
            for s in self.schedules
        ]

    def rate(self, slot: int, period: int) -> Rate | None:
        s = self.schedules[slot]
        return None if s is None or period < 0 else s.entries[period][1]

    def candidates(self, periods: tuple[int, ...], batch: bool) -> list[Rate]:
        catalog = CATALOG_BATCH if batch and self.has_batch else CATALOG
        out = []
        for slot in (OVERRIDE, catalog, GENAI):
            r = self.rate(slot, periods[slot])
            if r is not None:
                out.append(r)
        return out

    def choose(
        self,
        periods: tuple[int, ...],
        batch: bool,
        has_tokens: bool,
        has_seconds: bool,
        has_characters: bool,
    ) -> Rate | None:
        """The rate for an item with these period indices and metered units (see module
        docstring). Tiers are not applied here (`Rate.for_input_tokens`)."""
        cands = self.candidates(periods, batch)

        def bills_a_unit(r: Rate) -> bool:
            return (r.bills_seconds and has_seconds) or (r.bills_characters and has_characters)

        if has_tokens:
            for r in cands:
                if r.bills_tokens:
                    return r
        for r in cands:
            if bills_a_unit(r):
                return r
        if not (has_tokens or has_seconds or has_characters) and cands:
            return cands[0]
        return None

    def preferred(self, periods: tuple[int, ...], modality: str | None) -> Rate | None:
        """The rate `rate_for` reports: per-unit first for stt/tts, tokens first otherwise."""
        if modality in ("stt", "tts"):
            return self.choose(periods, False, False, True, True) or self.choose(
                periods, False, True, False, False
            )
        return self.choose(periods, False, True, False, False) or self.choose(
            periods, False, False, True, True
        )


def build_plan(provider: str, model: str, override: Schedule | None, catalog: Any) -> Plan:
    """Resolve the schedules of one canonical provider and model (genai-prices is only
    consulted, lazily, here)."""
    from voicegw_cli.pricing.llm import genai_schedule

    cat = catalog.schedule(provider, model)
    cat_batch = catalog.schedule(provider, model, "batch")
    genai = None
    if provider == "livekit" and "/" in model:
        from voicegw_cli.pricing.providers import canonical_provider

        up, _, um = model.partition("/")
        up = canonical_provider(up)
        if cat is None and cat_batch is None:
            cat = catalog.schedule(up, um, as_provider=provider, as_model=model)
            cat_batch = catalog.schedule(up, um, "batch", as_provider=provider, as_model=model)
            cat = _relabel(cat)
            cat_batch = _relabel(cat_batch)
        genai = genai_schedule(up, um, as_provider=provider, as_model=model, note=_VIA_LIVEKIT)
    else:
        genai = genai_schedule(provider, model)
    return Plan(provider, model, (override, cat, cat_batch, genai))


def _relabel(schedule: Schedule | None) -> Schedule | None:
    if schedule is None:
        return None
    return Schedule(
        tuple(
            (
                cond,
                None
                if r is None
                else r.with_labels(note=f"{_VIA_LIVEKIT}. {r.note or ''}".strip()),
            )
            for cond, r in schedule.entries
        )
    )
