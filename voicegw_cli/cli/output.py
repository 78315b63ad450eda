"""Every output three ways: a Rich table for people, JSON and CSV for machines."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def dumps(payload: Any) -> str:
    """JSON with money as exact decimal strings."""
    return json.dumps(_jsonable(payload), indent=2, ensure_ascii=False)


def money(value: Decimal | None, places: int = 4) -> str:
    if value is None:
        return "—"
    return f"${value:,.{places}f}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(_jsonable(value), separators=(",", ":"))
    return str(value)


def write_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str], out=None) -> None:
    writer = csv.writer(out or sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])


def emit(
    rows: Sequence[dict[str, Any]],
    *,
    fmt: str | Format,
    title: str | None = None,
    columns: Sequence[str] | None = None,
    caption: str | None = None,
    payload: dict[str, Any] | None = None,
    cells: dict[str, Any] | None = None,
) -> None:
    """Render rows. `payload` (JSON only) wraps the rows with context such as the period;
    `cells` maps a column to a function giving its human rendering in the table."""
    fmt = Format(fmt)
    columns = list(columns or (rows[0].keys() if rows else []))
    if fmt is Format.json:
        body = {**payload, "rows": list(rows)} if payload is not None else list(rows)
        sys.stdout.write(dumps(body) + "\n")
        return
    if fmt is Format.csv:
        write_csv(rows, columns)
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, caption=caption, show_lines=False, header_style="bold")
    for i, col in enumerate(columns):
        sample = next((r.get(col) for r in rows if r.get(col) is not None), None)
        numeric = isinstance(sample, int | float | Decimal) and not isinstance(sample, bool)
        table.add_column(col, justify="right" if numeric else "left", no_wrap=i == 0)
    cells = cells or {}
    for row in rows:
        table.add_row(
            *[cells[c](row) if c in cells else escape(_cell(row.get(c))) for c in columns]
        )
    Console().print(table)


def note(message: str) -> None:
    """A human-only line on stderr, so JSON/CSV on stdout stays clean."""
    from rich.console import Console

    Console(stderr=True).print(message)


def _format_option():
    import typer

    return typer.Option("--format", "-f", help="table for people; json or csv for machines.")


#: Use as `fmt: FormatOpt = Format.table` in every command.
FormatOpt = __import__("typing").Annotated[Format, _format_option()]
