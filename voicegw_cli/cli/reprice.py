"""`voicegw reprice`: recompute stored costs from units after a rate was fixed."""

from __future__ import annotations

from typing import Annotated

import typer

from voicegw_cli.cli.output import Format, FormatOpt
from voicegw_cli.cli.periods import EndOpt, PeriodOpt, StartOpt, UtcOpt


def register(app: typer.Typer) -> None:
    @app.command()
    def reprice(
        period: PeriodOpt = None,
        start: StartOpt = None,
        end: EndOpt = None,
        utc: UtcOpt = False,
        provider: Annotated[
            str | None, typer.Option("--provider", help="Only items billed by this provider.")
        ] = None,
        model: Annotated[str | None, typer.Option("--model", help="Only this model.")] = None,
        apply: Annotated[
            bool, typer.Option("--apply", help="Write the new costs (default: show only).")
        ] = False,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Price a period's items again from their units, with today's prices and overrides.

        Shows cost before and after per model; changes nothing without --apply. With
        --apply every change is written in one transaction and recorded in the audit log.
        Correction items keep their cost. The period is required; its days are local to the
        configured time zone (--utc for UTC days).
        """
        from voicegw_cli import periods
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.cli.output import emit, money
        from voicegw_cli.pricing import Pricer
        from voicegw_cli.projects import default_actor
        from voicegw_cli.reconcile.names import canonical_provider
        from voicegw_cli.reprice import reprice as run

        config = get_config()
        p = periods.resolve(config.tz, period=period, start=start, end=end, utc=utc, default=None)
        lo, hi = p.start_utc, p.end_utc
        prov = canonical_provider(provider) if provider else None
        pricer = Pricer(config.pricing_overrides)
        from voicegw_cli.cli.progress import progress_bar

        with open_store() as store, progress_bar() as bar:
            result = run(
                store.conn,
                pricer,
                lo,
                hi,
                provider=prov,
                model=model,
                apply=apply,
                actor=default_actor(),
                progress=bar,
            )
        rows = [m.as_row() for m in result.models]
        delta = result.after - result.before
        status = (
            f"applied: {result.changed:,} items updated"
            if result.applied
            else (
                f"dry run: {result.changed:,} items would change; nothing written (add --apply)"
                if result.changed
                else "nothing to change: stored costs already match the current prices"
            )
        )
        period_info = p.as_dict()
        if fmt is not Format.table:
            emit(
                rows,
                fmt=fmt,
                payload={
                    "period": period_info,
                    "provider": prov,
                    "model": model,
                    "applied": result.applied,
                    "changed_items": result.changed,
                    "before_usd": result.before,
                    "after_usd": result.after,
                    "change_usd": delta,
                },
            )
            return
        caption = (
            f"{p.describe()}\nbefore {money(result.before)} → after "
            f"{money(result.after)} ({'+' if delta >= 0 else '-'}{money(abs(delta))})\n{status}"
        )
        table = [
            {
                "model": f"{r['provider']}/{r['model']}",
                "items": r["items"],
                "changed": r["changed_items"],
                "before": r["before_usd"],
                "after": r["after_usd"],
                "change": r["change_usd"],
                "unpriced": r["unpriced_after"],
                "priced by": ", ".join(r["pricing_sources"]),
            }
            for r in rows
        ]
        columns = ["model", "items", "changed", "before", "after", "change"]
        if any(r["unpriced"] for r in table):
            columns.append("unpriced")
        emit(
            table,
            fmt=fmt,
            title="Reprice",
            caption=caption,
            columns=[*columns, "priced by"],
            cells={
                "before": lambda r: money(r["before"]),
                "after": lambda r: money(r["after"]),
                "change": lambda r: money(r["change"]),
                "items": lambda r: f"{r['items']:,}",
                "changed": lambda r: f"{r['changed']:,}",
            },
        )
