"""The MCP server through real `mcp` client sessions: `voicegw mcp` over stdio as a
subprocess, and over streamable HTTP on 127.0.0.1 with and without the bearer token.

Both transports run the same walkthrough, which calls every tool and provokes every
error code of the seed's Project Tools page, including the two-phase delete.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from typer.testing import CliRunner

from voicegw_cli import clock
from voicegw_cli import projects as P
from voicegw_cli.cli.app import app
from voicegw_cli.ingest import ingest_files
from voicegw_cli.spool import SpoolWriter
from voicegw_cli.store import Store

from .conftest import TEST_TZ, item
from .test_calls_store import _call as call_record
from .test_calls_store import _error as error_record
from .test_calls_store import _sample as latency_sample

VOICEGW = str(Path(sys.executable).with_name("voicegw"))
TOKEN = "test-token-0123456789abcdef0123456789"
RATE = Path(__file__).resolve().parent.parent / "fixtures" / "scenarios" / "rate"
TIMEOUT = 60  # seconds for a whole session; every await below is bounded by it

TOOLS = {
    "list_projects",
    "get_project",
    "create_project",
    "update_project",
    "delete_project",
    "get_costs",
    "get_logs",
    "get_budget_status",
    "reconcile_summary",
    "list_providers",
    "get_provider",
    "test_provider",
    "add_provider",
    "delete_provider",
    "list_models",
    "register_model",
    "delete_model",
    "get_calls",
    "get_latency_stats",
    "get_provider_status",
    "get_health",
}
MCP_KEY = "sk-mcp-SECRET-0123456789abcdef"
SUMMARY_FIELDS = {
    "id",
    "name",
    "description",
    "daily_budget",
    "budget_action",
    "budget_status",
    "today_spend",
    "today_requests",
    "today_calls",
    "tags",
    "default_stack",
    "source",
}
DETAIL_FIELDS = (SUMMARY_FIELDS - {"source", "today_calls"}) | {
    "week_spend",
    "week_requests",
    "stt_model",
    "llm_model",
    "tts_model",
    "source",
}
CREATED_FIELDS = {
    "project_id",
    "name",
    "description",
    "daily_budget",
    "budget_action",
    "default_stack",
    "stt_model",
    "llm_model",
    "tts_model",
    "tags",
    "source",
    "created",
    "created_at",
    "monthly_budget",
}


@pytest.fixture
def served(config):
    """A store with today's usage for `support` and a runtime project `spender` that has
    usage (so the delete preview has something to show)."""
    now = clock.now()
    with Store.open(config) as store:
        P.create_project(config, store.conn, "spender", name="Spender", daily_budget="1")
    w = SpoolWriter(config.spool_dir)
    call_start = now - timedelta(seconds=4)
    w.write(
        [
            call_record("call-1", call_start, 0.05, attributes={"customer": "acme"}),
            *(
                latency_sample(
                    "call-1",
                    n,
                    "tts_ttfb",
                    v,
                    call_start + timedelta(seconds=n),
                    provider="cartesia",
                    model="sonic-3",
                )
                for n, v in ((1, 0.1), (2, 0.3))
            ),
            error_record("err-1", "call-1", call_start + timedelta(seconds=1)),
        ]  # fmt: skip
    )
    w.write(
        [
            item(
                id="s1",
                session_id="call-1",
                timestamp=now - timedelta(seconds=3),
                cost_usd=Decimal("4"),
            ).to_record(),
            item(
                id="s2",
                session_id="call-1",
                timestamp=now - timedelta(seconds=2),
                cost_usd=Decimal("5"),
            ).to_record(),
            item(
                id="p1",
                project="spender",
                timestamp=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
                cost_usd=Decimal("2.5"),
            ).to_record(),
        ]
    )
    w.close()
    with Store.open(config) as store:  # a month that an Anthropic export disagrees with
        ingest_files(store, [RATE / "ours.csv"])
    exports = config.root / "anthropic-exports"
    exports.mkdir()
    for name in ("usage_report.json", "cost_report.json"):
        shutil.copy(RATE / name, exports / name)
    return config


def _env(config) -> dict[str, str]:
    return {
        "VOICEGW_LOCK_TIMEOUT": "20",
        "VOICEGW_CLOCK_OFFSET": os.environ["VOICEGW_CLOCK_OFFSET"],
        "TZ": os.environ.get("TZ", "UTC"),
        "XDG_CONFIG_HOME": str(config.root / "xdg"),
        "HOME": str(config.root),
    }


async def _call(client: Any, name: str, args: dict[str, Any] | None = None):
    result = await client.call_tool(name, args or {})
    return result.is_error, result.structured_content


def _code(payload: dict[str, Any]) -> str:
    return payload["error"]["code"]


async def walkthrough(client: Any, config) -> None:
    """Every tool, every project error code, the two-phase delete."""
    listed = await client.list_tools()
    tools = {t.name: t for t in listed.tools}
    assert set(tools) == TOOLS
    assert all(t.output_schema for t in tools.values())
    assert tools["delete_project"].annotations.destructive_hint is True
    assert tools["list_projects"].annotations.read_only_hint is True
    schema = tools["create_project"].input_schema
    assert schema["required"] == ["project_id", "name"]

    # list_projects
    err, out = await _call(client, "list_projects")
    assert not err and out["count"] == len(out["projects"]) == 4
    rows = {r["id"]: r for r in out["projects"]}
    assert all(set(r) == SUMMARY_FIELDS for r in rows.values())
    assert rows["support"]["today_spend"] == 9.0 and rows["support"]["today_requests"] == 2
    assert rows["support"]["budget_status"] == "warning"  # $9 of $10
    assert rows["support"]["source"] == "yaml" and rows["spender"]["source"] == "db"

    # get_project
    err, out = await _call(client, "get_project", {"project_id": "support"})
    assert not err and set(out) == DETAIL_FIELDS
    assert out["week_spend"] == 9.0 and out["tags"] == ["prod", "support"]
    err, out = await _call(client, "get_project", {"project_id": "suport"})
    assert err and _code(out) == "PROJECT_NOT_FOUND"
    assert out["error"]["details"]["suggestions"] == ["support"]

    # create_project and its errors
    err, out = await _call(
        client,
        "create_project",
        {
            "project_id": "tonys-pizza",
            "name": "Tony's Pizza",
            "description": "AI receptionist",
            "daily_budget": 5.0,
            "monthly_budget": 120.0,
            "budget_action": "throttle",
            "default_stack": "premium",
            "tags": ["production", "client-ian"],
        },
    )
    assert not err, out
    assert set(out) == CREATED_FIELDS and out["monthly_budget"] == 120.0
    assert out["created"] is True and out["source"] == "db" and out["default_stack"] == "premium"
    assert abs(out["created_at"] - clock.time()) < 120
    for args, code in [
        ({"project_id": "tonys-pizza", "name": "Again"}, "PROJECT_ALREADY_EXISTS"),
        ({"project_id": "support", "name": "YAML one"}, "PROJECT_ALREADY_EXISTS"),
        ({"project_id": "m", "name": "M", "llm_model": "nosuch/model-x"}, "MODEL_NOT_FOUND"),
        (
            {"project_id": "b", "name": "B", "default_stack": "premium", "stt_model": "x/y"},
            "VALIDATION_ERROR",
        ),
        ({"project_id": "s", "name": "S", "default_stack": "gold"}, "VALIDATION_ERROR"),
        ({"project_id": "n", "name": "N", "daily_budget": -1.0}, "VALIDATION_ERROR"),
        ({"project_id": "a", "name": "A", "budget_action": "explode"}, "VALIDATION_ERROR"),
    ]:
        err, out = await _call(client, "create_project", args)
        assert err and _code(out) == code, (args, out)
        assert out["error"]["message"]
    err, out = await _call(client, "get_project", {"project_id": "tonys-pizza"})
    assert not err and out["source"] == "db" and out["budget_action"] == "throttle"

    # update_project: a dry run, then the change; one model keeps the stack's others
    args = {"project_id": "tonys-pizza", "stt_model": "deepgram/nova-2", "dry_run": True}
    err, out = await _call(client, "update_project", args)
    assert not err and out["applied"] is False, out
    changes = {c["field"]: (c["old"], c["new"]) for c in out["changes"]}
    assert changes["stt_model"] == (None, "deepgram/nova-2")
    assert changes["llm_model"] == (None, "openai/gpt-4o-mini")  # kept from premium
    assert changes["default_stack"] == ("premium", None)
    err, out = await _call(client, "get_project", {"project_id": "tonys-pizza"})
    assert out["default_stack"] == "premium"  # the dry run wrote nothing
    args = {"project_id": "tonys-pizza", "stt_model": "deepgram/nova-2", "daily_budget": 7.5}
    err, out = await _call(client, "update_project", args)
    assert not err and out["applied"] is True
    err, out = await _call(client, "get_project", {"project_id": "tonys-pizza"})
    assert (out["stt_model"], out["llm_model"], out["tts_model"]) == (
        "deepgram/nova-2",
        "openai/gpt-4o-mini",
        "cartesia/sonic-3",
    )
    assert out["daily_budget"] == 7.5 and out["default_stack"] is None
    err, out = await _call(client, "update_project", {"project_id": "support", "name": "x"})
    assert err and _code(out) == "READ_ONLY_RESOURCE"

    # delete_project: errors, then preview, then confirm
    err, out = await _call(client, "delete_project", {"project_id": "support", "confirm": True})
    assert err and _code(out) == "READ_ONLY_RESOURCE"
    err, out = await _call(client, "delete_project", {"project_id": "ghost"})
    assert err and _code(out) == "PROJECT_NOT_FOUND"
    err, out = await _call(client, "delete_project", {"project_id": "spender"})
    assert err and _code(out) == "CONFIRMATION_REQUIRED"
    preview = out["error"]["details"]
    assert preview == {
        "project_id": "spender",
        "total_spend_usd": 2.5,
        "total_requests": 1,
        "last_activity": datetime(2026, 1, 5, 9, 30, tzinfo=UTC).timestamp(),
    }
    err, out = await _call(client, "get_project", {"project_id": "spender"})
    assert not err  # the preview deleted nothing
    err, out = await _call(client, "delete_project", {"project_id": "spender", "confirm": True})
    assert not err and out == {
        "action": "deleted",
        "project_id": "spender",
        "total_spend_usd": 2.5,
        "total_requests": 1,
    }
    err, out = await _call(client, "get_project", {"project_id": "spender"})
    assert err and _code(out) == "PROJECT_NOT_FOUND"
    assert "line item" in out["error"]["message"]  # its usage is still there

    # cost tools
    err, out = await _call(client, "get_costs", {"period": "today", "group_by": "project"})
    assert not err and out["total_cost_usd"] == 9.0 and out["items"] == 2
    assert out["period"]["timezone"] == TEST_TZ and out["rows"][0]["group"] == "support"
    err, out = await _call(
        client, "get_costs", {"start": "2026-01-01", "end": "2026-01-31", "project": "spender"}
    )
    assert not err and out["total_cost_usd"] == 2.5  # a deleted project's spend stays
    err, out = await _call(client, "get_costs", {"period": "fortnight"})
    assert err and _code(out) == "VALIDATION_ERROR"
    err, out = await _call(client, "get_costs", {"project": "ghost"})
    assert err and _code(out) == "PROJECT_NOT_FOUND"
    err, out = await _call(client, "get_logs", {"limit": 2})
    assert not err and out["count"] == 2
    assert out["items"][0]["id"] == "s2" and out["items"][0]["cost_usd"] == 5.0
    assert out["items"][0]["timestamp"].endswith("+00:00")
    err, out = await _call(client, "get_logs", {"project": "spender"})
    assert not err and [i["id"] for i in out["items"]] == ["p1"]
    # calls, latency, providers, health
    err, out = await _call(client, "get_calls", {})
    assert not err and out["calls"] == 1 and out["total_cost_usd"] == 9.0
    row = out["rows"][0]
    assert (row["session_id"], row["cost_usd"], row["attributes"]) == (
        "call-1",
        9.0,
        {"customer": "acme"},
    )
    assert row["started_at"].endswith("+00:00")
    err, out = await _call(client, "get_calls", {"group_by": "customer"})
    assert not err and [(r["group"], r["calls"]) for r in out["rows"]] == [("acme", 1)]
    err, out = await _call(client, "get_calls", {"group_by": "tier"})
    assert err and _code(out) == "VALIDATION_ERROR" and "customer" in out["error"]["message"]
    err, out = await _call(client, "get_calls", {"session_id": "call-1"})
    assert not err and [i["id"] for i in out["line_items"]] == ["s1", "s2"]
    assert [t["tts_ttfb_ms"] for t in out["turns_detail"]] == [100.0, 300.0]
    err, out = await _call(client, "get_calls", {"session_id": "ghost"})
    assert err and _code(out) == "NOT_FOUND"
    err, out = await _call(client, "get_latency_stats", {"metrics": ["tts_ttfb"]})
    assert not err and out["unit"] == "ms"
    assert [(r["metric"], r["group"], r["count"], r["p50_ms"], r["max_ms"]) for r in
            out["rows"]] == [("tts_ttfb", "cartesia/sonic-3", 2, 200.0, 300.0)]  # fmt: skip
    err, out = await _call(client, "get_latency_stats", {"metrics": ["speed"]})
    assert err and _code(out) == "VALIDATION_ERROR"
    err, out = await _call(client, "get_provider_status", {"hours": 1})
    assert not err
    status = {p["provider"]: p for p in out["providers"]}
    assert status["openai"]["errors"] == 1 and status["openai"]["requests"] == 2
    assert status["openai"]["error_rate"] == round(1 / 3, 4)
    assert status["openai"]["status"] == "degraded"
    assert status["cartesia"]["latency"]["tts_ttfb"]["p95_ms"] == 290.0
    err, out = await _call(client, "get_health")
    assert not err and out["calls"] == 1 and out["latency_samples"] == 2 and out["errors"] == 1
    assert out["status"] in ("ok", "warning") and isinstance(out["problems"], list)
    assert out["newest_calls"].endswith("+00:00")

    err, out = await _call(client, "get_budget_status", {"project": "support"})
    assert not err
    day = next(b for b in out["budgets"] if b["period"] == "day")
    assert day["spend_usd"] == 9.0 and day["budget_usd"] == 10.0 and day["status"] == "warning"
    err, out = await _call(client, "get_budget_status", {"project": "ghost"})
    assert err and _code(out) == "PROJECT_NOT_FOUND"
    month = {"start": "2025-11-01", "end": "2025-11-30"}
    err, out = await _call(
        client,
        "reconcile_summary",
        {"provider": "anthropic", "provider_usage_file": "anthropic-exports", **month},
    )
    assert not err, out
    assert out["provider"] == "anthropic" and out["period"]["timezone"] == "UTC"
    assert out["flagged_count"] == 1 and len(out["files"]) == 2
    row = out["rows"][0]
    assert (row["model"], row["cause"], row["flagged"]) == ("claude-haiku-4-5", "rate", True)
    assert row["ours_units"] == row["provider_units"] and row["cost_diff_usd"] < 0
    for args, code in [
        ({"provider_usage_file": str(config.root / "missing.csv"), **month}, "INPUT_ERROR"),
        (
            {"provider": "openai", "provider_usage_file": "anthropic-exports", **month},
            "INPUT_ERROR",
        ),
        (
            {
                "provider_usage_file": "anthropic-exports",
                "start": "2025-11-30",
                "end": "2025-11-01",
            },
            "VALIDATION_ERROR",
        ),
        (
            {"provider_usage_file": "anthropic-exports", "start": "Nov", "end": "2025-11-30"},
            "VALIDATION_ERROR",
        ),
        (
            {"provider_usage_file": "anthropic-exports", "project": "ghost", **month},
            "PROJECT_NOT_FOUND",
        ),
    ]:
        err, out = await _call(client, "reconcile_summary", {"provider": "anthropic", **args})
        assert err and _code(out) == code, (args, out)

    await gateway_walkthrough(client, tools)


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def gateway_walkthrough(client: Any, tools: dict[str, Any]) -> None:
    """The provider and model tools, their error codes, both two-phase deletes, and a key
    sent over MCP that never comes back."""
    seen: list[Any] = []

    async def call(name: str, args: dict[str, Any] | None = None):
        err, out = await _call(client, name, args)
        seen.append(out)
        return err, out

    assert tools["delete_provider"].annotations.destructive_hint is True
    assert tools["delete_model"].annotations.destructive_hint is True
    assert tools["list_providers"].annotations.read_only_hint is True
    err, out = await call("list_providers")
    assert not err and out["count"] == len(out["providers"]) >= 9
    rows = {r["provider_id"]: r for r in out["providers"]}
    assert rows["deepgram"]["source"] == "builtin" and rows["deepgram"]["key_source"] == "missing"
    err, out = await call("get_provider", {"provider_id": "deepgram"})
    assert not err and "deepgram/nova-3" in out["models"] and out["model_count"] >= 2
    assert "stacks.premium.stt" in out["referenced_by"]
    err, out = await call("get_provider", {"provider_id": "deepgarm"})
    assert err and _code(out) == "PROVIDER_NOT_FOUND"

    url = f"http://127.0.0.1:{_dead_port()}/v1"
    args = {"provider_id": "lab", "provider_type": "openai", "base_url": url, "api_key": MCP_KEY}
    err, out = await call("add_provider", args)
    assert not err, out
    assert out["created"] is True and out["source"] == "db" and out["key_stored"] is True
    assert out["key_source"] == "provider_store" and abs(out["created_at"] - clock.time()) < 120
    for bad, code in [
        (args, "PROVIDER_ALREADY_EXISTS"),
        ({"provider_id": "mystery"}, "VALIDATION_ERROR"),
        (
            {"provider_id": "x", "provider_type": "openai", "base_url": "ftp://x"},
            "VALIDATION_ERROR",
        ),
    ]:
        err, out = await call("add_provider", bad)
        assert err and _code(out) == code, (bad, out)
    err, out = await call("list_providers")
    lab = next(r for r in out["providers"] if r["provider_id"] == "lab")
    assert lab["source"] == "db" and lab["api_key_masked"] == "sk-…cdef"

    err, out = await call("test_provider", {"provider_id": "lab", "model": "llama-3"})
    assert not err and out["status"] == "ok" and out["constructed"] is True
    assert out["plugin"] == "livekit.plugins.openai.llm.LLM" and out["live"] is False
    err, out = await call("test_provider", {"provider_id": "lab", "live": True})
    assert not err and out["status"] == "failed" and "cannot connect" in out["error"]
    err, out = await call("test_provider", {"provider_id": "deepgram"})
    assert not err and out["status"] == "failed" and "no Deepgram API key" in out["error"]
    err, out = await call("test_provider", {"provider_id": "ghost"})
    assert err and _code(out) == "PROVIDER_NOT_FOUND"

    err, out = await call("register_model", {"model_id": "lab/llama-3", "modality": "llm"})
    assert not err and out["created"] is True and out["source"] == "db"
    for bad, code in [
        ({"model_id": "lab/llama-3", "modality": "llm"}, "MODEL_ALREADY_EXISTS"),
        ({"model_id": "ghost/x", "modality": "llm"}, "PROVIDER_NOT_FOUND"),
        ({"model_id": "lab/x", "modality": "video"}, "VALIDATION_ERROR"),
        ({"model_id": "llama", "modality": "llm"}, "VALIDATION_ERROR"),
    ]:
        err, out = await call("register_model", bad)
        assert err and _code(out) == code, (bad, out)
    err, out = await call("list_models", {"source": "db"})
    assert not err and [m["model_id"] for m in out["models"]] == ["lab/llama-3"]
    err, out = await call("list_models", {"provider_id": "deepgram", "modality": "stt"})
    nova = next(m for m in out["models"] if m["model_id"] == "deepgram/nova-3")
    assert nova["source"] == "builtin" and nova["pricing"].startswith("catalog@")
    err, out = await call("delete_model", {"model_id": "deepgram/nova-3", "confirm": True})
    assert err and _code(out) == "READ_ONLY_RESOURCE"
    err, out = await call("delete_model", {"model_id": "nope/x"})
    assert err and _code(out) == "MODEL_NOT_FOUND"
    err, out = await call("delete_model", {"model_id": "lab/llama-3"})
    assert err and _code(out) == "CONFIRMATION_REQUIRED"
    assert out["error"]["details"]["model_id"] == "lab/llama-3"
    err, out = await call("delete_model", {"model_id": "lab/llama-3", "confirm": True})
    assert not err and out == {
        "action": "deleted",
        "model_id": "lab/llama-3",
        "modality": "llm",
        "provider_id": "lab",
    }

    err, out = await call("delete_provider", {"provider_id": "openai", "confirm": True})
    assert err and _code(out) == "READ_ONLY_RESOURCE"
    err, out = await call("delete_provider", {"provider_id": "lab"})
    assert err and _code(out) == "CONFIRMATION_REQUIRED"
    assert out["error"]["details"]["key_stored"] is True
    err, out = await call("get_provider", {"provider_id": "lab"})
    assert not err  # the preview deleted nothing
    err, out = await call("delete_provider", {"provider_id": "lab", "confirm": True})
    assert not err and out["action"] == "deleted" and out["key_stored"] is True
    err, out = await call("get_provider", {"provider_id": "lab"})
    assert err and _code(out) == "PROVIDER_NOT_FOUND"
    assert MCP_KEY not in json.dumps(seen) and "0123456789abcdef" not in json.dumps(seen)


def _audit_actors(config) -> set[str]:
    with Store.open(config) as store:
        return {e["actor"].split(":")[0] for e in P.audit_entries(store.conn, limit=100)}


# ------------------------------------------------------------------ stdio


def test_stdio_session_calls_every_tool(served) -> None:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(
        command=VOICEGW,
        args=["--config", str(served.path), "mcp"],
        cwd=str(served.root),
        env=_env(served),
    )

    async def main() -> None:
        with anyio.fail_after(TIMEOUT):
            async with Client(params) as client:
                await walkthrough(client, served)

    anyio.run(main)
    assert "mcp-stdio" in _audit_actors(served)


def test_stdio_refuses_a_broken_config(tmp_path) -> None:
    bad = tmp_path / "voicegw.yaml"
    bad.write_text("projects: [1, 2\n")
    res = subprocess.run(
        [VOICEGW, "--config", str(bad), "mcp"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 3 and "invalid YAML" in res.stderr


# ------------------------------------------------------------------ HTTP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def http_server(served) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, **_env(served), "VOICEGW_MCP_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [VOICEGW, "--config", str(served.path), "mcp", "--transport", "http", "--port", str(port)],
        cwd=served.root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("the HTTP server did not start within 30s")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _post_initialize(url: str, headers: dict[str, str]) -> Any:
    import httpx2

    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"},
        },
    }
    return httpx2.post(
        url,
        json=body,
        headers={"Accept": "application/json, text/event-stream", **headers},
        timeout=10,
    )


def test_http_answers_401_without_the_token(http_server) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-0123456789abcdef"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": "Bearer"},
    ):
        res = _post_initialize(http_server, headers)
        assert res.status_code == 401, headers
        assert res.headers["www-authenticate"].startswith("Bearer")
        assert res.json()["error"]["code"] == "UNAUTHORIZED"
    ok = _post_initialize(http_server, {"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def test_http_client_without_token_cannot_connect(http_server) -> None:
    from mcp import Client, MCPError

    async def main() -> None:
        with anyio.fail_after(TIMEOUT):
            async with Client(http_server) as client:
                await client.list_tools()

    with pytest.raises(BaseException) as err:  # noqa: B017 - the SDK raises an exception group
        anyio.run(main)
    assert any(isinstance(e, MCPError) for e in _leaves(err.value)), repr(err.value)


def test_http_session_with_token_calls_every_tool(http_server, served) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def main() -> None:
        with anyio.fail_after(TIMEOUT):
            async with httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
            ) as http:
                async with Client(streamable_http_client(http_server, http_client=http)) as c:
                    await walkthrough(c, served)

    anyio.run(main)
    assert "mcp-http" in _audit_actors(served)


@pytest.mark.parametrize("token,text", [(None, "needs a bearer token"), ("short", "too short")])
def test_http_refuses_to_start_without_a_good_token(config, monkeypatch, token, text) -> None:
    if token:
        monkeypatch.setenv("VOICEGW_MCP_TOKEN", token)
    res = CliRunner().invoke(
        app, ["--config", str(config.path), "mcp", "--transport", "http", "--port", "1"]
    )
    assert res.exit_code == 2 and text in res.output


def test_bearer_check_is_constant_time() -> None:
    import inspect

    from voicegw_cli.mcp_server import BearerAuth

    assert "hmac.compare_digest" in inspect.getsource(BearerAuth._authorized)
