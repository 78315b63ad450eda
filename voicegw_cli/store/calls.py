"""Calls in the store: the per-call usage totals kept beside `line_items`, and the queries
behind `voicegw calls`.

Why a second table: ranking half a million calls by cost means grouping every line item
by session, which takes most of a second at ten million items. `call_usage` holds each
call's sums per quarter hour (and project and agent), so the same answer reads ~1 row per
call. It is a derived table, kept exact in two places only, both inside the transaction
that changes the items: `add_usage` (every fold and ingest, with exactly the rows that
were inserted) and `reprice_usage` (before a reprice rewrites costs). Quarter hours keep
period bounds exact in every time zone (a period starts on a local midnight, which is
always a quarter hour in UTC), as the cost reports' buckets do.

A call belongs to a period when it has usage in it, or its record overlaps it; its cost
is the usage inside the period, so the calls of a period add up to `costs` for it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

#: Sums kept per (session_id, bucket, project, agent); project and agent are '' when unset.
_SUMS = (
    ("items", "count(*)"),
    ("unpriced_items", "count(*) FILTER (WHERE pricing_source = 'unpriced')"),
    ("cost_usd", "COALESCE(SUM(cost_usd), 0)"),
    ("cost_stt", "COALESCE(SUM(cost_usd) FILTER (WHERE modality = 'stt'), 0)"),
    ("cost_llm", "COALESCE(SUM(cost_usd) FILTER (WHERE modality = 'llm'), 0)"),
    ("cost_tts", "COALESCE(SUM(cost_usd) FILTER (WHERE modality = 'tts'), 0)"),
    ("cost_realtime", "COALESCE(SUM(cost_usd) FILTER (WHERE modality = 'realtime'), 0)"),
    ("audio_seconds", "COALESCE(SUM(audio_seconds) FILTER (WHERE modality = 'stt'), 0)"),
    ("input_tokens", "SUM(input_tokens)"),
    ("cached_input_tokens", "SUM(cached_input_tokens)"),
    ("output_tokens", "SUM(output_tokens)"),
    ("characters", "SUM(characters)"),
)
_MONEY = ("cost_usd", "cost_stt", "cost_llm", "cost_tts", "cost_realtime")
MODALITY_COSTS = ("cost_stt", "cost_llm", "cost_tts", "cost_realtime")
_KEY = "u.session_id = n.session_id AND u.bucket = n.bucket AND u.project = n.project" + (
    " AND u.agent = n.agent"
)


def _partials_sql(src: str) -> str:
    sums = ", ".join(f"{expr} AS {name}" for name, expr in _SUMS)
    return f"""SELECT session_id, time_bucket(INTERVAL 15 MINUTE, timestamp) AS bucket,
            COALESCE(project, '') AS project, COALESCE(agent, '') AS agent, {sums},
            min(timestamp) AS first_at, max(timestamp) AS last_at
        FROM {src} WHERE session_id IS NOT NULL GROUP BY ALL"""


def _merge(conn: Any, partials: str) -> None:
    """Add the rows of table `partials` to `call_usage`: update keys it has, insert the
    rest. The caller owns the transaction."""
    lo, hi = conn.execute(f"SELECT min(bucket), max(bucket) FROM {partials}").fetchall()[0]
    if lo is None:
        return
    sets = ", ".join(f"{name} = u.{name} + n.{name}" for name, _ in _SUMS)
    conn.execute(
        f"""UPDATE call_usage u SET {sets},
                first_at = least(u.first_at, n.first_at), last_at = greatest(u.last_at, n.last_at)
            FROM {partials} n WHERE {_KEY} AND u.bucket BETWEEN ? AND ?""",
        [lo, hi],
    )
    names = ", ".join(["session_id", "bucket", "project", "agent", *(n for n, _ in _SUMS)])
    conn.execute(
        f"""INSERT INTO call_usage SELECT {names}, first_at, last_at FROM {partials} n
            WHERE NOT EXISTS (
                SELECT 1 FROM call_usage u WHERE u.bucket BETWEEN ? AND ? AND {_KEY})""",
        [lo, hi],
    )


def add_usage(conn: Any, src: str) -> None:
    """Add the line items of table/view `src` (just inserted) to the per-call totals."""
    conn.execute(f"CREATE OR REPLACE TEMP TABLE _usage_partials AS {_partials_sql(src)}")
    _merge(conn, "_usage_partials")
    conn.execute("DROP TABLE _usage_partials")


def reprice_usage(conn: Any, changes: str) -> None:
    """Before a reprice writes `changes` (id, cost_usd, pricing_source): move the per-call
    totals by the difference between the new and the stored costs."""
    deltas = ", ".join(
        [
            "0 AS items",
            "SUM((r.pricing_source = 'unpriced')::INT - (l.pricing_source = 'unpriced')::INT)"
            " AS unpriced_items",
            *(
                f"COALESCE(SUM(COALESCE(CAST(r.cost_usd AS DECIMAL(18,10)), 0)"
                f" - COALESCE(l.cost_usd, 0)){_only(name)}, 0) AS {name}"
                for name in _MONEY
            ),
            *(f"0 AS {name}" for name, _ in _SUMS[7:]),
        ]
    )
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE _usage_partials AS
        SELECT l.session_id, time_bucket(INTERVAL 15 MINUTE, l.timestamp) AS bucket,
            COALESCE(l.project, '') AS project, COALESCE(l.agent, '') AS agent, {deltas},
            min(l.timestamp) AS first_at, max(l.timestamp) AS last_at
        FROM {changes} r JOIN line_items l ON l.id = r.id
        WHERE l.session_id IS NOT NULL GROUP BY ALL"""
    )
    _merge(conn, "_usage_partials")
    conn.execute("DROP TABLE _usage_partials")


