"""Store queries for reconcile, export-costs and reprice.

All heavy lifting stays in DuckDB: reconcile gets our side already aggregated to
(model, hour) — hours, not days, so a provider that buckets days in another zone can be
recognised — export-costs streams rows with COPY or Arrow batches without ever holding
them in Python, and reprice reads only the rows it will change. Bounds are naive-UTC
datetimes, end exclusive, as the store keeps timestamps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from voicegw_cli.items import COLUMNS, UNPRICED

#: Our units as reconcile compares them. Input kinds are made disjoint here: our
#: `input_tokens` includes cached reads and cache writes, providers report them apart.
UNIT_SQL: tuple[tuple[str, str], ...] = (
    ("uncached_input_tokens", "SUM(input_tokens - cached_input_tokens - cache_write_tokens)"),
    ("cached_input_tokens", "SUM(cached_input_tokens)"),
    ("cache_write_tokens", "SUM(cache_write_tokens)"),
    ("output_tokens", "SUM(output_tokens)"),
    # the audio parts of input (cached audio included) and output, for realtime models
    ("audio_input_tokens", "SUM(audio_input_tokens)"),
    ("audio_output_tokens", "SUM(audio_output_tokens)"),
    ("audio_seconds", "SUM(audio_seconds)"),
    ("characters", "SUM(characters)"),
)


def _where(
    *, provider: str | None = None, project: str | None = None, model: str | None = None
) -> tuple[str, dict[str, Any]]:
    clauses = ["timestamp >= $start", "timestamp < $end"]
    params: dict[str, Any] = {}
    for name, value in (("provider", provider), ("project", project), ("model", model)):
        if value:
            clauses.append(f"{name} = ${name}")
            params[name] = value
    return " AND ".join(clauses), params


def usage_by_hour(
    conn: Any,
    start: datetime,
    end: datetime,
    *,
    provider: str,
    project: str | None = None,
) -> Any:
    """Our units and cost per (model, modality, UTC hour, pricing source), as Arrow.

    `cost_usd` is the exact DECIMAL sum (null when every item of the group is unpriced);
    `unpriced_items` counts items no price list knew."""
    where, params = _where(provider=provider, project=project)
    units = ", ".join(f"CAST({expr} AS DOUBLE) AS {name}" for name, expr in UNIT_SQL)
    sql = f"""SELECT model, modality, date_trunc('hour', timestamp) AS hour, pricing_source,
               count(*) AS items,
               count(*) FILTER (WHERE cost_usd IS NULL OR pricing_source = '{UNPRICED}')
                   AS unpriced_items,
               {units},
               SUM(cost_usd) AS cost_usd
        FROM line_items WHERE {where}
        GROUP BY ALL ORDER BY hour, model"""
    return conn.sql(sql, params={**params, "start": start, "end": end}).to_arrow_table()


# ------------------------------------------------------------------------- export-costs


def export_sql(
    fmt: str, *, project: str | None = None, attributes: list[str] | tuple[str, ...] = ()
) -> tuple[str, dict[str, Any]]:
    """The SELECT export-costs writes: exactly items.COLUMNS, in order, then one text
    column `attr_<name>` per call attribute in `attributes` (from the item's call record;
    empty for items of calls without it).

    Text formats get ISO-8601 UTC timestamps; JSON formats get money as a decimal string
    (a JSON number would be read back as a float). Parquet keeps native types, with the
    timestamp marked UTC. Parameters: $start, $end (and $project)."""
    import json

    from voicegw_cli.records import ATTRIBUTE_PREFIX

    exprs = []
    for name, _typ in COLUMNS:
        col = f"line_items.{name}"
        if name == "timestamp":
            if fmt == "parquet":
                exprs.append(f"timezone('UTC', {col}) AS timestamp")
            else:
                exprs.append(f"strftime({col}, '%Y-%m-%dT%H:%M:%S.%f+00:00') AS timestamp")
        elif name == "cost_usd" and fmt in ("json", "ndjson"):
            exprs.append(f"CAST({col} AS VARCHAR) AS cost_usd")
        else:
            exprs.append(f"{col} AS {name}")
    for attr in attributes:
        path = ("$." + json.dumps(attr)).replace("'", "''")
        alias = (ATTRIBUTE_PREFIX + attr).replace('"', '""')
        exprs.append(f"json_extract_string(calls.attributes, '{path}') AS \"{alias}\"")
    where, params = _where(project=project)
    where = " AND ".join(f"line_items.{c}" for c in where.split(" AND "))
    cols = ",\n       ".join(exprs)
    join = ""
    if attributes:
        join = (
            "\nLEFT JOIN (SELECT session_id, any_value(attributes) AS attributes FROM calls"
            " GROUP BY session_id) calls ON calls.session_id = line_items.session_id"
        )
    # No ORDER BY: sorting a month of items would hold it all in memory. Rows come out in
    # no promised order (ingest does not care; sort downstream when a diff needs it).
    return f"SELECT {cols}\nFROM line_items{join} WHERE {where}", params


# ------------------------------------------------------------------------------ reprice

_NOT_CORRECTION = "COALESCE(json_extract(metadata, '$.correction')::BOOLEAN, false) = false"


def reprice_reader(
    conn: Any,
    start: datetime,
    end: datetime,
    *,
    provider: str | None = None,
    model: str | None = None,
    batch_size: int = 200_000,
) -> Any:
    """Arrow batches of the line items a reprice would recompute (all columns).

    Corrections are left out: their cost is a human's statement, not a rate times units."""
    where, params = _where(provider=provider, model=model)
    names = ", ".join(n for n, _ in COLUMNS)
    sql = f"SELECT {names} FROM line_items WHERE {where} AND {_NOT_CORRECTION}"
    return conn.sql(sql, params={**params, "start": start, "end": end}).to_arrow_reader(batch_size)


def apply_costs(conn: Any, changes: Any) -> int:
    """Write new (id, cost_usd, pricing_source) rows, and move the per-call totals with
    them (`store.calls.reprice_usage`); the caller owns the transaction."""
    from voicegw_cli.store.calls import reprice_usage

    if changes.num_rows == 0:
        return 0
    from voicegw_cli.store import rollup

    conn.register("_reprice", changes)
    try:
        reprice_usage(conn, "_reprice")
        conn.execute(
            """UPDATE line_items SET cost_usd = CAST(r.cost_usd AS DECIMAL(18,10)),
                   pricing_source = r.pricing_source
               FROM _reprice r WHERE line_items.id = r.id"""
        )
        lo, hi = conn.execute(
            "SELECT min(timestamp), max(timestamp) FROM line_items"
            " WHERE id IN (SELECT id FROM _reprice)"
        ).fetchall()[0]
        rollup.refresh(conn, lo, hi)
    finally:
        conn.unregister("_reprice")
    return changes.num_rows
