"""`/projects`: the list with budgets; `/projects/{id}`: one project in detail; runtime
projects created, edited (the change previewed first) and deleted (preview, then confirm)
through `voicegw_cli.projects`, the same functions as `voicegw projects ...` and MCP."""

from __future__ import annotations

from typing import Any

from voicegw_cli.server.charts import bars
from voicegw_cli.server.dashboard import ACTOR_CHANNEL, render
from voicegw_cli.server.pages.overview import budget_cards, day_points, last_days

TEXT_FIELDS = ("name", "description", "daily_budget", "monthly_budget", "budget_action", "tags")
MODEL_FIELDS = ("stt_model", "llm_model", "tts_model")


def _actor() -> str:
    from voicegw_cli.projects import default_actor

    return default_actor(ACTOR_CHANNEL)


def _redirect(url: str) -> Any:
    from starlette.responses import RedirectResponse

    return RedirectResponse(url, status_code=303)


def _values(form: Any) -> dict[str, str]:
    """The project form's fields as text (what the library validates)."""
    keys = ("id", *TEXT_FIELDS, "default_stack", *MODEL_FIELDS)
    return {k: str(form.get(k, "") or "").strip() for k in keys}


def listing(request: Any, store: Any, form: Any, *, error: str = "", values=None, status=200):
    return render(
        request,
        "projects.html",
        status=status,
        config=store.config,
        nav="projects",
        cards=budget_cards(store),
        stacks=sorted(store.config.stacks),
        error=error,
        values=values or {"budget_action": "warn"},
        deleted=request.query_params.get("deleted", ""),
    )


def create(request: Any, store: Any, form: Any) -> Any:
    from voicegw_cli import projects
    from voicegw_cli.errors import VoicegwError
    from voicegw_cli.server.dashboard import _status_of

    v = _values(form)
    try:
        p = projects.create_project(
            store.config,
            store.conn,
            v["id"],
            name=v["name"],
            description=v["description"],
            daily_budget=v["daily_budget"] or 0,
            monthly_budget=v["monthly_budget"] or 0,
            budget_action=v["budget_action"] or "warn",
            tags=v["tags"],
            default_stack=v["default_stack"] or None,
            stt_model=v["stt_model"] or None,
            llm_model=v["llm_model"] or None,
            tts_model=v["tts_model"] or None,
            actor=_actor(),
        )
    except VoicegwError as exc:
        status, _ = _status_of(exc)
        return listing(request, store, form, error=str(exc), values=v, status=status)
    return _redirect(f"/projects/{p.id}?created=1")


def detail(request: Any, store: Any, form: Any, *, error: str = "", status: int = 200) -> Any:
    from voicegw_cli.reports import cost_report, project_detail

    pid = request.path_params["id"]
    d = project_detail(store, pid)
    span = last_days(store.config.tz, 30)
    daily = cost_report(store, span, by="day", project=pid)
    chart = bars(day_points(daily["rows"], span), label=f"{pid}: spend per day, last 30 days")
    card = next((c for c in budget_cards(store) if c["id"] == pid), None)
    return render(
        request,
        "project.html",
        status=status,
        config=store.config,
        nav="projects",
        p=d,
        card=card,
        chart=chart,
        span=span,
        stacks=sorted(store.config.stacks),
        error=error,
        notice="created"
        if request.query_params.get("created")
        else ("updated" if request.query_params.get("updated") else ""),
    )


def _changes(form: Any) -> dict[str, Any]:
    v = _values(form)
    changes: dict[str, Any] = {k: v[k] for k in TEXT_FIELDS}
    if v["default_stack"]:
        changes["default_stack"] = v["default_stack"]
    else:
        changes.update({k: v[k] for k in MODEL_FIELDS if v[k]})
    return changes


def edit(request: Any, store: Any, form: Any) -> Any:
    """First POST: the change, field by field, and a confirm button; with confirm=yes,
    the update (one audit entry), then back to the project."""
    from voicegw_cli import projects
    from voicegw_cli.errors import VoicegwError
    from voicegw_cli.server.dashboard import _status_of

    pid = request.path_params["id"]
    changes = _changes(form)
    try:
        _, plan = projects.plan_update(store.config, store.conn, pid, changes)
        if form.get("confirm") == "yes" and plan.changed:
            projects.update_project(store.config, store.conn, pid, changes, actor=_actor())
            return _redirect(f"/projects/{pid}?updated=1")
    except VoicegwError as exc:
        status, _ = _status_of(exc)
        if status == 404:
            raise
        return detail(request, store, form, error=str(exc), status=status)
    return render(
        request,
        "project_edit.html",
        config=store.config,
        nav="projects",
        pid=pid,
        rows=plan.as_rows(),
        values=_values(form),
    )


def delete_preview(request: Any, store: Any, form: Any) -> Any:
    from voicegw_cli import projects

    pid = request.path_params["id"]
    preview = projects.delete_preview(store.config, store.conn, pid)
    return render(
        request, "project_delete.html", config=store.config, nav="projects", preview=preview
    )


def delete(request: Any, store: Any, form: Any) -> Any:
    from voicegw_cli import projects

    pid = request.path_params["id"]
    if form.get("confirm") != "yes":
        return delete_preview(request, store, form)
    projects.delete_project(store.config, store.conn, pid, actor=_actor())
    return _redirect(f"/projects?deleted={pid}")
