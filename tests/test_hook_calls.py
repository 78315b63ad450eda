"""Call records, per-turn latency and provider errors from real AgentSessions.

The pipeline tests drive LiveKit's own turn machinery (VAD on recorded speech, the
Deepgram/OpenAI plugins against providers on 127.0.0.1 that wait as long as each turn says;
see `tests/voice_pipeline.py`), so every figure checked here is one LiveKit measured.
"""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal

import pytest
from typer.testing import CliRunner

import voicegw_cli.livekit as vg
from voicegw_cli.cli.app import app

from .test_hook_helpers import (
    agent,
    emit,
    hook_state,  # noqa: F401 - fixture
    llm_metric,
    new_session,
    plugins,
    run,
    started,
)
from .voice_pipeline import Providers, Turn, build_pipeline, quantile_cont

pytestmark = pytest.mark.usefixtures("hook_state")

YAML = """\
timezone: {tz}
default_project: support
projects:
  support: {{name: Support Bot}}
  sales: {{name: Sales Bot}}
hook:
  flush_interval_seconds: 30
"""

#: metric -> (chat role, MetricsReport key): what the hook must copy, value for value.
EXPECTED_KEYS = {
    "transcription_delay": ("user", "transcription_delay"),
    "end_of_turn_delay": ("user", "end_of_turn_delay"),
    "llm_ttft": ("assistant", "llm_node_ttft"),
    "tts_ttfb": ("assistant", "tts_node_ttfb"),
    "e2e_latency": ("assistant", "e2e_latency"),
}


@pytest.fixture
def cfg(write_config):
    from .conftest import TEST_TZ

    return write_config(YAML.format(tz=TEST_TZ))


def _rows(cfg, sql: str, params=None) -> list[dict]:
    from voicegw_cli.store import Store

    with Store.open(cfg) as store:
        cur = store.conn.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _cli(cfg, *args: str) -> str:
    res = CliRunner().invoke(app, ["--config", str(cfg.path), *args])
    assert res.exit_code == 0, res.output
    return res.output


def _expected_samples(messages: list) -> list[tuple[int, str, float]]:
    """(turn, metric, seconds) as LiveKit put them on the chat messages."""
    out, turn = [], 0
    for msg in messages:
        if msg.role == "user":
            turn += 1
        for metric, (role, key) in EXPECTED_KEYS.items():
            value = msg.metrics.get(key)
            if msg.role == role and value is not None and value >= 0:
                out.append((turn, metric, value))
    return sorted(out)


async def _drive(pipe, turns: list[Turn]) -> list:
    from livekit.agents import Agent

    await pipe.session.start(Agent(instructions="You take restaurant bookings."), record=False)
    await asyncio.sleep(0.3)
    return [await pipe.turn(t) for t in turns]


# ------------------------------------------------------------------ one real call

TURNS = [
    Turn(stt=0.05, llm=0.10, tts=0.05),
    Turn(stt=0.25, llm=0.30, tts=0.15),
    Turn(stt=0.45, llm=0.50, tts=0.25, llm_failures=1),
    Turn(stt=0.65, llm=0.70, tts=0.35),
]


