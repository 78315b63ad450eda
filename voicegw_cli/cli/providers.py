"""`voicegw providers list|show|add|remove|test` and `voicegw models list|register|remove`.

The registry (built-in providers and models, voicegw.yaml, runtime additions in the store)
lives in `voicegw_cli.gateway`; these commands parse options and render its records.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from voicegw_cli.cli.output import Format, FormatOpt
from voicegw_cli.cli.projects_manage import command

#: Table columns (JSON and CSV carry every field).
PROVIDER_COLUMNS = ["provider_id", "provider_type", "source", "modalities", "key_source"]
MODEL_COLUMNS = ["model_id", "modality", "source", "pricing"]

ProviderArg = Annotated[str, typer.Argument(metavar="PROVIDER", help="Provider id, e.g. deepgram.")]
ModelArg = Annotated[
    str, typer.Argument(metavar="MODEL", help="provider/model, e.g. openai/gpt-4o.")
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Remove without asking (for scripts).")]


def _record(record: dict[str, Any], fmt: Format, title: str) -> None:
    from rich.markup import escape

    from voicegw_cli.cli.output import _cell, dumps, emit

    if fmt is Format.json:
        typer.echo(dumps(record))
        return
    if fmt is Format.csv:
        emit([record], fmt=fmt)
        return
    rows = [{"field": k, "value": v} for k, v in record.items()]
    emit(
        rows,
        fmt=fmt,
        title=title,
        columns=["field", "value"],
        cells={"value": lambda r: escape(_cell(r["value"]))},
    )


def _confirm(question: str, yes: bool) -> None:
    import sys

    from voicegw_cli.errors import UsageError

    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            "this needs confirmation: rerun with --yes (stdin is not a terminal, so voicegw "
            "cannot ask)"
        )
    if not typer.confirm(question, default=False):
        typer.echo("Not removed.")
        raise typer.Exit(1)


def _done(record: dict[str, Any], fmt: Format, line: str) -> None:
    from voicegw_cli.cli.output import dumps, emit

    if fmt is Format.table:
        typer.echo(line)
    elif fmt is Format.json:
        typer.echo(dumps(record))
    else:
        emit([record], fmt=fmt)


def register(app: typer.Typer) -> None:
    providers_app = typer.Typer(
        help="Providers voicegw can build plugins for: built in, voicegw.yaml, added at runtime.",
        no_args_is_help=True,
    )
    models_app = typer.Typer(
        help="Models voicegw knows: built in, voicegw.yaml, registered at runtime.",
        no_args_is_help=True,
    )

    @command(providers_app, "list")
    def providers_list(fmt: FormatOpt = Format.table) -> None:
        """Every provider with its source (builtin, yaml, db), where its key comes from
        (never the key itself, only masked) and whether its plugin is installed."""
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.cli.output import emit
        from voicegw_cli.gateway.manage import list_providers

        with open_store() as store:
            rows = list_providers(get_config(), store.conn)
        emit(
            rows,
            fmt=fmt,
            title="Providers",
            columns=PROVIDER_COLUMNS if fmt is Format.table else None,
        )

    @command(providers_app, "show")
    def providers_show(provider_id: ProviderArg, fmt: FormatOpt = Format.table) -> None:
        """One provider: kind, key source, plugin package, models, and which stacks,
        fallbacks and projects name it."""
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.gateway.manage import get_provider

        with open_store() as store:
            record = get_provider(get_config(), store.conn, provider_id)
        _record(record, fmt, f"Provider {record['provider_id']}")

    @command(providers_app, "add")
    def providers_add(
        provider_id: ProviderArg,
        provider_type: Annotated[
            str | None,
            typer.Option(
                "--type",
                help="Kind of a provider that is not built in (openai: any OpenAI-compatible).",
            ),
        ] = None,
        base_url: Annotated[
            str | None, typer.Option("--base-url", help="API root, e.g. https://host/v1.")
        ] = None,
        with_key: Annotated[
            bool,
            typer.Option(
                "--with-key", help="Read the provider's API key from a hidden prompt or stdin."
            ),
        ] = False,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Add a provider at runtime: a built-in one with its own key or base URL, or a new
        one of a known type. The key is read from a hidden prompt or stdin (never the
        command line), stored encrypted and shown masked."""
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.cli.projects_manage import _read_key
        from voicegw_cli.gateway.manage import add_provider
        from voicegw_cli.secrets import load_keyring

        config = get_config()
        keyring = load_keyring(config, create=True) if with_key else None
        key = _read_key(provider_id) if with_key else None
        with open_store() as store:
            record = add_provider(
                config,
                store.conn,
                provider_id,
                provider_type=provider_type,
                base_url=base_url,
                api_key=key,
                keyring=keyring,
            )
        _record(record, fmt, f"Added provider {record['provider_id']}")

    @command(providers_app, "remove")
    def providers_remove(
        provider_id: ProviderArg, yes: YesOpt = False, fmt: FormatOpt = Format.table
    ) -> None:
        """Remove a runtime provider (with its stored key, and its runtime models when it is
        not a built-in one) after showing what still names it; --yes skips the question.
        YAML providers are removed by editing voicegw.yaml."""
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.gateway.manage import remove_provider, remove_provider_preview

        config = get_config()
        with open_store() as store:
            preview = remove_provider_preview(config, store.conn, provider_id)
        if fmt is Format.table:
            refs = ", ".join(preview.referenced_by) or "nothing"
            typer.echo(
                f"Provider {preview.provider_id} ({preview.provider_type}): "
                f"{'a stored key, ' if preview.key_stored else ''}{len(preview.models)} runtime "
                f"model(s); named by {refs}."
            )
        _confirm(f"Remove provider {preview.provider_id!r}?", yes)
        with open_store() as store:
            done = remove_provider(config, store.conn, provider_id)
        _done({"action": "removed", **done.as_dict()}, fmt, f"Removed provider {done.provider_id}.")

    @command(providers_app, "test")
    def providers_test(
        provider_id: ProviderArg,
        model: Annotated[str | None, typer.Option("--model", help="Model to build.")] = None,
        project: Annotated[
            str | None, typer.Option("--project", "-p", help="Whose key to use.")
        ] = None,
        live: Annotated[
            bool, typer.Option("--live", help="Also make the provider's cheapest real call.")
        ] = False,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Build the provider's plugin with the project's key (no network), and with --live
        make one cheap authenticated request. Exit 1 when the check fails."""
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.gateway import Gateway, RuntimeState
        from voicegw_cli.gateway.probe import test_provider

        config = get_config()
        with open_store() as store:
            state = RuntimeState.from_conn(store.conn, config)
        result = test_provider(
            Gateway(config, state), provider_id, model=model, project=project, live=live
        )
        _record(result, fmt, f"Test of {result['provider_id']}: {result['status']}")
        if result["status"] != "ok":
            raise typer.Exit(1)

    @command(models_app, "list")
    def models_list(
        provider: Annotated[
            str | None, typer.Option("--provider", help="Only this provider.")
        ] = None,
        modality: Annotated[str | None, typer.Option("--modality", help="stt, llm or tts.")] = None,
        source: Annotated[str | None, typer.Option("--source", help="builtin, yaml or db.")] = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Models voicegw knows, with their source and what prices them today (`pricing` is
        the pricing_source their line items would carry; empty means unpriced)."""
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.cli.output import emit
        from voicegw_cli.gateway.manage import list_models

        with open_store() as store:
            rows = list_models(
                get_config(), store.conn, provider=provider, modality=modality, source=source
            )
        columns = MODEL_COLUMNS if fmt is Format.table else None
        if fmt is Format.table and any(r["default_voice"] for r in rows):
            columns = [*MODEL_COLUMNS, "default_voice"]
        emit(rows, fmt=fmt, title="Models", columns=columns)

    @command(models_app, "register")
    def models_register(
        model_id: ModelArg,
        modality: Annotated[str, typer.Option("--modality", help="stt, llm or tts.")],
        default_voice: Annotated[
            str | None, typer.Option("--default-voice", help="TTS only: voice when none is given.")
        ] = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Register a model at runtime. Prices go in voicegw.yaml (`models.<id>.price`)."""
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.gateway.manage import register_model

        with open_store() as store:
            record = register_model(
                get_config(), store.conn, model_id, modality=modality, default_voice=default_voice
            )
        _record(record, fmt, f"Registered model {record['model_id']}")

    @command(models_app, "remove")
    def models_remove(
        model_id: ModelArg, yes: YesOpt = False, fmt: FormatOpt = Format.table
    ) -> None:
        """Remove a runtime model after showing what still names it; --yes skips the
        question. YAML and built-in models are read-only."""
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.gateway.manage import remove_model, remove_model_preview

        config = get_config()
        with open_store() as store:
            preview = remove_model_preview(config, store.conn, model_id)
        if fmt is Format.table:
            refs = ", ".join(preview["referenced_by"]) or "nothing"
            typer.echo(f"Model {preview['model_id']} ({preview['modality']}): named by {refs}.")
        _confirm(f"Remove model {preview['model_id']!r}?", yes)
        with open_store() as store:
            done = remove_model(config, store.conn, model_id)
        _done({"action": "removed", **done}, fmt, f"Removed model {done['model_id']}.")

    app.add_typer(providers_app, name="providers")
    app.add_typer(models_app, name="models")
