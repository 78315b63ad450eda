"""Every output three ways: a Rich table for people, JSON and CSV for machines."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from voicegw_cli.wire import dumps  # dumps: the CLI's JSON
from voicegw_cli.wire import jsonable as _jsonable

__all__ = ["dumps", "emit", "note"]


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def money(value: Decimal | None, places: int = 4) -> str:
    """`$1,234.5678`, `-$1.2300` (one spelling for negatives), `—` for no value."""
    if value is None:
        return "—"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{places}f}"


def cost(value: Decimal | None, unpriced_items: int = 0, places: int = 4) -> str:
    """A cost that never passes unpriced usage off as $0: `unpriced` when nothing is
    priced, `$1.2300 + 3 unpriced` when the figure is a lower bound."""
    if value is None:
        return "unpriced"
    shown = money(value, places)
    return f"{shown} + {unpriced_items:,} unpriced" if unpriced_items else shown


def count(value: int | float | None, places: int = 0) -> str:
    """A count with thousands separators (minutes with `places` decimals)."""
    if value is None:
        return "—"
    return f"{value:,.{places}f}"


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


def _table_cell(value: Any) -> str:
    """As `_cell`, with thousands separators on counts (tables only: CSV stays plain)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return _cell(value)


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
    optional: Sequence[str] = (),
    footer: dict[str, str] | None = None,
    fold_into: str | None = None,
    labels: dict[str, str] | None = None,
) -> None:
    """Render rows. `payload` (JSON only) wraps the rows with context such as the period;
    `cells` maps a column to a function giving its human rendering in the table.

    In the table, `optional` columns give way first: they are left out when every row
    shown is zero or empty there, and, last first, when the terminal is too narrow.
    Nothing else is ever cut: money, counts and ids print whole (see `render_table`).
    `footer` is a total row (column -> rendered text). With `fold_into`, optional columns
    that do not fit are shown together in one column of that name, a `value label` line
    each (`labels` gives short labels)."""
    fmt = Format(fmt)
    columns = list(columns or (rows[0].keys() if rows else []))
    if fmt is Format.json:
        body = {**payload, "rows": list(rows)} if payload is not None else list(rows)
        sys.stdout.write(dumps(body) + "\n")
        return
    if fmt is Format.csv:
        write_csv(rows, columns)
        return
    render_table(
        console(),
        rows,
        columns,
        title=title,
        caption=caption,
        cells=cells,
        optional=optional,
        footer=footer,
        fold_into=fold_into,
        labels=labels,
    )


def _is_blank(value: Any) -> bool:
    return value in (None, "", 0, [], {}) or (isinstance(value, Decimal) and value == 0)


#: Width a column costs beyond its content: one space each side and one rule.
_COLUMN_OVERHEAD = 3


