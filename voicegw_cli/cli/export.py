"""`voicegw export-costs`: every line item of a period, streamed as CSV, JSON or Parquet."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from voicegw_cli.cli.periods import EndOpt, PeriodOpt, ProjectOpt, StartOpt, UtcOpt


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"
    ndjson = "ndjson"
    parquet = "parquet"


def register(app: typer.Typer) -> None:
    @app.command("export-costs")
    def export_costs(
        period: PeriodOpt = None,
        start: StartOpt = None,
        end: EndOpt = None,
        utc: UtcOpt = False,
        project: ProjectOpt = None,
        fmt: Annotated[
            ExportFormat, typer.Option("--format", "-f", help="csv, json, ndjson or parquet.")
        ] = ExportFormat.csv,
        output: Annotated[
            Path | None,
            typer.Option("--output", "-o", help="Write here (atomically) instead of stdout."),
        ] = None,
    ) -> None:
        """Every line item of a period, one row each, in the columns `ingest` reads back.

        The period is required (--period or --start/--end); its days are local to the
        configured time zone, like `costs`, so both agree on any period (--utc for UTC
        days). Timestamps are ISO-8601 UTC; money is an exact decimal (a string in JSON).
        Streams: memory stays flat however many items.
        """
        from voicegw_cli import periods
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.cli.output import note
        from voicegw_cli.export import export_costs as run
        from voicegw_cli.reports import check_project

        p = periods.resolve(
            get_config().tz, period=period, start=start, end=end, utc=utc, default=None
        )
        lo, hi = p.start_utc, p.end_utc
        with open_store() as store:
            if project:
                check_project(store, project)
            rows = run(store.conn, lo, hi, fmt=fmt.value, out=output, project=project)
        if output is not None:
            note(f"wrote {rows:,} line items ({p.describe()}) to {output}")
