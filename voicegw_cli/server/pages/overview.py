"""`/`: spend today and this month, a card per project with its budget gauges, top models."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from voicegw_cli.server.charts import bars, gauge
from voicegw_cli.server.dashboard import render


def last_days(tz: Any, days: int) -> Any:
    """The `days` local days ending today, as one period (what `costs --start --end` reads)."""
    from voicegw_cli import periods

    ref = periods.local_today(tz)
    return periods.Period(f"last {days} days", ref - timedelta(days=days - 1), ref, tz)


def day_points(rows: list[dict[str, Any]], period: Any) -> list[tuple[str, Decimal | None]]:
    """One bar per day of the period from `cost_report(by="day")` rows; a day without
    usage is $0, a day with only unpriced usage is None (drawn as unpriced)."""
    by_day = {r["day"]: r["cost_usd"] for r in rows}
    n = (period.end - period.start).days + 1
    out = []
    for i in range(n):
        d = (period.start + timedelta(days=i)).isoformat()
        out.append((d, by_day.get(d, Decimal(0))))
    return out


def budget_cards(store: Any) -> list[dict[str, Any]]:
    """Every project with today's and this month's spend (`costs --by project`), and its
    daily and monthly budget statuses (`budget check`)."""
    from voicegw_cli import periods
    from voicegw_cli.budget import check_store
    from voicegw_cli.config import merged_projects
    from voicegw_cli.reports import cost_report, projects_overview

    cfg = store.config
    tz = cfg.tz
    ref = periods.local_today(tz)
    spend = {}
    for name in ("today", "month"):
        report = cost_report(store, periods.resolve(tz, period=name), by="project")
        spend[name] = {r["project"]: r for r in report["rows"]}
    projects = merged_projects(cfg, store.conn)
    statuses = {
        kind: {
            s.project: s
            for s in check_store(store.conn, cfg, period=kind, day=ref, projects=projects)
        }
        for kind in ("day", "month")
    }
    cards = []
    for row in projects_overview(store):
        pid = row["id"]
        card = {**row, "spend": {}, "budgets": []}
        for name in ("today", "month"):
            r = spend[name].get(pid)
            card["spend"][name] = (
                {"cost_usd": Decimal(0), "items": 0, "unpriced_items": 0} if r is None else r
            )
        for kind in ("day", "month"):
            st = statuses[kind].get(pid)
            if st is None or st.budget is None:
                continue
            card["budgets"].append(
                {
                    "label": "daily" if kind == "day" else "monthly",
                    "status": st,
                    "gauge": gauge(st.spend, st.budget, st.status),
                }
            )
        cards.append(card)
    return cards


def overview(request: Any, store: Any, form: Any) -> Any:
    from voicegw_cli import periods
    from voicegw_cli.reports import cost_report

    tz = store.config.tz
    today = cost_report(store, periods.resolve(tz, period="today"), by="project")
    month = cost_report(store, periods.resolve(tz, period="month"), by="model")
    span = last_days(tz, 30)
    daily = cost_report(store, span, by="day")
    chart = bars(day_points(daily["rows"], span), label="Spend per day, last 30 days")
    return render(
        request,
        "overview.html",
        config=store.config,
        nav="overview",
        today=today,
        month=month,
        cards=budget_cards(store),
        top_models=month["rows"][:8],
        chart=chart,
        span=span,
    )
