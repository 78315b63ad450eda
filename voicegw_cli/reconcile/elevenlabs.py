"""ElevenLabs: `GET /v1/usage/character-stats` (`{time: [ms...], usage: {key: [n...]}}`).

Quirks handled: times are unix **milliseconds**; the first point is the requested start,
not a midnight; values are floats; the breakdown key is a model id with
`breakdown_type=model` and `All` without a breakdown (figures then cover every model);
the export does not say which `metric` it counts, so `--metric` does (credits, the API
default, or characters); week/month/cumulative points are compared over the period.
"""

from __future__ import annotations

from typing import Any

from voicegw_cli.reconcile.base import (
    CHARACTERS,
    CREDITS,
    USAGE,
    ReadResult,
    Rec,
    Source,
    day_from_unix,
    to_decimal,
    to_quantity,
)
from voicegw_cli.reconcile.pages import ReadContext

PROVIDER = "elevenlabs"
_DAY_MS = 86_400_000


def detect_json(docs: list[Any]) -> str | None:
    doc = docs[0] if docs else None
    if (
        isinstance(doc, dict)
        and isinstance(doc.get("time"), list)
        and isinstance(doc.get("usage"), dict)
    ):
        return "ElevenLabs character stats"
    return None


def read(src: Source, docs: list[Any], ctx: ReadContext, fmt: str) -> ReadResult:
    out = ReadResult(src.name, fmt, PROVIDER)
    unit = CHARACTERS if ctx.metric == "characters" else CREDITS
    for doc in docs:
        times = doc.get("time") or []
        stamps = [to_decimal(src, t, f"time[{i}]") for i, t in enumerate(times)]
        gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
        daily = len(stamps) > 1 and all(g <= _DAY_MS for g in gaps)
        days = [day_from_unix(src, t, f"time[{i}]", millis=True) for i, t in enumerate(times)]
        for key, values in (doc.get("usage") or {}).items():
            where = f"usage.{key}"
            if not isinstance(values, list) or len(values) != len(times):
                raise src.error(
                    where,
                    f"expected {len(times)} values (one per `time` point), got "
                    f"{len(values) if isinstance(values, list) else type(values).__name__}",
                )
            model = None if str(key).lower() == "all" else str(key)
            for i, value in enumerate(values):
                if value is None:
                    continue
                qty, qtol = to_quantity(src, value, f"{where}[{i}]")
                out.records.append(
                    Rec(model, days[i] if daily else None, unit, qty, None, USAGE, "tts", qtol)
                )
    return out
