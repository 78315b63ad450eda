"""Report assembly shared by the CLI and the MCP server: store queries plus context."""

from __future__ import annotations

import difflib
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from voicegw_cli import clock

if TYPE_CHECKING:
    from voicegw_cli.periods import Period
    from voicegw_cli.store import Store


def known_projects(store: Store) -> list[str]:
    from voicegw_cli.config import merged_projects

    ids = set(merged_projects(store.config, store.conn))
    ids.update(
        r[0] for r in store.conn.execute("SELECT DISTINCT project FROM line_items").fetchall()
    )
    return sorted(ids)


def check_project(store: Store, project: str) -> None:
    """Unknown id: ProjectNotFoundError (a NotFoundError, code PROJECT_NOT_FOUND) naming
    the closest known ids."""
    from voicegw_cli.projects import ProjectNotFoundError

    known = known_projects(store)
    if project not in known:
        raise ProjectNotFoundError(not_found_message(project, known), project_id=project)


def not_found_message(project: str, known: list[str]) -> str:
    close = difflib.get_close_matches(project, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"no project {project!r}{hint} (known: {', '.join(known) or 'none'})"


def cost_report(
    store: Store, period: Period, *, by: str = "model", project: str | None = None
) -> dict[str, Any]:
    from voicegw_cli.store import queries

    rows = queries.costs(
        store.conn,
        period.start_utc,
        period.end_utc,
        by=by,
        project=project,
        tz=store.config.timezone,
    )
    unpriced = queries.unpriced(store.conn, period.start_utc, period.end_utc, project)
    return {
        "period": period.as_dict(),
        "by": by,
        "project": project,
        "total_cost_usd": sum((r["cost_usd"] or Decimal(0) for r in rows), Decimal(0)),
        "items": sum(r["items"] for r in rows),
        "unpriced_items": sum(r["unpriced_items"] for r in rows),
        "totals": _totals(rows),
        "unpriced": {"items": sum(m["items"] for m in unpriced), "models": unpriced},
        "rows": rows,
    }


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Exact sums of the rows, rounded once (a total row never adds rounded values)."""
    seconds = sum(r["audio_seconds"] for r in rows)
    out: dict[str, Any] = {
        "items": sum(r["items"] for r in rows),
        "cost_usd": sum((r["cost_usd"] or Decimal(0) for r in rows), Decimal(0)),
    }
    for key in ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens"):
        out[key] = sum(r[key] for r in rows)
    out["audio_seconds"] = seconds
    out["audio_minutes"] = round(seconds / 60, 3)
    out["characters"] = sum(r["characters"] for r in rows)
    out["unpriced_items"] = sum(r["unpriced_items"] for r in rows)
    return out


def budget_status(spend: Decimal, budget: Decimal) -> str:
    """The seeds' three states: ok, warning (at 80%) or exceeded; no budget reads as ok."""
    from voicegw_cli.budget import classify

    status = classify(spend, budget)
    return "ok" if status == "no_budget" else status


def accent(tags: list[str]) -> str:
    """The seeds' accent colour by first tag: prod green, stag yellow, dev/test blue."""
    first = (tags[0] if tags else "").lower()
    if "prod" in first:
        return "green"
    if "stag" in first:
        return "yellow"
    if "dev" in first or "test" in first:
        return "blue"
    return "magenta"


def projects_overview(store: Store, now=None) -> list[dict[str, Any]]:
    """Every project (YAML and db) with today's spend, line items and budget status."""
    from voicegw_cli import periods
    from voicegw_cli.config import merged_projects
    from voicegw_cli.store import calls as call_store
    from voicegw_cli.store import queries

    tz = store.config.tz
    today = periods.day(periods.local_today(tz, now), tz)
    spend = queries.spend_per_project(store.conn, today.start_utc, today.end_utc)
    calls = {
        r["group"]: r["calls"]
        for r in call_store.grouped_calls(store.conn, today.start_utc, today.end_utc, by="project")
    }
    projects = merged_projects(store.config, store.conn)
    rows = []
    for pid, p in sorted(projects.items()):
        s, n, u = spend.get(pid, (Decimal(0), 0, 0))
        rows.append(
            {
                "id": pid,
                "name": p.name,
                "tags": list(p.tags),
                "daily_budget": p.daily_budget,
                "monthly_budget": p.monthly_budget,
                "budget_action": p.budget_action,
                "today_spend": s,
                "today_items": n,
                "today_unpriced_items": u,
                "today_calls": calls.get(pid, 0),
                "budget_status": budget_status(s, p.daily_budget),
                "default_stack": p.default_stack,
                "source": p.source,
            }
        )
    for pid in sorted(set(spend) - set(projects)):  # usage under an id nobody configured
        s, n, u = spend[pid]
        rows.append(
            {
                "id": pid,
                "name": pid,
                "tags": [],
                "daily_budget": Decimal(0),
                "monthly_budget": Decimal(0),
                "budget_action": "warn",
                "today_spend": s,
                "today_items": n,
                "today_unpriced_items": u,
                "today_calls": calls.get(pid, 0),
                "budget_status": "ok",
                "default_stack": None,
                "source": "usage",
            }
        )
    return rows


def project_detail(store: Store, project: str, now=None) -> dict[str, Any]:
    from datetime import timedelta

    from voicegw_cli import periods
    from voicegw_cli.config import merged_projects
    from voicegw_cli.store import queries

    check_project(store, project)
    tz = store.config.tz
    projects = merged_projects(store.config, store.conn)
    p = projects.get(project)
    ref = periods.local_today(tz, now)
    out: dict[str, Any] = {
        "id": project,
        "name": p.name if p else project,
        "description": p.description if p else "",
        "tags": list(p.tags) if p else [],
        "daily_budget": p.daily_budget if p else Decimal(0),
        "monthly_budget": p.monthly_budget if p else Decimal(0),
        "budget_action": p.budget_action if p else "warn",
        "default_stack": p.default_stack if p else None,
        "fallback_stack": p.fallback_stack if p else None,
        "stt_model": p.stt_model if p else None,
        "llm_model": p.llm_model if p else None,
        "tts_model": p.tts_model if p else None,
        "source": p.source if p else "usage",
        "timezone": tz.key,
    }
    for name, period in (
        ("today", periods.day(ref, tz)),
        ("week", periods.week(ref, tz)),
        ("month", periods.month(ref, tz)),
    ):
        stats = queries.project_stats(store.conn, project, period.start_utc, period.end_utc)
        out[f"{name}_spend"] = stats["spend"]
        out[f"{name}_items"] = stats["items"]
        out[f"{name}_unpriced_items"] = stats["unpriced_items"]
        out[f"{name}_period"] = period.as_dict()
    from voicegw_cli.latency import p95_by_metric

    # How fast this week's calls were answered, next to what they cost.
    out["week_latency"] = p95_by_metric(store, periods.week(ref, tz), project)
    out["budget_status"] = budget_status(out["today_spend"], out["daily_budget"])
    out["monthly_budget_status"] = budget_status(out["month_spend"], out["monthly_budget"])
    month = periods.month(ref, tz)
    out["by_modality"] = cost_report(store, month, by="modality", project=project)["rows"]
    out["by_model"] = cost_report(store, month, by="model", project=project)["rows"]
    last14 = periods.Period("last 14 days", ref - timedelta(days=13), ref, tz)
    daily = queries.daily_spend(
        store.conn, last14.start_utc, last14.end_utc, tz=tz.key, project=project
    )
    out["daily_spend"] = [
        {
            "day": (d := (last14.start + timedelta(days=i)).isoformat()),
            "cost_usd": daily.get(d, Decimal(0)),
        }
        for i in range(14)
    ]
    out["provider_keys"] = provider_keys(store, project, p)
    out.update(guardrails_summary(store, project, p, month))
    out["key_sources"] = key_sources(store, [project])
    return out


def guardrails_summary(store: Store, project: str, p: Any, month: Period) -> dict[str, Any]:
    """The project's guardrail policy and this month's guardrail events by kind/category/action."""
    from voicegw_cli.config import GuardrailSettings
    from voicegw_cli.guardrails.events import event_counts

    settings = p.guardrails if p is not None else GuardrailSettings()
    counts = event_counts(store.conn, project, month.start_utc, month.end_utc)
    return {
        "guardrails": settings.as_dict(),
        "guardrail_events": counts,
        "guardrail_events_month": sum(c["events"] for c in counts),
    }


def key_sources(store: Store, projects: list[str]) -> list[dict[str, Any]]:
    """Per project and provider: which layer its key comes from (store, project YAML,
    top-level YAML, environment) - never the key. A config the gateway cannot read gives
    one row naming the problem instead of failing the whole report."""
    from voicegw_cli.errors import ConfigError
    from voicegw_cli.gateway import Gateway, RuntimeState

    gw = Gateway(store.config, RuntimeState.from_conn(store.conn, store.config))
    rows: list[dict[str, Any]] = []
    for project in projects:
        try:
            rows += [{"project": project, **r} for r in gw.key_sources(project)]
        except ConfigError as exc:
            rows.append({"project": project, "provider": "", "source": "error", "where": str(exc)})
    return rows


def provider_keys(store: Store, project: str, p: Any) -> list[dict[str, Any]]:
    """Provider keys this project has, masked; YAML keys first, then stored ones."""
    from voicegw_cli.projects import masked_provider_keys
    from voicegw_cli.secrets import mask

    keys: list[dict[str, Any]] = []
    if p is not None:
        for provider, body in sorted(p.providers.items()):
            keys.append({"provider": provider, "key": mask(body.get("api_key")), "source": "yaml"})
    return keys + masked_provider_keys(store.config, store.conn, project)


def health(store: Store, *, backlog: list[Any] | None = None) -> dict[str, Any]:
    """Is voicegw working: the store, the spool backlog, when the hook last wrote items,
    calls, latency and errors, unrecoverable errors in the last hour, pricing data, and
    a list of problems (empty when `status` is ok).

    `backlog` is the spool chunks pending before this command folded (see `status`)."""
    from datetime import UTC, timedelta

    from voicegw_cli import __version__
    from voicegw_cli.store import latency as lq
    from voicegw_cli.store import queries

    cfg = store.config
    stats = queries.store_stats(store.conn)
    act = lq.activity(store.conn)
    since = clock.utcnow_naive() - timedelta(hours=1)
    errors_1h, unrecoverable_1h = store.conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE NOT recoverable) FROM session_errors"
        " WHERE timestamp >= ?",
        [since],
    ).fetchall()[0]
    fold = store.fold_result
    problems: list[str] = []
    if cfg.missing:
        problems.append(f"{len(cfg.missing)} config value(s) missing: {', '.join(cfg.missing)}")
    if fold is not None and fold.bad_lines:
        problems.append(f"{fold.bad_lines} unreadable spool line(s) moved aside")
    if unrecoverable_1h:
        problems.append(f"{unrecoverable_1h} unrecoverable provider error(s) in the last hour")
    out: dict[str, Any] = {
        "status": "warning" if problems else "ok",
        "problems": problems,
        "version": __version__,
        "config": cfg.source,
        "timezone": cfg.timezone,
        "store": str(cfg.store_path),
        "store_bytes": cfg.store_path.stat().st_size if cfg.store_path.exists() else 0,
        "items": stats["items"],
        "newest_item": stats["newest"].replace(tzinfo=UTC) if stats["newest"] else None,
        **act,
        "errors_last_hour": errors_1h,
        "spool_dir": str(cfg.spool_dir),
        "spool_backlog_files": len(backlog or []),
        "spool_backlog_bytes": sum(len(c.data) for c in backlog or []),
        "folded_now": fold.items_added if fold is not None else 0,
    }
    try:
        from voicegw_cli.pricing import pricing_versions
    except ImportError:  # pragma: no cover - pricing ships with the package
        pass
    else:
        out["pricing"] = pricing = pricing_versions()
        stale = next((v for k, v in pricing.items() if k.startswith("catalog_older_than")), 0)
        if stale:
            problems.append(f"{stale} STT/TTS catalog price(s) not checked for over 60 days")
            out["status"] = "warning"
    return out


