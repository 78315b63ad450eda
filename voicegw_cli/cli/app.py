"""The `voicegw` Typer app: global options, error rendering, and command registration.

A command's module is imported only when that command runs (or for `--help`), and each
imports pandas, DuckDB, genai-prices and LiveKit only inside its command functions, so
start-up stays fast.
"""

from __future__ import annotations

import importlib
import os
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
    "2 usage error · 3 unreadable input file or invalid config, or a provider API that "
    "refused the key or could not be reached (pull) · 4 store busy "
    "(another voicegw process held it too long)."
)


def _full_command_help(self: TyperGroup, ctx: Any, formatter: Any) -> None:
    """Commands with their whole first help paragraph, wrapped, never cut with "..."."""
    rows = []
    for name in self.list_commands(ctx):
        cmd = self.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        text = (cmd.short_help or cmd.help or "").strip().split("\n\n")[0]
        rows.append((name, " ".join(text.split())))
    if rows:
        with formatter.section("Commands"):
            formatter.write_dl(rows)


TyperGroup.format_commands = _full_command_help  # type: ignore[method-assign]


def _hoist_config(args: list[str]) -> list[str]:
    """Accept `-c/--config PATH` after the command too (`voicegw costs -c x.yaml`): no
    command has a `-c` of its own, so it is moved in front of the command."""
    out: list[str] = []
    moved: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            out.extend(args[i:])
            break
        if a in ("-c", "--config") and i + 1 < len(args) and out:
            moved += [a, args[i + 1]]
            i += 2
            continue
        if a.startswith("--config=") and out:
            moved.append(a)
        else:
            out.append(a)
        i += 1
    return moved + out


class _Group(TyperGroup):
    """Every error is one stderr line and its exit code, at every depth: our errors, usage
    errors, and a closed pipe (`voicegw logs | head` is not an error)."""

    def main(self, args: Any = None, prog_name: Any = None, **extra: Any) -> Any:
        from typer._click import exceptions as click_exc

        args = _hoist_config(list(sys.argv[1:] if args is None else args))
        if extra.pop("standalone_mode", True) is False:
            return super().main(args, prog_name, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, standalone_mode=False, **extra)
        except click_exc.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "voicegw"
            typer.echo(f"Error: {exc.format_message()} (see '{where} --help')", err=True)
            sys.exit(exc.exit_code)
        except click_exc.ClickException as exc:
            typer.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("Aborted.", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VoicegwError as exc:
            typer.echo(f"Error: {exc}", err=True)
            code = exc.exit_code
            # Drop the frames: they hold open resources (the store) that nothing will use.
            traceback.clear_frames(exc.__traceback__)
            exc.__traceback__ = None
        except BrokenPipeError:
            # The reader went away (`| head`) after taking what it wanted. Point stdout at
            # /dev/null so the interpreter's last flush does not complain.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            code = 0
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
    rich_markup_mode=None,  # plain help: Rich's help renderer alone costs ~0.1 s a run
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"voicegw {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
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
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bars on stderr.")
    ] = False,
) -> None:
    from voicegw_cli.cli.context import set_config_path

    set_config_path(config)
    ctx.obj = {**(ctx.obj or {}), "quiet": quiet}  # read by `cli.progress.quiet()`


#: Command modules in `--help` order, each with the commands it registers. A module is
#: imported only when one of its commands runs: building every command for each run cost
#: ~60 ms of start-up. Each module exposes `register(app)` (or a Typer `app`).
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "init": ("init",),
    "status": ("status",),
    "projects": ("projects", "project"),
    "providers": ("providers", "models"),
    "costs": ("costs",),
    "calls": ("calls",),
    "latency": ("latency",),
    "logs": ("logs",),
    "ingest": ("ingest",),
    "export": ("export-costs",),
    "pull": ("pull",),
    "fleet": ("ship", "fold"),
    "reconcile": ("reconcile",),
    "reprice": ("reprice",),
    "budget": ("budget",),
    "guardrails": ("guardrails",),
    "prices": ("prices",),
    "audit": ("audit",),
    "secrets": ("rotate-secret",),
    "mcp": ("mcp",),
    "serve": ("serve", "dashboard"),
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
    commands = dict(typer.main.get_group(holder).commands)
    for command in commands.values():
        _plain_help(command)
    return commands


def _plain_help(command: Any) -> None:
    """Plain help for a command and its subcommands, as for the app itself: Typer's Rich
    help renderer costs ~0.1 s of imports per run."""
    command.rich_markup_mode = None
    for sub in getattr(command, "commands", {}).values():
        _plain_help(sub)


def main() -> None:
    try:
        app()
    except VoicegwError as exc:  # raised outside a command (e.g. during completion)
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