def _only(name: str) -> str:
    modality = name.removeprefix("cost_")
    return "" if name == "cost_usd" else f" FILTER (WHERE l.modality = '{modality}')"


def rebuild_usage(conn: Any) -> None:
    """Recompute `call_usage` from `line_items` (a repair; the migration fills it too)."""
    conn.execute("DELETE FROM call_usage")
    conn.execute(f"INSERT INTO call_usage {_partials_sql('line_items')} ORDER BY bucket")


# ------------------------------------------------------------------------------ queries

#: Per-call columns every call query returns, in order.
CALL_FIELDS = (
    "session_id",
    "started_at",
    "ended_at",
    "project",
    "agents",
    "minutes",
    "items",
    "cost_usd",
    *MODALITY_COSTS,
    "cost_per_minute",
    "unpriced_items",
    "end_reason",
    "room",
    "job_id",
    "participant_identity",
    "participant_kind",
    "caller_number",
    "turns",
    "attributes",
    "has_record",
)


def _calls_cte(project: str | None, need: frozenset[str] = frozenset()) -> str:
    """`j`: one narrow row per call active in [$start, $end) (usage in it, or a record
    overlapping it): session_id, cost_usd, items, unpriced_items, minutes, plus what `need`
    names: `modalities` (the four modality costs), `started`, `project`, `agent` (the
    first agent), `attributes`. Reports read wide fields only for the rows they show: the
    fewer columns, the faster half a million calls are ranked."""
    proj = " AND project = $project" if project else ""
    sums = ["items", "unpriced_items", "cost_usd"]
    if "modalities" in need:
        sums += list(MODALITY_COSTS)
    u_cols = [f"SUM({n}) AS {n}" for n in sums] + [
        "min(first_at) AS first_at",
        "max(last_at) AS last_at",
    ]
    c_cols = ["session_id", "duration_seconds"]
    j_cols = [
        "COALESCE(u.session_id, c.session_id) AS session_id",
        *(f"COALESCE(u.{n}, 0) AS {n}" for n in sums),
        "COALESCE(c.duration_seconds, epoch(u.last_at) - epoch(u.first_at)) / 60.0 AS minutes",
    ]
    if "started" in need:
        c_cols.append("started_at")
        j_cols.append("COALESCE(c.started_at, u.first_at) AS started_at")
    if "project" in need:
        u_cols.append("min(project) AS u_project")
        c_cols.append("project")
        j_cols.append("COALESCE(c.project, u.u_project) AS project")
    if "agent" in need:
        u_cols.append("min(agent) FILTER (WHERE agent <> '') AS u_agent")
        c_cols.append("agents")
        j_cols.append("COALESCE(json_extract_string(c.agents, '$[0]'), u.u_agent) AS agent")
    if "attributes" in need:
        c_cols.append("attributes")
        j_cols.append("c.attributes")
    return f"""
    u AS (SELECT session_id, {", ".join(u_cols)}
          FROM call_usage WHERE bucket >= $start AND bucket < $end{proj}
          GROUP BY session_id),
    c AS (SELECT {", ".join(c_cols)}
          FROM calls WHERE started_at < $end AND ended_at >= $start{proj}),
    j AS (SELECT {", ".join(j_cols)}
          FROM u FULL OUTER JOIN c ON u.session_id = c.session_id)"""  # fmt: skip


