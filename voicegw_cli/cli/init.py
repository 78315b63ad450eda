"""`voicegw init`: a commented starter voicegw.yaml and the secret key file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path(
            "voicegw.yaml"
        ),
        force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    ) -> None:
        """Write a commented starter voicegw.yaml (never overwrites without --force)."""
        from importlib.resources import files

        from voicegw_cli.config import load_config
        from voicegw_cli.errors import UsageError

        if path.exists() and not force:
            raise UsageError(f"{path} already exists; use --force to overwrite it")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files("voicegw_cli.templates").joinpath("voicegw.yaml").read_text())
        cfg = load_config(path)
        typer.echo(f"Wrote {path}")
        try:
            from voicegw_cli.secrets import ensure_key_file
        except ImportError:  # secrets room not installed
            return
        created = ensure_key_file(cfg.secret_key_path)
        if created:
            typer.echo(f"Wrote secret key {cfg.secret_key_path} (mode 0600): keep it out of git")
