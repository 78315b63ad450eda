"""Cartesia: `usage/credits` in daily buckets (no model split exists).

Documented: RFC 3339 `start_ts` rounded down and `end_ts` rounded up to UTC days, a span of
at most a year (longer ranges are split), an admin key (`sk_car_admin_...`) and the
`Cartesia-Version` header; `api_key_id` scopes it to one key.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from voicegw_cli.reconcile.pull.plan import Call, Target, day_chunks, page_problem, rfc3339

NAME = "cartesia"
BASE_URL = "https://api.cartesia.ai"
V1 = False
VERSION = "2026-03-01"
#: `projects.<id>.providers.cartesia.api_key_id` scopes a `--project` pull to that key.
SCOPE_FIELD = "api_key_id"
MAX_DAYS = 365


def headers(key: str, target: Target) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Cartesia-Version": target.version or VERSION}


def calls(target: Target) -> list[Call]:
    scope = (("api_key_id", target.scope["api_key_id"]),) if target.scope else ()
    return [
        Call(
            "usage_credits",
            "/usage/credits",
            (
                ("start_ts", rfc3339(lo)),
                ("end_ts", rfc3339(hi + timedelta(days=1))),
                ("interval", "day"),
            )
            + scope,
        )
        for lo, hi in day_chunks(target.start, target.end, MAX_DAYS)
    ]


def next_call(call: Call, body: Any) -> Call | None:
    return None


def problem(call: Call, body: Any) -> str | None:
    return page_problem(body, {"data": list})


def empty(call: Call, body: Any) -> bool:
    return body.get("data") == []
