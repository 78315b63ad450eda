"""`voicegw guardrails check` (a project's verdict on a text, as the agent would give it)
and `voicegw guardrails events` (what the agents recorded)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from voicegw_cli.cli.output import Format, FormatOpt
from voicegw_cli.cli.periods import ProjectOpt
from voicegw_cli.periods import SINCE_HELP

CHECK_COLUMNS = ["category", "action", "start", "end", "detector", "excerpt"]
VERDICT_STYLE = {"pass": "green", "alert": "yellow", "redact": "cyan", "block": "bold red"}


class Side(StrEnum):
    input = "input"
    output = "output"


def register(app: typer.Typer) -> None:
    g = typer.Typer(
        help="Voice guardrails: a project's verdict on a text, and the events agents recorded.",
        no_args_is_help=True,
    )

    @g.command("check")
    def check(
        text: Annotated[
            str,
            typer.Argument(metavar="TEXT", help="The utterance, as a transcript; - reads stdin."),
        ],
        project: Annotated[
            str | None,
            typer.Option("--project", "-p", help="Project (default: the usual resolution)."),
        ] = None,
        side: Annotated[
            Side,
            typer.Option(
                "--side", help="input: what a caller says; output: what the agent says back."
            ),
        ] = Side.input,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """The verdict (pass, alert, redact, block), what was found where, and the text
        as it would go on to the LLM (input) or the speaker (output).

        The same call the runtime hook makes on every turn. Exits 1 when the verdict is
        block (the agent would say the project's block_message instead)."""
        import sys

        from voicegw_cli.cli.context import get_config
        from voicegw_cli.cli.output import dumps, emit, note
        from voicegw_cli.config import resolve_project
        from voicegw_cli.errors import CheckFailed, UsageError

        cfg = get_config()
        pid = resolve_project(project, cfg)
        if text == "-":
            text = sys.stdin.read().rstrip("\n")
        try:
            from voicegw_cli.guardrails.policy import check as run_check

            verdict = run_check(cfg, pid, text, side=side.value)
        except ImportError as exc:
            raise UsageError(
                f"guardrails need {exc.name}: pip install 'voicegw[guardrails]'"
            ) from None
        settings = cfg.projects[pid].guardrails
        if not settings.active:
            note(f"[yellow]note:[/] project {pid!r} has no guardrails on; every text passes")
        if fmt is Format.json:
            typer.echo(dumps(verdict.as_dict()))
        elif fmt is Format.csv:
            emit([h.as_dict() for h in verdict.hits], fmt=fmt, columns=CHECK_COLUMNS[:-1])
        else:
            from rich.console import Console
            from rich.markup import escape

            console = Console()
            style = VERDICT_STYLE[verdict.verdict]
            console.print(
                f"verdict [{style}]{verdict.verdict}[/] · project {escape(pid)} · {side.value}"
            )
            if verdict.hits:
                emit(
                    [{**h.as_dict(), "excerpt": h.excerpt} for h in verdict.hits],
                    fmt=fmt,
                    columns=CHECK_COLUMNS,
                )
            console.print(f"text: {escape(verdict.text)}", soft_wrap=True)
        if verdict.blocked:
            cats = ", ".join(sorted({h.category for h in verdict.hits if h.action == "block"}))
            raise CheckFailed(f"project {pid!r} blocks this {side.value} ({cats})")

    @g.command("events")
    def events(
        project: ProjectOpt = None,
        since: Annotated[str | None, typer.Option("--since", help=SINCE_HELP + ".")] = None,
        n: Annotated[int, typer.Option("-n", "--limit", min=1, max=100000)] = 100,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Guardrail events, newest first: time (UTC), project, session, kind (hit or
        bypass), side, category, action, detector and a masked excerpt."""
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.cli.output import emit
        from voicegw_cli.guardrails.events import LIST_FIELDS, list_events
        from voicegw_cli.periods import parse_since
        from voicegw_cli.reports import check_project

        since_dt = parse_since(since, get_config().tz) if since else None
        with open_store() as store:
            if project:
                check_project(store, project)
            rows = list_events(store.conn, project=project, since=since_dt, limit=n)
        for r in rows:
            r["ts"] = r["ts"].isoformat() + "Z"
        emit(
            rows,
            fmt=fmt,
            title=f"Guardrail events ({len(rows)})",
            columns=list(LIST_FIELDS),
            cells={  # people get short times and session ids; json and csv the full ones
                "ts": lambda r: r["ts"][:19].replace("T", " "),
                "session_id": lambda r: (r["session_id"] or "")[:8],
            },
        )

    app.add_typer(g, name="guardrails")
