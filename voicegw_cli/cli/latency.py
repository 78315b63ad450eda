"""`voicegw latency`: latency percentiles per model, provider, project or day."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from voicegw_cli.cli.output import Format, FormatOpt
from voicegw_cli.cli.periods import EndOpt, PeriodOpt, StartOpt


class By(StrEnum):
    model = "model"
    provider = "provider"
    project = "project"
    day = "day"


def register(app: typer.Typer) -> None:
    @app.command()
    def latency(
        project: Annotated[
            str | None, typer.Option("--project", "-p", help="Only this project.")
        ] = None,
        period: PeriodOpt = None,
        start: StartOpt = None,
        end: EndOpt = None,
        by: Annotated[By, typer.Option("--by", help="Group rows by this.")] = By.model,
        metric: Annotated[
            list[str] | None,
            typer.Option(
                "--metric",
                "-m",
                help="transcription_delay, end_of_turn_delay, llm_ttft, tts_ttfb, "
                "e2e_latency (repeat or comma-separate; default all).",
            ),
        ] = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """count, p50, p90, p95, p99 and max (ms) of what LiveKit measured on each turn.

        Percentiles are DuckDB's quantile_cont over every raw sample of the period
        (calendar periods in the configured time zone; default today).
        """
        from voicegw_cli import periods
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.cli.output import emit
        from voicegw_cli.latency import latency_report, parse_metrics
        from voicegw_cli.reports import check_project

        cfg = get_config()
        metrics = parse_metrics(metric)
        period_ = periods.resolve(cfg.tz, period=period, start=start, end=end)
        with open_store() as store:
            if project:
                check_project(store, project)
            report = latency_report(store, period_, by=by.value, metrics=metrics, project=project)
        rows = report["rows"]
        if fmt is not Format.table:
            emit(rows, fmt=fmt, payload={k: v for k, v in report.items() if k != "rows"})
            return
        ms = lambda key: lambda r: f"{r[key]:,.0f}"  # noqa: E731
        stats = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms")
        caption = (
            period_.describe()
            + "\n"
            + "; ".join(f"{m}: {text}" for m, text in report["metrics"].items())
        )
        emit(
            rows,
            fmt=fmt,
            title=f"Latency by {by.value} (ms)" + (f" — project {project}" if project else ""),
            caption=caption,
            columns=["metric", by.value, "count", *stats],
            cells={"count": lambda r: f"{r['count']:,}", **{k: ms(k) for k in stats}},
        )
