"""The MCP server: voicegw's projects, costs and budgets as tools for a coding agent.

Built on the official `mcp` package (2.x `MCPServer`). Every tool is a thin shell over the
library (`voicegw_cli.projects`, `reports`, `budget`, `reconcile`), so the CLI and the agent
see the same rules. Each call loads the config afresh (YAML edits show up without a
restart) and opens the store only for the call, because DuckDB admits one process at a
time and the CLI must not be locked out by an idle server.

Errors are tool results with `isError: true` and a structured payload, the same in
`structuredContent` and (as JSON) in the text content:

    {"error": {"code": "PROJECT_NOT_FOUND", "message": "...", "details": {...}}}

Project tools follow the seed's Project Tools page: `list_projects`, `get_project`,
`create_project`, `delete_project` (two-phase: without `confirm=true` it answers
`CONFIRMATION_REQUIRED` with the preview in `details`). Provider and model tools follow the
seed's names: `list_providers`, `get_provider`, `test_provider`, `add_provider`,
`delete_provider`, `list_models`, `register_model`, `delete_model` (deletes two-phase too),
over `voicegw_cli.gateway`. A key sent to `add_provider` is stored encrypted and never
returned; records show keys masked at most.

The HTTP transport (streamable HTTP at `/mcp`) requires a bearer token from
`VOICEGW_MCP_TOKEN`, compared in constant time; without it every request gets 401.
"""

import hmac
import json
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from voicegw_cli import __version__, clock
from voicegw_cli.errors import (
    InputError,
    NotFoundError,
    UsageError,
    VoicegwError,
    error_code,
)

TOKEN_ENV = "VOICEGW_MCP_TOKEN"
MIN_TOKEN_LENGTH = 16
MAX_LOG_ITEMS = 500

INSTRUCTIONS = (
    "voicegw prices LiveKit voice-agent usage per project. Use list_projects/get_project to "
    "see projects with today's spend and budget status, create_project to add one, and "
    "delete_project (preview first, then confirm=true after the user agrees) to remove a "
    "runtime project. get_costs, get_logs, get_budget_status and reconcile_summary report "
    "spend; get_calls ranks calls (or groups them by customer or any call attribute), "
    "get_latency_stats gives p50/p95/p99 of what LiveKit measured per turn (TTFT, TTFB, "
    "end-to-end), get_provider_status each provider's recent error rate and latency, "
    "get_health whether voicegw is recording. list_providers/get_provider/test_provider/"
    "add_provider/delete_provider and list_models/register_model/delete_model manage the "
    "providers and models agents build plugins for. Money is in US dollars; latency in "
    "milliseconds; periods follow the configured time zone."
)


# ------------------------------------------------------------------ output shapes


# The seed's MCP field names are kept as published: `*_requests` count line items (the
# CLI and JSON outputs call them `*_items`).
class ProjectSummary(TypedDict):
    id: str
    name: str
    description: str
    daily_budget: float
    budget_action: str
    budget_status: str
    today_spend: float
    today_requests: int
    today_calls: int
    tags: list[str]
    default_stack: str | None
    source: str


class ProjectList(TypedDict):
    projects: list[ProjectSummary]
    count: int


class ProjectDetail(TypedDict):
    id: str
    name: str
    description: str
    daily_budget: float
    budget_action: str
    budget_status: str
    today_spend: float
    today_requests: int
    week_spend: float
    week_requests: int
    tags: list[str]
    default_stack: str | None
    stt_model: str | None
    llm_model: str | None
    tts_model: str | None
    source: str


class CreatedProject(TypedDict):
    project_id: str
    name: str
    description: str
    daily_budget: float
    monthly_budget: float
    budget_action: str
    default_stack: str | None
    stt_model: str | None
    llm_model: str | None
    tts_model: str | None
    tags: list[str]
    source: str
    created: bool
    created_at: float


class FieldChange(TypedDict):
    field: str
    old: Any
    new: Any


class UpdatedProject(TypedDict):
    project_id: str
    applied: bool
    changes: list[FieldChange]


class DeletedProject(TypedDict):
    action: str
    project_id: str
    total_spend_usd: float
    total_requests: int


class ProviderSummary(TypedDict):
    provider_id: str
    provider_type: str
    display_name: str
    source: str
    type: str
    modalities: list[str]
    enabled: bool
    key_source: str
    api_key_masked: str | None
    base_url: str | None
    billing_provider: str
    plugin_package: str
    plugin_installed: bool


class ProviderList(TypedDict):
    providers: list[ProviderSummary]
    count: int


class ProviderDetail(ProviderSummary):
    model_count: int
    models: list[str]
    env_vars: list[str]
    referenced_by: list[str]


class ProviderTest(TypedDict):
    provider_id: str
    project: str
    model_id: str
    modality: str
    status: str
    constructed: bool
    plugin: str | None
    key_source: str | None
    live: bool
    latency_ms: int | None
    error: str | None


class AddedProvider(TypedDict):
    provider_id: str
    provider_type: str
    source: str
    base_url: str | None
    key_stored: bool
    key_source: str
    created: bool
    created_at: float


class DeletedProvider(TypedDict):
    action: str
    provider_id: str
    provider_type: str
    model_count: int
    models: list[str]
    key_stored: bool


class ModelSummary(TypedDict):
    model_id: str
    modality: str
    provider_id: str
    model_name: str
    default_voice: str | None
    source: str
    pricing: str | None


class ModelList(TypedDict):
    models: list[ModelSummary]
    count: int


class RegisteredModel(ModelSummary):
    created: bool


class DeletedModel(TypedDict):
    action: str
    model_id: str
    modality: str
    provider_id: str


class CostRow(TypedDict):
    group: str | None
    items: int
    cost_usd: float | None  # null: nothing in the group is priced (never a silent $0)
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    audio_minutes: float
    characters: int
    unpriced_items: int


