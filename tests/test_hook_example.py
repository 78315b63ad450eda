"""examples/livekit_agent.py: imports, is wired to voicegw, and its pieces work."""

from __future__ import annotations

import importlib.util
import pickle
import sys
from decimal import Decimal
from pathlib import Path

import pytest

import voicegw_cli.livekit as vg
from voicegw_cli import clock
from voicegw_cli.spool import SpoolWriter

from .conftest import item
from .test_hook_helpers import emit, hook_state, llm_metric, run, started, store_rows  # noqa: F401

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "livekit_agent.py"


@pytest.fixture
def example():
    spec = importlib.util.spec_from_file_location("livekit_agent_example", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # LiveKit pickles the request hook by module name
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop(spec.name, None)


def test_example_is_wired(example) -> None:
    assert example.server.setup_fnc is vg.prewarm
    hook = example.server._request_fnc
    assert isinstance(hook, vg.JobRequestFilter)
    assert hook.project_of is example.project_of_request
    pickle.loads(pickle.dumps(hook))
    assert example.project_for("sales-42", None) == "sales"
    assert example.project_for("room", '{"project": "support"}') == "support"


@pytest.mark.usefixtures("hook_state")
def test_example_request_hook_and_fallback_pipeline(example, write_config, monkeypatch) -> None:
    from livekit.agents import JobRequest
    from livekit.protocol import agent, models

    cfg = write_config(
        "projects:\n"
        "  sales: {name: Sales, daily_budget: 1, budget_action: block}\n"
        "  support: {name: Support, daily_budget: 1, budget_action: throttle,"
        " fallback_stack: economy}\n"
        "stacks:\n"
        "  economy: {stt: deepgram/nova-3, llm: openai/gpt-4.1-nano, tts: cartesia/sonic-3}\n"
        "budgets: {throttle_delay_seconds: 0}\n"
    )
    vg.configure(cfg)
    w = SpoolWriter(cfg.spool_dir)
    for project in ("sales", "support"):
        w.write([item(project=project, cost_usd=Decimal(2), timestamp=clock.now()).to_record()])
    w.close()

    outcome: list[str] = []

    async def on_reject(terminate: bool) -> None:
        outcome.append("rejected")

    async def on_accept(args) -> None:
        outcome.append("accepted")

    for room in ("sales-1", "support-1"):
        req = JobRequest(
            job=agent.Job(id=room, room=models.Room(name=room)),
            on_reject=on_reject,
            on_accept=on_accept,
        )
        run(example.server._request_fnc(req))
    assert outcome == ["rejected", "accepted"]

    # Throttled: the guard hands back the economy stack and the example builds it with
    # LiveKit Inference; usage is billed to provider `livekit`, model visible.
    monkeypatch.setenv("LIVEKIT_API_KEY", "k" * 32)
    monkeypatch.setenv("LIVEKIT_API_SECRET", "s" * 32)

    async def main() -> None:
        vg.set_project("support")
        admission = await vg.budget_guard().admit()
        assert admission.throttled and admission.fallback_stack == "economy"
        session = example.build_session(admission.fallback)
        session._opts.session_close_transcript_timeout = 0.05
        vg.track(session, agent="receptionist")
        async with started(session):
            emit(session.llm, llm_metric(session.llm, request_id="r", prompt=10, completion=2))
        await vg.aflush()

    run(main())
    rows = store_rows(cfg, "session_id IS NOT NULL AND modality = 'llm'")
    assert [(r["provider"], r["model"], r["project"], r["agent"]) for r in rows] == [
        ("livekit", "openai/gpt-4.1-nano", "support", "receptionist")
    ]
