"""OpenAI: the organization Usage API (completions, audio speeches, audio transcriptions)
and the Costs API, in daily buckets grouped by model (costs by line item).

Documented limits: usage `bucket_width=1d` takes `limit` up to 31 buckets, costs up to
180; times are unix seconds, `start_time` inclusive, `end_time` exclusive; pages continue
with `page=<next_page>` while `has_more`. `project_ids` scopes both to one OpenAI project.
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
    unix,
)

NAME = "openai"
BASE_URL = "https://api.openai.com"
V1 = True
#: `projects.<id>.providers.openai.project_id` scopes a `--project` pull.
SCOPE_FIELD = "project_id"
USAGE_KINDS = ("completions", "audio_speeches", "audio_transcriptions")
USAGE_MAX_BUCKETS = 31  # bucket_width=1d: default 7, max 31
COSTS_MAX_BUCKETS = 180  # costs: 1d only, limit 1..180


def headers(key: str, target: Target) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _window(lo: date, hi: date) -> tuple[tuple[str, str], ...]:
    days = (hi - lo).days + 1
    return (
        ("start_time", unix(lo)),
        ("end_time", unix(hi + timedelta(days=1))),
        ("bucket_width", "1d"),
        ("limit", str(days)),
    )


def calls(target: Target) -> list[Call]:
    scope = (("project_ids", target.scope["project_id"]),) if target.scope else ()
    out = [
        Call(
            f"usage_{kind}",
            f"/v1/organization/usage/{kind}",
            _window(lo, hi) + (("group_by", "model"),) + scope,
            paginated=True,
        )
        for kind in USAGE_KINDS
        for lo, hi in day_chunks(target.start, target.end, USAGE_MAX_BUCKETS)
    ]
    out += [
        Call(
            "costs",
            "/v1/organization/costs",
            _window(lo, hi) + (("group_by", "line_item"),) + scope,
            paginated=True,
        )
        for lo, hi in day_chunks(target.start, target.end, COSTS_MAX_BUCKETS)
    ]
    return out


def next_call(call: Call, body: Any) -> Call | None:
    return next_cursor_call(call, body, NAME)


def problem(call: Call, body: Any) -> str | None:
    return page_problem(body, {"data": list})


def empty(call: Call, body: Any) -> bool:
    """A page with no buckets at all says nothing a reader could use."""
    return body.get("data") == []
