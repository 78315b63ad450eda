"""A 15-minute rollup of the line items, kept current by every write.

Reports over a month or a year (`costs`, `projects`, `budget check`, the spend snapshot)
read this table instead of scanning millions of items: a year of 10M items is a few
hundred thousand rollup rows. Quarter hours, because every time-zone offset in use is a
whole number of quarter hours: a local day (any zone) is an exact run of buckets, so a
report in the configured zone stays exact.

Every write to `line_items` refreshes the buckets it touched (`refresh`), inside the
writer's transaction, so the rollup can never disagree with the items it sums.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

BUCKET = timedelta(minutes=15)
BUCKET_SQL = "time_bucket(INTERVAL 15 MINUTE, timestamp)"
KEY = ("bucket", "project", "provider", "model", "modality")
#: (rollup column, aggregate over line items, DuckDB type)
MEASURES: tuple[tuple[str, str, str], ...] = (
    ("items", "count(*)", "BIGINT"),
    ("cost_usd", "SUM(cost_usd)", "DECIMAL(38,10)"),
    ("input_tokens", "SUM(input_tokens)", "HUGEINT"),
    ("cached_input_tokens", "SUM(cached_input_tokens)", "HUGEINT"),
    ("cache_write_tokens", "SUM(cache_write_tokens)", "HUGEINT"),
    ("output_tokens", "SUM(output_tokens)", "HUGEINT"),
    ("audio_seconds", "SUM(audio_seconds)", "DOUBLE"),
    ("characters", "SUM(characters)", "HUGEINT"),
    ("unpriced_items", "count(*) FILTER (WHERE pricing_source = 'unpriced')", "BIGINT"),
)


def create(conn: Any) -> None:
    cols = ", ".join(
        [
            "bucket TIMESTAMP NOT NULL",
            "project VARCHAR",
            "provider VARCHAR",
            "model VARCHAR",
            "modality VARCHAR",
            *(f"{name} {typ}" for name, _, typ in MEASURES),
        ]
    )
    conn.execute(f"CREATE TABLE rollup_15m ({cols})")


def _aggregate_sql(where: str) -> str:
    measures = ", ".join(f"{agg} AS {name}" for name, agg, _ in MEASURES)
    return f"""INSERT INTO rollup_15m
        SELECT {BUCKET_SQL} AS bucket, project, provider, model, modality, {measures}
        FROM line_items {where}
        GROUP BY ALL ORDER BY bucket"""


def floor(ts: datetime) -> datetime:
    """The start of the quarter hour holding `ts` (naive UTC)."""
    return ts.replace(minute=ts.minute - ts.minute % 15, second=0, microsecond=0)


def aligned(ts: datetime) -> bool:
    return ts == floor(ts)


def refresh(conn: Any, lo: datetime | None, hi: datetime | None) -> None:
    """Re-sum the buckets from `lo`'s to `hi`'s (inclusive) from the items; the caller owns
    the transaction. Cheap for a fold (minutes of data), a full re-sum for a year's ingest."""
    if lo is None or hi is None:
        return
    start, end = floor(lo), floor(hi) + BUCKET
    conn.execute("DELETE FROM rollup_15m WHERE bucket >= ? AND bucket < ?", [start, end])
    where = "WHERE timestamp >= $start AND timestamp < $end"
    conn.execute(_aggregate_sql(where), {"start": start, "end": end})


def rebuild(conn: Any) -> None:
    """Re-sum everything (a migration, or a repair)."""
    conn.execute("DELETE FROM rollup_15m")
    conn.execute(_aggregate_sql(""))


def mismatches(conn: Any) -> int:
    """Rollup rows that differ from a fresh sum of the items (0 when consistent)."""
    measures = ", ".join(f"{agg} AS {name}" for name, agg, _ in MEASURES)
    cols = ", ".join((*KEY, *(m for m, _, _ in MEASURES)))
    fresh = f"""SELECT {BUCKET_SQL} AS bucket, project, provider, model, modality, {measures}
        FROM line_items GROUP BY ALL"""
    sql = f"""SELECT count(*) FROM (
        (SELECT {cols} FROM rollup_15m EXCEPT ALL SELECT {cols} FROM ({fresh}))
        UNION ALL
        (SELECT {cols} FROM ({fresh}) EXCEPT ALL SELECT {cols} FROM rollup_15m))"""
    return conn.execute(sql).fetchall()[0][0]


def count_items(
    conn: Any,
    start: datetime,
    end: datetime,
    *,
    project: str | None = None,
    provider: str | None = None,
    model: str | None = None,
) -> int:
    """Items with start <= timestamp < end, from the rollup (sizes progress bars; exact
    when the bounds are quarter hours, as every period's are)."""
    where, params = ["bucket >= ?", "bucket < ?"], [start, end]
    for name, value in (("project", project), ("provider", provider), ("model", model)):
        if value is not None:
            where.append(f"{name} = ?")
            params.append(value)
    sql = f"SELECT COALESCE(SUM(items), 0) FROM rollup_15m WHERE {' AND '.join(where)}"
    return int(conn.execute(sql, params).fetchall()[0][0])
