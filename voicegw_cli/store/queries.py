"""Read-side queries over the store. Money comes back as Decimal, units as ints.

Bounds are naive-UTC datetimes (see `voicegw_cli.periods`); local days are computed by
DuckDB with the configured zone so a day boundary follows `timezone:`. Sums over periods
read the 15-minute rollup (`store/rollup.py`) whenever the bounds fall on quarter hours,
which every calendar period in every zone does; anything else reads the items.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

GROUPS = ("provider", "model", "modality", "project", "day")

#: Every zone offset is a whole number of quarter hours, so summing quarter-hour UTC buckets
#: first and converting only the buckets to local days gives exact local days while the
#: per-row work stays a cheap truncation (about 4x faster than converting every row).
BUCKET = "time_bucket(INTERVAL 15 MINUTE, timestamp)"


def local_day(column: str, tz_param: str = "$tz") -> str:
    return f"CAST(timezone({tz_param}, {column} AT TIME ZONE 'UTC') AS DATE)"


def _source(start: datetime, end: datetime) -> tuple[str, str]:
    """(table, time column) to sum from: the rollup when the bounds allow it."""
    from voicegw_cli.store.rollup import aligned

    if aligned(start) and aligned(end):
        return "rollup_15m", "bucket"
    return "line_items", "timestamp"


#: (name, aggregate over rows, how bucket aggregates combine)
_AGGREGATES = (
    ("items", "count(*)", "SUM(items)"),
    ("cost_usd", "SUM(cost_usd)", "SUM(cost_usd)"),
    ("input_tokens", "SUM(input_tokens)", "SUM(input_tokens)"),
    ("cached_input_tokens", "SUM(cached_input_tokens)", "SUM(cached_input_tokens)"),
    ("cache_write_tokens", "SUM(cache_write_tokens)", "SUM(cache_write_tokens)"),
    ("output_tokens", "SUM(output_tokens)", "SUM(output_tokens)"),
    ("audio_seconds", "SUM(audio_seconds)", "SUM(audio_seconds)"),
    ("characters", "SUM(characters)", "SUM(characters)"),
    (
        "unpriced_items",
        "count(*) FILTER (WHERE pricing_source = 'unpriced')",
        "SUM(unpriced_items)",
    ),
)


def _group_expr(by: str) -> str:
    return {
        "provider": "provider",
        "model": "provider || '/' || model",
        "modality": "modality",
        "project": "project",
    }[by]


def _where(project: str | None, extra: str = "") -> str:
    clause = "timestamp >= $start AND timestamp < $end"
    if project:
        clause += " AND project = $project"
    return clause + extra


def costs(
    conn: Any,
    start: datetime,
    end: datetime,
    *,
    by: str = "model",
    project: str | None = None,
    tz: str = "UTC",
) -> list[dict[str, Any]]:
    """Cost and native units per group: tokens, audio minutes, characters."""
    params: dict[str, Any] = {"start": start, "end": end}
    if project:
        params["project"] = project
    if by == "day":
        params["tz"] = tz
    table, ts = _source(start, end)
    where = f"{ts} >= $start AND {ts} < $end" + (" AND project = $project" if project else "")
    if table == "rollup_15m":
        sums = ", ".join(f"SUM({name}) AS {name}" for name, _, _ in _AGGREGATES)
        grp = local_day("bucket") if by == "day" else _group_expr(by)
        order = "grp" if by == "day" else "cost_usd DESC NULLS LAST, grp"
        sql = f"""SELECT {grp} AS grp, {sums} FROM rollup_15m WHERE {where}
            GROUP BY grp ORDER BY {order}"""
    elif by == "day":
        inner = ", ".join(f"{agg} AS {name}" for name, agg, _ in _AGGREGATES)
        outer = ", ".join(f"{combine} AS {name}" for name, _, combine in _AGGREGATES)
        sql = f"""SELECT {local_day("b")} AS grp, {outer}
            FROM (SELECT {BUCKET} AS b, {inner} FROM line_items WHERE {where} GROUP BY b)
            GROUP BY grp ORDER BY grp"""
    else:
        inner = ", ".join(f"{agg} AS {name}" for name, agg, _ in _AGGREGATES)
        sql = f"""SELECT {_group_expr(by)} AS grp, {inner}
            FROM line_items WHERE {where}
            GROUP BY grp ORDER BY cost_usd DESC NULLS LAST, grp"""
    rows = conn.execute(sql, params).fetchall()
    return [
        {
            by: (r[0].isoformat() if hasattr(r[0], "isoformat") else r[0]),
            "items": int(r[1]),
            # None when nothing in the group is priced: unpriced is never shown as $0
            "cost_usd": None if r[9] == r[1] else Decimal(r[2] or 0),
            "input_tokens": int(r[3] or 0),
            "cached_input_tokens": int(r[4] or 0),
            "cache_write_tokens": int(r[5] or 0),
            "output_tokens": int(r[6] or 0),
            "audio_seconds": float(r[7] or 0),
            "audio_minutes": round(float(r[7] or 0) / 60, 3),
            "characters": int(r[8] or 0),
            "unpriced_items": int(r[9]),
        }
        for r in rows
    ]


def unpriced(
    conn: Any, start: datetime, end: datetime, project: str | None = None
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"start": start, "end": end}
    if project:
        params["project"] = project
    rows = conn.execute(
        f"""SELECT provider, model, count(*) FROM line_items
            WHERE {_where(project, " AND pricing_source = 'unpriced'")}
            GROUP BY ALL ORDER BY 3 DESC""",
        params,
    ).fetchall()
    return [{"provider": p, "model": m, "items": n} for p, m, n in rows]


def spend_per_project(
    conn: Any, start: datetime, end: datetime
) -> dict[str, tuple[Decimal, int, int]]:
    """project -> (priced spend, items, unpriced items)."""
    table, ts = _source(start, end)
    if table == "rollup_15m":
        sql = """SELECT project, COALESCE(SUM(cost_usd), 0), SUM(items), SUM(unpriced_items)
            FROM rollup_15m WHERE bucket >= $start AND bucket < $end GROUP BY project"""
    else:
        sql = f"""SELECT project, COALESCE(SUM(cost_usd), 0), count(*),
                   count(*) FILTER (WHERE pricing_source = 'unpriced')
            FROM line_items WHERE {_where(None)} GROUP BY project"""
    rows = conn.execute(sql, {"start": start, "end": end}).fetchall()
    return {p: (Decimal(s), int(n), int(u)) for p, s, n, u in rows}


def project_stats(
    conn: Any, project: str, start: datetime | None = None, end: datetime | None = None
) -> dict[str, Any]:
    """Spend, line items and unpriced items of one project in a period; all time without
    bounds, when `last_activity` (the newest item's time) is filled in too."""
    params: dict[str, Any] = {"project": project}
    if start is not None and end is not None and _source(start, end)[0] == "rollup_15m":
        params.update(start=start, end=end)
        spend, n, unpriced_n = conn.execute(
            "SELECT COALESCE(SUM(cost_usd), 0), COALESCE(SUM(items), 0),"
            " COALESCE(SUM(unpriced_items), 0) FROM rollup_15m"
            " WHERE project = $project AND bucket >= $start AND bucket < $end",
            params,
        ).fetchall()[0]
        last = None
    else:
        clause = "project = $project"
        if start is not None and end is not None:
            clause += " AND timestamp >= $start AND timestamp < $end"
            params.update(start=start, end=end)
        spend, n, last, unpriced_n = conn.execute(
            "SELECT COALESCE(SUM(cost_usd), 0), count(*), max(timestamp),"
            " count(*) FILTER (WHERE pricing_source = 'unpriced') FROM line_items"
            f" WHERE {clause}",
            params,
        ).fetchall()[0]
    return {
        "spend": Decimal(spend),
        "items": int(n),
        "last_activity": last,
        "unpriced_items": int(unpriced_n),
    }


def daily_spend(
    conn: Any, start: datetime, end: datetime, *, tz: str, project: str | None = None
) -> dict[str, Decimal]:
    params: dict[str, Any] = {"start": start, "end": end, "tz": tz}
    if project:
        params["project"] = project
    table, ts = _source(start, end)
    where = f"{ts} >= $start AND {ts} < $end" + (" AND project = $project" if project else "")
    if table == "rollup_15m":
        sql = f"""SELECT {local_day("bucket")} AS d, COALESCE(SUM(cost_usd), 0)
            FROM rollup_15m WHERE {where} GROUP BY d ORDER BY d"""
    else:
        sql = f"""SELECT {local_day("b")} AS d, COALESCE(SUM(cost), 0)
            FROM (SELECT {BUCKET} AS b, SUM(cost_usd) AS cost FROM line_items
                  WHERE {where} GROUP BY b)
            GROUP BY d ORDER BY d"""
    rows = conn.execute(sql, params).fetchall()
    return {d.isoformat(): Decimal(s) for d, s in rows}


LOG_FILTERS = ("project", "modality", "provider", "model", "session_id")


#: How far back `recent_items` looks first, then wider: the newest items of a large store
#: sit in its last row groups, which DuckDB's zone maps find without scanning the rest.
_WINDOWS = (timedelta(days=1), timedelta(days=7), timedelta(days=40), timedelta(days=400))


def recent_items(
    conn: Any,
    *,
    limit: int = 20,
    since: datetime | None = None,
    until: datetime | None = None,
    after: tuple[datetime, str] | None = None,
    **filters: str | None,
) -> list[dict[str, Any]]:
    """Newest line items first (`until` exclusive); `after` = (timestamp, id) of the last
    item of the previous page: the items that come after it in this order.

    Looks in the last day before the newest item first, then wider windows, so `logs -n
    20` reads a few row groups instead of sorting every item; a window that already holds
    `limit` items holds the newest `limit`."""
    clauses, params = [], {}
    for key in LOG_FILTERS:
        value = filters.get(key)
        if value:
            clauses.append(f"{key} = ${key}")
            params[key] = value
    if until is not None:
        clauses.append("timestamp < $until")
        params["until"] = until
    if after is not None:
        clauses.append("(timestamp < $after_ts OR (timestamp = $after_ts AND id > $after_id))")
        params["after_ts"], params["after_id"] = after
    bounds = (["timestamp < $until"] if until is not None else []) + (
        ["timestamp <= $after_ts"] if after is not None else []
    )
    newest = conn.execute(
        "SELECT max(timestamp) FROM line_items"
        + (f" WHERE {' AND '.join(bounds)}" if bounds else ""),
        {k: v for k, v in params.items() if k in ("until", "after_ts")},
    ).fetchall()[0][0]
    if newest is None:
        return []
    floors: list[datetime | None] = [newest - w for w in _WINDOWS] + [None]
    for lower in floors:
        bound = max(lower, since) if lower is not None and since is not None else lower or since
        where = [*clauses, "timestamp >= $since"] if bound is not None else clauses
        sql = "SELECT * FROM line_items" + (f" WHERE {' AND '.join(where)}" if where else "")
        cur = conn.execute(
            f"{sql} ORDER BY timestamp DESC, id LIMIT {int(limit)}",
            {**params, **({"since": bound} if bound is not None else {})},
        )
        rows = cur.fetchall()
        if len(rows) >= limit or bound is None or bound == since:
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in rows]
    return []  # pragma: no cover - the last window has no lower bound