def _in_list(ids: list[str]) -> str:
    """A SQL IN-list of string literals (DuckDB prunes with it; a LIST parameter it scans)."""
    return "(" + ", ".join("'" + i.replace("'", "''") + "'" for i in ids) + ")"


def _params(start: datetime, end: datetime, project: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"start": start, "end": end}
    if project:
        params["project"] = project
    return params


SORTS = {
    "cost": "cost_usd",
    "duration": "minutes",
    "cost_per_minute": "cost_per_minute",
}


def aware(row: dict[str, Any]) -> dict[str, Any]:
    """Store times (naive UTC) as aware UTC datetimes, so every output names its zone."""
    for k, v in row.items():
        if isinstance(v, datetime) and v.tzinfo is None:
            row[k] = v.replace(tzinfo=UTC)
    return row


def _row(names: list[str], values: tuple[Any, ...]) -> dict[str, Any]:
    row = aware(dict(zip(names, values, strict=True)))
    for name in _MONEY:
        if name in row and row[name] is not None:
            row[name] = Decimal(row[name]) if row[name] else Decimal(0)
    if row.get("cost_per_minute") is not None:
        row["cost_per_minute"] = Decimal(row["cost_per_minute"]).quantize(Decimal("0.000001"))
    if row.get("minutes") is not None:
        row["minutes"] = round(float(row["minutes"]), 3)
    if isinstance(row.get("attributes"), str):
        row["attributes"] = json.loads(row["attributes"])
    elif "attributes" in row and row["attributes"] is None:
        row["attributes"] = {}
    return row


_CPM = "CASE WHEN minutes > 0 THEN CAST(cost_usd AS DOUBLE) / minutes END"
#: Fields of the call record fetched for the calls a report shows.
_RECORD_FIELDS = (
    "agents",
    "end_reason",
    "room",
    "job_id",
    "participant_identity",
    "participant_kind",
    "caller_number",
    "turns",
    "attributes",
)


def _details(
    conn: Any, ids: list[str], start: datetime, end: datetime, project: str | None
) -> dict[str, dict[str, Any]]:
    """Everything `CALL_FIELDS` names for these calls: the record's fields, and the period's
    usage (costs by modality, first and last item, project, agents) from `call_usage`."""
    if not ids:
        return {}
    out: dict[str, dict[str, Any]] = {i: {"session_id": i} for i in ids}
    proj = " AND project = $project" if project else ""
    sums = ", ".join(f"SUM({n}) AS {n}" for n in ("items", "unpriced_items", "cost_usd",
                                                   *MODALITY_COSTS))  # fmt: skip
    cur = conn.execute(
        f"""SELECT session_id, {sums}, min(first_at) AS first_at, max(last_at) AS last_at,
                   min(project) AS project,
                   list(DISTINCT agent ORDER BY agent) FILTER (WHERE agent <> '') AS agents
            FROM call_usage WHERE session_id IN {_in_list(ids)}
              AND bucket >= $start AND bucket < $end{proj}
            GROUP BY session_id""",
        _params(start, end, project),
    )
    names = [d[0] for d in cur.description]
    for r in cur.fetchall():
        out[r[0]].update(_row(names, r))
    record = ("started_at", "ended_at", "duration_seconds", "project", *_RECORD_FIELDS)
    cur = conn.execute(
        f"SELECT session_id, {', '.join(record)} FROM calls WHERE session_id IN {_in_list(ids)}"
    )
    for sid, *values in cur.fetchall():
        d = aware(dict(zip(record, values, strict=True)))
        d["agents"] = json.loads(d["agents"]) if d["agents"] else []
        d["attributes"] = json.loads(d["attributes"]) if d["attributes"] else {}
        d["has_record"] = True
        out[sid].update({k: v for k, v in d.items() if v is not None or k not in out[sid]})
    for d in out.values():
        d.setdefault("has_record", False)
        d.setdefault("attributes", {})
        d.setdefault("agents", [])
        d.setdefault("started_at", d.get("first_at"))
        d.setdefault("ended_at", d.get("last_at"))
        for n in ("items", "unpriced_items"):
            d.setdefault(n, 0)
        for n in ("cost_usd", *MODALITY_COSTS):
            d.setdefault(n, Decimal(0))
    return out


