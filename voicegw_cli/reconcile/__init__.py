"""Reconcile: provider exports in, a per-model (and per-day) diff with causes out.

`read.read_exports` turns export files into tidy records (one small reader module per
provider format family), `store.aggregates.usage_by_hour` brings our side, `diff.reconcile`
joins and explains, `report.render` prints. `compare` runs the store half for callers
that already hold an open store (the CLI, the MCP server).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voicegw_cli.reconcile.diff import Reconciliation, Settings
    from voicegw_cli.reconcile.read import Export


def compare(conn: Any, export: Export, settings: Settings, *, config: Any = None) -> Reconciliation:
    """Our hourly usage for the period (padded for zone shifts) against `export`."""
    from voicegw_cli.reconcile.diff import PAD_HOURS, reconcile
    from voicegw_cli.reconcile.rates import pricer_lookup
    from voicegw_cli.store.aggregates import usage_by_hour

    pad = timedelta(hours=PAD_HOURS)
    lo = datetime.combine(settings.start, time()) - pad
    hi = datetime.combine(settings.end + timedelta(days=1), time()) + pad
    ours = usage_by_hour(conn, lo, hi, provider=export.provider, project=settings.project)
    rates = pricer_lookup(config, export.provider) if config is not None else None
    return reconcile(export, ours, settings, rates=rates)


def reconcile_files(
    open_store: Callable[[], Any],
    files: Sequence[Path],
    provider: str,
    start: date,
    end: date,
    *,
    project: str | None = None,
    by: str = "model",
    threshold_pct: float = 1.0,
    metric: str = "credits",
    progress: Any = None,
) -> Reconciliation:
    """`voicegw reconcile` over export files (the CLI, MCP and the HTTP API): the files
    are read, and a bad one rejected, before `open_store()` is called, so a bad file never
    holds the store; then our side of the UTC days `start`..`end` is compared."""
    from voicegw_cli.reconcile.diff import Settings
    from voicegw_cli.reconcile.names import canonical_provider
    from voicegw_cli.reconcile.read import read_exports
    from voicegw_cli.reports import check_project

    export = read_exports(files, canonical_provider(provider), metric=metric, progress=progress)
    settings = Settings(start, end, by=by, threshold_pct=threshold_pct, project=project)
    with open_store() as store:
        if project:
            check_project(store, project)
        return compare(store.conn, export, settings, config=store.config)


def reconcile_uploads(
    open_store: Callable[[], Any],
    uploads: Sequence[tuple[str, bytes]],
    provider: str,
    start: date,
    end: date,
    **options: Any,
) -> dict[str, Any]:
    """`reconcile_files` over uploaded exports (`(file name, content)`; the HTTP API and the
    dashboard): each is saved in a temporary folder of its own (two may share a name, and
    readers go by the suffix), and errors and the report name each file as it was
    uploaded, never where it sat on our disk. Returns `reconcile --format json`'s dict."""
    import re
    import tempfile

    from voicegw_cli.errors import InputError

    with tempfile.TemporaryDirectory(prefix="voicegw-upload-") as tmp:
        files, names = [], {}
        for n, (filename, data) in enumerate(uploads):
            shown = Path((filename or "").replace("\\", "/")).name or f"upload-{n}"
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", shown).lstrip(".") or "export"
            dest = Path(tmp) / f"{n:02d}" / safe
            dest.parent.mkdir()
            dest.write_bytes(data)
            files.append(dest)
            names[str(dest)] = shown
        try:
            doc = reconcile_files(open_store, files, provider, start, end, **options).as_dict()
        except InputError as exc:
            raise InputError(
                names.get(str(exc.file), Path(str(exc.file)).name), exc.where, exc.problem
            ) from None
    for f in doc.get("files", []):
        f["path"] = names.get(str(f.get("path")), f.get("path"))
    return doc