class CostReport(TypedDict):
    period: dict[str, str]
    project: str | None
    group_by: str
    total_cost_usd: float
    items: int
    unpriced_items: int
    rows: list[CostRow]


class LatencyRow(TypedDict):
    metric: str
    group: str | None
    count: int
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


class LatencyStats(TypedDict):
    period: dict[str, str]
    project: str | None
    group_by: str
    unit: str
    metrics: dict[str, str]
    rows: list[LatencyRow]


class CallList(TypedDict):
    period: dict[str, str]
    project: str | None
    group_by: str | None
    sort: str
    calls: int
    minutes: float
    items: int
    total_cost_usd: float
    cost_per_minute: float | None
    rows: list[dict[str, Any]]


class LogPage(TypedDict):
    items: list[dict[str, Any]]
    count: int


class BudgetRow(TypedDict):
    project: str
    period: str
    start: str
    end: str
    spend_usd: float
    budget_usd: float | None
    percent: float | None
    status: str
    action: str


class BudgetReport(TypedDict):
    timezone: str
    date: str
    budgets: list[BudgetRow]


# ------------------------------------------------------------------ errors


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp() if value.tzinfo else value.replace(tzinfo=UTC).timestamp()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def error_result(code: str, message: str, details: dict[str, Any] | None = None) -> CallToolResult:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = _jsonable(details)
    payload = {"error": body}
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(payload))],
        structured_content=payload,
        is_error=True,
    )


def _money(value: Any) -> float:
    return float(value or 0)


# ------------------------------------------------------------------ backend


class Backend:
    """Config and store for one tool call. Calls are serialised: tools run on worker
    threads, and one process should hold the DuckDB file once."""

    def __init__(self, config_path: Path | None, channel: str) -> None:
        from voicegw_cli.projects import default_actor

        self.config_path = config_path
        self.actor = default_actor(f"mcp-{channel}")
        self._lock = threading.Lock()

    def config(self) -> Any:
        from voicegw_cli.config import load_config

        return load_config(self.config_path)

    def store(self, config: Any) -> Any:
        from voicegw_cli.store import Store

        return Store.open(config)

    def guarded(self, fn: Callable[[], Any]) -> Any:
        """Run `fn()` alone; a library failure becomes an error result."""
        try:
            with self._lock:
                return fn()
        except VoicegwError as exc:
            return error_result(error_code(exc), str(exc), getattr(exc, "details", None))

    def call(self, fn: Callable[[Any, Any], Any]) -> Any:
        """Run `fn(config, store)` with the store open for just this call."""

        def run() -> Any:
            config = self.config()
            with self.store(config) as store:
                return fn(config, store)

        return self.guarded(run)


# ------------------------------------------------------------------ tool bodies


def _summaries(config: Any, store: Any) -> list[ProjectSummary]:
    from voicegw_cli.config import merged_projects
    from voicegw_cli.reports import projects_overview

    projects = merged_projects(config, store.conn)
    out: list[ProjectSummary] = []
    for row in projects_overview(store):
        p = projects.get(row["id"])
        if p is None:  # usage under an id no project configures: not a project
            continue
        out.append(
            ProjectSummary(
                id=row["id"],
                name=row["name"],
                description=p.description,
                daily_budget=_money(row["daily_budget"]),
                budget_action=row["budget_action"],
                budget_status=row["budget_status"],
                today_spend=_money(row["today_spend"]),
                today_requests=int(row["today_items"]),
                today_calls=int(row["today_calls"]),
                tags=list(row["tags"]),
                default_stack=row["default_stack"],
                source=row["source"],
            )
        )
    return out


def _detail(config: Any, store: Any, project_id: str) -> ProjectDetail:
    from voicegw_cli.projects import get_project
    from voicegw_cli.reports import project_detail

    get_project(config, store.conn, project_id)  # configured projects only
    d = project_detail(store, project_id)
    return ProjectDetail(
        id=d["id"],
        name=d["name"],
        description=d["description"],
        daily_budget=_money(d["daily_budget"]),
        budget_action=d["budget_action"],
        budget_status=d["budget_status"],
        today_spend=_money(d["today_spend"]),
        today_requests=int(d["today_items"]),
        week_spend=_money(d["week_spend"]),
        week_requests=int(d["week_items"]),
        tags=list(d["tags"]),
        default_stack=d["default_stack"],
        stt_model=d["stt_model"],
        llm_model=d["llm_model"],
        tts_model=d["tts_model"],
        source=d["source"],
    )


def _period(config: Any, period: str, start: str | None, end: str | None) -> Any:
    from voicegw_cli import periods

    name = (period or "today").strip().lower()
    if start or end:
        return periods.choose(config.tz, start=start, end=end)
    if name == "yesterday":
        ref = periods.local_today(config.tz) - timedelta(days=1)
        return periods.day(ref, config.tz)
    if name not in ("today", "week", "month"):
        raise UsageError(
            f"period must be today, yesterday, week or month (or give start and end), got "
            f"{period!r}"
        )
    return periods.choose(
        config.tz, today=name == "today", week_=name == "week", month_=name == "month"
    )


