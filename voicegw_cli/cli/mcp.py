"""`voicegw mcp`: serve voicegw to a coding agent over the Model Context Protocol."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from voicegw_cli.cli.projects_manage import command


class Transport(StrEnum):
    stdio = "stdio"
    http = "http"


def register(app: typer.Typer) -> None:
    @command(app)
    def mcp(
        transport: Annotated[
            Transport,
            typer.Option("--transport", "-t", help="stdio for a local agent; http for remote."),
        ] = Transport.stdio,
        host: Annotated[
            str, typer.Option("--host", help="HTTP: interface to bind (127.0.0.1 stays local).")
        ] = "127.0.0.1",
        port: Annotated[
            int, typer.Option("--port", "-p", min=1, max=65535, help="HTTP: port to listen on.")
        ] = 8090,
    ) -> None:
        """Run the MCP server: project, cost, budget and reconcile tools for your agent.

        stdio (default) is what `claude mcp add voicegw -- voicegw mcp` runs. The HTTP
        transport serves streamable HTTP at http://HOST:PORT/mcp and refuses to start
        without a bearer token in VOICEGW_MCP_TOKEN; requests without it get 401.
        """
        import os

        from voicegw_cli.cli.context import get_config

        # A broken voicegw.yaml fails here (exit 3), not inside the agent's session; the
        # server reloads this same file on every call so edits show up without a restart.
        config_path = get_config().path
        if transport is Transport.stdio:
            from voicegw_cli.mcp_server import run_stdio

            run_stdio(config_path)
            return
        from voicegw_cli.cli.output import note
        from voicegw_cli.mcp_server import TOKEN_ENV, check_token, run_http

        token = check_token(os.environ.get(TOKEN_ENV))
        note(f"voicegw MCP server on http://{host}:{port}/mcp (bearer token from {TOKEN_ENV})")
        run_http(config_path, host=host, port=port, token=token)
