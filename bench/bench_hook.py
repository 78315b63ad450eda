"""Benchmark the LiveKit hook: event-loop time per usage event, loop stalls, throughput.

Drives a real `AgentSession` (dummy API keys, no LiveKit server): real plugin objects emit
real metric objects, LiveKit turns each into a `session_usage_updated` event, and the hook
queues it. Prints figures; asserts nothing. Usage:

    .venv/bin/python bench/bench_hook.py [--events 20000] [--rate 2000] [--interval 0.2]

Figures:
* handler loop time: LiveKit's dispatch to our `session_usage_updated` listener plus the
  listener itself, per event (median, p99); the same for the `conversation_item_added`
  listener (per-turn latency; real chat messages with LiveKit's metrics) and the `error`
  listener (real `LLMError` events);
* LiveKit's whole per-metric path (metric -> session events -> handlers) with and without
  the hook, events paced at `--rate` while the flusher works in its thread;
* loop stall: the longest gap between event-loop iterations while events stream in and
  the flusher prices and writes batches in its thread (with and without the hook);
* throughput: events/s the flusher turns into priced, spooled line items.

Targets: median < 10 µs loop time per event, no stall over 1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _quiet() -> None:
    logging.basicConfig(level=logging.CRITICAL)
    for name in ("livekit", "livekit.agents", "voicegw"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def _metrics(llm, i: int):
    from livekit.agents.metrics import LLMMetrics
    from livekit.agents.metrics.base import Metadata

    return LLMMetrics(
        label=llm.label,
        request_id=f"r{i}",
        timestamp=time.time(),
        duration=0.5,
        ttft=0.1,
        cancelled=False,
        completion_tokens=20 + i % 7,
        prompt_tokens=800 + i % 13,
        prompt_cached_tokens=256,
        total_tokens=820 + i % 20,
        tokens_per_second=40.0,
        metadata=Metadata(model_name=llm.model, model_provider=llm.provider),
    )


async def _session():
    from livekit.agents import Agent, AgentSession
    from livekit.plugins import cartesia, deepgram, openai

    stt = deepgram.STT(api_key="dummy")
    llm = openai.LLM(model="gpt-4o-mini", api_key="dummy")
    tts = cartesia.TTS(api_key="dummy")
    session = AgentSession(stt=stt, llm=llm, tts=tts, session_close_transcript_timeout=0.1)
    await session.start(Agent(instructions="bench"), record=False)
    await asyncio.sleep(1.0)  # LiveKit's own start-up work (client prewarm) settles first
    return session, llm


async def bench_handler(n: int, spool: Path, interval: float) -> dict[str, float]:
    """Loop time LiveKit spends dispatching to our handler plus the handler itself, on
    real events captured from the session."""
    from voicegw_cli.hook.livekit import SessionTracker
    from voicegw_cli.hook.recorder import Recorder

    session, llm = await _session()
    events = []
    session.on("session_usage_updated", events.append)
    for i in range(n):
        llm.emit("metrics_collected", _metrics(llm, i))
    session.off("session_usage_updated", events.append)
    rec = Recorder(spool, flush_interval=interval)
    rec.start()
    tracker = SessionTracker(session, project="bench", agent=None, recorder=rec)
    import inspect

    perf = time.perf_counter_ns

    def loop_time(handler, evs) -> dict[str, float]:
        times = []
        for ev in evs:
            t0 = perf()
            # What LiveKit's EventEmitter does for each listener, then our handler.
            inspect.signature(handler)
            handler(ev)
            times.append((perf() - t0) / 1000)
        return {
            "median_us": statistics.median(times),
            "p99_us": _pct(times, 99),
            "max_us": max(times),
        }

    out = {"usage": loop_time(tracker._usage_cb, events)}
    out["chat_item"] = loop_time(tracker.calls._item_cb, _chat_item_events(session, n))
    out["error"] = loop_time(tracker.calls._error_cb, _error_events(session, llm, n // 10))
    rec.stop()
    await session.aclose()
    return out


def _chat_item_events(session, n: int) -> list:
    """Real `conversation_item_added` events: user and agent messages carrying the metrics
    LiveKit puts on them, captured from the session's own emit path."""
    from livekit.agents import llm

    captured: list = []
    session.on("conversation_item_added", captured.append)
    for i in range(n):
        if i % 2 == 0:
            msg = llm.ChatMessage(role="user", content=[f"question {i}"])
            msg.metrics = {
                "transcription_delay": 0.12,
                "end_of_turn_delay": 0.5,
                "stt_metadata": {"model_name": "nova-3", "model_provider": "Deepgram"},
            }
        else:
            msg = llm.ChatMessage(role="assistant", content=[f"answer {i}"])
            msg.metrics = {
                "llm_node_ttft": 0.4,
                "tts_node_ttfb": 0.15,
                "e2e_latency": 1.1,
                "llm_metadata": {"model_name": "gpt-4o-mini", "model_provider": "api.openai.com"},
                "tts_metadata": {"model_name": "sonic-3", "model_provider": "Cartesia"},
            }
        session._conversation_item_added(msg)
    session.off("conversation_item_added", captured.append)
    return captured


