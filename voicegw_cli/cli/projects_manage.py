"""`voicegw projects create|update|delete|set-key`: runtime projects from the terminal.

Runtime projects live in the usage store beside the YAML ones (YAML wins on a shared id);
YAML projects are read-only here. The rules live in `voicegw_cli.projects`, shared with
the MCP server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from voicegw_cli.cli.output import Format, FormatOpt

F = TypeVar("F", bound=Callable[..., Any])

NameOpt = Annotated[str | None, typer.Option("--name", help="Human-readable name.")]
DescriptionOpt = Annotated[str | None, typer.Option("--description", help="What it is for.")]
DailyOpt = Annotated[
    str | None, typer.Option("--daily-budget", help="USD per local day; 0 = no limit.")
]
MonthlyOpt = Annotated[
    str | None, typer.Option("--monthly-budget", help="USD per calendar month; 0 = no limit.")
]
ActionOpt = Annotated[
    str | None, typer.Option("--budget-action", help="warn | throttle | block (when over).")
]
TagsOpt = Annotated[
    list[str] | None,
    typer.Option("--tags", help="Comma-separated tags (repeatable); '' clears them."),
]
StackOpt = Annotated[
    str | None,
    typer.Option("--default-stack", help="A stack from `stacks:` in voicegw.yaml."),
]
SttOpt = Annotated[str | None, typer.Option("--stt-model", help="e.g. deepgram/nova-3")]
LlmOpt = Annotated[str | None, typer.Option("--llm-model", help="e.g. openai/gpt-4o-mini")]
TtsOpt = Annotated[str | None, typer.Option("--tts-model", help="e.g. cartesia/sonic-3")]


def flow(doc: str | None) -> str:
    """A docstring as command help: paragraphs kept, their line breaks dropped, so the
    help reflows to the terminal instead of breaking at the source's line ends."""
    import inspect

    paragraphs = inspect.cleandoc(doc or "").split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def command(group: typer.Typer, name: str | None = None) -> Callable[[F], F]:
    """`group.command(name)` with the docstring reflowed by `flow` as its help."""

    def register(fn: F) -> F:
        group.command(name, help=flow(fn.__doc__))(fn)
        return fn

    return register


