"""The dated STT/TTS price catalog shipped inside the package (`catalog.json`).

genai-prices covers LLM tokens well but hardly any speech models, so per-second and
per-character prices live here: one entry per provider/model (and `variant`, and price
period), each naming its unit, price, billing increment and minimum, public source and the
date it was last reviewed, with the evidence that review read. Lookups are case-insensitive on
the model id and its aliases; aliases may end in `*` (`aura-2-*` matches `aura-2-thalia-en`).

`catalog_health` is the one answer to "is the catalog fresh?": `voicegw prices check` and
`voicegw status` both report its counts, so they cannot disagree.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from typing import Any

from voicegw_cli import clock
from voicegw_cli.pricing.periods import Schedule, StartsOn, period_bounds
from voicegw_cli.pricing.rates import AUDIO_UNITS, ROUNDINGS, Rate, format_rate

UNITS = (*AUDIO_UNITS, "character")
CONFIDENCE = ("official", "secondary", "unverified")
#: An entry in force whose last review is older than this many days is stale.
MAX_AGE_DAYS = 60
_FIELDS = {
    "provider",
    "model",
    "aliases",
    "modality",
    "variant",
    "unit",
    "per",
    "price",
    "billing_increment_seconds",
    "minimum_seconds",
    "rounding",
    "effective_from",
    "source_url",
    "pricing_source_date",
    "confidence",
    "note",
    "evidence",
}
_EVIDENCE_FIELDS = {"source", "as_of", "says"}
_REQUIRED = (
    "provider",
    "model",
    "unit",
    "price",
    "source_url",
    "pricing_source_date",
    "confidence",
)


@dataclass(frozen=True, slots=True)
class Evidence:
    """One source a review read: where (`source`, a URL or a description of a stored
    copy), what it says, and the date the source itself gives for its figures."""

    source: str
    says: str
    as_of: date | None = None


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    provider: str
    model: str
    unit: str
    price: Decimal
    source_url: str
    pricing_source_date: date
    confidence: str
    per: int = 1
    aliases: tuple[str, ...] = ()
    modality: str | None = None
    variant: str | None = None
    billing_increment_seconds: Decimal | None = None
    minimum_seconds: Decimal | None = None
    rounding: str = "up"
    effective_from: date | None = None
    note: str | None = None
    evidence: tuple[Evidence, ...] = ()

    @property
    def source(self) -> str:
        """The `pricing_source` of items this entry prices."""
        return f"catalog@{self.pricing_source_date.isoformat()}"

    @property
    def key(self) -> str:
        return f"{self.provider}/{self.model}"

    def age_days(self, today: date) -> int:
        return (today - self.pricing_source_date).days

    def matches(self, model: str) -> bool:
        m = model.lower()
        if m == self.model.lower():
            return True
        return any(
            fnmatch.fnmatchcase(m, a.lower()) if "*" in a else m == a.lower() for a in self.aliases
        )

    def to_rate(
        self,
        valid_from: date | None = None,
        valid_to: date | None = None,
        *,
        provider: str | None = None,
        model: str | None = None,
    ) -> Rate:
        common: dict[str, Any] = dict(
            provider=provider or self.provider,
            model=model or self.model,
            source=self.source,
            valid_from=valid_from if valid_from is not None else self.effective_from,
            valid_to=valid_to,
            note=self.note,
            matched_model=self.model if model and model.lower() != self.model.lower() else None,
        )
        if self.unit == "character":
            return Rate(per_character=self.price / self.per, **common)
        return Rate(
            audio_price=self.price / self.per if self.per != 1 else self.price,
            audio_unit=self.unit,
            billing_increment_seconds=self.billing_increment_seconds,
            minimum_seconds=self.minimum_seconds,
            rounding=self.rounding,
            **common,
        )

    @property
    def verified(self) -> bool:
        return self.confidence != "unverified"

    def rate_text(self) -> str:
        """The price as people read it: `$0.0048/min`, `$50/1M chars`."""
        unit = {"second": "s", "minute": "min", "hour": "hour", "character": "char"}[self.unit]
        if self.per == 1:
            return f"${format_rate(self.price)}/{unit}"
        per = {1000: "1K", 1_000_000: "1M"}.get(self.per, f"{self.per:,}")
        return f"${format_rate(self.price)}/{per} {unit}s"

    def as_row(self, today: date | None = None) -> dict[str, Any]:
        row: dict[str, Any] = {
            "provider": self.provider,
            "model": self.model,
            "variant": self.variant or "",
            "modality": self.modality or "",
            "unit": self.unit,
            "per": self.per,
            "price_usd": format_rate(self.price),
            "rate": self.rate_text(),
            "billing_increment_seconds": format_rate(self.billing_increment_seconds),
            "minimum_seconds": format_rate(self.minimum_seconds),
            "effective_from": self.effective_from,
            "pricing_source_date": self.pricing_source_date,
            "confidence": self.confidence,
            "source_url": self.source_url,
        }
        if today is not None:
            row["age_days"] = self.age_days(today)
        return row


class Catalog:
    def __init__(self, entries: list[CatalogEntry]) -> None:
        self.entries = entries
        self._by_provider: dict[str, list[CatalogEntry]] = {}
        for e in entries:
            self._by_provider.setdefault(e.provider, []).append(e)

    def matching(self, provider: str, model: str) -> list[CatalogEntry]:
        """Entries for this model (all variants and periods), best match first: the model
        id itself, then exact aliases, then the longest wildcard alias."""
        candidates = [e for e in self._by_provider.get(provider, ()) if e.matches(model)]
        if not candidates:
            return []

        def rank(e: CatalogEntry) -> tuple[int, int]:
            m = model.lower()
            if m == e.model.lower():
                return (0, 0)
            if m in (a.lower() for a in e.aliases):
                return (1, 0)
            longest = max((len(a) for a in e.aliases if "*" in a), default=0)
            return (2, -longest)

        best = min(rank(e) for e in candidates)
        winner = min(candidates, key=rank).model
        return [e for e in candidates if rank(e) == best and e.model == winner]

    def schedule(
        self,
        provider: str,
        model: str,
        variant: str | None = None,
        *,
        as_provider: str | None = None,
        as_model: str | None = None,
    ) -> Schedule | None:
        """The price periods of one model and variant (None: the default variant)."""
        entries = [e for e in self.matching(provider, model) if e.variant == variant]
        if not entries:
            return None
        entries.sort(key=lambda e: e.effective_from or date.min)
        slots: list[tuple[Any, CatalogEntry | None]] = [
            (StartsOn(e.effective_from) if e.effective_from else None, e) for e in entries
        ]
        if slots[0][0] is not None:  # before the first listed price there is no price
            slots.insert(0, (None, None))
        conditions = [c for c, _ in slots]
        pairs: list[tuple[Any, Rate | None]] = []
        for i, (cond, e) in enumerate(slots):
            start, end, _ = period_bounds(conditions, i)
            rate = (
                None if e is None else e.to_rate(start, end, provider=as_provider, model=as_model)
            )
            pairs.append((cond, rate))
        return Schedule(tuple(pairs))

    def current(self, today: date) -> list[CatalogEntry]:
        """Entries in force on `today` (one per provider/model/variant; superseded
        price periods are history, not staleness)."""
        latest: dict[tuple[str, str, str | None], CatalogEntry] = {}
        for e in self.entries:
            if e.effective_from and e.effective_from > today:
                continue
            k = (e.provider, e.model, e.variant)
            cur = latest.get(k)
            if cur is None or (e.effective_from or date.min) >= (cur.effective_from or date.min):
                latest[k] = e
        return sorted(latest.values(), key=lambda e: (e.provider, e.model, e.variant or ""))

    def models(self, provider: str | None = None) -> list[str]:
        return sorted({e.key for e in self.entries if provider in (None, e.provider)})


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    text = resources.files("voicegw_cli.pricing").joinpath("catalog.json").read_text("utf-8")
    return Catalog(parse_catalog(json.loads(text), source="catalog.json"))


def catalog_entries() -> list[CatalogEntry]:
    """Every shipped catalog entry, historical price periods included."""
    return list(load_catalog().entries)


@dataclass(frozen=True, slots=True)
class CatalogHealth:
    """The catalog's state on `today`: which prices in force are stale (last reviewed more
    than `max_age_days` before `today`) and which are unverified."""

    today: date
    max_age_days: int
    in_force: tuple[CatalogEntry, ...]
    stale: tuple[CatalogEntry, ...]
    unverified: tuple[CatalogEntry, ...]

    @property
    def ok(self) -> bool:
        """No price in force is past its age (unverified prices are reported, not failed)."""
        return not self.stale

    def needing_attention(self) -> list[CatalogEntry]:
        """Stale or unverified entries, oldest review first."""
        return sorted(dict.fromkeys((*self.stale, *self.unverified)), key=_review_order)

    def summary(self) -> dict[str, Any]:
        dates = [e.pricing_source_date for e in self.in_force]
        return {
            "today": self.today,
            "max_age_days": self.max_age_days,
            "checked": len(self.in_force),
            "stale": len(self.stale),
            "unverified": len(self.unverified),
            "oldest_review": min(dates) if dates else None,
            "newest_review": max(dates) if dates else None,
            "ok": self.ok,
        }


def catalog_health(today: date | None = None, max_age_days: int = MAX_AGE_DAYS) -> CatalogHealth:
    """Stale and unverified catalog prices in force on `today` (default: today, UTC).
    Superseded price periods are history, not staleness."""
    if max_age_days < 0:
        raise ValueError("max_age_days must not be negative")
    today = today or clock.now().date()
    current = tuple(load_catalog().current(today))
    stale = tuple(
        sorted((e for e in current if e.age_days(today) > max_age_days), key=_review_order)
    )
    unverified = tuple(sorted((e for e in current if not e.verified), key=_review_order))
    return CatalogHealth(today, max_age_days, current, stale, unverified)


def stale_entries(max_age_days: int, today: date) -> list[CatalogEntry]:
    """Entries in force on `today` last reviewed more than `max_age_days` days earlier,
    oldest first (`catalog_health(today, max_age_days).stale`)."""
    return list(catalog_health(today, max_age_days).stale)


def _review_order(e: CatalogEntry) -> tuple[date, str, str, str]:
    return (e.pricing_source_date, e.provider, e.model, e.variant or "")


def parse_catalog(data: Any, *, source: str) -> list[CatalogEntry]:
    """Validate the catalog document; raises ValueError naming the entry and field."""
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise ValueError(f"{source}: expected an object with an 'entries' list")
    out: list[CatalogEntry] = []
    for n, raw in enumerate(data["entries"]):
        where = f"{source}: entries[{n}]"
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: expected an object")
        unknown = set(raw) - _FIELDS
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        for f in _REQUIRED:
            if raw.get(f) in (None, ""):
                raise ValueError(f"{where}: {f} is required")
        unit = raw["unit"]
        if unit not in UNITS:
            raise ValueError(f"{where}: unit must be one of {', '.join(UNITS)}")
        if raw["confidence"] not in CONFIDENCE:
            raise ValueError(f"{where}: confidence must be one of {', '.join(CONFIDENCE)}")
        rounding = raw.get("rounding", "up")
        if rounding not in ROUNDINGS:
            raise ValueError(f"{where}: rounding must be one of {', '.join(ROUNDINGS)}")
        per = raw.get("per", 1)
        if not isinstance(per, int) or isinstance(per, bool) or per <= 0:
            raise ValueError(f"{where}: per must be a positive integer")
        if unit == "character" and (
            raw.get("billing_increment_seconds") is not None
            or raw.get("minimum_seconds") is not None
        ):
            raise ValueError(f"{where}: billing increments apply to audio units only")
        aliases = raw.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise ValueError(f"{where}: aliases must be a list of strings")
        evidence = _evidence(raw.get("evidence", []), f"{where}: evidence")
        out.append(
            CatalogEntry(
                provider=str(raw["provider"]).lower(),
                model=str(raw["model"]),
                unit=unit,
                per=per,
                price=_decimal(raw["price"], f"{where}: price"),
                billing_increment_seconds=_opt_decimal(
                    raw.get("billing_increment_seconds"), f"{where}: billing_increment_seconds"
                ),
                minimum_seconds=_opt_decimal(
                    raw.get("minimum_seconds"), f"{where}: minimum_seconds"
                ),
                rounding=rounding,
                effective_from=_opt_date(raw.get("effective_from"), f"{where}: effective_from"),
                source_url=str(raw["source_url"]),
                pricing_source_date=_date(
                    raw["pricing_source_date"], f"{where}: pricing_source_date"
                ),
                confidence=raw["confidence"],
                aliases=tuple(aliases),
                modality=raw.get("modality"),
                variant=raw.get("variant"),
                note=raw.get("note"),
                evidence=evidence,
            )
        )
    return out


def _evidence(value: Any, where: str) -> tuple[Evidence, ...]:
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list of {{source, says, as_of}} objects")
    out = []
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{at}: expected an object")
        unknown = set(item) - _EVIDENCE_FIELDS
        if unknown:
            raise ValueError(f"{at}: unknown field(s) {', '.join(sorted(unknown))}")
        for f in ("source", "says"):
            if not isinstance(item.get(f), str) or not item[f].strip():
                raise ValueError(f"{at}: {f} is required text")
        out.append(
            Evidence(item["source"], item["says"], _opt_date(item.get("as_of"), f"{at}: as_of"))
        )
    return tuple(out)


def _decimal(value: Any, where: str) -> Decimal:
    if not isinstance(value, str):
        raise ValueError(f'{where}: prices are decimal strings, like "0.0048"')
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{where}: not a decimal number: {value!r}") from None
    if not d.is_finite() or d < 0:
        raise ValueError(f"{where}: must be a non-negative number")
    return d


def _opt_decimal(value: Any, where: str) -> Decimal | None:
    return None if value is None else _decimal(value, where)


def _date(value: Any, where: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{where}: expected an ISO date (YYYY-MM-DD): {value!r}") from None


def _opt_date(value: Any, where: str) -> date | None:
    return None if value is None else _date(value, where)