def _error_events(session, llm_obj, n: int) -> list:
    from livekit.agents import APIStatusError
    from livekit.agents.llm import LLMError
    from livekit.agents.voice.events import ErrorEvent

    err = APIStatusError("overloaded", status_code=500, retryable=True)
    return [
        ErrorEvent(
            error=LLMError(timestamp=time.time(), label=llm_obj.label, error=err, recoverable=True),
            source=llm_obj,
        )
        for _ in range(max(1, n))
    ]


async def bench_emit_ab(
    n: int, rate: float, spool: Path, interval: float
) -> tuple[list[float], list[float]]:
    """LiveKit's per-metric path on two live sessions, one tracked and one not, emitting
    alternately at `rate`/s so both see the same machine noise. Returns µs lists."""
    from voicegw_cli.hook.livekit import SessionTracker
    from voicegw_cli.hook.recorder import Recorder

    plain, plain_llm = await _session()
    hooked, hooked_llm = await _session()
    rec = Recorder(spool, flush_interval=interval)
    rec.start()
    SessionTracker(hooked, project="bench", agent=None, recorder=rec).attach()
    perf = time.perf_counter_ns
    out: tuple[list[float], list[float]] = ([], [])
    pause = 2.0 / rate
    for i in range(n):
        for k, llm in enumerate((plain_llm, hooked_llm)):
            m = _metrics(llm, i)
            t0 = perf()
            llm.emit("metrics_collected", m)
            out[k].append((perf() - t0) / 1000)
        await asyncio.sleep(pause)
    rec.stop()
    await plain.aclose()
    await hooked.aclose()
    return out


async def bench_stall(
    n: int, rate: float, spool: Path, interval: float, *, hooked: bool
) -> dict[str, float]:
    """Stream events at `rate`/s while a monitor records gaps between loop iterations."""
    import gc

    from voicegw_cli.hook.livekit import SessionTracker
    from voicegw_cli.hook.recorder import Recorder

    session, llm = await _session()
    rec = None
    drains: list[tuple[float, float]] = []  # when the flusher was converting/writing
    if hooked:
        rec = Recorder(spool, flush_interval=interval)
        inner = rec._drain

        def timed_drain() -> int:
            t0 = time.perf_counter()
            try:
                return inner()
            finally:
                drains.append((t0, time.perf_counter()))

        rec._drain = timed_drain  # type: ignore[method-assign]
        rec.start()
        SessionTracker(session, project="bench", agent=None, recorder=rec).attach()
    ms = [_metrics(llm, i) for i in range(n)]
    gaps: list[tuple[float, float]] = []  # (start, length) of every loop iteration gap
    done = asyncio.Event()
    # Cyclic GC pauses stop every thread, whoever triggers them, with or without the hook:
    # record them so the figures can tell a GC pause from a stall the hook causes.
    gc_windows: list[tuple[float, float]] = []
    gc_start = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_start[0] = time.perf_counter()
        else:
            gc_windows.append((gc_start[0], time.perf_counter()))

    async def monitor() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0)
            now = time.perf_counter()
            gaps.append((last, now - last))
            last = now

    emit_us: list[float] = []
    perf = time.perf_counter_ns

    async def produce() -> None:
        per_ms = max(1, int(rate / 1000))
        i = 0
        t_next = time.perf_counter()
        while i < n:
            for _ in range(per_ms):
                if i < n:
                    t0 = perf()
                    llm.emit("metrics_collected", ms[i])
                    emit_us.append((perf() - t0) / 1000)
                    i += 1
            t_next += 0.001
            await asyncio.sleep(max(0.0, t_next - time.perf_counter()))
        await asyncio.sleep(interval * 2)  # let the last batches flush while we watch
        done.set()

    gc.collect()
    gc.callbacks.append(on_gc)
    try:
        mon = asyncio.create_task(monitor())
        await produce()
        await mon
    finally:
        gc.callbacks.remove(on_gc)
    longest = 0.0
    if rec:
        rec.stop()
        longest = rec.stats.longest_stretch_s
    await session.aclose()

    import bisect

    gc_windows.sort()
    gc_starts = [a for a, _ in gc_windows]

    def in_gc(start: float, length: float) -> bool:
        i = bisect.bisect_left(gc_starts, start + length)  # windows starting before gap end
        return any(gc_windows[j][1] > start for j in range(max(0, i - 3), i))

    def in_drain(start: float, length: float) -> bool:
        return any(a < start + length and b > start for a, b in drains)

    lengths_ms = [g * 1000 for _, g in gaps]
    non_gc_ms = [g * 1000 for t, g in gaps if not in_gc(t, g)]
    long_non_gc = [(t, g) for t, g in gaps if g > 0.001 and not in_gc(t, g)]
    during_drain_ms = [g * 1000 for t, g in long_non_gc if in_drain(t, g)]
    return {
        "max_ms": max(lengths_ms),
        "p999_ms": _pct(lengths_ms, 99.9),
        "over_1ms": sum(1 for g in lengths_ms if g > 1.0),
        "max_non_gc_ms": max(non_gc_ms, default=0.0),
        "over_1ms_non_gc": sum(1 for g in non_gc_ms if g > 1.0),
        "over_1ms_in_drain": len(during_drain_ms),
        "max_in_drain_ms": max(during_drain_ms, default=0.0),
        "drains": len(drains),
        "gc_pauses": len(gc_windows),
        "flusher_longest_stretch_ms": longest * 1000,
        "emit_median_us": statistics.median(emit_us),
        "emit_p99_us": _pct(emit_us, 99),
        "gc_max_ms": max((b - a for a, b in gc_windows), default=0.0) * 1000,
    }