def _costs(
    config: Any,
    store: Any,
    period: str,
    project: str | None,
    start: str | None,
    end: str | None,
    group_by: str,
) -> CostReport:
    from voicegw_cli.reports import check_project, cost_report
    from voicegw_cli.store.queries import GROUPS

    if group_by not in GROUPS:
        raise UsageError(f"group_by must be one of {', '.join(GROUPS)}, got {group_by!r}")
    p = _period(config, period, start, end)
    if project:
        try:
            check_project(store, project)
        except NotFoundError as exc:
            from voicegw_cli.projects import ProjectNotFoundError

            raise ProjectNotFoundError(str(exc), project_id=project) from None
    report = cost_report(store, p, by=group_by, project=project or None)
    rows = [
        CostRow(
            group=None if r[group_by] is None else str(r[group_by]),
            items=int(r["items"]),
            cost_usd=None if r["cost_usd"] is None else _money(r["cost_usd"]),
            input_tokens=r["input_tokens"],
            cached_input_tokens=r["cached_input_tokens"],
            cache_write_tokens=r["cache_write_tokens"],
            output_tokens=r["output_tokens"],
            audio_minutes=r["audio_minutes"],
            characters=r["characters"],
            unpriced_items=int(r["unpriced_items"]),
        )
        for r in report["rows"]
    ]
    return CostReport(
        period=report["period"],
        project=project or None,
        group_by=group_by,
        total_cost_usd=_money(report["total_cost_usd"]),
        items=int(report["items"]),
        unpriced_items=int(report["unpriced"]["items"]),
        rows=rows,
    )


def _project_known(store: Any, project: str | None) -> None:
    from voicegw_cli.reports import check_project

    if project:
        try:
            check_project(store, project)
        except NotFoundError as exc:
            from voicegw_cli.projects import ProjectNotFoundError

            raise ProjectNotFoundError(str(exc), project_id=project) from None


def _any_period(config: Any, period: str | None, start: str | None, end: str | None) -> Any:
    """The shared period words (today, week, last-month, 2026-11, ...) or start/end."""
    from voicegw_cli import periods

    word = None if (start or end) else period
    return periods.resolve(config.tz, period=word, start=start, end=end)