def encode_cursor(row: dict[str, Any]) -> str:
    """The opaque cursor after `row` in newest-first order: its time and id."""
    import base64

    text = f"{row['timestamp'].isoformat()}|{row['id']}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    import base64
    import binascii

    from voicegw_cli.errors import UsageError

    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, _, item_id = text.partition("|")
        when = datetime.fromisoformat(ts)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise UsageError(f"cursor {cursor[:40]!r} is not one this server gave out") from None
    if not item_id or when.tzinfo is not None:
        raise UsageError(f"cursor {cursor[:40]!r} is not one this server gave out")
    return when, item_id


def recent_items_page(
    conn: Any, *, limit: int = 20, cursor: str | None = None, **filters: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `recent_items` (newest first; ties on time ordered by id) after
    `cursor`, and the cursor of the next page (None on the last): `recent_items`' own
    keyset (`after`), so items sharing the cursor's instant are neither lost nor repeated."""
    after = decode_cursor(cursor) if cursor else None
    rows = recent_items(conn, limit=limit + 1, after=after, **filters)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1]) if more and rows else None


def store_stats(conn: Any) -> dict[str, Any]:
    n, newest, oldest = conn.execute(
        "SELECT count(*), max(timestamp), min(timestamp) FROM line_items"
    ).fetchall()[0]
    unpriced = conn.execute(
        """SELECT provider || '/' || model, SUM(unpriced_items) FROM rollup_15m
           WHERE unpriced_items > 0 GROUP BY 1 ORDER BY 2 DESC, 1"""
    ).fetchall()
    return {
        "items": n,
        "newest": newest,
        "oldest": oldest,
        "unpriced_items": sum(int(k) for _, k in unpriced),
        "unpriced_models": {m: int(k) for m, k in unpriced},
    }
