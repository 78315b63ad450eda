"""Objects from `voicegw.stack()` / `*_with_fallback()` in real AgentSessions: usage lands
under the project they were built for (no `project=` on track) and under the model that
really served it - through LiveKit's FallbackAdapter too, with a real failover against a
local OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from decimal import Decimal
from typing import Any

import pytest

import voicegw_cli.livekit as vg
from voicegw_cli import projects as P
from voicegw_cli.gateway import built_info
from voicegw_cli.store import Store

from .test_hook_helpers import (
    emit,
    hook_state,  # noqa: F401 - fixture
    llm_metric,
    new_session,
    run,
    started,
    store_rows,
    stt_metric,
    tts_metric,
)

pytestmark = pytest.mark.usefixtures("hook_state")

YAML = """\
timezone: UTC
default_project: support
projects:
  support:
    name: Support
    stt_model: deepgram/nova-3
    llm_model: openai/gpt-4o-mini
    tts_model: cartesia/sonic-3:voice-a
    providers:
      deepgram: {api_key: support-deepgram}
      openai: {api_key: support-openai}
      cartesia: {api_key: support-cartesia}
  sales: {name: Sales}
stacks:
  premium: {stt: deepgram/nova-3, llm: openai/gpt-4o-mini, tts: cartesia/sonic-3}
hook:
  flush_interval_seconds: 30
"""


def _by_modality(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["modality"]: r for r in rows}


def _emit_turn(stt: Any, llm: Any, tts: Any) -> None:
    emit(stt, stt_metric(stt, request_id="s1", audio=30.0))
    emit(llm, llm_metric(llm, request_id="l1", prompt=1000, completion=50))
    emit(tts, tts_metric(tts, request_id="t1", chars=120, audio=4.0))


def test_stack_of_a_runtime_project_lands_under_it(write_config) -> None:
    """A runtime project with stored keys and a default stack: an agent builds it with
    stack(project=...), tracks the session with no project, inside another project's
    context - every line item is the runtime project's, per model, priced."""
    cfg = write_config(YAML)
    with Store.open(cfg) as store:
        P.create_project(cfg, store.conn, "tenant", name="Tenant", default_stack="premium")
        for provider in ("deepgram", "openai", "cartesia"):
            P.set_provider_key(cfg, store.conn, "tenant", provider, f"tenant-{provider}-0001")
    vg.configure(cfg)

    async def main() -> None:
        vg.set_project("sales")  # the context says sales; the models say tenant
        stt, llm, tts = vg.stack(project="tenant")
        assert built_info(llm).key_source == "project_store"
        session = new_session(stt, llm, tts)
        tracker = vg.track(session)
        assert tracker.project == "tenant"
        async with started(session):
            _emit_turn(stt, llm, tts)
        await vg.aflush()

    run(main())
    rows = _by_modality(store_rows(cfg))
    assert {m: (r["project"], r["provider"], r["model"]) for m, r in rows.items()} == {
        "stt": ("tenant", "deepgram", "nova-3"),
        "llm": ("tenant", "openai", "gpt-4o-mini"),
        "tts": ("tenant", "cartesia", "sonic-3"),
    }
    assert rows["stt"]["audio_seconds"] == 30.0 and rows["tts"]["characters"] == 120
    assert (rows["llm"]["input_tokens"], rows["llm"]["output_tokens"]) == (1000, 50)
    assert all(r["pricing_source"] != "unpriced" and r["cost_usd"] > 0 for r in rows.values())


