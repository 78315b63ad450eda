"""`voicegw budget check`: spend against each project's budget; exit 1 on an overrun."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from voicegw_cli.cli.output import Format, FormatOpt


class PeriodOpt(StrEnum):
    day = "day"
    month = "month"


COLUMNS = [
    "project",
    "period",
    "start",
    "end",
    "timezone",
    "spend_usd",
    "budget_usd",
    "percent",
    "status",
    "action",
]
#: The table names the period in its caption, so it leaves the bounds out.
TABLE_COLUMNS = ["project", "spend_usd", "budget_usd", "percent", "status", "action"]


def register(app: typer.Typer) -> None:
    budget_app = typer.Typer(
        help="Budgets per project: daily and monthly, in the configured time zone.",
        no_args_is_help=True,
    )

    @budget_app.command("check")
    def check(
        project: Annotated[
            str | None, typer.Option("--project", "-p", help="Only this project.")
        ] = None,
        period: Annotated[
            PeriodOpt, typer.Option("--period", help="Budget period to check.")
        ] = PeriodOpt.day,
        date: Annotated[
            str | None,
            typer.Option("--date", help="A local day in the period, YYYY-MM-DD (default today)."),
        ] = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Spend, budget, percent and status per project.

        Exits 1 when any checked project is over budget, so a CI job can fail on an
        overrun. Status: ok, warning (80% or more), exceeded (100% or more), no_budget.
        """
        from voicegw_cli import periods
        from voicegw_cli.budget import check_store
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.cli.output import emit, money
        from voicegw_cli.config import merged_projects
        from voicegw_cli.errors import CheckFailed
        from voicegw_cli.reports import check_project

        cfg = get_config()
        day = periods.parse_date(date, "--date") if date else periods.local_today(cfg.tz)
        with open_store() as store:
            if project:
                check_project(store, project)
            projects = merged_projects(cfg, store.conn)
            statuses = check_store(
                store.conn, cfg, period=period.value, day=day, projects=projects, only=project
            )
        rows = [s.as_row() for s in statuses]
        over = [s.project for s in statuses if s.exceeded]
        p = periods.day(day, cfg.tz) if period is PeriodOpt.day else periods.month(day, cfg.tz)
        if fmt is Format.table:
            emit(
                rows,
                fmt=fmt,
                title=f"Budgets — {period.value}",
                caption=p.describe(),
                columns=TABLE_COLUMNS,
                cells={
                    "spend_usd": lambda r: money(r["spend_usd"]),
                    "budget_usd": lambda r: money(r["budget_usd"], 2) if r["budget_usd"] else "—",
                    "percent": lambda r: f"{r['percent']}%" if r["percent"] is not None else "—",
                    "status": _status_cell,
                },
            )
        else:
            emit(
                rows, fmt=fmt, columns=COLUMNS, payload={"period": p.as_dict(), "over_budget": over}
            )
        if over:
            adjective = "daily" if period is PeriodOpt.day else "monthly"
            raise CheckFailed(
                f"{len(over)} project(s) over their {adjective} budget: {', '.join(over)}"
            )

    app.add_typer(budget_app, name="budget")


def _status_cell(row: dict) -> str:
    colour = {"exceeded": "red", "warning": "yellow", "ok": "green"}.get(row["status"])
    return f"[{colour}]{row['status']}[/]" if colour else row["status"]
