"""`voicegw ingest`: import line items from files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voicegw_cli.cli.output import Format, FormatOpt


def register(app: typer.Typer) -> None:
    @app.command()
    def ingest(
        files: Annotated[list[Path], typer.Argument(help="CSV, JSON, NDJSON or Parquet files.")],
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Import line items (export-costs columns, or a voicegateway export-costs CSV).

        One bad row rejects the whole run (file:line: reason, exit 3); the store is left
        as it was. Rows without an id get one from their content, so re-importing adds
        nothing; rows with a cost keep it, the rest are priced. Streams: memory stays
        bounded however big the files. A progress bar shows on stderr when it is a
        terminal (not with --quiet).
        """
        from voicegw_cli.cli.context import open_store
        from voicegw_cli.cli.output import emit
        from voicegw_cli.cli.progress import progress_bar
        from voicegw_cli.ingest import ingest_files

        with open_store() as store, progress_bar() as bar:
            result = ingest_files(store, files, progress=bar)
        rows = [
            {
                "file": f.path,
                "format": f.format,
                "rows": f.rows,
                "added": f.added,
                "already_present": f.rows - f.added,
                "priced_now": f.priced,
                "unpriced": f.unpriced,
            }
            for f in result.files
        ]
        emit(
            rows,
            fmt=fmt,
            title="Ingested",
            caption=f"{result.added:,} of {result.rows:,} rows added",
        )
