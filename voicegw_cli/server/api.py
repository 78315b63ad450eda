"""The JSON API (`/health`, `/v1/...`, `/openapi.json`, `/v1/metrics`)."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