def test_explicit_models_of_a_yaml_project_and_explicit_track_project(write_config) -> None:
    cfg = write_config(YAML)
    vg.configure(cfg)

    async def main() -> None:
        stt, llm, tts = vg.stack()  # default_project: support, its explicit models
        assert [built_info(o).key_source for o in (stt, llm, tts)] == ["project_yaml"] * 3
        s1 = new_session(stt, llm, tts)
        vg.track(s1)
        stt2, llm2, tts2 = vg.stack("premium", project="support")
        s2 = new_session(stt2, llm2, tts2)
        vg.track(s2, project="sales")  # an explicit project still wins
        async with started(s1), started(s2):
            _emit_turn(stt, llm, tts)
            _emit_turn(stt2, llm2, tts2)
        await vg.aflush()

    run(main())
    rows = store_rows(cfg)
    assert sorted({(r["project"], r["modality"]) for r in rows}) == [
        ("sales", "llm"),
        ("sales", "stt"),
        ("sales", "tts"),
        ("support", "llm"),
        ("support", "stt"),
        ("support", "tts"),
    ]


def test_custom_base_url_keeps_the_provider_on_line_items(write_config) -> None:
    """OpenAI through a proxy: LiveKit reports the proxy's host; the line item still says
    openai, so genai-prices prices it."""
    cfg = write_config(
        YAML + "providers:\n  openai: {api_key: k, base_url: 'http://llm-proxy.internal:8080/v1'}\n"
    )
    vg.configure(cfg)

    async def main() -> None:
        llm = vg.llm("openai/gpt-4o-mini", project="sales")
        assert llm.provider == "llm-proxy.internal:8080"
        session = new_session(llm=llm)
        vg.track(session)
        async with started(session):
            emit(llm, llm_metric(llm, request_id="r", prompt=1000, completion=10))
        await vg.aflush()

    run(main())
    [row] = store_rows(cfg)
    assert (row["project"], row["provider"], row["model"]) == ("sales", "openai", "gpt-4o-mini")
    assert row["pricing_source"].startswith("genai-prices@")
    assert json.loads(row["metadata"])["lk_provider"] == "llm-proxy.internal:8080"


# ------------------------------------------------------------------ FallbackAdapter


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _openai_compatible_server(port: int, seen: list[dict[str, Any]]) -> Any:
    """A minimal OpenAI chat-completions endpoint that streams one reply with usage."""
    from aiohttp import web

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        seen.append({"model": body["model"], "auth": request.headers.get("Authorization")})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        def chunk(**kw: Any) -> bytes:
            data = {"id": "c1", "object": "chat.completion.chunk", "created": 1, **kw}
            return f"data: {json.dumps({'model': body['model'], **data})}\n\n".encode()

        delta = {"role": "assistant", "content": "Hello there"}
        await resp.write(chunk(choices=[{"index": 0, "delta": delta, "finish_reason": None}]))
        await resp.write(chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]))
        usage = {"prompt_tokens": 21, "completion_tokens": 3, "total_tokens": 24}
        await resp.write(chunk(choices=[], usage=usage))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def test_runtime_failover_is_billed_to_the_model_that_served(write_config) -> None:
    """openai (unreachable) then `lab` (a local server): LiveKit's FallbackAdapter fails
    over for real; session_usage_updated reports the lab model, and so does the line
    item, under the project the adapter was built for."""
    port, dead = _free_port(), _free_port()
    cfg = write_config(
        f"""\
timezone: UTC
projects:
  support: {{name: Support}}
  sales: {{name: Sales}}
providers:
  openai: {{api_key: sk-unused, base_url: "http://127.0.0.1:{dead}/v1"}}
  lab: {{type: openai, base_url: "http://127.0.0.1:{port}/v1", api_key: lab-key}}
models:
  lab/llama-test:
    modality: llm
    price: {{input_per_mtok: "1", output_per_mtok: "2"}}
fallbacks:
  llm: [openai/gpt-4o-mini, lab/llama-test]
hook:
  flush_interval_seconds: 30
"""
    )
    vg.configure(cfg)
    seen: list[dict[str, Any]] = []
    reported: list[list[tuple[str, str, str]]] = []

    async def main() -> None:
        from livekit.agents import Agent, AgentSession
        from livekit.agents import llm as lk_llm

        runner = await _openai_compatible_server(port, seen)
        try:
            vg.set_project("sales")
            llm = vg.llm_with_fallback(
                project="support", runtime=True, max_retry_per_llm=0, attempt_timeout=5
            )
            assert isinstance(llm, lk_llm.FallbackAdapter)
            session = AgentSession(llm=llm, session_close_transcript_timeout=0.05)
            session.on(
                "session_usage_updated",
                lambda ev: reported.append(
                    [(u.type, u.provider, u.model) for u in ev.usage.model_usage]
                ),
            )
            vg.track(session)
            await session.start(Agent(instructions="Be brief."), record=False)
            await session.generate_reply(user_input="hi")
            await session.aclose()
            await vg.aflush()
        finally:
            await runner.cleanup()

    run(main())
    assert seen == [{"model": "llama-test", "auth": "Bearer lab-key"}]
    assert reported and all(
        entry == [("llm_usage", f"127.0.0.1:{port}", "llama-test")] for entry in reported
    )
    [row] = store_rows(cfg)
    assert (row["project"], row["provider"], row["model"]) == ("support", "lab", "llama-test")
    assert (row["input_tokens"], row["output_tokens"]) == (21, 3)
    assert (row["cost_usd"], row["pricing_source"]) == (Decimal("0.0000270000"), "override")


