"""`/reconcile`: upload provider export files, pick the provider and UTC days, and see the
report `voicegw reconcile --format json` gives: per model (or model and day) both sides'
units and cost, the cause of each difference, totals and notes."""

from __future__ import annotations

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


def run(request: Any, store: Any, form_data: Any) -> Any:
    from voicegw_cli import periods
    from voicegw_cli.errors import UsageError
    from voicegw_cli.reconcile import reconcile_uploads
    from voicegw_cli.reconcile.names import canonical_provider

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
    files = []
    for up in uploads:
        data = up.file.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            raise UsageError(f"{up.filename}: larger than {MAX_UPLOAD // 2**20} MB")
        files.append((up.filename, data))
    # a bad file is refused before the store opens; both name each file as uploaded
    result = reconcile_uploads(
        lambda: open_store(request),
        files,
        canonical_provider(values["provider"]),
        span.start,
        span.end,
        project=values["project"] or None,
        by=by,
        threshold_pct=threshold,
    )
    return form(request, None, None, values=values, result=result)
