"""`voicegw reconcile`: our line items against a provider's usage or billing export."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


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
    "3 an export file cannot be read. Formats read: docs/reconcile.md."
)


def register(app: typer.Typer) -> None:
    @app.command(epilog=EPILOG)
    def reconcile(
        provider: Annotated[
            str,
            typer.Option(
                "--provider",
                help="Who bills it: openai, anthropic, deepgram, elevenlabs, "
                "cartesia, groq, assemblyai, livekit...",
            ),
        ],
        usage_files: Annotated[
            list[Path],
            typer.Option(
                "--provider-usage-file",
                help="An export file or a folder of them (repeatable; more may follow as "
                "arguments). The format is read from the content.",
            ),
        ],
        start: Annotated[str, typer.Option("--start", help="First UTC day, YYYY-MM-DD.")],
        end: Annotated[str, typer.Option("--end", help="Last UTC day, inclusive.")],
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
    ) -> None:
        """Compare our items with a provider's usage or billing export; name each cause.

        Rows are per model (or model and day); every unit kind the export reports
        (uncached/cached input, cache writes, output tokens, audio seconds, characters,
        credits) and the cost are compared. Days are UTC and inclusive.
        """
        import sys

        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.cli.export import utc_bounds
        from voicegw_cli.errors import CheckFailed
        from voicegw_cli.reconcile import compare
        from voicegw_cli.reconcile.diff import Settings
        from voicegw_cli.reconcile.names import canonical_provider
        from voicegw_cli.reconcile.read import read_exports
        from voicegw_cli.reconcile.report import render, to_text
        from voicegw_cli.reports import check_project

        first, last, _, _ = utc_bounds(start, end)
        prov = canonical_provider(provider)
        # Read (and reject) the exports before touching the store.
        export = read_exports([*usage_files, *(more_files or [])], prov, metric=metric.value)
        settings = Settings(first, last, by=by.value, threshold_pct=threshold, project=project)
        with open_store() as store:
            if project:
                check_project(store, project)
            result = compare(store.conn, export, settings, config=get_config())
        if fmt is ReportFormat.text:
            from rich.console import Console

            # Logs and CI capture are not terminals: give the table room instead of 80 cols.
            console = Console()
            to_text(result, console if console.is_terminal else Console(width=120))
        else:
            sys.stdout.write(render(result, fmt.value))
        if fail_on_drift and result.flagged:
            n = len(result.flagged)
            raise CheckFailed(
                f"reconcile: {n} row{'s' if n != 1 else ''} beyond the {threshold:g}% threshold"
            )
