"""Cartesia: `GET /usage/credits` (`{data: [{start_ts, end_ts, credits}]}`) and
`GET /usage/agents` (`{start_ts, end_ts, cents, minutes, calls}` buckets).

Quirks handled: no model split (credits cover every model: the diff compares them with
the credits our characters and audio seconds imply); without `interval` there is one
bucket for the whole span, compared over the period; empty buckets are 0; agent costs
are in cents.
"""

from __future__ import annotations

from typing import Any

from voicegw_cli.reconcile.base import (
    CREDITS,
    SECONDS,
    USAGE,
    ReadResult,
    Rec,
    Source,
    half_ulp,
    parse_instant,
    span_day,
    to_decimal,
    to_quantity,
)
from voicegw_cli.reconcile.pages import ReadContext

PROVIDER = "cartesia"


def _sample(docs: list[Any]) -> dict[str, Any] | None:
    doc = docs[0] if docs else None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        return None
    return next((b for b in doc["data"] if isinstance(b, dict)), {})


def detect_json(docs: list[Any]) -> str | None:
    sample = _sample(docs)
    if not sample or "start_ts" not in sample:
        return None
    if "credits" in sample:
        return "Cartesia credits"
    if "cents" in sample or "minutes" in sample:
        return "Cartesia agents usage"
    return None


def read(src: Source, docs: list[Any], ctx: ReadContext, fmt: str) -> ReadResult:
    out = ReadResult(src.name, fmt, PROVIDER)
    for doc in docs:
        for i, b in enumerate(doc.get("data") or []):
            where = f"data[{i}]"
            if not isinstance(b, dict):
                raise src.error(where, "expected an object")
            start = parse_instant(src, b.get("start_ts"), f"{where}.start_ts")
            end = parse_instant(src, b["end_ts"], f"{where}.end_ts") if b.get("end_ts") else None
            day = span_day(start, end)
            if "credits" in b:
                qty, qtol = to_quantity(src, b.get("credits") or 0, f"{where}.credits")
                out.records.append(Rec(None, day, CREDITS, qty, None, USAGE, qtol=qtol))
                continue
            minutes, mtol = to_quantity(src, b.get("minutes") or 0, f"{where}.minutes")
            cents = to_decimal(src, b.get("cents") or 0, f"{where}.cents")
            out.records.append(
                Rec(
                    "agents",
                    day,
                    SECONDS,
                    minutes * 60,
                    cents / 100,
                    USAGE,
                    "realtime",
                    mtol * 60,
                    half_ulp(cents) / 100,
                )
            )
    return out