def test_stt_and_tts_adapters_bill_the_instance_that_reported(write_config, monkeypatch) -> None:
    monkeypatch.setenv("DEEPGRAM_API_KEY", "d")
    monkeypatch.setenv("ASSEMBLYAI_API_KEY", "a")
    monkeypatch.setenv("CARTESIA_API_KEY", "c")
    cfg = write_config(
        YAML
        + "fallbacks:\n"
        + "  stt: [deepgram/nova-3, assemblyai/universal-streaming]\n"
        + "  tts: [cartesia/sonic-3, deepgram/aura-2]\n"
    )
    vg.configure(cfg)

    async def main() -> None:
        stt = vg.stt_with_fallback(project="sales", runtime=True)
        tts = vg.tts_with_fallback(project="sales", runtime=True)
        session = new_session(stt=stt, tts=tts)
        vg.track(session)
        second_stt = stt._stt_instances[1]
        second_tts = tts._tts_instances[1]
        async with started(session):
            # what a failed-over request reports: the backup instance's own metric
            emit(second_stt, stt_metric(second_stt, request_id="s", audio=12.0))
            emit(second_tts, tts_metric(second_tts, request_id="t", chars=40, audio=2.0))
        await vg.aflush()

    run(main())
    rows = _by_modality(store_rows(cfg))
    assert (rows["stt"]["project"], rows["stt"]["provider"], rows["stt"]["model"]) == (
        "sales",
        "assemblyai",
        "universal-streaming",
    )
    assert (rows["tts"]["provider"], rows["tts"]["model"]) == ("deepgram", "aura-2-thalia-en")
    assert rows["tts"]["pricing_source"].startswith("catalog@")


def test_batch_stt_behind_a_stream_adapter_keeps_its_project(write_config) -> None:
    from livekit.agents import inference
    from livekit.agents import stt as lk_stt

    cfg = write_config(YAML)
    vg.configure(cfg)

    async def main() -> None:
        whisper = vg.stt("openai/whisper-1", project="sales", api_key="k")
        session = new_session(stt=lk_stt.StreamAdapter(stt=whisper, vad=inference.VAD()))
        assert vg.track(session).project == "sales"  # not default_project (support)
        async with started(session):
            batch = stt_metric(whisper, request_id="b", audio=60.0)
            emit(whisper, batch.model_copy(update={"streamed": False}))
        await vg.aflush()

    run(main())
    [row] = store_rows(cfg)
    assert (row["project"], row["provider"], row["model"]) == ("sales", "openai", "whisper-1")
    assert json.loads(row["metadata"])["streamed"] is False
