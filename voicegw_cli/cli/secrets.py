"""`voicegw rotate-secret`: re-encrypt every stored provider key under a new secret."""

from __future__ import annotations

from typing import Annotated

import typer

from voicegw_cli.cli.output import Format, FormatOpt
from voicegw_cli.cli.projects_manage import command


def register(app: typer.Typer) -> None:
    @command(app, "rotate-secret")
    def rotate_secret(
        new_secret_stdin: Annotated[
            bool,
            typer.Option(
                "--new-secret-stdin",
                help="Read the new secret from stdin (required when the secret comes from "
                "VOICEGW_SECRET_KEY); otherwise one is generated.",
            ),
        ] = False,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Re-encrypt every stored provider key under a new secret.

        With the key file (`voicegw init` makes it), a new secret is generated and the
        file is replaced (mode 0600). With VOICEGW_SECRET_KEY, pipe the new secret in
        (option --new-secret-stdin), then put it in the environment. Every key is checked
        to open under the current secret before anything is written.
        """
        import sys

        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.cli.output import dumps, note
        from voicegw_cli.errors import UsageError
        from voicegw_cli.projects import default_actor, record_audit
        from voicegw_cli.secrets import ENV_VAR, rotate

        new_secret = None
        if new_secret_stdin:
            if sys.stdin.isatty():
                raise UsageError("--new-secret-stdin: pipe the new secret in on stdin")
            new_secret = sys.stdin.read().strip()
            if not new_secret:
                raise UsageError("--new-secret-stdin: stdin was empty")
        config = get_config()
        with open_store() as store:
            result = rotate(
                store.conn, config, new_secret, actor=default_actor(), audit=record_audit
            )
        info = {
            "keys_reencrypted": result.keys,
            "secret_source": result.source,
            "key_file": str(result.key_file) if result.key_file else None,
        }
        if fmt is not Format.table:
            typer.echo(dumps(info))
            return
        typer.echo(f"Re-encrypted {result.keys} provider key(s) under a new secret.")
        if result.key_file:
            typer.echo(f"Wrote the new secret to {result.key_file} (mode 0600).")
        else:
            note(
                f"[yellow]Set {ENV_VAR} to the new secret now[/]: the old one no longer "
                "opens the stored keys."
            )
