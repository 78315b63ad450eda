"""How fast the agent answered: latency percentiles per model, provider, project or day,
and each provider's recent error rate and latency.

Shared by `voicegw latency`, `voicegw project`, the MCP tools `get_latency_stats` and
`get_provider_status`, and the future HTTP API. Percentiles are DuckDB's `quantile_cont`
over the raw samples the hook recorded (what LiveKit measured on each turn), never
averages of averages; values are milliseconds.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from voicegw_cli.errors import UsageError
from voicegw_cli.records import METRIC_HELP, METRIC_NAMES

if TYPE_CHECKING:
    from voicegw_cli.periods import Period
    from voicegw_cli.store import Store

GROUPS = ("model", "provider", "project", "day")
#: Error rate at or above which a provider reads as degraded / failing.
DEGRADED_AT = 0.05
FAILING_AT = 0.5


def parse_metrics(values: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Metric names from options (repeatable, comma-separated); all when none given."""
    if not values:
        return METRIC_NAMES
    chosen: list[str] = []
    for v in values:
        for name in v.split(","):
            name = name.strip().lower().replace("-", "_")
            if not name:
                continue
            if name not in METRIC_NAMES:
                raise UsageError(f"--metric {name!r}: choose from {', '.join(METRIC_NAMES)}")
            if name not in chosen:
                chosen.append(name)
    return tuple(chosen) or METRIC_NAMES


def latency_report(
    store: Store,
    period: Period,
    *,
    by: str = "model",
    metrics: tuple[str, ...] = METRIC_NAMES,
    project: str | None = None,
) -> dict[str, Any]:
    """count, p50, p90, p95, p99 and max per metric and group for the period."""
    from voicegw_cli.store import latency as lq

    if by not in GROUPS:
        raise UsageError(f"--by must be one of {', '.join(GROUPS)}, not {by!r}")
    rows = lq.stats(
        store.conn,
        period.start_utc,
        period.end_utc,
        by=by,
        metrics=metrics,
        project=project,
        tz=store.config.timezone,
    )
    return {
        "period": period.as_dict(),
        "by": by,
        "project": project,
        "metrics": {m: METRIC_HELP[m] for m in metrics},
        "unit": "ms",
        "rows": rows,
    }


def p95_by_metric(store: Store, period: Period, project: str) -> dict[str, Any]:
    """{metric: {count, p95_ms}} of one project over a period (for `voicegw project`)."""
    from voicegw_cli.store import latency as lq

    rows = lq.stats(store.conn, period.start_utc, period.end_utc, by="project", project=project)
    return {r["metric"]: {"count": r["count"], "p95_ms": r["p95_ms"]} for r in rows}


def provider_status(store: Store, *, hours: float = 24.0) -> dict[str, Any]:
    """Each provider over the last `hours`: requests, errors (every `error` event LiveKit
    emitted, retries included), error rate = errors / (requests + errors), the last
    error, latency p50/p95 per metric, and a status: ok, degraded (error rate >= 5%) or
    failing (>= 50%)."""
    from voicegw_cli import clock
    from voicegw_cli.store import latency as lq

    if hours <= 0:
        raise UsageError(f"hours must be > 0, not {hours}")
    until = clock.utcnow_naive()
    since = until - timedelta(hours=hours)
    rows = lq.provider_health(store.conn, since, until + timedelta(seconds=1))
    for r in rows:
        rate = r["error_rate"]
        r["status"] = (
            "failing" if rate >= FAILING_AT else "degraded" if rate >= DEGRADED_AT else "ok"
        )
    return {
        "since": since.isoformat() + "Z",
        "until": until.isoformat() + "Z",
        "hours": hours,
        "providers": rows,
    }
