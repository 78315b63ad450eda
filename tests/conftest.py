"""Shared fixtures: every test gets its own directory, config and store file, and runs at
one pinned instant on the library's clock.

No test may read the wall clock for a date. Every test starts at the same instant `NOW`
(the real time when the session began, unless `--now` or $VOICEGW_TEST_NOW pins it) on
`voicegw_cli.clock`, and child processes get the same clock through
$VOICEGW_CLOCK_OFFSET. `--tz` (or $VOICEGW_TEST_TZ) sets the zone of the shared test
config and the process's TZ, so the suite can be run where naive code breaks:

    pytest --now 2026-12-01T00:30:00+05:30 --tz Asia/Kolkata
    pytest --now 2026-10-31T23:30:00-07:00 --tz America/Los_Angeles
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from voicegw_cli import clock
from voicegw_cli.config import Config, load_config
from voicegw_cli.items import LineItem

#: The instant every test starts at; the zone of the shared config. Set in pytest_configure.
NOW: datetime = datetime.now(UTC)
TEST_TZ: str = "UTC"

BASIC_YAML_TEMPLATE = """\
timezone: {tz}
default_project: support
projects:
  support:
    name: Support Bot
    daily_budget: 10
    budget_action: warn
    tags: [prod, support]
  sales:
    name: Sales Bot
    daily_budget: 1
    budget_action: block
    tags: [staging]
stacks:
  premium: {{stt: deepgram/nova-3, llm: openai/gpt-4o-mini, tts: cartesia/sonic-3}}
"""
BASIC_YAML = BASIC_YAML_TEMPLATE.format(tz=TEST_TZ)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("voicegw")
    group.addoption(
        "--now",
        default=os.environ.get("VOICEGW_TEST_NOW"),
        help="ISO instant every test starts at (default: when the session began), "
        "e.g. 2026-12-01T00:30:00+05:30",
    )
    group.addoption(
        "--tz",
        default=os.environ.get("VOICEGW_TEST_TZ"),
        help="time zone of the shared test config and of the process (default UTC)",
    )


def pytest_configure(config: pytest.Config) -> None:
    global NOW, TEST_TZ, BASIC_YAML
    text = config.getoption("--now")
    if text:
        when = datetime.fromisoformat(text)
        NOW = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    else:  # the real time, kept clear of the minutes around a midnight (tests write usage
        # "a few seconds ago" and read "today"; --now is how a boundary is tested on purpose)
        for zone in ("UTC", config.getoption("--tz") or "UTC"):
            local = NOW.astimezone(ZoneInfo(zone))
            since_midnight = local - local.replace(hour=0, minute=0, second=0, microsecond=0)
            if since_midnight < timedelta(minutes=5) or since_midnight > timedelta(hours=23.9):
                NOW += timedelta(minutes=15)
    TEST_TZ = config.getoption("--tz") or "UTC"
    BASIC_YAML = BASIC_YAML_TEMPLATE.format(tz=TEST_TZ)
    os.environ["TZ"] = TEST_TZ
    time.tzset()


def pytest_report_header(config: pytest.Config) -> str:
    return f"voicegw clock: tests start at {NOW.isoformat()}; shared config zone {TEST_TZ}"


@pytest.fixture(autouse=True)
def _pinned_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[datetime]:
    """Every test starts at NOW; time runs on from there, the same in child processes."""
    clock.set_now(NOW)
    monkeypatch.setenv("VOICEGW_CLOCK_OFFSET", repr(clock.offset_seconds()))
    monkeypatch.delenv("VOICEGW_NOW", raising=False)
    yield NOW
    clock.set_now(None)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in (
        "VOICEGW_CONFIG",
        "VOICEGW_ACTIVE_PROJECT",
        "VOICEGW_SECRET_KEY",
        "VOICEGW_MCP_TOKEN",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("VOICEGW_LOCK_TIMEOUT", os.environ.get("VOICEGW_TEST_LOCK_TIMEOUT", "10"))


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Config]:
    def _write(text: str | None = None, name: str = "voicegw.yaml") -> Config:
        path = tmp_path / name
        path.write_text(BASIC_YAML if text is None else text)
        return load_config(path)

    return _write


@pytest.fixture
def config(write_config: Callable[[str], Config]) -> Config:
    return write_config()


def item(**kw) -> LineItem:
    """A line item with sensible defaults for tests."""
    base = dict(
        timestamp=datetime(2026, 11, 10, 12, 0, tzinfo=UTC),
        project="support",
        modality="llm",
        provider="openai",
        model="gpt-4o-mini",
        input_tokens=1000,
        output_tokens=100,
        cost_usd=Decimal("0.00021"),
        pricing_source="genai-prices@test",
    )
    base.update(kw)
    return LineItem(**base)