def _tags(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


def _show(project: Any, fmt: Format, *, title: str) -> None:
    from voicegw_cli.cli.output import dumps, emit
    from voicegw_cli.projects import project_record

    record = project_record(project)
    if fmt is Format.json:
        typer.echo(dumps(record))
        return
    if fmt is Format.csv:
        emit([record], fmt=fmt)
        return
    from rich.markup import escape

    from voicegw_cli.cli.output import _cell

    rows = [{"field": k, "value": v} for k, v in record.items() if k != "id"]
    emit(
        rows,
        fmt=fmt,
        title=f"{title}: {escape(project.id)}",
        columns=["field", "value"],
        cells={"value": lambda r: escape(_cell(r["value"]))},
    )


def _read_key(provider: str) -> str:
    """A key from a hidden prompt on a terminal, else from stdin: never from argv, where
    it would land in shell history and `ps`."""
    import sys

    from voicegw_cli.errors import UsageError

    if sys.stdin.isatty():
        key = typer.prompt(f"{provider} API key", hide_input=True)
    else:
        key = sys.stdin.read()
    key = key.strip()
    if not key:
        raise UsageError("no key given (type it at the prompt or pipe it on stdin)")
    if "\n" in key:
        raise UsageError("stdin held more than one line; pipe only the key")
    return key


def register_manage(projects_app: typer.Typer) -> None:
    """Add create, update, delete and set-key to the `projects` group."""

    @command(projects_app)
    def create(
        project_id: Annotated[
            str, typer.Argument(metavar="ID", help="Unique id (kebab-case recommended).")
        ],
        name: Annotated[str, typer.Option("--name", help="Human-readable name.")],
        description: DescriptionOpt = None,
        daily_budget: DailyOpt = None,
        monthly_budget: MonthlyOpt = None,
        budget_action: ActionOpt = None,
        tags: TagsOpt = None,
        default_stack: StackOpt = None,
        stt_model: SttOpt = None,
        llm_model: LlmOpt = None,
        tts_model: TtsOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Create a runtime project (stored in the usage store, merged with voicegw.yaml).

        Route it with --default-stack or with explicit --stt-model/--llm-model/--tts-model,
        not both; explicit models must be ones pricing knows.
        """
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.cli.output import note
        from voicegw_cli.projects import create_project, is_kebab_case

        config = get_config()
        with open_store() as store:
            project = create_project(
                config,
                store.conn,
                project_id,
                name=name,
                description=description,
                daily_budget=daily_budget,
                monthly_budget=monthly_budget,
                budget_action=budget_action,
                tags=_tags(tags),
                default_stack=default_stack,
                stt_model=stt_model,
                llm_model=llm_model,
                tts_model=tts_model,
            )
        if not is_kebab_case(project_id):
            note("[yellow]note:[/] kebab-case ids (like 'customer-support') are recommended")
        _show(project, fmt, title="Created project")

    @command(projects_app)
    def update(
        project_id: Annotated[str, typer.Argument(metavar="ID", help="A runtime project id.")],
        name: NameOpt = None,
        description: DescriptionOpt = None,
        daily_budget: DailyOpt = None,
        monthly_budget: MonthlyOpt = None,
        budget_action: ActionOpt = None,
        tags: TagsOpt = None,
        default_stack: StackOpt = None,
        stt_model: SttOpt = None,
        llm_model: LlmOpt = None,
        tts_model: TtsOpt = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
        ] = False,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Change a runtime project. Only the options given change; each change is shown
        old -> new (--dry-run shows them without writing).

        --default-stack switches routing to that stack (clearing explicit models); a
        --*-model switches to explicit models, keeping the stack's other models; ''
        clears a value. YAML projects are edited in voicegw.yaml instead.
        """
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.cli.output import _cell, emit, note
        from voicegw_cli.projects import plan_update, update_project

        given = {
            "name": name,
            "description": description,
            "daily_budget": daily_budget,
            "monthly_budget": monthly_budget,
            "budget_action": budget_action,
            "tags": _tags(tags),
            "default_stack": default_stack,
            "stt_model": stt_model,
            "llm_model": llm_model,
            "tts_model": tts_model,
        }
        changes = {k: v for k, v in given.items() if v is not None}
        config = get_config()
        with open_store() as store:
            _, plan = plan_update(config, store.conn, project_id, changes)
            if not dry_run and plan.changed:
                update_project(config, store.conn, project_id, changes)
        rows = plan.as_rows()
        if fmt is not Format.table:
            emit(
                rows,
                fmt=fmt,
                columns=["field", "old", "new"],
                payload={"project_id": project_id, "applied": not dry_run and bool(rows)},
            )
            return
        verb = "Would change" if dry_run else "Changed"
        if not rows:
            note(f"nothing to change: {project_id} already has these values")
            return
        emit(
            rows,
            fmt=fmt,
            title=f"{verb} project {project_id}",
            columns=["field", "old", "new"],
            cells={
                "old": lambda r: _cell(r["old"]) or "—",
                "new": lambda r: _cell(r["new"]) or "—",
            },
        )
        if dry_run:
            note("dry run: nothing written (drop --dry-run to apply)")

    @command(projects_app)
    def delete(
        project_id: Annotated[str, typer.Argument(metavar="ID", help="A runtime project id.")],
        yes: Annotated[
            bool, typer.Option("--yes", "-y", help="Delete without asking (for scripts).")
        ] = False,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Delete a runtime project after showing what it has spent.

        Shows all-time spend, line items and last activity, then asks; --yes skips the
        question. Its line items are kept (spend stays attributable); its stored provider
        keys are removed. YAML projects are removed by editing voicegw.yaml.
        """
        import sys

        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.cli.output import dumps, money
        from voicegw_cli.errors import UsageError
        from voicegw_cli.projects import delete_preview, delete_project

        config = get_config()
        with open_store() as store:
            preview = delete_preview(config, store.conn, project_id)
        last = preview.last_activity.isoformat() if preview.last_activity else "never"
        if fmt is Format.table:
            typer.echo(
                f"Project {preview.project_id} ({preview.name}): all-time spend "
                f"{money(preview.total_spend_usd)}, {preview.total_items:,} line item(s), "
                f"last activity {last}, {preview.provider_keys} stored provider key(s).\n"
                "Its line items are kept; its configuration and provider keys are removed."
            )
        if not yes:
            if not sys.stdin.isatty():
                raise UsageError(
                    f"deleting {project_id!r} needs confirmation: rerun with --yes "
                    "(stdin is not a terminal, so voicegw cannot ask)"
                )
            if not typer.confirm(f"Delete project {project_id!r}?", default=False):
                typer.echo("Not deleted.")
                raise typer.Exit(1)
        with open_store() as store:
            done = delete_project(config, store.conn, project_id)
        if fmt is Format.table:
            typer.echo(f"Deleted project {project_id}.")
        elif fmt is Format.json:
            typer.echo(dumps({"action": "deleted", **done.as_dict()}))
        else:
            from voicegw_cli.cli.output import emit

            emit([{"action": "deleted", **done.as_dict()}], fmt=fmt)

    @command(projects_app, "set-key")
    def set_key(
        project_id: Annotated[
            str,
            typer.Argument(metavar="ID", help="A runtime project id (with --admin: the provider)."),
        ],
        provider: Annotated[
            str | None,
            typer.Argument(metavar="PROVIDER", help="e.g. openai, deepgram, cartesia."),
        ] = None,
        admin: Annotated[
            bool,
            typer.Option(
                "--admin",
                help="Store the organisation's admin key that `voicegw pull` reads usage "
                "and costs with (no project): `set-key --admin openai`.",
            ),
        ] = False,
    ) -> None:
        """Store a provider API key for a runtime project, encrypted.

        The key is read from a hidden prompt, or from stdin when piped
        (`printenv OPENAI_KEY | voicegw projects set-key ID openai`), never from the
        command line. It is encrypted with the secret from VOICEGW_SECRET_KEY or the key
        file (created on first use if missing) and only ever shown masked. With --admin,
        the key is the organisation's admin key for `voicegw pull`
        (`printenv OPENAI_ADMIN_KEY | voicegw projects set-key --admin openai`), stored
        apart from every agent key; admin_keys in voicegw.yaml wins over it.
        """
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.errors import UsageError
        from voicegw_cli.projects import check_key_target, set_provider_key
        from voicegw_cli.secrets import load_keyring

        config = get_config()
        if admin:
            from voicegw_cli.admin_keys import validate_provider

            if provider is not None:
                raise UsageError(
                    "an admin key belongs to the organisation, not a project: "
                    "voicegw projects set-key --admin PROVIDER"
                )
            provider = validate_provider(project_id)
        elif provider is None:
            raise UsageError(
                "give the project and the provider (set-key ID PROVIDER), or --admin PROVIDER"
            )
        else:
            with open_store() as store:  # fail before anyone types a key
                provider = check_key_target(config, store.conn, project_id, provider)
        from voicegw_cli.secrets import key_source

        created = key_source(config)[0] == "file" and not config.secret_key_path.exists()
        keyring = load_keyring(config, create=True)
        from voicegw_cli.cli.output import note
        from voicegw_cli.secrets import key_file_mode_problem

        if created:
            note(f"Created secret key file {config.secret_key_path} (mode 0600); back it up")
        elif key_source(config)[0] == "file":
            problem = key_file_mode_problem(config.secret_key_path)
            if problem:
                note(f"[yellow]warning:[/] {problem}")
        key = _read_key(f"{provider} admin" if admin else provider)
        if admin:
            from voicegw_cli.admin_keys import set_admin_key

            with open_store() as store:
                shown = set_admin_key(config, store.conn, provider, key, keyring=keyring)
            typer.echo(f"Stored {provider} admin key {shown} (encrypted) for `voicegw pull`.")
            other = config.admin_keys.get(provider)
            if other is not None and other.key:
                note(
                    f"[yellow]note:[/] {other.key_path} in voicegw.yaml is set and wins "
                    "over the stored key"
                )
            return
        with open_store() as store:
            shown = set_provider_key(config, store.conn, project_id, provider, key, keyring=keyring)
        typer.echo(f"Stored {provider} key {shown} for project {project_id} (encrypted).")
