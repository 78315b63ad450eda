"""voicegw.yaml lookup, interpolation, validation and active-project resolution."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from voicegw_cli.config import (
    current_project,
    find_config_path,
    load_config,
    resolve_project,
    set_project,
)
from voicegw_cli.errors import ConfigError

from .conftest import BASIC_YAML


def test_basic_fields_and_relative_paths(tmp_path: Path, write_config) -> None:
    cfg = write_config(BASIC_YAML + "storage:\n  store: data/x.duckdb\n")
    assert cfg.path == (tmp_path / "voicegw.yaml").resolve()
    assert cfg.store_path == tmp_path / "data" / "x.duckdb"
    assert cfg.spool_dir == tmp_path / ".voicegw" / "spool"
    sales = cfg.projects["sales"]
    assert sales.daily_budget == Decimal("1") and sales.budget_action == "block"
    assert sales.tags == ["staging"] and sales.source == "yaml"
    assert "default" in cfg.projects
    assert cfg.stacks["premium"]["llm"] == "openai/gpt-4o-mini"


def test_lookup_order(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "xdg" / "voicegw").mkdir(parents=True)
    user = tmp_path / "xdg" / "voicegw" / "voicegw.yaml"
    user.write_text("timezone: Europe/Paris\n")
    assert find_config_path() == user.resolve()
    local = tmp_path / "voicegw.yaml"
    local.write_text("timezone: Asia/Tokyo\n")
    assert find_config_path() == local.resolve()
    env = tmp_path / "env.yaml"
    env.write_text("timezone: America/Chicago\n")
    monkeypatch.setenv("VOICEGW_CONFIG", str(env))
    assert load_config().timezone == "America/Chicago"
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text("timezone: UTC\n")
    assert load_config(explicit).timezone == "UTC"


def test_no_file_gives_builtin_defaults(tmp_path: Path) -> None:
    cfg = load_config()
    assert cfg.path is None and cfg.timezone == "UTC"
    assert cfg.store_path == tmp_path / ".voicegw" / "usage.duckdb"
    assert list(cfg.projects) == ["default"]


def test_interpolation_and_missing(monkeypatch, write_config) -> None:
    monkeypatch.setenv("SUPPORT_OPENAI_KEY", "sk-live-123")
    monkeypatch.setenv("TZ_NAME", "Europe/Berlin")
    cfg = write_config(
        """
timezone: ${TZ_NAME}
projects:
  support:
    name: ${SUPPORT_NAME:-Support Bot}
    providers:
      openai: {api_key: "${SUPPORT_OPENAI_KEY}"}
      deepgram: {api_key: "${SUPPORT_DEEPGRAM_KEY}"}
"""
    )
    assert cfg.timezone == "Europe/Berlin"
    assert cfg.projects["support"].name == "Support Bot"
    assert cfg.projects["support"].providers["openai"]["api_key"] == "sk-live-123"
    assert cfg.projects["support"].providers["deepgram"]["api_key"] is None
    assert cfg.missing == ["projects.support.providers.deepgram.api_key"]


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("projects:\n  a: {daily_budget: 5}\n", "projects.a.name: is required"),
        ("projects:\n  a: {name: A, daily_budget: -1}\n", "projects.a.daily_budget: must be >= 0"),
        (
            "projects:\n  a: {name: A, budget_action: explode}\n",
            "projects.a.budget_action: must be one of warn, throttle, block",
        ),
        (
            "projects:\n  a: {name: A, default_stack: nope}\n",
            "projects.a.default_stack: stack 'nope' is not in stacks",
        ),
        ("timezone: Mars/Olympus\n", "timezone: unknown IANA time zone"),
        ("default_project: ghost\n", "default_project: no project 'ghost'"),
        ("projets: {}\n", "projets: unknown key (did you mean 'projects'?)"),
        ("projects:\n  a: {name: A, tgas: [x]}\n", "projects.a.tgas: unknown key"),
        ("projects: [1, 2]\n", "projects: must be a mapping"),
        ("timezone: [UTC\n", "invalid YAML"),
    ],
)
def test_validation_names_file_key_and_problem(tmp_path: Path, yaml_text, expected) -> None:
    path = tmp_path / "voicegw.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)
    assert err.value.exit_code == 3


def test_explicit_missing_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_resolution_order(monkeypatch, config) -> None:
    assert resolve_project(config=config) == "support"  # default_project
    monkeypatch.setenv("VOICEGW_ACTIVE_PROJECT", "sales")
    assert resolve_project(config=config) == "sales"
    token = set_project("ctx")
    try:
        assert resolve_project(config=config) == "ctx"
        assert resolve_project("explicit", config=config) == "explicit"
    finally:
        from voicegw_cli.config import reset_project

        reset_project(token)
    monkeypatch.delenv("VOICEGW_ACTIVE_PROJECT")
    assert resolve_project() == "default"


def test_set_project_is_context_local_across_tasks() -> None:
    seen: dict[str, list[str | None]] = {"a": [], "b": []}

    async def job(name: str, project: str, barrier: asyncio.Barrier) -> None:
        set_project(project)
        await barrier.wait()  # both tasks have set theirs before either reads
        for _ in range(3):
            seen[name].append(current_project())
            await asyncio.sleep(0)

    async def main() -> None:
        barrier = asyncio.Barrier(2)
        await asyncio.gather(job("a", "alpha", barrier), job("b", "beta", barrier))
        assert current_project() is None  # the parent context never saw either

    asyncio.run(main())
    assert seen == {"a": ["alpha"] * 3, "b": ["beta"] * 3}


def test_repository_example_config_loads() -> None:
    example = Path(__file__).resolve().parent.parent / "voicegw.yaml"
    cfg = load_config(example)
    assert cfg.timezone == "America/New_York"
    assert cfg.projects["customer-support"].fallback_stack == "economy"
    assert "projects.customer-support.providers.deepgram.api_key" in cfg.missing
