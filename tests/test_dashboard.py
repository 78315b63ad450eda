"""The dashboard's pages over Starlette's TestClient (fast; the browser tests are in
test_dashboard_browser.py): every page renders from the same library calls as the CLI's
`--format json`, errors are readable 4xx pages, writes need a CSRF token, and runtime
projects are created, edited and deleted through the preview."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from voicegw_cli import periods
from voicegw_cli.cli.app import app as cli_app
from voicegw_cli.config import load_config
from voicegw_cli.server.app import create_app
from voicegw_cli.server.charts import bars, gauge
from voicegw_cli.server.dashboard import accent_class, usd
from voicegw_cli.spool import SpoolWriter
from voicegw_cli.store import Store, queries

from .conftest import item
from .dashboard_helpers import demo_copy

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"
PAGES = [
    "/",
    "/projects",
    "/projects/dental-receptionist",
    "/projects/restaurant-orders",
    "/costs",
    "/costs?period=today&by=project",
    "/costs?period=week&by=day",
    "/costs?period=last-month&by=modality",
    "/costs?period=month&by=provider&project=internal-qa",
    "/logs",
    "/logs?project=internal-qa&modality=llm",
    "/reconcile",
    "/audit",
    "/latency",
    "/latency?period=month&by=provider",
    "/calls",
    "/calls?sort=duration&period=month",
    "/login",
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_copy(tmp_path_factory.mktemp("dash"))


@pytest.fixture
def client(demo: Path) -> TestClient:
    return TestClient(create_app(demo), follow_redirects=False)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert m, "no CSRF field in the form"
    return m.group(1)


def usd_in(html: str, pattern: str) -> str:
    """The exact dollar figure (`data-usd`) of the money span after `pattern`."""
    m = re.search(pattern + r'.*?data-usd="([^"]+)"', html, re.S)
    assert m, f"no money after {pattern!r}"
    return m.group(1)


# ------------------------------------------------------------------ small parts


@pytest.mark.parametrize(
    ("tags", "colour"),
    [
        (["prod", "support"], "green"),
        (["production"], "green"),
        (["Prod-EU"], "green"),
        (["staging", "v2"], "yellow"),
        (["dev"], "blue"),
        (["integration-test"], "blue"),
        (["qa", "prod"], "pink"),  # the first tag decides
        (["healthcare"], "pink"),
        ([], "pink"),
    ],
)
def test_accent_follows_the_first_tag(tags: list[str], colour: str) -> None:
    assert accent_class(tags) == colour


@pytest.mark.parametrize(
    ("value", "unpriced", "shown"),
    [
        (Decimal("0.0001033000"), 0, "$0.0001033"),
        (Decimal("1234.5"), 0, "$1,234.50"),
        (Decimal("44.1116010824"), 0, "$44.1116010824"),
        (Decimal("0E-10"), 0, "$0.00"),
        (Decimal("-2.5"), 0, "-$2.50"),
        (Decimal("5"), 3, "$5.00 + 3 unpriced"),
        (None, 7, "unpriced"),
    ],
)
def test_money_is_shown_in_full_and_unpriced_is_never_zero(value, unpriced, shown) -> None:
    assert usd(value, unpriced) == shown


def test_charts_draw_unpriced_as_unpriced_and_cap_the_gauge() -> None:
    svg = bars([("2026-12-01", Decimal("1.5")), ("2026-12-02", None)], label="x")
    assert svg.count("<rect") == 2
    assert "2026-12-02: unpriced" in svg and 'class="bar unpriced"' in svg
    assert "2026-12-01: $1.50" in svg
    full = gauge(Decimal(30), Decimal(10), "exceeded")
    assert 'width="200.0"' in full.split('class="fill"')[1]  # capped at the end
    assert 'class="fill" x="0" y="0" width="0.0"' in gauge(Decimal(1), None, "no_budget")


# ------------------------------------------------------------------ pages


@pytest.mark.parametrize("url", PAGES)
def test_every_page_renders(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "<main>" in r.text and "Traceback" not in r.text


@pytest.mark.parametrize(
    ("url", "status", "words"),
    [
        ("/projects/no-such-bot", 404, "no project 'no-such-bot'"),
        ("/projects/dental-receptionis", 404, "did you mean dental-receptionist"),
        ("/costs?period=custom&start=2026-02-30&end=2026-03-01", 400, "2026-02-30"),
        ("/costs?start=2026-03-05&end=2026-03-01", 400, "after"),
        ("/costs?period=fortnight", 400, "fortnight"),
        ("/costs?by=colour", 400, "by must be one of"),
        ("/costs?project=nobody", 404, "no project 'nobody'"),
        ("/logs?modality=video", 400, "modality must be one of"),
        ("/logs?cursor=not-a-cursor", 400, "cursor"),
        ("/logs?limit=0", 400, "limit"),
        ("/calls?sort=loudness", 400, "sort must be"),
        ("/projects/dental-receptionist/delete", 400, "yaml"),
    ],
)
def test_bad_input_gives_a_readable_4xx_page(client, url, status, words) -> None:
    r = client.get(url)
    assert r.status_code == status, r.text
    assert "Traceback" not in r.text and 'role="alert"' in r.text
    assert words.lower() in r.text.lower().replace("&#39;", "'")


def test_overview_figures_equal_the_cli_json(client: TestClient, demo: Path) -> None:
    html = client.get("/").text
    runner = CliRunner()
    for period in ("today", "month"):
        out = runner.invoke(
            cli_app,
            [
                "--config",
                str(demo),
                "costs",
                "--period",
                period,
                "--by",
                "project",
                "--format",
                "json",
            ],
        )
        assert out.exit_code == 0, out.output
        report = json.loads(out.stdout)
        assert usd_in(html, f'id="spend-{period}"') == report["total_cost_usd"]
        for row in report["rows"]:
            card = f'data-project="{row["project"]}".*?<dd class="{period}">'
            assert usd_in(html, card) == row["cost_usd"], (period, row["project"])
    out = runner.invoke(
        cli_app, ["--config", str(demo), "budget", "check", "--period", "today", "--format", "json"]
    )
    for row in json.loads(out.stdout)["rows"]:
        if row["budget_usd"] is None:
            continue
        block = re.search(
            f'data-project="{row["project"]}".*?<div class="budget (\\w+)" data-period="daily">',
            html,
            re.S,
        )
        assert block and block.group(1) == row["status"]


def test_costs_table_and_csv_equal_the_cli(client: TestClient, demo: Path) -> None:
    runner = CliRunner()
    # last week lies wholly inside the demo's 35 days at any instant (this month may hold
    # only minutes of usage, at 00:30 on the first)
    args = ["--config", str(demo), "costs", "--period", "last-week", "--by", "model"]
    report = json.loads(runner.invoke(cli_app, [*args, "--format", "json"]).stdout)
    html = client.get("/costs?period=last-week&by=model").text
    shown = re.findall(
        r'<tr data-group="([^"]+)">.*?class="num cost">.*?data-usd="([^"]+)"', html, re.S
    )
    assert shown == [(r["model"], r["cost_usd"] or "unpriced") for r in report["rows"]]
    assert usd_in(html, 'id="total"') == report["total_cost_usd"]
    csv_cli = runner.invoke(cli_app, [*args, "--format", "csv"]).stdout
    assert report["rows"]
    r = client.get("/costs.csv?period=last-week&by=model")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.text == csv_cli


def test_custom_period_costs_by_day_name_their_bounds(client: TestClient, demo: Path) -> None:
    cfg = load_config(demo)
    today = periods.local_today(cfg.tz)
    start = (today - timedelta(days=6)).isoformat()
    html = client.get(f"/costs?period=custom&start={start}&end={today}&by=day").text
    assert f"{start} to {today} (inclusive), {cfg.timezone}" in html
    with Store.open(cfg) as store:
        from voicegw_cli.reports import cost_report

        rep = cost_report(
            store, periods.resolve(cfg.tz, start=start, end=today.isoformat()), by="day"
        )
    shown = re.findall(
        r'<tr data-group="([^"]+)">.*?class="num cost">.*?data-usd="([^"]+)"', html, re.S
    )
    assert shown == [(r["day"], str(r["cost_usd"])) for r in rep["rows"]]


# ------------------------------------------------------------------ writes


def test_a_post_without_the_csrf_token_is_refused(client: TestClient, demo: Path) -> None:
    r = client.post("/projects", data={"id": "sneaky", "name": "Sneaky"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = client.post("/projects", data={"id": "sneaky", "name": "Sneaky", "csrf": "0" * 64})
    assert r.status_code == 403
    with Store.open(load_config(demo)) as store:
        assert "sneaky" not in {
            p.id for p in __import__("voicegw_cli.projects").projects.load_db_projects(store.conn)
        }


def test_create_edit_and_delete_a_runtime_project(client: TestClient, demo: Path) -> None:
    from voicegw_cli import projects as P

    csrf = csrf_of(client.get("/projects").text)
    form = {
        "csrf": csrf,
        "id": "qa-bot",
        "name": "QA Bot",
        "daily_budget": "2.50",
        "monthly_budget": "",
        "budget_action": "block",
        "tags": "test, nightly",
        "default_stack": "economy",
    }
    r = client.post("/projects", data=form)
    assert r.status_code == 303 and r.headers["location"] == "/projects/qa-bot?created=1"
    page = client.get(r.headers["location"]).text
    assert "Project created" in page and "accent-blue" in page
    cfg = load_config(demo)
    with Store.open(cfg) as store:
        p = P.get_project(cfg, store.conn, "qa-bot")
    assert (p.daily_budget, p.budget_action, p.tags, p.source) == (
        Decimal("2.5"),
        "block",
        ["test", "nightly"],
        "db",
    )

    edit = {**form, "daily_budget": "4", "tags": "test, nightly"}
    del edit["id"]
    r = client.post("/projects/qa-bot/edit", data=edit)  # the preview: nothing written yet
    assert r.status_code == 200
    assert re.search(r"<td>daily_budget</td><td>2.5</td><td>4</td>", r.text), r.text
    with Store.open(cfg) as store:
        assert P.get_project(cfg, store.conn, "qa-bot").daily_budget == Decimal("2.5")
    r = client.post("/projects/qa-bot/edit", data={**edit, "confirm": "yes"})
    assert r.status_code == 303 and r.headers["location"] == "/projects/qa-bot?updated=1"
    with Store.open(cfg) as store:
        assert P.get_project(cfg, store.conn, "qa-bot").daily_budget == Decimal(4)

    r = client.get("/projects/qa-bot/delete")  # the preview
    assert r.status_code == 200 and "All-time spend" in r.text and 'value="yes"' in r.text
    r = client.post("/projects/qa-bot/delete", data={"csrf": csrf})  # no confirm: preview again
    assert r.status_code == 200 and "Delete QA Bot?" in r.text
    r = client.post("/projects/qa-bot/delete", data={"csrf": csrf, "confirm": "yes"})
    assert r.status_code == 303 and r.headers["location"] == "/projects?deleted=qa-bot"
    assert "Project <b>qa-bot</b> deleted" in client.get(r.headers["location"]).text
    with Store.open(cfg) as store:
        assert "qa-bot" not in P.all_projects(cfg, store.conn)
        actions = [e["action"] for e in P.audit_entries(store.conn, target="qa-bot")]
        assert actions == ["project.delete", "project.update", "project.create"]
        assert all(
            e["actor"].startswith("dashboard:")
            for e in P.audit_entries(store.conn, target="qa-bot")
        )
    audit = client.get("/audit?project=qa-bot").text
    assert "project.delete" in audit and "daily_budget: 2.5 -&gt; 4" in audit


def test_an_invalid_project_keeps_the_form_and_says_why(client: TestClient) -> None:
    csrf = csrf_of(client.get("/projects").text)
    r = client.post(
        "/projects", data={"csrf": csrf, "id": "bad-budget", "name": "Bad", "daily_budget": "-1"}
    )
    assert r.status_code == 400
    assert "daily_budget must be &gt;= 0" in r.text and 'value="bad-budget"' in r.text
    r = client.post("/projects", data={"csrf": csrf, "id": "dental-receptionist", "name": "X"})
    assert r.status_code == 409 and "already exists" in r.text


# ------------------------------------------------------------------ logs paging


def test_log_pages_walk_every_item_newest_first_across_ties(config) -> None:
    base = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
    items = [
        item(id=f"i{n:03d}", timestamp=base + timedelta(seconds=n // 3), project="support")
        for n in range(40)  # three items share each second
    ] + [item(id="s-only", timestamp=base, project="sales")]
    w = SpoolWriter(config.spool_dir)
    w.write([i.to_record() for i in items])
    w.close()
    with Store.open(config) as store:
        every = [r["id"] for r in queries.recent_items(store.conn, limit=100, project="support")]
        for limit in (1, 2, 3, 4, 7, 40, 41):
            seen, cursor = [], None
            while True:
                rows, cursor = queries.recent_items_page(
                    store.conn, limit=limit, cursor=cursor, project="support"
                )
                assert len(rows) <= limit
                seen += [r["id"] for r in rows]
                if cursor is None:
                    break
            assert seen == every, limit
    client = TestClient(create_app(config.path))
    page1 = client.get("/logs?project=support&limit=25").text
    nxt = re.search(r'id="next" rel="next" href="([^"]+)"', page1).group(1).replace("&amp;", "&")
    page2 = client.get(nxt).text
    ids = re.findall(r'<tr data-id="([^"]+)">', page1) + re.findall(
        r'<tr data-id="([^"]+)">', page2
    )
    assert ids == every and 'id="next"' not in page2 and "End of the log" in page2


# ------------------------------------------------------------------ reconcile


def test_reconcile_upload_shows_the_libraries_report(client: TestClient, demo: Path) -> None:
    from voicegw_cli.reconcile import compare
    from voicegw_cli.reconcile.diff import Settings
    from voicegw_cli.reconcile.read import read_exports

    csrf = csrf_of(client.get("/reconcile").text)
    fixture = FIXTURES / "openai_dashboard_cost.csv"
    r = client.post(
        "/reconcile",
        data={
            "csrf": csrf,
            "provider": "openai",
            "start": "2026-09-01",
            "end": "2026-09-30",
            "by": "day",
        },
        files={"files": (fixture.name, fixture.read_bytes(), "text/csv")},
    )
    assert r.status_code == 200, r.text
    cfg = load_config(demo)
    export = read_exports([fixture], "openai")
    settings = Settings(
        datetime(2026, 9, 1).date(), datetime(2026, 9, 30).date(), by="day", threshold_pct=1.0
    )
    with Store.open(cfg) as store:
        expected = compare(store.conn, export, settings, config=cfg).as_dict()
    shown = re.findall(r'data-model="([^"]+)" data-day="([^"]+)"', r.text)
    assert shown == [(row["model"], str(row["day"])) for row in expected["rows"]]
    assert f"{expected['flagged_count']} of {expected['totals']['rows']} row(s)" in r.text
    assert fixture.name in r.text and "voicegw-reconcile-" not in r.text


def test_reconcile_refuses_an_unreadable_upload_by_its_name(client: TestClient) -> None:
    csrf = csrf_of(client.get("/reconcile").text)
    r = client.post(
        "/reconcile",
        data={"csrf": csrf, "provider": "openai", "period": "last-month"},
        files={"files": ("garbage.json", b"{not json", "application/json")},
    )
    assert r.status_code == 400 and "garbage.json" in r.text
    assert "voicegw-reconcile-" not in r.text and "Traceback" not in r.text
    r = client.post("/reconcile", data={"csrf": csrf, "provider": "openai", "period": "last-month"})
    assert r.status_code == 400 and "at least one export file" in r.text


# ------------------------------------------------------------------ tokens


def test_login_sets_a_strict_httponly_cookie_and_writes_need_the_admin_token(demo: Path) -> None:
    read, admin = "r" * 24, "a" * 24
    client = TestClient(
        create_app(demo, read_token=read, admin_token=admin), follow_redirects=False
    )
    assert client.post("/login", data={"token": "wrong" * 5}).status_code == 401
    r = client.post("/login", data={"token": read, "next": "//evil.example/"})
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"].lower()
    assert "voicegw_token=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert read not in client.get("/").text  # never echoed
    csrf = csrf_of(client.get("/reconcile").text)
    r = client.post("/projects", data={"csrf": csrf, "id": "by-reader", "name": "R"})
    assert r.status_code == 403 and "admin token" in r.text
    client.post("/login", data={"token": admin})
    csrf = csrf_of(client.get("/projects").text)  # the CSRF token follows the login
    r = client.post("/projects", data={"csrf": csrf, "id": "by-admin", "name": "A"})
    assert r.status_code == 303
    assert client.post("/logout").status_code == 303


def test_provider_keys_are_only_ever_shown_masked(config, monkeypatch) -> None:
    from voicegw_cli import projects as P

    monkeypatch.setenv("DEEPGRAM_API_KEY", "env-deepgram-SECRET-0000")
    secret = "tenant-openai-SECRET-0001"
    with Store.open(config) as store:
        P.create_project(config, store.conn, "tenant", name="Tenant", default_stack="premium")
        P.set_provider_key(config, store.conn, "tenant", "openai", secret)
    client = TestClient(create_app(config.path))
    for url in ("/projects/tenant", "/projects", "/audit", "/projects/tenant/delete"):
        html = client.get(url).text
        assert secret not in html and "SECRET" not in html, url
    html = client.get("/projects/tenant").text
    assert "<code>ten…0001</code>" in html


def test_an_unknown_page_is_the_dashboards_404_and_the_api_stays_json(client: TestClient) -> None:
    page = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Not found" in page.text and "Traceback" not in page.text
    api = client.get("/v1/no-such-route", headers={"Accept": "text/html"})
    assert api.status_code == 404 and api.json()["error"]["code"] == "NOT_FOUND"