def _latency(
    config: Any,
    store: Any,
    period: str,
    project: str | None,
    start: str | None,
    end: str | None,
    group_by: str,
    metrics: list[str] | None,
) -> LatencyStats:
    from voicegw_cli.latency import latency_report, parse_metrics

    chosen = parse_metrics(metrics)
    p = _any_period(config, period, start, end)
    _project_known(store, project)
    report = latency_report(store, p, by=group_by, metrics=chosen, project=project or None)
    rows = [
        LatencyRow(
            metric=r["metric"],
            group=None if r[group_by] is None else str(r[group_by]),
            **{k: r[k] for k in ("count", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms")},
        )
        for r in report["rows"]
    ]
    return LatencyStats(
        period=report["period"],
        project=project or None,
        group_by=group_by,
        unit="ms",
        metrics=report["metrics"],
        rows=rows,
    )


def _calls(
    config: Any,
    store: Any,
    period: str,
    project: str | None,
    start: str | None,
    end: str | None,
    group_by: str | None,
    sort: str,
    top: int,
) -> CallList:
    from voicegw_cli.calls import call_report

    p = _any_period(config, period, start, end)
    _project_known(store, project)
    report = call_report(store, p, project=project or None, by=group_by or None, sort=sort, top=top)
    return CallList(
        period=report["period"],
        project=project or None,
        group_by=group_by or None,
        sort=sort,
        calls=int(report["calls"]),
        minutes=float(report["minutes"]),
        items=int(report["items"]),
        total_cost_usd=_money(report["total_cost_usd"]),
        cost_per_minute=None
        if report["cost_per_minute"] is None
        else float(report["cost_per_minute"]),
        rows=[_jsonable(_utc(r)) for r in report["rows"]],
    )


def _utc(row: dict[str, Any]) -> dict[str, Any]:
    """Naive store times as ISO-8601 UTC strings (MCP clients read text, not epochs)."""
    out = {}
    for k, v in row.items():
        if isinstance(v, datetime):
            v = (v if v.tzinfo else v.replace(tzinfo=UTC)).isoformat()
        elif isinstance(v, list):
            v = [_utc(x) if isinstance(x, dict) else x for x in v]
        out[k] = v
    return out


def _log_item(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key == "timestamp" and isinstance(value, datetime):
            out[key] = value.replace(tzinfo=UTC).isoformat()
        elif key == "metadata" and isinstance(value, str):
            try:
                out[key] = json.loads(value)
            except ValueError:
                out[key] = value
        elif isinstance(value, Decimal):
            out[key] = float(value)
        else:
            out[key] = value
    return out


def _budgets(config: Any, store: Any, project: str | None) -> BudgetReport:
    from voicegw_cli import periods
    from voicegw_cli.budget import check_store
    from voicegw_cli.config import merged_projects

    projects = merged_projects(config, store.conn)
    if project and project not in projects:
        from voicegw_cli.projects import get_project

        get_project(config, store.conn, project)  # raises PROJECT_NOT_FOUND with hints
    today = periods.local_today(config.tz)
    rows: list[BudgetRow] = []
    for period in ("day", "month"):
        for st in check_store(
            store.conn, config, period=period, day=today, projects=projects, only=project
        ):
            if st.project not in projects:
                continue
            rows.append(
                BudgetRow(
                    project=st.project,
                    period=st.period,
                    start=st.start.isoformat(),
                    end=st.end.isoformat(),
                    spend_usd=_money(st.spend),
                    budget_usd=None if st.budget is None else float(st.budget),
                    percent=None if st.percent is None else float(st.percent),
                    status=st.status,
                    action=st.action,
                )
            )
    rows.sort(key=lambda r: (r["project"], r["period"]))
    return BudgetReport(timezone=config.timezone, date=today.isoformat(), budgets=rows)


def _reconcile(
    backend: Backend,
    provider: str,
    path: str,
    start: str,
    end: str,
    project: str | None,
    by: str,
    threshold_pct: float,
) -> dict[str, Any]:
    """The `voicegw reconcile` pipeline (the reconcile room's library), as a summary.

    The export is read before the store is opened, as the CLI does, so a bad file never
    holds the store."""
    from voicegw_cli.periods import parse_date
    from voicegw_cli.reconcile import reconcile_files

    if by not in ("model", "day"):
        raise UsageError(f"by must be model or day, got {by!r}")
    if threshold_pct < 0:
        raise UsageError(f"threshold_pct must be >= 0, got {threshold_pct}")
    first, last = parse_date(start, "start"), parse_date(end, "end")
    if first > last:
        raise UsageError(f"start {first} is after end {last}")
    config = backend.config()
    file = Path(path).expanduser()
    if not file.is_absolute():
        file = (config.root / file).resolve()
    if not file.exists():
        raise InputError(file, None, "no such file")
    result = reconcile_files(
        lambda: backend.store(config),
        [file],
        provider,
        first,
        last,
        project=project,
        by=by,
        threshold_pct=threshold_pct,
    )
    return _jsonable(result.as_dict())


# ------------------------------------------------------------------ the server


def build_server(config_path: Path | None = None, *, channel: str = "stdio") -> MCPServer:
    """The voicegw MCP server; `channel` (stdio/http) names the actor in the audit log."""
    backend = Backend(config_path, channel)
    server: MCPServer = MCPServer(
        "voicegw", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)

    @server.tool(annotations=read_only)
    def list_projects() -> ProjectList:
        """List every project (voicegw.yaml and runtime) with today's spend, request count
        and budget status."""

        def body(config: Any, store: Any) -> ProjectList:
            rows = _summaries(config, store)
            return ProjectList(projects=rows, count=len(rows))

        return backend.call(body)

    @server.tool(annotations=read_only)
    def get_project(
        project_id: Annotated[str, Field(description="The ID of the project to fetch.")],
    ) -> ProjectDetail:
        """Full details for one project: budget, status, today's and this week's spend and
        requests, tags, default stack or explicit models, and source (yaml or db).
        Errors: PROJECT_NOT_FOUND."""
        return backend.call(lambda c, s: _detail(c, s, project_id))

    @server.tool(
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=False
        )
    )
    def create_project(
        project_id: Annotated[
            str, Field(description="Unique identifier (kebab-case recommended).")
        ],
        name: Annotated[str, Field(description="Human-readable name.")],
        description: Annotated[str, Field(description="Long description.")] = "",
        daily_budget: Annotated[
            float, Field(description="USD limit per day (0 = unlimited). Must be >= 0.")
        ] = 0.0,
        monthly_budget: Annotated[
            float,
            Field(description="USD limit per calendar month (0 = unlimited). Must be >= 0."),
        ] = 0.0,
        budget_action: Annotated[
            str,
            Field(
                description='"warn" logs when exceeded, "throttle" falls back to the '
                'fallback stack, "block" refuses new sessions.'
            ),
        ] = "warn",
        stt_model: Annotated[
            str | None, Field(description="Explicit STT model ID, e.g. deepgram/nova-3.")
        ] = None,
        llm_model: Annotated[
            str | None, Field(description="Explicit LLM model ID, e.g. openai/gpt-4o-mini.")
        ] = None,
        tts_model: Annotated[
            str | None, Field(description="Explicit TTS model ID, e.g. cartesia/sonic-3.")
        ] = None,
        default_stack: Annotated[
            str | None, Field(description='Named stack from voicegw.yaml (e.g. "premium").')
        ] = None,
        tags: Annotated[list[str] | None, Field(description="Labels for grouping.")] = None,
    ) -> CreatedProject:
        """Create a project for cost tracking and budgets. Set either default_stack or the
        explicit stt_model/llm_model/tts_model, not both. Errors: PROJECT_ALREADY_EXISTS,
        MODEL_NOT_FOUND, VALIDATION_ERROR."""
        from voicegw_cli import projects

        def body(config: Any, store: Any) -> CreatedProject:
            p = projects.create_project(
                config,
                store.conn,
                project_id,
                name=name,
                description=description,
                daily_budget=daily_budget,
                monthly_budget=monthly_budget,
                budget_action=budget_action,
                tags=tags,
                default_stack=default_stack,
                stt_model=stt_model,
                llm_model=llm_model,
                tts_model=tts_model,
                actor=backend.actor,
            )
            times = projects.db_project_times(store.conn, p.id)
            return CreatedProject(
                project_id=p.id,
                name=p.name,
                description=p.description,
                daily_budget=_money(p.daily_budget),
                monthly_budget=_money(p.monthly_budget),
                budget_action=p.budget_action,
                default_stack=p.default_stack,
                stt_model=p.stt_model,
                llm_model=p.llm_model,
                tts_model=p.tts_model,
                tags=list(p.tags),
                source="db",
                created=True,
                created_at=times[0].timestamp() if times else clock.time(),
            )

        return backend.call(body)

    @server.tool(
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=True
        )
    )
    def update_project(
        project_id: Annotated[str, Field(description="A runtime (db) project id.")],
        name: Annotated[str | None, Field(description="New name.")] = None,
        description: Annotated[str | None, Field(description="New description.")] = None,
        daily_budget: Annotated[float | None, Field(description="USD per day, >= 0.")] = None,
        monthly_budget: Annotated[
            float | None, Field(description="USD per calendar month, >= 0.")
        ] = None,
        budget_action: Annotated[
            str | None, Field(description='"warn", "throttle" or "block".')
        ] = None,
        tags: Annotated[list[str] | None, Field(description="Replace the tags.")] = None,
        default_stack: Annotated[
            str | None, Field(description="Switch to this stack (clears explicit models).")
        ] = None,
        stt_model: Annotated[str | None, Field(description="Explicit STT model.")] = None,
        llm_model: Annotated[str | None, Field(description="Explicit LLM model.")] = None,
        tts_model: Annotated[str | None, Field(description="Explicit TTS model.")] = None,
        dry_run: Annotated[
            bool, Field(description="Only say what would change; write nothing.")
        ] = False,
    ) -> UpdatedProject:
        """Change a runtime project; only the fields given change, and each change is
        returned old -> new. Setting one model on a stack project keeps the stack's other
        models. YAML projects are read-only. Errors: PROJECT_NOT_FOUND, READ_ONLY_RESOURCE,
        MODEL_NOT_FOUND, VALIDATION_ERROR."""
        from voicegw_cli import projects

        given = {
            "name": name,
            "description": description,
            "daily_budget": daily_budget,
            "monthly_budget": monthly_budget,
            "budget_action": budget_action,
            "tags": tags,
            "default_stack": default_stack,
            "stt_model": stt_model,
            "llm_model": llm_model,
            "tts_model": tts_model,
        }
        changes = {k: v for k, v in given.items() if v is not None}

        def body(config: Any, store: Any) -> UpdatedProject:
            _, plan = projects.plan_update(config, store.conn, project_id, changes)
            if not dry_run and plan.changed:
                projects.update_project(
                    config, store.conn, project_id, changes, actor=backend.actor
                )
            rows = [
                FieldChange(field=r["field"], old=_jsonable(r["old"]), new=_jsonable(r["new"]))
                for r in plan.as_rows()
            ]
            return UpdatedProject(
                project_id=project_id, applied=not dry_run and bool(rows), changes=rows
            )

        return backend.call(body)

    @server.tool(
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=False
        )
    )
    def delete_project(
        project_id: Annotated[str, Field(description="The ID of the project to delete.")],
        confirm: Annotated[
            bool, Field(description="Must be true to delete. Default returns a preview.")
        ] = False,
    ) -> DeletedProject:
        """Delete a runtime project (source "db"). Two-phase: without confirm=true it
        returns a CONFIRMATION_REQUIRED error whose details preview the impact (all-time
        spend, requests, last activity); show it to the user and call again with
        confirm=true only after they agree. Line items (request logs) are never deleted.
        YAML projects are read-only. Errors: PROJECT_NOT_FOUND, READ_ONLY_RESOURCE,
        CONFIRMATION_REQUIRED."""
        from voicegw_cli import projects

        def body(config: Any, store: Any) -> Any:
            if not confirm:
                preview = projects.delete_preview(config, store.conn, project_id)
                return error_result(
                    "CONFIRMATION_REQUIRED",
                    f"deleting project {project_id!r} needs confirmation: call delete_project "
                    "again with confirm=true. Its line items are kept.",
                    {
                        "project_id": preview.project_id,
                        "total_spend_usd": preview.total_spend_usd,
                        "total_requests": preview.total_items,
                        "last_activity": preview.last_activity,
                    },
                )
            done = projects.delete_project(config, store.conn, project_id, actor=backend.actor)
            return DeletedProject(
                action="deleted",
                project_id=done.project_id,
                total_spend_usd=_money(done.total_spend_usd),
                total_requests=done.total_items,
            )

        return backend.call(body)

    _register_gateway_tools(server, backend, read_only)

    @server.tool(annotations=read_only)
    def get_costs(
        period: Annotated[
            str, Field(description="today, yesterday, week or month (calendar, local zone).")
        ] = "today",
        project: Annotated[str | None, Field(description="Only this project.")] = None,
        start: Annotated[
            str | None, Field(description="First day YYYY-MM-DD (with end; overrides period).")
        ] = None,
        end: Annotated[str | None, Field(description="Last day YYYY-MM-DD, inclusive.")] = None,
        group_by: Annotated[
            str, Field(description="provider, model, modality, project or day.")
        ] = "model",
    ) -> CostReport:
        """Spend and native units (tokens, audio minutes, characters) for a period, grouped.
        The period names its bounds and time zone. Errors: PROJECT_NOT_FOUND,
        VALIDATION_ERROR."""
        return backend.call(lambda c, s: _costs(c, s, period, project, start, end, group_by))

    @server.tool(annotations=read_only)
    def get_logs(
        project: Annotated[str | None, Field(description="Only this project.")] = None,
        modality: Annotated[str | None, Field(description="stt, llm, tts or realtime.")] = None,
        provider: Annotated[str | None, Field(description="e.g. openai.")] = None,
        model: Annotated[str | None, Field(description="Model name without provider.")] = None,
        session_id: Annotated[str | None, Field(description="One agent session.")] = None,
        since: Annotated[
            str | None, Field(description="A date, ISO date-time, or duration like 2h or 7d.")
        ] = None,
        limit: Annotated[int, Field(description="At most this many (1-500).", ge=1)] = 20,
    ) -> LogPage:
        """The most recent line items (one per metered request), newest first, with units,
        cost and pricing source."""
        from voicegw_cli.periods import parse_since
        from voicegw_cli.store.queries import recent_items

        def body(config: Any, store: Any) -> LogPage:
            rows = recent_items(
                store.conn,
                limit=min(int(limit), MAX_LOG_ITEMS),
                since=parse_since(since, config.tz) if since else None,
                project=project,
                modality=modality,
                provider=provider,
                model=model,
                session_id=session_id,
            )
            items = [_log_item(r) for r in rows]
            return LogPage(items=items, count=len(items))

        return backend.call(body)

    @server.tool(annotations=read_only)
    def get_calls(
        period: Annotated[
            str,
            Field(description="today, yesterday, week, last-week, month, last-month, YYYY-MM."),
        ] = "today",
        project: Annotated[str | None, Field(description="Only this project.")] = None,
        start: Annotated[
            str | None, Field(description="First day YYYY-MM-DD (with end; overrides period).")
        ] = None,
        end: Annotated[str | None, Field(description="Last day YYYY-MM-DD, inclusive.")] = None,
        group_by: Annotated[
            str | None,
            Field(
                description="None for single calls; or a call attribute such as customer "
                "or plan, or agent, project, day."
            ),
        ] = None,
        sort: Annotated[str, Field(description="cost, duration or cost_per_minute.")] = "cost",
        top: Annotated[int, Field(description="At most this many rows (1-500).", ge=1)] = 20,
        session_id: Annotated[
            str | None,
            Field(description="One call in full: line items, latency turn by turn, errors."),
        ] = None,
    ) -> dict[str, Any]:
        """What calls cost: the period's top calls by cost, duration or cost per minute
        (each with cost by modality, minutes, items, attributes, end reason), or calls
        grouped by customer (any attribute set with track(attributes=...)), agent,
        project or day. With session_id, that one call in full. Errors: NOT_FOUND,
        VALIDATION_ERROR (an unknown group lists the known attributes),
        PROJECT_NOT_FOUND."""
        from voicegw_cli.calls import call_detail

        if session_id:
            return backend.call(lambda c, s: _jsonable(_utc(call_detail(s, session_id))))
        return backend.call(
            lambda c, s: _calls(c, s, period, project, start, end, group_by, sort, min(top, 500))
        )

    @server.tool(annotations=read_only)
    def get_latency_stats(
        period: Annotated[
            str,
            Field(description="today, yesterday, week, last-week, month, last-month, YYYY-MM."),
        ] = "week",
        project: Annotated[str | None, Field(description="Only this project.")] = None,
        start: Annotated[
            str | None, Field(description="First day YYYY-MM-DD (with end; overrides period).")
        ] = None,
        end: Annotated[str | None, Field(description="Last day YYYY-MM-DD, inclusive.")] = None,
        group_by: Annotated[str, Field(description="model, provider, project or day.")] = ("model"),
        metrics: Annotated[
            list[str] | None,
            Field(
                description="Any of transcription_delay, end_of_turn_delay, llm_ttft "
                "(time to first token), tts_ttfb (time to first byte), e2e_latency; "
                "default all."
            ),
        ] = None,
    ) -> LatencyStats:
        """Latency percentiles (count, p50, p90, p95, p99, max in ms) per metric and group,
        over every turn LiveKit measured in the period. "P95 TTFB this week" is
        metrics=["tts_ttfb"], period="week". Errors: VALIDATION_ERROR, PROJECT_NOT_FOUND."""
        return backend.call(
            lambda c, s: _latency(c, s, period, project, start, end, group_by, metrics)
        )

    @server.tool(annotations=read_only)
    def get_provider_status(
        hours: Annotated[
            float, Field(description="Look back this many hours (default 24).", gt=0)
        ] = 24.0,
    ) -> dict[str, Any]:
        """Each provider's recent health from what the hook recorded: requests (line
        items), errors LiveKit reported (retries included), error_rate = errors /
        (requests + errors), the last error, latency p50/p95 per metric, and status ok,
        degraded (error rate >= 5%) or failing (>= 50%)."""
        from voicegw_cli.latency import provider_status

        return backend.call(lambda c, s: _jsonable(_utc(provider_status(s, hours=hours))))

    @server.tool(annotations=read_only)
    def get_health() -> dict[str, Any]:
        """Is voicegw recording: status (ok or warning) with problems, store size and item
        count, when the hook last wrote line items, call records, latency and errors,
        unrecoverable errors in the last hour, the spool backlog folded by this call, and
        pricing data versions."""
        from voicegw_cli.reports import health

        def run() -> Any:
            from voicegw_cli.spool import pending
            from voicegw_cli.store import Store

            config = backend.config()
            with Store.open(config, fold=False) as store:
                offsets = dict(
                    store.conn.execute("SELECT file, byte_offset FROM spool_offsets").fetchall()
                )
                backlog = [ch for ch in pending(config.spool_dir, offsets) if ch.data]
                store.fold()
                return _jsonable(_utc(health(store, backlog=backlog)))

        return backend.guarded(run)

    @server.tool(annotations=read_only)
    def get_budget_status(
        project: Annotated[str | None, Field(description="Only this project.")] = None,
    ) -> BudgetReport:
        """Daily and monthly budget status per project: spend, budget, percent used and
        status (ok, warning at 80%, exceeded, or no_budget), with the budget action."""
        return backend.call(lambda c, s: _budgets(c, s, project))

    @server.tool(annotations=read_only)
    def reconcile_summary(
        provider: Annotated[
            str, Field(description="openai, anthropic, deepgram, cartesia, elevenlabs, ...")
        ],
        provider_usage_file: Annotated[
            str,
            Field(description="Path on the server's disk to the export (file or folder)."),
        ],
        start: Annotated[str, Field(description="First UTC day, YYYY-MM-DD.")],
        end: Annotated[str, Field(description="Last UTC day, inclusive.")],
        project: Annotated[str | None, Field(description="Only our items of this project.")] = None,
        by: Annotated[str, Field(description="model, or day (per model and day).")] = "model",
        threshold_pct: Annotated[
            float, Field(description="Percent difference tolerated in units and cost.")
        ] = 1.0,
    ) -> dict[str, Any]:
        """Compare voicegw's line items with a provider usage or billing export on disk:
        per-model rows with both sides' units and cost, the cause of each difference
        (coverage, timezone, units, cached, unpriced, rate), totals and flagged_count.
        Errors: INPUT_ERROR, VALIDATION_ERROR, PROJECT_NOT_FOUND."""
        return backend.guarded(
            lambda: _reconcile(
                backend, provider, provider_usage_file, start, end, project, by, threshold_pct
            )
        )

    return server


