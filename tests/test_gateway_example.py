"""examples/stack_agent.py: built only with voicegw.stack(), wired to voicegw, and its
sessions' usage lands under the right project (default, runtime, throttled)."""

from __future__ import annotations

import ast
import importlib.util
import sys
from decimal import Decimal
from pathlib import Path

import pytest

import voicegw_cli.livekit as vg
from voicegw_cli import clock
from voicegw_cli import projects as P
from voicegw_cli.spool import SpoolWriter
from voicegw_cli.store import Store

from .conftest import item
from .test_hook_helpers import (
    emit,
    hook_state,  # noqa: F401 - fixture
    llm_metric,
    run,
    started,
    store_rows,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "stack_agent.py"

YAML = """\
timezone: UTC
default_project: support
projects:
  support:
    name: Support line
    default_stack: premium
    daily_budget: 1
    budget_action: throttle
    fallback_stack: economy
    providers:
      openai: {api_key: support-openai-key}
stacks:
  premium: {stt: deepgram/nova-3, llm: openai/gpt-4o-mini, tts: cartesia/sonic-3}
  economy: {stt: deepgram/nova-3, llm: groq/llama-3.1-8b-instant, tts: deepgram/aura-2}
budgets: {throttle_delay_seconds: 0, refresh_seconds: 0.001}
hook: {flush_interval_seconds: 30}
"""


@pytest.fixture
def example():
    spec = importlib.util.spec_from_file_location("stack_agent_example", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop(spec.name, None)


def test_example_uses_no_plugin_directly(example) -> None:
    tree = ast.parse(EXAMPLE.read_text())
    imported = {
        n.module if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }
    assert not any(m and m.startswith("livekit.plugins") for m in imported), imported
    assert "voicegw.stack(" in EXAMPLE.read_text()
    assert example.server.setup_fnc is vg.prewarm
    assert example.project_for('{"project": "acme"}') == "acme"
    assert example.project_for(None) is None and example.project_for("not json") is None


@pytest.mark.usefixtures("hook_state")
def test_example_sessions_land_under_their_projects(example, write_config, monkeypatch) -> None:
    for var, value in (
        ("DEEPGRAM_API_KEY", "dg"),
        ("CARTESIA_API_KEY", "ca"),
        ("GROQ_API_KEY", "gq"),
    ):
        monkeypatch.setenv(var, value)
    cfg = write_config(YAML)
    with Store.open(cfg) as store:
        P.create_project(cfg, store.conn, "acme", name="Acme", default_stack="premium")
        P.set_provider_key(cfg, store.conn, "acme", "openai", "acme-openai-key")
    vg.configure(cfg)
    vg.prewarm()

    async def one_call(project: str | None, spent: bool = False) -> tuple[str, str]:
        if spent:  # support is over its $1 budget: throttle hands back the economy stack
            w = SpoolWriter(cfg.spool_dir)
            w.write(
                [item(project="support", cost_usd=Decimal(2), timestamp=clock.now()).to_record()]
            )
            w.close()
        session = await example.build_session(project)
        session._opts.session_close_transcript_timeout = 0.05
        vg.track(session)
        async with started(session):
            emit(session.llm, llm_metric(session.llm, request_id="r", prompt=100, completion=5))
        await vg.aflush()
        return session.llm.model, session.llm._client.api_key

    async def main() -> list[tuple[str, str]]:
        import asyncio

        results = []
        for project, spent in ((None, False), ("acme", False), (None, True)):
            # each job runs in its own context, as LiveKit runs each job in its own task
            results.append(await asyncio.create_task(one_call(project, spent)))
        return results

    assert run(main()) == [
        ("gpt-4o-mini", "support-openai-key"),
        ("gpt-4o-mini", "acme-openai-key"),
        ("llama-3.1-8b-instant", "gq"),
    ]
    rows = store_rows(cfg, "modality = 'llm' AND session_id IS NOT NULL")
    assert [(r["project"], r["provider"], r["model"]) for r in rows] == [
        ("support", "openai", "gpt-4o-mini"),
        ("acme", "openai", "gpt-4o-mini"),
        ("support", "groq", "llama-3.1-8b-instant"),
    ]
