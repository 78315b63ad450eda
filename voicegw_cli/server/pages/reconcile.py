"""`/reconcile`: upload provider export files, pick the provider and UTC days, and see the
report `voicegw reconcile --format json` gives: per model (or model and day) both sides'
units and cost, the cause of each difference, totals and notes."""

from __future__ import annotations

import re
from typing import Any

from voicegw_cli.server.dashboard import open_store, render

PROVIDERS = (
    "openai",
    "anthropic",
    "deepgram",
    "cartesia",
    "elevenlabs",
    "groq",
    "assemblyai",
    "livekit",
)
#: The causes the report names, with the CLI epilog's explanations.
CAUSES = {
    "coverage": "one side only, or the export stops early",
    "timezone": "days shifted by a zone offset, or our clock off around one midnight",
    "units": "a metering gap",
    "cached": "cached/uncached split differs",
    "split": "text/audio split differs",
    "unpriced": "our items have no price",
    "rate": "units agree, cost does not",
}
MAX_UPLOAD = 50 * 1024 * 1024


def _config(request: Any) -> Any:
    from voicegw_cli.config import load_config

    return load_config(request.app.state.voicegw.get("config_path"))


def form(request: Any, store: Any, form: Any, **context: Any) -> Any:
    values = context.pop("values", None) or {"by": "model", "threshold": "1"}
    return render(
        request,
        "reconcile.html",
        status=context.pop("status", 200),
        config=_config(request),
        nav="reconcile",
        providers=PROVIDERS,
        causes=CAUSES,
        values=values,
        result=context.pop("result", None),
        **context,
    )


def _safe_name(name: str, i: int) -> str:
    """The upload's own file name (readers look at the suffix), without any path."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    return f"{i:02d}-{base.lstrip('.') or 'export'}"


def run(request: Any, store: Any, form_data: Any) -> Any:
    import tempfile
    from pathlib import Path

    from voicegw_cli import periods
    from voicegw_cli.errors import InputError, UsageError
    from voicegw_cli.reconcile import compare
    from voicegw_cli.reconcile.diff import Settings
    from voicegw_cli.reconcile.names import canonical_provider
    from voicegw_cli.reconcile.read import read_exports
    from voicegw_cli.reports import check_project

    values = {
        k: str(form_data.get(k) or "").strip()
        for k in ("provider", "period", "start", "end", "project", "by", "threshold")
    }
    config = _config(request)
    if not values["provider"]:
        raise UsageError("choose the provider that billed the export")
    by = values["by"] or "model"
    if by not in ("model", "day"):
        raise UsageError(f"by must be model or day, got {by!r}")
    try:
        threshold = float(values["threshold"] or 1)
    except ValueError:
        raise UsageError(f"threshold must be a percentage, got {values['threshold']!r}") from None
    if threshold < 0:
        raise UsageError("threshold must be >= 0")
    span = periods.resolve(
        config.tz,
        period=None if values["start"] or values["end"] else values["period"] or None,
        start=values["start"] or None,
        end=values["end"] or None,
        utc=True,
        default=None,
    )
    uploads = [f for f in form_data.getlist("files") if hasattr(f, "filename") and f.filename]
    if not uploads:
        raise UsageError("choose at least one export file to upload")
    prov = canonical_provider(values["provider"])
    with tempfile.TemporaryDirectory(prefix="voicegw-reconcile-") as tmp:
        paths = []
        for i, up in enumerate(uploads):
            data = up.file.read(MAX_UPLOAD + 1)
            if len(data) > MAX_UPLOAD:
                raise UsageError(f"{up.filename}: larger than {MAX_UPLOAD // 2**20} MB")
            path = Path(tmp) / _safe_name(up.filename, i)
            path.write_bytes(data)
            paths.append(path)
        names = {str(p): up.filename for p, up in zip(paths, uploads, strict=True)}
        try:  # a bad file is refused before the store opens
            export = read_exports(paths, prov)
        except InputError as exc:  # name the upload, not our temporary copy
            raise InputError(
                names.get(exc.file, Path(exc.file).name), exc.where, exc.problem
            ) from None
    settings = Settings(
        span.start, span.end, by=by, threshold_pct=threshold, project=values["project"] or None
    )
    with open_store(request) as st:
        if settings.project:
            check_project(st, settings.project)
        result = compare(st.conn, export, settings, config=config).as_dict()
    for f in result["files"]:  # the uploaded name, not our temporary path
        f["path"] = names.get(f["path"], Path(f["path"]).name)
    return form(request, None, None, values=values, result=result)