def test_real_session_latency_call_record_and_errors(cfg) -> None:
    from livekit.agents import utils

    state: dict = {}

    async def main() -> None:
        providers = Providers()
        base = await providers.start()
        try:
            async with utils.http_context.open():
                pipe = build_pipeline(base, providers)
                tracker = vg.track(
                    pipe.session, config=cfg, attributes={"customer": "acme", "plan": "pro"}
                )
                t0 = time.time()
                state["replies"] = await _drive(pipe, TURNS)
                tracker.set_attributes(outcome="booked")  # known only late in the call
                state["session_id"] = tracker.session_id
                await pipe.session.aclose()
                state["wall"] = time.time() - t0
                state["usage"] = pipe.session.usage.model_usage
                state["messages"] = pipe.messages
                state["providers"] = providers
            await vg.aflush()
        finally:
            await providers.stop()

    run(main())
    sid = state["session_id"]
    samples = _rows(
        cfg,
        "SELECT turn, metric, seconds, provider, model, project, agent FROM latency_samples"
        " WHERE session_id = ? ORDER BY turn, metric",
        [sid],
    )

    # Every value LiveKit measured, exactly once, under the right turn.
    got = sorted((r["turn"], r["metric"], r["seconds"]) for r in samples)
    assert got == _expected_samples(state["messages"])
    assert {r["metric"] for r in samples} == set(EXPECTED_KEYS)
    assert {(r["turn"]) for r in samples} == {1, 2, 3, 4}
    assert {(r["project"], r["agent"]) for r in samples} == {("support", "default_agent")}

    # ...each with the model that produced it.
    models = {r["metric"]: (r["provider"], r["model"]) for r in samples}
    assert models["llm_ttft"][1] == models["e2e_latency"][1] == "gpt-4o-mini"
    assert models["tts_ttfb"][1] == "tts-1"
    assert models["transcription_delay"] == ("deepgram", "nova-3")
    assert models["end_of_turn_delay"] == ("livekit", "vad")

    # The timings the providers were told to take show through.
    by = {(r["turn"], r["metric"]): r["seconds"] for r in samples}
    for n, t in enumerate(TURNS, start=1):
        assert t.llm <= by[n, "llm_ttft"] < t.llm + 1.0
        assert t.tts <= by[n, "tts_ttfb"] < t.tts + 1.0
        assert t.stt - 0.2 <= by[n, "transcription_delay"] < t.stt + 1.0
        assert by[n, "e2e_latency"] >= by[n, "llm_ttft"] + by[n, "tts_ttfb"]
        assert by[n, "e2e_latency"] >= by[n, "end_of_turn_delay"] > 0.15  # min_delay 0.2 s
    # The slowest LLM configured is the slowest measured.
    assert max(range(1, 5), key=lambda n: by[n, "llm_ttft"]) == 4

    # Percentiles: DuckDB's quantile_cont over the raw samples, in ms.
    report = json.loads(_cli(cfg, "latency", "--period", "today", "--by", "model", "-f", "json"))
    assert report["unit"] == "ms"
    rows = {(r["metric"], r["model"]): r for r in report["rows"]}
    assert len(rows) == 5
    for metric in EXPECTED_KEYS:
        values = [r["seconds"] for r in samples if r["metric"] == metric]
        provider, model = models[metric]
        row = rows[metric, f"{provider}/{model}"]
        assert row["count"] == len(values) == 4
        for q, key in ((0.5, "p50_ms"), (0.9, "p90_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")):
            assert row[key] == pytest.approx(round(quantile_cont(values, q) * 1000, 1), abs=0.051)
        assert row["max_ms"] == round(max(values) * 1000, 1)
    only = json.loads(
        _cli(cfg, "latency", "--period", "today", "--metric", "tts_ttfb", "--by", "project",
             "-f", "json")
    )  # fmt: skip
    assert [(r["metric"], r["project"], r["count"]) for r in only["rows"]] == [
        ("tts_ttfb", "support", 4)
    ]

    # One call record, closed by us, with LiveKit's own totals.
    (call,) = _rows(cfg, "SELECT * FROM calls")
    assert call["session_id"] == sid and call["project"] == "support"
    assert call["end_reason"] == "user_initiated" and call["error"] is None
    assert call["turns"] == 4
    assert json.loads(call["agents"]) == ["default_agent"]
    attributes = {"customer": "acme", "plan": "pro", "outcome": "booked"}
    assert json.loads(call["attributes"]) == attributes
    assert 0 < call["duration_seconds"] <= state["wall"] + 1.0
    assert call["duration_seconds"] == pytest.approx(
        (call["ended_at"] - call["started_at"]).total_seconds(), abs=0.002
    )
    lk = {u["type"]: u for u in json.loads(call["lk_usage"])}
    usage = {u.type: u for u in state["usage"]}
    assert lk["llm_usage"]["input_tokens"] == usage["llm_usage"].input_tokens == 4 * 120
    assert lk["stt_usage"]["audio_duration"] == pytest.approx(usage["stt_usage"].audio_duration)
    items = _rows(cfg, "SELECT * FROM line_items WHERE session_id = ?", [sid])
    assert sum(r["input_tokens"] for r in items if r["modality"] == "llm") == 4 * 120

    # The LLM's HTTP 500: one error event, recoverable (LiveKit retried and answered).
    (err,) = _rows(cfg, "SELECT * FROM session_errors")
    assert state["providers"].llm_errors == 1
    assert (err["session_id"], err["source"], err["error_type"], err["recoverable"]) == (
        sid,
        "llm",
        "llm_error",
        True,
    )
    assert err["model"] == "gpt-4o-mini" and err["provider"] == models["llm_ttft"][0]

    # `calls show` has it turn by turn; `calls` ranks it with its attributes.
    detail = json.loads(_cli(cfg, "calls", "show", sid, "-f", "json"))
    assert [t["turn"] for t in detail["turns_detail"]] == [1, 2, 3, 4]
    assert detail["turns_detail"][3]["llm_ttft_ms"] == round(by[4, "llm_ttft"] * 1000, 1)
    assert len(detail["errors"]) == 1 and len(detail["line_items"]) == len(items)
    listed = json.loads(_cli(cfg, "calls", "-f", "json"))
    assert [r["session_id"] for r in listed["rows"]] == [sid]
    assert listed["rows"][0]["attributes"]["customer"] == "acme"
    table = _cli(cfg, "calls", "show", sid)
    assert "Latency by turn" in table and "Errors LiveKit reported" in table

    from voicegw_cli.config import load_config
    from voicegw_cli.latency import provider_status
    from voicegw_cli.store import Store

    with Store.open(load_config(cfg.path)) as store:
        status = {p["provider"]: p for p in provider_status(store)["providers"]}
    llm_side = status[models["llm_ttft"][0]]
    assert llm_side["errors"] == 1
    assert llm_side["error_rate"] == round(1 / (llm_side["requests"] + 1), 4)
    assert llm_side["latency"]["llm_ttft"]["count"] == 4


