"""`voicegw audit`: who changed which project, provider key or secret, and when."""

from __future__ import annotations

from typing import Annotated

import typer

from voicegw_cli.cli.output import Format, FormatOpt
from voicegw_cli.cli.projects_manage import command
from voicegw_cli.periods import SINCE_HELP


def register(app: typer.Typer) -> None:
    @command(app)
    def audit(
        project: Annotated[
            str | None, typer.Option("--project", "-p", help="Changes to this project only.")
        ] = None,
        action: Annotated[
            str | None,
            typer.Option(
                "--action",
                help="Action prefix: project (create/update/delete), provider_key, provider "
                "(add/remove), model (register/remove), secret.",
            ),
        ] = None,
        since: Annotated[
            str | None,
            typer.Option("--since", help=SINCE_HELP + "."),
        ] = None,
        limit: Annotated[int, typer.Option("-n", "--limit", min=1, max=100000)] = 50,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """The audit log, newest first: what changed, when, old and new values, by whom.
        Provider keys and secrets never appear in it."""
        from rich.markup import escape

        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.cli.output import emit
        from voicegw_cli.periods import parse_since
        from voicegw_cli.projects import audit_entries, describe_change

        tz = get_config().tz
        since_dt = parse_since(since, tz) if since else None
        with open_store() as store:
            rows = audit_entries(
                store.conn, limit=limit, target=project, action=action, since=since_dt
            )
        columns = ["id", "ts", "action", "target", "actor", "old_value", "new_value"]
        if fmt is not Format.table:
            emit(rows, fmt=fmt, columns=columns)
            return
        for r in rows:
            r["change"] = describe_change(r)
        emit(
            rows,
            fmt=fmt,
            title=f"Audit log ({tz.key})",
            columns=["ts", "action", "target", "actor", "change"],
            cells={
                "ts": lambda r: _local(r["ts"], tz),
                "change": lambda r: escape(r["change"]),
                "target": lambda r: escape(r["target"] or ""),
            },
            caption=None if rows else "no changes recorded",
        )


def _local(ts: object, tz: object) -> str:
    """A stored (naive UTC) time in the configured zone, to the second, with its offset."""
    from datetime import UTC

    return ts.replace(tzinfo=UTC).astimezone(tz).isoformat(timespec="seconds")  # type: ignore[attr-defined]
