"""`voicegw serve` (the HTTP API and dashboard) and `voicegw dashboard` (the same, on
port 9090, opening the browser)."""

from __future__ import annotations

from typing import Annotated

import typer

from voicegw_cli.cli.projects_manage import command

HostOpt = Annotated[
    str,
    typer.Option("--host", help="Interface to bind; anything but loopback needs both tokens."),
]
ReadEnvOpt = Annotated[
    str,
    typer.Option("--read-token-env", help="Environment variable holding the read token."),
]
AdminEnvOpt = Annotated[
    str,
    typer.Option(
        "--admin-token-env", help="Environment variable holding the admin token (writes)."
    ),
]


def _serve(host: str, port: int, read_env: str, admin_env: str, *, open_browser: bool) -> None:
    import os

    from voicegw_cli.cli.context import get_config
    from voicegw_cli.cli.output import note
    from voicegw_cli.server.auth import check_bind

    # A broken voicegw.yaml fails here (exit 3), not on the first request.
    config_path = get_config().path
    read, admin = check_bind(
        host,
        os.environ.get(read_env),
        os.environ.get(admin_env),
        read_env=read_env,
        admin_env=admin_env,
    )
    import uvicorn

    from voicegw_cli.server.app import create_app

    app = create_app(config_path, read_token=read, admin_token=admin)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    auth = f"tokens from {read_env} (read) and {admin_env} (admin)" if read else "no token"
    note(f"voicegw serving {url} (API at {url}v1/, {auth}); Ctrl-C stops")
    if open_browser:
        _open_later(url)
    # No access log: a request line could carry more than the path (tokens are never
    # accepted in a query string, but a client may still put one there).
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _open_later(url: str) -> None:
    """Open the dashboard once the server answers, when there is a browser to open."""
    import os
    import sys
    import threading

    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return

    def run() -> None:
        import time
        import urllib.request
        import webbrowser

        for _ in range(50):
            try:
                urllib.request.urlopen(url + "health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        webbrowser.open(url)

    threading.Thread(target=run, daemon=True).start()


def register(app: typer.Typer) -> None:
    from voicegw_cli.server.auth import ADMIN_TOKEN_ENV, READ_TOKEN_ENV

    @command(app)
    def serve(
        host: HostOpt = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535)] = 8080,
        read_token_env: ReadEnvOpt = READ_TOKEN_ENV,
        admin_token_env: AdminEnvOpt = ADMIN_TOKEN_ENV,
    ) -> None:
        """Serve the HTTP API (/v1/..., /v1/metrics, /openapi.json) and the dashboard.

        Binds 127.0.0.1 by default, with no token. Any other --host needs two tokens, read
        from the environment variables named by --read-token-env and --admin-token-env: the
        read token reads, the admin token also writes. They go in `Authorization: Bearer`
        (or the dashboard's login cookie), never in a URL. The store is opened per request
        and let go between requests, so `voicegw costs`, `ingest` and agents keep working.
        """
        _serve(host, port, read_token_env, admin_token_env, open_browser=False)

    @command(app)
    def dashboard(
        host: HostOpt = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535)] = 9090,
        read_token_env: ReadEnvOpt = READ_TOKEN_ENV,
        admin_token_env: AdminEnvOpt = ADMIN_TOKEN_ENV,
        no_open: Annotated[bool, typer.Option("--no-open", help="Do not open a browser.")] = False,
    ) -> None:
        """The web dashboard (and the API): `voicegw serve` on port 9090 that opens your
        browser when there is one."""
        _serve(host, port, read_token_env, admin_token_env, open_browser=not no_open)
