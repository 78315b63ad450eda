"""One model, many spellings: the key both sides are joined on.

Providers bill dated snapshots (`gpt-4o-mini-2024-07-18`, `claude-haiku-4-5-20251001`),
consoles print display names (`Claude Haiku 4.5`, `Claude 3.5 Sonnet 2024-10-22`), and our
line items carry whatever the agent asked for (`gpt-4o-mini`, `openai/gpt-4.1-mini` through
LiveKit Inference). `model_key` folds all of these to one key; the report still shows the
real names it merged.
"""

from __future__ import annotations

import re

# Trailing snapshot markers: 2024-07-18, 20251001, 0125 (OpenAI's legacy mmdd), latest.
_SNAPSHOT = re.compile(r"(?:[-@](?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4})|-latest)$")
# Deepgram Aura voices are billed per model generation: aura-2-thalia-en -> aura-2.
_AURA_VOICE = re.compile(r"^(aura(?:-\d+)?)-[a-z]+(?:-[a-z]{2})?$")
# "Claude Sonnet 4 Usage - Input Tokens" (Anthropic cost report descriptions).
_DESCRIPTION = re.compile(r"^(?P<model>.+?)\s+usage\s*-\s*(?P<what>.+)$", re.IGNORECASE)
# Names a bill uses for a model our items name otherwise: OpenAI's Costs API bills
# whisper-1 (its only Whisper model) as the line item `whisper`.
_ALIASES = {"whisper": "whisper-1"}


def model_key(name: str) -> str:
    """The join key for a model name: lower case, no vendor prefix, no snapshot date.

    Display names become ids the same way (`Claude Haiku 4.5` -> `claude-haiku-4-5`),
    and ids lose their date (`claude-haiku-4-5-20251001` -> `claude-haiku-4-5`)."""
    s = name.strip().lower()
    if "/" in s:  # LiveKit Inference and router ids: openai/gpt-4.1-mini
        s = s.rsplit("/", 1)[1]
    s = re.sub(r"[\s_.]+", "-", s)
    s = re.sub(r"-{2,}", "-", s).strip("-")
    s = _SNAPSHOT.sub("", s)
    aura = _AURA_VOICE.match(s)
    if aura:
        s = aura.group(1)
    return _ALIASES.get(s, s)


def split_description(text: str) -> tuple[str, str] | None:
    """`Claude Haiku 4.5 Usage - Input Tokens` -> (`Claude Haiku 4.5`, `Input Tokens`)."""
    m = _DESCRIPTION.match(text.strip())
    return (m.group("model"), m.group("what")) if m else None


def canonical_provider(raw: str) -> str:
    """Our provider id for a name as users and exports write it."""
    from voicegw_cli.pricing import canonical_provider as _canon

    return _canon(raw)
