"""Budget status, spend read without DuckDB (snapshot + spool), and `voicegw budget check`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voicegw_cli import clock
from voicegw_cli.budget import SpendReader, SpendUnavailable, evaluate
from voicegw_cli.cli.app import app
from voicegw_cli.config import Project
from voicegw_cli.spool import SpoolWriter
from voicegw_cli.store import Store
from voicegw_cli.store.snapshot import snapshot_path

from .conftest import item

runner = CliRunner(env={"COLUMNS": "200"})

BUDGET_YAML = """\
timezone: America/New_York
projects:
  support: {name: Support, daily_budget: 10, monthly_budget: 100, budget_action: warn}
  sales: {name: Sales, daily_budget: 1, budget_action: block}
  lab: {name: Lab, daily_budget: 2, budget_action: throttle, fallback_stack: local}
stacks:
  local: {stt: whisper/local, llm: ollama/llama3, tts: piper/local}
"""


@pytest.fixture(autouse=True)
def _november(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests spend on fixed days of November 2026; the spend snapshot and the budget
    reader keep the last 64 days, so the clock stands in November 2026 (child processes
    too) instead of wherever the suite is pinned."""
    clock.set_now(datetime(2026, 11, 20, 12, tzinfo=UTC))
    monkeypatch.setenv("VOICEGW_CLOCK_OFFSET", repr(clock.offset_seconds()))


@pytest.fixture
def cfg(write_config):
    return write_config(BUDGET_YAML)


def spend(writer: SpoolWriter, project: str, cost: str, when: datetime, **kw) -> None:
    writer.write([item(project=project, cost_usd=Decimal(cost), timestamp=when, **kw).to_record()])


# ------------------------------------------------------------------ status


@pytest.mark.parametrize(
    ("spent", "status", "percent"),
    [
        ("0", "ok", "0.0"),
        ("7.99", "ok", "79.9"),
        ("8", "warning", "80.0"),
        ("9.999", "warning", "100.0"),
        ("10", "exceeded", "100.0"),
        ("12.5", "exceeded", "125.0"),
    ],
)
def test_evaluate_thresholds(spent: str, status: str, percent: str) -> None:
    p = Project(id="x", name="X", daily_budget=Decimal(10), budget_action="block")
    st = evaluate(p, "x", "day", date(2026, 11, 10), Decimal(spent), "UTC")
    assert (st.status, str(st.percent), st.action) == (status, percent, "block")
    assert (st.start, st.end) == (date(2026, 11, 10), date(2026, 11, 10))


def test_evaluate_no_budget_and_month_bounds() -> None:
    p = Project(id="x", name="X", daily_budget=Decimal(0), monthly_budget=Decimal(30))
    assert evaluate(p, "x", "day", date(2026, 2, 14), Decimal(5), "UTC").status == "no_budget"
    st = evaluate(p, "x", "month", date(2026, 2, 14), Decimal(30), "UTC")
    assert (st.start, st.end, st.status) == (date(2026, 2, 1), date(2026, 2, 28), "exceeded")
    assert evaluate(None, "ghost", "day", date(2026, 2, 14), Decimal(1), "UTC").budget is None


# ------------------------------------------------------------------ spend reader


def test_reader_spool_only_local_days(cfg) -> None:
    w = SpoolWriter(cfg.spool_dir)
    # 03:30 UTC on the 11th is still the 10th in New York.
    spend(w, "support", "1.25", datetime(2026, 11, 11, 3, 30, tzinfo=UTC))
    spend(w, "support", "0.75", datetime(2026, 11, 11, 5, 30, tzinfo=UTC))
    spend(w, "sales", "0.10", datetime(2026, 11, 11, 5, 30, tzinfo=UTC))
    w.write([item(project="sales", cost_usd=None, pricing_source="unpriced").to_record()])
    got = SpendReader(cfg).read()
    assert got == {
        "support": {"2026-11-10": Decimal("1.25"), "2026-11-11": Decimal("0.75")},
        "sales": {"2026-11-11": Decimal("0.10")},
    }


def test_reader_snapshot_plus_unfolded_spool_never_double_counts(cfg) -> None:
    w = SpoolWriter(cfg.spool_dir)
    day = datetime(2026, 11, 10, 15, tzinfo=UTC)
    spend(w, "support", "1.00", day)
    reader = SpendReader(cfg)
    assert reader.read()["support"]["2026-11-10"] == Decimal("1.00")
    with Store.open(cfg):  # folds and writes the snapshot
        pass
    assert snapshot_path(cfg).exists()
    assert reader.read()["support"]["2026-11-10"] == Decimal("1.00")
    spend(w, "support", "0.50", day)  # after the fold: spool only
    assert reader.read()["support"]["2026-11-10"] == Decimal("1.50")
    spend(w, "support", "0.25", day)  # incremental read of the same file
    assert reader.read()["support"]["2026-11-10"] == Decimal("1.75")
    with Store.open(cfg):
        pass
    assert reader.read()["support"]["2026-11-10"] == Decimal("1.75")
    # A writer that is gone gets its file retired by the next fold: still counted once.
    w.close()
    with Store.open(cfg):
        pass
    assert reader.read()["support"]["2026-11-10"] == Decimal("1.75")
    assert SpendReader(cfg).read()["support"]["2026-11-10"] == Decimal("1.75")


def test_reader_keeps_retired_file_until_snapshot_catches_up(cfg) -> None:
    """A fold deletes a retired file before it rewrites the snapshot: no dip in between."""
    w = SpoolWriter(cfg.spool_dir)
    spend(w, "support", "2.00", datetime(2026, 11, 10, 15, tzinfo=UTC))
    path = w.path
    w.close()
    reader = SpendReader(cfg)
    assert reader.read()["support"]["2026-11-10"] == Decimal("2.00")
    path.unlink()  # the fold's delete, snapshot not yet written
    assert reader.read()["support"]["2026-11-10"] == Decimal("2.00")


