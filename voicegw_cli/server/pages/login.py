"""`/login`: a form taking the read or admin token, kept in an HttpOnly, SameSite=Strict
cookie (`voicegw_token`) that the server's auth checks on every later request. On a
loopback bind without tokens no login is needed."""

from __future__ import annotations

import hmac
from typing import Any

from voicegw_cli.server.dashboard import COOKIE, render, tokens


def _next(value: Any) -> str:
    """Only a path on this server (never `//host` or a URL) to go back to."""
    text = str(value or "/")
    return text if text.startswith("/") and not text.startswith("//") and "\\" not in text else "/"


def form(request: Any, store: Any, form: Any, *, error: str = "", status: int = 200) -> Any:
    read, admin = tokens(request)
    return render(
        request,
        "login.html",
        status=status,
        nav="login",
        error=error,
        needed=bool(read or admin),
        next=_next(request.query_params.get("next")),
    )


async def submit(request: Any) -> Any:
    from starlette.responses import RedirectResponse

    data = await request.form(max_files=0, max_fields=5)
    token = str(data.get("token") or "")
    target = _next(data.get("next"))
    read, admin = tokens(request)
    if not (read or admin):
        return RedirectResponse(target, status_code=303)
    ok = any(t and hmac.compare_digest(token.encode(), t.encode()) for t in (read, admin))
    if not ok:
        return form(request, None, None, error="that token is not accepted here", status=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


async def logout(request: Any) -> Any:
    from starlette.responses import RedirectResponse

    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
