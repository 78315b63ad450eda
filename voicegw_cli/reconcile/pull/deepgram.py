"""Deepgram: a project's `usage/breakdown` (grouped by model), `billing/breakdown`
(grouped by line item) and `usage/fields` (which names the model UUIDs).

Dates are `YYYY-MM-DD`, both ends inclusive as the console reads them; the answers are not
paginated. Keys need the `usage:read` scope and authenticate as `Authorization: Token`.
Which Deepgram project: the voicegw project's `providers.deepgram.project_id` (with
`--project`), else `admin_keys.deepgram.project_id`, else the key's only project.
"""

from __future__ import annotations

from typing import Any

from voicegw_cli.errors import FetchError
from voicegw_cli.reconcile.pull.plan import Call, GetJson, Target, page_problem

NAME = "deepgram"
BASE_URL = "https://api.deepgram.com"
V1 = True
#: `projects.<id>.providers.deepgram.project_id`: the Deepgram project of a voicegw one.
SCOPE_FIELD = "project_id"


def headers(key: str, target: Target) -> dict[str, str]:
    return {"Authorization": f"Token {key}"}


def prepare(target: Target, get_json: GetJson) -> Target:
    """Pick the Deepgram project: the scope's, the configured one, or the key's only one."""
    from dataclasses import replace

    chosen = target.scope.get("project_id") or target.project_id
    if chosen:
        return replace(target, project_id=chosen)
    body = get_json("/v1/projects", ())
    projects = body.get("projects") if isinstance(body, dict) else None
    if not isinstance(projects, list):
        raise FetchError("deepgram: GET /v1/projects did not list projects")
    ids = [str(p.get("project_id")) for p in projects if isinstance(p, dict)]
    if len(ids) != 1:
        listed = ", ".join(
            f"{p.get('project_id')} ({p.get('name')})" for p in projects if isinstance(p, dict)
        )
        raise FetchError(
            f"deepgram: the key sees {len(ids)} projects ({listed or 'none'}); set "
            "admin_keys.deepgram.project_id in voicegw.yaml to the one to pull"
        )
    return replace(target, project_id=ids[0])


def calls(target: Target) -> list[Call]:
    base = f"/v1/projects/{target.project_id}"
    days = (("start", target.start.isoformat()), ("end", target.end.isoformat()))
    return [
        Call("usage_fields", f"{base}/usage/fields", days),
        Call("usage_breakdown", f"{base}/usage/breakdown", days + (("grouping", "models"),)),
        Call("billing_breakdown", f"{base}/billing/breakdown", days + (("grouping", "line_item"),)),
    ]


def next_call(call: Call, body: Any) -> Call | None:
    return None


def problem(call: Call, body: Any) -> str | None:
    if call.kind == "usage_fields":
        return page_problem(body, {})
    return page_problem(body, {"results": list})


def empty(call: Call, body: Any) -> bool:
    if call.kind == "usage_fields":
        return not body.get("models")
    return body.get("results") == []
