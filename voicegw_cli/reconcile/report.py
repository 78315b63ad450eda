"""Rendering a reconciliation: text for people, Markdown for tickets, JSON and CSV for CI.

Every format carries the same findings; the text and Markdown reports end with what to
check, one entry per flagged model and cause (days listed), so a long by-day report
reads as a short to-do list.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from voicegw_cli.reconcile.base import UNITS
from voicegw_cli.reconcile.diff import Reconciliation
from voicegw_cli.reconcile.units import DISPLAY

FORMATS = ("text", "json", "csv", "markdown")


def render(rec: Reconciliation, fmt: str) -> str:
    if fmt == "json":
        from voicegw_cli.wire import dumps

        return dumps(rec.as_dict()) + "\n"
    if fmt == "csv":
        return to_csv(rec)
    if fmt == "markdown":
        return to_markdown(rec)
    raise ValueError(fmt)


def _usd(value: Decimal | None, places: int = 4) -> str:
    if value is None:
        return "—"
    shown = f"{abs(value):,.{places}f}"
    negative = value < 0 and shown.strip("0.,") != ""  # no "-$0.0000"
    return f"{'-' if negative else ''}${shown}"


def _pct(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{0.0 if abs(value) < 0.005 else value:+.2f}%"


def _kinds(rec: Reconciliation) -> list[str]:
    seen = {u for r in rec.rows for u in r["provider_units"]}
    return [u for u in UNITS if u in seen]


def _units_cell(row: dict[str, Any]) -> str:
    """Only what differs: `output +10.0%`; `=` when every unit kind agrees."""
    parts = []
    for u, pct in row["unit_diff_pct"].items():
        ours, theirs = row["ours_units"][u], row["provider_units"][u]
        if ours == theirs or (pct is not None and abs(pct) < 0.005):
            continue
        label = DISPLAY[u][0]
        parts.append(f"{label} {_pct(pct)}" if pct is not None else f"{label} ours only")
    if not row["unit_diff_pct"]:
        return "—"  # the export has no units for this model
    return ", ".join(parts) or "="


def _title(rec: Reconciliation) -> str:
    s = rec.settings
    scope = f", project {s.project}" if s.project else ""
    return (
        f"Reconcile {rec.provider}: {s.start}..{s.end} (UTC days){scope}, by {s.by}, "
        f"threshold {s.threshold_pct:g}%"
    )


def _summary(rec: Reconciliation) -> str:
    t = rec.totals
    diff = t["cost_diff_usd"]
    pct = (
        f" ({float(diff / t['provider_cost_usd']) * 100:+.2f}%)"
        if diff is not None and t["provider_cost_usd"]
        else ""
    )
    theirs = (
        _usd(t["provider_cost_usd"]) if t["provider_cost_usd"] is not None else "no cost in export"
    )
    return (
        f"ours {_usd(t['ours_cost_usd'])} over {t['ours_items']:,} items · provider {theirs}"
        + (f" · difference {_usd(diff)}{pct}" if diff is not None else "")
        + f" · {t['flagged']} of {t['rows']} rows flagged"
        + (f" · {t['unpriced_items']:,} unpriced items" if t["unpriced_items"] else "")
    )


def _shown(rec: Reconciliation) -> tuple[list[dict[str, Any]], int]:
    """By day, only flagged rows are listed (JSON/CSV have them all)."""
    if rec.settings.by == "day":
        flagged = rec.flagged
        return flagged, len(rec.rows) - len(flagged)
    return rec.rows, 0


def tier_lines(rec: Reconciliation) -> Iterator[str]:
    """`gpt-5.4: of which long context: 300,000 uncached in, 4,000 output ($1.5900)` for
    rows whose bill has tiers besides the standard one (their units are in the row)."""
    rows, _ = _shown(rec)
    for r in rows:
        for tier, fig in (r.get("tiers") or {}).items():
            units = ", ".join(
                f"{fig['units'][u]:,} {DISPLAY[u][0]}" for u in UNITS if u in fig["units"]
            )
            cost = f" ({_usd(fig['cost_usd'])})" if fig["cost_usd"] is not None else ""
            day = f" {r['day']}" if r.get("day") else ""
            yield f"{r['model']}{day}: of which {tier}: {units or 'cost only'}{cost}"


def checks(rec: Reconciliation) -> Iterator[tuple[str, str]]:
    """(finding, what to check) per flagged model and cause, with its days."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rec.flagged:
        groups.setdefault((r["model"], r["cause"]), []).append(r)
    for (_, cause), rows in sorted(groups.items(), key=lambda g: (g[0][1], g[0][0])):
        days = [r["day"] for r in rows if r.get("day")]
        when = ""
        if len(days) == 1:
            when = f" — {days[0]}"
        elif days:
            when = f" — {len(days)} days, {days[0]}..{days[-1]}"
        first = rows[0]
        finding = first["detail"] + (" (first day)" if len(rows) > 1 else "")
        yield f"[{cause}] {first['model']}{when}: {finding}", first["check"]


