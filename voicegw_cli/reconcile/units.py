"""How unit kinds read to people, and the credit rules for exports that count credits.

ElevenLabs and Cartesia report credits, not characters or dollars; our line items hold
characters and audio seconds. The public rules below turn ours into credits so the two
can be compared (a voice multiplier or a Pro clone shows up as a units gap to check).
"""

from __future__ import annotations

from decimal import Decimal

from voicegw_cli.reconcile.base import (
    AUDIO_IN,
    AUDIO_OUT,
    CACHE_WRITE,
    CACHED,
    CACHED_AUDIO,
    CHARACTERS,
    CREDITS,
    OUTPUT,
    SECONDS,
    UNCACHED,
    UNCACHED_AUDIO,
)

#: unit kind or rate leaf -> (short label, display multiplier, "per" label for rates)
DISPLAY: dict[str, tuple[str, int, str]] = {
    UNCACHED: ("uncached in", 1_000_000, "1M tokens"),
    CACHED: ("cached in", 1_000_000, "1M tokens"),
    CACHE_WRITE: ("cache write", 1_000_000, "1M tokens"),
    OUTPUT: ("output", 1_000_000, "1M tokens"),
    AUDIO_IN: ("audio in", 1_000_000, "1M tokens"),
    AUDIO_OUT: ("audio out", 1_000_000, "1M tokens"),
    UNCACHED_AUDIO: ("uncached audio in", 1_000_000, "1M tokens"),
    CACHED_AUDIO: ("cached audio in", 1_000_000, "1M tokens"),
    SECONDS: ("audio s", 60, "minute"),
    CHARACTERS: ("chars", 1_000_000, "1M characters"),
    CREDITS: ("credits", 1, "credit"),
}


def per_display(unit: str, usd_per_unit: Decimal) -> str:
    """$0.0000006 per token -> `$0.60/1M tokens`."""
    _, mult, per = DISPLAY[unit]
    value = usd_per_unit * mult
    places = 2 if abs(value) >= 1 else 4
    return f"${value:,.{places}f}/{per}"


def credit_factors(provider: str, model: str) -> tuple[float, float]:
    """(credits per character, credits per audio second) for our items of a model."""
    m = model.lower()
    if provider == "elevenlabs":
        # Flash and Turbo cost half a credit per character; the rest one.
        return (0.5 if ("flash" in m or "turbo" in m) else 1.0), 0.0
    if provider == "cartesia":
        # TTS about 1 credit/char; Ink-Whisper streaming 1 credit/s (Ink-2 streaming 3).
        per_second = 3.0 if "ink-2" in m else 1.0
        return 1.0, per_second
    return 1.0, 0.0
