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
            demo_config_text,
            generate,
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
        writer = SpoolWriter(cfg.spool_dir)
        records = to_records(table)
        for i in range(0, len(records), 5000):
            writer.write(records[i : i + 5000])
        writer.close()
        with Store.open(cfg) as store:
            folded = store.fold_result.items_added if store.fold_result else 0
        typer.echo(
            f"Demo ready in {directory}/: {len(records):,} line items for 3 projects over "
            f"{days} days, written to the spool and folded into {cfg.store_path.name} "
            f"({folded:,} added)."
        )
