"""ElevenLabs: `usage/character-stats` for the whole workspace, broken down by model, one
point per day, counting credits (the API's default metric, asked for explicitly so the
saved page means what reconcile assumes).

Times are unix milliseconds; the documented way to include the last day is an end at
23:59:59 of it. The endpoint has no per-project filter, so `--project` is refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from voicegw_cli.reconcile.pull.plan import Call, Target, midnight, page_problem

NAME = "elevenlabs"
BASE_URL = "https://api.elevenlabs.io"
V1 = True
SCOPE_FIELD = None  # no filter for one project's usage


def headers(key: str, target: Target) -> dict[str, str]:
    return {"xi-api-key": key}


def _ms(when: datetime) -> str:
    return str(int(when.timestamp() * 1000))


def calls(target: Target) -> list[Call]:
    start = midnight(target.start)
    end = midnight(target.end + timedelta(days=1)) - timedelta(milliseconds=1)
    return [
        Call(
            "character_stats",
            "/v1/usage/character-stats",
            (
                ("start_unix", _ms(start)),
                ("end_unix", _ms(end)),
                ("include_workspace_metrics", "true"),
                ("breakdown_type", "model"),
                ("aggregation_interval", "day"),
                ("metric", "credits"),
            ),
        )
    ]


def next_call(call: Call, body: Any) -> Call | None:
    return None


def problem(call: Call, body: Any) -> str | None:
    return page_problem(body, {"time": list, "usage": dict})


def empty(call: Call, body: Any) -> bool:
    return body.get("time") == []
