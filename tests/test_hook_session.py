"""The LiveKit hook on real AgentSessions: exact units, no double counts, corrections,
project attribution, no deprecation warnings, flush on close and at exit."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
import warnings
from decimal import Decimal
from pathlib import Path

import pytest

import voicegw_cli.livekit as vg
from voicegw_cli.config import set_project
from voicegw_cli.spool import parse_lines, spool_files

from .test_hook_helpers import (
    agent,
    emit,
    hook_state,  # noqa: F401 - fixture
    llm_metric,
    new_session,
    plugins,
    realtime_metric,
    run,
    started,
    store_rows,
    stt_metric,
    stt_setup_metric,
    tts_metric,
)

pytestmark = pytest.mark.usefixtures("hook_state")

HOOK_YAML = """\
timezone: UTC
default_project: support
projects:
  support: {name: Support Bot, daily_budget: 10, budget_action: warn}
  sales: {name: Sales Bot, daily_budget: 1, budget_action: block}
hook:
  flush_interval_seconds: 30
"""


@pytest.fixture
def cfg(write_config):
    return write_config(HOOK_YAML)


def _by_modality(rows):
    out: dict[str, list] = {}
    for r in rows:
        out.setdefault(r["modality"], []).append(r)
    return out


def test_streaming_stt_llm_tts_units_exact(cfg) -> None:
    """Repeated STT request ids and the empty-id setup metric: nothing merged or dropped."""

    async def main() -> None:
        stt, llm, tts = plugins()
        session = new_session(stt, llm, tts)
        vg.track(session, config=cfg)
        async with started(session):
            emit(stt, stt_setup_metric(stt))  # empty id, zero usage
            for _ in range(3):  # one stream, one id, a metric every 5 s of audio
                emit(stt, stt_metric(stt, request_id="stream-1", audio=5.0))
            emit(stt, stt_metric(stt, request_id="stream-1", audio=2.5))
            emit(
                llm,
                llm_metric(
                    llm,
                    request_id="req-1",
                    prompt=1200,
                    completion=80,
                    cached=1024,
                    cache_write=0,
                    reasoning=0,
                ),
            )
            emit(
                llm,
                llm_metric(
                    llm,
                    request_id="req-2",
                    prompt=1500,
                    completion=120,
                    cached=1024,
                    cache_write=256,
                    reasoning=40,
                ),
            )
            emit(tts, tts_metric(tts, request_id="seg-1", chars=64, audio=3.5))
            emit(tts, tts_metric(tts, request_id="seg-1", chars=36, audio=2.0))
        await vg.aflush()

    run(main())
    rows = store_rows(cfg)
    by = _by_modality(rows)
    assert sorted(by) == ["llm", "stt", "tts"]
    assert [r["audio_seconds"] for r in by["stt"]] == [5.0, 5.0, 5.0, 2.5]
    assert {(r["provider"], r["model"]) for r in by["stt"]} == {("deepgram", "nova-3")}
    llm_rows = by["llm"]
    assert [
        (
            r["input_tokens"],
            r["cached_input_tokens"],
            r["cache_write_tokens"],
            r["output_tokens"],
            r["reasoning_tokens"],
        )
        for r in llm_rows
    ] == [(1200, 1024, 0, 80, 0), (1500, 1024, 256, 120, 40)]
    assert {(r["provider"], r["model"]) for r in llm_rows} == {("openai", "gpt-4o-mini")}
    assert [(r["characters"], r["audio_seconds"]) for r in by["tts"]] == [(64, 3.5), (36, 2.0)]
    assert {(r["provider"], r["model"]) for r in by["tts"]} == {("cartesia", "sonic-3")}
    assert all(r["project"] == "support" for r in rows)
    assert len({r["session_id"] for r in rows}) == 1
    assert len({r["id"] for r in rows}) == len(rows) == 8
    assert not any('"correction"' in (r["metadata"] or "") for r in rows)


OVERRIDES_YAML = (
    HOOK_YAML
    + """\
pricing:
  overrides:
    deepgram/nova-3: {per_minute: "0.0060"}
    openai/gpt-4o-mini: {input_per_mtok: "0.15", cached_input_per_mtok: "0.075",
                         output_per_mtok: "0.60"}
    cartesia/sonic-3: {per_1m_characters: "40"}
