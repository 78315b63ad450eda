"""`voicegw costs`: cost and native units per group over a calendar period."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from voicegw_cli.cli.output import Format, FormatOpt
from voicegw_cli.cli.periods import EndOpt, PeriodOpt, ProjectOpt, StartOpt

UNITS = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "audio_minutes",
    "characters",
)
#: Short labels for the units when they share one column on a narrow terminal.
UNIT_LABELS = {
    "input_tokens": "in",
    "cached_input_tokens": "cached in",
    "output_tokens": "out",
    "audio_minutes": "audio min",
    "characters": "chars",
}


class By(StrEnum):
    provider = "provider"
    model = "model"
    modality = "modality"
    project = "project"
    day = "day"


def register(app: typer.Typer) -> None:
    @app.command()
    def costs(
        project: ProjectOpt = None,
        period: PeriodOpt = None,
        start: StartOpt = None,
        end: EndOpt = None,
        today: Annotated[bool, typer.Option("--today", help="Same as --period today.")] = False,
        week: Annotated[bool, typer.Option("--week", help="Same as --period week.")] = False,
        month: Annotated[bool, typer.Option("--month", help="Same as --period month.")] = False,
        by: Annotated[By, typer.Option("--by", help="Group rows by this.")] = By.model,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Cost and units (tokens, audio minutes, characters) per group for a period.

        Periods are calendar days, weeks and months in the configured time zone.
        """
        from voicegw_cli import periods
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.cli.output import cost, count, emit, note
        from voicegw_cli.reports import check_project, cost_report

        cfg = get_config()
        period_ = periods.resolve(
            cfg.tz,
            period=period,
            start=start,
            end=end,
            aliases={"--today": today, "--week": week, "--month": month},
        )
        with open_store() as store:
            if project:
                check_project(store, project)
            report = cost_report(store, period_, by=by.value, project=project)
        rows = report["rows"]
        if fmt is not Format.table:
            emit(rows, fmt=fmt, payload={k: v for k, v in report.items() if k != "rows"})
            return
        title = f"Costs by {by.value}" + (f" — project {project}" if project else "")
        total = cost(report["total_cost_usd"], report["unpriced_items"])
        caption = f"{period_.describe()}\nTotal {total} over {report['items']:,} items"
        if report["unpriced_items"]:
            caption += " (unpriced items are not in the total)"
        totals = report["totals"]

        def units(r: dict, u: str) -> str:
            return count(r[u], 3 if u == "audio_minutes" else 0)

        emit(
            rows,
            fmt=fmt,
            title=title,
            caption=caption,
            columns=[by.value, "items", "cost_usd", *UNITS],
            cells={
                "cost_usd": lambda r: cost(r["cost_usd"], r["unpriced_items"]),
                "items": lambda r: count(r["items"]),
                **{
                    u: (lambda r, u=u: count(r[u], 3 if u == "audio_minutes" else 0)) for u in UNITS
                },
            },
            optional=UNITS,
            fold_into="units",
            labels=UNIT_LABELS,
            footer={
                by.value: "total",
                "items": count(report["items"]),
                "cost_usd": total,
                **{u: units(totals, u) for u in UNITS if totals[u]},
            },
        )
        if report["unpriced"]["items"]:
            models = ", ".join(
                f"{m['provider']}/{m['model']} ({m['items']})" for m in report["unpriced"]["models"]
            )
            note(
                f"[yellow]{report['unpriced']['items']} unpriced item(s) not in the total:[/] "
                f"{models}"
            )
