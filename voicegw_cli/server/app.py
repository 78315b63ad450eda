"""The one Starlette app behind `voicegw serve`: API routes, dashboard pages, static files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from voicegw_cli.server import api, dashboard

STATIC_DIR = Path(__file__).with_name("static")


def create_app(
    config_path: Path | None = None,
    *,
    read_token: str | None = None,
    admin_token: str | None = None,
) -> Starlette:
    """The app for one voicegw.yaml. Tokens are None on a loopback bind (no auth)."""
    state: dict[str, Any] = {
        "config_path": config_path,
        "read_token": read_token,
        "admin_token": admin_token,
    }
    routes = [*api.routes(), *dashboard.routes()]
    if STATIC_DIR.is_dir():
        routes.append(Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"))
    app = Starlette(routes=routes)
    app.state.voicegw = state
    return app
