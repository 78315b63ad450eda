"""`/audit` (who changed which project or key, and when), `/latency` (p50-p99 per metric
and model) and `/calls` (the period's top calls): the tables `voicegw audit`, `voicegw
latency` and `voicegw calls` print, from the same library functions."""

from __future__ import annotations

from typing import Any

from voicegw_cli.server.dashboard import render

PERIODS = ("today", "yesterday", "week", "month", "last-month")


def audit(request: Any, store: Any, form: Any) -> Any:
    from voicegw_cli.errors import UsageError
    from voicegw_cli.projects import audit_entries, describe_change

    q = request.query_params
    target = (q.get("project") or "").strip() or None
    action = (q.get("action") or "").strip() or None
    try:
        limit = int(q.get("limit") or 100)
    except ValueError:
        raise UsageError("limit must be a whole number") from None
    rows = audit_entries(store.conn, limit=max(1, min(limit, 1000)), target=target, action=action)
    for r in rows:
        r["change"] = describe_change(r)
    return render(
        request,
        "audit.html",
        config=store.config,
        nav="audit",
        rows=rows,
        chosen={"project": target or "", "action": action or ""},
    )


def _period(store: Any, q: Any) -> tuple[Any, dict[str, str]]:
    from voicegw_cli import periods
    from voicegw_cli.reports import check_project

    start, end = q.get("start") or None, q.get("end") or None
    word = None if (start or end) else (q.get("period") or "week")
    p = periods.resolve(store.config.tz, period=word, start=start, end=end)
    project = q.get("project") or None
    if project:
        check_project(store, project)
    chosen = {"period": word or "custom", "start": start or "", "end": end or ""}
    chosen["project"] = project or ""
    return p, chosen


def latency(request: Any, store: Any, form: Any) -> Any:
    from voicegw_cli.latency import GROUPS, latency_report
    from voicegw_cli.reports import known_projects

    p, chosen = _period(store, request.query_params)
    by = request.query_params.get("by") or "model"
    chosen["by"] = by
    report = latency_report(store, p, by=by, project=chosen["project"] or None)
    return render(
        request,
        "latency.html",
        config=store.config,
        nav="latency",
        report=report,
        chosen=chosen,
        periods=PERIODS,
        groups=GROUPS,
        projects=known_projects(store),
    )


def calls(request: Any, store: Any, form: Any) -> Any:
    from voicegw_cli.calls import call_report
    from voicegw_cli.errors import UsageError
    from voicegw_cli.reports import known_projects

    p, chosen = _period(store, request.query_params)
    sort = request.query_params.get("sort") or "cost"
    if sort not in ("cost", "duration", "cost_per_minute"):
        raise UsageError("sort must be cost, duration or cost_per_minute")
    chosen["sort"] = sort
    report = call_report(store, p, project=chosen["project"] or None, sort=sort, top=50)
    return render(
        request,
        "calls.html",
        config=store.config,
        nav="calls",
        report=report,
        chosen=chosen,
        periods=PERIODS,
        projects=known_projects(store),
    )
