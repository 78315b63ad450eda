"""Provider kinds: how voicegw builds each provider's LiveKit plugin objects.

A *kind* is an implementation: which plugin package, which modalities, which environment
variables hold its key, and one builder per modality that calls the plugin's constructor.
Providers in `voicegw.yaml` or added at runtime are instances of a kind (`type: openai`
with a `base_url` makes any OpenAI-compatible endpoint a provider).

Builders only call constructors: no network I/O happens here (the plugins connect on first
use), so building never blocks an agent's event loop beyond the constructor itself.
Nothing in this module imports LiveKit; `import_plugin` does, when a build needs it.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from voicegw_cli.errors import VoicegwError


class PluginMissingError(VoicegwError):
    """The provider's LiveKit plugin package is not installed (exit 3: fix the install)."""

    exit_code = 3
    code = "PLUGIN_NOT_INSTALLED"

    def __init__(self, message: str, package: str) -> None:
        super().__init__(message)
        self.package = package
        self.details = {"package": package}


@dataclass(frozen=True, slots=True)
class Creds:
    """What a builder hands the plugin. `api_key` None only for kinds that need none."""

    api_key: str | None
    api_secret: str | None = None
    base_url: str | None = None


Builder = Callable[[Any, str, "str | None", Creds, dict[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Kind:
    id: str
    display: str
    modalities: tuple[str, ...]
    package: str  # the pip package that provides `module`
    module: str  # imported on the main thread (LiveKit registers plugins there)
    env_keys: tuple[str, ...] = ()  # the provider's usual variables, first set wins
    env_secrets: tuple[str, ...] = ()
    base_url: str | None = None  # default API root (OpenAI-compatible kinds)
    needs_key: bool = True
    needs_secret: bool = False
    type: str = "cloud"  # cloud | local
    builders: Mapping[str, Builder] = field(default_factory=dict)

    def installed(self) -> bool:
        """Is the plugin importable? (Looks only; importing registers the plugin.)"""
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            return False


def _opt(**values: Any) -> dict[str, Any]:
    """Only the values given: a plugin's own default applies to the rest."""
    return {k: v for k, v in values.items() if v is not None}


# ------------------------------------------------------------------ HTTP clients

# The OpenAI and Anthropic plugins each build an httpx client, and each new client loads
# the system CA bundle into a fresh TLS context: 60-100 ms of event-loop time per plugin
# object, with the GIL held (a thread does not help). We build their clients ourselves
# with the settings those plugins (1.8.9) use, on one shared TLS context loaded once per
# process (by `Gateway.warm`, i.e. `voicegw.prewarm`). An SSLContext is safe to share.
# tests/test_gateway_build.py checks the settings still match the plugins' own clients.
_tls_lock = threading.Lock()
_tls: Any = None
#: Options that configure the client itself: given one, the plugin builds its own client.
_CLIENT_OPTIONS = frozenset({"client", "timeout", "max_retries"})


def shared_tls_context() -> Any:
    """The process's TLS context for provider HTTP clients (what httpx would make)."""
    global _tls
    if _tls is None:
        with _tls_lock:
            if _tls is None:
                import httpx2

                _tls = httpx2.create_ssl_context()
    return _tls


def _http(timeout: Any, max_connections: int, max_keepalive: int) -> Any:
    import httpx2

    return httpx2.AsyncClient(
        verify=shared_tls_context(),
        timeout=timeout,
        follow_redirects=True,
        limits=httpx2.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive,
            keepalive_expiry=120,
        ),
    )


def openai_client(c: Creds) -> Any:
    """An `openai.AsyncClient` as livekit-plugins-openai builds it, on the shared context."""
    import httpx2
    import openai

    return openai.AsyncClient(
        api_key=c.api_key,
        base_url=c.base_url,
        max_retries=0,
        http_client=_http(httpx2.Timeout(connect=15.0, read=5.0, write=5.0, pool=5.0), 50, 50),
    )


def anthropic_client(c: Creds) -> Any:
    """An `anthropic.AsyncClient` as livekit-plugins-anthropic builds it."""
    import anthropic
    import httpx2

    return anthropic.AsyncClient(
        api_key=c.api_key,
        base_url=c.base_url,
        max_retries=0,
        http_client=_http(httpx2.Timeout(5.0, read=30.0), 1000, 100),
    )


def _with_client(cls: Any, client: Any, kw: dict[str, Any], **args: Any) -> Any:
    obj = cls(client=client, **_opt(**args), **kw)
    if hasattr(obj, "_owns_client"):
        obj._owns_client = True  # it closes the client on aclose(), as it would its own
    return obj


# ------------------------------------------------------------------ builders


def _openai_llm(mod: Any, model: str, voice: str | None, c: Creds, kw: dict[str, Any]) -> Any:
    if _CLIENT_OPTIONS & kw.keys():
        return mod.LLM(**_opt(model=model, api_key=c.api_key, base_url=c.base_url), **kw)
    return _with_client(mod.LLM, openai_client(c), kw, model=model)


def _openai_stt(mod: Any, model: str, voice: str | None, c: Creds, kw: dict[str, Any]) -> Any:
    if _CLIENT_OPTIONS & kw.keys():
        return mod.STT(**_opt(model=model, api_key=c.api_key, base_url=c.base_url), **kw)
    return _with_client(mod.STT, openai_client(c), kw, model=model)


def _openai_tts(mod: Any, model: str, voice: str | None, c: Creds, kw: dict[str, Any]) -> Any:
    if _CLIENT_OPTIONS & kw.keys():
        args = _opt(model=model, voice=voice, api_key=c.api_key, base_url=c.base_url)
        return mod.TTS(**args, **kw)
    return _with_client(mod.TTS, openai_client(c), kw, model=model, voice=voice)


def _ollama_llm(mod: Any, model: str, voice: str | None, c: Creds, kw: dict[str, Any]) -> Any:
    # The OpenAI client insists on some key; Ollama ignores it.
    return _openai_llm(mod, model, voice, Creds(c.api_key or "ollama", None, c.base_url), kw)


def _anthropic_llm(mod: Any, model: str, voice: str | None, c: Creds, kw: dict[str, Any]) -> Any:
    if _CLIENT_OPTIONS & kw.keys():
        return mod.LLM(**_opt(model=model, api_key=c.api_key, base_url=c.base_url), **kw)
    return _with_client(mod.LLM, anthropic_client(c), kw, model=model, api_key=c.api_key)


def _deepgram_stt(mod: Any, model: str, voice: str | None, c: Creds, kw: dict[str, Any]) -> Any:
    return mod.STT(**_opt(model=model, api_key=c.api_key, base_url=c.base_url), **kw)


#: Deepgram names a TTS model by its voice (`aura-2-thalia-en`); a bare family gets one.
_AURA_DEFAULT_VOICE = {"aura-2": "thalia-en", "aura": "asteria-en"}


def aura_model(model: str, voice: str | None) -> str:
    voice = voice or _AURA_DEFAULT_VOICE.get(model)
    return f"{model}-{voice}" if voice else model


def _deepgram_tts(mod: Any, model: str, voice: str | None, c: Creds, kw: dict[str, Any]) -> Any:
    return mod.TTS(
        **_opt(model=aura_model(model, voice), api_key=c.api_key, base_url=c.base_url), **kw
    )


def _cartesia_tts(mod: Any, model: str, voice: str | None, c: Creds, kw: dict[str, Any]) -> Any:
    return mod.TTS(**_opt(model=model, voice=voice, api_key=c.api_key, base_url=c.base_url), **kw)


def _cartesia_stt(mod: Any, model: str, voice: str | None, c: Creds, kw: dict[str, Any]) -> Any:
    return mod.STT(**_opt(model=model, api_key=c.api_key, base_url=c.base_url), **kw)


def _elevenlabs_tts(mod: Any, model: str, voice: str | None, c: Creds, kw: dict[str, Any]) -> Any:
    return mod.TTS(
        **_opt(model=model, voice_id=voice, api_key=c.api_key, base_url=c.base_url), **kw
    )


def _elevenlabs_stt(mod: Any, model: str, voice: str | None, c: Creds, kw: dict[str, Any]) -> Any:
    return mod.STT(**_opt(model=model, api_key=c.api_key, base_url=c.base_url), **kw)


def _assemblyai_stt(mod: Any, model: str, voice: str | None, c: Creds, kw: dict[str, Any]) -> Any:
    return mod.STT(**_opt(model=model, api_key=c.api_key, base_url=c.base_url), **kw)


def _livekit(cls: str) -> Builder:
    def build(mod: Any, model: str, voice: str | None, c: Creds, kw: dict[str, Any]) -> Any:
        extra = _opt(voice=voice) if cls == "TTS" else {}
        args = _opt(api_key=c.api_key, api_secret=c.api_secret, base_url=c.base_url)
        return getattr(mod, cls)(model=model, **extra, **args, **kw)

    return build


_OPENAI = {"llm": _openai_llm, "stt": _openai_stt, "tts": _openai_tts}

KINDS: dict[str, Kind] = {
    k.id: k
    for k in (
        Kind(
            "openai",
            "OpenAI",
            ("llm", "stt", "tts"),
            "livekit-plugins-openai",
            "livekit.plugins.openai",
            env_keys=("OPENAI_API_KEY",),
            builders=_OPENAI,
        ),
        Kind(
            "anthropic",
            "Anthropic",
            ("llm",),
            "livekit-plugins-anthropic",
            "livekit.plugins.anthropic",
            env_keys=("ANTHROPIC_API_KEY",),
            builders={"llm": _anthropic_llm},
        ),
        Kind(
            "groq",
            "Groq",
            ("llm", "stt"),
            "livekit-plugins-openai",
            "livekit.plugins.openai",
            env_keys=("GROQ_API_KEY",),
            base_url="https://api.groq.com/openai/v1",
            builders={"llm": _openai_llm, "stt": _openai_stt},
        ),
        Kind(
            "deepgram",
            "Deepgram",
            ("stt", "tts"),
            "livekit-plugins-deepgram",
            "livekit.plugins.deepgram",
            env_keys=("DEEPGRAM_API_KEY",),
            builders={"stt": _deepgram_stt, "tts": _deepgram_tts},
        ),
        Kind(
            "cartesia",
            "Cartesia",
            ("tts", "stt"),
            "livekit-plugins-cartesia",
            "livekit.plugins.cartesia",
            env_keys=("CARTESIA_API_KEY",),
            builders={"tts": _cartesia_tts, "stt": _cartesia_stt},
        ),
        Kind(
            "elevenlabs",
            "ElevenLabs",
            ("tts", "stt"),
            "livekit-plugins-elevenlabs",
            "livekit.plugins.elevenlabs",
            env_keys=("ELEVEN_API_KEY", "ELEVENLABS_API_KEY"),
            builders={"tts": _elevenlabs_tts, "stt": _elevenlabs_stt},
        ),
        Kind(
            "assemblyai",
            "AssemblyAI",
            ("stt",),
            "livekit-plugins-assemblyai",
            "livekit.plugins.assemblyai",
            env_keys=("ASSEMBLYAI_API_KEY",),
            builders={"stt": _assemblyai_stt},
        ),
        Kind(
            "livekit",
            "LiveKit Inference",
            ("llm", "stt", "tts"),
            "livekit-agents",
            "livekit.agents.inference",
            env_keys=("LIVEKIT_INFERENCE_API_KEY", "LIVEKIT_API_KEY"),
            env_secrets=("LIVEKIT_INFERENCE_API_SECRET", "LIVEKIT_API_SECRET"),
            needs_secret=True,
            builders={"llm": _livekit("LLM"), "stt": _livekit("STT"), "tts": _livekit("TTS")},
        ),
        Kind(
            "ollama",
            "Ollama",
            ("llm",),
            "livekit-plugins-openai",
            "livekit.plugins.openai",
            base_url="http://localhost:11434/v1",
            needs_key=False,
            type="local",
            builders={"llm": _ollama_llm},
        ),
    )
}

#: The kind an unknown provider id gets with `type: openai` (any OpenAI-compatible API).
OPENAI_COMPATIBLE = "openai"


def import_plugin(kind: Kind, model_id: str) -> Any:
    """The plugin module, imported now. LiveKit registers plugins on import and only on
    the main thread, which is why `voicegw.prewarm` imports the ones config names."""
    try:
        return importlib.import_module(kind.module)
    except ModuleNotFoundError as exc:
        if exc.name and (kind.module.startswith(exc.name) or exc.name.startswith(kind.module)):
            raise PluginMissingError(
                f"{model_id}: the {kind.display} plugin is not installed: "
                f"pip install {kind.package}",
                kind.package,
            ) from None
        raise
    except RuntimeError as exc:
        if "main thread" not in str(exc):
            raise
        raise VoicegwError(
            f"{model_id}: {kind.module} was first imported off the main thread, which LiveKit "
            f"refuses; import it at the top of the agent or call voicegw.prewarm() first"
        ) from None
