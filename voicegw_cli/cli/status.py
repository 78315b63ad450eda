"""`voicegw status`: what voicegw is using and whether anything needs attention."""

from __future__ import annotations

import typer

from voicegw_cli.cli.output import Format, FormatOpt


def register(app: typer.Typer) -> None:
    @app.command()
    def status(fmt: FormatOpt = Format.table) -> None:
        """Config, store, spool backlog, projects, time zone, pricing data, missing values,
        admin keys for `voicegw pull` (masked), and where each project's provider keys come
        from (never the key)."""
        from voicegw_cli.cli.context import open_store
        from voicegw_cli.cli.output import dumps, emit
        from voicegw_cli.reports import status_report

        with open_store(fold=False) as store:
            info = status_report(store)
        sources = info["key_sources"]
        cfg = store.config
        if fmt is Format.json:
            typer.echo(dumps(info))
            return
        rows = [{"setting": k, "value": v} for k, v in info.items() if k != "key_sources"]
        if fmt is Format.csv:
            import json

            rows.append({"setting": "key_sources", "value": json.dumps(sources)})
            emit(rows, fmt=fmt)
            return
        emit(
            rows, fmt=fmt, title="voicegw status", cells={"value": lambda r: _readable(r["value"])}
        )
        if sources:
            emit(
                sources,
                fmt=fmt,
                title="Provider keys by project (where each comes from; never the key)",
                columns=["project", "provider", "source", "where"],
            )
        pricing = info.get("pricing") or {}
        if pricing.get("catalog_stale") or pricing.get("catalog_unverified"):
            from voicegw_cli.cli.output import note

            note(
                f"[yellow]{pricing['catalog_stale']} catalog price(s) reviewed more than "
                f"{pricing['catalog_max_age_days']} days ago, "
                f"{pricing['catalog_unverified']} unverified:[/] see `voicegw prices check`"
            )
        if cfg.missing:
            from voicegw_cli.cli.output import note

            note(
                f"[yellow]{len(cfg.missing)} value(s) are missing because their environment "
                f"variable is unset:[/] {', '.join(cfg.missing)}"
            )


def _readable(value: object) -> str:
    """A status value for people: counts with separators, mappings as one line a key."""
    from rich.markup import escape

    if value in ([], None, {}):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return "\n".join(
            f"{escape(str(k)).replace('_', ' ')}: {_readable(v)}" for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return escape(", ".join(str(v) for v in value))
    return escape(str(value))
