"""Who may do what: no token on a loopback bind, else a read token and an admin token.

A token comes as `Authorization: Bearer <token>` or in the `voicegw_token` cookie (the
dashboard's /login page sets it); never in a query string, so none lands in an access
log. Both tokens are compared in constant time (`hmac.compare_digest`), and both are
always compared, so timing tells nothing about which one a guess was near.

Without a token a request gets 401 (a browser asking for a dashboard page is sent to
/login instead); with the read token, a write (POST, PATCH, PUT, DELETE; dashboard forms
included, as a page) gets 403; uploading exports to reconcile is a read. /health,
/static/, /login and /logout are open.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any, Literal

from voicegw_cli.errors import UsageError

Role = Literal["admin", "read"]
COOKIE = "voicegw_token"
READ_TOKEN_ENV = "VOICEGW_READ_TOKEN"
ADMIN_TOKEN_ENV = "VOICEGW_ADMIN_TOKEN"
MIN_TOKEN_LENGTH = 16
#: /logout only clears the cookie: a read-token visitor may leave too.
OPEN_PATHS = ("/health", "/login", "/logout")
OPEN_PREFIXES = ("/static/",)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: POSTs that only read: a reconcile uploads export files and changes nothing stored.
READ_POSTS = frozenset({"/v1/reconcile", "/reconcile"})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(
    host: str,
    read_token: str | None,
    admin_token: str | None,
    *,
    read_env: str = READ_TOKEN_ENV,
    admin_env: str = ADMIN_TOKEN_ENV,
) -> tuple[str | None, str | None]:
    """The tokens to serve with: none needed on loopback; any other bind needs both
    (a read token and an admin token, at least 16 characters, not equal)."""
    read_token = (read_token or "").strip() or None
    admin_token = (admin_token or "").strip() or None
    if not read_token and not admin_token and is_loopback(host):
        return None, None
    where = "loopback" if is_loopback(host) else f"--host {host}"
    for name, token in ((read_env, read_token), (admin_env, admin_token)):
        if not token:
            raise UsageError(
                f"{where} needs tokens: set {read_env} and {admin_env} "
                "(e.g. `export " + name + "=$(openssl rand -hex 32)`)"
            )
        if len(token) < MIN_TOKEN_LENGTH:
            raise UsageError(f"{name} is too short (use at least {MIN_TOKEN_LENGTH} characters)")
    if read_token == admin_token:
        raise UsageError(f"{read_env} and {admin_env} must differ")
    return read_token, admin_token


def _presented(scope: dict[str, Any]) -> bytes | None:
    cookie = None
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            scheme, _, credentials = value.partition(b" ")
            if scheme.lower() == b"bearer":
                return credentials.strip()
        elif name == b"cookie":
            for part in value.split(b";"):
                key, _, val = part.strip().partition(b"=")
                if key == COOKIE.encode():
                    cookie = val.strip()
    return cookie


def role_of(token: bytes | None, read: bytes | None, admin: bytes | None) -> Role | None:
    """admin, read or None for a presented token (both compared, in constant time)."""
    if admin is None and read is None:
        return "admin"  # no tokens configured: a loopback bind, everyone is the operator
    given = token or b""
    is_admin = hmac.compare_digest(given, admin or b"\0")
    is_read = hmac.compare_digest(given, read or b"\0")
    if token and is_admin and admin is not None:
        return "admin"
    if token and is_read and read is not None:
        return "read"
    return None


def role(request: Any) -> Role | None:
    """ "admin", "read" or None for this request (for the dashboard: show or hide forms)."""
    state = request.app.state.voicegw
    read, admin = state.get("read_token"), state.get("admin_token")
    return role_of(
        _presented(request.scope),
        read.encode() if read else None,
        admin.encode() if admin else None,
    )


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


class TokenAuth:
    """ASGI middleware enforcing the rules above (a no-op when no tokens are set)."""

    def __init__(self, app: Any, read_token: str | None, admin_token: str | None) -> None:
        self.app = app
        self._read = read_token.encode() if read_token else None
        self._admin = admin_token.encode() if admin_token else None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or (self._read is None and self._admin is None):
            await self.app(scope, receive, send)
            return
        if is_open(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        who = role_of(_presented(scope), self._read, self._admin)
        if who is None:
            if _wants_page(scope):  # a browser on a dashboard page: to the login form
                await _redirect(send, "/login")
                return
            await _deny(send, 401, "UNAUTHORIZED", "missing or invalid token")
            return
        path = scope.get("path", "")
        method = scope.get("method", "GET").upper()
        if who == "read" and method in WRITE_METHODS and path not in READ_POSTS:
            if not path.startswith("/v1/"):  # a dashboard form: a page, not JSON
                await _deny_page(send, "the read token cannot change anything: log in with "
                                 "the admin token")  # fmt: skip
                return
            await _deny(send, 403, "FORBIDDEN", "the read token cannot change anything")
            return
        await self.app(scope, receive, send)


def _wants_page(scope: dict[str, Any]) -> bool:
    path = scope.get("path", "")
    if scope.get("method") != "GET" or path.startswith("/v1/") or path == "/openapi.json":
        return False
    accept = next((v for k, v in scope.get("headers") or [] if k == b"accept"), b"")
    return b"text/html" in accept


async def _redirect(send: Any, location: str) -> None:
    headers = [(b"location", location.encode()), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _deny_page(send: Any, message: str) -> None:
    from html import escape

    body = (
        "<!doctype html><meta charset=utf-8><title>Forbidden · voicegw</title>"
        f"<h1>Forbidden</h1><p>{escape(message)}</p><p><a href=/login>Log in</a></p>"
    ).encode()
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _deny(send: Any, status: int, code: str, message: str) -> None:
    import json

    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="voicegw"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
