"""The line item: one priced unit of usage, and the column contract every room shares.

The spool, the store, `ingest` and `export-costs` all speak these column names, so an
export can be ingested again unchanged. Units are the truth; `cost_usd` is derived from
them and names what priced it in `pricing_source`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

MODALITIES = ("stt", "llm", "tts", "realtime")

#: pricing_source value for items no price list knows. Never a silent $0.
UNPRICED = "unpriced"
#: pricing_source value for negotiated rates from `pricing.overrides`.
OVERRIDE = "override"

#: (column, DuckDB type) in export order. Integer units are BIGINT, seconds DOUBLE (audio
#: durations are fractional by nature), money DECIMAL.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "VARCHAR"),
    ("timestamp", "TIMESTAMP"),  # naive UTC inside the store
    ("project", "VARCHAR"),
    ("session_id", "VARCHAR"),
    ("agent", "VARCHAR"),
    ("modality", "VARCHAR"),
    ("provider", "VARCHAR"),
    ("model", "VARCHAR"),
    ("request_id", "VARCHAR"),
    ("input_tokens", "BIGINT"),  # includes cached input tokens
    ("cached_input_tokens", "BIGINT"),
    ("cache_write_tokens", "BIGINT"),
    ("output_tokens", "BIGINT"),
    ("reasoning_tokens", "BIGINT"),  # part of output_tokens, shown for visibility
    ("audio_input_tokens", "BIGINT"),
    ("audio_output_tokens", "BIGINT"),
    ("audio_seconds", "DOUBLE"),
    ("characters", "BIGINT"),
    ("cost_usd", "DECIMAL(18,10)"),
    ("pricing_source", "VARCHAR"),
    ("metadata", "VARCHAR"),  # JSON text
)
COLUMN_NAMES: tuple[str, ...] = tuple(c for c, _ in COLUMNS)
UNIT_COLUMNS: tuple[str, ...] = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "audio_input_tokens",
    "audio_output_tokens",
    "audio_seconds",
    "characters",
)
#: Money is stored with this many decimal places.
COST_SCALE = 10
_QUANT = Decimal(1).scaleb(-COST_SCALE)


def quantize_cost(value: Decimal) -> Decimal:
    return value.quantize(_QUANT)


def new_id() -> str:
    return uuid.uuid4().hex


def content_id(fields: dict[str, Any]) -> str:
    """A deterministic id for rows that arrive without one, so re-ingesting adds nothing."""
    raw = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return "c" + hashlib.sha256(raw.encode()).hexdigest()[:31]


@dataclass(slots=True)
class LineItem:
    timestamp: datetime
    project: str
    modality: str
    provider: str
    model: str
    id: str = field(default_factory=new_id)
    session_id: str | None = None
    agent: str | None = None
    request_id: str | None = None
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    audio_input_tokens: int = 0
    audio_output_tokens: int = 0
    audio_seconds: float = 0.0
    characters: int = 0
    cost_usd: Decimal | None = None
    pricing_source: str = UNPRICED
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {', '.join(MODALITIES)}: {self.modality!r}")
        if self.timestamp.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware (UTC inside)")

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready form written to the spool and to JSON exports.

        Built field by field rather than with `dataclasses.asdict` (whose deep copies cost
        5x more): the runtime hook calls this for every usage event."""
        rec = {name: getattr(self, name) for name in COLUMN_NAMES}
        rec["timestamp"] = self.timestamp.astimezone(UTC).isoformat()
        cost = self.cost_usd
        rec["cost_usd"] = None if cost is None else str(quantize_cost(cost))
        meta = self.metadata
        rec["metadata"] = json.dumps(meta, separators=(",", ":")) if meta else None
        return rec
