"""`voicegw providers ...`, `voicegw models ...`, and key sources in `voicegw status` and
`voicegw project X`, through Typer's CliRunner on a real store; `providers test --live`
against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from voicegw_cli import projects as P
from voicegw_cli.cli.app import app
from voicegw_cli.store import Store

runner = CliRunner()
KEY = "sk-cli-SECRET-0123456789abcdef"

YAML = """\
timezone: UTC
projects:
  support:
    name: Support
    default_stack: premium
    providers:
      openai: {api_key: support-openai-SECRET-000}
providers:
  deepgram: {api_key: yaml-deepgram-SECRET-000}
models:
  cartesia/sonic-3-custom: {modality: tts, default_voice: v1, price: {per_1m_characters: "40"}}
stacks:
  premium: {stt: deepgram/nova-3, llm: openai/gpt-4o-mini, tts: cartesia/sonic-3}
"""


@pytest.fixture
def cfg(write_config, monkeypatch):
    for var in ("OPENAI_API_KEY", "DEEPGRAM_API_KEY", "CARTESIA_API_KEY", "GROQ_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    return write_config(YAML)


def cli(cfg, *args: str, input: str | None = None, env: dict[str, str] | None = None):
    return runner.invoke(app, ["--config", str(cfg.path), *args], input=input, env=env)


def _json(res) -> object:
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_providers_list_sources_and_key_sources(cfg, monkeypatch) -> None:
    monkeypatch.setenv("CARTESIA_API_KEY", "env-cartesia-SECRET-000")
    rows = {r["provider_id"]: r for r in _json(cli(cfg, "providers", "list", "-f", "json"))}
    assert {"openai", "anthropic", "groq", "deepgram", "cartesia", "elevenlabs"} <= set(rows)
    assert {"assemblyai", "livekit"} <= set(rows)
    assert rows["deepgram"]["source"] == "yaml" and rows["openai"]["source"] == "builtin"
    assert rows["deepgram"]["key_source"] == "provider_yaml"
    assert rows["cartesia"]["key_source"] == "env" and rows["anthropic"]["key_source"] == "missing"
    assert rows["anthropic"]["enabled"] is False and rows["cartesia"]["enabled"] is True
    assert rows["anthropic"]["plugin_package"] == "livekit-plugins-anthropic"
    assert all(r["plugin_installed"] for r in rows.values())
    csv = cli(cfg, "providers", "list", "-f", "csv").stdout.splitlines()
    assert csv[0].startswith("provider_id,provider_type,display_name,source,")
    table = cli(cfg, "providers", "list", env={"COLUMNS": "200"}).stdout
    assert "provider_yaml" in table
    for res in (table, "\n".join(csv)):
        assert "SECRET" not in res


def test_add_show_remove_a_runtime_provider_with_audit(cfg) -> None:
    res = cli(
        cfg,
        "providers",
        "add",
        "lab",
        "--type",
        "openai",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--with-key",
        "-f",
        "json",
        input=KEY,
    )
    added = _json(res)
    assert (added["source"], added["provider_type"], added["key_source"]) == (
        "db",
        "openai",
        "provider_store",
    )
    assert added["api_key_masked"] == "sk-…cdef" and added["billing_provider"] == "lab"
    assert KEY not in res.stdout
    with Store.open(cfg) as store:
        tokens = store.conn.execute("SELECT ciphertext FROM provider_keys").fetchall()
        assert tokens and all(KEY not in t[0] for t in tokens)
    again = cli(cfg, "providers", "add", "lab", "--type", "openai")
    assert again.exit_code == 1 and "already exists (source: db)" in again.output
    bad = cli(cfg, "providers", "add", "mystery")
    assert bad.exit_code == 2 and "give its provider_type" in bad.output
    assert cli(cfg, "providers", "add", "deepgram").exit_code == 1  # YAML owns it

    assert cli(cfg, "models", "register", "lab/llama-3", "--modality", "llm").exit_code == 0
    shown = _json(cli(cfg, "providers", "show", "lab", "-f", "json"))
    assert shown["models"] == ["lab/llama-3"] and shown["env_vars"] == ["LAB_API_KEY"]

    res = cli(cfg, "providers", "remove", "lab")  # not a terminal: needs --yes
    assert res.exit_code == 2 and "--yes" in res.output and "1 runtime model(s)" in res.output
    done = _json(cli(cfg, "providers", "remove", "lab", "--yes", "-f", "json"))
    assert done["action"] == "removed" and done["models"] == ["lab/llama-3"]
    assert cli(cfg, "providers", "show", "lab").exit_code == 1
    for pid, text in (("deepgram", "defined in"), ("openai", "built in")):
        res = cli(cfg, "providers", "remove", pid, "--yes")
        assert res.exit_code == 2 and text in res.output
    audit = _json(cli(cfg, "audit", "-f", "json"))
    assert [(a["action"], a["target"]) for a in audit] == [
        ("provider.remove", "lab"),
        ("model.register", "lab/llama-3"),
        ("provider.add", "lab"),
    ]
    assert KEY not in json.dumps(audit)


def test_models_list_register_remove(cfg) -> None:
    rows = _json(cli(cfg, "models", "list", "--provider", "deepgram", "-f", "json"))
    by_id = {r["model_id"]: r for r in rows}
    assert by_id["deepgram/nova-3"]["source"] == "builtin"
    assert by_id["deepgram/nova-3"]["pricing"].startswith("catalog@")
    assert by_id["deepgram/aura-2"]["modality"] == "tts"
    yaml_rows = _json(cli(cfg, "models", "list", "--source", "yaml", "-f", "json"))
    assert [(r["model_id"], r["pricing"], r["default_voice"]) for r in yaml_rows] == [
        ("cartesia/sonic-3-custom", "override", "v1")
    ]
    llms = _json(cli(cfg, "models", "list", "--provider", "anthropic", "-f", "json"))
    assert "anthropic/claude-haiku-4-5" in {r["model_id"] for r in llms}
    assert all(r["pricing"] and r["pricing"].startswith("genai-prices@") for r in llms)

    res = cli(cfg, "models", "register", "groq/qwen-qwq-32b", "--modality", "llm", "-f", "json")
    assert _json(res)["source"] == "db"
    for args, code, text in [
        (["groq/qwen-qwq-32b", "--modality", "llm"], 1, "already registered"),
        (["cartesia/sonic-3-custom", "--modality", "tts"], 1, "source: yaml"),
        (["gorq/x", "--modality", "llm"], 1, "did you mean groq?"),
        (["groq/x", "--modality", "tts"], 2, "groq has no TTS"),
        (["qwen", "--modality", "llm"], 2, "must be provider/model"),
        (["groq/x", "--modality", "llm", "--default-voice", "v"], 2, "TTS models only"),
    ]:
        res = cli(cfg, "models", "register", *args)
        assert res.exit_code == code and text in res.output, (args, res.output)
    assert cli(cfg, "models", "remove", "deepgram/nova-3", "--yes").exit_code == 2
    assert cli(cfg, "models", "remove", "nope/x", "--yes").exit_code == 1
    done = _json(cli(cfg, "models", "remove", "groq/qwen-qwq-32b", "--yes", "-f", "json"))
    assert done["action"] == "removed"
    assert _json(cli(cfg, "models", "list", "--source", "db", "-f", "json")) == []


def test_status_and_project_say_where_each_key_comes_from(cfg, monkeypatch) -> None:
    monkeypatch.setenv("CARTESIA_API_KEY", "env-cartesia-SECRET-000")
    with Store.open(cfg) as store:
        P.create_project(cfg, store.conn, "tenant", name="Tenant", default_stack="premium")
        P.set_provider_key(cfg, store.conn, "tenant", "openai", "tenant-openai-SECRET-000")
    res = cli(cfg, "status", "-f", "json")
    info = _json(res)
    got = {(r["project"], r["provider"]): r["source"] for r in info["key_sources"]}
    assert got[("support", "openai")] == "project_yaml"
    assert got[("support", "deepgram")] == "provider_yaml"
    assert got[("support", "cartesia")] == "env"
    assert got[("tenant", "openai")] == "project_store"
    assert got[("tenant", "deepgram")] == "provider_yaml"
    # default's routing names no provider and it has no key of its own: only the
    # providers with a key somewhere are listed for it
    assert {p for (proj, p) in got if proj == "default"} == {"deepgram", "cartesia"}
    assert "SECRET" not in res.stdout
    import csv

    rows = dict(csv.reader(cli(cfg, "status", "-f", "csv").stdout.splitlines()))
    assert json.loads(rows["key_sources"]) == info["key_sources"]
    table = cli(cfg, "status", env={"COLUMNS": "200"}).stdout
    assert "Provider keys by project" in table and "project_store" in table
    assert "SECRET" not in table
    detail = _json(cli(cfg, "project", "tenant", "-f", "json"))
    assert {r["provider"]: r["source"] for r in detail["key_sources"]} == {
        "cartesia": "env",
        "deepgram": "provider_yaml",
        "openai": "project_store",
    }
    shown = cli(cfg, "project", "support", env={"COLUMNS": "200"}).stdout
    assert "Key sources" in shown and "projects.support.providers.openai.api_key" in shown
    assert "SECRET" not in shown


# ------------------------------------------------------------------ providers test


class _Models(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        ok = self.path == "/v1/models" and self.headers.get("Authorization") == f"Bearer {KEY}"
        body = b'{"data": []}' if ok else b'{"error": {"message": "Incorrect API key"}}'
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def models_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_providers_test_builds_and_calls(cfg, write_config, models_server) -> None:
    dead = _free_port()
    extra = (
        f"  lab: {{type: openai, base_url: 'http://127.0.0.1:{models_server}/v1', "
        f"api_key: {KEY}}}\n"
        f"  wrong: {{type: openai, base_url: 'http://127.0.0.1:{models_server}/v1', "
        "api_key: sk-wrong-0000000000000}\n"
        f"  down: {{type: openai, base_url: 'http://127.0.0.1:{dead}/v1', api_key: k}}\n"
    )
    cfg = write_config(YAML.replace("\nproviders:\n", "\nproviders:\n" + extra))
    offline = _json(cli(cfg, "providers", "test", "lab", "--model", "llama-3", "-f", "json"))
    assert offline["status"] == "ok" and offline["constructed"] and not offline["live"]
    assert offline["plugin"] == "livekit.plugins.openai.llm.LLM"
    assert offline["key_source"] == "provider_yaml" and offline["latency_ms"] is None
    live = _json(cli(cfg, "providers", "test", "lab", "--live", "-f", "json"))
    assert live["status"] == "ok" and live["error"] is None and live["latency_ms"] >= 0
    for pid, text in (("wrong", "HTTP 401"), ("down", "cannot connect to 127.0.0.1")):
        res = cli(cfg, "providers", "test", pid, "--live", "-f", "json")
        assert res.exit_code == 1, res.output
        out = json.loads(res.stdout)
        assert out["status"] == "failed" and text in out["error"], out
        assert "sk-wrong-0000000000000" not in res.stdout
    res = cli(cfg, "providers", "test", "anthropic", "-f", "json")  # no key anywhere
    assert res.exit_code == 1 and "no Anthropic API key" in json.loads(res.stdout)["error"]
    assert cli(cfg, "providers", "test", "gorq").exit_code == 1