"""
)


def test_costs_exact_with_negotiated_rates(write_config) -> None:
    """Priced in the flusher thread; costs in the store are exact Decimals."""
    cfg = write_config(OVERRIDES_YAML)

    async def main() -> None:
        stt, llm, tts = plugins()
        session = new_session(stt, llm, tts)
        vg.track(session, config=cfg)
        async with started(session):
            emit(stt, stt_metric(stt, request_id="s", audio=60.0))
            emit(stt, stt_metric(stt, request_id="s", audio=30.0))
            emit(
                llm, llm_metric(llm, request_id="r", prompt=10_000, completion=1_000, cached=2_048)
            )
            emit(tts, tts_metric(tts, request_id="t", chars=1_000, audio=60.0))
        await vg.aflush()

    run(main())
    got = [(r["modality"], r["cost_usd"], r["pricing_source"]) for r in store_rows(cfg)]
    assert got == [
        ("stt", Decimal("0.0060000000"), "override"),  # 1 min x $0.006
        ("stt", Decimal("0.0030000000"), "override"),
        # (7,952 x 0.15 + 2,048 x 0.075 + 1,000 x 0.60) / 1M
        ("llm", Decimal("0.0019464000"), "override"),
        ("tts", Decimal("0.0400000000"), "override"),  # 1,000 chars x $40 / 1M
    ]


def test_list_prices_and_batch_stt(cfg) -> None:
    """Without overrides the catalog and genai-prices price each item as a fresh Pricer
    would; an STT behind a StreamAdapter is billed at the batch (pre-recorded) rate."""
    from livekit.agents import inference
    from livekit.agents import stt as lk_stt
    from livekit.plugins import deepgram

    from voicegw_cli.items import LineItem
    from voicegw_cli.pricing import Pricer

    async def main() -> None:
        stream_stt, llm, tts = plugins()
        _, llm2, tts2 = plugins()  # each session its own models, as LiveKit expects
        batch_dg = deepgram.STT(api_key="dummy", model="nova-2")
        adapter = lk_stt.StreamAdapter(stt=batch_dg, vad=inference.VAD())
        s1 = new_session(stream_stt, llm, tts)
        s2 = new_session(adapter, llm2, tts2)
        vg.track(s1, "support", config=cfg)
        vg.track(s2, "sales", config=cfg)
        async with started(s1), started(s2):
            emit(stream_stt, stt_metric(stream_stt, request_id="a", audio=60.0))
            # What STT.recognize() emits for one batch request on the wrapped STT.
            emit(
                batch_dg,
                stt_metric(batch_dg, request_id="b", audio=60.0).model_copy(
                    update={"streamed": False}
                ),
            )
            for m_llm, m_tts in ((llm, tts), (llm2, tts2)):
                emit(
                    m_llm,
                    llm_metric(
                        m_llm, request_id="r", prompt=10_000, completion=1_000, cached=2_048
                    ),
                )
                emit(m_tts, tts_metric(m_tts, request_id="t", chars=1_000, audio=60.0))
        await vg.aflush()

    run(main())
    rows = store_rows(cfg)
    pricer = Pricer()
    for r in rows:
        meta = __import__("json").loads(r["metadata"]) if r["metadata"] else {}
        fresh = LineItem(
            timestamp=r["timestamp"].replace(tzinfo=__import__("datetime").UTC),
            project=r["project"],
            modality=r["modality"],
            provider=r["provider"],
            model=r["model"],
            metadata=meta,
            **{
                k: r[k]
                for k in (
                    "input_tokens",
                    "cached_input_tokens",
                    "cache_write_tokens",
                    "output_tokens",
                    "reasoning_tokens",
                    "audio_seconds",
                    "characters",
                )
            },
        )
        pricer.price_item(fresh)
        assert fresh.cost_usd is not None and r["cost_usd"] > 0, (r["provider"], r["model"])
        assert (r["cost_usd"], r["pricing_source"]) == (fresh.cost_usd, fresh.pricing_source)
    stt_rows = {r["model"]: r for r in rows if r["modality"] == "stt"}
    assert "streamed" not in (stt_rows["nova-3"]["metadata"] or "")
    assert '"streamed":false' in stt_rows["nova-2"]["metadata"]
    # A minute of batch STT costs what the catalog says for pre-recorded audio.
    batch = LineItem(
        timestamp=rows[0]["timestamp"].replace(tzinfo=__import__("datetime").UTC),
        project="x",
        modality="stt",
        provider="deepgram",
        model="nova-2",
        audio_seconds=60.0,
        metadata={"streamed": False},
    )
    assert stt_rows["nova-2"]["cost_usd"] == pricer.price_item(batch).cost_usd
    # Two sessions in one process, two projects: each item lands in its own project.
    assert sorted((r["project"], r["modality"]) for r in rows if r["modality"] != "stt") == [
        ("sales", "llm"),
        ("sales", "tts"),
        ("support", "llm"),
        ("support", "tts"),
    ]


def test_agent_components_and_label(cfg) -> None:
    """An LLM set on the Agent (not the session) is the one billed; the agent is named."""
    from livekit.plugins import openai

    class TriageAgent(__import__("livekit.agents", fromlist=["Agent"]).Agent):
        def __init__(self, llm) -> None:
            super().__init__(instructions="triage", llm=llm)

    async def main() -> None:
        stt, llm, tts = plugins()
        agent_llm = openai.LLM(model="gpt-4o", api_key="dummy")
        session = new_session(stt, llm, tts)
        vg.track(session, config=cfg)
        async with started(session, TriageAgent(agent_llm)):
            emit(agent_llm, llm_metric(agent_llm, request_id="a", prompt=500, completion=50))
            emit(llm, llm_metric(llm, request_id="b", prompt=7, completion=7))  # unused LLM
        await vg.aflush()

    run(main())
    rows = store_rows(cfg)
    assert [(r["model"], r["input_tokens"], r["agent"]) for r in rows] == [
        ("gpt-4o", 500, "triage_agent")
    ]


def test_livekit_inference_is_its_own_provider(cfg) -> None:
    from livekit.agents import inference

    async def main() -> None:
        llm = inference.LLM("openai/gpt-4.1-mini", api_key="k" * 32, api_secret="s" * 32)
        stt = inference.STT("deepgram/nova-3", api_key="k" * 32, api_secret="s" * 32)
        session = new_session(stt, llm, None)
        vg.track(session, config=cfg)
        async with started(session):
            emit(llm, llm_metric(llm, request_id="r", prompt=300, completion=30))
            emit(stt, stt_metric(stt, request_id="s", audio=4.0))
        await vg.aflush()

    run(main())
    rows = store_rows(cfg)
    got = {(r["modality"], r["provider"], r["model"]) for r in rows}
    assert got == {("llm", "livekit", "openai/gpt-4.1-mini"), ("stt", "livekit", "deepgram/nova-3")}
    llm_row = next(r for r in rows if r["modality"] == "llm")
    meta = __import__("json").loads(llm_row["metadata"])
    assert meta["underlying_provider"] == "openai"
    assert meta["underlying_model"] == "gpt-4.1-mini"


def test_realtime_model_text_and_audio_tokens(cfg) -> None:
    from livekit.plugins import openai

    async def main() -> None:
        model = openai.realtime.RealtimeModel(api_key="dummy")
        session = new_session(llm=model)
        vg.track(session, config=cfg)
        the_agent = agent()
        async with started(session, the_agent):
            rt = the_agent.realtime_llm_session  # the session LiveKit created for the model
            emit(
                rt,
                realtime_metric(
                    model,
                    request_id="resp-1",
                    text_in=100,
                    audio_in=400,
                    cached=64,
                    text_out=20,
                    audio_out=300,
                ),
            )
        await vg.aflush()

    run(main())
    (row,) = store_rows(cfg)
    assert row["modality"] == "realtime"
    assert (row["provider"], row["model"]) == ("openai", "gpt-realtime")
    assert (
        row["input_tokens"],
        row["cached_input_tokens"],
        row["audio_input_tokens"],
        row["output_tokens"],
        row["audio_output_tokens"],
    ) == (500, 64, 400, 320, 300)
    meta = __import__("json").loads(row["metadata"])
    assert meta["input_text_tokens"] == 100 and meta["output_text_tokens"] == 20
    assert meta["input_cached_audio_tokens"] == 64


def test_no_deprecation_warnings_or_logs(cfg, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        stt, llm, tts = plugins()
        session = new_session(stt, llm, tts)
        vg.track(session, config=cfg)
        async with started(session):
            emit(llm, llm_metric(llm, request_id="r", prompt=10, completion=1))
        await vg.aflush()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        caplog.set_level(logging.DEBUG)
        run(main())
    assert not [
        w
        for w in caught
        if issubclass(w.category, DeprecationWarning | FutureWarning)
        and "voicegw" in (w.filename or "")
    ]
    assert not [w for w in caught if "deprecat" in str(w.message).lower()]
    assert not [r for r in caplog.records if "deprecat" in r.getMessage().lower()]


def test_track_twice_and_restart_count_once(cfg) -> None:
    """Tracking a session twice adds nothing; a restarted session starts from zero."""

    async def main() -> None:
        stt, llm, tts = plugins()
        session = new_session(stt, llm, tts)
        t1 = vg.track(session, config=cfg)
        assert vg.track(session, config=cfg) is t1
        async with started(session):
            emit(llm, llm_metric(llm, request_id="r1", prompt=100, completion=10))
        async with started(session):  # totals reset by start(); we follow
            emit(llm, llm_metric(llm, request_id="r1", prompt=40, completion=4))
            emit(llm, llm_metric(llm, request_id="r2", prompt=60, completion=6))
        await vg.aflush()

    run(main())
    rows = store_rows(cfg)
    assert [r["input_tokens"] for r in rows] == [100, 40, 60]
    assert len({r["session_id"] for r in rows}) == 2  # one run id per start..close
    assert not any('"correction"' in (r["metadata"] or "") for r in rows)


def test_track_after_start_records_earlier_usage(cfg) -> None:
    async def main() -> None:
        stt, llm, tts = plugins()
        session = new_session(stt, llm, tts)
        async with started(session):
            emit(llm, llm_metric(llm, request_id="before", prompt=100, completion=10))
            vg.track(session, config=cfg)
            emit(llm, llm_metric(llm, request_id="after", prompt=50, completion=5))
        await vg.aflush()

    run(main())
    assert [r["input_tokens"] for r in store_rows(cfg)] == [100, 50]


def test_close_writes_correction_for_usage_the_events_missed(cfg) -> None:
    """LiveKit's own totals are the reference at close; a gap becomes a marked item."""

    async def main() -> None:
        stt, llm, tts = plugins()
        session = new_session(stt, llm, tts)
        vg.track(session, config=cfg)
        async with started(session):
            emit(llm, llm_metric(llm, request_id="r1", prompt=100, completion=10))
            # Usage LiveKit counted without announcing it (as a plugin bypassing the
            # event would): only the close-time comparison can catch it.
            session._usage_collector.collect(stt_metric(stt, request_id="silent", audio=7.5))
        await vg.aflush()

    run(main())
    rows = store_rows(cfg)
    assert len(rows) == 2
    corr = [r for r in rows if '"correction":true' in (r["metadata"] or "")]
    assert len(corr) == 1
    assert (corr[0]["modality"], corr[0]["audio_seconds"]) == ("stt", 7.5)


