"""`voicegw ship` and `voicegw fold`: a fleet's shipping and folding, from outside agents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voicegw_cli.cli.output import Format, FormatOpt


def register(app: typer.Typer) -> None:
    @app.command()
    def ship(
        spool: Annotated[
            Path | None,
            typer.Option("--spool", help="Spool directory to ship (default: storage.spool)."),
        ] = None,
        wait: Annotated[
            float,
            typer.Option("--wait", help="Seconds to wait for an agent's shipper to finish."),
        ] = 30.0,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Upload every closed spool segment to storage.ship_to now, then exit.

        For a sidecar, a cron job or a pod's pre-stop hook: ships what the agents' own
        shipper threads have not (their writers gone, or the bucket was down). Files still
        being written are left to their writer. Exit 1 when anything could not be shipped.
        """
        from dataclasses import replace

        from voicegw_cli.cli.context import get_config
        from voicegw_cli.cli.output import emit
        from voicegw_cli.errors import CheckFailed, UsageError
        from voicegw_cli.fleet.ship import Shipper, backlog

        cfg = get_config()
        if cfg.ship is None:
            raise UsageError("storage.ship_to is not set in the config: nowhere to ship to")
        if spool is not None:
            cfg = replace(cfg, spool_dir=spool.expanduser().resolve())
        result = Shipper(cfg).ship_once(wait=wait)
        left = backlog(cfg.spool_dir)
        row = {
            **result.as_row(),
            "left_files": left.files,
            "left_bytes": left.bytes,
            "target": cfg.ship.url,
        }
        emit([row], fmt=fmt, title="voicegw ship")
        if not result.elected:
            raise CheckFailed(f"another shipper held {cfg.spool_dir} for {wait:g}s; try again")
        if result.error:
            raise CheckFailed(f"shipping stopped: {result.error}")

    @app.command()
    def fold(
        watch: Annotated[
            bool, typer.Option("--watch", help="Keep folding every --interval until stopped.")
        ] = False,
        interval: Annotated[
            str, typer.Option("--interval", help="Time between folds with --watch (10s, 1m).")
        ] = "10s",
        rounds: Annotated[
            int | None, typer.Option("--rounds", help="With --watch, stop after N folds.")
        ] = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Fold new usage into the store now (the local spool, or what the fleet shipped).

        With --watch, a long-running folder for one central place: each round holds the
        store only while it folds, then publishes the spend snapshot every host's budget
        guard reads, so other voicegw commands run alongside.
        """
        import json
        import sys

        from voicegw_cli.cli.context import get_config
        from voicegw_cli.cli.output import emit, note
        from voicegw_cli.periods import parse_duration
        from voicegw_cli.store.folder import fold_now
        from voicegw_cli.store.folder import watch as run_watch

        cfg = get_config()
        seconds = parse_duration(interval, "--interval")
        if not watch:
            report = fold_now(cfg)
            emit([report.as_row()], fmt=fmt, title="voicegw fold")
            if report.error:
                note(f"[yellow]warning:[/] {report.error}")
            return

        def on_round(report, error) -> None:  # one line per round: a log, not a table
            if error is not None:
                typer.echo(f"fold skipped: {error}", err=True)
                return
            row = report.as_row()
            if fmt is Format.json:
                typer.echo(json.dumps(row))
            else:
                typer.echo(
                    f"{row['folded_at']} folded {row['segments_folded']} segment(s), "
                    f"{row['items_added']} item(s) in {row['seconds']}s"
                    + (f"; {row['error']}" if row["error"] else "")
                )
            sys.stdout.flush()

        try:
            run_watch(cfg, interval=seconds, rounds=rounds, on_round=on_round)
        except KeyboardInterrupt:
            pass
