"""The HTTP API (`voicegw serve`) against a real store: every body equals the matching
CLI command's `--format json`, lists page with `next_cursor`, tokens are enforced,
errors are JSON with the MCP codes, uploads reconcile, exports stream; and one real
server in a subprocess, with the CLI working beside it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from typer.testing import CliRunner

from voicegw_cli.cli.app import app as cli_app
from voicegw_cli.server.app import create_app

from .test_mcp import RATE, _env, served  # noqa: F401  (served: the MCP tests' store)

VOICEGW = str(Path(sys.executable).with_name("voicegw"))
READ = "read-token-0123456789abcdef"
ADMIN = "admin-token-0123456789abcdef"


def cli_json(config: Any, *args: str) -> Any:
    res = CliRunner().invoke(cli_app, ["--config", str(config.path), *args, "--format", "json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.fixture
def client(served):  # noqa: F811
    with TestClient(create_app(served.path)) as c:
        yield c


def body(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def rows_only(doc: dict[str, Any]) -> dict[str, Any]:
    assert "next_cursor" in doc
    return {k: v for k, v in doc.items() if k != "next_cursor"}


# ------------------------------------------------------------------ one query, two faces


@pytest.mark.parametrize(
    ("url", "args"),
    [
        ("/v1/costs?period=month&by=project", ["costs", "--period", "month", "--by", "project"]),
        ("/v1/costs?period=today", ["costs", "--period", "today"]),
        ("/v1/costs?project=support&by=day&period=week", ["costs", "-p", "support", "--by",
                                                          "day", "--period", "week"]),
        ("/v1/costs?start=2025-11-01&end=2025-11-30&by=model",
         ["costs", "--start", "2025-11-01", "--end", "2025-11-30"]),
        ("/v1/budgets", ["budget", "check"]),
        ("/v1/budgets?period=month", ["budget", "check", "--period", "month"]),
        ("/v1/budgets?project=support", ["budget", "check", "-p", "support"]),
        ("/v1/latency?period=today", ["latency", "--period", "today"]),
        ("/v1/latency?period=today&by=provider&metric=tts_ttfb",
         ["latency", "--period", "today", "--by", "provider", "-m", "tts_ttfb"]),
        ("/v1/calls?period=today", ["calls", "--period", "today"]),
        ("/v1/calls?period=today&by=customer", ["calls", "--period", "today", "--by", "customer"]),
    ],
)  # fmt: skip
def test_reports_equal_the_cli_json(served, client, url, args) -> None:  # noqa: F811
    api = body(client.get(url))
    assert rows_only(api) == cli_json(served, *args)


def test_lists_equal_the_cli_json(served, client) -> None:  # noqa: F811
    assert body(client.get("/v1/projects"))["rows"] == cli_json(served, "projects")
    logs = body(client.get("/v1/logs?limit=1000"))
    assert logs["rows"] == cli_json(served, "logs", "-n", "1000") and logs["next_cursor"] is None
    assert body(client.get("/v1/logs?project=support&modality=llm&limit=3"))["rows"] == (
        cli_json(served, "logs", "-p", "support", "--modality", "llm", "-n", "3")
    )
    assert body(client.get("/v1/logs?session=call-1"))["rows"] == (
        cli_json(served, "logs", "--session", "call-1")
    )
    assert body(client.get("/v1/audit-log"))["rows"] == cli_json(served, "audit")
    assert body(client.get("/v1/projects/support")) == cli_json(served, "project", "support")
    assert body(client.get("/v1/calls/call-1")) == cli_json(served, "calls", "show", "call-1")


def test_status_has_the_cli_fields(served, client) -> None:  # noqa: F811
    api = body(client.get("/v1/status"))
    cli = cli_json(served, "status")
    assert set(api) == set(cli)
    for key in ("items", "projects", "timezone", "key_sources", "admin_keys", "store"):
        assert api[key] == cli[key]


# ------------------------------------------------------------------ paging


def walk(client: TestClient, url: str) -> tuple[list[Any], int]:
    rows, pages, cursor = [], 0, None
    while True:
        sep = "&" if "?" in url else "?"
        page = body(client.get(url + (f"{sep}cursor={cursor}" if cursor else "")))
        rows += page["rows"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return rows, pages


def test_every_list_pages_with_next_cursor(served, client) -> None:  # noqa: F811
    everything = cli_json(served, "logs", "-n", "1000")
    rows, pages = walk(client, "/v1/logs?limit=40")
    assert rows == everything and pages == len(everything) // 40 + 1
    assert len({r["id"] for r in rows}) == len(rows) > 40
    rows, _ = walk(client, "/v1/costs?period=month&by=model&limit=1")
    assert rows == cli_json(served, "costs", "--period", "month")["rows"]
    rows, pages = walk(client, "/v1/projects?limit=1")
    assert rows == cli_json(served, "projects") and pages >= 3
    client.post("/v1/projects", json={"id": "a1", "name": "A"})
    client.patch("/v1/projects/a1", json={"daily_budget": 3})
    rows, pages = walk(client, "/v1/audit-log?limit=1")
    assert rows == cli_json(served, "audit") and pages >= 3
    top = cli_json(served, "calls", "--period", "month", "--top", "100")["rows"]
    rows, _ = walk(client, "/v1/calls?period=month&limit=1")
    assert rows == top
    # A cursor from another list, or made up, is a 400.
    other = body(client.get("/v1/projects?limit=1"))["next_cursor"]
    for bad in (other, "garbage!", "e30"):
        err = body(client.get(f"/v1/logs?cursor={bad}"), 400)
        assert err["error"]["code"] == "VALIDATION_ERROR"


# ------------------------------------------------------------------ writes


def test_project_create_update_and_two_phase_delete(served, client) -> None:  # noqa: F811
    created = body(
        client.post(
            "/v1/projects",
            json={"id": "web-1", "name": "Web", "daily_budget": 2, "tags": ["dev"]},
        ),
        201,
    )
    assert created["id"] == "web-1" and created["daily_budget"] == "2"
    again = body(client.post("/v1/projects", json={"id": "web-1", "name": "Web"}), 409)
    assert again["error"]["code"] == "PROJECT_ALREADY_EXISTS"
    bad = body(client.post("/v1/projects", json={"id": "x", "name": "X", "colour": 1}), 400)
    assert bad["error"]["code"] == "VALIDATION_ERROR"
    neg = body(client.post("/v1/projects", json={"id": "x", "name": "X", "daily_budget": -1}), 400)
    assert neg["error"]["code"] == "VALIDATION_ERROR"

    dry = body(client.patch("/v1/projects/web-1?dry_run=true", json={"name": "Webby"}))
    assert dry == {"project_id": "web-1", "applied": False,
                   "rows": [{"field": "name", "old": "Web", "new": "Webby"}]}  # fmt: skip
    done = body(client.patch("/v1/projects/web-1", json={"name": "Webby"}))
    assert done["applied"] is True
    assert body(client.get("/v1/projects/web-1"))["name"] == "Webby"
    yaml_edit = body(client.patch("/v1/projects/support", json={"name": "S"}), 409)
    assert yaml_edit["error"]["code"] == "READ_ONLY_RESOURCE"

    preview = body(client.delete("/v1/projects/spender"), 409)["error"]
    assert preview["code"] == "CONFIRMATION_REQUIRED"
    assert preview["details"]["project_id"] == "spender"
    assert preview["details"]["total_spend_usd"] == "2.5"
    assert preview["details"]["total_items"] == 1
    assert "spender" in [p["id"] for p in body(client.get("/v1/projects"))["rows"]]
    deleted = body(client.delete("/v1/projects/spender?confirm=true"))
    assert deleted["action"] == "deleted" and deleted["project_id"] == "spender"
    assert "spender" not in cli_json(served, "status")["projects"]
    assert "spender" not in [p["id"] for p in body(client.get("/v1/projects"))["rows"]]
    assert body(client.delete("/v1/projects/spender"), 404)["error"]["code"] == (
        "PROJECT_NOT_FOUND"
    )
    assert body(client.delete("/v1/projects/support"), 409)["error"]["code"] == (
        "READ_ONLY_RESOURCE"
    )
    actors = {r["actor"].split(":")[0] for r in body(client.get("/v1/audit-log"))["rows"]}
    assert "api" in actors


# ------------------------------------------------------------------ reconcile upload


def test_reconcile_upload_equals_the_cli(served, client) -> None:  # noqa: F811
    files = [RATE / "usage_report.json", RATE / "cost_report.json"]
    form = {"provider": "anthropic", "start": "2025-11-01", "end": "2025-11-30"}
    up = [("file", (f.name, f.read_bytes(), "application/json")) for f in files]
    api = body(client.post("/v1/reconcile", data=form, files=up))
    res = CliRunner().invoke(
        cli_app,
        ["--config", str(served.path), "reconcile", "--provider", "anthropic", "--start",
         "2025-11-01", "--end", "2025-11-30", *map(str, files), "--format", "json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    cli = json.loads(res.stdout)
    assert [f["path"] for f in api["files"]] == [f.name for f in files]
    for a, c in zip(api.pop("files"), cli.pop("files"), strict=True):
        assert {**a, "path": None} == {**c, "path": None}
    assert api == cli
    assert api["flagged_count"] == 1 and api["rows"][0]["cause"] == "rate"


def test_reconcile_rejects_bad_uploads(client) -> None:
    form = {"provider": "anthropic", "start": "2025-11-01", "end": "2025-11-30"}
    junk = [("file", ("junk.csv", b"\x00\x01not,an\nexport", "text/csv"))]
    err = body(client.post("/v1/reconcile", data=form, files=junk), 422)
    assert err["error"]["code"] == "INPUT_ERROR"
    assert err["error"]["message"].startswith("junk.csv:")  # no server paths
    wrong = [("file", ("u.json", (RATE / "usage_report.json").read_bytes(), "application/json"))]
    err = body(client.post("/v1/reconcile", data={**form, "provider": "openai"}, files=wrong), 422)
    assert err["error"]["code"] == "INPUT_ERROR"
    assert body(client.post("/v1/reconcile", data=form), 400)["error"]["code"] == (
        "VALIDATION_ERROR"
    )
    no_period = {"provider": "anthropic"}
    assert body(client.post("/v1/reconcile", data=no_period, files=wrong), 400)
    assert body(client.post("/v1/reconcile", content=b"{}"), 400)


# ------------------------------------------------------------------ export stream


def test_export_streams_what_the_cli_exports(served, client) -> None:  # noqa: F811
    res = CliRunner().invoke(
        cli_app, ["--config", str(served.path), "export-costs", "--period", "today"]
    )
    assert res.exit_code == 0, res.output
    with client.stream("GET", "/v1/export-costs?period=today") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        text = b"".join(r.iter_bytes()).decode()
    key = lambda rows: sorted(rows, key=lambda r: r["id"])  # noqa: E731  (order not promised)
    assert key(csv.DictReader(io.StringIO(text))) == key(csv.DictReader(io.StringIO(res.stdout)))
    nd = client.get("/v1/export-costs?start=2025-11-01&end=2025-11-30&format=ndjson")
    lines = [json.loads(x) for x in nd.text.splitlines()]
    assert lines and all(x["timestamp"].startswith("2025-11") for x in lines)
    assert body(client.get("/v1/export-costs"), 400)["error"]["code"] == "VALIDATION_ERROR"
    assert body(client.get("/v1/export-costs?period=today&project=ghost"), 404)


# ------------------------------------------------------------------ errors


def test_errors_are_json_with_the_mcp_codes(client) -> None:
    cases = [
        ("/v1/costs?project=ghost", 404, "PROJECT_NOT_FOUND"),
        ("/v1/projects/ghost", 404, "PROJECT_NOT_FOUND"),
        ("/v1/calls/no-such-call", 404, "NOT_FOUND"),
        ("/v1/costs?start=2026-13-01&end=2026-13-02", 400, "VALIDATION_ERROR"),
        ("/v1/costs?start=2026-11-05&end=2026-11-01", 400, "VALIDATION_ERROR"),
        ("/v1/costs?start=2026-11-05", 400, "VALIDATION_ERROR"),
        ("/v1/costs?period=fortnight", 400, "VALIDATION_ERROR"),
        ("/v1/costs?by=colour", 400, "VALIDATION_ERROR"),
        ("/v1/logs?limit=0", 400, "VALIDATION_ERROR"),
        ("/v1/logs?limit=ten", 400, "VALIDATION_ERROR"),
        ("/v1/logs?modality=video", 400, "VALIDATION_ERROR"),
        ("/v1/latency?metric=speed", 400, "VALIDATION_ERROR"),
        ("/v1/budgets?period=week", 400, "VALIDATION_ERROR"),
        ("/v1/nothing-here", 404, "NOT_FOUND"),
    ]
    for url, status, code in cases:
        err = body(client.get(url), status)["error"]
        assert err["code"] == code and err["message"], (url, err)
        assert "Traceback" not in err["message"]
    assert body(client.put("/v1/costs"), 405)["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert body(client.post("/v1/projects", content=b"not json"), 400)


def test_an_unexpected_failure_is_a_plain_json_500(served, monkeypatch, caplog) -> None:  # noqa: F811
    import voicegw_cli.reports as reports

    def broken(*a: Any, **k: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(reports, "cost_report", broken)
    with TestClient(create_app(served.path), raise_server_exceptions=False) as c:
        r = c.get("/v1/costs")
    assert r.status_code == 500
    assert r.json() == {
        "error": {"code": "INTERNAL_ERROR", "message": "internal error (see the server log)"}
    }
    assert "secret internals" in caplog.text  # logged on the server, not sent


# ------------------------------------------------------------------ auth


def test_tokens_401_403_and_ok(served) -> None:  # noqa: F811
    app = create_app(served.path, read_token=READ, admin_token=ADMIN)
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200  # always open
        r = c.get("/v1/costs")
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
        assert c.get("/v1/costs", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.get(f"/v1/costs?token={READ}").status_code == 401  # never from a URL
        assert c.get(f"/v1/costs?access_token={ADMIN}").status_code == 401
        assert c.get("/openapi.json").status_code == 401
        page = c.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login"
        api_html = c.get("/v1/costs", headers={"Accept": "text/html"}, follow_redirects=False)
        assert api_html.status_code == 401
        read = {"Authorization": f"Bearer {READ}"}
        admin = {"Authorization": f"Bearer {ADMIN}"}
        assert c.get("/v1/costs", headers=read).status_code == 200
        assert c.get("/v1/metrics", headers=read).status_code == 200
        r = c.post("/v1/projects", json={"id": "t1", "name": "T"}, headers=read)
        assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
        assert c.delete("/v1/projects/spender?confirm=true", headers=read).status_code == 403
        # uploading exports to reconcile reads only: the read token may (400: no files sent)
        r = c.post("/v1/reconcile", data={"provider": "openai"}, headers=read)
        assert r.status_code == 400, r.text
        form = c.post("/projects", data={"id": "t2"}, headers=read)  # a dashboard form
        assert form.status_code == 403 and form.headers["content-type"].startswith("text/html")
        assert c.post(
            "/v1/projects", json={"id": "t1", "name": "T"}, headers=admin
        ).status_code == (201)
        c.cookies.set("voicegw_token", READ)
        assert c.get("/v1/projects").status_code == 200  # the dashboard's login cookie
        assert c.patch("/v1/projects/t1", json={"name": "U"}).status_code == 403
        c.cookies.set("voicegw_token", ADMIN)
        assert c.patch("/v1/projects/t1", json={"name": "U"}).status_code == 200


def test_role_for_the_dashboard(served) -> None:  # noqa: F811
    from starlette.requests import Request

    from voicegw_cli.server.auth import role

    app = create_app(served.path, read_token=READ, admin_token=ADMIN)

    def req(headers: list[tuple[bytes, bytes]]) -> Request:
        return Request({"type": "http", "headers": headers, "app": app, "path": "/"})

    assert role(req([])) is None
    assert role(req([(b"authorization", f"Bearer {READ}".encode())])) == "read"
    assert role(req([(b"cookie", f"a=b; voicegw_token={ADMIN}".encode())])) == "admin"
    assert role(req([(b"authorization", b"Bearer x" + READ.encode())])) is None
    open_app = create_app(served.path)
    assert role(Request({"type": "http", "headers": [], "app": open_app})) == "admin"


def test_binding_beyond_loopback_needs_both_tokens(served, monkeypatch) -> None:  # noqa: F811
    from voicegw_cli.errors import UsageError
    from voicegw_cli.server.auth import check_bind

    assert check_bind("127.0.0.1", None, None) == (None, None)
    assert check_bind("::1", None, None) == (None, None)
    assert check_bind("0.0.0.0", READ, ADMIN) == (READ, ADMIN)
    for read, admin in ((None, None), (READ, None), ("short", ADMIN), (READ, READ)):
        with pytest.raises(UsageError):
            check_bind("0.0.0.0", read, admin)
    monkeypatch.delenv("VOICEGW_READ_TOKEN", raising=False)
    res = CliRunner().invoke(
        cli_app, ["--config", str(served.path), "serve", "--host", "0.0.0.0", "--port", "1"]
    )
    assert res.exit_code == 2
    assert len(res.output.strip().splitlines()) == 1 and "VOICEGW_READ_TOKEN" in res.output
    res = CliRunner().invoke(
        cli_app,
        ["--config", str(served.path), "dashboard", "--host", "10.0.0.1", "--read-token-env",
         "MY_READ", "--admin-token-env", "MY_ADMIN", "--no-open"],
    )  # fmt: skip
    assert res.exit_code == 2 and "MY_READ" in res.output


# ------------------------------------------------------------------ metrics and OpenAPI


def test_metrics_parse_and_match_the_budgets(client) -> None:
    r = client.get("/v1/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    for name in (
        "voicegw_spend_usd",
        "voicegw_budget_ratio",
        "voicegw_budget_usd",
        "voicegw_items_folded",
        "voicegw_spool_backlog_bytes",
        "voicegw_spool_backlog_files",
        "voicegw_last_fold_seconds",
        "voicegw_store_items",
    ):
        assert name in families, name
    spend = {
        (s.labels["project"], s.labels["period"]): s.value
        for s in families["voicegw_spend_usd"].samples
    }
    day = body(client.get("/v1/budgets"))["rows"]
    month = body(client.get("/v1/budgets?period=month"))["rows"]
    for rows, period in ((day, "day"), (month, "month")):
        for row in rows:
            assert spend[(row["project"], period)] == pytest.approx(float(row["spend_usd"]))
    ratio = {s.labels["project"]: s.value for s in families["voicegw_budget_ratio"].samples
             if s.labels["period"] == "day"}  # fmt: skip
    support = next(r for r in day if r["project"] == "support")
    assert ratio["support"] == pytest.approx(float(support["percent"]) / 100, abs=1e-3)
    assert families["voicegw_store_items"].samples[0].value > 0


def test_openapi_lists_every_route(client) -> None:
    doc = body(client.get("/openapi.json"))
    assert doc["openapi"].startswith("3.1")
    for route in client.app.routes:  # type: ignore[attr-defined]
        path = route.path
        if not getattr(route, "methods", None):
            path = path.rstrip("/") + "/{path}"
        assert path in doc["paths"], path
        for method in getattr(route, "methods", None) or {"GET"}:
            if method != "HEAD":
                assert method.lower() in doc["paths"][path], (path, method)
    costs = doc["paths"]["/v1/costs"]["get"]
    assert {p["name"] for p in costs["parameters"]} >= {"period", "start", "end", "project", "by",
                                                        "limit", "cursor"}  # fmt: skip
    assert (
        "rows" in costs["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    )


# ------------------------------------------------------------------ a real server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_server_answers_while_the_cli_works(served) -> None:  # noqa: F811
    port = _free_port()
    env = {**os.environ, **_env(served), "VOICEGW_READ_TOKEN": READ, "VOICEGW_ADMIN_TOKEN": ADMIN}
    auth = {"Authorization": f"Bearer {READ}"}
    proc = subprocess.Popen(
        [VOICEGW, "--config", str(served.path), "serve", "--port", str(port)],
        cwd=served.root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the server did not start within 30s")
            time.sleep(0.1)
        api = httpx.get(base + "/v1/costs?period=month&by=project", headers=auth, timeout=30)
        api = api.json()
        assert httpx.get(base + f"/v1/costs?token={READ}", timeout=30).status_code == 401
        assert httpx.get(base + "/v1/costs?start=x", headers=auth, timeout=30).status_code == 400
        # The CLI, as another process, gets the store while the server is polled.
        stop = threading.Event()
        statuses: list[int] = []

        def poll() -> None:
            with httpx.Client(base_url=base, headers=auth, timeout=30) as c:
                while not stop.is_set():
                    statuses.append(c.get("/v1/costs?period=today&by=project").status_code)

        poller = threading.Thread(target=poll)
        poller.start()
        try:
            runs = [
                subprocess.run(
                    [VOICEGW, "--config", str(served.path), *args],
                    env=env,
                    capture_output=True,
                    timeout=60,
                    check=False,
                )  # fmt: skip
                for args in (
                    ["costs", "--period", "month", "--by", "project", "--format", "json"],
                    ["projects", "create", "cli-made", "--name", "From the CLI"],
                    ["logs", "-n", "3"],
                )
            ]
        finally:
            stop.set()
            poller.join()
        for run in runs:
            assert run.returncode == 0, run.stderr.decode()
        assert rows_only(api) == json.loads(runs[0].stdout)
        assert statuses and set(statuses) == {200}
        listed = httpx.get(base + "/v1/projects", headers=auth, timeout=30).json()
        ids = [p["id"] for p in listed["rows"]]
        assert "cli-made" in ids  # the server sees what another process wrote
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate(timeout=10)
    assert b"Traceback" not in err
    assert READ.encode() not in err and ADMIN.encode() not in err  # never a token in a log


# ------------------------------------------------------------------ the store, let go


def test_repeated_asks_are_cached_until_the_store_changes(served) -> None:  # noqa: F811
    with TestClient(create_app(served.path)) as c:
        first = c.get("/v1/projects")
        again = c.get("/v1/projects")
        assert "age" not in first.headers and again.headers["age"] == "0"
        assert again.json() == first.json()
        c.post("/v1/projects", json={"id": "fresh", "name": "Fresh"})  # a write: new generation
        assert "fresh" in [p["id"] for p in c.get("/v1/projects").json()["rows"]]
    with TestClient(create_app(served.path, cache_ttl=0)) as c:
        c.get("/v1/projects")
        assert "age" not in c.get("/v1/projects").headers


def test_the_server_lets_go_of_the_store_when_idle(served) -> None:  # noqa: F811
    app = create_app(served.path)
    backend = app.state.voicegw["backend"]
    with TestClient(app) as c:
        assert c.get("/v1/costs").status_code == 200
        deadline = time.monotonic() + 10
        while backend._store is not None:  # closed after `idle` seconds without a request
            assert time.monotonic() < deadline, "the store stayed open"
            time.sleep(0.05)
        generation = backend.generation
        assert c.get("/v1/costs?period=week").status_code == 200
        assert backend.generation == generation + 1  # reopened (and folded) for the ask