# ------------------------------------------------------------------ two calls at once


def test_two_concurrent_sessions_keep_their_calls_apart(cfg) -> None:
    from livekit.agents import utils

    fast = [Turn(stt=0.05, llm=0.05, tts=0.05)] * 3
    slow = [Turn(stt=0.05, llm=0.60, tts=0.30)] * 2
    state: dict = {}

    async def one(name: str, project: str, customer: str, turns: list[Turn]) -> None:
        providers = Providers()
        base = await providers.start()
        try:
            pipe = build_pipeline(base, providers)
            tracker = vg.track(pipe.session, project, config=cfg, attributes={"customer": customer})
            await _drive(pipe, turns)
            await pipe.session.aclose()
            state[name] = (tracker.session_id, pipe.messages)
        finally:
            await providers.stop()

    async def main() -> None:
        async with utils.http_context.open():
            await asyncio.gather(
                one("a", "support", "acme", fast), one("b", "sales", "globex", slow)
            )
        await vg.aflush()

    run(main())
    (sid_a, msgs_a), (sid_b, msgs_b) = state["a"], state["b"]
    assert sid_a != sid_b
    calls = {c["session_id"]: c for c in _rows(cfg, "SELECT * FROM calls")}
    assert set(calls) == {sid_a, sid_b}
    assert (calls[sid_a]["project"], calls[sid_a]["turns"]) == ("support", 3)
    assert (calls[sid_b]["project"], calls[sid_b]["turns"]) == ("sales", 2)
    assert json.loads(calls[sid_a]["attributes"]) == {"customer": "acme"}
    assert json.loads(calls[sid_b]["attributes"]) == {"customer": "globex"}
    for sid, msgs, project in ((sid_a, msgs_a, "support"), (sid_b, msgs_b, "sales")):
        samples = _rows(
            cfg, "SELECT turn, metric, seconds, project FROM latency_samples WHERE session_id = ?",
            [sid],
        )  # fmt: skip
        assert sorted((r["turn"], r["metric"], r["seconds"]) for r in samples) == (
            _expected_samples(msgs)
        )
        assert {r["project"] for r in samples} == {project}
        llm_items = _rows(
            cfg, "SELECT project FROM line_items WHERE session_id = ? AND modality = 'llm'", [sid]
        )
        assert [r["project"] for r in llm_items] == [project] * len(
            [m for m in msgs if m.role == "assistant"]
        )
    ttft = {
        sid: [r["seconds"] for r in _rows(
            cfg, "SELECT seconds FROM latency_samples WHERE session_id = ? AND metric = 'llm_ttft'",
            [sid])]
        for sid in (sid_a, sid_b)
    }  # fmt: skip
    assert max(ttft[sid_a]) < 0.55 <= min(ttft[sid_b])
    grouped = json.loads(_cli(cfg, "calls", "--by", "customer", "-f", "json"))
    assert sorted((r["group"], r["calls"]) for r in grouped["rows"]) == [
        ("acme", 1),
        ("globex", 1),
    ]


# ------------------------------------------------------------------ who called, from where


def _sip_participant(number: str = "+15551234567"):
    from livekit import rtc
    from livekit.rtc._proto import handle_pb2, participant_pb2

    return rtc.RemoteParticipant(
        participant_pb2.OwnedParticipant(
            handle=handle_pb2.FfiOwnedHandle(id=0),
            info=participant_pb2.ParticipantInfo(
                sid="PA_caller",
                identity=f"sip_{number}",
                name="Caller",
                kind=rtc.ParticipantKind.PARTICIPANT_KIND_SIP,
                attributes={"sip.phoneNumber": number, "sip.trunkPhoneNumber": "+15550000000"},
            ),
        )
    )