def spool_backlog(store: Store) -> list[Any]:
    """The spool chunks not folded yet (with `storage.ship_to`, the local spool is the
    shipper's: all of it is backlog until shipped)."""
    from voicegw_cli.spool import pending

    cfg = store.config
    if cfg.ship is None:
        offsets = dict(store.conn.execute("SELECT file, byte_offset FROM spool_offsets").fetchall())
        return [c for c in pending(cfg.spool_dir, offsets) if c.data]
    return [c for c in pending(cfg.spool_dir, {}, subdirs=True) if c.data]


def status_report(store: Store) -> dict[str, Any]:
    """`voicegw status` (and `GET /v1/status`): config, store, spool backlog (measured,
    then folded), projects, time zone, pricing data, missing values, admin keys (masked)
    and where each project's provider keys come from (never the key).

    Give a store opened with `fold=False`: the backlog is measured before this folds."""
    from voicegw_cli.admin_keys import masked_admin_keys
    from voicegw_cli.config import merged_projects
    from voicegw_cli.store import queries

    cfg = store.config
    backlog = spool_backlog(store)
    result = store.fold()
    stats = queries.store_stats(store.conn)
    projects = merged_projects(cfg, store.conn)
    admin = masked_admin_keys(cfg, store.conn)
    sources = key_sources(store, sorted(projects))
    info: dict[str, Any] = {
        "config": cfg.source,
        "store": str(cfg.store_path),
        "store_bytes": cfg.store_path.stat().st_size if cfg.store_path.exists() else 0,
        "items": stats["items"],
        "unpriced_items": stats["unpriced_items"],
        "unpriced_models": stats["unpriced_models"],
        "newest_item": stats["newest"].isoformat() + "Z" if stats["newest"] else None,
        "spool_dir": str(cfg.spool_dir),
        "spool_backlog_files": len(backlog),
        "spool_backlog_bytes": sum(len(c.data) for c in backlog),
        "folded_now": result.items_added,
        **(_fleet_status(cfg, result) if cfg.ship is not None else {}),
        "timezone": cfg.timezone,
        "projects": sorted(projects),
        "default_project": cfg.default_project or "default",
        "missing": list(cfg.missing),
        "admin_keys": [f"{k['provider']} {k['key']} ({k['source']})" for k in admin],
        "key_sources": sources,
    }
    try:
        from voicegw_cli.pricing import pricing_versions
    except ImportError:  # pragma: no cover - pricing ships with the package
        pass
    else:
        info["pricing"] = pricing_versions()
    return info


