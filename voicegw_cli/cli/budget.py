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
#: `--period` words that mean "the daily budget" / "the monthly budget" of --date's period.
_OLD_WORDS = {"day": "today", "month": "month"}


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
        from voicegw_cli import periods
        from voicegw_cli.budget import check_store
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.cli.output import cost, emit, money, note
        from voicegw_cli.config import merged_projects
        from voicegw_cli.errors import CheckFailed, UsageError
        from voicegw_cli.reports import check_project

        cfg = get_config()
        word = (period or "day").strip().lower()
        if word in _OLD_WORDS and date:
            p = periods.parse_period(periods.parse_date(date, "--date").isoformat(), cfg.tz)
            p = p if word == "day" else periods.month(p.start, cfg.tz)
        elif date:
            raise UsageError("--date goes with --period day or --period month")
        else:
            p = periods.parse_period(_OLD_WORDS.get(word, word), cfg.tz)
        if p.start == p.end:
            kind = "day"
        elif p.start.day == 1 and periods.month(p.start, cfg.tz).end == p.end:
            kind = "month"
        else:
            raise UsageError(
                f"--period {period}: budgets are daily or monthly; give a day or a month"
            )
        with open_store() as store:
            if project:
                check_project(store, project)
            projects = merged_projects(cfg, store.conn)
            statuses = check_store(
                store.conn, cfg, period=kind, day=p.start, projects=projects, only=project
            )
        rows = [s.as_row() for s in statuses]
        over = [s.project for s in statuses if s.exceeded]
        unpriced = [s for s in statuses if s.unpriced_items]
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
            emit(
                rows,
                fmt=fmt,
                columns=COLUMNS,
                payload={"period": p.as_dict(), "budget": kind, "over_budget": over},
            )
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
