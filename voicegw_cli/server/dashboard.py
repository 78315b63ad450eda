"""The web dashboard: HTML pages rendered on the server from the library's query functions.

Each page is a plain function `(request, store, form) -> Response` in `server/pages/`,
run on a worker thread with the store lent by the app's backend, as the API routes are
(shared while requests overlap, let go as soon as a CLI command waits for it). Numbers
come from the same functions the CLI's `--format json` and the MCP tools call (`reports`,
`budget`, `projects`, the store queries, `reconcile`); this module only renders them.

Writes are HTML form POSTs carrying a CSRF token (an HMAC of a per-process secret and the
visitor's login cookie); a POST without a valid one gets 403. They work without
JavaScript. Errors from the library become a readable page with a 4xx status, never a
traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, Route

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from voicegw_cli.store import Store

TEMPLATE_DIR = Path(__file__).with_name("templates")
COOKIE = "voicegw_token"
ACTOR_CHANNEL = "dashboard"

#: One store at a time in this process (DuckDB admits one writing process; requests of
#: this process take turns, like the MCP server's tool calls).
#: Per-process secret behind the CSRF tokens: a restart invalidates open forms.
_CSRF_SECRET = secrets.token_bytes(32)
_env: Any = None
log = logging.getLogger("voicegw.dashboard")

#: Accent CSS class per `reports.accent` colour (the seed calls magenta "pink").
ACCENT_CLASS = {"green": "green", "yellow": "yellow", "blue": "blue", "magenta": "pink"}


# ------------------------------------------------------------------ formatting


def usd(value: Decimal | None, unpriced_items: int = 0) -> str:
    """Dollars in full: every digit the store has, at least cents, never rounded away
    (`$0.0001033`, `$1,234.50`); `unpriced` when nothing is priced; a lower bound says so."""
    if value is None:
        return "unpriced"
    value = Decimal(value)
    text = format(abs(value), "f")
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0").ljust(2, "0")
    shown = f"{'-' if value < 0 else ''}${int(whole):,}.{frac}"
    return f"{shown} + {unpriced_items:,} unpriced" if unpriced_items else shown


def num(value: Any, places: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{places}f}"


def accent_class(tags: list[str] | None) -> str:
    """The card accent for a project's tags: the first tag decides (see `reports.accent`)."""
    from voicegw_cli.reports import accent

    return ACCENT_CLASS[accent(list(tags or []))]


