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
QUANTILES = (0.5, 0.9, 0.95, 0.99)
STAT_FIELDS = ("count", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms")

_GROUP_SQL = {
    "model": "provider || '/' || model",
    "provider": "provider",
    "project": "project",
    "day": "d.day",
}


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
    """count, p50, p90, p95, p99 and max (milliseconds) per metric and group."""
    params: dict[str, Any] = {"start": start, "end": end, "metrics": list(metrics)}
    where = "s.timestamp >= $start AND s.timestamp < $end AND s.metric IN $metrics"
    if project:
        where += " AND s.project = $project"
        params["project"] = project
    join = ""
    if by == "day":
        params["tz"] = tz
        join = """JOIN (SELECT b, CAST(timezone($tz, b AT TIME ZONE 'UTC') AS DATE) AS day
                        FROM range($start, $end, INTERVAL 15 MINUTE) t(b)) d
                  ON time_bucket(INTERVAL 15 MINUTE, s.timestamp) = d.b"""
    grp = _GROUP_SQL[by]
    qs = ", ".join(str(q) for q in QUANTILES)
    sql = f"""SELECT s.metric, {grp} AS grp, count(*) AS n,
                  quantile_cont(s.seconds, [{qs}]) AS q, max(s.seconds) AS mx
              FROM latency_samples s {join} WHERE {where}
              GROUP BY ALL"""
    rows = conn.execute(sql, params).fetchall()
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
        """SELECT provider, metric, count(*), quantile_cont(seconds, [0.5, 0.95])
           FROM latency_samples WHERE timestamp >= $since AND timestamp < $until
           GROUP BY ALL""",
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
