"""`voicegw demo`: a month of realistic usage for three projects, through the real spool."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voicegw_cli import clock


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        directory: Annotated[Path, typer.Option("--dir", help="Where to put the demo.")] = Path(
            "demo"
        ),
        days: Annotated[int, typer.Option("--days", min=1, max=400)] = 30,
        force: Annotated[bool, typer.Option("--force", help="Replace an existing demo.")] = False,
    ) -> None:
        """Write demo/voicegw.yaml and a month of synthetic calls (spool, then store).

        Then try: cd demo && voicegw costs --month && voicegw projects
        """
        import shutil
        from datetime import timedelta

        from voicegw_cli.config import load_config
        from voicegw_cli.errors import UsageError
        from voicegw_cli.pricing import Pricer
        from voicegw_cli.spool import SpoolWriter
        from voicegw_cli.store import Store
        from voicegw_cli.synthetic import (
            as_the_guard_allows,
            calls_and_latency,
            demo_config_text,
            generate,
            record_rows,
            to_records,
        )

        config_path = directory / "voicegw.yaml"
        if config_path.exists():
            if not force:
                raise UsageError(f"{config_path} exists; use --force to replace the demo")
            shutil.rmtree(directory / ".voicegw", ignore_errors=True)
        directory.mkdir(parents=True, exist_ok=True)
        config_path.write_text(demo_config_text())
        cfg = load_config(config_path)
        today = clock.now().date()
        table = generate(today - timedelta(days=days - 1), days)
        # Only what has happened by now: the hook never writes the future.
        import pyarrow.compute as pc

        now = clock.utcnow_naive()
        table = table.filter(pc.less_equal(table.column("timestamp"), now))
        pricer = Pricer(cfg.pricing_overrides)
        table = as_the_guard_allows(pricer.price_table(table), cfg, pricer)
        calls, latency = calls_and_latency(table)
        # A call still going on now has no record yet (the hook writes it at close).
        calls = calls.filter(pc.less_equal(calls.column("ended_at"), now))
        latency = latency.filter(pc.less_equal(latency.column("timestamp"), now))
        from voicegw_cli.cli.progress import progress_bar
        from voicegw_cli.progress import phase

        writer = SpoolWriter(cfg.spool_dir)
        records = to_records(table)
        extra = record_rows(calls, "call") + record_rows(latency, "latency")
        with progress_bar() as bar:
            spooled = phase(bar, "write the spool", len(records) + len(extra))
            for batch in (records, extra):
                for i in range(0, len(batch), 5000):
                    writer.write(batch[i : i + 5000])
                    spooled.update(spooled.done + len(batch[i : i + 5000]))
            writer.close()
            phase(bar, "fold into the store", 0)
            with Store.open(cfg) as store:
                folded = store.fold_result.items_added if store.fold_result else 0
        typer.echo(
            f"Demo ready in {directory}/: {len(records):,} line items, {calls.num_rows:,} calls "
            f"and {latency.num_rows:,} latency samples for 3 projects over {days} days, "
            f"written to the spool and folded into {cfg.store_path.name} ({folded:,} items "
            "added)."
        )
