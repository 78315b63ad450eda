"""The provider and model registry: built-in knowledge, `voicegw.yaml`, and runtime
additions from the store, merged into one view (YAML wins over the store, both over
built-in).

Built-in providers are the kinds voicegw can build (`kinds.KINDS`). Built-in models are
the seed product's model table, the STT/TTS models our dated catalog prices, and the LLMs
genai-prices prices for providers we can build. Every row says where it came from:
`source` = builtin, yaml or db.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from voicegw_cli.config import MODALITIES, Project
from voicegw_cli.gateway.errors import BuildError, ProviderNotFoundError
from voicegw_cli.gateway.kinds import KINDS, OPENAI_COMPATIBLE, Kind
from voicegw_cli.gateway.state import RuntimeState

if TYPE_CHECKING:
    from voicegw_cli.config import Config

#: The seed product's model table (cloud and Ollama rows), plus LiveKit Inference ids.
SEED_MODELS: tuple[tuple[str, str], ...] = (
    ("deepgram/nova-3", "stt"),
    ("deepgram/nova-2-conversationalai", "stt"),
    ("assemblyai/universal-2", "stt"),
    ("openai/whisper-1", "stt"),
    ("groq/whisper-large-v3", "stt"),
    ("openai/gpt-4.1", "llm"),
    ("openai/gpt-4o", "llm"),
    ("openai/gpt-4o-mini", "llm"),
    ("anthropic/claude-opus-4-7", "llm"),
    ("anthropic/claude-sonnet-4-6", "llm"),
    ("anthropic/claude-haiku-4-5", "llm"),
    ("groq/llama-3.3-70b-versatile", "llm"),
    ("groq/llama-3.1-8b-instant", "llm"),
    ("ollama/qwen2.5:7b", "llm"),
    ("ollama/qwen2.5:3b", "llm"),
    ("ollama/llama3.2:3b", "llm"),
    ("cartesia/sonic-3", "tts"),
    ("elevenlabs/eleven_turbo_v2_5", "tts"),
    ("elevenlabs/eleven_flash_v2_5", "tts"),
    ("deepgram/aura-2", "tts"),
    ("openai/tts-1-hd", "tts"),
    ("livekit/openai/gpt-4.1-mini", "llm"),
    ("livekit/deepgram/nova-3", "stt"),
    ("livekit/cartesia/sonic-3", "tts"),
)
SOURCES = ("builtin", "yaml", "db")
_ENV_SAFE = re.compile(r"[^A-Z0-9]+")


@dataclass(frozen=True, slots=True)
class Provider:
    """One provider as the registry sees it (settings hold no decrypted key)."""

    id: str
    kind: Kind
    source: str  # builtin | yaml | db
    base_url: str | None  # configured, else the kind's default
    configured_base_url: str | None
    billing_provider: str  # the provider id line items carry
    env_keys: tuple[str, ...]
    env_secrets: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)  # top-level YAML values

    @property
    def custom(self) -> bool:
        return self.id not in KINDS


@dataclass(frozen=True, slots=True)
class ModelInfo:
    model_id: str
    provider: str
    model_name: str
    modality: str
    default_voice: str | None
    source: str


@dataclass(frozen=True, slots=True)
class Ref:
    """A parsed model string: `provider/model`, with `:voice` for TTS."""

    text: str
    provider: str
    model: str
    voice: str | None

    @property
    def model_id(self) -> str:
        return f"{self.provider}/{self.model}"


def parse_ref(text: Any, modality: str, file: str, key: str) -> Ref:
    """`deepgram/nova-3`, `livekit/openai/gpt-4.1-mini`, `cartesia/sonic-3:<voice id>`.

    Only TTS strings take a `:voice` suffix (Ollama LLM names contain colons)."""
    if not isinstance(text, str) or not text.strip():
        raise BuildError(file, key, f"expected a model string like openai/gpt-4o-mini: {text!r}")
    provider, sep, rest = text.strip().partition("/")
    if not sep or not provider.strip() or not rest.strip():
        raise BuildError(
            file, key, f"{text!r} has no provider: write provider/model, like openai/gpt-4o-mini"
        )
    voice = None
    if modality == "tts" and ":" in rest:
        rest, _, voice = rest.partition(":")
        voice = voice.strip() or None
    return Ref(text.strip(), provider.strip().lower(), rest.strip(), voice)


def env_name(provider_id: str) -> str:
    """`together-ai` -> `TOGETHER_AI_API_KEY`: the usual variable of a provider we add."""
    return _ENV_SAFE.sub("_", provider_id.upper()).strip("_") + "_API_KEY"


def _hint(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=2, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else f" (known: {', '.join(known)})"


def infer_modality(model: str) -> str:
    m = model.lower()
    if "whisper" in m or "transcribe" in m:
        return "stt"
    if "tts" in m or "orpheus" in m:
        return "tts"
    return "llm"


@lru_cache(maxsize=1)
def builtin_models() -> tuple[ModelInfo, ...]:
    """The seed table, then catalog STT/TTS models, then genai-prices LLMs (for providers
    we can build); first mention wins."""
    seen: dict[str, ModelInfo] = {}

    def add(model_id: str, modality: str) -> None:
        provider, _, name = model_id.partition("/")
        kind = KINDS.get(provider)
        if model_id in seen or kind is None or modality not in kind.modalities:
            return
        seen[model_id] = ModelInfo(model_id, provider, name, modality, None, "builtin")

    for model_id, modality in SEED_MODELS:
        add(model_id, modality)
    from voicegw_cli.pricing import catalog_entries

    for e in catalog_entries():
        if e.modality in MODALITIES:
            add(f"{e.provider}/{e.model}", e.modality)
    try:
        from voicegw_cli.pricing.llm import genai_models
    except ImportError:  # pragma: no cover - genai-prices is a dependency
        genai_models = None  # type: ignore[assignment]
    if genai_models is not None:
        for provider in ("openai", "anthropic", "groq"):
            for name in genai_models(provider):
                if ":" in name or name.endswith("-"):  # prefix patterns (ft:...), not models
                    continue
                add(f"{provider}/{name}", infer_modality(name))
    return tuple(seen.values())


class Registry:
    """Providers, models and project routing for one config and one runtime state."""

    def __init__(self, config: Config, state: RuntimeState | None = None) -> None:
        self.config = config
        self.state = state or RuntimeState()
        self.file = str(config.path or "<built-in defaults>")
        self._providers: dict[str, Provider] | None = None

    # ------------------------------------------------------------------ providers

    def _make(
        self, pid: str, ptype: str | None, base_url: str | None, source: str, key: str
    ) -> Provider:
        kind_id = (ptype or "").strip().lower() or pid
        if pid in KINDS and kind_id != pid:
            raise BuildError(
                self.file, f"{key}.type", f"{pid} is built in; its type cannot be {kind_id!r}"
            )
        kind = KINDS.get(kind_id)
        if kind is None:
            if ptype:
                raise BuildError(
                    self.file,
                    f"{key}.type",
                    f"unknown provider type {ptype!r}{_hint(kind_id, sorted(KINDS))}",
                )
            raise BuildError(
                self.file,
                key,
                f"unknown provider {pid!r}{_hint(pid, sorted(KINDS))}; a provider of your own "
                "needs a type (e.g. type: openai with base_url for an OpenAI-compatible API)",
            )
        custom = pid not in KINDS
        billing = pid if custom and kind.id == OPENAI_COMPATIBLE else kind.id
        return Provider(
            id=pid,
            kind=kind,
            source=source,
            base_url=base_url or kind.base_url,
            configured_base_url=base_url,
            billing_provider=billing,
            env_keys=(env_name(pid),) if custom else kind.env_keys,
            env_secrets=() if custom else kind.env_secrets,
        )

    def providers(self) -> dict[str, Provider]:
        if self._providers is None:
            out: dict[str, Provider] = {}
            for pid in KINDS:
                out[pid] = self._make(pid, None, None, "builtin", f"providers.{pid}")
            for pid, body in self.state.providers.items():
                out[pid] = self._make(
                    pid, body.get("provider_type"), body.get("base_url"), "db", f"providers.{pid}"
                )
            for pid, body in self.config.providers.items():
                p = self._make(
                    pid, body.get("type"), body.get("base_url"), "yaml", f"providers.{pid}"
                )
                settings = {k: v for k, v in body.items() if k in ("api_key", "api_secret")}
                out[pid] = replace(p, settings=settings)
            self._providers = dict(sorted(out.items()))
        return self._providers

    def provider(self, pid: str, *, text: str | None = None) -> Provider:
        found = self.providers().get(pid.strip().lower())
        if found is not None:
            return found
        known = sorted(self.providers())
        what = f" in {text!r}" if text else ""
        raise ProviderNotFoundError(
            f"unknown provider {pid!r}{what}{_hint(pid, known)}",
            provider_id=pid,
            suggestions=difflib.get_close_matches(pid, known, n=3, cutoff=0.6),
        )

    # ------------------------------------------------------------------ models

    def models(self) -> dict[str, ModelInfo]:
        out: dict[str, ModelInfo] = {m.model_id: m for m in builtin_models()}
        for mid, body in self.state.models.items():
            out[mid] = ModelInfo(
                mid,
                body["provider"],
                body["model_name"],
                body["modality"],
                body.get("default_voice"),
                "db",
            )
        for mid, m in self.config.models.items():
            out[mid] = ModelInfo(mid, m.provider, m.model, m.modality, m.default_voice, "yaml")
        return out

    def model(self, model_id: str) -> ModelInfo | None:
        models = self.models()
        found = models.get(model_id)
        if found is None:
            low = model_id.lower()
            found = next((m for k, m in models.items() if k.lower() == low), None)
        return found

    # ------------------------------------------------------------------ projects

    def project(self, pid: str) -> Project | None:
        """The project's routing: YAML first, then a runtime project from the store."""
        p = self.config.projects.get(pid)
        if p is not None:
            return p
        row = self.state.projects.get(pid)
        if row is None:
            return None
        return Project(
            id=pid,
            name=pid,
            default_stack=row.get("default_stack") or None,
            stt_model=row.get("stt_model") or None,
            llm_model=row.get("llm_model") or None,
            tts_model=row.get("tts_model") or None,
            source="db",
        )

    def project_ids(self) -> list[str]:
        return sorted(set(self.config.projects) | set(self.state.projects))
