"""Shared fixtures: every test gets its own directory, config and store file."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from voicegw_cli.config import Config, load_config
from voicegw_cli.items import LineItem

BASIC_YAML = """\
timezone: UTC
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
  premium: {stt: deepgram/nova-3, llm: openai/gpt-4o-mini, tts: cartesia/sonic-3}
"""


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
    def _write(text: str = BASIC_YAML, name: str = "voicegw.yaml") -> Config:
        path = tmp_path / name
        path.write_text(text)
        return load_config(path)

    return _write


@pytest.fixture
def config(write_config: Callable[[str], Config]) -> Config:
    return write_config(BASIC_YAML)


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
