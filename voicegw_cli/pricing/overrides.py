"""Negotiated rates from `pricing.overrides` in voicegw.yaml; they win over every list price.

Schema (prices are decimal strings or numbers, USD)::

    pricing:
      overrides:
        openai/gpt-4o-mini:            # provider/model, as items name them
          input_per_mtok: "0.12"       # per 1M tokens; input and output are required
          cached_input_per_mtok: "0.06"  # optional token kinds; an absent kind is
          cache_write_per_mtok: "0.15"   #   priced like genai-prices does (cached,
          output_per_mtok: "0.48"        #   cache writes and audio in at input,
          audio_input_per_mtok: "8"      #   audio out and reasoning at output)
          audio_output_per_mtok: "16"
          cached_audio_input_per_mtok: "0.3"
          reasoning_per_mtok: "0.48"
        deepgram/nova-3:
          per_minute: "0.0040"         # exactly one of per_second | per_minute | per_hour
          billing_increment_seconds: 1 # optional: round each item's audio up to this
          minimum_seconds: 0           # optional: bill at least this per item
          rounding: up                 # optional: up (default) | nearest
          effective_from: 2026-11-01   # optional UTC date; earlier items use list prices
        cartesia/sonic-3:
          per_1m_characters: "38"      # or per_character | per_1k_characters
          note: "2026 contract"        # optional text shown by `voicegw prices show`
        livekit/deepgram/nova-3:       # LiveKit Inference ids keep their slash
          - {per_minute: "0.0050"}                              # a list of periods:
          - {per_minute: "0.0045", effective_from: 2026-12-01}  #   the latest started wins

Keys are matched case-insensitively; the provider part goes through `canonical_provider`,
so `Deepgram/nova-3` and `api.openai.com/gpt-4o-mini` work. Items priced by an override
name `pricing_source: override`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from voicegw_cli.errors import ConfigError
from voicegw_cli.items import OVERRIDE
from voicegw_cli.pricing.periods import Schedule, StartsOn, period_bounds
from voicegw_cli.pricing.providers import canonical_provider
from voicegw_cli.pricing.rates import ROUNDINGS, Rate

TOKEN_FIELDS = {
    "input_per_mtok": "input",
    "cached_input_per_mtok": "cached_input",
    "cache_write_per_mtok": "cache_write",
    "output_per_mtok": "output",
    "reasoning_per_mtok": "reasoning",
    "audio_input_per_mtok": "audio_input",
    "cached_audio_input_per_mtok": "cached_audio_input",
    "audio_output_per_mtok": "audio_output",
}
AUDIO_FIELDS = {"per_second": "second", "per_minute": "minute", "per_hour": "hour"}
CHARACTER_FIELDS = {"per_character": 1, "per_1k_characters": 1000, "per_1m_characters": 1_000_000}
OTHER_FIELDS = (
    "billing_increment_seconds",
    "minimum_seconds",
    "rounding",
    "effective_from",
    "note",
)
ALLOWED = (*TOKEN_FIELDS, *AUDIO_FIELDS, *CHARACTER_FIELDS, *OTHER_FIELDS)


@dataclass(frozen=True, slots=True)
class Override:
    provider: str
    model: str
    rate: Rate
    effective_from: date | None = None


def parse_overrides(
    raw: Mapping[str, Any] | None, *, source: str
) -> dict[str, tuple[Override, ...]]:
    """Validate `pricing.overrides`; returns {"provider/model" (lowercase): periods oldest
    first}. Raises ConfigError(source, key path, problem) on the first bad value."""
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(source, "pricing.overrides", "expected a mapping of provider/model")
    out: dict[str, tuple[Override, ...]] = {}
    for key, value in raw.items():
        base = f"pricing.overrides.{key}"
        provider, model = _split_key(str(key), source, base)
        periods = value if isinstance(value, list) else [value]
        if not periods:
            raise ConfigError(source, base, "an empty list prices nothing")
        parsed = []
        for i, spec in enumerate(periods):
            where = f"{base}[{i}]" if isinstance(value, list) else base
            parsed.append(_parse_one(provider, model, spec, source, where))
        starts = [p.effective_from for p in parsed]
        if len(set(starts)) != len(starts):
            raise ConfigError(source, base, "two periods start on the same effective_from")
        parsed.sort(key=lambda p: p.effective_from or date.min)
        norm = f"{provider}/{model.lower()}"
        if norm in out:
            raise ConfigError(source, base, f"duplicate override for {norm}")
        out[norm] = tuple(parsed)
    return out


def override_schedule(periods: tuple[Override, ...]) -> Schedule:
    """The override's periods as a Schedule; before the first effective_from: no price."""
    slots: list[tuple[Any, Rate | None]] = [
        (StartsOn(p.effective_from) if p.effective_from else None, p.rate) for p in periods
    ]
    if slots[0][0] is not None:
        slots.insert(0, (None, None))
    conditions = [c for c, _ in slots]
    entries = []
    for i, (cond, rate) in enumerate(slots):
        if rate is not None:
            start, end, _ = period_bounds(conditions, i)
            rate = rate.with_labels(valid_from=start, valid_to=end)
        entries.append((cond, rate))
    return Schedule(tuple(entries))


