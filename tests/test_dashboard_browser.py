"""The dashboard in a real browser: headless Debian Chromium driven by Playwright, against
the real server (uvicorn on 127.0.0.1 in a thread of this process, so the pinned clock
applies) over a demo store.

Every page loads with status 200 and no console errors; the figures shown equal the
library's; a runtime project is created and deleted by clicking (preview, then confirm);
a reconcile export is uploaded; logs are filtered and paged; a 390 px wide phone viewport
never scrolls sideways. Screenshots go to a temporary directory, and also to
$VOICEGW_SCREENSHOTS (e.g. docs/img) when set:

    VOICEGW_SCREENSHOTS=docs/img .venv/bin/python -m pytest tests/test_dashboard_browser.py
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from voicegw_cli.config import load_config
from voicegw_cli.store import Store

from .dashboard_helpers import demo_copy

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"
RECONCILE_FILES = [
    "openai_usage_audio_transcriptions.json",
    "openai_costs_line_items.json",
    "openai_usage_completions_realtime.json",
    "openai_costs_realtime.json",
    "openai_usage_completions_batch.json",
]
PAGES = [
    "/",
    "/projects",
    "/projects/dental-receptionist",
    "/costs",
    "/logs",
    "/reconcile",
    "/audit",
    "/latency",
    "/calls",
    "/login",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_copy(tmp_path_factory.mktemp("dash-browser"))


@pytest.fixture(scope="module")
def server(demo: Path) -> Iterator[str]:
    import uvicorn

    from voicegw_cli.server.app import create_app

    port = _free_port()
    config = uvicorn.Config(
        create_app(demo), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Path]]:
    """Screenshots taken by the tests; copied to $VOICEGW_SCREENSHOTS at the end."""
    taken: list[Path] = []
    yield taken
    dest = os.environ.get("VOICEGW_SCREENSHOTS")
    if dest:
        Path(dest).mkdir(parents=True, exist_ok=True)
        for shot in taken:
            shutil.copy(shot, Path(dest) / shot.name)


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 760}, base_url=server)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors  # type: ignore[attr-defined]
    yield pg
    context.close()


def snap(
    page: Any, shots: list[Path], tmp_path: Path, name: str, *, full: bool = False, height=700
) -> Path:
    """A PNG of the page (kept small for the docs: viewport only unless `full`)."""
    path = tmp_path / f"dashboard-{name}.png"
    clip = None if full else {"x": 0, "y": 0, "width": 1100, "height": height}
    page.screenshot(path=str(path), full_page=full, clip=clip, animations="disabled")
    shots.append(path)
    return path


def money(text: str) -> Decimal:
    """`$1,234.5678` (as shown) -> Decimal; `unpriced` stays a word."""
    text = text.strip()
    assert text.startswith("$"), text
    return Decimal(text.lstrip("$").replace(",", "").split(" ")[0])


def test_every_page_loads_without_console_errors(page, shots, tmp_path) -> None:
    for url in PAGES:
        response = page.goto(url)
        assert response.status == 200, url
        assert page.locator("main h1").count() >= 1, url
        page.wait_for_load_state("load")
    assert page.errors == []
    page.goto("/")
    snap(page, shots, tmp_path, "overview")
    page.goto("/costs?period=month&by=day")
    snap(page, shots, tmp_path, "costs")
    page.goto("/projects/dental-receptionist")
    snap(page, shots, tmp_path, "project")
    page.goto("/logs?project=dental-receptionist&limit=10")
    snap(page, shots, tmp_path, "logs", height=560)
    page.goto("/nowhere")  # unknown paths: Starlette's plain 404
    page.goto("/projects/nobody")
    assert page.locator(".error").inner_text().startswith("no project 'nobody'")
    for shot in shots:
        assert shot.stat().st_size < 150_000, shot


def test_figures_shown_equal_the_library(page, demo) -> None:
    from voicegw_cli import periods
    from voicegw_cli.reports import cost_report

    cfg = load_config(demo)
    page.goto("/")
    with Store.open(cfg) as store:
        reports = {
            name: cost_report(store, periods.resolve(cfg.tz, period=name), by="project")
            for name in ("today", "month")
        }
        # last week lies wholly inside the demo at any instant (this month may not)
        by_model = cost_report(store, periods.resolve(cfg.tz, period="last-week"), by="model")
    for name, report in reports.items():
        total = page.locator(f"#spend-{name} .money").inner_text()
        assert money(total) == report["total_cost_usd"]
        for row in report["rows"]:
            card = page.locator(f'article[data-project="{row["project"]}"]')
            assert money(card.locator(f"dd.{name} .money").inner_text()) == row["cost_usd"]
    page.goto("/costs?period=last-week&by=model")
    rows = page.locator("#costs tbody tr")
    assert by_model["rows"] and rows.count() == len(by_model["rows"])
    for i, row in enumerate(by_model["rows"]):
        tr = rows.nth(i)
        assert tr.locator("td").first.inner_text() == row["model"]
        assert int(tr.locator("td.items").inner_text().replace(",", "")) == row["items"]
        assert money(tr.locator("td.cost").inner_text()) == row["cost_usd"]
    # the period picker: a custom range by clicking
    page.select_option("select[name=period]", "custom")
    start = periods.local_today(cfg.tz).replace(day=1).isoformat()
    end = periods.local_today(cfg.tz).isoformat()
    page.fill("input[name=start]", start)
    page.fill("input[name=end]", end)
    page.select_option("select[name=by]", "project")
    page.click("form.filters button[type=submit]")
    assert f"{start} to {end} (inclusive)" in page.locator("#period").inner_text()
    assert money(page.locator("#total .money").inner_text()) == reports["month"]["total_cost_usd"]
    with page.expect_download() as dl:
        page.click("#csv")
    csv_text = Path(dl.value.path()).read_text()
    assert csv_text.splitlines()[0].startswith("project,items,cost_usd")
    assert len(csv_text.splitlines()) == len(reports["month"]["rows"]) + 1


def test_create_then_delete_a_runtime_project_by_clicking(page, demo, shots, tmp_path) -> None:
    from voicegw_cli import projects as P

    page.goto("/projects")
    page.fill("#create input[name=id]", "night-shift")
    page.fill("#create input[name=name]", "Night Shift")
    page.fill("#create input[name=daily_budget]", "1.25")
    page.fill("#create input[name=tags]", "dev, overnight")
    page.select_option("#create select[name=budget_action]", "throttle")
    page.select_option("#create select[name=default_stack]", "economy")
    snap(page, shots, tmp_path, "create")
    page.click("#create button[type=submit]")
    page.wait_for_url("**/projects/night-shift?created=1")
    assert "Project created" in page.locator(".notice").inner_text()
    assert "accent-blue" in page.locator("h1").get_attribute("class")
    cfg = load_config(demo)
    with Store.open(cfg) as store:
        p = P.get_project(cfg, store.conn, "night-shift")
    assert (p.daily_budget, p.budget_action, p.tags, p.default_stack) == (
        Decimal("1.25"),
        "throttle",
        ["dev", "overnight"],
        "economy",
    )
    page.click("text=Delete this project…")
    page.wait_for_url("**/projects/night-shift/delete")
    assert page.locator("#preview .items").inner_text() == "0"
    snap(page, shots, tmp_path, "delete-preview")
    with Store.open(cfg) as store:  # the preview changed nothing
        assert "night-shift" in P.all_projects(cfg, store.conn)
    page.click("button.danger")
    page.wait_for_url("**/projects?deleted=night-shift")
    assert "deleted" in page.locator(".notice").inner_text()
    assert page.locator('article[data-project="night-shift"]').count() == 0
    with Store.open(cfg) as store:
        assert "night-shift" not in P.all_projects(cfg, store.conn)
        assert [e["action"] for e in P.audit_entries(store.conn, target="night-shift")] == [
            "project.delete",
            "project.create",
        ]
    assert page.errors == []


def test_reconcile_upload_in_the_browser(page, demo, shots, tmp_path) -> None:
    """One day of the OpenAI fixtures (docs/reconcile.md's example): our items ingested,
    five export files uploaded; the page shows the rows and causes the library gives."""
    from typer.testing import CliRunner

    from voicegw_cli.cli.app import app
    from voicegw_cli.reconcile import compare
    from voicegw_cli.reconcile.diff import Settings
    from voicegw_cli.reconcile.read import read_exports

    ours = FIXTURES / "ours_openai_2025-11-01.csv"
    result = CliRunner().invoke(app, ["--config", str(demo), "ingest", str(ours)])
    assert result.exit_code == 0, result.output
    files = [FIXTURES / n for n in RECONCILE_FILES]
    page.goto("/reconcile")
    page.select_option("select[name=provider]", "openai")
    page.set_input_files("input[name=files]", [str(f) for f in files])
    page.fill("input[name=start]", "2025-11-01")
    page.fill("input[name=end]", "2025-11-01")
    page.click("form.reconcile-form button[type=submit]")
    page.wait_for_selector("#result")
    assert "openai · 2025-11-01 to 2025-11-01 (UTC)" in page.locator("#result h2").inner_text()
    cfg = load_config(demo)
    from datetime import date

    settings = Settings(date(2025, 11, 1), date(2025, 11, 1), by="model", threshold_pct=1.0)
    with Store.open(cfg) as store:
        expected = compare(store.conn, read_exports(files, "openai"), settings, config=cfg)
    rows = page.locator("#reconcile-rows tbody tr")
    assert rows.count() == len(expected.rows) > 3
    for i, row in enumerate(expected.rows):
        tr = rows.nth(i)
        assert tr.get_attribute("data-model") == row["model"]
        assert tr.locator("td.cause").inner_text() == (
            ", ".join(row["causes"]) or row["cause"] or "ok"
        )
    assert {"rate", "split"} <= {c for r in expected.rows for c in r["causes"]}
    assert "openai_costs_line_items.json" in page.locator("#result").inner_text()
    page.locator("#result").scroll_into_view_if_needed()
    snap(page, shots, tmp_path, "reconcile", height=540)
    assert page.errors == []


def test_logs_filters_and_paging(page, demo) -> None:
    from voicegw_cli.store import queries

    page.goto("/logs")
    page.select_option("select[name=project]", "internal-qa")
    page.select_option("select[name=modality]", "llm")
    page.click("form.filters button[type=submit]")
    cells = page.locator("#logs tbody tr td:nth-child(2)").all_inner_texts()
    assert cells and set(cells) == {"internal-qa"}
    assert set(page.locator("#logs tbody tr td:nth-child(3)").all_inner_texts()) == {"llm"}
    first = page.locator("#logs tbody tr").evaluate_all("rs => rs.map(r => r.dataset.id)")
    page.click("#next")
    second = page.locator("#logs tbody tr").evaluate_all("rs => rs.map(r => r.dataset.id)")
    cfg = load_config(demo)
    with Store.open(cfg) as store:
        expected = queries.recent_items(
            store.conn, limit=100, project="internal-qa", modality="llm"
        )
    assert first + second == [r["id"] for r in expected]
    assert page.errors == []


def test_a_phone_sized_screen_never_scrolls_sideways(browser, server, shots, tmp_path) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, base_url=server, device_scale_factor=1
    )
    page = context.new_page()
    try:
        for url in PAGES:
            page.goto(url)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (url, width)
        page.goto("/")
        snap(page, shots, tmp_path, "phone")
    finally:
        context.close()


def test_screenshots_stay_small(shots) -> None:
    for shot in shots:
        assert re.fullmatch(r"dashboard-[a-z-]+\.png", shot.name)
        assert shot.stat().st_size < 150_000, (shot.name, shot.stat().st_size)
