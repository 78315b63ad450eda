"""The web dashboard: HTML pages rendered on the server from the library's query functions."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
