"""The budget guard in agent processes: warn, throttle, block, day rollover in a non-UTC
zone, refresh, fail open/closed, the job-request hook, and calls already in progress."""

from __future__ import annotations

import asyncio
import logging
import pickle
from datetime import UTC, datetime
from decimal import Decimal

import pytest

import voicegw_cli.livekit as vg
from voicegw_cli import clock
from voicegw_cli.budget import BudgetGuard, BudgetUnavailableError
from voicegw_cli.errors import BudgetExceededError
from voicegw_cli.spool import SpoolWriter
from voicegw_cli.store.snapshot import snapshot_path

from .conftest import item
from .test_hook_helpers import (
    emit,
    hook_state,  # noqa: F401 - fixture
    llm_metric,
    new_session,
    plugins,
    run,
    started,
    store_rows,
)

GUARD_YAML = """\
timezone: Asia/Tokyo
projects:
  support: {name: Support, daily_budget: 10, budget_action: warn}
  sales: {name: Sales, daily_budget: 1, budget_action: block}
  lab: {name: Lab, daily_budget: 2, monthly_budget: 5, budget_action: throttle,
        fallback_stack: local}
  bare: {name: Bare, daily_budget: 2, budget_action: throttle}
stacks:
  local: {stt: whisper/local, llm: ollama/llama3, tts: piper/local}
budgets:
  throttle_delay_seconds: 1.5
  refresh_seconds: 60
{extra}
"""

# 2026-11-10 23:30 in Tokyo (UTC+9) is 14:30 UTC; Tokyo's midnight is 15:00 UTC.
LATE_EVENING = datetime(2026, 11, 10, 14, 30, tzinfo=UTC)
AFTER_MIDNIGHT = datetime(2026, 11, 10, 15, 5, tzinfo=UTC)


@pytest.fixture
def cfg(write_config):
    return write_config(GUARD_YAML.replace("{extra}", ""))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def spend(cfg, project: str, cost: str, when: datetime = LATE_EVENING) -> None:
    w = SpoolWriter(cfg.spool_dir)
    w.write([item(project=project, cost_usd=Decimal(cost), timestamp=when).to_record()])
    w.close()


def guard(cfg, now: datetime = LATE_EVENING) -> tuple[BudgetGuard, Clock, Sleeps]:
    clock, sleeps = Clock(now), Sleeps()
    return BudgetGuard(cfg, clock=clock, sleep=sleeps), clock, sleeps


def test_warn_logs_once_per_project_per_day_and_at_80(cfg, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="voicegw.budget")
    g, clock, sleeps = guard(cfg)
    spend(cfg, "support", "8.00")
    for _ in range(3):
        a = run(g.admit("support"))
        assert a.action == "allow" and a.statuses[0].status == "warning"
    spend(cfg, "support", "2.50")
    g.invalidate()
    for _ in range(3):
        a = run(g.admit("support"))
        assert a.action == "warn" and a.delay_seconds == 0  # calls continue
    msgs = [r.getMessage() for r in caplog.records]
    assert len([m for m in msgs if "80.0% of its daily budget" in m]) == 1
    assert len([m for m in msgs if "over its daily budget" in m]) == 1
    # A new local day warns again.
    spend(cfg, "support", "10.50", AFTER_MIDNIGHT)
    clock.now = AFTER_MIDNIGHT
    g.invalidate()
    run(g.admit("support"))
    assert len([r for r in caplog.records if "over its daily budget" in r.getMessage()]) == 2
    assert sleeps.calls == []


def test_throttle_delays_and_returns_fallback_stack(cfg) -> None:
    g, _, sleeps = guard(cfg)
    assert run(g.admit("lab")).action == "allow"
    spend(cfg, "lab", "2.00")
    spend(cfg, "bare", "3.00")
    g.invalidate()
    a = run(g.admit("lab"))
    assert (a.action, a.delay_seconds, a.fallback_stack) == ("throttle", 1.5, "local")
    assert a.fallback == {"stt": "whisper/local", "llm": "ollama/llama3", "tts": "piper/local"}
    b = run(g.admit("bare"))  # throttled without a fallback: same stack, just slower
    assert (b.action, b.fallback) == ("throttle", None)
    assert sleeps.calls == [1.5, 1.5]


