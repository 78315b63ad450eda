"""`voicegw pull`: fetch a provider's usage and cost pages over its admin API and keep them
where `voicegw reconcile` reads them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from voicegw_cli.cli.output import Format, FormatOpt
from voicegw_cli.cli.periods import UtcEndOpt, UtcPeriodOpt, UtcStartOpt

if TYPE_CHECKING:
    from voicegw_cli.reconcile.pull import PullResult

EPILOG = (
    "Providers: openai (usage completions, audio_speeches, audio_transcriptions; costs), "
    "anthropic (usage_report/messages, cost_report), deepgram (usage and billing "
    "breakdowns, usage/fields), elevenlabs (character stats), cartesia (usage credits). "
    "Admin key: admin_keys.<provider> in voicegw.yaml, else `voicegw projects set-key "
    "--admin <provider>`. Exit codes: 0 saved · 2 usage error · 3 key refused, network "
    "failure, bad answer or config (nothing half-written is left as complete)."
)

ProviderOpt = Annotated[
    str,
    typer.Option(
        "--provider", help="openai, anthropic, deepgram, elevenlabs or cartesia (who bills it)."
    ),
]


def shown(path: Path) -> Path:
    """A path under the working directory as a relative one (shorter in logs and reports)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def describe(result: PullResult) -> str:
    """One line for people: what was saved (or reused) where, with which key."""
    where = shown(result.directory)
    n = len(result.pages)
    if result.reused:
        return (
            f"reusing the complete {result.provider} pull in {where} "
            f"({n} page{'s' if n != 1 else ''}, fetched {result.manifest.get('fetched_at')})"
        )
    m = result.manifest
    retries = m.get("retries") or 0
    extra = f", {retries} retried" if retries else ""
    key = f" with admin key {result.key.masked} from {result.key.source}" if result.key else ""
    return (
        f"saved {n} page{'s' if n != 1 else ''} ({m.get('requests')} requests{extra}) in "
        f"{where}{key}"
    )


def note_pull(result: PullResult, why_not_cached: str = "") -> None:
    """The pull's lines on stderr, so stdout stays the report; plain and unwrapped, so a
    path in a CI log can be copied whole."""
    if why_not_cached:
        typer.echo(f"--cached: {why_not_cached}; pulled again", err=True)
    typer.echo(describe(result), err=True)
    for line in result.notes:
        typer.echo(f"note: {line}", err=True)


def register(app: typer.Typer) -> None:
    def pull(
        provider: ProviderOpt,
        period: UtcPeriodOpt = None,
        start: UtcStartOpt = None,
        end: UtcEndOpt = None,
        project: Annotated[
            str | None,
            typer.Option(
                "--project",
                "-p",
                help="Only this project's provider side (projects.X.providers.<provider> "
                "in voicegw.yaml names it).",
            ),
        ] = None,
        output: Annotated[
            Path | None,
            typer.Option(
                "--output",
                "-o",
                help="Root folder (default: pulls/ beside the store); pages go to "
                "DIR/<provider>/<start>_<end>/.",
            ),
        ] = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Fetch a provider's usage and cost data over its admin API and save every page.

        Pages are saved exactly as the provider sent them, with manifest.yaml (URLs
        without credentials, fetch times, page count, hashes). Pages are followed to the
        end, long ranges are split within the API's limits, 429/5xx are retried as
        Retry-After says. The folder appears only when the pull is complete; `voicegw
        reconcile --provider P --start D --end D` reads it (or pulls it itself).
        """
        from rich.markup import escape

        from voicegw_cli import periods
        from voicegw_cli.cli.context import get_config
        from voicegw_cli.cli.output import dumps, emit
        from voicegw_cli.reconcile.names import canonical_provider
        from voicegw_cli.reconcile.pull import pull as run

        cfg = get_config()
        span = periods.resolve(cfg.tz, period=period, start=start, end=end, utc=True, default=None)
        result = run(
            cfg, canonical_provider(provider), span.start, span.end, project=project, root=output
        )
        if fmt is Format.json:
            typer.echo(dumps(result.as_dict()))
            return
        if fmt is Format.csv:
            emit(
                result.pages,
                fmt=fmt,
                columns=["file", "kind", "url", "status", "fetched_at", "empty", "bytes", "sha256"],
            )
            return
        scope = f" for project {project}" if project else ""
        emit(
            result.by_kind(),
            fmt=fmt,
            title=escape(f"Pulled {result.provider} {span.start}..{span.end} (UTC days){scope}"),
            columns=["kind", "pages", "empty_pages", "bytes"],
        )
        note_pull(result)

    from voicegw_cli.cli.projects_manage import flow

    app.command(epilog=EPILOG, help=flow(pull.__doc__))(pull)