def _summary(record: dict[str, Any]) -> ProviderSummary:
    return ProviderSummary(**{k: record[k] for k in ProviderSummary.__annotations__})  # type: ignore[typeddict-item]


def _model(record: dict[str, Any]) -> ModelSummary:
    return ModelSummary(**{k: record[k] for k in ModelSummary.__annotations__})  # type: ignore[typeddict-item]


def _register_gateway_tools(server: MCPServer, backend: Backend, read_only: Any) -> None:
    """The seed's provider and model tools, over `voicegw_cli.gateway.manage`."""
    writes = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False)
    deletes = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False)

    @server.tool(annotations=read_only)
    def list_providers() -> ProviderList:
        """Every provider: built in, defined in voicegw.yaml, or added at runtime (source
        builtin, yaml or db), with where its key comes from (key_source), the key masked,
        and whether its LiveKit plugin is installed."""
        from voicegw_cli.gateway import manage

        def body(config: Any, store: Any) -> ProviderList:
            rows = [_summary(r) for r in manage.list_providers(config, store.conn)]
            return ProviderList(providers=rows, count=len(rows))

        return backend.call(body)

    @server.tool(annotations=read_only)
    def get_provider(
        provider_id: Annotated[str, Field(description='The provider id, e.g. "deepgram".')],
    ) -> ProviderDetail:
        """One provider with its model count and models, environment variables and the
        config keys that name it. The API key is always masked. Errors: PROVIDER_NOT_FOUND."""
        from voicegw_cli.gateway import manage

        def body(config: Any, store: Any) -> ProviderDetail:
            record = manage.get_provider(config, store.conn, provider_id)
            return ProviderDetail(**{k: record[k] for k in ProviderDetail.__annotations__})  # type: ignore[typeddict-item]

        return backend.call(body)

    @server.tool(annotations=read_only)
    async def test_provider(
        provider_id: Annotated[str, Field(description="The provider to test.")],
        model: Annotated[
            str | None, Field(description="Model to build (default: a known one).")
        ] = None,
        project: Annotated[str | None, Field(description="Whose key to use.")] = None,
        live: Annotated[
            bool,
            Field(
                description="Also make the provider's cheapest real call (a free listing "
                "endpoint; a one-token completion for LiveKit Inference)."
            ),
        ] = False,
    ) -> ProviderTest:
        """Build the provider's LiveKit plugin with the project's key (no network) and,
        with live=true, check the key with one real request. A failed check (no key,
        plugin missing, rejected key, no connection) is a result with status "failed" and
        the reason in error. Errors: PROVIDER_NOT_FOUND."""
        import anyio

        from voicegw_cli.gateway import Gateway, RuntimeState
        from voicegw_cli.gateway.probe import probe

        def load() -> tuple[Any, Any]:
            with backend._lock:
                config = backend.config()
                with backend.store(config) as store:
                    return config, RuntimeState.from_conn(store.conn, config)

        try:
            # The store is read in a worker thread; the plugin is imported and built here,
            # on the server's main thread, where LiveKit requires plugins to register.
            config, state = await anyio.to_thread.run_sync(load)
            result = await probe(
                Gateway(config, state), provider_id, model=model, project=project, live=live
            )
        except VoicegwError as exc:
            return error_result(error_code(exc), str(exc), getattr(exc, "details", None))  # type: ignore[return-value]
        return ProviderTest(**result)  # type: ignore[typeddict-item]

    @server.tool(annotations=writes)
    def add_provider(
        provider_id: Annotated[str, Field(description='Unique id, e.g. "deepgram".')],
        provider_type: Annotated[
            str | None,
            Field(
                description="Kind, for a provider that is not built in: openai (any "
                "OpenAI-compatible API), anthropic, groq, deepgram, cartesia, elevenlabs, "
                "assemblyai, livekit, ollama."
            ),
        ] = None,
        api_key: Annotated[
            str | None, Field(description="API key; stored encrypted, never returned.")
        ] = None,
        base_url: Annotated[str | None, Field(description="Custom API root.")] = None,
    ) -> AddedProvider:
        """Add a provider at runtime: a built-in one with its own key, or a new one of a
        known type. The key is encrypted before storage and never echoed back.
        Errors: PROVIDER_ALREADY_EXISTS, VALIDATION_ERROR."""
        from voicegw_cli.gateway import manage

        def body(config: Any, store: Any) -> AddedProvider:
            record = manage.add_provider(
                config,
                store.conn,
                provider_id,
                provider_type=provider_type,
                base_url=base_url,
                api_key=api_key,
                actor=backend.actor,
            )
            return AddedProvider(
                provider_id=record["provider_id"],
                provider_type=record["provider_type"],
                source=record["source"],
                base_url=record["base_url"],
                key_stored=bool(api_key and api_key.strip()),
                key_source=record["key_source"],
                created=True,
                created_at=clock.time(),
            )

        return backend.call(body)

    @server.tool(annotations=deletes)
    def delete_provider(
        provider_id: Annotated[str, Field(description="The runtime provider to delete.")],
        confirm: Annotated[
            bool, Field(description="Must be true to delete. Default returns a preview.")
        ] = False,
    ) -> DeletedProvider:
        """Delete a runtime provider (source "db") with its stored key, and its runtime
        models when it is not a built-in provider. Two-phase: without confirm=true it
        returns CONFIRMATION_REQUIRED whose details preview the impact (models, stored
        key, config keys that still name it). YAML and built-in providers are read-only.
        Errors: PROVIDER_NOT_FOUND, READ_ONLY_RESOURCE, CONFIRMATION_REQUIRED."""
        from voicegw_cli.gateway import manage

        def body(config: Any, store: Any) -> Any:
            if not confirm:
                preview = manage.remove_provider_preview(config, store.conn, provider_id)
                return error_result(
                    "CONFIRMATION_REQUIRED",
                    f"deleting provider {preview.provider_id!r} needs confirmation: call "
                    "delete_provider again with confirm=true.",
                    preview.as_dict(),
                )
            done = manage.remove_provider(config, store.conn, provider_id, actor=backend.actor)
            d = done.as_dict()
            return DeletedProvider(
                action="deleted",
                provider_id=d["provider_id"],
                provider_type=d["provider_type"],
                model_count=d["model_count"],
                models=d["models"],
                key_stored=d["key_stored"],
            )

        return backend.call(body)

    @server.tool(annotations=read_only)
    def list_models(
        modality: Annotated[str | None, Field(description='"stt", "llm" or "tts".')] = None,
        provider_id: Annotated[str | None, Field(description='e.g. "openai".')] = None,
        source: Annotated[str | None, Field(description='"builtin", "yaml" or "db".')] = None,
    ) -> ModelList:
        """Models voicegw knows (built in: the seed's table, our STT/TTS catalog and the
        LLMs genai-prices prices; voicegw.yaml; registered at runtime), with what prices
        each today (pricing = the pricing_source its usage would carry, null = unpriced).
        Errors: PROVIDER_NOT_FOUND, VALIDATION_ERROR."""
        from voicegw_cli.gateway import manage

        def body(config: Any, store: Any) -> ModelList:
            rows = manage.list_models(
                config, store.conn, provider=provider_id, modality=modality, source=source
            )
            return ModelList(models=[_model(r) for r in rows], count=len(rows))

        return backend.call(body)

    @server.tool(annotations=writes)
    def register_model(
        model_id: Annotated[str, Field(description='provider/model, e.g. "groq/qwen-2.5-32b".')],
        modality: Annotated[str, Field(description='"stt", "llm" or "tts".')],
        default_voice: Annotated[
            str | None, Field(description="TTS only: the voice used when none is given.")
        ] = None,
    ) -> RegisteredModel:
        """Register a model at runtime (prices go in voicegw.yaml, models.<id>.price).
        Errors: PROVIDER_NOT_FOUND, MODEL_ALREADY_EXISTS, VALIDATION_ERROR."""
        from voicegw_cli.gateway import manage

        def body(config: Any, store: Any) -> RegisteredModel:
            record = manage.register_model(
                config,
                store.conn,
                model_id,
                modality=modality,
                default_voice=default_voice,
                actor=backend.actor,
            )
            return RegisteredModel(**_model(record), created=True)

        return backend.call(body)

    @server.tool(annotations=deletes)
    def delete_model(
        model_id: Annotated[str, Field(description="The runtime model to delete.")],
        confirm: Annotated[
            bool, Field(description="Must be true to delete. Default returns a preview.")
        ] = False,
    ) -> DeletedModel:
        """Delete a runtime model (source "db"). Two-phase: without confirm=true it returns
        CONFIRMATION_REQUIRED with the config keys that still name it. Errors:
        MODEL_NOT_FOUND, READ_ONLY_RESOURCE, CONFIRMATION_REQUIRED."""
        from voicegw_cli.gateway import manage

        def body(config: Any, store: Any) -> Any:
            if not confirm:
                preview = manage.remove_model_preview(config, store.conn, model_id)
                return error_result(
                    "CONFIRMATION_REQUIRED",
                    f"deleting model {preview['model_id']!r} needs confirmation: call "
                    "delete_model again with confirm=true.",
                    preview,
                )
            done = manage.remove_model(config, store.conn, model_id, actor=backend.actor)
            return DeletedModel(
                action="deleted",
                model_id=done["model_id"],
                modality=done["modality"],
                provider_id=done["provider_id"],
            )

        return backend.call(body)


