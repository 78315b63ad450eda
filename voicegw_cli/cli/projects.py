"""`voicegw projects` (list and manage) and `voicegw project ID` (one project in depth)."""

from __future__ import annotations

from typing import Annotated

import typer

from voicegw_cli.cli.output import Format, FormatOpt

STATUS_STYLE = {"ok": "green", "warning": "yellow", "exceeded": "bold red"}
LATENCY_LABELS = {
    "transcription_delay": "transcription",
    "end_of_turn_delay": "end of turn",
    "llm_ttft": "LLM TTFT",
    "tts_ttfb": "TTS TTFB",
    "e2e_latency": "end-to-end",
}


def _list(fmt: Format) -> None:
    from rich.markup import escape

    from voicegw_cli.cli.context import open_store
    from voicegw_cli.cli.output import cost, emit, money
    from voicegw_cli.reports import accent, projects_overview

    with open_store() as store:
        rows = projects_overview(store)
    if fmt is not Format.table:
        emit(rows, fmt=fmt, columns=list(rows[0]) if rows else None)
        return

    def tags(r: dict) -> str:
        return f"[{accent(r['tags'])}]{escape(', '.join(r['tags']))}[/]" if r["tags"] else ""

    def budget(r: dict) -> str:
        return f"{money(r['daily_budget'], 2)} {r['budget_action']}" if r["daily_budget"] else "—"

    emit(
        rows,
        fmt=fmt,
        title="Projects (today)",
        columns=[
            "id",
            "name",
            "tags",
            "budget",
            "today_spend",
            "today_items",
            "today_calls",
            "budget_status",
            "source",
        ],
        cells={
            "tags": tags,
            "budget": budget,
            "id": lambda r: f"[{accent(r['tags'])}]●[/] {escape(r['id'])}",
            "today_spend": lambda r: cost(r["today_spend"], r["today_unpriced_items"]),
            "budget_status": lambda r: (
                f"[{STATUS_STYLE[r['budget_status']]}]{r['budget_status']}[/]"
            ),
        },
        optional=["source", "tags", "today_calls"],
    )


def _bar_chart(daily: list[dict], width: int = 40) -> str:
    from voicegw_cli.cli.output import money

    top = max((d["cost_usd"] for d in daily), default=0) or 1
    lines = []
    for d in daily:
        n = int(round(float(d["cost_usd"] / top) * width))
        lines.append(f"{d['day']} {'█' * n}{'·' if n == 0 else ''} {money(d['cost_usd'], 2)}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    projects_app = typer.Typer(
        help="List projects (the default) and manage runtime projects.",
        invoke_without_command=True,
        no_args_is_help=False,
    )

    @projects_app.callback()
    def projects(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
        """Every project with today's spend, line items and budget status."""
        if ctx.invoked_subcommand is None:
            _list(fmt)

    try:
        from voicegw_cli.cli.projects_manage import register_manage
    except ImportError:
        pass
    else:
        register_manage(projects_app)
    app.add_typer(projects_app, name="projects")

    @app.command()
    def project(
        project_id: Annotated[str, typer.Argument(metavar="ID", help="Project id.")],
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Everything about one project: budgets, spend today/week/month, models, keys."""
        from rich.panel import Panel

        from voicegw_cli.cli import output
        from voicegw_cli.cli.context import open_store
        from voicegw_cli.cli.output import cost, dumps, emit, money
        from voicegw_cli.reports import accent, project_detail

        with open_store() as store:
            d = project_detail(store, project_id)
        if fmt is Format.json:
            typer.echo(dumps(d))
            return
        if fmt is Format.csv:
            flat = {k: v for k, v in d.items() if not isinstance(v, list | dict)}
            for m, v in d["week_latency"].items():
                flat[f"week_{m}_p95_ms"] = v["p95_ms"]
            emit([flat], fmt=fmt)
            return
        console = output.console()
        colour = accent(d["tags"])
        head = (
            f"[bold]{d['name']}[/] ({d['id']}, {d['source']})  "
            f"[{colour}]{', '.join(d['tags'])}[/]\n"
            f"{d['description']}\n"
            f"Daily budget {money(d['daily_budget'], 2) if d['daily_budget'] else 'none'} · "
            f"monthly {money(d['monthly_budget'], 2) if d['monthly_budget'] else 'none'} · "
            f"action {d['budget_action']} · status "
            f"[{STATUS_STYLE[d['budget_status']]}]{d['budget_status']}[/]\n"
            f"Today {cost(d['today_spend'], d['today_unpriced_items'])} / "
            f"{d['today_items']:,} items · "
            f"week {cost(d['week_spend'], d['week_unpriced_items'])} / {d['week_items']:,} · "
            f"month {cost(d['month_spend'], d['month_unpriced_items'])} / "
            f"{d['month_items']:,}  ({d['timezone']})"
        )
        if d["week_latency"]:
            head += "\nWeek p95 " + " · ".join(
                f"{LATENCY_LABELS.get(m, m)} {v['p95_ms']:,.0f} ms"
                for m, v in d["week_latency"].items()
            )
        if d["default_stack"]:
            head += f"\nStack {d['default_stack']}"
        console.print(Panel(head, border_style=colour))
        for key in ("by_modality", "by_model"):
            group = key.removeprefix("by_")
            emit(
                d[key],
                fmt=fmt,
                title=f"This month by {group}",
                columns=[group, "items", "cost_usd"],
                cells={"cost_usd": lambda r: cost(r["cost_usd"], r["unpriced_items"])},
            )
        console.print(Panel(_bar_chart(d["daily_spend"]), title="Daily spend, last 14 days"))
        if d["provider_keys"]:
            emit(d["provider_keys"], fmt=fmt, title="Provider keys")
        console.print(_guardrails_line(d["guardrails"]))
        if d["guardrail_events"]:
            emit(
                d["guardrail_events"],
                fmt=fmt,
                title=f"Guardrail events this month ({d['guardrail_events_month']:,})",
                columns=["kind", "category", "action", "events"],
            )

        if d["key_sources"]:
            emit(
                d["key_sources"],
                fmt=fmt,
                title="Key sources (what a plugin built for this project gets)",
                columns=["provider", "source", "where"],
            )


def _guardrails_line(g: dict) -> str:
    """'Guardrails: pii redact · financial input block, output redact' (or off)."""
    if not g["enabled"]:
        return "Guardrails: off"
    parts = []
    for cat, sides in g["categories"].items():
        if sides["input"] == sides["output"]:
            if sides["input"] != "off":
                parts.append(f"{cat} {sides['input']}")
        else:
            on = [f"{side} {a}" for side, a in sides.items() if a != "off"]
            parts.append(f"{cat} {', '.join(on)}")
    return "Guardrails: " + (" · ".join(parts) if parts else "all categories off")
