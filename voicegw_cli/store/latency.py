"""Latency samples and provider errors in the store: percentiles by DuckDB's own quantile
functions over the raw samples (never an average of averages), and per-provider health.

Bounds are naive-UTC datetimes, end exclusive. A local day is looked up per quarter hour
(every zone's offset is whole quarter hours), so `--by day` costs a join against a few
thousand buckets instead of a time-zone conversion per sample.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from voicegw_cli.records import METRIC_NAMES
from voicegw_cli.store.calls import aware

GROUPS = ("model", "provider", "project", "day")
_SERIES_COLS = ("metric", "provider", "model")
#: Join spool latency rows (alias `{src}`) to their series number.
SERIES_JOIN = "\nJOIN latency_series k ON " + " AND ".join(
    f"k.{c} = COALESCE(CAST({{src}}.{c} AS VARCHAR), '')" for c in _SERIES_COLS
)


def add_series(conn: Any, src: str) -> None:
    """Number the (metric, provider, model) combinations of `src` the store has not seen
    (inside the fold's transaction; NULLs are stored as '')."""
    cols = ", ".join(f"COALESCE(CAST({c} AS VARCHAR), '') AS {c}" for c in _SERIES_COLS)
    names = ", ".join(_SERIES_COLS)
    conn.execute(
        f"""INSERT INTO latency_series
        SELECT (SELECT COALESCE(max(series), 0) FROM latency_series)
                   + row_number() OVER (ORDER BY {names}), {names}
        FROM (SELECT DISTINCT {cols} FROM {src}
              EXCEPT SELECT {names} FROM latency_series)"""
    )


QUANTILES = (0.5, 0.9, 0.95, 0.99)
STAT_FIELDS = ("count", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms")


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 1)


def stats(
    conn: Any,
    start: datetime,
    end: datetime,
    *,
    by: str = "model",
    metrics: tuple[str, ...] = METRIC_NAMES,
    project: str | None = None,
    tz: str = "UTC",
) -> list[dict[str, Any]]:
    """count, p50, p90, p95, p99 and max (milliseconds) per metric and group.

    Per sample the work is a scan and DuckDB's quantile state: `--by model` groups the
    samples' series number itself; the other groupings map series to a small group number
    through the (tiny) series table first. Labels join back at the end."""
    series = conn.execute(
        "SELECT series, metric, provider, model FROM latency_series WHERE metric IN $m",
        {"m": list(metrics)},
    ).fetchall()
    if not series:
        return []
    params: dict[str, Any] = {"start": start, "end": end}
    where = "s.timestamp >= $start AND s.timestamp < $end"
    if len(metrics) < len(METRIC_NAMES) or len(series) < _series_count(conn):
        where += f" AND s.series IN ({', '.join(str(r[0]) for r in series)})"
    if project:
        where += " AND s.project = $project"
        params["project"] = project
    qs = ", ".join(str(q) for q in QUANTILES)
    agg = f"count(*), quantile_cont(s.seconds, [{qs}]), max(s.seconds)"
    if by == "model":
        labels = {sid: (m, f"{p}/{mo}") for sid, m, p, mo in series}
        sql = f"SELECT s.series, {agg} FROM latency_samples s WHERE {where} GROUP BY 1"
        rows = [(*labels[r[0]], *r[1:]) for r in conn.execute(sql, params).fetchall()]
    else:
        # series -> group: (metric, provider) for provider; the metric for project and day
        key = {"provider": lambda m, p: (m, p), "project": lambda m, p: (m,),
               "day": lambda m, p: (m,)}[by]  # fmt: skip
        groups: dict[tuple[str, ...], int] = {}
        mapping = []
        for sid, m, p, _mo in series:
            g = groups.setdefault(key(m, p), len(groups) + 1)
            mapping.append(f"({sid}, {g})")
        extra, join = "NULL", ""
        if by == "project":
            extra = "s.project"
        elif by == "day":
            params["tz"] = tz
            join = """JOIN (SELECT b, CAST(timezone($tz, b AT TIME ZONE 'UTC') AS DATE) AS day
                            FROM range($start, $end, INTERVAL 15 MINUTE) t(b)) d
                      ON time_bucket(INTERVAL 15 MINUTE, s.timestamp) = d.b"""
            extra = "d.day"
        sql = f"""SELECT k.grp, {extra} AS extra, {agg}
                  FROM latency_samples s
                  JOIN (VALUES {", ".join(mapping)}) k(series, grp) ON s.series = k.series
                  {join} WHERE {where} GROUP BY ALL"""
        names = {g: k for k, g in groups.items()}
        rows = []
        for grp, extra_value, *rest in conn.execute(sql, params).fetchall():
            metric, *provider = names[grp]
            rows.append((metric, provider[0] if provider else extra_value, *rest))
    order = {m: i for i, m in enumerate(METRIC_NAMES)}
    out = []
    for metric, g, n, q, mx in rows:
        out.append(
            {
                "metric": metric,
                by: g.isoformat() if hasattr(g, "isoformat") else g,
                "count": n,
                "p50_ms": _ms(q[0]),
                "p90_ms": _ms(q[1]),
                "p95_ms": _ms(q[2]),
                "p99_ms": _ms(q[3]),
                "max_ms": _ms(mx),
            }
        )
    if by == "day":
        out.sort(key=lambda r: (order.get(r["metric"], 99), r[by]))
    else:
        out.sort(key=lambda r: (order.get(r["metric"], 99), -r["count"], str(r[by])))
    return out


def _series_count(conn: Any) -> int:
    return conn.execute("SELECT count(*) FROM latency_series").fetchall()[0][0]


def turns(
    conn: Any, session_id: str, first: datetime | None, last: datetime | None
) -> list[dict[str, Any]]:
    """A call's samples in time order (the time range lets DuckDB skip row groups)."""
    clause, params = "session_id = $sid", {"sid": session_id}
    if first is not None and last is not None:
        clause += " AND timestamp BETWEEN $first AND $last"
        params.update(first=first, last=last)
    cur = conn.execute(
        f"""SELECT turn, metric, seconds, provider, model, agent, item_id, timestamp
            FROM latency_samples WHERE {clause} ORDER BY turn, timestamp, metric""",
        params,
    )
    names = [d[0] for d in cur.description]
    return [aware(dict(zip(names, r, strict=True))) for r in cur.fetchall()]


def session_errors(
    conn: Any, session_id: str, first: datetime | None, last: datetime | None
) -> list[dict[str, Any]]:
    clause, params = "session_id = $sid", {"sid": session_id}
    if first is not None and last is not None:
        clause += " AND timestamp BETWEEN $first AND $last"
        params.update(first=first, last=last)
    cur = conn.execute(
        f"""SELECT timestamp, source, provider, model, error_type, recoverable, message
            FROM session_errors WHERE {clause} ORDER BY timestamp""",
        params,
    )
    names = [d[0] for d in cur.description]
    return [aware(dict(zip(names, r, strict=True))) for r in cur.fetchall()]


def provider_health(conn: Any, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Per provider since `since`: requests (line items), errors, last error, and latency
    p50/p95 per metric it produced."""
    window = {"since": since, "until": until}
    requests = dict(
        conn.execute(
            """SELECT provider, count(*) FROM line_items
               WHERE timestamp >= $since AND timestamp < $until GROUP BY provider""",
            window,
        ).fetchall()
    )
    errors: dict[str, dict[str, Any]] = {}
    for provider, n, unrecoverable, last_at, last_msg in conn.execute(
        """SELECT provider, count(*), count(*) FILTER (WHERE NOT recoverable),
                  max(timestamp), arg_max(error_type || ': ' || message, timestamp)
           FROM session_errors WHERE timestamp >= $since AND timestamp < $until
           GROUP BY provider""",
        window,
    ).fetchall():
        errors[provider] = {
            "errors": n,
            "unrecoverable_errors": unrecoverable,
            "last_error_at": last_at.replace(tzinfo=UTC) if last_at else None,
            "last_error": last_msg,
        }
    latency: dict[str, dict[str, Any]] = {}
    for provider, metric, n, q in conn.execute(
        """WITH k AS (SELECT series, provider, metric,
                             dense_rank() OVER (ORDER BY provider, metric) AS grp
                      FROM latency_series),
                g AS (SELECT DISTINCT grp, provider, metric FROM k),
                agg AS (SELECT k.grp, count(*) AS n, quantile_cont(s.seconds, [0.5, 0.95]) AS q
                        FROM latency_samples s JOIN k ON s.series = k.series
                        WHERE s.timestamp >= $since AND s.timestamp < $until GROUP BY 1)
           SELECT g.provider, g.metric, agg.n, agg.q FROM agg JOIN g USING (grp)""",
        window,
    ).fetchall():
        latency.setdefault(provider, {})[metric] = {
            "count": n,
            "p50_ms": _ms(q[0]),
            "p95_ms": _ms(q[1]),
        }
    out = []
    for provider in sorted(set(requests) | set(errors) | set(latency)):
        e = errors.get(provider, {})
        n_req = int(requests.get(provider, 0))
        n_err = int(e.get("errors", 0))
        out.append(
            {
                "provider": provider,
                "requests": n_req,
                "errors": n_err,
                "unrecoverable_errors": int(e.get("unrecoverable_errors", 0)),
                "error_rate": round(n_err / (n_req + n_err), 4) if (n_req + n_err) else 0.0,
                "last_error_at": e.get("last_error_at"),
                "last_error": e.get("last_error"),
                "latency": dict(
                    sorted(
                        latency.get(provider, {}).items(),
                        key=lambda kv: METRIC_NAMES.index(kv[0]) if kv[0] in METRIC_NAMES else 99,
                    )
                ),
            }
        )
    return out


def activity(conn: Any) -> dict[str, Any]:
    """When the hook last wrote each record kind, and how many of each there are."""
    out: dict[str, Any] = {}
    for name, table, col in (
        ("calls", "calls", "ended_at"),
        ("latency_samples", "latency_samples", "timestamp"),
        ("errors", "session_errors", "timestamp"),
    ):
        n, newest = conn.execute(f"SELECT count(*), max({col}) FROM {table}").fetchall()[0]
        out[name] = n
        out[f"newest_{name}"] = newest.replace(tzinfo=UTC) if newest else None
    return out
