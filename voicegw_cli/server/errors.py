"""Errors as JSON: `{"error": {"code", "message"[, "details"]}}`, the MCP server's codes.

A library failure (`VoicegwError`) is the caller's problem (4xx) or a busy store (503);
anything else is logged with its traceback on the server and answered with a plain 500
that shows none of it.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from voicegw_cli.errors import VoicegwError

log = logging.getLogger("voicegw.server")

#: HTTP status per error code; a code not listed is a 400.
STATUS = {
    "NOT_FOUND": 404,
    "PROJECT_NOT_FOUND": 404,
    "PROVIDER_NOT_FOUND": 404,
    "MODEL_NOT_FOUND": 404,
    "VALIDATION_ERROR": 400,
    "INPUT_ERROR": 422,
    "PROJECT_ALREADY_EXISTS": 409,
    "PROVIDER_ALREADY_EXISTS": 409,
    "MODEL_ALREADY_EXISTS": 409,
    "READ_ONLY_RESOURCE": 409,
    "CONFIRMATION_REQUIRED": 409,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "METHOD_NOT_ALLOWED": 405,
    "STORE_BUSY": 503,
    "CONFIG_ERROR": 500,
    "INTERNAL_ERROR": 500,
}
_HTTP_CODES = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


def error_response(
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    from voicegw_cli.wire import jsonable

    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = jsonable(details)
    return JSONResponse(
        {"error": body}, status_code=status or STATUS.get(code, 400), headers=headers
    )


async def voicegw_error(request: Request, exc: Exception) -> JSONResponse:
    from voicegw_cli.errors import error_code

    return error_response(error_code(exc), str(exc), getattr(exc, "details", None))


async def http_error(request: Request, exc: Exception) -> Any:
    """JSON for the API; the dashboard's error page for a browser asking for a page (an
    unknown URL, a method a page does not take)."""
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if (
        not path.startswith("/v1/")
        and path != "/openapi.json"
        and "text/html" in request.headers.get("accept", "")
    ):
        from voicegw_cli.server.dashboard import error_page

        titles = {404: "Not found", 405: "Not allowed"}
        message = "no such page" if exc.status_code == 404 else str(exc.detail)
        return error_page(request, exc.status_code, titles.get(exc.status_code, "Error"), message)
    code = _HTTP_CODES.get(exc.status_code, "VALIDATION_ERROR")
    return error_response(code, str(exc.detail), status=exc.status_code, headers=exc.headers)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path)  # path only: no query
    return error_response("INTERNAL_ERROR", "internal error (see the server log)", status=500)


HANDLERS: dict[Any, Any] = {
    VoicegwError: voicegw_error,
    HTTPException: http_error,
    Exception: internal_error,
}
