"""`GET /v1/metrics`: Prometheus text, so teams alert on budgets from Prometheus/Grafana.

A fresh `CollectorRegistry` per scrape, filled from the same library calls as
`voicegw budget check` (today's and this month's statuses) and `voicegw status` (the
spool backlog), so a scrape always shows the store as it is now.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


def snapshot(store: Any) -> dict[str, Any]:
    """What a scrape reports, read from the store in one go."""
    from voicegw_cli.budget import budget_check
    from voicegw_cli.reports import spool_backlog
    from voicegw_cli.store import queries

    day = budget_check(store, period="today").statuses
    month = budget_check(store, period="month").statuses
    backlog = spool_backlog(store)
    return {
        "day": day,
        "month": month,
        "items": queries.store_stats(store.conn)["items"],
        "backlog_files": len(backlog),
        "backlog_bytes": sum(len(c.data) for c in backlog),
        "timezone": store.config.timezone,
    }


def exposition(data: dict[str, Any], backend: Any) -> bytes:
    from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

    reg = CollectorRegistry()
    per_project = {
        name: Gauge(name, text, ["project", "period"], registry=reg)
        for name, text in (
            ("voicegw_spend_usd", "Spend in US dollars per project in the current local day "
             "or month."),
            ("voicegw_budget_usd", "The project's budget for the period (absent: no budget)."),
            ("voicegw_budget_ratio", "Spend / budget for the period (1 = at the budget; "
             "absent: no budget)."),
            ("voicegw_unpriced_items", "Line items in the period no price list knows (spend "
             "is then a lower bound)."),
        )
    }  # fmt: skip
    spend, budget, ratio, unpriced = per_project.values()
    for period, statuses in (("day", data["day"]), ("month", data["month"])):
        for st in statuses:
            spend.labels(st.project, period).set(float(st.spend))
            unpriced.labels(st.project, period).set(st.unpriced_items)
            if st.budget:
                budget.labels(st.project, period).set(float(st.budget))
                ratio.labels(st.project, period).set(float(st.spend / st.budget))
    Gauge("voicegw_store_items", "Line items in the store.", registry=reg).set(data["items"])
    folded = Counter(
        "voicegw_items_folded", "Line items this server folded from the spool.", registry=reg
    )
    folded.inc(backend.items_folded)
    Gauge(
        "voicegw_spool_backlog_files", "Spool files with records not folded yet.", registry=reg
    ).set(data["backlog_files"])
    Gauge("voicegw_spool_backlog_bytes", "Spool bytes not folded yet.", registry=reg).set(
        data["backlog_bytes"]
    )
    fold = Gauge(
        "voicegw_last_fold_seconds",
        "How long this server's last open-and-fold of the store took.",
        registry=reg,
    )
    if backend.last_fold_seconds is not None:
        fold.set(backend.last_fold_seconds)
    return generate_latest(reg)


async def render(backend: Any) -> bytes:
    data = await backend.call(snapshot)
    return exposition(data, backend)
