"""What one pull asks a provider for: the target (who, which days, which scope) and the
calls, each a GET that may continue over pages.

Provider modules turn a `Target` into `Call`s within their API's documented limits; the
engine (`pull.run`) makes them, follows pages and saves every answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from voicegw_cli.errors import FetchError

Params = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Target:
    """One provider, inclusive UTC days, and the provider-side scope of a `--project`."""

    provider: str
    start: date
    end: date
    scope: dict[str, str] = field(default_factory=dict)  # e.g. {"project_id": "proj_..."}
    project_id: str | None = None  # Deepgram: the project the endpoints live under
    version: str | None = None  # anthropic-version / Cartesia-Version


@dataclass(frozen=True, slots=True)
class Call:
    """One GET. `paginated` calls continue with `page=<next_page>` while `has_more`."""

    kind: str  # names the saved files: <kind>-001.json
    path: str
    params: Params
    paginated: bool = False


#: A provider module's way to fetch JSON before planning (Deepgram's project list).
GetJson = Callable[[str, Params], Any]


def day_chunks(start: date, end: date, max_days: int) -> list[tuple[date, date]]:
    """Inclusive [start, end] cut into inclusive pieces of at most `max_days` days."""
    out: list[tuple[date, date]] = []
    lo = start
    while lo <= end:
        hi = min(end, lo + timedelta(days=max_days - 1))
        out.append((lo, hi))
        lo = hi + timedelta(days=1)
    return out


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def unix(day: date) -> str:
    """Unix seconds of a UTC midnight."""
    return str(int(midnight(day).timestamp()))


def rfc3339(day: date) -> str:
    return midnight(day).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_cursor_call(call: Call, body: Any, provider: str) -> Call | None:
    """OpenAI's and Anthropic's pages: `has_more` and `next_page` -> the same call with
    `page=<next_page>`; None on the last page."""
    if not isinstance(body, dict) or body.get("has_more") is not True:
        return None
    cursor = body.get("next_page")
    if not isinstance(cursor, str) or not cursor:
        raise FetchError(f"{provider}: GET {call.path} said has_more but gave no next_page")
    if dict(call.params).get("page") == cursor:
        raise FetchError(f"{provider}: GET {call.path} gave the same next_page twice; stopped")
    params = tuple(p for p in call.params if p[0] != "page") + (("page", cursor),)
    return replace(call, params=params)


def page_problem(body: Any, required: dict[str, type]) -> str | None:
    """None when `body` is an object with each required key of the given type."""
    if not isinstance(body, dict):
        return f"expected a JSON object, got {type(body).__name__}"
    for key, typ in required.items():
        if not isinstance(body.get(key), typ):
            keys = ", ".join(sorted(body)[:8]) or "none"
            return f"expected `{key}` ({typ.__name__}) in the answer (keys: {keys})"
    return None
