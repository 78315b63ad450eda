"""The JSON API (`/health`, `/v1/...`, `/openapi.json`, `/v1/metrics`).

One query, three faces: every route calls the library function the matching CLI command
calls (`voicegw costs` -> `reports.cost_report`, ...), and its body is that command's
`--format json` document, with `next_cursor` added to every list (`rows`). Lists are
paginated: `limit` (default per route) and the opaque `cursor` from the previous page.

The routes, their parameters and their responses are declared once, in `ENDPOINTS`; the
OpenAPI document at /openapi.json is built from that table.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from voicegw_cli.errors import UsageError

MAX_LIMIT = 1000


# ------------------------------------------------------------------ plumbing


def backend(request: Request) -> Any:
    return request.app.state.voicegw["backend"]


def respond(payload: Any, status: int = 200) -> JSONResponse:
    from voicegw_cli.wire import jsonable

    return JSONResponse(jsonable(payload), status_code=status)


def _q(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value not in (None, "") else None


def _limit(request: Request, default: int) -> int:
    text = _q(request, "limit")
    if text is None:
        return default
    try:
        n = int(text)
    except ValueError:
        raise UsageError(f"limit must be a whole number, got {text!r}") from None
    if not 1 <= n <= MAX_LIMIT:
        raise UsageError(f"limit must be between 1 and {MAX_LIMIT}, got {n}")
    return n


def _bool(request: Request, name: str) -> bool:
    text = (_q(request, name) or "false").lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"{name} must be true or false, got {text!r}")


def encode_cursor(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(request: Request, kind: str) -> dict[str, Any] | None:
    text = _q(request, "cursor")
    if text is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(data, dict) or data.get("k") != kind:
            raise ValueError
    except ValueError:
        raise UsageError("cursor is not one this route gave out") from None
    return data


def keyset(request: Request, kind: str, id_type: type) -> tuple[Any, Any] | None:
    """(time, id) of the last row of the previous page, from a keyset cursor."""
    from datetime import datetime

    cur = decode_cursor(request, kind)
    if not cur:
        return None
    try:
        return datetime.fromisoformat(str(cur["t"]).removesuffix("Z")), id_type(cur["i"])
    except (KeyError, ValueError):
        raise UsageError("cursor is not one this route gave out") from None


def next_keyset(kind: str, rows: list[dict[str, Any]], limit: int, time_key: str) -> Any:
    """`rows` cut to `limit` (one more was asked for) and the cursor to what follows."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    t = last[time_key]
    t = t if isinstance(t, str) else t.isoformat()
    return rows, encode_cursor({"k": kind, "t": t, "i": last["id"]})


def paged(request: Request, kind: str, rows: list[Any], default: int) -> tuple[list[Any], Any]:
    """Offset paging over a list the library computed whole (small lists: groups)."""
    limit = _limit(request, default)
    cur = decode_cursor(request, kind)
    offset = int(cur.get("o", 0)) if cur else 0
    page = rows[offset : offset + limit]
    more = offset + limit < len(rows)
    return page, encode_cursor({"k": kind, "o": offset + limit}) if more else None


def _offset(request: Request, kind: str) -> int:
    cur = decode_cursor(request, kind)
    return max(0, int(cur.get("o", 0))) if cur else 0


