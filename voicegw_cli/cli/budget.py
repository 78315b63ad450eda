"""`voicegw budget check`: spend against each project's budget; exit 1 on an overrun."""

from __future__ import annotations

from typing import Annotated

import typer

from voicegw_cli.cli.output import Format, FormatOpt
from voicegw_cli.cli.periods import ProjectOpt

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
    "unpriced_items",
    "spend_is_lower_bound",
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
        project: ProjectOpt = None,
        period: Annotated[
            str | None,
            typer.Option(
                "--period",
                metavar="PERIOD",
                help="A day (today, yesterday, YYYY-MM-DD: the daily budgets) or a month "
                "(month, last-month, YYYY-MM: the monthly budgets), in the configured zone. "
                "`day` (the default) and `month` still work, with --date.",
            ),
        ] = None,
        date: Annotated[
            str | None,
            typer.Option("--date", help="With --period day|month: a local day in the period."),
        ] = None,
        fail_on_unpriced: Annotated[
            bool,
            typer.Option(
                "--fail-on-unpriced",
                help="Also exit 1 when any usage in the period is unpriced (spend is then "
                "only a lower bound).",
            ),
        ] = False,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Spend, budget, percent and status per project; exit 1 on an overrun.

        A CI job can fail on an overrun. Status: ok, warning (80% or more), exceeded (100%
        or more), no_budget. Unpriced usage is never counted as $0: the spend shown is then
        a lower bound, and --fail-on-unpriced fails the check.
        """
        from voicegw_cli.budget import budget_check
        from voicegw_cli.cli.context import open_store
        from voicegw_cli.cli.output import cost, emit, money, note
        from voicegw_cli.errors import CheckFailed

        with open_store() as store:
            check_ = budget_check(store, period=period, date_=date, project=project)
        p, kind = check_.period, check_.kind
        rows = [s.as_row() for s in check_.statuses]
        over = check_.over
        unpriced = check_.unpriced
        if fmt is Format.table:
            emit(
                rows,
                fmt=fmt,
                title=f"Budgets — {'daily' if kind == 'day' else 'monthly'}",
                caption=p.describe(),
                columns=TABLE_COLUMNS,
                cells={
                    "spend_usd": lambda r: cost(r["spend_usd"], r["unpriced_items"]),
                    "budget_usd": lambda r: money(r["budget_usd"], 2) if r["budget_usd"] else "—",
                    "percent": lambda r: f"{r['percent']}%" if r["percent"] is not None else "—",
                    "status": _status_cell,
                },
            )
            if unpriced:
                n = sum(s.unpriced_items for s in unpriced)
                note(
                    f"[yellow]spend is a lower bound:[/] {n:,} unpriced item(s) in "
                    f"{', '.join(s.project for s in unpriced)} (see `voicegw costs`; "
                    "--fail-on-unpriced makes this fail the check)"
                )
        else:
            body = check_.as_dict()
            emit(body.pop("rows"), fmt=fmt, columns=COLUMNS, payload=body)
        problems = []
        if over:
            adjective = "daily" if kind == "day" else "monthly"
            problems.append(
                f"{len(over)} project(s) over their {adjective} budget: {', '.join(over)}"
            )
        if fail_on_unpriced and unpriced:
            names = ", ".join(s.project for s in unpriced)
            problems.append(f"unpriced usage in {names} (spend is a lower bound)")
        if problems:
            raise CheckFailed("; ".join(problems))

    app.add_typer(budget_app, name="budget")


def _status_cell(row: dict) -> str:
    colour = {"exceeded": "red", "warning": "yellow", "ok": "green"}.get(row["status"])
    return f"[{colour}]{row['status']}[/]" if colour else row["status"]
