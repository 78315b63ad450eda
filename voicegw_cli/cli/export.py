"""`voicegw export-costs`: every line item of a period, streamed as CSV, JSON or Parquet."""

from __future__ import annotations

from contextlib import nullcontext
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
            str | None,
            typer.Option(
                "--output",
                "-o",
                help="Write here (atomically) instead of stdout; with --partition a "
                "directory or s3://bucket/prefix.",
            ),
        ] = None,
        partition: Annotated[
            str | None,
            typer.Option(
                "--partition",
                help="day: hive-partitioned Parquet (day=YYYY-MM-DD/part-0.parquet) under "
                "-o, writing only the days that changed since the last export there.",
            ),
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

        if partition is not None:
            _partitioned(partition, fmt, output, period, start, end, utc, project)
            return
        p = periods.resolve(
            get_config().tz, period=period, start=start, end=end, utc=utc, default=None
        )
        lo, hi = p.start_utc, p.end_utc
        out = Path(output) if output is not None else None
        from voicegw_cli.cli.progress import progress_bar

        with open_store() as store:
            if project:
                check_project(store, project)
            # a bar only when writing a file: stdout is the export itself
            with progress_bar() if out is not None else nullcontext() as bar:
                rows = run(store.conn, lo, hi, fmt=fmt.value, out=out, project=project,
                           progress=bar)  # fmt: skip
        if output is not None:
            note(f"wrote {rows:,} line items ({p.describe()}) to {output}")


def _partitioned(
    partition: str,
    fmt: ExportFormat,
    output: str | None,
    period: str | None,
    start: str | None,
    end: str | None,
    utc: bool,
    project: str | None,
) -> None:
    """`--partition day`: every day (or the period's days), only those that changed."""
    from voicegw_cli import periods
    from voicegw_cli.cli.context import get_config, open_store
    from voicegw_cli.cli.output import note
    from voicegw_cli.errors import UsageError
    from voicegw_cli.export import export_partitioned
    from voicegw_cli.reports import check_project

    if partition != "day":
        raise UsageError(f"--partition: only 'day' is supported, not {partition!r}")
    if fmt is not ExportFormat.parquet:
        raise UsageError("--partition day writes Parquet: add --format parquet")
    if not output:
        raise UsageError("--partition day needs -o DIR or -o s3://bucket/prefix")
    cfg = get_config()
    zone = "UTC" if utc else cfg.timezone
    lo = hi = None
    if period or start or end:
        p = periods.resolve(cfg.tz, period=period, start=start, end=end, utc=utc, default=None)
        lo, hi = p.start_utc, p.end_utc
    with open_store() as store:
        if project:
            check_project(store, project)
        report = export_partitioned(
            store.conn, output, zone=zone, start=lo, end=hi, project=project, settings=cfg.ship
        )
    note(
        f"wrote {report.days_written:,} day(s), {report.rows_written:,} line items to "
        f"{report.target} ({report.days_unchanged:,} unchanged, {report.days_removed:,} "
        "removed; days local to " + zone + ")"
    )
