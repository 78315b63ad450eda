"""Answers to repeated GETs, for a dashboard (or fifty) polling the same report.

An answer is kept for `ttl` seconds and only while the store is the one it was computed
from: `Backend.generation` moves on every open of the store (when other processes' writes
and the agents' spool become visible) and after every write through the API. Concurrent
asks for the same URL share one computation; while it runs, the others get the previous
answer if it is at most `max_stale` seconds old (stale-while-revalidate), so a poll never
queues behind the store lock another process holds for a moment.

Every cached answer says how old it is in the `Age` header.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

TTL_SECONDS = 1.0
MAX_STALE_SECONDS = 5.0
MAX_ENTRIES = 256


@dataclass(frozen=True, slots=True)
class Entry:
    generation: int
    at: float
    status: int
    body: bytes
    media_type: str | None

    def response(self) -> Response:
        age = max(0, int(time.monotonic() - self.at))
        return Response(
            self.body, status_code=self.status, media_type=self.media_type,
            headers={"age": str(age)},
        )  # fmt: skip


class ResponseCache:
    def __init__(
        self,
        backend: Any,
        *,
        ttl: float = TTL_SECONDS,
        max_stale: float = MAX_STALE_SECONDS,
        size: int = MAX_ENTRIES,
    ) -> None:
        self.backend, self.ttl, self.max_stale, self.size = backend, ttl, max_stale, size
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[Entry]] = {}

    async def answer(self, key: str, compute: Callable[[], Awaitable[Response]]) -> Response:
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry and entry.generation == self.backend.generation and now - entry.at < self.ttl:
            return entry.response()
        pending = self._inflight.get(key)
        if pending is not None:
            if entry is not None and now - entry.at < self.max_stale:
                return entry.response()
            return (await asyncio.shield(pending)).response()
        future: asyncio.Future[Entry] = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # never unretrieved
        self._inflight[key] = future
        try:
            response = await compute()
            fresh = Entry(
                self.backend.generation, time.monotonic(), response.status_code,
                bytes(response.body), response.media_type,
            )  # fmt: skip
            if response.status_code == 200 and self.ttl > 0:
                self._entries[key] = fresh
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
            future.set_result(fresh)
            return response
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            del self._inflight[key]


def cached(handler: Callable[[Request], Awaitable[Response]]) -> Callable[..., Any]:
    """`handler` answering from the app's ResponseCache, keyed by path and query."""

    async def endpoint(request: Request) -> Response:
        cache: ResponseCache = request.app.state.voicegw["cache"]
        query = "&".join(sorted(request.url.query.split("&"))) if request.url.query else ""
        return await cache.answer(f"{request.url.path}?{query}", lambda: handler(request))

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint
