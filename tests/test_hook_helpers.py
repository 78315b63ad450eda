"""Shared helpers for the hook tests: a real AgentSession with real plugin objects.

No fakes of LiveKit types: sessions are real `AgentSession`s started without a LiveKit
server (`record=False`), the STT/LLM/TTS are the real Deepgram/OpenAI/Cartesia plugin
objects built from dummy keys, and usage enters through the plugins' own
`metrics_collected` emitters with real `livekit.agents.metrics` objects, exactly the path
LiveKit's own code takes. Also holds a test of the recorder's fast record builder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from voicegw_cli import clock
from voicegw_cli.items import LineItem

# A dummy key is enough: no request ever leaves the process.
KEY = "dummy-key"


def quiet_livekit() -> None:
    """The STT pump logs one error (no job http context) when a test session starts."""
    logging.getLogger("livekit.agents").setLevel(logging.CRITICAL)


def plugins() -> tuple[Any, Any, Any]:
    from livekit.plugins import cartesia, deepgram, openai

    return (
        deepgram.STT(api_key=KEY, model="nova-3"),
        openai.LLM(model="gpt-4o-mini", api_key=KEY),
        cartesia.TTS(api_key=KEY, model="sonic-3"),
    )


def new_session(stt: Any = None, llm: Any = None, tts: Any = None) -> Any:
    from livekit.agents import AgentSession

    return AgentSession(stt=stt, llm=llm, tts=tts, session_close_transcript_timeout=0.05)


def agent(**kw: Any) -> Any:
    from livekit.agents import Agent

    return Agent(instructions="You are a test agent.", **kw)


@contextlib.asynccontextmanager
async def started(session: Any, the_agent: Any = None) -> AsyncIterator[Any]:
    quiet_livekit()
    await session.start(the_agent or agent(), record=False)
    try:
        yield session
    finally:
        await session.aclose()


def _meta(model_obj: Any) -> Any:
    from livekit.agents.metrics.base import Metadata

    return Metadata(model_name=model_obj.model, model_provider=model_obj.provider)


def stt_metric(stt: Any, *, request_id: str, audio: float, **kw: Any) -> Any:
    from livekit.agents.metrics import STTMetrics

    return STTMetrics(
        label=stt.label,
        request_id=request_id,
        timestamp=clock.time(),
        duration=0.0,
        audio_duration=audio,
        streamed=True,
        metadata=_meta(stt),
        **kw,
    )


def stt_setup_metric(stt: Any) -> Any:
    """What LiveKit emits when a streaming STT connection is set up: empty id, no usage."""
    return stt_metric(stt, request_id="", audio=0.0, acquire_time=0.05)


def llm_metric(
    llm: Any,
    *,
    request_id: str,
    prompt: int,
    completion: int,
    cached: int = 0,
    cache_write: int = 0,
    reasoning: int = 0,
) -> Any:
    from livekit.agents.metrics import LLMMetrics

    return LLMMetrics(
        label=llm.label,
        request_id=request_id,
        timestamp=clock.time(),
        duration=0.4,
        ttft=0.1,
        cancelled=False,
        completion_tokens=completion,
        prompt_tokens=prompt,
        prompt_cached_tokens=cached,
        cache_creation_tokens=cache_write,
        reasoning_tokens=reasoning,
        total_tokens=prompt + completion,
        tokens_per_second=50.0,
        metadata=_meta(llm),
    )


def tts_metric(tts: Any, *, request_id: str, chars: int, audio: float) -> Any:
    from livekit.agents.metrics import TTSMetrics

    return TTSMetrics(
        label=tts.label,
        request_id=request_id,
        timestamp=clock.time(),
        ttfb=0.1,
        duration=0.5,
        audio_duration=audio,
        cancelled=False,
        characters_count=chars,
        streamed=True,
        metadata=_meta(tts),
    )


def realtime_metric(
    model_obj: Any,
    *,
    request_id: str,
    text_in: int,
    audio_in: int,
    cached: int,
    text_out: int,
    audio_out: int,
) -> Any:
    from livekit.agents.metrics import RealtimeModelMetrics

    return RealtimeModelMetrics(
        label=model_obj.label if hasattr(model_obj, "label") else "realtime",
        request_id=request_id,
        timestamp=clock.time(),
        duration=1.0,
        input_tokens=text_in + audio_in,
        output_tokens=text_out + audio_out,
        total_tokens=text_in + audio_in + text_out + audio_out,
        input_token_details=RealtimeModelMetrics.InputTokenDetails(
            text_tokens=text_in,
            audio_tokens=audio_in,
            cached_tokens=cached,
            cached_tokens_details=RealtimeModelMetrics.CachedTokenDetails(audio_tokens=cached),
        ),
        output_token_details=RealtimeModelMetrics.OutputTokenDetails(
            text_tokens=text_out, audio_tokens=audio_out
        ),
        metadata=_meta(model_obj),
    )


def emit(model_obj: Any, metric: Any) -> None:
    """Hand a metric to a plugin object the way the plugin's own code does."""
    model_obj.emit("metrics_collected", metric)


def store_rows(config: Any, where: str = "TRUE") -> list[dict[str, Any]]:
    from voicegw_cli.store import Store

    with Store.open(config) as store:
        cur = store.conn.execute(f"SELECT * FROM line_items WHERE {where} ORDER BY timestamp")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


@contextlib.contextmanager
def fresh_hook_state() -> Iterator[None]:
    """Stop this test's recorders and forget cached config/guards afterwards."""
    import voicegw_cli.livekit as vg
    from voicegw_cli.hook import recorder as rec_mod

    yield
    for rec in list(rec_mod._SHARED.values()):
        rec.close()
    rec_mod._SHARED.clear()
    vg._config = None
    vg._guards.clear()
    vg._gateways.clear()
    vg._shutdown_hooked.clear()


@pytest.fixture
def hook_state() -> Iterator[None]:
    with fresh_hook_state():
        yield


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ------------------------------------------------------------------ tests of the helpers


def test_line_item_record_is_exact_and_json_ready() -> None:
    """What the hook writes for each event: every column, exact money, UTC ISO time."""
    from voicegw_cli.items import COLUMN_NAMES

    items = [
        LineItem(
            timestamp=datetime(2026, 11, 10, 12, 0, 0, 123456, tzinfo=UTC),
            project="p",
            modality="llm",
            provider="openai",
            model="gpt-4o-mini",
            input_tokens=10,
            cached_input_tokens=2,
            output_tokens=3,
            cost_usd=Decimal("0.000123456789012"),
            pricing_source="override",
            metadata={"correction": True, "nested": {"a": [1, 2]}},
        ),
        LineItem(
            timestamp=datetime(2026, 11, 10, tzinfo=UTC),
            project="p",
            modality="stt",
            provider="deepgram",
            model="nova-3",
            audio_seconds=5.25,
        ),
    ]
    first, second = (it.to_record() for it in items)
    assert list(first) == list(COLUMN_NAMES) == list(second)
    assert first["timestamp"] == "2026-11-10T12:00:00.123456+00:00"
    assert first["cost_usd"] == "0.0001234568"  # quantized to the store's 10 places
    assert first["metadata"] == '{"correction":true,"nested":{"a":[1,2]}}'
    assert (first["input_tokens"], first["cached_input_tokens"], first["output_tokens"]) == (
        10,
        2,
        3,
    )
    assert second["cost_usd"] is None and second["metadata"] is None
    assert second["audio_seconds"] == 5.25 and second["timestamp"] == "2026-11-10T00:00:00+00:00"
