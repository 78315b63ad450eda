"""`voicegw pull`, and `voicegw reconcile` with no export file, against the providers' admin
APIs served on 127.0.0.1 (tests/fake_admin_apis.py, in their documented shapes).

What must hold: pages are followed to the end and saved byte for byte with a manifest
(URLs without secrets, fetch times, hashes); requests stay within each API's limits;
429/5xx are retried as Retry-After says; a refused key, a non-admin key and a network
failure are one line and exit 3; a failed or killed pull never looks complete; and
reconcile over pulled pages gives the same report as over the same data read from files.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner

from tests import conftest
from tests.fake_admin_apis import (
    FakeAdminAPI,
    anthropic_api,
    cartesia_api,
    deepgram_api,
    elevenlabs_api,
    openai_api,
)
from voicegw_cli.cli.app import app
from voicegw_cli.secrets import mask

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "fixtures" / "scenarios"
PROVIDERS = ROOT / "fixtures" / "providers"
CLEAN, RATE, UNITS = SCENARIOS / "clean", SCENARIOS / "rate", SCENARIOS / "units"
KEYS = {
    "openai": "sk-admin-Tq3vX8pL2mN7rK4wY9zB6cD1eF5g",
    "anthropic": "sk-ant-admin01-Wm4nB7vC2xZ9qL6pK3jH8gF5dS1a",
    "deepgram": "dg-usage-7c1e9a4b2d6f8e0a3b5c7d9e1f2a4b6c",
    "elevenlabs": "xi-8d2f6a0c4e1b7d3f9a5c2e8b4d0f6a1c",
    "cartesia": "sk_car_admin_R5tY8uI2oP4aS6dF9gH1jK3l",
}
OPENAI_KINDS = ("completions", "audio_speeches", "audio_transcriptions")
DG_PROJECT = "5a9c1f3e-7b2d-4e6f-8a0b-1c3d5e7f9a2b"


def data(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text())["data"]


def unix(day: str) -> str:
    return str(int(datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).timestamp()))


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client honours HTTPS_PROXY (as users expect); the stand-ins are local."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    s = HTTPServer("127.0.0.1", 0, threaded=True)
    s.start()
    try:
        yield s
        s.check_handler_errors()
    finally:
        s.clear()
        s.stop()


@pytest.fixture
def openai(server: HTTPServer) -> FakeAdminAPI:
    served = {k: data(CLEAN / f"usage_{k}.json") for k in OPENAI_KINDS}
    return openai_api(server, {**served, "costs": data(CLEAN / "costs.json")}, key=KEYS["openai"])


@pytest.fixture
def setup(write_config, monkeypatch: pytest.MonkeyPatch):
    """voicegw.yaml with `admin_keys` for the given fake APIs (keys through ${ENV})."""

    def make(apis: dict[str, FakeAdminAPI], *, keys: dict[str, str] | None = None, extra=""):
        lines = ["admin_keys:"]
        for provider, api in apis.items():
            env = f"TEST_{provider.upper()}_ADMIN_KEY"
            monkeypatch.setenv(env, (keys or KEYS)[provider])
            lines.append(f'  {provider}: {{key: "${{{env}}}", base_url: "{api.base_url}"}}')
        return write_config(conftest.BASIC_YAML + "\n".join(lines) + "\n" + extra)

    return make


def cli(config: Any, *args: str, input: str | None = None):
    return CliRunner().invoke(
        app, ["--config", str(config.path), *map(str, args)], terminal_width=200, input=input
    )


def manifest(folder: Path) -> dict[str, Any]:
    return yaml.safe_load((folder / "manifest.yaml").read_text())


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob(".*") if p.is_dir())


def everything_in(folder: Path) -> str:
    return "".join(p.read_text() for p in folder.rglob("*") if p.is_file())


# ------------------------------------------------------------------ OpenAI: pages, manifest


def test_openai_pull_follows_every_page_and_saves_it_as_sent(openai, setup, tmp_path) -> None:
    cfg = setup({"openai": openai})
    res = cli(
        cfg,
        "pull",
        "--provider",
        "openai",
        "--start",
        "2025-10-31",
        "--end",
        "2025-11-30",
        "-o",
        tmp_path / "pulls",
        "--format",
        "json",
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    folder = tmp_path / "pulls" / "openai" / "2025-10-31_2025-11-30"
    assert out["directory"] == str(folder) and out["complete"] is True
    # 31 daily buckets, 10 per page: 4 pages per endpoint, the first three with has_more
    assert {k["kind"]: k["pages"] for k in out["kinds"]} == {
        "usage_completions": 4,
        "usage_audio_speeches": 4,
        "usage_audio_transcriptions": 4,
        "costs": 4,
    }
    assert out["key"] == mask(KEYS["openai"]) and KEYS["openai"] not in res.output

    # What was asked: daily buckets grouped by model (costs by line item), within limits,
    # each later page continuing with the previous page's next_page.
    previous: dict[str, str | None] = {}
    for hit in openai.hits:
        args = dict(hit.args)
        assert args["start_time"] == unix("2025-10-31")
        assert args["end_time"] == unix("2025-12-01")
        assert args["bucket_width"] == "1d" and args["limit"] == "31"
        costs = hit.path.endswith("/costs")
        assert [v for k, v in hit.args if k == "group_by"] == (
            ["line_item"] if costs else ["model"]
        )
        assert args.get("page") == previous.get(hit.path)
        previous[hit.path] = json.loads(hit.body)["next_page"]
        assert hit.headers["authorization"] == f"Bearer {KEYS['openai']}"
    assert all(v is None for v in previous.values())  # followed to the last page

    # Saved byte for byte, in request order, with a manifest that checks out.
    m = manifest(folder)
    assert m["complete"] is True and m["page_count"] == 16 == len(m["pages"])
    assert [(folder / p["file"]).read_bytes() for p in m["pages"]] == [h.body for h in openai.hits]
    for page in m["pages"]:
        body = (folder / page["file"]).read_bytes()
        assert page["sha256"] == hashlib.sha256(body).hexdigest()
        assert page["bytes"] == len(body) and page["status"] == 200
        assert page["url"].startswith(f"{openai.base_url}/v1/organization/")
        fetched = datetime.fromisoformat(page["fetched_at"])
        assert conftest.NOW - timedelta(seconds=1) <= fetched <= conftest.NOW + timedelta(hours=1)
    assert m["sha256"] == out["sha256"] and m["key_source"].startswith("admin_keys.openai.key")
    # The empty bucket (31 October) is saved as sent: results []
    assert (
        json.loads((folder / "usage_completions-001.json").read_text())["data"][0]["results"] == []
    )
    # Never the key, not even masked, in anything saved.
    saved = everything_in(folder)
    assert KEYS["openai"] not in saved and mask(KEYS["openai"]) not in saved
    assert leftovers(tmp_path / "pulls") == []


def test_reconcile_with_no_file_pulls_then_reports_as_over_the_files(
    openai, setup, tmp_path
) -> None:
    cfg = setup({"openai": openai})
    assert cli(cfg, "ingest", CLEAN / "ours.csv").exit_code == 0
    period = ["--start", "2025-10-31", "--end", "2025-11-30", "--by", "day", "--format", "json"]
    pulled = cli(cfg, "reconcile", "--provider", "openai", *period, "--pull-dir", tmp_path / "p")
    assert pulled.exit_code == 0, pulled.output
    assert "saved 16 pages (16 requests) in" in pulled.stderr
    files = cli(
        cfg,
        "reconcile",
        "--provider",
        "openai",
        *period,
        "--provider-usage-file",
        *(CLEAN / f"usage_{k}.json" for k in OPENAI_KINDS),
        CLEAN / "costs.json",
    )
    assert files.exit_code == 0, files.output
    a, b = json.loads(pulled.stdout), json.loads(files.stdout)
    # the pulled pages, named relative to the working directory (the test's tmp_path)
    folder = Path("p", "openai", "2025-10-31_2025-11-30")
    assert len(a["files"]) == 16 and all(f["path"].startswith(f"{folder}/") for f in a["files"])
    a.pop("files"), b.pop("files")
    assert a == b
    assert len(a["rows"]) == 90 and a["flagged_count"] == 0  # 3 models x 30 days, all agree

    # The text report, by model, is the same too (up to the files it names).
    def text(res) -> str:
        return res.stdout[: res.stdout.index("\nread ")]

    nov = ["--start", "2025-11-01", "--end", "2025-11-30"]
    t1 = cli(cfg, "reconcile", "--provider", "openai", *nov, "--pull-dir", tmp_path / "p")
    t2 = cli(
        cfg,
        "reconcile",
        "--provider",
        "openai",
        *nov,
        "--provider-usage-file",
        CLEAN / "costs.json",
        *(CLEAN / f"usage_{k}.json" for k in OPENAI_KINDS),
    )
    assert t1.exit_code == t2.exit_code == 0
    assert text(t1) == text(t2) and "Nothing to check" in t1.stdout and "Nothing" in t2.stdout
    assert "  gpt-4o-mini   $0.4028    $0.4028" in text(t1)


def test_long_ranges_are_split_within_the_bucket_limits(openai, setup, tmp_path) -> None:
    cfg = setup({"openai": openai})
    res = cli(
        cfg,
        "pull",
        "--provider",
        "openai",
        "--start",
        "2025-08-01",
        "--end",
        "2025-11-30",
        "-o",
        tmp_path,
    )
    assert res.exit_code == 0, res.output
    path = "/v1/organization/usage/completions"
    firsts = [dict(h.args) for h in openai.hits_for(path) if "page" not in dict(h.args)]
    windows = [(int(a["start_time"]), int(a["end_time"]), int(a["limit"])) for a in firsts]
    assert [w[2] for w in windows] == [31, 31, 31, 29]  # 122 days, at most 31 buckets each
    assert windows[0][0] == int(unix("2025-08-01")) and windows[-1][1] == int(unix("2025-12-01"))
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:], strict=False))  # contiguous
    assert all((e - s) // 86400 == n for s, e, n in windows)
    costs = [dict(h.args) for h in openai.hits_for("/v1/organization/costs")]
    assert {c["limit"] for c in costs if "page" not in c} == {"122"}  # costs allow 180
    folder = tmp_path / "openai" / "2025-08-01_2025-11-30"
    buckets = [
        b["start_time"]
        for p in manifest(folder)["pages"]
        if p["kind"] == "usage_completions"
        for b in json.loads((folder / p["file"]).read_text())["data"]
    ]
    assert len(buckets) == 122 == len(set(buckets))  # every day once


# ------------------------------------------------------------------ retries and failures


def test_429_retry_after_and_a_500_are_retried_and_not_saved(openai, setup, tmp_path) -> None:
    costs, speech = "/v1/organization/costs", "/v1/organization/usage/audio_speeches"
    openai.fault(
        costs, 429, {"error": {"message": "Rate limit reached"}}, headers={"Retry-After": "1"}
    )
    openai.fault(speech, 500, {"error": {"message": "The server had an error"}}, after=1)
    cfg = setup({"openai": openai})
    res = cli(
        cfg,
        "pull",
        "--provider",
        "openai",
        "--start",
        "2025-11-01",
        "--end",
        "2025-11-30",
        "-o",
        tmp_path,
        "--format",
        "json",
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["retries"] == 2 and out["requests"] == 14  # 12 pages + 2 retried answers
    limited, retried = openai.hits_for(costs)[:2]
    assert limited.status == 429 and retried.status == 200
    assert retried.t - limited.t >= 1.0  # Retry-After: 1 was honoured
    statuses = [h.status for h in openai.hits_for(speech)]
    assert statuses == [200, 500, 200, 200]  # page 2 failed once, then came
    folder = tmp_path / "openai" / "2025-11-01_2025-11-30"
    saved = [json.loads((folder / p["file"]).read_text()) for p in manifest(folder)["pages"]]
    assert len(saved) == 12 and all(isinstance(p["data"], list) for p in saved)


def test_a_refused_key_is_one_line_exit_3_and_nothing_is_saved(openai, setup, tmp_path) -> None:
    wrong = "sk-admin-WRONGwrongWRONGwrong0000"
    cfg = setup({"openai": openai}, keys={"openai": wrong})
    res = cli(
        cfg,
        "pull",
        "--provider",
        "openai",
        "--start",
        "2025-11-01",
        "--end",
        "2025-11-30",
        "-o",
        tmp_path / "pulls",
    )
    assert res.exit_code == 3
    line = res.stderr.strip()
    assert "\n" not in line and line.startswith("Error: openai: admin key required: sk-admin-")
    assert f"the key {mask(wrong)} from admin_keys.openai.key in voicegw.yaml was refused" in line
    assert "(401: Incorrect API key provided." in line and wrong not in res.output
    assert len(openai.hits) == 1  # a 401 is not retried
    assert not (tmp_path / "pulls" / "openai" / "2025-11-01_2025-11-30").exists()
    assert leftovers(tmp_path / "pulls") == []


def test_a_project_key_is_refused_before_any_request(openai, setup, tmp_path) -> None:
    project_key = "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34"
    cfg = setup({"openai": openai}, keys={"openai": project_key})
    res = cli(
        cfg,
        "pull",
        "--provider",
        "openai",
        "--start",
        "2025-11-01",
        "--end",
        "2025-11-30",
        "-o",
        tmp_path,
    )
    assert res.exit_code == 3
    assert "not an admin key (an ordinary openai API key); admin key required: sk-admin-" in (
        res.stderr
    )
    assert mask(project_key) in res.stderr and project_key not in res.output
    assert openai.hits == []


def test_network_failure_is_exit_3_with_nothing_left(setup, write_config, tmp_path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = write_config(
        conftest.BASIC_YAML
        + f'admin_keys:\n  openai: {{key: "{KEYS["openai"]}", base_url: "http://127.0.0.1:{port}"}}\n'
    )
    res = cli(
        cfg,
        "pull",
        "--provider",
        "openai",
        "--start",
        "2025-11-01",
        "--end",
        "2025-11-30",
        "-o",
        tmp_path / "pulls",
    )
    assert res.exit_code == 3
    assert res.stderr.startswith(f"Error: openai: cannot reach http://127.0.0.1:{port} (")
    assert "3 tries" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "pulls" / "openai" / "2025-11-01_2025-11-30").exists()
    assert leftovers(tmp_path / "pulls") == []


def test_a_failure_midway_keeps_the_earlier_complete_pull(openai, setup, tmp_path) -> None:
    cfg = setup({"openai": openai})
    args = [
        "pull",
        "--provider",
        "openai",
        "--start",
        "2025-11-01",
        "--end",
        "2025-11-30",
        "-o",
        tmp_path,
    ]
    assert cli(cfg, *args).exit_code == 0
    folder = tmp_path / "openai" / "2025-11-01_2025-11-30"
    before = (folder / "manifest.yaml").read_bytes()
    openai.fault(
        "/v1/organization/usage/audio_transcriptions",
        403,
        {"error": {"message": "Missing scopes: api.usage.read"}},
        after=1,
    )
    res = cli(cfg, *args)
    assert res.exit_code == 3 and "admin key required: sk-admin-" in res.stderr
    assert "(403: Missing scopes: api.usage.read)" in res.stderr
    assert (folder / "manifest.yaml").read_bytes() == before  # the earlier pull, untouched
    assert leftovers(tmp_path) == []


def test_5xx_that_never_recovers_is_exit_3(openai, config, tmp_path) -> None:
    from voicegw_cli.admin_keys import AdminKey
    from voicegw_cli.config import load_config
    from voicegw_cli.errors import FetchError
    from voicegw_cli.reconcile.pull import pull
    from voicegw_cli.reconcile.pull.client import RetryPolicy

    for _ in range(3):
        openai.fault("/v1/organization/usage/completions", 503, {"error": {"message": "busy"}})
    cfg_path = Path(config.path)
    cfg_path.write_text(
        conftest.BASIC_YAML + f"admin_keys:\n  openai: {{base_url: '{openai.base_url}'}}\n"
    )
    cfg = load_config(cfg_path)
    key = AdminKey("openai", KEYS["openai"], "a test")
    with pytest.raises(FetchError) as err:
        pull(
            cfg,
            "openai",
            date(2025, 11, 1),
            date(2025, 11, 3),
            root=tmp_path,
            key=key,
            policy=RetryPolicy(attempts=3, backoff=0.01),
        )
    assert err.value.exit_code == 3
    assert "still answered 503 after 3 tries: busy; pull again later" in str(err.value)
    assert not (tmp_path / "openai" / "2025-11-01_2025-11-03").exists()
    assert leftovers(tmp_path) == []


def test_a_killed_pull_never_looks_complete(openai, setup, tmp_path) -> None:
    release = threading.Event()
    path = "/v1/organization/usage/completions"
    openai.fault(path, 200, {"object": "page"}, after=1, hang=release)  # page 2 never comes
    cfg = setup({"openai": openai})
    code = "from voicegw_cli.cli.app import main; main()"
    args = [
        "--config",
        str(cfg.path),
        "pull",
        "--provider",
        "openai",
        "--start",
        "2025-11-01",
        "--end",
        "2025-11-30",
        "-o",
        str(tmp_path),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while len(openai.hits_for(path)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(openai.hits_for(path)) == 2, proc.stderr.read1() if proc.poll() else "slow"
        partial = [p for p in (tmp_path / "openai").iterdir() if p.name.startswith(".")]
        assert len(partial) == 1 and manifest(partial[0])["complete"] is False
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
    folder = tmp_path / "openai" / "2025-11-01_2025-11-30"
    assert not folder.exists()  # no complete-looking pull, and --cached will not take it
    res = cli(
        cfg,
        "reconcile",
        "--provider",
        "openai",
        "--start",
        "2025-11-01",
        "--end",
        "2025-11-30",
        "--pull-dir",
        tmp_path,
        "--cached",
        "--pull-only",
    )
    assert res.exit_code == 0, res.output
    assert f"--cached: no earlier pull in {folder}; pulled again" in res.stderr
    assert manifest(folder)["complete"] is True
    assert leftovers(tmp_path) == []  # the killed pull's partial folder was cleared


def test_cached_reuses_a_complete_pull_and_refuses_a_changed_one(openai, setup, tmp_path) -> None:
    cfg = setup({"openai": openai})
    assert cli(cfg, "ingest", CLEAN / "ours.csv").exit_code == 0
    base = [
        "reconcile",
        "--provider",
        "openai",
        "--start",
        "2025-11-01",
        "--end",
        "2025-11-30",
        "--pull-dir",
        tmp_path,
        "--format",
        "json",
    ]
    first = cli(cfg, *base)
    assert first.exit_code == 0, first.output
    n = len(openai.hits)
    again = cli(cfg, *base, "--cached")
    assert again.exit_code == 0 and len(openai.hits) == n  # nothing fetched
    assert "reusing the complete openai pull in" in again.stderr
    assert json.loads(again.stdout) == json.loads(first.stdout)
    page = tmp_path / "openai" / "2025-11-01_2025-11-30" / "costs-001.json"
    page.write_bytes(page.read_bytes().replace(b'"usd"', b'"USD"'))
    third = cli(cfg, *base, "--cached")
    assert third.exit_code == 0
    assert f"--cached: {page} changed since it was pulled; pulled again" in third.stderr
    assert len(openai.hits) == 2 * n


# ------------------------------------------------------------------ scope, options


def test_project_scope_comes_from_the_project_in_voicegw_yaml(openai, setup, tmp_path) -> None:
    cfg = setup({"openai": openai})
    text = (
        Path(cfg.path)
        .read_text()
        .replace(
            "    tags: [prod, support]\n",
            "    tags: [prod, support]\n    providers:\n      openai: {project_id: proj_voice}\n",
            1,
        )
    )
    Path(cfg.path).write_text(text)
    res = cli(
        cfg,
        "pull",
        "--provider",
        "openai",
        "--start",
        "2025-11-01",
        "--end",
        "2025-11-30",
        "--project",
        "support",
        "-o",
        tmp_path,
        "--format",
        "json",
    )
    assert res.exit_code == 0, res.output
    assert all(("project_ids", "proj_voice") in h.args for h in openai.hits)
    out = json.loads(res.stdout)
    assert out["scope"] == {"project_id": "proj_voice"}
    assert out["directory"].endswith("openai/2025-11-01_2025-11-30_support")
    n = len(openai.hits)
    res = cli(
        cfg,
        "pull",
        "--provider",
        "openai",
        "--start",
        "2025-11-01",
        "--end",
        "2025-11-30",
        "--project",
        "sales",
        "-o",
        tmp_path,
    )
    assert res.exit_code == 3 and len(openai.hits) == n
    assert "projects.sales.providers.openai.project_id: not set (project 'sales' has none)" in (
        res.stderr
    )


def test_options_that_cannot_go_together(openai, setup, tmp_path) -> None:
    cfg = setup({"openai": openai})
    res = cli(
        cfg,
        "reconcile",
        "--provider",
        "openai",
        "--start",
        "2025-11-01",
        "--end",
        "2025-11-30",
        "--provider-usage-file",
        CLEAN,
        "--cached",
    )
    assert res.exit_code == 2 and "give one or the other" in res.stderr
    res = cli(
        cfg,
        "pull",
        "--provider",
        "elevenlabs",
        "--start",
        "2025-11-01",
        "--end",
        "2025-11-30",
        "--project",
        "support",
    )
    assert res.exit_code == 2 and "cannot be limited to one project" in res.stderr
    res = cli(cfg, "pull", "--provider", "groq", "--start", "2025-11-01", "--end", "2025-11-30")
    assert res.exit_code == 2 and "voicegw cannot pull from 'groq'" in res.stderr
    res = cli(cfg, "pull", "--provider", "openai", "--start", "2025-11-30", "--end", "2025-11-01")
    assert res.exit_code == 2
    assert openai.hits == []


def test_pull_only_saves_and_prints_no_report(openai, setup, tmp_path) -> None:
    cfg = setup({"openai": openai})
    res = cli(
        cfg,
        "reconcile",
        "--provider",
        "openai",
        "--start",
        "2025-11-01",
        "--end",
        "2025-11-30",
        "--pull-only",
    )
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    default = Path(cfg.store_path).parent / "pulls" / "openai" / "2025-11-01_2025-11-30"
    assert manifest(default)["complete"] is True
    shown = default.relative_to(tmp_path)
    assert res.stderr == (
        f"saved 12 pages (12 requests) in {shown} with admin key {mask(KEYS['openai'])} from "
        "admin_keys.openai.key in voicegw.yaml\n"
    )


def test_table_output_and_env_base_url(openai, write_config, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("VOICEGW_OPENAI_ADMIN_URL", openai.base_url + "/v1")  # SDK style
    monkeypatch.setenv("OPENAI_ADMIN_KEY_FOR_TEST", KEYS["openai"])
    cfg = write_config(
        conftest.BASIC_YAML + "admin_keys:\n  openai: ${OPENAI_ADMIN_KEY_FOR_TEST}\n"
    )
    res = cli(
        cfg,
        "pull",
        "--provider",
        "OpenAI",
        "--start",
        "2025-11-01",
        "--end",
        "2025-11-30",
        "-o",
        tmp_path,
    )
    assert res.exit_code == 0, res.output
    assert "Pulled openai 2025-11-01..2025-11-30 (UTC days)" in res.stdout
    assert "usage_audio_transcriptions" in res.stdout
    assert f"admin key {mask(KEYS['openai'])} from admin_keys.openai in voicegw.yaml" in res.stderr
    assert manifest(tmp_path / "openai" / "2025-11-01_2025-11-30")["base_url"] == openai.base_url


# ------------------------------------------------------------------ other providers


def test_anthropic_pull_matches_the_files_and_sends_the_version(server, setup, tmp_path) -> None:
    api = anthropic_api(
        server,
        {"usage": data(RATE / "usage_report.json"), "cost": data(RATE / "cost_report.json")},
        key=KEYS["anthropic"],
    )
    cfg = setup({"anthropic": api})
    assert cli(cfg, "ingest", RATE / "ours.csv").exit_code == 0
    period = ["--start", "2025-11-01", "--end", "2025-11-30", "--by", "day", "--format", "json"]
    pulled = cli(cfg, "reconcile", "--provider", "anthropic", *period, "--pull-dir", tmp_path)
    assert pulled.exit_code == 0, pulled.output
    for path, group in (
        ("/v1/organizations/usage_report/messages", "model"),
        ("/v1/organizations/cost_report", "description"),
    ):
        hits = api.hits_for(path)
        assert len(hits) == 3  # 30 days, 10 per page: has_more twice
        for h in hits:
            assert h.headers["anthropic-version"] == "2023-06-01"
            assert h.headers["x-api-key"] == KEYS["anthropic"]
            assert ("group_by[]", group) in h.args and ("limit", "30") in h.args
            assert ("starting_at", "2025-11-01T00:00:00Z") in h.args
            assert ("ending_at", "2025-12-01T00:00:00Z") in h.args
    files = cli(
        cfg,
        "reconcile",
        "--provider",
        "anthropic",
        *period,
        "--provider-usage-file",
        RATE / "usage_report.json",
        RATE / "cost_report.json",
    )
    a, b = json.loads(pulled.stdout), json.loads(files.stdout)
    a.pop("files"), b.pop("files")
    assert a == b and a["flagged_count"] == 19  # the planted rate change, as from the files


def test_deepgram_pull_finds_the_project_and_matches_the_files(server, setup, tmp_path) -> None:
    api = deepgram_api(
        server,
        key=KEYS["deepgram"],
        project_id=DG_PROJECT,
        usage=json.loads((UNITS / "usage_breakdown.json").read_text()),
        billing=json.loads((UNITS / "billing_breakdown.json").read_text()),
        fields=json.loads((PROVIDERS / "deepgram_usage_fields.json").read_text()),
    )
    cfg = setup({"deepgram": api})
    assert cli(cfg, "ingest", UNITS / "ours.csv").exit_code == 0
    period = ["--start", "2025-11-01", "--end", "2025-11-30", "--by", "day", "--format", "json"]
    pulled = cli(cfg, "reconcile", "--provider", "deepgram", *period, "--pull-dir", tmp_path)
    assert pulled.exit_code == 0, pulled.output
    assert [h.path for h in api.hits] == [
        "/v1/projects",
        f"/v1/projects/{DG_PROJECT}/usage/fields",
        f"/v1/projects/{DG_PROJECT}/usage/breakdown",
        f"/v1/projects/{DG_PROJECT}/billing/breakdown",
    ]
    assert all(h.headers["authorization"] == f"Token {KEYS['deepgram']}" for h in api.hits)
    assert ("grouping", "models") in api.hits[2].args
    assert ("grouping", "line_item") in api.hits[3].args
    m = manifest(tmp_path / "deepgram" / "2025-11-01_2025-11-30")
    assert m["provider_project_id"] == DG_PROJECT and m["page_count"] == 3
    files = cli(
        cfg,
        "reconcile",
        "--provider",
        "deepgram",
        *period,
        "--provider-usage-file",
        UNITS / "usage_breakdown.json",
        UNITS / "billing_breakdown.json",
        PROVIDERS / "deepgram_usage_fields.json",
    )
    a, b = json.loads(pulled.stdout), json.loads(files.stdout)
    a.pop("files"), b.pop("files")
    assert a == b
    assert [(r["model"], r["day"], r["cause"]) for r in a["rows"] if r["flagged"]] == [
        ("nova-3", "2025-11-07", "units")
    ]


def test_elevenlabs_and_cartesia_pulls_match_their_files(server, setup, tmp_path) -> None:
    stats = json.loads((PROVIDERS / "elevenlabs_character_stats.json").read_text())
    credits = json.loads((PROVIDERS / "cartesia_credits.json").read_text())
    el = elevenlabs_api(server, key=KEYS["elevenlabs"], stats=stats)
    ca = cartesia_api(server, key=KEYS["cartesia"], credits=credits)
    cfg = setup({"elevenlabs": el, "cartesia": ca})
    period = ["--start", "2025-11-01", "--end", "2025-11-03", "--by", "day", "--format", "json"]
    for provider, fixture in (
        ("elevenlabs", "elevenlabs_character_stats.json"),
        ("cartesia", "cartesia_credits.json"),
    ):
        pulled = cli(cfg, "reconcile", "--provider", provider, *period, "--pull-dir", tmp_path)
        assert pulled.exit_code == 0, pulled.output
        files = cli(
            cfg,
            "reconcile",
            "--provider",
            provider,
            *period,
            "--provider-usage-file",
            PROVIDERS / fixture,
        )
        a, b = json.loads(pulled.stdout), json.loads(files.stdout)
        a.pop("files"), b.pop("files")
        assert a == b and a["rows"]
    (hit,) = el.hits
    assert hit.headers["xi-api-key"] == KEYS["elevenlabs"]
    assert dict(hit.args) == {
        "start_unix": "1761955200000",
        "end_unix": str(1762214400000 - 1),  # 23:59:59.999 on 3 November
        "include_workspace_metrics": "true",
        "breakdown_type": "model",
        "aggregation_interval": "day",
        "metric": "credits",
    }
    (hit,) = ca.hits
    assert hit.headers["cartesia-version"] == "2026-03-01"
    assert dict(hit.args) == {
        "start_ts": "2025-11-01T00:00:00Z",
        "end_ts": "2025-11-04T00:00:00Z",
        "interval": "day",
    }


def test_cartesia_spans_over_a_year_are_split(server, setup, tmp_path) -> None:
    credits = json.loads((PROVIDERS / "cartesia_credits.json").read_text())
    ca = cartesia_api(server, key=KEYS["cartesia"], credits=credits)
    cfg = setup({"cartesia": ca})
    res = cli(
        cfg,
        "pull",
        "--provider",
        "cartesia",
        "--start",
        "2024-10-01",
        "--end",
        "2025-11-30",
        "-o",
        tmp_path,
        "--format",
        "json",
    )
    assert res.exit_code == 0, res.output
    spans = [(dict(h.args)["start_ts"], dict(h.args)["end_ts"]) for h in ca.hits]
    assert spans == [
        ("2024-10-01T00:00:00Z", "2025-10-01T00:00:00Z"),
        ("2025-10-01T00:00:00Z", "2025-12-01T00:00:00Z"),
    ]


# ------------------------------------------------------------------ admin keys


def test_set_key_admin_is_stored_encrypted_and_used_by_pull(openai, write_config, tmp_path) -> None:
    cfg = write_config(
        conftest.BASIC_YAML + f"admin_keys:\n  openai: {{base_url: '{openai.base_url}'}}\n"
    )
    res = cli(cfg, "projects", "set-key", "--admin", "openai", input=KEYS["openai"] + "\n")
    assert res.exit_code == 0, res.output
    assert f"Stored openai admin key {mask(KEYS['openai'])} (encrypted)" in res.stdout
    from voicegw_cli.store import Store

    with Store.open(cfg, fold=False) as store:
        ((provider, token),) = store.conn.execute(
            "SELECT provider, ciphertext FROM admin_keys"
        ).fetchall()
        agent_keys = store.conn.execute("SELECT count(*) FROM provider_keys").fetchall()[0][0]
        audit = store.conn.execute(
            "SELECT action, target, new_value FROM audit_log WHERE action = 'admin_key.set'"
        ).fetchall()
    assert provider == "openai" and KEYS["openai"] not in token and agent_keys == 0
    assert audit == [
        (
            "admin_key.set",
            "admin/openai",
            '{"provider": "openai", "stored": true, "encrypted": true}',
        )
    ]
    res = cli(
        cfg,
        "pull",
        "--provider",
        "openai",
        "--start",
        "2025-11-01",
        "--end",
        "2025-11-03",
        "-o",
        tmp_path,
        "--format",
        "json",
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["key_source"] == "the store (voicegw projects set-key --admin)"
    # rotate-secret re-encrypts admin keys too; the pull still opens it afterwards
    assert cli(cfg, "rotate-secret").exit_code == 0
    res = cli(
        cfg,
        "pull",
        "--provider",
        "openai",
        "--start",
        "2025-11-01",
        "--end",
        "2025-11-03",
        "-o",
        tmp_path,
    )
    assert res.exit_code == 0, res.output
    log = cli(cfg, "audit", "--format", "json")
    assert KEYS["openai"] not in log.stdout and "admin/openai" in log.stdout
    status = cli(cfg, "status", "--format", "json")
    assert json.loads(status.stdout)["admin_keys"] == [f"openai {mask(KEYS['openai'])} (store)"]
    assert KEYS["openai"] not in status.stdout


def test_set_key_admin_refusals(config) -> None:
    res = cli(config, "projects", "set-key", "--admin", "openai", input="sk-proj-abcdefghijklmn\n")
    assert res.exit_code == 2 and "not an admin key (an ordinary openai API key)" in res.stderr
    res = cli(config, "projects", "set-key", "--admin", "support", "openai", input="x\n")
    assert res.exit_code == 2 and "belongs to the organisation, not a project" in res.stderr
    res = cli(config, "projects", "set-key", "--admin", "groq", input="x\n")
    assert res.exit_code == 2
    res = cli(config, "projects", "set-key", "support")
    assert res.exit_code == 2 and "set-key ID PROVIDER" in res.stderr


def test_no_admin_key_anywhere_says_how_to_add_one(config) -> None:
    res = cli(
        config, "pull", "--provider", "anthropic", "--start", "2025-11-01", "--end", "2025-11-30"
    )
    assert res.exit_code == 3
    assert "admin_keys.anthropic: no anthropic admin key: add `admin_keys:" in res.stderr
    assert "voicegw projects set-key --admin anthropic" in res.stderr
    assert "admin key required: sk-ant-admin..." in res.stderr


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ("  openia: x\n", "admin_keys.openia: unknown provider (did you mean 'openai'?)"),
        ("  openai: {key: x, url: y}\n", "admin_keys.openai.url: unknown key"),
        ("  openai: {key: x, base_url: ftp://h}\n", "must be an http(s) URL"),
        ("  openai: [x]\n", "must be the key (a string) or a mapping with `key`"),
    ],
)
def test_admin_keys_block_is_validated(write_config, block: str, problem: str) -> None:
    from voicegw_cli.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        write_config(conftest.BASIC_YAML + "admin_keys:\n" + block)
    assert problem in str(err.value)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    from email.utils import format_datetime

    from voicegw_cli import clock
    from voicegw_cli.reconcile.pull.client import retry_after_seconds

    assert retry_after_seconds("1") == 1.0 and retry_after_seconds("0.5") == 0.5
    later = clock.now().replace(microsecond=0) + timedelta(seconds=30)
    assert 28 <= retry_after_seconds(format_datetime(later, usegmt=True)) <= 30
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_a_pull_made_before_the_period_ended_is_not_reused(openai, setup, tmp_path) -> None:
    from voicegw_cli import clock

    today = clock.now().date()  # UTC, on the suite's pinned clock
    first, last = today - timedelta(days=2), today + timedelta(days=1)
    base = [
        "reconcile",
        "--provider",
        "openai",
        "--start",
        first,
        "--end",
        last,
        "--pull-dir",
        tmp_path,
        "--pull-only",
        "--cached",
    ]
    cfg = setup({"openai": openai})
    res = cli(cfg, *base)
    assert res.exit_code == 0, res.output
    assert (
        f"note: pulled on {today} (UTC), before the period ended: the provider's figures "
        f"for {today}..{last} are still growing" in res.stderr
    )
    n = len(openai.hits)
    res = cli(cfg, *base)
    assert res.exit_code == 0 and len(openai.hits) == 2 * n  # fetched again
    assert f"was made on {today}, before the period ended" in res.stderr