def _split_key(key: str, source: str, where: str) -> tuple[str, str]:
    prov, sep, model = key.strip().partition("/")
    if not sep or not prov.strip() or not model.strip():
        raise ConfigError(source, where, "keys are provider/model, like openai/gpt-4o-mini")
    return canonical_provider(prov), model.strip()


def _parse_one(provider: str, model: str, spec: Any, source: str, where: str) -> Override:
    if not isinstance(spec, Mapping):
        raise ConfigError(source, where, "expected a mapping of prices")
    unknown = [k for k in spec if k not in ALLOWED]
    if unknown:
        raise ConfigError(
            source,
            f"{where}.{unknown[0]}",
            f"unknown field; allowed: {', '.join(ALLOWED)}",
        )
    fields: dict[str, Any] = {}
    for k, attr in TOKEN_FIELDS.items():
        if k in spec:
            fields[attr] = _price(spec[k], source, f"{where}.{k}")
    if fields and ("input" not in fields or "output" not in fields):
        missing = "input_per_mtok" if "input" not in fields else "output_per_mtok"
        raise ConfigError(
            source,
            f"{where}.{missing}",
            "token overrides need both input_per_mtok and output_per_mtok",
        )
    audio = [k for k in AUDIO_FIELDS if k in spec]
    if len(audio) > 1:
        raise ConfigError(
            source,
            f"{where}.{audio[1]}",
            f"give one of per_second, per_minute, per_hour (also got {audio[0]})",
        )
    if audio:
        fields["audio_price"] = _price(spec[audio[0]], source, f"{where}.{audio[0]}")
        fields["audio_unit"] = AUDIO_FIELDS[audio[0]]
    chars = [k for k in CHARACTER_FIELDS if k in spec]
    if len(chars) > 1:
        raise ConfigError(
            source,
            f"{where}.{chars[1]}",
            "give one of per_character, per_1k_characters, per_1m_characters",
        )
    if chars:
        fields["per_character"] = (
            _price(spec[chars[0]], source, f"{where}.{chars[0]}") / CHARACTER_FIELDS[chars[0]]
        )
    if not fields:
        raise ConfigError(
            source,
            where,
            "no price given: set input_per_mtok/output_per_mtok, per_second/per_minute/"
            "per_hour or per_character/per_1k_characters/per_1m_characters",
        )
    for k in ("billing_increment_seconds", "minimum_seconds"):
        if k in spec:
            if "audio_price" not in fields:
                raise ConfigError(
                    source, f"{where}.{k}", "only applies with per_second, per_minute or per_hour"
                )
            value = _price(spec[k], source, f"{where}.{k}")
            if k == "billing_increment_seconds" and value <= 0:
                raise ConfigError(source, f"{where}.{k}", "must be greater than 0")
            fields[k] = value
    if "rounding" in spec:
        if spec["rounding"] not in ROUNDINGS:
            raise ConfigError(source, f"{where}.rounding", f"must be one of {', '.join(ROUNDINGS)}")
        fields["rounding"] = spec["rounding"]
    start = (
        _date(spec["effective_from"], source, f"{where}.effective_from")
        if spec.get("effective_from") is not None
        else None
    )
    note = spec.get("note")
    if note is not None and not isinstance(note, str):
        raise ConfigError(source, f"{where}.note", "expected text")
    rate = Rate(
        provider=provider,
        model=model,
        source=OVERRIDE,
        valid_from=start,
        note=note or "negotiated rate from pricing.overrides in voicegw.yaml",
        **fields,
    )
    return Override(provider, model, rate, start)


def _price(value: Any, source: str, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ConfigError(source, where, f'expected a decimal number like "0.12", got {value!r}')
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise ConfigError(source, where, f"not a decimal number: {value!r}") from None
    if not d.is_finite() or d < 0:
        raise ConfigError(source, where, f"must be a non-negative number, got {value!r}")
    return d


def _date(value: Any, source: str, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ConfigError(
            source, where, f"expected a date like 2026-11-01, got {value!r}"
        ) from None