def bench_throughput(n: int, spool: Path) -> dict[str, float]:
    """Events/s the flusher converts, prices and writes (one drain of a full queue)."""
    from livekit.agents.metrics import LLMModelUsage, STTModelUsage, TTSModelUsage

    from voicegw_cli.hook.livekit import UsageConverter
    from voicegw_cli.hook.recorder import Recorder

    rec = Recorder(spool, flush_interval=3600, yield_gil=False)
    conv = UsageConverter()
    llm = LLMModelUsage(provider="api.openai.com", model="gpt-4o-mini")
    stt = STTModelUsage(provider="Deepgram", model="nova-3")
    tts = TTSModelUsage(provider="Cartesia", model="sonic-3")
    rec._get_pricer()  # price tables load once per process; not part of the steady state
    now = time.time()
    for i in range(n):
        llm = llm.model_copy(
            update={"input_tokens": llm.input_tokens + 800, "output_tokens": llm.output_tokens + 20}
        )
        stt = stt.model_copy(update={"audio_duration": stt.audio_duration + 5.0})
        tts = tts.model_copy(update={"characters_count": tts.characters_count + 60})
        rec.submit(conv.usage, ([llm, stt, tts][i % 3 : i % 3 + 1], now, "agent", "bench"))
    t0 = time.perf_counter()
    items = rec.flush()
    dt = time.perf_counter() - t0
    rec.close()
    return {"events_per_s": n / dt, "items": items, "unpriced": rec.stats.unpriced}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--rate", type=float, default=2000.0, help="events/s in the stall test")
    ap.add_argument("--interval", type=float, default=0.2, help="flush interval, seconds")
    args = ap.parse_args()
    _quiet()
    from livekit.agents import utils

    with tempfile.TemporaryDirectory() as tmp:
        spool = Path(tmp) / "spool"
        async with utils.http_context.open():
            h = await bench_handler(args.events, spool, args.interval)
            n_ab = min(args.events, int(args.rate * 3))
            ab_plain, ab_hooked = await bench_emit_ab(n_ab, args.rate, spool, args.interval)
            n_stall = min(args.events, int(args.rate * 5))
            s0 = await bench_stall(n_stall, args.rate, spool, args.interval, hooked=False)
            s1 = await bench_stall(n_stall, args.rate, spool, args.interval, hooked=True)
        tp = bench_throughput(args.events, spool)

    print(f"hook benchmark: {args.events} events, flush interval {args.interval}s")
    for kind, label in (
        ("usage", "session_usage_updated"),
        ("chat_item", "conversation_item_added"),
        ("error", "error"),
    ):
        st = h[kind]
        print(
            f"  handler loop time per event ({label}): median {st['median_us']:.2f} µs, "
            f"p99 {st['p99_us']:.2f} µs, max {st['max_us']:.1f} µs (max includes GC pauses)"
        )
    mp, mh = statistics.median(ab_plain), statistics.median(ab_hooked)
    print(
        f"  LiveKit's path per metric (A/B, {n_ab} each): median {mp:.1f} µs untracked, "
        f"{mh:.1f} µs tracked (+{mh - mp:.2f} µs); p99 {_pct(ab_plain, 99):.1f} / "
        f"{_pct(ab_hooked, 99):.1f} µs"
    )
    for label, st in (("with hook   ", s1), ("without hook", s0)):
        print(
            f"  loop gaps {label} at {args.rate:.0f} ev/s ({n_stall} events): "
            f"max {st['max_non_gc_ms']:.3f} ms outside GC pauses "
            f"({st['over_1ms_non_gc']} > 1 ms), p99.9 {st['p999_ms']:.3f} ms; "
            f"{st['gc_pauses']} GC pauses, longest {st['gc_max_ms']:.1f} ms"
        )
    print(
        f"  gaps > 1 ms (outside GC) while the flusher drained: {s1['over_1ms_in_drain']} "
        f"(longest {s1['max_in_drain_ms']:.3f} ms) over {s1['drains']} drains"
    )
    print(
        f"  flusher: longest stretch between GIL releases "
        f"{s1['flusher_longest_stretch_ms']:.3f} ms (wall time, includes OS preemption)"
    )
    print(
        f"  flusher throughput          : {tp['events_per_s']:,.0f} events/s converted, "
        f"priced and spooled ({tp['items']} items, {tp['unpriced']} unpriced)"
    )


if __name__ == "__main__":
    asyncio.run(main())