def test_throttle_really_waits(cfg) -> None:
    cfg.budgets.throttle_delay_seconds = 0.2
    spend(cfg, "lab", "5.00")
    g = BudgetGuard(cfg, clock=Clock(LATE_EVENING))

    async def timed() -> float:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await g.admit("lab")
        return loop.time() - t0

    assert run(timed()) >= 0.2


def test_block_refuses_until_the_local_day_resets(cfg) -> None:
    spend(cfg, "sales", "0.60")
    g, clock, _ = guard(cfg)
    assert run(g.admit("sales")).action == "allow"
    spend(cfg, "sales", "0.40")
    g.invalidate()
    with pytest.raises(BudgetExceededError) as err:
        run(g.admit("sales"))
    assert (err.value.project, err.value.spent, err.value.budget) == (
        "sales",
        Decimal("1.0000000000"),
        Decimal(1),
    )
    with pytest.raises(BudgetExceededError):
        g.check("sales")  # the synchronous form agrees
    assert run(g.admit("support")).action == "allow"  # other projects unaffected
    # 35 minutes later it is tomorrow in Tokyo (still the same day in UTC): open again.
    clock.now = AFTER_MIDNIGHT
    a = run(g.admit("sales"))
    assert a.action == "allow" and a.statuses[0].start.isoformat() == "2026-11-11"


def test_monthly_budget_acts_too(cfg) -> None:
    for day in range(1, 4):  # $1.80 a day: under the $2 daily, $5.40 > $5 monthly
        spend(cfg, "lab", "1.80", datetime(2026, 11, day, 3, tzinfo=UTC))
    g, _, _ = guard(cfg, datetime(2026, 11, 3, 4, tzinfo=UTC))
    a = run(g.admit("lab"))
    day_st, month_st = a.statuses
    assert (day_st.status, month_st.status, a.action) == ("warning", "exceeded", "throttle")


def test_spend_is_cached_for_refresh_seconds(cfg) -> None:
    cfg.budgets.refresh_seconds = 0.3
    g, _, _ = guard(cfg)
    assert run(g.admit("sales")).action == "allow"
    spend(cfg, "sales", "5.00")
    assert run(g.admit("sales")).action == "allow"  # cached
    run(asyncio.sleep(0.35))
    with pytest.raises(BudgetExceededError):
        run(g.admit("sales"))


def test_unreadable_spend_fails_open_by_default(cfg, caplog) -> None:
    caplog.set_level(logging.ERROR, logger="voicegw.budget")
    spend(cfg, "sales", "5.00")
    p = snapshot_path(cfg)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("garbage")
    g, _, _ = guard(cfg)
    a = run(g.admit("sales"))
    assert (a.action, a.spend_known) == ("allow", False)
    assert any("cannot read spend" in r.getMessage() for r in caplog.records)


def test_unreadable_spend_fails_closed_when_configured(write_config) -> None:
    cfg = write_config(GUARD_YAML.replace("{extra}", "  fail_closed: true"))
    p = snapshot_path(cfg)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("garbage")
    g, _, _ = guard(cfg)
    with pytest.raises(BudgetUnavailableError, match="fail_closed"):
        run(g.admit("support"))


def test_admit_resolves_the_project_like_the_hook(cfg, monkeypatch) -> None:
    spend(cfg, "sales", "2.00")
    g, _, _ = guard(cfg)
    monkeypatch.setenv("VOICEGW_ACTIVE_PROJECT", "sales")
    with pytest.raises(BudgetExceededError):
        run(g.admit())

    async def in_job() -> str:
        vg.set_project("support")
        return (await g.admit()).project

    assert run(in_job()) == "support"


# ------------------------------------------------------------------ the LiveKit job hook