def _fleet_status(cfg: Any, result: Any) -> dict[str, object]:
    """Shipping from this host, and folding from the bucket (with `storage.ship_to`)."""
    from voicegw_cli.fleet.ship import backlog, ship_host
    from voicegw_cli.store.snapshot import read_snapshot

    b = backlog(cfg.spool_dir)
    fleet = (read_snapshot(cfg) or {}).get("fleet") or {}
    out: dict[str, object] = {
        "ship_to": cfg.ship.url,
        "ship_host": ship_host(cfg),
        "unshipped_files": b.files,
        "unshipped_bytes": b.bytes,
        "unshipped_closed_files": b.closed_files,
        "unshipped_oldest_seconds": round(b.oldest_seconds, 1) if b.oldest_seconds else None,
        "shipped_awaiting_seal": b.shipped_waiting,
        "last_shipped": b.last_success,
        "last_ship_error": b.last_error if b.failures else None,
        "segments_folded_now": result.segments_folded,
        "sealed_through": fleet.get("sealed_through"),
    }
    if result.ship_error:
        out["fold_error"] = result.ship_error
    return out


def log_items(
    store: Store,
    *,
    limit: int = 20,
    since: str | None = None,
    period: str | None = None,
    start: str | None = None,
    end: str | None = None,
    after: tuple[Any, str] | None = None,
    **filters: str | None,
) -> list[dict[str, Any]]:
    """`voicegw logs` (and `GET /v1/logs`): the newest line items first, each timestamp
    ISO-8601 UTC with a `Z`; `since` (a date, date-time or duration) or a period.
    `after` = (timestamp, id) of the last item of the previous page."""
    from voicegw_cli import periods
    from voicegw_cli.errors import UsageError
    from voicegw_cli.store import queries

    tz = store.config.tz
    since_dt = periods.parse_since(since, tz) if since else None
    until_dt = None
    if period or start or end:
        if since:
            raise UsageError("choose one of --since and --period/--start/--end")
        p = periods.resolve(tz, period=period, start=start, end=end)
        since_dt, until_dt = p.start_utc, p.end_utc
    project = filters.get("project")
    if project:
        check_project(store, project)
    rows = queries.recent_items(
        store.conn, limit=limit, since=since_dt, until=until_dt, after=after, **filters
    )
    for r in rows:
        r["timestamp"] = r["timestamp"].isoformat() + "Z"
    return rows
