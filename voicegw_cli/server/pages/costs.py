"""`/costs`: a period (today, week, month, last month, or start-end), grouped by provider,
model, modality, project or day: a chart, the table `voicegw costs --format json` gives,
and the same rows as CSV (`voicegw costs --format csv`)."""

from __future__ import annotations

from typing import Any

from voicegw_cli.server.charts import bars
from voicegw_cli.server.dashboard import render

PERIODS = ("today", "yesterday", "week", "month", "last-month")


def _report(store: Any, q: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The cost report the query string asks for, and the query as chosen (for the form)."""
    from voicegw_cli import periods
    from voicegw_cli.errors import UsageError
    from voicegw_cli.reports import check_project, cost_report
    from voicegw_cli.store.queries import GROUPS

    by = q.get("by") or "model"
    if by not in GROUPS:
        raise UsageError(f"by must be one of {', '.join(GROUPS)}, got {by!r}")
    start, end = q.get("start") or None, q.get("end") or None
    word = q.get("period") or ("custom" if start or end else "month")
    if word == "custom":
        if not (start and end):
            raise UsageError("a custom period needs both a start and an end day (YYYY-MM-DD)")
        period = periods.resolve(store.config.tz, start=start, end=end)
    else:
        period = periods.resolve(store.config.tz, period=word)
    project = q.get("project") or None
    if project:
        check_project(store, project)
    chosen = {"period": word, "start": start or "", "end": end or "", "by": by}
    chosen["project"] = project or ""
    return cost_report(store, period, by=by, project=project), chosen


def costs(request: Any, store: Any, form: Any) -> Any:
    from voicegw_cli.reports import known_projects
    from voicegw_cli.server.pages.overview import day_points
    from voicegw_cli.store.queries import GROUPS

    report, chosen = _report(store, request.query_params)
    by = chosen["by"]
    if by == "day":
        from voicegw_cli import periods

        p = report["period"]
        span = periods.resolve(store.config.tz, start=p["start"], end=p["end"])
        points = day_points(report["rows"], span)
    else:
        points = [(str(r[by]), r["cost_usd"]) for r in report["rows"][:30]]
    chart = bars(points, label=f"Cost by {by}, {report['period']['label']}")
    return render(
        request,
        "costs.html",
        config=store.config,
        nav="costs",
        report=report,
        chosen=chosen,
        chart=chart,
        periods=PERIODS,
        groups=GROUPS,
        projects=known_projects(store),
        csv_query=str(request.query_params),
    )


def costs_csv(request: Any, store: Any, form: Any) -> Any:
    import io

    from starlette.responses import Response

    from voicegw_cli.cli.output import write_csv

    report, chosen = _report(store, request.query_params)
    rows = report["rows"]
    out = io.StringIO()
    write_csv(rows, list(rows[0].keys()) if rows else [chosen["by"], "items", "cost_usd"], out)
    p = report["period"]
    name = f"voicegw-costs-by-{chosen['by']}-{p['start']}-{p['end']}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