def render_table(
    console: Any,
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    *,
    title: str | None = None,
    caption: str | None = None,
    cells: dict[str, Any] | None = None,
    optional: Sequence[str] = (),
    footer: dict[str, str] | None = None,
    fold_into: str | None = None,
    labels: dict[str, str] | None = None,
    box: Any = None,
    title_justify: str = "center",
) -> list[str]:
    """Print `rows` as a table that fits `console.width` without cutting a value.

    What gives way, in order: optional columns that are empty for the rows shown; text
    that can wrap between words (names, tags) wraps; headers wrap at their words; the
    optional columns fold into one `fold_into` column of `value label` lines, or without
    one are hidden, last first (a note on stderr says which); and when even the rest
    cannot fit, each row is printed as a stacked block of `column  value` lines.
    Returns the columns shown."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    cells = cells or {}
    footer = dict(footer or {})
    opt = [c for c in columns if c in optional]
    shown = [c for c in columns if not (c in opt and all(_is_blank(r.get(c)) for r in rows))]
    rendered = {
        c: [cells[c](r) if c in cells else escape(_table_cell(r.get(c))) for r in rows]
        for c in columns
    }
    texts = {c: [Text.from_markup(v) for v in vals] for c, vals in rendered.items()}
    numeric: dict[str, bool] = {}
    for c in columns:
        sample = next((r.get(c) for r in rows if r.get(c) is not None), None)
        numeric[c] = isinstance(sample, int | float | Decimal) and not isinstance(sample, bool)

    def fold(cols: list[str]) -> list[str]:
        """`cols` with its optional columns replaced by one `fold_into` column."""
        folded = [c for c in cols if c in opt]
        if not fold_into or not folded:
            return cols
        names = labels or {}

        def lines(values: list[tuple[str, Any, str]]) -> Text:
            parts = [f"{shown_} {names.get(c, header(c))}" for c, v, shown_ in values]
            return Text("\n".join(p for p in parts) or "—")

        texts[fold_into] = [
            lines([(c, r.get(c), texts[c][n].plain) for c in folded if not _is_blank(r.get(c))])
            for n, r in enumerate(rows)
        ]
        if footer and any(c in footer for c in folded):
            footer[fold_into] = "\n".join(
                f"{footer[c]} {names.get(c, header(c))}" for c in folded if c in footer
            )
        numeric[fold_into] = False
        at = cols.index(folded[0])
        rest = [c for c in cols if c not in folded]
        return rest[:at] + [fold_into] + rest[at:]

    def header(c: str) -> str:
        return c.replace("_", " ")

    def widths(c: str, first: bool) -> tuple[int, int]:
        """(narrowest, widest) content width: whole values, words of wrapping text."""
        lines = [ln for t in texts[c] for ln in t.plain.splitlines()] or [""]
        if c in footer:
            lines.extend(Text.from_markup(footer[c]).plain.splitlines())
        widest = max(len(ln) for ln in lines)
        head_word = max(len(w) for w in header(c).split())
        if c == fold_into:
            narrow = widest  # one quantity a line, kept whole
        elif first or numeric[c] or not any(" " in ln for ln in lines):
            narrow = widest  # ids, money, counts: never wrapped, never cut
        else:
            narrow = max(len(w) for ln in lines for w in ln.split() or [""])
        return max(narrow, head_word), max(widest, len(header(c)))

    def layout(cols: list[str]) -> list[int] | None:
        spans = [widths(c, i == 0) for i, c in enumerate(cols)]
        room = console.width - _COLUMN_OVERHEAD * len(cols) - 1
        if sum(lo for lo, _ in spans) > room:
            return None
        out = [lo for lo, _ in spans]
        spare = room - sum(out)
        # Give the spare width to the columns that want it, most wanting first.
        while spare > 0:
            want = [(hi - w, i) for i, ((_, hi), w) in enumerate(zip(spans, out, strict=True))]
            gap, i = max(want)
            if gap <= 0:
                break
            step = min(gap, spare)
            out[i] += step
            spare -= step
        return out

    hidden: list[str] = []
    fit = layout(shown)
    if fit is None and fold_into and any(c in opt for c in shown):
        shown = fold(shown)
        fit = layout(shown)
    while fit is None and any(c in opt for c in shown):
        drop = next(c for c in reversed(shown) if c in opt)
        shown.remove(drop)
        hidden.append(drop)
        fit = layout(shown)
    if fit is None:  # a block per row has room for every column: nothing is hidden
        shown = [c for c in columns if not (c in opt and all(_is_blank(r.get(c)) for r in rows))]
        hidden = []
        _stacked(console, rows, shown, texts, title=title, caption=caption, header=header)
    else:
        style: dict[str, Any] = {"box": box} if box is not None else {}
        table = Table(
            title=title,
            caption=caption,
            header_style="bold",
            show_footer=bool(footer),
            title_justify=title_justify,  # type: ignore[arg-type]
            **style,
        )
        for c, w in zip(shown, fit, strict=True):
            table.add_column(
                header(c),
                footer=footer.get(c, ""),
                justify="right" if numeric[c] else "left",
                width=w,
                overflow="fold",
            )
        for n in range(len(rows)):
            table.add_row(*[texts[c][n] for c in shown])
        console.print(table)
    if hidden:
        note(
            f"[dim]{', '.join(hidden)} hidden to fit {console.width} columns; "
            "widen the terminal or use --format json/csv to see them[/]"
        )
    return shown


def _stacked(
    console: Any,
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    texts: dict[str, list[Any]],
    *,
    title: str | None,
    caption: str | None,
    header: Any,
) -> None:
    """One block per row, `column  value`, for tables too wide to print whole."""
    from rich.text import Text

    if title:
        console.print(f"[bold]{title}[/]")
    key_width = max((len(header(c)) for c in columns), default=0)
    value_width = max(console.width - key_width - 2, 8)
    # Lines built by hand (each value wrapped to what is left of the width, folding words
    # longer than that, never cut): Rich's grid layout would cost ~3 ms a row.
    rule = Text("─" * console.width, style="dim")
    out = Text()
    for n in range(len(rows)):
        out.append_text(rule)
        out.append("\n")
        for c in columns:
            key = Text(header(c).ljust(key_width), style="bold")
            value = texts[c][n]
            parts = value.wrap(console, value_width, overflow="fold") if value.plain else [Text()]
            for i, part in enumerate(parts):
                out.append_text(key if i == 0 else Text(" " * key_width))
                out.append("  ")
                out.append_text(part)
                out.append("\n")
    out.append_text(rule)
    console.print(out, overflow="fold", no_wrap=True, crop=False)
    if caption:
        console.print(caption, style="dim")


def console(*, stderr: bool = False, **kwargs: Any) -> Any:
    """A Rich console for command output. A closed pipe (`voicegw logs | head`) is not an
    error: Rich would exit 1; this raises BrokenPipeError, which the app turns into 0."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, (sys.stderr if stderr else sys.stdout).fileno())
            raise BrokenPipeError

    return _Console(stderr=stderr, **kwargs)


def note(message: str) -> None:
    """A human-only line on stderr, so JSON/CSV on stdout stays clean."""
    console(stderr=True).print(message)


def _format_option():
    import typer

    return typer.Option("--format", "-f", help="table for people; json or csv for machines.")


#: Use as `fmt: FormatOpt = Format.table` in every command.
FormatOpt = __import__("typing").Annotated[Format, _format_option()]