@pytest.mark.parametrize("mask", [True, False])
def test_call_record_names_job_room_and_masked_caller(write_config, mask: bool) -> None:
    """A real JobContext (LiveKit's `fake_job_context`) and a real SIP participant."""
    from livekit import rtc
    from livekit.agents.testing import fake_job_context

    from .conftest import TEST_TZ

    cfg = write_config(
        YAML.format(tz=TEST_TZ) + f"  mask_caller_number: {'true' if mask else 'false'}\n"
    )

    async def main() -> None:
        with fake_job_context(room=rtc.Room(), job_id="AJ_test_job"):
            stt, llm, tts = plugins()
            session = new_session(stt, llm, tts)
            tracker = vg.track(session, config=cfg, participant=_sip_participant())
            assert vg.track(session, config=cfg, attributes={"plan": "pro"}) is tracker
            async with started(session):
                emit(llm, llm_metric(llm, request_id="r", prompt=10, completion=2))
        await vg.aflush()

    run(main())
    (call,) = _rows(cfg, "SELECT * FROM calls")
    assert (call["job_id"], call["room"]) == ("AJ_test_job", "fake-room")
    assert call["participant_kind"] == "sip"
    if mask:
        assert call["caller_number"] == "+1******4567"
        assert call["participant_identity"] == "sip_+1******4567"
    else:
        assert call["caller_number"] == "+15551234567"
        assert call["participant_identity"] == "sip_+15551234567"
    assert json.loads(call["attributes"]) == {"plan": "pro"}
    (item,) = _rows(cfg, "SELECT session_id, project FROM line_items")
    assert item["session_id"] == call["session_id"]
    raw = b"".join(p.read_bytes() for p in cfg.spool_dir.glob("*.ndjson"))
    assert (b"5551234567" in raw) is (not mask)  # a masked number never reaches the disk


def test_mask_phone() -> None:
    from voicegw_cli.hook.calls import mask_phone

    assert mask_phone("+15551234567") == "+1******4567"
    assert mask_phone("sip_+44 20 7946 0958") == "sip_+4* ** **** 0958"
    assert mask_phone("agent-7") == "agent-7"  # short runs of digits are not numbers
    assert mask_phone(None) is None


def test_restart_and_no_turns(cfg) -> None:
    """A session started twice is two calls; a call with no user turn still has a record
    (and the greeting-only assistant message, if any, is turn 0)."""

    async def main() -> None:
        stt, llm, tts = plugins()
        session = new_session(stt, llm, tts)
        vg.track(session, config=cfg, attributes={"customer": "acme"})
        async with started(session):
            emit(llm, llm_metric(llm, request_id="r1", prompt=100, completion=10))
        async with started(session, agent()):
            pass
        await vg.aflush()

    run(main())
    calls = _rows(cfg, "SELECT * FROM calls ORDER BY started_at")
    assert len(calls) == 2 and calls[0]["session_id"] != calls[1]["session_id"]
    assert [c["turns"] for c in calls] == [0, 0]
    (item,) = _rows(cfg, "SELECT session_id FROM line_items")
    assert item["session_id"] == calls[0]["session_id"]
    listed = json.loads(_cli(cfg, "calls", "-f", "json"))
    assert listed["calls"] == 2 and listed["total_cost_usd"] == str(
        _rows(cfg, "SELECT sum(cost_usd) AS c FROM line_items")[0]["c"] or Decimal(0)
    )


def test_track_after_start_records_turns_already_taken(cfg) -> None:
    """The history LiveKit kept before `track` was called is recorded once."""
    from livekit.agents import llm as lk_llm

    async def main() -> str:
        stt, llm, tts = plugins()
        session = new_session(stt, llm, tts)
        async with started(session):
            user = lk_llm.ChatMessage(role="user", content=["hi"])
            user.metrics = {"transcription_delay": 0.12, "end_of_turn_delay": 0.5}
            reply = lk_llm.ChatMessage(role="assistant", content=["hello"])
            reply.metrics = {
                "llm_node_ttft": 0.3,
                "e2e_latency": 0.9,
                "llm_metadata": {"model_name": "gpt-4o-mini", "model_provider": "api.openai.com"},
            }
            session.history.insert([user, reply])
            tracker = vg.track(session, config=cfg)
            vg.track(session, config=cfg)  # twice: still once
            sid = tracker.session_id  # this run's id (the next start gets a new one)
        await vg.aflush()
        return sid

    sid = run(main())
    rows = _rows(
        cfg,
        "SELECT turn, metric, seconds, provider, model FROM latency_samples"
        " WHERE session_id = ? ORDER BY metric",
        [sid],
    )
    assert [(r["turn"], r["metric"], r["seconds"]) for r in rows] == [
        (1, "e2e_latency", 0.9),
        (1, "end_of_turn_delay", 0.5),
        (1, "llm_ttft", 0.3),
        (1, "transcription_delay", 0.12),
    ]
    assert {(r["provider"], r["model"]) for r in rows if r["metric"] == "llm_ttft"} == {
        ("openai", "gpt-4o-mini")
    }