def local_time(value: datetime | None, tz: Any) -> str:
    """A stored time (naive or aware UTC) in the configured zone, to the second."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def environment() -> Any:
    global _env
    if _env is None:
        import jinja2

        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
            autoescape=jinja2.select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters.update(usd=usd, num=num, accent=accent_class)
        _env = env
    return _env


# ------------------------------------------------------------------ auth and CSRF


def presented_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE, "")


def csrf_token(request: Request) -> str:
    return hmac.new(_CSRF_SECRET, presented_token(request).encode(), hashlib.sha256).hexdigest()


def csrf_ok(request: Request, form: Any) -> bool:
    given = form.get("csrf") if form is not None else None
    return isinstance(given, str) and hmac.compare_digest(given, csrf_token(request))


def tokens(request: Request) -> tuple[str | None, str | None]:
    state = request.app.state.voicegw
    return state.get("read_token"), state.get("admin_token")


def can_write(request: Request) -> bool:
    """With tokens configured, writes need the admin token; on loopback without tokens
    everyone who can reach the port may write (as with the CLI on the same machine)."""
    read, admin = tokens(request)
    if not read and not admin:
        return True
    return bool(admin) and hmac.compare_digest(presented_token(request), admin or "")


# ------------------------------------------------------------------ rendering


class PageError(Exception):
    """A problem the visitor caused that the library does not know about (403 etc.)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    from starlette.responses import HTMLResponse

    config = context.pop("config", None)
    base = {
        "request": request,
        "csrf": csrf_token(request),
        "can_write": can_write(request),
        "tz": config.timezone if config is not None else "",
        "nav": context.pop("nav", ""),
        "local_time": (lambda v: local_time(v, config.tz)) if config is not None else str,
    }
    html = environment().get_template(template).render(**base, **context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    return render(request, "error.html", status=status, title=title, message=message)


def _status_of(exc: BaseException) -> tuple[int, str]:
    from voicegw_cli.errors import (
        ConfigError,
        InputError,
        NotFoundError,
        StoreBusyError,
        UsageError,
    )

    code = getattr(exc, "code", "")
    if isinstance(exc, NotFoundError):
        return 404, "Not found"
    if code == "PROJECT_ALREADY_EXISTS":
        return 409, "Already exists"
    if isinstance(exc, UsageError | InputError):
        return 400, "Bad request"
    if isinstance(exc, StoreBusyError):
        return 503, "Store busy"
    if isinstance(exc, ConfigError):
        return 500, "Configuration problem"
    return 400, "Cannot do that"


@contextmanager
def open_store(request: Request, *, write: bool = False) -> Iterator[Store]:
    """The store lent by the app's backend (shared with the API routes, let go as soon as a
    CLI command waits for it; the config reloaded when voicegw.yaml changes). A write
    closes it after, so the budget snapshot the agents read is written at once."""
    with request.app.state.voicegw["backend"].store(write=write) as store:
        yield store


Handler = Callable[["Request", "Store", Any], "Response"]


def page(fn: Handler, *, write: bool = False, store: bool = True) -> Callable[..., Any]:
    """A Starlette endpoint around `fn(request, store, form)`: reads the form of a POST
    (and checks its CSRF token), opens the store on a worker thread, and turns library
    errors into error pages."""
    from starlette.concurrency import run_in_threadpool

    async def endpoint(request: Request) -> Response:
        from voicegw_cli.errors import VoicegwError

        form = None
        try:
            if request.method == "POST":
                form = await request.form(max_files=20, max_fields=100)
                if not csrf_ok(request, form):
                    raise PageError(
                        403,
                        "Forbidden",
                        "the form's CSRF token is missing or stale: reload the page and try again",
                    )
                if write and not can_write(request):
                    raise PageError(
                        403, "Forbidden", "changing projects needs the admin token: log in with it"
                    )

            def run() -> Response:
                if not store:
                    return fn(request, None, form)  # type: ignore[arg-type]
                with open_store(request, write=write) as st:
                    return fn(request, st, form)

            return await run_in_threadpool(run)
        except PageError as exc:
            return error_page(request, exc.status, exc.title, exc.message)
        except VoicegwError as exc:
            status, title = _status_of(exc)
            return error_page(request, status, title, str(exc))
        except Exception:  # a bug of ours: log it, show no traceback
            log.exception("dashboard page %s failed", request.url.path)
            return error_page(
                request, 500, "Internal error", "the page could not be built; see the server log"
            )
        finally:
            if form is not None:
                await form.close()

    endpoint.__name__ = fn.__name__
    return endpoint


def parse_day(text: str | None, field: str) -> date | None:
    from voicegw_cli.periods import parse_date

    return parse_date(text, field) if text else None


# ------------------------------------------------------------------ routes


def routes() -> list[BaseRoute]:
    from voicegw_cli.server.pages import audit, costs, login, logs, overview, projects, reconcile

    get, post = ["GET"], ["POST"]
    return [
        Route("/", page(overview.overview), methods=get, name="overview"),
        Route("/projects", page(projects.listing), methods=get, name="projects"),
        Route("/projects", page(projects.create, write=True), methods=post),
        Route("/projects/{id}", page(projects.detail), methods=get, name="project"),
        Route("/projects/{id}/edit", page(projects.edit, write=True), methods=post),
        Route("/projects/{id}/delete", page(projects.delete_preview), methods=get),
        Route("/projects/{id}/delete", page(projects.delete, write=True), methods=post),
        Route("/costs", page(costs.costs), methods=get, name="costs"),
        Route("/costs.csv", page(costs.costs_csv), methods=get, name="costs_csv"),
        Route("/logs", page(logs.logs), methods=get, name="logs"),
        Route("/reconcile", page(reconcile.form, store=False), methods=get, name="reconcile"),
        Route("/reconcile", page(reconcile.run, store=False), methods=post),
        Route("/audit", page(audit.audit), methods=get, name="audit"),
        Route("/latency", page(audit.latency), methods=get, name="latency"),
        Route("/calls", page(audit.calls), methods=get, name="calls"),
        Route("/login", page(login.form, store=False), methods=get, name="login"),
        Route("/login", login.submit, methods=post),
        Route("/logout", login.logout, methods=post),
    ]
