"""The period options every command that reads a period shares, with one meaning each.

def cmd(period: PeriodOpt = None, start: StartOpt = None, end: EndOpt = None, ...):
    p = periods.resolve(cfg.tz, period=period, start=start, end=end)
"""

from __future__ import annotations

from typing import Annotated

import typer

from voicegw_cli.periods import PERIOD_HELP

PeriodOpt = Annotated[
    str | None, typer.Option("--period", metavar="PERIOD", help=PERIOD_HELP + ".")
]
StartOpt = Annotated[
    str | None,
    typer.Option("--start", metavar="DATE", help="First local day, YYYY-MM-DD (with --end)."),
]
EndOpt = Annotated[
    str | None, typer.Option("--end", metavar="DATE", help="Last local day, inclusive.")
]
#: For commands that read providers' data, whose exports bucket UTC days.
UtcPeriodOpt = Annotated[
    str | None,
    typer.Option(
        "--period",
        metavar="PERIOD",
        help="last-month, month, YYYY-MM, a day YYYY-MM-DD, ...: read as UTC days, like the "
        "providers' exports.",
    ),
]
UtcStartOpt = Annotated[
    str | None, typer.Option("--start", metavar="DATE", help="First UTC day, YYYY-MM-DD.")
]
UtcEndOpt = Annotated[
    str | None, typer.Option("--end", metavar="DATE", help="Last UTC day, inclusive.")
]
ProjectOpt = Annotated[
    str | None, typer.Option("--project", "-p", metavar="ID", help="Only this project.")
]
UtcOpt = Annotated[
    bool,
    typer.Option("--utc", help="Read the period's days in UTC instead of the configured zone."),
]
