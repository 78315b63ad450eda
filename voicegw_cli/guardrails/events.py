"""Guardrail events: every non-`off` finding at runtime, and every bypass switch.

An event names when, which project and session, the category, the action taken, the side,
the detector, and a masked excerpt (`••••••••••••••42`, `j•••@g•••.com`), never the raw
text. The agent appends events to its own file in the spool's `guardrails/` directory
(the same writer and the same exactly-once fold as line items, see `store/fold.py`); the
store keeps them in `guardrail_events`, read here.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voicegw_cli.guardrails.policy import Hit

#: (column, DuckDB type): the spool record and the `guardrail_events` table.
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "VARCHAR"),
    ("ts", "TIMESTAMP"),  # naive UTC inside the store
    ("project", "VARCHAR"),
    ("session_id", "VARCHAR"),
    ("agent", "VARCHAR"),
    ("kind", "VARCHAR"),  # hit | bypass
    ("side", "VARCHAR"),  # input | output (hits)
    ("category", "VARCHAR"),
    ("action", "VARCHAR"),  # alert | redact | block (hits); on | off (bypass)
    ("detector", "VARCHAR"),
    ("excerpt", "VARCHAR"),  # masked; never the raw text
    ("metadata", "VARCHAR"),  # JSON text
)
EVENT_COLUMN_NAMES = tuple(c for c, _ in EVENT_COLUMNS)
#: The fields `voicegw guardrails events` shows, in order.
LIST_FIELDS = (
    "ts",
    "project",
    "session_id",
    "kind",
    "side",
    "category",
    "action",
    "detector",
    "excerpt",
    "agent",
)


@dataclass(slots=True)
class GuardrailEvent:
    ts: datetime
    project: str
    kind: str
    session_id: str | None = None
    agent: str | None = None
    side: str | None = None
    category: str | None = None
    action: str | None = None
    detector: str | None = None
    excerpt: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_record(self) -> dict[str, Any]:
        rec = {name: getattr(self, name) for name in EVENT_COLUMN_NAMES}
        rec["ts"] = self.ts.astimezone(UTC).isoformat()
        rec["metadata"] = (
            json.dumps(self.metadata, separators=(",", ":")) if self.metadata else None
        )
        return rec


def hit_event(
    hit: Hit,
    *,
    ts: datetime,
    project: str,
    side: str,
    session_id: str | None = None,
    agent: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> GuardrailEvent:
    return GuardrailEvent(
        ts=ts,
        project=project,
        kind="hit",
        session_id=session_id,
        agent=agent,
        side=side,
        category=hit.category,
        action=hit.action,
        detector=hit.detector,
        excerpt=hit.excerpt,
        metadata=dict(metadata or {}),
    )


def bypass_event(
    on: bool,
    *,
    ts: datetime,
    project: str,
    reason: str | None = None,
    session_id: str | None = None,
    agent: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> GuardrailEvent:
    """The switch itself: who turned guardrails off for a session, and why."""
    return GuardrailEvent(
        ts=ts,
        project=project,
        kind="bypass",
        session_id=session_id,
        agent=agent,
        action="on" if on else "off",
        detector="session",
        excerpt=(reason or "")[:120] or None,
        metadata=dict(metadata or {}),
    )


# ------------------------------------------------------------------ reading the store


def list_events(
    conn: Any,
    *,
    project: str | None = None,
    since: datetime | None = None,
    kind: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The newest events first; `since` is naive UTC."""
    where = ["TRUE"]
    params: list[Any] = []
    if project:
        where.append("project = ?")
        params.append(project)
    if since is not None:
        where.append("ts >= ?")
        params.append(since)
    if kind:
        where.append("kind = ?")
        params.append(kind)
    cols = ", ".join(LIST_FIELDS)
    cur = conn.execute(
        f"SELECT {cols} FROM guardrail_events WHERE {' AND '.join(where)}"
        f" ORDER BY ts DESC, id LIMIT {int(limit)}",
        params,
    )
    return [dict(zip(LIST_FIELDS, row, strict=True)) for row in cur.fetchall()]


def event_counts(
    conn: Any, project: str, start: datetime | None = None, end: datetime | None = None
) -> list[dict[str, Any]]:
    """Events per (kind, category, action) for one project in [start, end)."""
    where = ["project = ?"]
    params: list[Any] = [project]
    if start is not None:
        where.append("ts >= ?")
        params.append(start)
    if end is not None:
        where.append("ts < ?")
        params.append(end)
    rows = conn.execute(
        "SELECT kind, category, action, count(*) FROM guardrail_events"
        f" WHERE {' AND '.join(where)} GROUP BY ALL ORDER BY 4 DESC, 1, 2, 3",
        params,
    ).fetchall()
    return [{"kind": k, "category": c, "action": a, "events": int(n)} for k, c, a, n in rows]
