"""Anthropic: the Admin API's `usage_report/messages` (daily buckets grouped by model) and
`cost_report` (grouped by description, which fills in model and token type).

Documented limits: `bucket_width=1d` takes `limit` up to 31 buckets on both; times are
RFC 3339, `ending_at` exclusive; pages continue with `page=<next_page>` while `has_more`.
Every request carries `anthropic-version`. A workspace scope (`workspace_ids[]`) exists
for the usage report only, so a workspace-scoped pull leaves the cost report out.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from voicegw_cli.reconcile.pull.plan import (
    Call,
    Target,
    day_chunks,
    next_cursor_call,
    page_problem,
    rfc3339,
)

NAME = "anthropic"
BASE_URL = "https://api.anthropic.com"
V1 = True
VERSION = "2023-06-01"
#: `projects.<id>.providers.anthropic.workspace_id` scopes a `--project` pull.
SCOPE_FIELD = "workspace_id"
MAX_BUCKETS = 31  # usage 1d: max 31; cost report: 1..31


def headers(key: str, target: Target) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": target.version or VERSION}


def _window(lo: date, hi: date) -> tuple[tuple[str, str], ...]:
    return (
        ("starting_at", rfc3339(lo)),
        ("ending_at", rfc3339(hi + timedelta(days=1))),
        ("bucket_width", "1d"),
        ("limit", str((hi - lo).days + 1)),
    )


def calls(target: Target) -> list[Call]:
    chunks = day_chunks(target.start, target.end, MAX_BUCKETS)
    workspace = (("workspace_ids[]", target.scope["workspace_id"]),) if target.scope else ()
    out = [
        Call(
            "usage_report",
            "/v1/organizations/usage_report/messages",
            _window(lo, hi) + (("group_by[]", "model"),) + workspace,
            paginated=True,
        )
        for lo, hi in chunks
    ]
    if not target.scope:
        out += [
            Call(
                "cost_report",
                "/v1/organizations/cost_report",
                _window(lo, hi) + (("group_by[]", "description"),),
                paginated=True,
            )
            for lo, hi in chunks
        ]
    return out


def notes(target: Target) -> list[str]:
    if target.scope:
        return [
            "the cost report cannot be limited to a workspace, so it was not pulled: "
            "reconcile compares this workspace's units only"
        ]
    return []


def next_call(call: Call, body: Any) -> Call | None:
    return next_cursor_call(call, body, NAME)


def problem(call: Call, body: Any) -> str | None:
    return page_problem(body, {"data": list})


def empty(call: Call, body: Any) -> bool:
    return body.get("data") == []