def to_text(rec: Reconciliation, console: Any, table: Any = None) -> None:
    """Print the human report with Rich. `table(console, rows, columns, title=, cells=)`
    prints the rows (the CLI passes its renderer, which never cuts a value to fit)."""
    rows, hidden = _shown(rec)
    by_day = rec.settings.by == "day"
    columns = ["model", *(["day"] if by_day else []), "ours", "provider", "diff", "diff %"]
    columns += ["units vs provider", "cause"]
    shown = [
        {
            "model": r["model"],
            "day": r.get("day") or "period",
            "ours": r["ours_cost_usd"],
            "provider": r["provider_cost_usd"],
            "diff": r["cost_diff_usd"],
            "diff %": r["cost_diff_pct"],
            "units vs provider": _units_cell(r),
            "cause": r["cause"] if r["flagged"] else "ok",
            "flagged": r["flagged"],
        }
        for r in rows
    ]
    cells = {
        "ours": lambda r: _usd(r["ours"]),
        "provider": lambda r: _usd(r["provider"]),
        "diff": lambda r: _usd(r["diff"]),
        "diff %": lambda r: _pct(r["diff %"]),
        "cause": lambda r: f"[bold red]{r['cause']}[/]" if r["flagged"] else "[green]ok[/]",
    }
    if rows and table is not None:
        from rich import box

        table(
            console,
            shown,
            columns,
            title=_title(rec),
            cells=cells,
            box=box.SIMPLE_HEAD,
            title_justify="left",
        )
    elif rows:
        from rich import box
        from rich.table import Table

        t = Table(title=_title(rec), header_style="bold", title_justify="left", box=box.SIMPLE_HEAD)
        for c in columns:
            right = c in ("ours", "provider", "diff", "diff %")
            t.add_column(c, justify="right" if right else "left", no_wrap=c != "units vs provider")
        for r in shown:
            t.add_row(*[cells[c](r) if c in cells else str(r[c]) for c in columns])
        console.print(t)
    else:
        console.print(_title(rec), highlight=False)
    if hidden:
        console.print(f"{hidden} day rows agree and are not listed (--format json lists all).")
    console.print(_summary(rec))
    for line in tier_lines(rec):
        console.print(line, highlight=False, markup=False)
    for f in rec.files:
        console.print(f"[dim]read {f['path']} as {f['format']}[/]", highlight=False)
    for n in rec.notes:
        console.print(f"[yellow]note:[/] {n}", highlight=False)
    items = list(checks(rec))
    if items:
        console.print("\n[bold]What to check[/]")
        for i, (finding, check) in enumerate(items, 1):
            console.print(f"{i}. {finding}\n   check: {check}", highlight=False, markup=False)
    else:
        console.print("\n[green]Nothing to check: every row agrees within the threshold.[/]")


def to_markdown(rec: Reconciliation) -> str:
    rows, hidden = _shown(rec)
    by_day = rec.settings.by == "day"
    head = (
        ["model"]
        + (["day"] if by_day else [])
        + ["ours", "provider", "diff", "diff %", "units vs provider", "cause"]
    )
    out = [f"## {_title(rec)}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = (
            [f"`{r['model']}`"]
            + ([r.get("day") or "period"] if by_day else [])
            + [
                _usd(r["ours_cost_usd"]),
                _usd(r["provider_cost_usd"]),
                _usd(r["cost_diff_usd"]),
                _pct(r["cost_diff_pct"]),
                _units_cell(r),
                f"**{r['cause']}**" if r["flagged"] else "ok",
            ]
        )
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    out.append("")
    if hidden:
        out.append(f"{hidden} day rows agree and are not listed.")
        out.append("")
    out.append(_summary(rec))
    out.append("")
    out += [f"- {line}" for line in tier_lines(rec)]
    for n in rec.notes:
        out.append(f"> note: {n}")
    items = list(checks(rec))
    if items:
        out += ["", "### What to check", ""]
        for i, (finding, check) in enumerate(items, 1):
            out += [f"{i}. {finding}", f"   - check: {check}"]
    else:
        out += ["", "Nothing to check: every row agrees within the threshold."]
    return "\n".join(out) + "\n"


def to_csv(rec: Reconciliation) -> str:
    kinds = _kinds(rec)
    by_day = rec.settings.by == "day"
    cols = ["model"] + (["day"] if by_day else []) + ["flagged", "cause", "causes"]
    cols += [f"ours_{u}" for u in kinds] + [f"provider_{u}" for u in kinds]
    cols += [
        "ours_cost_usd",
        "provider_cost_usd",
        "cost_diff_usd",
        "cost_diff_pct",
        "ours_items",
        "unpriced_items",
        "detail",
    ]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rec.rows:
        flat: dict[str, Any] = {
            "model": r["model"],
            "day": r.get("day") or "",
            "flagged": "true" if r["flagged"] else "false",
            "cause": r["cause"] or "",
            "causes": ";".join(r["causes"]),
            "ours_items": r["ours_items"],
            "unpriced_items": r["unpriced_items"],
            "detail": r["detail"] if r["flagged"] else "",
        }
        for u in kinds:
            flat[f"ours_{u}"] = r["ours_units"].get(u, "")
            flat[f"provider_{u}"] = r["provider_units"].get(u, "")
        for k in ("ours_cost_usd", "provider_cost_usd", "cost_diff_usd"):
            flat[k] = "" if r[k] is None else format(r[k], "f")
        flat["cost_diff_pct"] = "" if r["cost_diff_pct"] is None else r["cost_diff_pct"]
        w.writerow([flat.get(c, "") for c in cols])
    return buf.getvalue()
