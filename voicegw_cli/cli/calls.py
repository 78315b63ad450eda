"""`voicegw calls` (the period's calls, ranked or grouped) and `voicegw calls show ID`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from voicegw_cli.cli.output import Format, FormatOpt
from voicegw_cli.cli.periods import EndOpt, PeriodOpt, StartOpt


class Sort(StrEnum):
    cost = "cost"
    duration = "duration"
    cost_per_minute = "cost_per_minute"


def _local(value: Any, tz: Any, fmt: str = "%m-%d %H:%M:%S") -> str:
    """A naive-UTC store time as a short local time for tables."""
    from datetime import UTC

    if value is None:
        return "—"
    return value.replace(tzinfo=UTC).astimezone(tz).strftime(fmt)


def _attrs(row: dict[str, Any]) -> str:
    from rich.markup import escape

    return escape(", ".join(f"{k}={v}" for k, v in sorted((row.get("attributes") or {}).items())))


def _list_calls(
    project: str | None,
    period: str | None,
    start: str | None,
    end: str | None,
    by: str | None,
    top: int,
    sort: Sort,
    fmt: Format,
) -> None:
    from voicegw_cli import periods
    from voicegw_cli.calls import call_report
    from voicegw_cli.cli.context import get_config, open_store
    from voicegw_cli.cli.output import emit, money
    from voicegw_cli.reports import check_project

    cfg = get_config()
    period_ = periods.resolve(cfg.tz, period=period, start=start, end=end)
    with open_store() as store:
        if project:
            check_project(store, project)
        report = call_report(store, period_, project=project, by=by, sort=sort.value, top=top)
    rows = report["rows"]
    if fmt is not Format.table:
        emit(rows, fmt=fmt, payload={k: v for k, v in report.items() if k != "rows"})
        return
    realtime = any(r.get("cost_realtime") for r in rows)
    costs = ["cost_stt", "cost_llm", "cost_tts", *(["cost_realtime"] if realtime else [])]
    cells: dict[str, Any] = {
        "cost_usd": lambda r: money(r["cost_usd"]),
        "cost_per_minute": lambda r: money(r["cost_per_minute"]),
        "minutes": lambda r: f"{r['minutes']:,.2f}" if r["minutes"] is not None else "—",
        "items": lambda r: f"{r['items']:,}",
        **{c: (lambda r, c=c: money(r[c])) for c in costs},
    }
    caption = (
        f"{period_.describe()}\n{report['calls']:,} calls, {report['minutes']:,.1f} minutes, "
        f"total {money(report['total_cost_usd'])}"
        + (f" ({money(report['cost_per_minute'])}/min)" if report["cost_per_minute"] else "")
    )
    scope = f" — project {project}" if project else ""
    if by is None:
        cells.update(
            started=lambda r: _local(r["started_at"], cfg.tz, "%m-%d %H:%M"),
            attributes=_attrs,
        )
        emit(  # the table keeps what ranks calls; json/csv have every field
            rows,
            fmt=fmt,
            title=f"Top {len(rows)} calls by {sort.value}{scope}",
            caption=caption,
            columns=[
                "session_id",
                "started",
                "project",
                "minutes",
                "cost_usd",
                *costs,
                "cost_per_minute",
                "attributes",
            ],
            cells=cells,
        )
        return
    cells["cost_per_call"] = lambda r: money(r["cost_per_call"])
    cells["group"] = lambda r: "(none)" if r["group"] is None else str(r["group"])
    emit(
        rows,
        fmt=fmt,
        title=f"Calls by {by}{scope}",
        caption=caption,
        columns=[
            "group",
            "calls",
            "minutes",
            "items",
            "cost_usd",
            *costs,
            "cost_per_minute",
            "cost_per_call",
        ],
        cells=cells,
    )


def _show(session_id: str, fmt: Format) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.panel import Panel

    from voicegw_cli.calls import call_detail
    from voicegw_cli.cli.context import get_config, open_store
    from voicegw_cli.cli.output import dumps, emit, money

    cfg = get_config()
    with open_store() as store:
        d = call_detail(store, session_id)
    if fmt is Format.json:
        typer.echo(dumps(d))
        return
    if fmt is Format.csv:
        flat = {k: v for k, v in d.items() if not isinstance(v, list)}
        emit([flat], fmt=fmt)
        return
    console = Console()
    who = d.get("participant_identity") or "—"
    if d.get("participant_kind"):
        who += f" ({d['participant_kind']})"
    if d.get("caller_number"):
        who += f" from {d['caller_number']}"
    minutes = d.get("minutes")
    head = (
        f"[bold]Call {escape(d['session_id'])}[/]  project {escape(str(d['project']))}\n"
        f"{_local(d['started_at'], cfg.tz)} → {_local(d['ended_at'], cfg.tz)} "
        f"({cfg.timezone}) · {minutes:,.2f} min · {d.get('turns') or 0} user turns · "
        f"ended: {d.get('end_reason') or '—'}\n"
        f"agents {escape(', '.join(d['agents']) or '—')} · room {escape(d.get('room') or '—')}"
        f" · job {escape(d.get('job_id') or '—')} · caller {escape(who)}\n"
        f"attributes {_attrs(d) or '—'}\n"
        f"cost {money(d['cost_usd'])}: STT {money(d['cost_stt'])} · LLM "
        f"{money(d['cost_llm'])} · TTS {money(d['cost_tts'])}"
        + (f" · realtime {money(d['cost_realtime'])}" if d.get("cost_realtime") else "")
        + (f" · {money(d['cost_per_minute'])}/min" if d.get("cost_per_minute") else "")
    )
    if d.get("error"):
        head += f"\n[red]closed on error:[/] {escape(d['error'])}"
    if not d.get("has_record"):
        head += "\n[yellow]no call record (the session never closed cleanly): times from items[/]"
    console.print(Panel(head))

    def units(r: dict) -> str:
        if r["modality"] == "stt":
            return f"{r['audio_seconds']:.1f} s audio"
        if r["modality"] == "tts":
            return f"{r['characters']:,} chars"
        s = f"{r['input_tokens']:,} in"
        if r["cached_input_tokens"]:
            s += f" ({r['cached_input_tokens']:,} cached)"
        return s + f" / {r['output_tokens']:,} out"

    emit(
        d["line_items"],
        fmt=fmt,
        title=f"{len(d['line_items'])} line items",
        columns=["time", "modality", "model", "units", "cost_usd", "pricing_source", "agent"],
        cells={
            "time": lambda r: _local(r["timestamp"], cfg.tz),
            "model": lambda r: escape(f"{r['provider']}/{r['model']}"),
            "units": units,
            "cost_usd": lambda r: money(r["cost_usd"], 6),
        },
    )
    if d["turns_detail"]:
        ms = lambda key: lambda r: "—" if r[key] is None else f"{r[key]:,.0f}"  # noqa: E731
        emit(
            d["turns_detail"],
            fmt=fmt,
            title="Latency by turn (ms)",
            columns=[
                "turn",
                "transcription_delay_ms",
                "end_of_turn_delay_ms",
                "llm_ttft_ms",
                "tts_ttfb_ms",
                "e2e_latency_ms",
                "llm_model",
                "tts_model",
            ],
            cells={
                k: ms(k)
                for k in (
                    "transcription_delay_ms",
                    "end_of_turn_delay_ms",
                    "llm_ttft_ms",
                    "tts_ttfb_ms",
                    "e2e_latency_ms",
                )
            },
        )
    if d["errors"]:
        emit(
            d["errors"],
            fmt=fmt,
            title="Errors LiveKit reported",
            columns=["time", "source", "provider", "model", "error_type", "recoverable", "message"],
            cells={"time": lambda r: _local(r["timestamp"], cfg.tz)},
        )


def register(app: typer.Typer) -> None:
    calls_app = typer.Typer(
        help="What each call cost: the period's top calls, or calls grouped by customer "
        "(any attribute), agent, project or day; `calls show ID` for one call.",
        invoke_without_command=True,
        no_args_is_help=False,
    )

    @calls_app.callback()
    def calls(
        ctx: typer.Context,
        project: Annotated[
            str | None, typer.Option("--project", "-p", help="Only this project.")
        ] = None,
        period: PeriodOpt = None,
        start: StartOpt = None,
        end: EndOpt = None,
        by: Annotated[
            str | None,
            typer.Option(
                "--by",
                help="Group calls: an attribute from track(attributes=...) such as "
                "customer or plan, or agent, project, day.",
            ),
        ] = None,
        top: Annotated[int, typer.Option("--top", "-n", min=1, help="Rows to show.")] = 20,
        sort: Annotated[Sort, typer.Option("--sort", help="Rank by this.")] = Sort.cost,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Per call: cost by modality, minutes, cost per minute, items, attributes.

        Periods are calendar periods in the configured time zone (default today); a
        call's cost is its usage within the period.
        """
        if ctx.invoked_subcommand is None:
            _list_calls(project, period, start, end, by, top, sort, fmt)

    @calls_app.command("show")
    def show(
        session_id: Annotated[str, typer.Argument(metavar="SESSION_ID", help="A call's id.")],
        fmt: FormatOpt = Format.table,
    ) -> None:
        """One call: its record, line items, latency turn by turn and errors."""
        _show(session_id, fmt)

    app.add_typer(calls_app, name="calls")
