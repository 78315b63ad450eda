"""Local stand-ins for the providers' admin APIs, served by pytest-httpserver on 127.0.0.1.

Each answers the way its provider documents (research notes in
/work/shared/reference/provider-exports.md; docs/reconcile.md): the query parameters and
their limits (a `limit` beyond the documented maximum is a 400, as it is upstream), the
page shape, `has_more`/`next_page` cursors, a bucket for every day of the range (empty
ones as `results: []`), the auth header and its 401. The figures come from the fixture
files, so what is pulled can be reconciled against the same data read from those files.

Every request is logged with its arrival time and the exact bytes answered, and faults
(429 with Retry-After, 500, 401, a request that hangs) can be queued per path.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

DAY = 86400


@dataclass
class Hit:
    t: float  # time.monotonic() at arrival
    path: str
    args: list[tuple[str, str]]
    headers: dict[str, str]
    status: int = 0
    body: bytes = b""


@dataclass
class Fault:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    after: int = 0  # let this many requests to the path through first
    hang: threading.Event | None = None  # block until set (a pull killed mid-request)


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class FakeAdminAPI:
    """One provider's admin API: routes, auth, faults and a log of every request."""

    def __init__(
        self,
        server: HTTPServer,
        authorized: Callable[[Request], bool],
        unauthorized: tuple[int, Any],
        error: Callable[[str], Any],
    ) -> None:
        self.server = server
        self.authorized = authorized
        self.unauthorized = unauthorized
        self.error = error
        self.hits: list[Hit] = []
        self.faults: dict[str, list[Fault]] = {}
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def fault(self, path: str, status: int, body: Any = None, *, after: int = 0, **kw: Any) -> None:
        self.faults.setdefault(path, []).append(Fault(status, body, after=after, **kw))

    def route(self, path: str, answer: Callable[[Request], Any]) -> None:
        self.server.expect_request(path).respond_with_handler(self._handler(path, answer))

    def hits_for(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    def _handler(self, path: str, answer: Callable[[Request], Any]):
        def handle(request: Request) -> Response:
            hit = Hit(
                time.monotonic(),
                request.path,
                list(request.args.items(multi=True)),
                {k.lower(): v for k, v in request.headers.items()},
            )
            with self._lock:
                self.hits.append(hit)
                n = self._seen[path] = self._seen.get(path, 0) + 1
                queued = self.faults.get(path) or []
                fault = next((f for f in queued if n > f.after), None)
                if fault is not None:
                    queued.remove(fault)
            if fault is not None and fault.hang is not None:
                fault.hang.wait(60)
            if fault is not None:
                return self._respond(hit, fault.status, fault.body, fault.headers)
            if not self.authorized(request):
                return self._respond(hit, *self.unauthorized)
            try:
                body = answer(request)
            except BadRequest as exc:
                return self._respond(hit, exc.status, self.error(str(exc)))
            return self._respond(hit, 200, body)

        return handle

    def _respond(
        self, hit: Hit, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> Response:
        data = body if isinstance(body, bytes) else json.dumps(body, indent=1).encode()
        hit.status, hit.body = status, data
        return Response(data, status=status, headers=headers, content_type="application/json")


# ------------------------------------------------------------------ helpers


def _int(request: Request, name: str, default: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None:
        if default is None:
            raise BadRequest(f"missing required parameter '{name}'")
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"invalid integer for '{name}': {raw!r}") from None


def _instant(request: Request, name: str, *, required: bool = True) -> datetime | None:
    raw = request.args.get(name)
    if raw is None:
        if required:
            raise BadRequest(f"{name}: field required")
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise BadRequest(f"{name}: invalid datetime {raw!r}") from None


def _cursor(offset: int) -> str:
    return "page_" + base64.b64encode(str(offset).encode()).decode()


def _offset(request: Request) -> int:
    raw = request.args.get("page")
    if not raw:
        return 0
    try:
        return int(base64.b64decode(raw.removeprefix("page_")).decode())
    except ValueError:
        raise BadRequest(f"invalid page cursor {raw!r}") from None


def _paged(buckets: list[dict], request: Request, limit: int, page_size: int) -> dict:
    offset = _offset(request)
    n = min(limit, page_size)
    window = buckets[offset : offset + n]
    more = offset + n < len(buckets)
    return {"window": window, "has_more": more, "next_page": _cursor(offset + n) if more else None}


# ------------------------------------------------------------------ OpenAI


def openai_api(
    server: HTTPServer,
    data: dict[str, list[dict]],
    *,
    key: str,
    page_size: int = 10,
) -> FakeAdminAPI:
    """`/v1/organization/usage/<kind>` and `/v1/organization/costs` over `data`
    (kind -> buckets; "costs" for the Costs API)."""
    api = FakeAdminAPI(
        server,
        lambda r: r.headers.get("Authorization") == f"Bearer {key}",
        (
            401,
            {
                "error": {
                    "message": "Incorrect API key provided. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
        ),
        lambda msg: {"error": {"message": msg, "type": "invalid_request_error"}},
    )
    for kind, buckets in data.items():
        by_start = {b["start_time"]: b for b in buckets}
        costs = kind == "costs"
        path = "/v1/organization/costs" if costs else f"/v1/organization/usage/{kind}"

        def answer(request: Request, by_start=by_start, costs=costs) -> dict:
            start = _int(request, "start_time")
            end = _int(request, "end_time", start + 7 * DAY)
            if request.args.get("bucket_width", "1d") != "1d":
                raise BadRequest("only bucket_width=1d is served here")
            limit = _int(request, "limit", 7)
            most = 180 if costs else 31
            if not 1 <= limit <= most:
                raise BadRequest(f"limit must be between 1 and {most} for bucket_width=1d")
            allowed = (
                {"project_id", "line_item", "api_key_id"}
                if costs
                else {"project_id", "user_id", "api_key_id", "model", "batch", "service_tier"}
            )
            for g in request.args.getlist("group_by"):
                if g not in allowed:
                    raise BadRequest(f"invalid group_by value {g!r}")
            projects = request.args.getlist("project_ids")
            days = []
            for t in range(start, end, DAY):
                bucket = dict(by_start.get(t) or {"object": "bucket", "results": []})
                bucket.update(start_time=t, end_time=min(t + DAY, end))
                if projects:
                    bucket["results"] = [
                        r for r in bucket["results"] if r.get("project_id") in projects
                    ]
                days.append(bucket)
            page = _paged(days, request, limit, page_size)
            return {
                "object": "page",
                "data": page["window"],
                "has_more": page["has_more"],
                "next_page": page["next_page"],
            }

        api.route(path, answer)
    return api


# ------------------------------------------------------------------ Anthropic


def anthropic_api(
    server: HTTPServer,
    data: dict[str, list[dict]],
    *,
    key: str,
    page_size: int = 10,
) -> FakeAdminAPI:
    """`/v1/organizations/usage_report/messages` ("usage") and `/cost_report` ("cost")."""
    api = FakeAdminAPI(
        server,
        lambda r: r.headers.get("x-api-key") == key,
        (
            401,
            {
                "type": "error",
                "error": {"type": "authentication_error", "message": "invalid x-api-key"},
            },
        ),
        lambda msg: {"type": "error", "error": {"type": "invalid_request_error", "message": msg}},
    )
    paths = {
        "usage": "/v1/organizations/usage_report/messages",
        "cost": "/v1/organizations/cost_report",
    }
    for kind, buckets in data.items():
        by_start = {b["starting_at"]: b for b in buckets}
        cost = kind == "cost"

        def answer(request: Request, by_start=by_start, cost=cost) -> dict:
            if not request.headers.get("anthropic-version"):
                raise BadRequest("anthropic-version: header is required")
            start = _instant(request, "starting_at")
            end = _instant(request, "ending_at", required=False) or start + timedelta(days=7)
            limit = _int(request, "limit", 7)
            if not 1 <= limit <= 31:
                raise BadRequest("limit: Input should be less than or equal to 31")
            allowed = (
                {"workspace_id", "description"}
                if cost
                else {"api_key_id", "workspace_id", "model", "service_tier", "context_window"}
            )
            for g in request.args.getlist("group_by[]"):
                if g not in allowed:
                    raise BadRequest(f"group_by[]: invalid value {g!r}")
            workspaces = request.args.getlist("workspace_ids[]")
            days = []
            t = start
            while t < end:
                stamp = t.strftime("%Y-%m-%dT%H:%M:%SZ")
                bucket = dict(by_start.get(stamp) or {"results": []})
                bucket["starting_at"] = stamp
                bucket["ending_at"] = (t + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
                if workspaces:
                    bucket["results"] = [
                        r for r in bucket["results"] if r.get("workspace_id") in workspaces
                    ]
                days.append(bucket)
                t += timedelta(days=1)
            page = _paged(days, request, limit, page_size)
            return {
                "data": page["window"],
                "has_more": page["has_more"],
                "next_page": page["next_page"],
            }

        api.route(paths[kind], answer)
    return api


# ------------------------------------------------------------------ Deepgram


def deepgram_api(
    server: HTTPServer,
    *,
    key: str,
    project_id: str,
    usage: dict,
    billing: dict,
    fields: dict,
) -> FakeAdminAPI:
    """One project's `usage/breakdown`, `billing/breakdown`, `usage/fields`, and the
    project list, over whole responses whose results are filtered to the asked days."""
    api = FakeAdminAPI(
        server,
        lambda r: r.headers.get("Authorization") == f"Token {key}",
        (401, {"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials."}),
        lambda msg: {"err_code": "Bad Request", "err_msg": msg},
    )
    base = f"/v1/projects/{project_id}"
    api.route("/v1/projects", lambda r: {"projects": [{"project_id": project_id, "name": "voice"}]})

    def days(request: Request) -> tuple[str, str]:
        start, end = request.args.get("start"), request.args.get("end")
        for v in (start, end):
            try:
                date.fromisoformat(v or "")
            except ValueError:
                raise BadRequest(f"dates must be YYYY-MM-DD, got {v!r}") from None
        return start, end  # type: ignore[return-value]

    def breakdown(source: dict, groupings: set[str], multi: bool):
        def answer(request: Request) -> dict:
            start, end = days(request)
            given = request.args.getlist("grouping")
            if len(given) > 1 and not multi:
                raise BadRequest("grouping takes one value")
            for g in given:
                if g not in groupings:
                    raise BadRequest(f"invalid grouping {g!r}")
            results = [r for r in source["results"] if start <= r["grouping"]["start"] <= end]
            return {
                "start": start,
                "end": end,
                "resolution": source["resolution"],
                "results": results,
            }

        return answer

    api.route(
        f"{base}/usage/breakdown",
        breakdown(
            usage,
            {"accessor", "endpoint", "feature_set", "models", "method", "tags", "deployment"},
            False,
        ),
    )
    api.route(
        f"{base}/billing/breakdown",
        breakdown(billing, {"accessor", "deployment", "line_item", "tags"}, True),
    )
    api.route(f"{base}/usage/fields", lambda r: (days(r), fields)[1])
    return api


# ------------------------------------------------------------------ ElevenLabs


def elevenlabs_api(server: HTTPServer, *, key: str, stats: dict) -> FakeAdminAPI:
    """`/v1/usage/character-stats` over one fixture answer, points filtered to the range."""
    api = FakeAdminAPI(
        server,
        lambda r: r.headers.get("xi-api-key") == key,
        (401, {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}),
        lambda msg: {"detail": {"status": "invalid_request", "message": msg}},
    )

    def answer(request: Request) -> dict:
        start, end = _int(request, "start_unix"), _int(request, "end_unix")
        if request.args.get("aggregation_interval", "day") not in (
            "hour",
            "day",
            "week",
            "month",
            "cumulative",
        ):
            raise BadRequest("invalid aggregation_interval")
        keep = [i for i, t in enumerate(stats["time"]) if start <= t <= end]
        return {
            "time": [stats["time"][i] for i in keep],
            "usage": {k: [v[i] for i in keep] for k, v in stats["usage"].items()},
        }

    api.route("/v1/usage/character-stats", answer)
    return api


# ------------------------------------------------------------------ Cartesia


def cartesia_api(server: HTTPServer, *, key: str, credits: dict) -> FakeAdminAPI:
    """`/usage/credits` in daily buckets (zero where nothing was used)."""
    api = FakeAdminAPI(
        server,
        lambda r: r.headers.get("Authorization") == f"Bearer {key}",
        (401, {"error": "invalid API key"}),
        lambda msg: {"error": msg},
    )
    by_start = {b["start_ts"][:10]: b for b in credits["data"]}

    def answer(request: Request) -> dict:
        if request.headers.get("Cartesia-Version") != "2026-03-01":
            raise BadRequest("Cartesia-Version header is required")
        start, end = _instant(request, "start_ts"), _instant(request, "end_ts")
        if end - start > timedelta(days=366):
            raise BadRequest("start_ts to end_ts cannot span more than a year")
        if request.args.get("interval") != "day":
            raise BadRequest("only interval=day is served here")
        out, t = [], start
        while t < end:
            day = t.date().isoformat()
            nxt = t + timedelta(days=1)
            out.append(
                {
                    "start_ts": t.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "end_ts": nxt.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "credits": (by_start.get(day) or {}).get("credits", 0),
                }
            )
            t = nxt
        return {"data": out}

    api.route("/usage/credits", answer)
    return api
