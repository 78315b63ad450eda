"""Provider names: the many spellings LiveKit and exports use, folded to one billing id.

OpenAI-compatible LiveKit plugins report the base URL's host (`api.openai.com`,
`api.deepseek.com`, `openrouter.ai`), others a display name (`Deepgram`, `Gemini`), and
LiveKit Inference reports `livekit`. `canonical_provider` maps all of them to the id used
in line items, the catalog, overrides and genai-prices (`openai`, `google`, `x-ai`, ...).
Unknown names come back lowercased (a URL becomes its host), never dropped.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

#: Names (lowercased, spaces/underscores as dashes) to billing provider ids.
_NAMES: dict[str, str] = {
    "openai": "openai",
    "open-ai": "openai",
    "anthropic": "anthropic",
    "claude": "anthropic",
    "google": "google",
    "gemini": "google",
    "google-gemini": "google",
    "google-genai": "google",
    "vertex": "google",
    "vertexai": "google",
    "vertex-ai": "google",
    "google-vertex": "google",
    "deepgram": "deepgram",
    "cartesia": "cartesia",
    "elevenlabs": "elevenlabs",
    "eleven-labs": "elevenlabs",
    "11labs": "elevenlabs",
    "livekit": "livekit",
    "livekit-inference": "livekit",
    "livekit-cloud": "livekit",
    "groq": "groq",
    "deepseek": "deepseek",
    "openrouter": "openrouter",
    "assemblyai": "assemblyai",
    "assembly-ai": "assemblyai",
    "azure": "azure",
    "azure-openai": "azure",
    "azureopenai": "azure",
    "microsoft-azure": "azure",
    "azure-speech": "azure",
    "aws": "aws",
    "bedrock": "aws",
    "amazon-bedrock": "aws",
    "aws-bedrock": "aws",
    "xai": "x-ai",
    "x-ai": "x-ai",
    "grok": "x-ai",
    "mistral": "mistral",
    "mistralai": "mistral",
    "together": "together",
    "together-ai": "together",
    "togetherai": "together",
    "fireworks": "fireworks",
    "fireworks-ai": "fireworks",
    "cerebras": "cerebras",
    "perplexity": "perplexity",
    "cohere": "cohere",
    "moonshot": "moonshotai",
    "moonshotai": "moonshotai",
    "speechmatics": "speechmatics",
    "rime": "rime",
    "inworld": "inworld",
    "playht": "playht",
    "hume": "hume",
    "neuphonic": "neuphonic",
    "gladia": "gladia",
    "soniox": "soniox",
    "sarvam": "sarvam",
    "baseten": "baseten",
    "nvidia": "nvidia",
}

#: Host suffixes (matched on a dot boundary) to billing provider ids. Longest first wins.
_HOSTS: tuple[tuple[str, str], ...] = tuple(
    sorted(
        {
            "openai.azure.com": "azure",
            "azure-api.net": "azure",
            "cognitiveservices.azure.com": "azure",
            "services.ai.azure.com": "azure",
            "openai.com": "openai",
            "anthropic.com": "anthropic",
            "googleapis.com": "google",
            "groq.com": "groq",
            "deepseek.com": "deepseek",
            "openrouter.ai": "openrouter",
            "x.ai": "x-ai",
            "mistral.ai": "mistral",
            "together.xyz": "together",
            "together.ai": "together",
            "fireworks.ai": "fireworks",
            "cerebras.ai": "cerebras",
            "perplexity.ai": "perplexity",
            "cohere.ai": "cohere",
            "cohere.com": "cohere",
            "moonshot.ai": "moonshotai",
            "moonshot.cn": "moonshotai",
            "deepgram.com": "deepgram",
            "cartesia.ai": "cartesia",
            "elevenlabs.io": "elevenlabs",
            "assemblyai.com": "assemblyai",
            "livekit.cloud": "livekit",
            "livekit.io": "livekit",
            "amazonaws.com": "aws",
            "speechmatics.com": "speechmatics",
        }.items(),
        key=lambda kv: -len(kv[0]),
    )
)

_SEP = re.compile(r"[\s_]+")


@lru_cache(maxsize=4096)
def canonical_provider(raw: str) -> str:
    """The billing provider id for a provider name, host or URL (case-insensitive).

    >>> canonical_provider("https://api.groq.com/openai/v1")
    'groq'
    >>> canonical_provider("Gemini")
    'google'
    """
    text = (raw or "").strip().lower()
    if not text:
        return "unknown"
    host = _host(text)
    if host is not None:
        for suffix, provider in _HOSTS:
            if host == suffix or host.endswith("." + suffix):
                return provider
        return host
    name = _SEP.sub("-", text)
    return _NAMES.get(name, _NAMES.get(name.replace("-", ""), name))


def _host(text: str) -> str | None:
    """The host when `text` is a URL or a bare host name (has a dot, no spaces), else None."""
    if "://" in text:
        host = urlsplit(text).hostname
        return host or None
    if "." in text and " " not in text:
        host = urlsplit("//" + text).hostname
        return host or None
    return None


def split_model_id(model_id: str) -> tuple[str, str]:
    """`provider/model` into (canonical provider, model); the model part may hold more
    slashes (`livekit/deepgram/nova-3`). Raises ValueError without a provider part."""
    provider, sep, model = model_id.strip().partition("/")
    if not sep or not provider.strip() or not model.strip():
        raise ValueError(f"expected provider/model, like openai/gpt-4o-mini: {model_id!r}")
    return canonical_provider(provider), model.strip()


def billing_providers() -> list[str]:
    """Every billing provider id voicegw knows: the canonical names and the catalog's."""
    from voicegw_cli.pricing.catalog import load_catalog

    ids = set(_NAMES.values()) | {e.provider for e in load_catalog().entries}
    return sorted(ids)