def with_rows(report: dict[str, Any], rows: list[Any], next_cursor: str | None) -> dict[str, Any]:
    """The CLI's JSON document (`{**payload, "rows": rows}`) plus `next_cursor`."""
    return {
        **{k: v for k, v in report.items() if k != "rows"},
        "rows": rows,
        "next_cursor": (next_cursor),
    }


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise UsageError("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise UsageError("the body must be a JSON object")
    return body


def _period(store: Any, request: Request, *, utc: bool = False, default: str | None = "today"):
    from voicegw_cli import periods

    return periods.resolve(
        store.config.tz,
        period=_q(request, "period"),
        start=_q(request, "start"),
        end=_q(request, "end"),
        utc=utc,
        default=default,
    )


# ------------------------------------------------------------------ handlers


async def health(request: Request) -> Response:
    """Liveness: answers without a token and without touching the store."""
    from voicegw_cli import __version__

    return respond({"status": "ok", "version": __version__})


async def status(request: Request) -> Response:
    from voicegw_cli.reports import status_report

    # It folds the spool into the store: a write, as far as the store is concerned.
    return respond(await backend(request).call(status_report, write=True))


async def list_projects(request: Request) -> Response:
    from voicegw_cli.reports import projects_overview

    rows = await backend(request).call(projects_overview)
    page, nxt = paged(request, "projects", rows, 100)
    return respond({"rows": page, "next_cursor": nxt})


def _fields(body: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """The project fields of a JSON body (numbers as text: budgets are exact decimals)."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise UsageError(f"unknown field(s): {', '.join(unknown)} (known: {', '.join(allowed)})")
    tags = body.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        raise UsageError("tags must be a list of strings")
    return {k: (str(v) if isinstance(v, int | float) else v) for k, v in body.items()}


async def create_project(request: Request) -> Response:
    from voicegw_cli import projects
    from voicegw_cli.projects import EDITABLE

    body = await _json_body(request)
    project_id = body.pop("id", None) or body.pop("project_id", None)
    if not isinstance(project_id, str) or not project_id:
        raise UsageError("give the project's id (field `id`)")
    given = _fields(body, EDITABLE)
    if not given.get("name"):
        raise UsageError("give the project's name (field `name`)")
    b = backend(request)

    def run(store: Any) -> Any:
        p = projects.create_project(store.config, store.conn, project_id, **given, actor=b.actor)
        return projects.project_record(p)

    return respond(await b.call(run, write=True), status=201)


async def get_project(request: Request) -> Response:
    from voicegw_cli.reports import project_detail

    pid = request.path_params["project_id"]
    return respond(await backend(request).call(lambda s: project_detail(s, pid)))


async def update_project(request: Request) -> Response:
    from voicegw_cli import projects
    from voicegw_cli.projects import EDITABLE

    pid = request.path_params["project_id"]
    body = await _json_body(request)
    dry_run = bool(body.pop("dry_run", False)) or _bool(request, "dry_run")
    changes = {k: v for k, v in _fields(body, EDITABLE).items() if v is not None}
    b = backend(request)

    def run(store: Any) -> Any:
        _, plan = projects.plan_update(store.config, store.conn, pid, changes)
        if not dry_run and plan.changed:
            projects.update_project(store.config, store.conn, pid, changes, actor=b.actor)
        rows = plan.as_rows()
        return {"project_id": pid, "applied": not dry_run and bool(rows), "rows": rows}

    return respond(await b.call(run, write=not dry_run))


async def delete_project(request: Request) -> Response:
    """Two-phase, like `voicegw projects delete` and the MCP tool: without confirm=true
    the answer is 409 CONFIRMATION_REQUIRED with the preview in `details`."""
    from voicegw_cli import projects
    from voicegw_cli.server.errors import error_response

    pid = request.path_params["project_id"]
    confirm = _bool(request, "confirm")
    b = backend(request)
    if not confirm:
        preview = await b.call(lambda s: projects.delete_preview(s.config, s.conn, pid))
        return error_response(
            "CONFIRMATION_REQUIRED",
            f"deleting project {pid!r} needs confirmation: send DELETE again with "
            "?confirm=true. Its line items are kept.",
            preview.as_dict(),
        )

    def run(store: Any) -> Any:
        done = projects.delete_project(store.config, store.conn, pid, actor=b.actor)
        return {"action": "deleted", **done.as_dict()}

    return respond(await b.call(run, write=True))


async def costs(request: Request) -> Response:
    from voicegw_cli.reports import check_project, cost_report
    from voicegw_cli.store.queries import GROUPS

    project = _q(request, "project")
    by = _q(request, "by") or "model"
    if by not in GROUPS:
        raise UsageError(f"by must be one of {', '.join(GROUPS)}, got {by!r}")

    def run(store: Any) -> Any:
        p = _period(store, request)
        if project:
            check_project(store, project)
        return cost_report(store, p, by=by, project=project)

    report = await backend(request).call(run)
    page, nxt = paged(request, "costs", report["rows"], MAX_LIMIT)
    return respond(with_rows(report, page, nxt))


LOG_FILTERS = ("project", "modality", "provider", "model")


async def logs(request: Request) -> Response:

    from voicegw_cli.items import MODALITIES
    from voicegw_cli.reports import log_items

    limit = _limit(request, 20)
    after = keyset(request, "logs", str)
    filters = {k: _q(request, k) for k in LOG_FILTERS}
    if filters["modality"] and filters["modality"] not in MODALITIES:
        raise UsageError(f"modality must be one of {', '.join(MODALITIES)}")
    session = _q(request, "session") or _q(request, "session_id")

    def run(store: Any) -> Any:
        return log_items(
            store,
            limit=limit + 1,
            since=_q(request, "since"),
            period=_q(request, "period"),
            start=_q(request, "start"),
            end=_q(request, "end"),
            after=after,
            session_id=session,
            **filters,
        )

    rows, nxt = next_keyset("logs", await backend(request).call(run), limit, "timestamp")
    return respond({"rows": rows, "next_cursor": nxt})


async def budgets(request: Request) -> Response:
    from voicegw_cli.budget import budget_check

    def run(store: Any) -> Any:
        return budget_check(
            store,
            period=_q(request, "period"),
            date_=_q(request, "date"),
            project=_q(request, "project"),
        ).as_dict()

    report = await backend(request).call(run)
    page, nxt = paged(request, "budgets", report["rows"], MAX_LIMIT)
    return respond(with_rows(report, page, nxt))


async def audit_log(request: Request) -> Response:

    from voicegw_cli.periods import parse_since
    from voicegw_cli.projects import audit_entries

    limit = _limit(request, 50)
    after = keyset(request, "audit", int)

    def run(store: Any) -> Any:
        since = _q(request, "since")
        return audit_entries(
            store.conn,
            limit=limit + 1,
            target=_q(request, "project"),
            action=_q(request, "action"),
            since=parse_since(since, store.config.tz) if since else None,
            after=after,
        )

    rows, nxt = next_keyset("audit", await backend(request).call(run), limit, "ts")
    return respond({"rows": rows, "next_cursor": nxt})


#: Largest upload accepted per file (provider exports are a few MB at most).
MAX_UPLOAD_BYTES = 64 * 1024 * 1024


async def reconcile(request: Request) -> Response:
    """Upload export files (multipart, field `file`, repeatable) with `provider` and the
    period (`period`, or `start` and `end`: UTC days); the body is exactly
    `voicegw reconcile --format json`."""
    from pathlib import Path

    from voicegw_cli import periods
    from voicegw_cli.reconcile import reconcile_uploads
    from voicegw_cli.wire import dumps

    try:
        form = await request.form(max_files=50, max_fields=50)
    except Exception as exc:  # malformed multipart, or too many parts
        raise UsageError(f"the body must be multipart/form-data: {exc}") from None
    fields = {k: v for k, v in form.items() if isinstance(v, str) and v != ""}
    uploads = [
        v for k, v in form.multi_items() if k in ("file", "files") and not isinstance(v, str)
    ]
    if not uploads:
        raise UsageError("upload at least one export file (form field `file`)")
    provider = fields.get("provider")
    if not provider:
        raise UsageError("give the provider (form field `provider`)")
    by = fields.get("by", "model")
    if by not in ("model", "day"):
        raise UsageError(f"by must be model or day, got {by!r}")
    metric = fields.get("metric", "credits")
    if metric not in ("credits", "characters"):
        raise UsageError(f"metric must be credits or characters, got {metric!r}")
    try:
        threshold = float(fields.get("threshold", "1.0"))
    except ValueError:
        raise UsageError("threshold must be a number (percent)") from None
    if threshold < 0:
        raise UsageError("threshold must be >= 0")
    b = backend(request)
    files = []
    for n, up in enumerate(uploads):
        data = await up.read()
        if len(data) > MAX_UPLOAD_BYTES:
            name = Path(up.filename or f"upload-{n}").name or f"upload-{n}"
            raise UsageError(f"{name}: larger than {MAX_UPLOAD_BYTES // 2**20} MB")
        files.append((up.filename or f"upload-{n}", data))
    config = b.config()
    span = periods.resolve(
        config.tz,
        period=fields.get("period"),
        start=fields.get("start"),
        end=fields.get("end"),
        utc=True,
        default=None,
    )

    def run() -> str:
        doc = reconcile_uploads(
            b.store,
            files,
            provider,
            span.start,
            span.end,
            project=fields.get("project"),
            by=by,
            threshold_pct=threshold,
            metric=metric,
        )
        return dumps(doc) + "\n"

    from starlette.concurrency import run_in_threadpool

    text = await run_in_threadpool(run)
    return Response(text, media_type="application/json")


EXPORT_MEDIA = {"csv": "text/csv", "ndjson": "application/x-ndjson", "json": "application/json"}


async def export_costs(request: Request) -> Response:
    """Every line item of the period, streamed as CSV (default), NDJSON or JSON: DuckDB
    writes into a pipe on a worker thread while the response reads the other end."""
    import os

    from starlette.concurrency import run_in_threadpool

    from voicegw_cli.export import export_costs as run_export
    from voicegw_cli.reports import check_project

    fmt = _q(request, "format") or "csv"
    if fmt not in EXPORT_MEDIA:
        raise UsageError(f"format must be one of {', '.join(EXPORT_MEDIA)}, got {fmt!r}")
    project = _q(request, "project")
    utc = _bool(request, "utc")
    b = backend(request)
    # Check everything before the first byte: after it, an error cannot change the status.
    p = await b.call(lambda s: _period(s, request, utc=utc, default=None))
    if project:
        await b.call(lambda s: check_project(s, project))
    read_fd, write_fd = os.pipe()
    writer = os.fdopen(write_fd, "wb")

    def produce() -> None:
        try:
            b.run(
                lambda s: run_export(
                    s.conn, p.start_utc, p.end_utc, fmt=fmt, project=project, stream=writer
                )
            )
        except Exception:
            import logging

            logging.getLogger("voicegw.server").exception("export-costs stream failed")
        finally:
            writer.close()

    import threading

    thread = threading.Thread(target=produce, name="voicegw-export", daemon=True)
    thread.start()
    reader = os.fdopen(read_fd, "rb")

    async def chunks():
        try:
            while True:
                chunk = await run_in_threadpool(reader.read1, 1 << 16)
                if not chunk:
                    break
                yield chunk
        finally:
            reader.close()  # the writer then sees a broken pipe and stops

    name = f"voicegw-costs-{p.start.isoformat()}-{p.end.isoformat()}.{fmt}"
    return StreamingResponse(
        chunks(),
        media_type=EXPORT_MEDIA[fmt],
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


async def latency(request: Request) -> Response:
    from voicegw_cli.latency import latency_report, parse_metrics
    from voicegw_cli.reports import check_project

    project = _q(request, "project")
    by = _q(request, "by") or "model"
    metrics = parse_metrics(request.query_params.getlist("metric") or None)

    def run(store: Any) -> Any:
        p = _period(store, request)
        if project:
            check_project(store, project)
        return latency_report(store, p, by=by, metrics=metrics, project=project)

    report = await backend(request).call(run)
    page, nxt = paged(request, "latency", report["rows"], MAX_LIMIT)
    return respond(with_rows(report, page, nxt))


async def calls(request: Request) -> Response:
    from voicegw_cli.calls import call_report
    from voicegw_cli.reports import check_project

    project = _q(request, "project")
    limit = _limit(request, 20)
    offset = _offset(request, "calls")

    def run(store: Any) -> Any:
        p = _period(store, request)
        if project:
            check_project(store, project)
        return call_report(
            store,
            p,
            project=project,
            by=_q(request, "by"),
            sort=_q(request, "sort") or "cost",
            top=offset + limit + 1,
        )

    report = await backend(request).call(run)
    rows = report["rows"]
    nxt = encode_cursor({"k": "calls", "o": offset + limit}) if len(rows) > offset + limit else None
    report["top"] = limit
    return respond(with_rows(report, rows[offset : offset + limit], nxt))


async def call_detail(request: Request) -> Response:
    from voicegw_cli.calls import call_detail as detail

    sid = request.path_params["session_id"]
    return respond(await backend(request).call(lambda s: detail(s, sid)))


async def metrics(request: Request) -> Response:
    from voicegw_cli.server.metrics import CONTENT_TYPE, render

    return Response(await render(backend(request)), media_type=CONTENT_TYPE)


async def openapi(request: Request) -> Response:
    from voicegw_cli.server.openapi import document

    return JSONResponse(document(request.app))


# ------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Param:
    name: str
    description: str
    type: str = "string"
    where: str = "query"
    enum: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True)
class Endpoint:
    path: str
    method: str
    handler: Callable[..., Any]
    summary: str
    cli: str | None = None  # the CLI command whose --format json this returns
    params: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None  # request body schema (JSON or multipart)
    response: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    media: str = "application/json"
    auth: bool = True
    write: bool = False
    errors: tuple[int, ...] = (400,)


def _list_of(row: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            **extra,
            "rows": {"type": "array", "items": row},
            "next_cursor": {"type": ["string", "null"], "description": "Pass as ?cursor="},
        },
        "required": ["rows", "next_cursor"],
    }


MONEY = {"type": ["string", "null"], "description": 'Exact decimal USD, e.g. "1.2300"'}
PERIOD = {"type": "object", "description": "label, start, end, timezone, start_utc, ..."}
PAGE = (
    Param("limit", "Rows per page.", "integer"),
    Param("cursor", "The next_cursor of the previous page."),
)
PERIOD_PARAMS = (
    Param("period", "today, yesterday, week, last-week, month, last-month, YYYY-MM, a day."),
    Param("start", "First local day YYYY-MM-DD (with end)."),
    Param("end", "Last local day, inclusive."),
    Param("project", "Only this project."),
)
PROJECT_ID = Param("project_id", "A project id.", where="path", required=True)
PROJECT_BODY = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "daily_budget": {"type": ["string", "number"]},
        "monthly_budget": {"type": ["string", "number"]},
        "budget_action": {"type": "string", "enum": ["warn", "throttle", "block"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "default_stack": {"type": "string"},
        "stt_model": {"type": "string"},
        "llm_model": {"type": "string"},
        "tts_model": {"type": "string"},
    },
}
COST_ROW = {
    "type": "object",
    "properties": {
        "items": {"type": "integer"},
        "cost_usd": MONEY,
        "unpriced_items": {"type": "integer"},
        "input_tokens": {"type": "integer"},
        "cached_input_tokens": {"type": "integer"},
        "output_tokens": {"type": "integer"},
        "audio_minutes": {"type": "number"},
        "characters": {"type": "integer"},
    },
}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "/health",
        "GET",
        health,
        "Liveness (no token needed).",
        response={
            "type": "object",
            "properties": {"status": {"type": "string"}, "version": {"type": "string"}},
        },
        auth=False,
        errors=(),
    ),
    Endpoint("/v1/status", "GET", status, "Config, store, spool backlog, projects.", "status"),
    Endpoint(
        "/v1/projects",
        "GET",
        list_projects,
        "Every project with today's spend and budget status.",
        "projects",
        PAGE,
        response=_list_of({"type": "object"}),
    ),
    Endpoint(
        "/v1/projects",
        "POST",
        create_project,
        "Create a runtime project (201).",
        "projects create",
        body=PROJECT_BODY,
        write=True,
        errors=(400, 409),
    ),
    Endpoint(
        "/v1/projects/{project_id}",
        "GET",
        get_project,
        "One project in depth: budgets, spend, models, keys (masked).",
        "project",
        (PROJECT_ID,),
        errors=(404,),
    ),
    Endpoint(
        "/v1/projects/{project_id}",
        "PATCH",
        update_project,
        "Change a runtime project; rows say old -> new (dry_run: only say).",
        "projects update",
        (PROJECT_ID, Param("dry_run", "Only say what would change.", "boolean")),
        body={
            **PROJECT_BODY,
            "properties": {**PROJECT_BODY["properties"], "dry_run": {"type": "boolean"}},
        },
        write=True,
        errors=(400, 404, 409),
    ),
    Endpoint(
        "/v1/projects/{project_id}",
        "DELETE",
        delete_project,
        "Delete a runtime project: without confirm=true, 409 CONFIRMATION_REQUIRED with "
        "the preview in error.details.",
        "projects delete",
        (PROJECT_ID, Param("confirm", "true to delete; else a preview.", "boolean")),
        write=True,
        errors=(404, 409),
    ),
    Endpoint(
        "/v1/costs",
        "GET",
        costs,
        "Cost and units per group for a period.",
        "costs",
        (
            *PERIOD_PARAMS,
            Param("by", "Group rows by.", enum=("provider", "model", "modality", "project", "day")),
            *PAGE,
        ),
        response=_list_of(COST_ROW, period=PERIOD, total_cost_usd=MONEY, items={"type": "integer"}),
        errors=(400, 404),
    ),
    Endpoint(
        "/v1/logs",
        "GET",
        logs,
        "The newest line items first.",
        "logs",
        (
            Param("project", "Only this project."),
            Param("modality", "stt, llm, tts or realtime."),
            Param("provider", "e.g. openai."),
            Param("model", "A model name."),
            Param("session", "One session id."),
            Param("since", "A date, date-time or duration (2h, 7d)."),
            Param("period", "A period word (instead of since)."),
            Param("start", "First local day."),
            Param("end", "Last local day."),
            *PAGE,
        ),
        response=_list_of({"type": "object"}),
        errors=(400, 404),
    ),
    Endpoint(
        "/v1/budgets",
        "GET",
        budgets,
        "Spend against each project's daily (or monthly) budget.",
        "budget check",
        (
            Param("period", "A day (today, YYYY-MM-DD) or a month (month, YYYY-MM)."),
            Param("date", "With period=day|month: a local day in it."),
            Param("project", "Only this project."),
            *PAGE,
        ),
        response=_list_of({"type": "object"}, period=PERIOD, over_budget={"type": "array"}),
        errors=(400, 404),
    ),
    Endpoint(
        "/v1/audit-log",
        "GET",
        audit_log,
        "Who changed which project, key or secret, newest first.",
        "audit",
        (
            Param("project", "Changes to this project."),
            Param("action", "Action prefix (project, provider_key, ...)."),
            Param("since", "A date, date-time or duration."),
            *PAGE,
        ),
        response=_list_of({"type": "object"}),
    ),
    Endpoint(
        "/v1/reconcile",
        "POST",
        reconcile,
        "Upload provider exports (multipart `file`, repeatable) and get the reconcile report.",
        "reconcile --format json",
        body={
            "type": "object",
            "properties": {
                "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
                "provider": {"type": "string"},
                "period": {"type": "string"},
                "start": {"type": "string", "description": "First UTC day."},
                "end": {"type": "string", "description": "Last UTC day."},
                "project": {"type": "string"},
                "by": {"type": "string", "enum": ["model", "day"]},
                "threshold": {"type": "number"},
                "metric": {"type": "string", "enum": ["credits", "characters"]},
            },
            "required": ["file", "provider"],
            "x-media": "multipart/form-data",
        },
        write=True,
        errors=(400, 404, 422),
    ),
    Endpoint(
        "/v1/export-costs",
        "GET",
        export_costs,
        "Every line item of the period, streamed.",
        "export-costs",
        (
            *PERIOD_PARAMS,
            Param("format", "csv (default), ndjson or json.", enum=("csv", "ndjson", "json")),
            Param("utc", "Read the period's days in UTC.", "boolean"),
        ),
        response={"type": "string"},
        media="text/csv",
        errors=(400, 404),
    ),
    Endpoint(
        "/v1/latency",
        "GET",
        latency,
        "Latency percentiles (ms) per metric and group.",
        "latency",
        (
            *PERIOD_PARAMS,
            Param("by", "Group rows by.", enum=("model", "provider", "project", "day")),
            Param("metric", "Repeatable: transcription_delay, llm_ttft, tts_ttfb, ..."),
            *PAGE,
        ),
        response=_list_of({"type": "object"}, period=PERIOD),
        errors=(400, 404),
    ),
    Endpoint(
        "/v1/calls",
        "GET",
        calls,
        "The period's calls ranked, or grouped by an attribute, agent, project or day.",
        "calls",
        (
            *PERIOD_PARAMS,
            Param("by", "customer, plan (any attribute), agent, project or day."),
            Param("sort", "Rank by.", enum=("cost", "duration", "cost_per_minute")),
            *PAGE,
        ),
        response=_list_of({"type": "object"}, period=PERIOD, total_cost_usd=MONEY),
        errors=(400, 404),
    ),
    Endpoint(
        "/v1/calls/{session_id}",
        "GET",
        call_detail,
        "One call in full: line items, latency by turn, errors.",
        "calls show",
        (Param("session_id", "A call's session id.", where="path", required=True),),
        errors=(404,),
    ),
    Endpoint(
        "/v1/metrics",
        "GET",
        metrics,
        "Prometheus metrics (text exposition format).",
        response={"type": "string"},
        media="text/plain",
        errors=(),
    ),
    Endpoint(
        "/openapi.json",
        "GET",
        openapi,
        "This document.",
        errors=(),
    ),
)


#: Reports a dashboard polls: repeated asks are answered from `cache.ResponseCache`.
CACHED = frozenset({list_projects, get_project, costs, logs, budgets, latency, calls, call_detail})


def routes() -> list[BaseRoute]:
    from voicegw_cli.server.cache import cached

    by_path: dict[str, dict[str, Callable[..., Any]]] = {}
    for e in ENDPOINTS:
        fn = cached(e.handler) if e.handler in CACHED else e.handler
        by_path.setdefault(e.path, {})[e.method] = fn
    out: list[BaseRoute] = []
    for path, handlers in by_path.items():
        if len(handlers) == 1:
            ((method, fn),) = handlers.items()
            out.append(Route(path, fn, methods=[method]))
        else:
            out.append(Route(path, _dispatch(handlers), methods=list(handlers)))
    return out


def _dispatch(handlers: dict[str, Callable[..., Any]]) -> Callable[..., Any]:
    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return endpoint