# ------------------------------------------------------------------ transports


def run_stdio(config_path: Path | None = None) -> None:
    build_server(config_path, channel="stdio").run("stdio")


def check_token(token: str | None) -> str:
    """The HTTP transport never runs open: no token, no server."""
    token = (token or "").strip()
    if not token:
        raise UsageError(
            f"the HTTP transport needs a bearer token: set {TOKEN_ENV} "
            "(for example `export VOICEGW_MCP_TOKEN=$(openssl rand -hex 32)`)"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise UsageError(
            f"{TOKEN_ENV} is too short ({len(token)} characters; use at least "
            f"{MIN_TOKEN_LENGTH}, e.g. `openssl rand -hex 32`)"
        )
    return token


class BearerAuth:
    """ASGI middleware: every HTTP request needs `Authorization: Bearer <token>`.

    The comparison is constant-time (hmac.compare_digest) so response timing does not
    reveal how much of a guess was right. Lifespan events pass through untouched.
    """

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._token = token.encode("utf-8")

    def _authorized(self, scope: dict[str, Any]) -> bool:
        header = b""
        for name, value in scope.get("headers") or []:
            if name.lower() == b"authorization":
                header = value
                break
        scheme, _, credentials = header.partition(b" ")
        # Compare even when the scheme is wrong, so both paths cost the same.
        match = hmac.compare_digest(credentials.strip(), self._token)
        return scheme.lower() == b"bearer" and match

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and not self._authorized(scope):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            body = json.dumps(
                {"error": {"code": "UNAUTHORIZED", "message": "missing or invalid bearer token"}}
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"www-authenticate", b'Bearer realm="voicegw"'),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def http_app(config_path: Path | None, token: str, *, host: str = "127.0.0.1") -> BearerAuth:
    """The streamable-HTTP app (endpoint `/mcp`) behind bearer-token auth."""
    server = build_server(config_path, channel="http")
    return BearerAuth(server.streamable_http_app(host=host), check_token(token))


def run_http(
    config_path: Path | None, *, host: str = "127.0.0.1", port: int = 8090, token: str | None
) -> None:
    import uvicorn

    app = http_app(config_path, check_token(token), host=host)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
