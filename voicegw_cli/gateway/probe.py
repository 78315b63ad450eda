"""`test_provider`: build a provider's plugin and, when asked, make its cheapest real call.

Without `live`, the check is what an agent does at start-up: resolve the key, import the
plugin, call its constructor (no network). With `live`, one real request authenticates
the key: a free listing endpoint where the provider has one (models, projects, voices,
user), and for LiveKit Inference a one-token completion through the plugin itself. A
failure is a result (`status: failed` with the reason), never an exception: offline,
the connection error is the answer. Keys never appear in results; provider error text
is scrubbed of the key before it is returned.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from voicegw_cli.config import resolve_project
from voicegw_cli.errors import VoicegwError
from voicegw_cli.gateway.build import _scrub
from voicegw_cli.gateway.keys import require

if TYPE_CHECKING:
    from voicegw_cli.gateway.build import Gateway
    from voicegw_cli.gateway.registry import Provider

DEFAULT_TIMEOUT = 10.0


def _root(base_url: str | None, default: str) -> str:
    if not base_url:
        return default
    parts = urlsplit(base_url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


def _request(provider: Provider, key: str | None) -> tuple[str, dict[str, str]]:
    """(URL, headers) of the provider's cheapest authenticated call."""
    kind, base = provider.kind.id, provider.base_url
    if kind in ("openai", "groq", "ollama"):
        url = (base or "https://api.openai.com/v1").rstrip("/") + "/models"
        return url, ({"Authorization": f"Bearer {key}"} if key else {})
    if kind == "anthropic":
        root = (base or "https://api.anthropic.com").rstrip("/").removesuffix("/v1")
        return f"{root}/v1/models", {"x-api-key": key or "", "anthropic-version": "2023-06-01"}
    if kind == "deepgram":
        root = _root(base, "https://api.deepgram.com")
        return f"{root}/v1/projects", {"Authorization": f"Token {key}"}
    if kind == "cartesia":
        root = _root(base, "https://api.cartesia.ai")
        return f"{root}/voices?limit=1", {"X-API-Key": key or "", "Cartesia-Version": "2025-04-16"}
    if kind == "elevenlabs":
        root = _root(base, "https://api.elevenlabs.io")
        return f"{root}/v1/models", {"xi-api-key": key or ""}
    if kind == "assemblyai":
        root = _root(base, "https://api.assemblyai.com")
        return f"{root}/v2/transcript?limit=1", {"Authorization": key or ""}
    raise ValueError(kind)


async def _http_check(
    url: str, headers: dict[str, str], timeout: float, secrets: list[str]
) -> str | None:
    import aiohttp

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
            async with http.get(url, headers=headers) as res:
                if 200 <= res.status < 300:
                    return None
                body = (await res.text())[:200]
                what = "the key was rejected: " if res.status in (401, 403) else ""
                host = urlsplit(url).netloc
                return _scrub(f"HTTP {res.status} from {host}: {what}{body}", *secrets)
    except aiohttp.ClientConnectorError as exc:
        return f"cannot connect to {urlsplit(url).netloc}: {exc.os_error or exc}"
    except (TimeoutError, aiohttp.ServerTimeoutError):
        return f"no answer from {urlsplit(url).netloc} within {timeout:g}s"
    except aiohttp.ClientError as exc:
        return _scrub(f"{urlsplit(url).netloc}: {type(exc).__name__}: {exc}", *secrets)


async def _llm_check(obj: Any, timeout: float) -> str | None:
    from livekit.agents import APIConnectOptions
    from livekit.agents.llm import ChatContext

    ctx = ChatContext.empty()
    ctx.add_message(role="user", content="Reply with one word.")
    try:
        async with obj.chat(
            chat_ctx=ctx, conn_options=APIConnectOptions(max_retry=0, timeout=timeout)
        ) as stream:
            async for _ in stream:
                break
    except Exception as exc:  # the plugin's own error types: the answer, not a crash
        return f"{type(exc).__name__}: {exc}"
    return None


def _default_model(gw: Gateway, provider: Provider) -> tuple[str, str]:
    """(model name, modality) to build when the caller names none."""
    reg = gw.registry()
    for modality in provider.kind.modalities:
        for m in reg.models().values():
            if m.provider == provider.id and m.modality == modality:
                return m.model_name, modality
    return "default", provider.kind.modalities[0]


async def probe(
    gw: Gateway,
    provider_id: str,
    *,
    model: str | None = None,
    project: str | None = None,
    live: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """Build `provider_id`'s plugin for `project` (and call it when `live`): a result."""
    reg = gw.registry()
    provider = reg.provider(provider_id)  # unknown: PROVIDER_NOT_FOUND, an error
    pid = resolve_project(project, gw.config)
    name, modality = _default_model(gw, provider)
    if model:
        text = model if model.startswith(f"{provider.id}/") else f"{provider.id}/{model}"
        info = reg.model(text)
        name = text.split("/", 1)[1]
        modality = info.modality if info is not None else modality
    out: dict[str, Any] = {
        "provider_id": provider.id,
        "project": pid,
        "model_id": f"{provider.id}/{name}",
        "modality": modality,
        "status": "failed",
        "constructed": False,
        "plugin": None,
        "key_source": None,
        "live": live,
        "latency_ms": None,
        "error": None,
    }
    kwargs: dict[str, Any] = {}
    if live and provider.kind.id == "livekit" and modality == "llm":
        kwargs["extra_kwargs"] = {"max_completion_tokens": 1}
    try:
        obj = gw._build(modality, f"{provider.id}/{name}", pid, kwargs, None)
    except VoicegwError as exc:
        out["error"] = str(exc)
        return out
    from voicegw_cli.gateway.build import built_info

    info = built_info(obj)
    out.update(
        constructed=True,
        plugin=f"{type(obj).__module__}.{type(obj).__qualname__}",
        key_source=info.key_source if info else None,
    )
    try:
        if not live:
            out["status"] = "ok"
            return out
        start = time.perf_counter()
        if provider.kind.id == "livekit":
            if modality != "llm":
                out["error"] = "a live LiveKit Inference check uses an LLM model; pass one"
                return out
            error = await _llm_check(obj, timeout)
            secrets: list[str] = []
        else:
            key, _ = require(reg, provider, pid, out["model_id"], keyring=gw.keyring)
            secrets = [key] if key else []
            url, headers = _request(provider, key)
            error = await _http_check(url, headers, timeout, secrets)
        out["latency_ms"] = int(round((time.perf_counter() - start) * 1000))
        out["status"] = "ok" if error is None else "failed"
        out["error"] = error
        return out
    finally:
        close = getattr(obj, "aclose", None)
        if close is not None:
            try:
                await close()
            except Exception:  # closing a never-used client: nothing to report
                pass


def test_provider(gw: Gateway, provider_id: str, **kwargs: Any) -> dict[str, Any]:
    """`probe` for synchronous callers (the CLI)."""
    return asyncio.run(probe(gw, provider_id, **kwargs))


test_provider.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
