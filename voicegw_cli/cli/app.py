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


def _no_type_for_flags() -> None:
    """Typer 0.29's help shows `<bool>` after plain flags (`--week <bool>`), which reads as
    if the flag took a value; flags get no type column (older Typer already does this)."""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None:
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        return shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_no_type_for_flags()


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

    def list_commands(self, ctx: typer.Context) -> list[str]:  # `--help` order
        names = [n for names in COMMAND_MODULES.values() for n in names]
        return list(dict.fromkeys([*names, *self.commands]))

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:
        """Import a command's module only when that command (or `--help`) needs it."""
        if cmd_name not in self.commands:
            module = next((m for m, names in COMMAND_MODULES.items() if cmd_name in names), None)
            if module is not None:
                for name, command in load_commands(module).items():
                    self.commands.setdefault(name, command)
        return self.commands.get(cmd_name)


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


#: Command modules in `--help` order, each with the commands it registers. A module is
#: imported only when one of its commands runs: building every command for each run cost
#: ~60 ms of start-up. Each module exposes `register(app)` (or a Typer `app`).
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "init": ("init",),
    "status": ("status",),
    "projects": ("projects", "project"),
    "costs": ("costs",),
    "logs": ("logs",),
    "ingest": ("ingest",),
    "export": ("export-costs",),
    "reconcile": ("reconcile",),
    "reprice": ("reprice",),
    "budget": ("budget",),
    "prices": ("prices",),
    "audit": ("audit",),
    "secrets": ("rotate-secret",),
    "mcp": ("mcp",),
    "demo": ("demo",),
}


def load_commands(module_name: str) -> dict[str, Any]:
    """The click commands one command module registers, by name."""
    import typer.main

    module = importlib.import_module(f"voicegw_cli.cli.{module_name}")
    holder = typer.Typer()
    if hasattr(module, "register"):
        module.register(holder)
    else:
        holder.add_typer(module.app, name=module_name)
    return dict(typer.main.get_group(holder).commands)


def main() -> None:
    try:
        app()
    except VoicegwError as exc:  # raised outside a command (e.g. during completion)
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