def test_project_resolution_order(cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    async def one(project_arg, ctx_project) -> str:
        if ctx_project:
            set_project(ctx_project)
        stt, llm, tts = plugins()
        session = new_session(stt, llm, tts)
        tracker = vg.track(session, project_arg, config=cfg)
        async with started(session):
            emit(llm, llm_metric(llm, request_id="r", prompt=1, completion=1))
        return tracker.project

    async def main() -> list[str]:
        # Each job runs in its own task, as LiveKit runs an entrypoint: set_project in
        # one does not leak into its sibling.
        return list(
            await asyncio.gather(
                one("explicit", "ctx-a"),
                one(None, "ctx-b"),
                one(None, None),
            )
        )

    monkeypatch.setenv("VOICEGW_ACTIVE_PROJECT", "from-env")
    assert run(main()) == ["explicit", "ctx-b", "from-env"]
    monkeypatch.delenv("VOICEGW_ACTIVE_PROJECT")
    assert run(main())[2] == "support"  # default_project
    run(vg.aflush())
    projects = sorted(r["project"] for r in store_rows(cfg))
    assert projects == sorted(["explicit", "ctx-b", "from-env", "explicit", "ctx-b", "support"])


def test_session_close_flushes_without_waiting_for_the_interval(cfg) -> None:
    """Interval is 30 s in this config: only the close wake-up can write this quickly."""

    async def main() -> list[dict]:
        stt, llm, tts = plugins()
        session = new_session(stt, llm, tts)
        vg.track(session, config=cfg)
        async with started(session):
            emit(llm, llm_metric(llm, request_id="r", prompt=9, completion=1))
        for _ in range(100):
            recs = [r for p in spool_files(cfg.spool_dir) for r in parse_lines(p.read_bytes())]
            if recs:
                return recs
            await asyncio.sleep(0.02)
        return []

    recs = run(main())
    assert [r["input_tokens"] for r in recs if "kind" not in r] == [9]
    assert [r["kind"] for r in recs if "kind" in r] == ["call"]  # the call record too


EXIT_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    sys.path.insert(0, sys.argv[1])
    from tests.test_hook_helpers import plugins, new_session, started, emit, llm_metric
    import voicegw_cli.livekit as vg

    async def main():
        stt, llm, tts = plugins()
        session = new_session(stt, llm, tts)
        vg.track(session)
        await session.start(__import__("tests.test_hook_helpers", fromlist=["x"]).agent(),
                            record=False)
        for i in range(50):
            emit(llm, llm_metric(llm, request_id=f"r{i}", prompt=10, completion=1))
        # no close, no flush: the interpreter exits with usage still queued

    asyncio.run(main())
    """
)


def test_process_exit_flushes_queued_usage(cfg, tmp_path: Path) -> None:
    env = {**os.environ, "VOICEGW_CONFIG": str(cfg.path)}
    root = str(Path(__file__).resolve().parent.parent)
    proc = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, root],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    recs = [r for p in spool_files(cfg.spool_dir) for r in parse_lines(p.read_bytes())]
    assert len(recs) == 50 and sum(r["input_tokens"] for r in recs) == 500


# ------------------------------------------------------------------ plugin-generated metrics

_SSE_CHUNKS = [
    {
        "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": "Hello"}, "finish_reason": None}
        ]
    },
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    {
        "choices": [],
        "usage": {
            "prompt_tokens": 321,
            "completion_tokens": 12,
            "total_tokens": 333,
            "prompt_tokens_details": {"cached_tokens": 256},
            "completion_tokens_details": {"reasoning_tokens": 4},
        },
    },
]


def test_metrics_built_by_the_openai_plugin_itself(cfg) -> None:
    """The OpenAI plugin streams a reply from a local OpenAI-compatible server and builds
    its own LLMMetrics from the response's usage; the hook records exactly those units."""
    import json

    from aiohttp import web
    from livekit.agents.llm import ChatContext
    from livekit.plugins import openai

    async def completions(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for chunk in _SSE_CHUNKS:
            data = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body["model"],
                **chunk,
            }
            await resp.write(f"data: {json.dumps(data)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        return resp

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", completions)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            stt, _, tts = plugins()
            llm = openai.LLM(
                model="gpt-4o-mini", api_key="dummy", base_url=f"http://127.0.0.1:{port}/v1"
            )
            session = new_session(stt, llm, tts)
            vg.track(session, config=cfg)
            async with started(session):
                ctx = ChatContext()
                ctx.add_message(role="user", content="hi")
                for _ in range(2):
                    async with llm.chat(chat_ctx=ctx) as stream:
                        text = "".join(
                            [c.delta.content async for c in stream if c.delta and c.delta.content]
                        )
                    assert text == "Hello"
            await vg.aflush()
        finally:
            await runner.cleanup()

    run(main())
    rows = store_rows(cfg)
    assert [
        (
            r["modality"],
            r["input_tokens"],
            r["cached_input_tokens"],
            r["output_tokens"],
            r["reasoning_tokens"],
        )
        for r in rows
    ] == [("llm", 321, 256, 12, 4)] * 2
    assert {r["model"] for r in rows} == {"gpt-4o-mini"}
