"""HTTP for pulls: one httpx client per pull, with timeouts, retries and one-line errors.

429 and 5xx answers are retried with exponential backoff, waiting what `Retry-After` asks
(seconds or an HTTP date) when the provider says; a refused key, a network failure or an
answer that is not JSON becomes a `FetchError` (exit 3) naming the provider, the request
and, for a refused key, what an admin key looks like. The key travels only in headers; it
is masked in every message, even when a provider echoes it back.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from voicegw_cli import __version__, clock
from voicegw_cli.errors import FetchError

if TYPE_CHECKING:
    import httpx

    from voicegw_cli.admin_keys import AdminKey
    from voicegw_cli.reconcile.pull.plan import Params

#: Answers worth asking again: rate limited, or the provider's side failed (529:
#: Anthropic's "overloaded").
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6  # tries per request for 429 and 5xx answers
    network_attempts: int = 3  # tries when the connection fails or times out
    backoff: float = 0.5  # first wait without Retry-After, seconds; doubles each time
    max_backoff: float = 30.0
    max_retry_after: float = 300.0  # a longer Retry-After is reported, not waited out
    timeout: float = 60.0  # read/write/pool timeout, seconds
    connect_timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class Page:
    """One answer as the provider sent it."""

    url: str  # without credentials
    status: int
    content: bytes
    body: Any  # parsed JSON (exact decimals)
    fetched_at: str  # ISO UTC, from voicegw_cli.clock


def public_url(url: str) -> str:
    """The URL with any user:password@ removed (keys travel in headers, never here)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, ""))


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After: 1` or `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT` -> seconds."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    from datetime import UTC
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - clock.now()).total_seconds())


class Fetcher:
    """GETs against one provider's admin API."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        headers: dict[str, str],
        key: AdminKey,
        policy: RetryPolicy | None = None,
        *,
        sleep: Any = time.sleep,
    ) -> None:
        import httpx

        self.provider = provider
        self.base_url = base_url
        self.key = key
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.requests = 0  # HTTP requests made, retries included
        self.retries = 0
        p = self.policy
        self._client = httpx.Client(
            base_url=base_url,
            headers={"User-Agent": f"voicegw/{__version__}", "Accept": "application/json"}
            | headers,
            timeout=httpx.Timeout(p.timeout, connect=p.connect_timeout),
            follow_redirects=False,
            trust_env=True,  # HTTPS_PROXY and friends, as every HTTP tool honours them
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ requests

    def get(self, path: str, params: Params) -> Page:
        """The answer to GET path?params, retried as the policy says; 2xx JSON or raise."""
        import httpx

        url = f"{path}?{urlencode(params)}" if params else path
        shown = f"GET {public_url(self.base_url + url)}"
        tries = network_fails = 0
        while True:
            tries += 1
            self.requests += 1
            try:
                resp = self._client.get(url)
            except httpx.TimeoutException:
                network_fails += 1
                if network_fails >= self.policy.network_attempts:
                    raise FetchError(
                        f"{self.provider}: no answer within {self.policy.timeout:g} s to "
                        f"{shown} ({network_fails} tries); check the network or base_url"
                    ) from None
                self._wait(self._backoff(network_fails))
                continue
            except httpx.TransportError as exc:
                network_fails += 1
                if network_fails >= self.policy.network_attempts:
                    raise FetchError(
                        f"{self.provider}: cannot reach {public_url(self.base_url)} "
                        f"({_reason(exc)}, {network_fails} tries); check the network, a "
                        "proxy, or base_url"
                    ) from None
                self._wait(self._backoff(network_fails))
                continue
            status = resp.status_code
            if status in RETRY_STATUSES and tries < self.policy.attempts:
                asked = retry_after_seconds(resp.headers.get("retry-after"))
                if asked is not None and asked > self.policy.max_retry_after:
                    raise FetchError(
                        f"{self.provider}: {shown} answered {status} and asks to wait "
                        f"{asked:.0f} s; pull again later"
                    )
                self.retries += 1
                self._wait(asked if asked is not None else self._backoff(tries))
                continue
            return self._accept(resp, shown)

    def get_json(self, path: str, params: Params) -> Any:
        return self.get(path, params).body

    # ------------------------------------------------------------------ helpers

    def _backoff(self, n: int) -> float:
        delay = min(self.policy.max_backoff, self.policy.backoff * 2 ** (n - 1))
        return delay + random.uniform(0, delay / 10)

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.sleep(seconds)

    def _accept(self, resp: httpx.Response, shown: str) -> Page:
        status = resp.status_code
        if status in (401, 403):
            from voicegw_cli.admin_keys import required

            raise FetchError(
                f"{self.provider}: {required(self.provider)}; the key {self.key.masked} "
                f"from {self.key.source} was refused ({status}{self._detail(resp)})"
            )
        if status in RETRY_STATUSES:
            raise FetchError(
                f"{self.provider}: {shown} still answered {status} after "
                f"{self.policy.attempts} tries{self._detail(resp, sep=': ')}; pull again later"
            )
        if 300 <= status < 400:
            where = public_url(resp.headers.get("location", "?"))
            raise FetchError(
                f"{self.provider}: {shown} redirected ({status}) to {where}; set base_url "
                "to the address that answers"
            )
        if status >= 400:
            raise FetchError(f"{self.provider}: {shown} was refused ({status}{self._detail(resp)})")
        content = resp.content
        try:
            body = json.loads(content.decode("utf-8-sig"), parse_float=Decimal)
        except (UnicodeDecodeError, ValueError):
            kind = resp.headers.get("content-type", "no content type").split(";")[0]
            raise FetchError(
                f"{self.provider}: {shown} answered {status} with {kind}, not JSON "
                f"({len(content)} bytes); is base_url the provider's API?"
            ) from None
        return Page(
            url=public_url(str(resp.request.url)),
            status=status,
            content=content,
            body=body,
            fetched_at=clock.now().isoformat(timespec="seconds"),
        )

    def _detail(self, resp: httpx.Response, *, sep: str = ": ") -> str:
        """The provider's own error message, on one line, key masked; '' if none."""
        try:
            body = resp.json()
        except ValueError:
            text = resp.text
        else:
            text = _message(body)
        text = " ".join(str(text or "").split())[:200]
        if self.key.key and self.key.key in text:
            text = text.replace(self.key.key, self.key.masked)
        return f"{sep}{text}" if text else ""


def _message(body: Any) -> str:
    """OpenAI/Anthropic `error.message`, Deepgram `err_msg`, ElevenLabs `detail.message`,
    or a plain `message`/`error`/`detail` string."""
    if not isinstance(body, dict):
        return ""
    for key in ("error", "detail"):
        value = body.get(key)
        if isinstance(value, dict) and value.get("message"):
            return str(value["message"])
        if isinstance(value, str) and value:
            return value
    for key in ("message", "err_msg"):
        if body.get(key):
            return str(body[key])
    return ""


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:160] or type(exc).__name__
