"""The one Starlette app behind `voicegw serve`: API routes, dashboard pages, static files."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from voicegw_cli.server import api, dashboard

STATIC_DIR = Path(__file__).with_name("static")


def create_app(
    config_path: Path | None = None,
    *,
    read_token: str | None = None,
    admin_token: str | None = None,
    cache_ttl: float | None = None,
) -> Starlette:
    """The app for one voicegw.yaml. Tokens are None on a loopback bind (no auth).

    `app.state.voicegw` holds the config path, the tokens and the `backend`
    (`voicegw_cli.server.backend.Backend`): `await backend.call(fn)` runs `fn(store)` on a
    worker thread with the store lent for the call, the way every route reads.
    `cache_ttl` (seconds, 0 = off) bounds how old a repeated GET's cached answer may be."""
    from voicegw_cli.server.auth import TokenAuth
    from voicegw_cli.server.backend import Backend
    from voicegw_cli.server.cache import TTL_SECONDS, ResponseCache
    from voicegw_cli.server.errors import HANDLERS

    backend = Backend(config_path)
    state: dict[str, Any] = {
        "cache": ResponseCache(backend, ttl=TTL_SECONDS if cache_ttl is None else cache_ttl),
        "config_path": config_path,
        "read_token": read_token,
        "admin_token": admin_token,
        "backend": backend,
    }
    routes = [*api.routes(), *dashboard.routes()]
    if STATIC_DIR.is_dir():
        routes.append(Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        backend.close()

    app = Starlette(
        routes=routes,
        exception_handlers=HANDLERS,
        middleware=[Middleware(TokenAuth, read_token=read_token, admin_token=admin_token)],
        lifespan=lifespan,
    )
    app.state.voicegw = state
    return app
