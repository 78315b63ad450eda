"""Per-call costs: which call (and which customer, plan, agent, day) cost what.

Shared by `voicegw calls`, the MCP server's `get_calls` and the future HTTP API; the SQL
is in `voicegw_cli.store.calls`. Costs are the calls' line items within the period (so the
calls of a period add up to `voicegw costs` for it); minutes are the call's own duration
from its call record (from its first to its last item when no record was written, e.g. a
process killed mid-call).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from voicegw_cli.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from voicegw_cli.periods import Period
    from voicegw_cli.store import Store

SORTS = ("cost", "duration", "cost_per_minute")
#: `--by` values besides attribute names.
BUILTIN_GROUPS = ("agent", "day", "project")
DEFAULT_TOP = 20


def resolve_by(store: Store, by: str | None) -> tuple[str | None, str | None]:
    """(`by` kind, attribute name): a built-in group, or an attribute some call has.

    An unknown name is a UsageError listing the groups and attributes there are."""
    if by is None:
        return None, None
    if by in BUILTIN_GROUPS:
        return by, None
    from voicegw_cli.store import calls as q

    if q.has_attribute(store.conn, by):
        return "attribute", by
    known = q.known_attributes(store.conn)
    attrs = ", ".join(known) if known else "none recorded yet"
    raise UsageError(
        f"--by {by!r}: not an attribute of any call; use {', '.join(BUILTIN_GROUPS)} "
        f"or an attribute (known: {attrs})"
    )


def call_report(
    store: Store,
    period: Period,
    *,
    project: str | None = None,
    by: str | None = None,
    sort: str = "cost",
    top: int | None = DEFAULT_TOP,
) -> dict[str, Any]:
    """The period's calls: the `top` by `sort`, or groups of them `by` an attribute
    (e.g. customer), agent, project or day; with totals over every call."""
    from voicegw_cli.store import calls as q

    if sort not in SORTS:
        raise UsageError(f"--sort must be one of {', '.join(SORTS)}, not {sort!r}")
    if top is not None and top < 1:
        raise UsageError(f"--top must be at least 1, not {top}")
    kind, attribute = resolve_by(store, by)
    start, end = period.start_utc, period.end_utc
    if kind is None:
        rows, total = q.top_calls(
            store.conn, start, end, project=project, sort=sort, limit=top or 10**9
        )
    else:
        rows = q.grouped_calls(
            store.conn,
            start,
            end,
            by=kind,
            attribute=attribute,
            project=project,
            tz=store.config.timezone,
            sort=sort,
            limit=top,
        )
        total = q.totals(store.conn, start, end, project=project)
    minutes = total["minutes"] or 0
    return {
        "period": period.as_dict(),
        "project": project,
        "by": by,
        "sort": sort,
        "top": top,
        "calls": total["calls"],
        "minutes": round(float(minutes), 3),
        "items": int(total["items"]),
        "total_cost_usd": total["cost_usd"],
        "cost_per_minute": (
            (total["cost_usd"] / Decimal(str(minutes))).quantize(Decimal("0.000001"))
            if minutes
            else None
        ),
        "rows": rows,
    }


def call_detail(store: Store, session_id: str) -> dict[str, Any]:
    """One call: its record, cost by modality, every line item, latency turn by turn and
    the errors LiveKit reported. NotFoundError when voicegw knows nothing of it."""
    from datetime import timedelta

    from voicegw_cli.store import calls as q
    from voicegw_cli.store import latency as lq

    call = q.call(store.conn, session_id)
    if call is None:
        raise NotFoundError(
            f"no call {session_id!r}: no call record, line items or latency with that "
            "session id (list calls with `voicegw calls`)"
        )
    lo, hi = call.get("started_at"), call.get("ended_at")
    for edge in (call.get("first_at"), call.get("last_at")):
        if edge is not None:
            lo = edge if lo is None else min(lo, edge)
            hi = edge if hi is None else max(hi, edge)
    if lo is not None and hi is not None:  # samples are stamped when queued: allow slack
        lo = lo.replace(tzinfo=None) - timedelta(minutes=1)  # the store's naive UTC
        hi = hi.replace(tzinfo=None) + timedelta(minutes=1)
    items = q.session_items(store.conn, session_id, lo, hi)
    samples = lq.turns(store.conn, session_id, lo, hi)
    errors = lq.session_errors(store.conn, session_id, lo, hi)
    call["line_items"] = items
    call["turns_detail"] = turn_table(samples)
    call["latency_samples"] = samples
    call["errors"] = errors
    return call


def turn_table(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Samples pivoted to one row per turn: each metric's milliseconds and its model."""
    from voicegw_cli.records import METRIC_NAMES

    turns: dict[int, dict[str, Any]] = {}
    for s in samples:
        row = turns.setdefault(int(s["turn"]), {"turn": int(s["turn"])})
        row[f"{s['metric']}_ms"] = round(float(s["seconds"]) * 1000.0, 1)
        stage = {"llm_ttft": "llm", "tts_ttfb": "tts", "transcription_delay": "stt"}.get(
            s["metric"]
        )
        if stage:
            row[f"{stage}_model"] = f"{s['provider']}/{s['model']}"
    ordered = []
    for n in sorted(turns):
        row = turns[n]
        out: dict[str, Any] = {"turn": n}
        for m in METRIC_NAMES:
            out[f"{m}_ms"] = row.get(f"{m}_ms")
        for stage in ("stt", "llm", "tts"):
            out[f"{stage}_model"] = row.get(f"{stage}_model")
        ordered.append(out)
    return ordered
