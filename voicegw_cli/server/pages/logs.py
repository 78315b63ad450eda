"""`/logs`: line items newest first, filtered by project, modality, provider, model and
session, a page at a time (the cursor names the last item shown)."""

from __future__ import annotations

from typing import Any

from voicegw_cli.server.dashboard import render

FILTERS = ("project", "modality", "provider", "model", "session")
DEFAULT_LIMIT, MAX_LIMIT = 50, 500


def logs(request: Any, store: Any, form: Any) -> Any:
    from voicegw_cli.errors import UsageError
    from voicegw_cli.items import MODALITIES
    from voicegw_cli.reports import check_project, known_projects
    from voicegw_cli.store.queries import recent_items_page

    q = request.query_params
    chosen = {k: (q.get(k) or "").strip() for k in FILTERS}
    if chosen["modality"] and chosen["modality"] not in MODALITIES:
        raise UsageError(f"modality must be one of {', '.join(MODALITIES)}")
    if chosen["project"]:
        check_project(store, chosen["project"])
    try:
        limit = int(q.get("limit") or DEFAULT_LIMIT)
    except ValueError:
        raise UsageError(f"limit must be a whole number, got {q.get('limit')!r}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise UsageError(f"limit must be between 1 and {MAX_LIMIT}")
    rows, cursor = recent_items_page(
        store.conn,
        limit=limit,
        cursor=q.get("cursor") or None,
        project=chosen["project"] or None,
        modality=chosen["modality"] or None,
        provider=chosen["provider"] or None,
        model=chosen["model"] or None,
        session_id=chosen["session"] or None,
    )
    from urllib.parse import urlencode

    keep = {k: v for k, v in chosen.items() if v}
    if limit != DEFAULT_LIMIT:
        keep["limit"] = str(limit)
    return render(
        request,
        "logs.html",
        config=store.config,
        nav="logs",
        rows=rows,
        chosen=chosen,
        modalities=MODALITIES,
        projects=known_projects(store),
        next_url=f"/logs?{urlencode({**keep, 'cursor': cursor})}" if cursor else "",
        first_url=f"/logs?{urlencode(keep)}",
        paged=bool(q.get("cursor")),
    )