def test_reader_unreadable_snapshot_is_an_error(cfg) -> None:
    p = snapshot_path(cfg)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("{not json")
    with pytest.raises(SpendUnavailable, match="unreadable spend snapshot"):
        SpendReader(cfg).read()


HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from voicegw_cli.config import load_config
    from voicegw_cli.store import Store
    with Store.open(load_config(sys.argv[1])):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def test_reader_works_while_another_process_holds_the_store(cfg) -> None:
    import duckdb

    w = SpoolWriter(cfg.spool_dir)
    spend(w, "sales", "0.40", datetime(2026, 11, 10, 15, tzinfo=UTC))
    with Store.open(cfg):
        pass
    spend(w, "sales", "0.60", datetime(2026, 11, 10, 16, tzinfo=UTC))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(cfg.path), "5"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(duckdb.IOException):  # DuckDB itself is locked out...
            duckdb.connect(str(cfg.store_path), read_only=True)
        t0 = time.perf_counter()
        got = SpendReader(cfg).read()  # ...the guard's reader is not
        assert time.perf_counter() - t0 < 1.0
        assert got["sales"]["2026-11-10"] == Decimal("1.00")
    finally:
        holder.wait(timeout=30)


# ------------------------------------------------------------------ CLI


def _seed(cfg, day_utc: datetime) -> None:
    w = SpoolWriter(cfg.spool_dir)
    spend(w, "support", "8.50", day_utc)  # 85% of 10: warning
    spend(w, "sales", "1.20", day_utc)  # over 1: exceeded
    spend(w, "lab", "0.50", day_utc)  # ok
    w.close()


def test_budget_check_exit_1_when_over(cfg) -> None:
    _seed(cfg, datetime(2026, 11, 10, 15, tzinfo=UTC))
    res = runner.invoke(
        app,
        ["--config", str(cfg.path), "budget", "check", "--date", "2026-11-10", "--format", "json"],
    )
    assert res.exit_code == 1
    body = json.loads(res.stdout)
    rows = {r["project"]: r for r in body["rows"]}
    assert rows["sales"]["status"] == "exceeded" and rows["sales"]["spend_usd"] == "1.2000000000"
    assert rows["sales"]["percent"] == "120.0" and rows["sales"]["budget_usd"] == "1"
    assert rows["support"]["status"] == "warning"
    assert rows["lab"]["status"] == "ok"
    assert rows["default"]["status"] == "no_budget"
    assert body["over_budget"] == ["sales"]
    assert body["period"]["timezone"] == "America/New_York"
    assert "1 project(s) over their daily budget: sales" in res.stderr


def test_budget_check_single_project_and_formats(cfg) -> None:
    _seed(cfg, datetime(2026, 11, 10, 15, tzinfo=UTC))
    base = ["--config", str(cfg.path), "budget", "check", "--date", "2026-11-10"]
    ok = runner.invoke(app, [*base, "--project", "support", "--format", "csv"])
    assert ok.exit_code == 0, ok.output
    lines = ok.stdout.strip().splitlines()
    assert lines[0] == (
        "project,period,start,end,timezone,spend_usd,budget_usd,percent,status,action,"
        "unpriced_items,spend_is_lower_bound"
    )
    assert lines[1].startswith("support,day,2026-11-10,2026-11-10,America/New_York,8.5")
    table = runner.invoke(app, [*base, "--project", "sales"])
    assert table.exit_code == 1 and "exceeded" in table.stdout
    # The next local day starts clean.
    nxt = runner.invoke(app, [*base[:-1], "2026-11-11", "--project", "sales"])
    assert nxt.exit_code == 0
    assert runner.invoke(app, [*base, "--project", "nope"]).exit_code == 1
    assert runner.invoke(app, [*base, "--period", "week"]).exit_code == 2


def test_budget_check_month(cfg) -> None:
    w = SpoolWriter(cfg.spool_dir)
    for d in range(1, 12):  # 11 days x $9.50 = $104.50 > $100 monthly, each day under $10
        spend(w, "support", "9.50", datetime(2026, 11, d, 15, tzinfo=UTC))
    w.close()
    base = [
        "--config",
        str(cfg.path),
        "budget",
        "check",
        "--project",
        "support",
        "--date",
        "2026-11-11",
        "--format",
        "json",
    ]
    day = runner.invoke(app, base)
    assert day.exit_code == 0 and json.loads(day.stdout)["rows"][0]["status"] == "warning"
    month = runner.invoke(app, [*base, "--period", "month"])
    assert month.exit_code == 1
    row = json.loads(month.stdout)["rows"][0]
    assert (row["spend_usd"], row["status"], row["start"], row["end"]) == (
        "104.5000000000",
        "exceeded",
        "2026-11-01",
        "2026-11-30",
    )


def test_budget_help_lists_check() -> None:
    res = runner.invoke(app, ["budget", "--help"])
    assert res.exit_code == 0 and "check" in res.stdout


def test_budget_check_without_a_config_cannot_pass_by_accident(tmp_path: Path) -> None:
    """A CI job in the wrong directory must fail, not pass on an empty store."""
    res = runner.invoke(app, ["budget", "check", "--format", "json"])
    assert res.exit_code == 3
    assert res.stderr.count("\n") == 1 and "voicegw init" in res.stderr
    assert list(tmp_path.iterdir()) == []  # nothing created (no .voicegw/)
    res = runner.invoke(app, ["-c", str(tmp_path / "nope.yaml"), "budget", "check"])
    assert res.exit_code == 3 and "config file not found" in res.stderr
