"""`voicegw reconcile`: our line items against a provider's usage or billing export."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from voicegw_cli.cli.periods import UtcEndOpt, UtcPeriodOpt, UtcStartOpt


class By(StrEnum):
    model = "model"
    day = "day"


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class Metric(StrEnum):
    credits = "credits"
    characters = "characters"


EPILOG = (
    "Causes: coverage (one side only, or the export stops early) · timezone (days shifted "
    "by a zone offset, or our clock off around one midnight) · units (a metering gap) · "
    "cached (cached/uncached split differs) · split (text/audio split differs) · unpriced "
    "(our items have no price) · rate (units agree, cost does not; a dated override is "
    "suggested when the price changed). Exit codes: 0 nothing flagged (or "
    "flagged without --fail-on-drift) · 1 flagged with --fail-on-drift · 2 usage error · "
    "3 an export file cannot be read, or a pull failed (key refused, network). Formats "
    "read: docs/reconcile.md."
)


def _pulled(
    provider: str,
    first: date,
    last: date,
    project: str | None,
    cached: bool,
    root: Path | None,
    metric: str,
) -> list[Path]:
    """Pull (or reuse with `cached`) the provider's pages; the files to read."""
    from voicegw_cli.cli.context import get_config
    from voicegw_cli.cli.pull import note_pull, shown
    from voicegw_cli.errors import UsageError
    from voicegw_cli.reconcile.pull import pull_or_reuse

    if provider == "elevenlabs" and metric != "credits":
        raise UsageError("a pull asks ElevenLabs for credits; drop --metric characters")
    result, why = pull_or_reuse(
        get_config(), provider, first, last, cached=cached, project=project, root=root
    )
    note_pull(result, why)
    return [shown(f) for f in result.export_files()]


def register(app: typer.Typer) -> None:
    def reconcile(
        provider: Annotated[
            str,
            typer.Option(
                "--provider",
                help="Who bills it: openai, anthropic, deepgram, elevenlabs, "
                "cartesia, groq, assemblyai, livekit...",
            ),
        ],
        period: UtcPeriodOpt = None,
        start: UtcStartOpt = None,
        end: UtcEndOpt = None,
        usage_files: Annotated[
            list[Path] | None,
            typer.Option(
                "--provider-usage-file",
                help="An export file or a folder of them (repeatable; more may follow as "
                "arguments). The format is read from the content. Without any, the "
                "provider's pages are pulled first (`voicegw pull`).",
            ),
        ] = None,
        more_files: Annotated[
            list[Path] | None, typer.Argument(help="More export files or folders.")
        ] = None,
        project: Annotated[
            str | None, typer.Option("--project", "-p", help="Only our items of this project.")
        ] = None,
        by: Annotated[By, typer.Option("--by", help="One row per model, or per model and day.")] = (
            By.model
        ),
        threshold: Annotated[
            float,
            typer.Option(
                "--threshold", min=0.0, help="Percent difference tolerated in units and cost."
            ),
        ] = 1.0,
        fmt: Annotated[
            ReportFormat, typer.Option("--format", "-f", help="text, json, csv or markdown.")
        ] = ReportFormat.text,
        metric: Annotated[
            Metric,
            typer.Option(
                "--metric",
                help="What an ElevenLabs character-stats export counts (it does not say).",
            ),
        ] = Metric.credits,
        fail_on_drift: Annotated[
            bool, typer.Option("--fail-on-drift", help="Exit 1 when any row is flagged.")
        ] = False,
        cached: Annotated[
            bool,
            typer.Option(
                "--cached",
                help="With no export file: reuse a complete earlier pull of the same range "
                "(pages checked against their hashes) instead of pulling again.",
            ),
        ] = False,
        pull_only: Annotated[
            bool,
            typer.Option(
                "--pull-only", help="With no export file: pull and save the pages, then stop."
            ),
        ] = False,
        pull_dir: Annotated[
            Path | None,
            typer.Option(
                "--pull-dir", help="Where pulls are kept (default: pulls/ beside the store)."
            ),
        ] = None,
    ) -> None:
        """Compare our items with a provider's usage or billing export; name each cause.

        Rows are per model (or model and day); every unit kind the export reports
        (uncached/cached input, cache writes, output tokens, audio seconds, characters,
        credits) and the cost are compared. Days are UTC and inclusive, whatever the
        configured zone, because every provider's export buckets UTC days (the report says
        so). The period is required: --period (e.g. last-month) or --start/--end. With no export
        file, the provider's pages are pulled over its admin API first and kept
        (see `voicegw pull`); --cached reuses a complete earlier pull.
        """
        import sys

        from voicegw_cli import periods
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.errors import CheckFailed, UsageError
        from voicegw_cli.reconcile import reconcile_files
        from voicegw_cli.reconcile.names import canonical_provider
        from voicegw_cli.reconcile.report import render, to_text

        span = periods.resolve(
            get_config().tz, period=period, start=start, end=end, utc=True, default=None
        )
        first, last = span.start, span.end
        prov = canonical_provider(provider)
        files = [*(usage_files or []), *(more_files or [])]
        if files and (cached or pull_only or pull_dir):
            raise UsageError(
                "--cached, --pull-only and --pull-dir are for pulling, which export files "
                "replace: give one or the other"
            )
        if not files:
            files = _pulled(prov, first, last, project, cached, pull_dir, metric.value)
            if pull_only:
                return
        from voicegw_cli.cli.progress import progress_bar

        with progress_bar() as bar:
            result = reconcile_files(
                open_store,
                files,
                prov,
                first,
                last,
                project=project,
                by=by.value,
                threshold_pct=threshold,
                metric=metric.value,
                progress=bar,
            )
        if fmt is ReportFormat.text:
            from voicegw_cli.cli.output import console, render_table

            # Logs and CI capture are not terminals: give the table room instead of 80 cols.
            out = console()
            to_text(result, out if out.is_terminal else console(width=120), table=render_table)
        else:
            sys.stdout.write(render(result, fmt.value))
        if fail_on_drift and result.flagged:
            n = len(result.flagged)
            raise CheckFailed(
                f"reconcile: {n} row{'s' if n != 1 else ''} beyond the {threshold:g}% threshold"
            )

    from voicegw_cli.cli.projects_manage import flow

    app.command(epilog=EPILOG, help=flow(reconcile.__doc__))(reconcile)
