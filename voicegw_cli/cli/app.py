"""The `voicegw` Typer app: global options, error rendering, and command registration.

Command modules are imported here, but each imports pandas, DuckDB, genai-prices and
LiveKit only inside its command functions, so `voicegw --help` stays fast.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from voicegw_cli import __version__
from voicegw_cli.errors import VoicegwError

EXIT_CODES = (
    "Exit codes: 0 ok · 1 a check failed or not found (budget over, reconcile drift) · "
    "2 usage error · 3 unreadable input file or invalid config · 4 store busy "
    "(another voicegw process held it too long)."
)


class _Group(TyperGroup):
    """Turns our errors into one stderr line and their exit code, at every depth."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VoicegwError as exc:
            typer.echo(f"Error: {exc}", err=True)
            code = exc.exit_code
            # Drop the frames: they hold open resources (the store) that nothing will use.
            traceback.clear_frames(exc.__traceback__)
            exc.__traceback__ = None
        raise typer.Exit(code)

    def list_commands(self, ctx: typer.Context) -> list[str]:  # keep registration order
        return list(self.commands)


app = typer.Typer(
    cls=_Group,
    help="What every LiveKit voice-agent call cost, per project, proven against the invoice.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"voicegw {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="voicegw.yaml to use (else $VOICEGW_CONFIG, ./voicegw.yaml, user config dir).",
            envvar=None,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    from voicegw_cli.cli.context import set_config_path

    set_config_path(config)


#: Command modules, in the order `--help` lists them. Each exposes `register(app)`.
COMMAND_MODULES = (
    "init",
    "status",
    "projects",
    "costs",
    "calls",
    "latency",
    "logs",
    "ingest",
    "export",
    "reconcile",
    "reprice",
    "budget",
    "prices",
    "audit",
    "secrets",
    "mcp",
    "demo",
)


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"voicegw_cli.cli.{name}")
        except ModuleNotFoundError as exc:  # a room still being built
            if exc.name == f"voicegw_cli.cli.{name}":
                continue
            raise
        if hasattr(module, "register"):
            module.register(app)
        else:
            app.add_typer(module.app, name=name)


_register()


def main() -> None:
    try:
        app()
    except VoicegwError as exc:  # raised outside a command (e.g. during completion)
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