def top_calls(
    conn: Any,
    start: datetime,
    end: datetime,
    *,
    project: str | None = None,
    sort: str = "cost",
    limit: int = 20,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The `limit` calls of the period with the highest `sort` (cost, duration,
    cost_per_minute), one row each with the fields of `CALL_FIELDS`; and the totals
    (calls, minutes, items, cost_usd) over every call of the period."""
    order = SORTS[sort]
    sql = f"""WITH {_calls_cte(project)},
        ranked AS (SELECT session_id, minutes, {_CPM} AS cost_per_minute, cost_usd FROM j
                   ORDER BY {order} DESC NULLS LAST, session_id LIMIT {int(limit)}),
        total AS (SELECT count(*) AS t_calls, COALESCE(SUM(minutes), 0) AS t_minutes,
                         COALESCE(SUM(items), 0) AS t_items,
                         COALESCE(SUM(cost_usd), 0) AS t_cost FROM j)
        SELECT t_calls, t_minutes, t_items, t_cost, session_id, minutes, cost_per_minute
        FROM total LEFT JOIN ranked ON true
        ORDER BY {order} DESC NULLS LAST, session_id"""
    rows = conn.execute(sql, _params(start, end, project)).fetchall()
    t_calls, t_minutes, t_items, t_cost = rows[0][:4] if rows else (0, 0, 0, 0)
    totals = {
        "calls": t_calls,
        "minutes": float(t_minutes or 0),
        "items": int(t_items or 0),
        "cost_usd": Decimal(t_cost or 0),
    }
    ranked = [r[4:] for r in rows if r[4] is not None]
    details = _details(conn, [r[0] for r in ranked], start, end, project)
    out = []
    for sid, minutes, cpm in ranked:
        d = details[sid]
        d["minutes"] = round(float(minutes), 3) if minutes is not None else None
        d["cost_per_minute"] = None if cpm is None else Decimal(cpm).quantize(Decimal("0.000001"))
        out.append({name: d.get(name) for name in CALL_FIELDS})
    return out, totals


def totals(
    conn: Any, start: datetime, end: datetime, *, project: str | None = None
) -> dict[str, Any]:
    """Calls, minutes, items and cost of every call active in the period."""
    return top_calls(conn, start, end, project=project, limit=1)[1]


GROUP_FIELDS = (
    "calls",
    "minutes",
    "items",
    "cost_usd",
    *MODALITY_COSTS,
    "cost_per_minute",
    "cost_per_call",
    "unpriced_items",
)


def grouped_calls(
    conn: Any,
    start: datetime,
    end: datetime,
    *,
    by: str,
    attribute: str | None = None,
    project: str | None = None,
    tz: str = "UTC",
    sort: str = "cost",
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Calls of the period aggregated by `by`: attribute (`attribute` names it), agent (the
    call's first agent), project or day (local day of the call's start)."""
    params = _params(start, end, project)
    if by == "attribute":
        params["path"] = "$." + json.dumps(attribute)
        grp = "json_extract_string(attributes, $path)"
    elif by == "agent":
        grp = "agent"
    elif by == "project":
        grp = "project"
    elif by == "day":
        params["tz"] = tz
        grp = "CAST(timezone($tz, started_at AT TIME ZONE 'UTC') AS DATE)"
    else:
        raise ValueError(by)
    order = SORTS[sort]
    order_sql = "grp" if by == "day" else f"{order} DESC NULLS LAST, grp NULLS LAST"
    need = {"attribute": "attributes", "agent": "agent", "project": "project", "day": "started"}
    sql = f"""WITH {_calls_cte(project, frozenset({"modalities", need[by]}))}
        SELECT {grp} AS grp, count(*) AS calls, SUM(minutes) AS minutes, SUM(items) AS items,
               SUM(cost_usd) AS cost_usd,
               {", ".join(f"SUM({c}) AS {c}" for c in MODALITY_COSTS)},
               CASE WHEN SUM(minutes) > 0
                    THEN CAST(SUM(cost_usd) AS DOUBLE) / SUM(minutes) END AS cost_per_minute,
               CAST(SUM(cost_usd) AS DOUBLE) / count(*) AS cost_per_call,
               SUM(unpriced_items) AS unpriced_items
        FROM j GROUP BY grp ORDER BY {order_sql}
        {f"LIMIT {int(limit)}" if limit else ""}"""
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    out = []
    for r in cur.fetchall():
        row = _row(names, r)
        g = row.pop("grp")
        row = {"group": g.isoformat() if hasattr(g, "isoformat") else g, **row}
        if row.get("cost_per_call") is not None:
            row["cost_per_call"] = Decimal(row["cost_per_call"]).quantize(Decimal("0.000001"))
        out.append(row)
    return out


def has_attribute(conn: Any, name: str) -> bool:
    path = "$." + json.dumps(name)
    rows = conn.execute(
        "SELECT 1 FROM calls WHERE json_exists(attributes, ?) LIMIT 1", [path]
    ).fetchall()
    return bool(rows)


def known_attributes(conn: Any) -> list[str]:
    """Every attribute name any call record has."""
    rows = conn.execute(
        "SELECT DISTINCT unnest(json_keys(attributes)) AS k FROM calls"
        " WHERE attributes IS NOT NULL AND attributes <> '{}' ORDER BY k"
    ).fetchall()
    return [r[0] for r in rows]


def call(conn: Any, session_id: str) -> dict[str, Any] | None:
    """One call, all time: its record (if written) and its usage totals."""
    sums = ", ".join(f"SUM({name}) AS {name}" for name, _ in _SUMS)
    cur = conn.execute(
        f"""WITH u AS (SELECT session_id, arg_max(project, items) AS u_project,
                    list(DISTINCT agent ORDER BY agent) FILTER (WHERE agent <> '') AS u_agents,
                    {sums}, min(first_at) AS first_at, max(last_at) AS last_at
                FROM call_usage WHERE session_id = $sid GROUP BY session_id),
            c AS (SELECT * FROM calls WHERE session_id = $sid LIMIT 1)
        SELECT COALESCE(u.session_id, c.session_id) AS session_id,
               COALESCE(c.started_at, u.first_at) AS started_at,
               COALESCE(c.ended_at, u.last_at) AS ended_at,
               COALESCE(c.project, u.u_project) AS project,
               COALESCE(from_json(c.agents, '["VARCHAR"]'), u.u_agents, []) AS agents,
               COALESCE(c.duration_seconds, epoch(u.last_at) - epoch(u.first_at)) / 60.0
                   AS minutes,
               {", ".join(f"COALESCE(u.{n}, 0) AS {n}" for n, _ in _SUMS)},
               c.end_reason, c.error, c.room, c.job_id, c.participant_identity,
               c.participant_kind, c.caller_number, c.turns, c.attributes, c.lk_usage,
               c.session_id IS NOT NULL AS has_record, u.first_at, u.last_at
        FROM u FULL OUTER JOIN c ON u.session_id = c.session_id""",
        {"sid": session_id},
    )
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    if not rows:
        return None
    row = _row(names, rows[0])
    row["lk_usage"] = json.loads(row["lk_usage"]) if row.get("lk_usage") else []
    minutes = row.get("minutes") or 0
    row["cost_per_minute"] = (
        (row["cost_usd"] / Decimal(str(minutes))).quantize(Decimal("0.000001")) if minutes else None
    )
    return row


def session_items(
    conn: Any, session_id: str, first: datetime | None, last: datetime | None
) -> list[dict[str, Any]]:
    """A call's line items in time order (the time range lets DuckDB skip row groups)."""
    clause, params = "session_id = $sid", {"sid": session_id}
    if first is not None and last is not None:
        clause += " AND timestamp BETWEEN $first AND $last"
        params.update(first=first, last=last)
    cur = conn.execute(f"SELECT * FROM line_items WHERE {clause} ORDER BY timestamp, id", params)
    names = [d[0] for d in cur.description]
    return [aware(dict(zip(names, r, strict=True))) for r in cur.fetchall()]


def attribute_columns(conn: Any, start: datetime, end: datetime, project: str | None) -> list[str]:
    """Attribute names of the calls whose items fall in [start, end) (export-costs)."""
    proj = " AND project = $project" if project else ""
    rows = conn.execute(
        f"""SELECT DISTINCT unnest(json_keys(c.attributes)) AS k
            FROM calls c SEMI JOIN (SELECT DISTINCT session_id FROM call_usage
                                    WHERE bucket >= $start AND bucket < $end{proj}) u
                 ON c.session_id = u.session_id
            WHERE c.attributes IS NOT NULL AND c.attributes <> '{{}}' ORDER BY k""",
        _params(start, end, project),
    ).fetchall()
    return [r[0] for r in rows]
