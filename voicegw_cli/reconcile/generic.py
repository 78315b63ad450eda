"""The generic CSV for providers without a usable export (AssemblyAI, Groq) and for
invoices (LiveKit Inference): `provider,model,day,unit,quantity,cost`.

`day` is `YYYY-MM-DD` (or an ISO date-time, read as UTC); leave it blank for a line that
covers the whole period. `unit` is one of the unit kinds reconcile compares, or a common
alias (`input`, `output`, `cached_input`, `seconds`, `minutes`, `hours`, `characters`,
`credits`), or blank for a cost with no quantity. `cost` is USD, any precision; blank
when unknown. Rows for other providers are skipped and counted.
"""

from __future__ import annotations

from decimal import Decimal

from voicegw_cli.reconcile.base import (
    CACHE_WRITE,
    CACHED,
    CHARACTERS,
    COST,
    CREDITS,
    OUTPUT,
    SECONDS,
    UNCACHED,
    UNITS,
    USAGE,
    ReadResult,
    Rec,
    Source,
    csv_rows,
    half_ulp,
    parse_instant,
    to_decimal,
    to_quantity,
)
from voicegw_cli.reconcile.names import canonical_provider
from voicegw_cli.reconcile.pages import ReadContext

COLUMNS = ("provider", "model", "day", "unit", "quantity", "cost")
_ALIASES: dict[str, tuple[str, float]] = {u: (u, 1.0) for u in UNITS}
_ALIASES.update(
    {
        "input": (UNCACHED, 1.0),
        "input_tokens": (UNCACHED, 1.0),
        "uncached_input": (UNCACHED, 1.0),
        "prompt_tokens": (UNCACHED, 1.0),
        "cached_input": (CACHED, 1.0),
        "cache_read": (CACHED, 1.0),
        "cache_read_tokens": (CACHED, 1.0),
        "cache_write": (CACHE_WRITE, 1.0),
        "output": (OUTPUT, 1.0),
        "completion_tokens": (OUTPUT, 1.0),
        "seconds": (SECONDS, 1.0),
        "second": (SECONDS, 1.0),
        "s": (SECONDS, 1.0),
        "minutes": (SECONDS, 60.0),
        "minute": (SECONDS, 60.0),
        "min": (SECONDS, 60.0),
        "hours": (SECONDS, 3600.0),
        "hour": (SECONDS, 3600.0),
        "h": (SECONDS, 3600.0),
        "chars": (CHARACTERS, 1.0),
        "credit": (CREDITS, 1.0),
    }
)
_MODALITY = {SECONDS: "stt", CHARACTERS: "tts", CREDITS: None}


def detect_csv(header: list[str]) -> str | None:
    return "generic CSV" if set(COLUMNS) <= set(header) else None


def read(src: Source, ctx: ReadContext, fmt: str) -> ReadResult:
    provider = ctx.provider
    out = ReadResult(src.name, fmt, provider)
    others: dict[str, int] = {}
    for line, row in csv_rows(src, COLUMNS):
        prov = canonical_provider(row["provider"]) if row["provider"].strip() else provider
        if prov != provider:
            others[prov] = others.get(prov, 0) + 1
            continue
        model = row["model"].strip() or None
        day_text = row["day"].strip()
        day = parse_instant(src, day_text, f"row {line} column day").date() if day_text else None
        unit_text = row["unit"].strip().lower()
        qty_text = row["quantity"].strip()
        unit: str | None = None
        qty: float | None = None
        qtol = 0.0
        if unit_text:
            if unit_text == "tokens":
                raise src.error(
                    f"row {line} column unit",
                    "`tokens` is ambiguous: use input, cached_input, cache_write or output",
                )
            if unit_text not in _ALIASES:
                raise src.error(
                    f"row {line} column unit",
                    f"unknown unit {row['unit']!r}; use one of {', '.join(UNITS)} "
                    "(or input, output, cached_input, seconds, minutes, hours)",
                )
            unit, factor = _ALIASES[unit_text]
            if qty_text:
                qty, qtol = to_quantity(src, qty_text, f"row {line} column quantity")
                qty, qtol = qty * factor, qtol * factor
        elif qty_text:
            raise src.error(f"row {line} column unit", "a quantity needs a unit")
        cost_text = row["cost"].strip()
        cost = to_decimal(src, cost_text, f"row {line} column cost") if cost_text else None
        if qty is None and cost is None:
            continue
        out.records.append(
            Rec(
                model,
                day,
                unit,
                qty,
                cost,
                COST if qty is None else USAGE,
                modality=_MODALITY.get(unit or "", "llm") if unit else None,
                qtol=qtol,
                ctol=half_ulp(cost) if cost is not None else Decimal(0),
            )
        )
    for prov, n in sorted(others.items()):
        out.notes.append(f"{src.name}: skipped {n} row(s) for provider {prov}")
    return out