def _job_request(room: str, outcome: list[str]):
    from livekit.agents import JobRequest
    from livekit.protocol import agent, models

    async def on_reject(terminate: bool) -> None:
        outcome.append("rejected")

    async def on_accept(args) -> None:
        outcome.append(f"accepted:{args.identity}")

    job = agent.Job(id=f"job-{room}", room=models.Room(name=room))
    return JobRequest(job=job, on_reject=on_reject, on_accept=on_accept)


def project_from_room(req) -> str:
    return req.room.name.split("-")[0]


@pytest.mark.usefixtures("hook_state")
def test_job_request_filter_rejects_blocked_projects(cfg) -> None:
    spend(cfg, "sales", "3.00", clock.now())
    vg.configure(cfg)
    request_fnc = vg.job_request_filter(project_from_room)
    pickle.loads(pickle.dumps(request_fnc))  # LiveKit pickles server options
    outcome: list[str] = []
    run(request_fnc(_job_request("sales-call-1", outcome)))
    run(request_fnc(_job_request("support-call-2", outcome)))
    assert outcome == ["rejected", "accepted:agent-job-support-call-2"]

    async def project_async(req) -> str:
        return "sales"

    outcome.clear()
    run(vg.job_request_filter(project_async)(_job_request("x", outcome)))
    assert outcome == ["rejected"]


@pytest.mark.usefixtures("hook_state")
def test_block_refuses_new_sessions_while_running_calls_finish(write_config) -> None:
    """The guard stops new sessions; a call already admitted keeps being recorded."""
    cfg = write_config(
        GUARD_YAML.replace("{extra}", "hook: {flush_interval_seconds: 0.05}").replace(
            "refresh_seconds: 60", "refresh_seconds: 0.05"
        )
    )
    vg.configure(cfg)
    g = vg.budget_guard()
    from voicegw_cli.items import LineItem  # noqa: F401 - imported for clarity of units

    async def main() -> list[str]:
        events = []
        await g.admit("sales")
        stt, llm, tts = plugins()
        session = new_session(stt, llm, tts)
        vg.track(session, "sales")
        async with started(session):
            # The running call spends past the $1 budget (gpt-4o-mini: 10M tokens).
            emit(llm, llm_metric(llm, request_id="big", prompt=10_000_000, completion=10))
            await vg.aflush()
            await asyncio.sleep(0.1)
            try:
                await g.admit("sales")
                events.append("second session admitted")
            except BudgetExceededError:
                events.append("second session refused")
            emit(llm, llm_metric(llm, request_id="after", prompt=1000, completion=10))
        await vg.aflush()
        return events

    assert run(main()) == ["second session refused"]
    rows = store_rows(cfg)
    assert [r["input_tokens"] for r in rows] == [10_000_000, 1000]


def test_runtime_project_budget_is_enforced_by_the_guard(tmp_path) -> None:
    """A project created at runtime (stored in DuckDB) is blocked like a YAML one."""
    from decimal import Decimal

    import pytest

    from voicegw_cli.budget import BudgetGuard
    from voicegw_cli.config import load_config
    from voicegw_cli.errors import BudgetExceededError
    from voicegw_cli.items import LineItem
    from voicegw_cli.projects import create_project
    from voicegw_cli.spool import SpoolWriter
    from voicegw_cli.store import Store

    path = tmp_path / "rt.yaml"
    path.write_text("timezone: UTC\n")
    cfg = load_config(path)
    with Store.open(cfg) as store:
        create_project(
            cfg,
            store.conn,
            "hotline",
            name="Hotline",
            daily_budget=Decimal("1"),
            budget_action="block",
        )
    w = SpoolWriter(cfg.spool_dir)
    w.write(
        [
            LineItem(
                timestamp=clock.now(),
                project="hotline",
                modality="llm",
                provider="openai",
                model="gpt-4o-mini",
                cost_usd=Decimal("1.5"),
                pricing_source="test",
            ).to_record()
        ]
    )
    w.close()
    guard = BudgetGuard(cfg)
    with pytest.raises(BudgetExceededError, match="over its daily budget"):
        guard.check("hotline")
