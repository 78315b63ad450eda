"""A real voice pipeline in one process, with timings the test chooses.

`AgentSession` runs LiveKit's whole turn machinery: the bundled Silero VAD
(`inference.VAD`, local) hears a recorded utterance (`fixtures/audio`), the real Deepgram
STT plugin streams the audio over a WebSocket, the real OpenAI LLM and TTS plugins make
HTTP requests, and LiveKit measures each turn and puts the figures on the chat messages.
The providers are one aiohttp server on 127.0.0.1 that speaks their wire formats and waits
as long as the test says before the final transcript, the first token, the first audio
byte. The two ends of the audio are in-process implementations of LiveKit's `io`
interfaces (what a room would otherwise be): one plays the utterance (then silence) in
real time, the other accepts the agent's audio and reports playback.
"""

from __future__ import annotations

import asyncio
import json
import time
import wave
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPEECH_WAV = Path(__file__).resolve().parent.parent / "fixtures" / "audio" / "book-a-table-16k.wav"
SAMPLE_RATE = 16000
FRAME = 320  # 20 ms at 16 kHz
REPLY = "Sure, a table for two."


def speech_pcm() -> bytes:
    with wave.open(str(SPEECH_WAV)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (SAMPLE_RATE, 1, 2)
        return w.readframes(w.getnframes())


@dataclass
class Turn:
    """How slow each provider is on one turn, in seconds."""

    stt: float
    llm: float
    tts: float
    llm_failures: int = 0  # HTTP 500s before the LLM answers (LiveKit retries)


@dataclass
class Providers:
    """Deepgram listen (WebSocket), OpenAI chat completions (SSE) and audio speech."""

    turns: deque[Turn] = field(default_factory=deque)
    audio_seconds: float = 0.0
    llm_requests: int = 0
    llm_errors: int = 0
    tts_requests: int = 0
    _utterances: asyncio.Queue[tuple[asyncio.Event, float]] = field(default_factory=asyncio.Queue)
    _current: Turn | None = None

    async def start(self) -> str:
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/v1/listen", self._listen)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/audio/speech", self._speech)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        await self._runner.cleanup()

    def utterance(self, spoken: asyncio.Event, turn: Turn) -> None:
        """The caller is saying something; transcribe it `turn.stt` s after it ends."""
        self._current = turn
        self._utterances.put_nowait((spoken, turn.stt))

    async def _listen(self, request: Any) -> Any:
        from aiohttp import WSMsgType, web

        ws = web.WebSocketResponse()
        await ws.prepare(request)

        async def transcribe() -> None:
            while True:
                spoken, delay = await self._utterances.get()
                await ws.send_str(json.dumps({"type": "SpeechStarted", "channel": [0]}))
                await spoken.wait()
                end = self.audio_seconds
                await asyncio.sleep(delay)
                words = [
                    {"word": w, "punctuated_word": w, "start": end - 1.0, "end": end,
                     "confidence": 0.99}
                    for w in "can I book a table for two".split()
                ]  # fmt: skip
                await ws.send_str(
                    json.dumps(
                        {
                            "type": "Results",
                            "channel_index": [0, 1],
                            "duration": 1.0,
                            "start": max(0.0, end - 1.0),
                            "is_final": True,
                            "speech_final": True,
                            "channel": {
                                "alternatives": [
                                    {
                                        "transcript": "Can I book a table for two?",
                                        "confidence": 0.99,
                                        "words": words,
                                    }
                                ]
                            },
                            "metadata": {"request_id": "dg-request"},
                        }
                    )
                )

        task = asyncio.create_task(transcribe())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    self.audio_seconds += len(msg.data) / (2 * SAMPLE_RATE)
        finally:
            task.cancel()
        return ws

    async def _chat(self, request: Any) -> Any:
        from aiohttp import web

        body = await request.json()
        self.llm_requests += 1
        turn = self._current or Turn(0, 0.05, 0.05)
        if turn.llm_failures > 0:
            turn.llm_failures -= 1
            self.llm_errors += 1
            return web.json_response(
                {"error": {"message": "overloaded", "type": "server_error"}}, status=500
            )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await asyncio.sleep(turn.llm)
        chunks = [
            {"choices": [{"index": 0, "delta": {"role": "assistant", "content": REPLY},
                          "finish_reason": None}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {"choices": [], "usage": {"prompt_tokens": 120, "completion_tokens": 8,
                                      "total_tokens": 128}},
        ]  # fmt: skip
        for chunk in chunks:
            data = {"id": "c1", "object": "chat.completion.chunk", "created": 0,
                    "model": body["model"], **chunk}  # fmt: skip
            await resp.write(f"data: {json.dumps(data)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        return resp

    async def _speech(self, request: Any) -> Any:
        from aiohttp import web

        self.tts_requests += 1
        turn = self._current or Turn(0, 0.05, 0.05)
        resp = web.StreamResponse(headers={"Content-Type": "audio/pcm"})
        await resp.prepare(request)
        await asyncio.sleep(turn.tts)
        for _ in range(4):  # 0.4 s of 24 kHz PCM
            await resp.write(b"\x00\x00" * 2400)
        return resp


def speech_input() -> Any:
    from livekit import rtc
    from livekit.agents import io

    class SpeechInput(io.AudioInput):
        """The caller's microphone: silence, or the utterance when `say()` is called,
        in real time (20 ms frames)."""

        def __init__(self) -> None:
            super().__init__(label="caller")
            self._pcm = speech_pcm()
            self._queue = bytearray()
            self._next: float | None = None
            self.spoken = asyncio.Event()

        def say(self) -> asyncio.Event:
            self.spoken = asyncio.Event()
            self._queue += self._pcm
            return self.spoken

        async def __anext__(self) -> Any:
            now = time.monotonic()
            self._next = (self._next or now) + FRAME / SAMPLE_RATE
            await asyncio.sleep(max(0.0, self._next - now))
            data = b"\x00\x00" * FRAME
            if self._queue:
                data = bytes(self._queue[: 2 * FRAME]).ljust(2 * FRAME, b"\x00")
                del self._queue[: 2 * FRAME]
                if not self._queue:
                    self.spoken.set()
            return rtc.AudioFrame(data, SAMPLE_RATE, 1, FRAME)

    return SpeechInput()


def playback_output() -> Any:
    from livekit.agents import io

    class Playback(io.AudioOutput):
        """The caller's speaker: takes the agent's audio, reports playback at once."""

        def __init__(self) -> None:
            super().__init__(label="speaker", capabilities=io.AudioOutputCapabilities(pause=False))
            self._position = 0.0
            self._playing = False

        async def capture_frame(self, frame: Any) -> None:
            await super().capture_frame(frame)
            if not self._playing:
                self._playing = True
                self.on_playback_started(created_at=time.time())
            self._position += frame.duration

        def flush(self) -> None:
            super().flush()
            if self._playing:
                position, self._position, self._playing = self._position, 0.0, False
                asyncio.get_running_loop().call_soon(
                    lambda: self.on_playback_finished(playback_position=position, interrupted=False)
                )

        def clear_buffer(self) -> None:
            if self._playing:
                position, self._position, self._playing = self._position, 0.0, False
                self.on_playback_finished(playback_position=position, interrupted=True)

    return Playback()


@dataclass
class Pipeline:
    """One AgentSession wired to `Providers`, with the chat messages LiveKit produced."""

    session: Any
    providers: Providers
    mic: Any
    messages: list[Any] = field(default_factory=list)
    _replies: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)

    async def turn(self, turn: Turn, timeout: float = 15.0) -> Any:
        """The caller speaks once; returns the agent's reply message when it is added."""
        self.providers.utterance(self.mic.say(), turn)
        return await asyncio.wait_for(self._replies.get(), timeout)


def build_pipeline(base_url: str, providers: Providers) -> Pipeline:
    from livekit.agents import AgentSession, APIConnectOptions, inference
    from livekit.agents.voice.agent_session import SessionConnectOptions
    from livekit.plugins import deepgram, openai

    fast_retry = APIConnectOptions(max_retry=2, retry_interval=0.05, timeout=5.0)
    session = AgentSession(
        stt=deepgram.STT(api_key="dummy", base_url=f"{base_url}/listen", model="nova-3"),
        llm=openai.LLM(model="gpt-4o-mini", api_key="dummy", base_url=base_url),
        tts=openai.TTS(model="tts-1", api_key="dummy", base_url=base_url, response_format="pcm"),
        vad=inference.VAD(),
        turn_handling={"turn_detection": "vad", "endpointing": {"min_delay": 0.2}},
        conn_options=SessionConnectOptions(llm_conn_options=fast_retry),
        user_away_timeout=None,
        session_close_transcript_timeout=0.05,
    )
    mic = speech_input()
    session.input.audio = mic
    session.output.audio = playback_output()
    pipe = Pipeline(session, providers, mic)

    def on_item(ev: Any) -> None:
        item = ev.item
        if getattr(item, "role", None) in ("user", "assistant"):
            pipe.messages.append(item)
            if item.role == "assistant":
                pipe._replies.put_nowait(item)

    session.on("conversation_item_added", on_item)
    return pipe


def quantile_cont(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks: what DuckDB's quantile_cont does."""
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)
