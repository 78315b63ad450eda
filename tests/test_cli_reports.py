"""Reporting commands on a fixture store: table, json and csv, exit codes, time zones."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voicegw_cli import clock
from voicegw_cli.cli.app import app
from voicegw_cli.ingest import ingest_files
from voicegw_cli.spool import SpoolWriter
from voicegw_cli.store import Store

from .conftest import BASIC_YAML_TEMPLATE, TEST_TZ, item

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "items"
runner = CliRunner(env={"COLUMNS": "200"})


def run(config, *args: str):
    return runner.invoke(app, ["--config", str(config.path), *args])


@pytest.fixture
def store_config(config):
    with Store.open(config) as store:
        ingest_files(store, [FIXTURES / "line-items.csv"])
    now = clock.now()
    w = SpoolWriter(config.spool_dir)  # today's usage arrives through the spool
    w.write(
        [
            item(
                id="t1",
                timestamp=now - timedelta(seconds=5),
                project="sales",
                cost_usd=Decimal("0.85"),
            ).to_record(),
            item(
                id="t2",
                timestamp=now - timedelta(seconds=4),
                project="sales",
                cost_usd=Decimal("0.30"),
            ).to_record(),
            item(
                id="t3",
                timestamp=now - timedelta(seconds=3),
                project="support",
                modality="stt",
                provider="deepgram",
                model="nova-3",
                input_tokens=0,
                output_tokens=0,
                audio_seconds=30.0,
                cost_usd=Decimal("0.0023"),
            ).to_record(),
            item(
                id="t4",
                timestamp=now - timedelta(seconds=2),
                project="support",
                model="mystery-model",
                cost_usd=None,
                pricing_source="unpriced",
            ).to_record(),
        ]
    )
    w.close()
    return config


def test_costs_by_day_follows_configured_zone(write_config) -> None:
    for tz, expected in (
        ("UTC", {"2026-11-09": 3, "2026-11-10": 2}),
        ("America/New_York", {"2026-11-09": 4, "2026-11-10": 1}),
    ):
        cfg = write_config(
            BASIC_YAML_TEMPLATE.format(tz=tz),
            name=f"{tz.replace('/', '_')}.yaml",
        )
        with Store.open(cfg) as store:
            ingest_files(store, [FIXTURES / "line-items.csv"])
        res = run(
            cfg,
            "costs",
            "--start",
            "2026-11-09",
            "--end",
            "2026-11-10",
            "--by",
            "day",
            "-f",
            "json",
        )
        assert res.exit_code == 0, res.output
        body = json.loads(res.stdout)
        assert {r["day"]: r["items"] for r in body["rows"]} == expected
        assert body["period"]["timezone"] == tz
        if tz != "UTC":
            assert body["period"]["start_utc"] == "2026-11-09T05:00:00+00:00"


def test_costs_table_json_csv(store_config) -> None:
    res = run(
        store_config,
        "costs",
        "--start",
        "2026-11-01",
        "--end",
        "2026-11-30",
        "--by",
        "provider",
        "-f",
        "json",
    )
    body = json.loads(res.stdout)
    by = {r["provider"]: r for r in body["rows"]}
    assert Decimal(by["cartesia"]["cost_usd"]) == Decimal("0.0093")
    assert by["openai"]["cached_input_tokens"] == 1024 + 2048 + (0 if "t1" else 0)
    assert body["period"]["start"] == "2026-11-01" and body["period"]["end"] == "2026-11-30"
    body = json.loads(run(store_config, "costs", "--today", "-f", "json").stdout)
    assert body["unpriced"]["items"] == 1  # t4, written a moment ago
    assert body["unpriced"]["models"][0]["model"] == "mystery-model"
    res = run(
        store_config,
        "costs",
        "--start",
        "2026-11-01",
        "--end",
        "2026-11-30",
        "--by",
        "modality",
        "-f",
        "csv",
    )
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert {r["modality"] for r in rows} == {"llm", "stt", "tts"}
    res = run(store_config, "costs", "--month", "--project", "sales")
    assert res.exit_code == 0
    assert "Costs by model" in res.stdout and TEST_TZ in res.stdout
    assert "$1.1500" in res.stdout


def test_costs_usage_errors(store_config) -> None:
    assert run(store_config, "costs", "--today", "--month").exit_code == 2
    assert run(store_config, "costs", "--start", "2026-11-05", "--end", "2026-11-01").exit_code == 2
    assert run(store_config, "costs", "--by", "colour").exit_code == 2
    res = run(store_config, "costs", "--project", "salse")
    assert res.exit_code == 1 and "did you mean sales" in res.stderr


def test_unpriced_items_are_called_out(store_config) -> None:
    res = run(store_config, "costs", "--today")
    assert "1 unpriced item(s)" in res.stderr and "openai/mystery-model" in res.stderr


def test_logs_filters_and_formats(store_config) -> None:
    res = run(store_config, "logs", "--project", "sales", "-f", "json")
    rows = json.loads(res.stdout)
    assert [r["id"] for r in rows] == [  # newest first, wherever the clock stands
        r["id"] for r in sorted(rows, key=lambda r: r["timestamp"], reverse=True)
    ]
    assert sorted(r["id"] for r in rows) == ["li-005", "t1", "t2"]
    assert [r["id"] for r in rows if r["id"].startswith("t")] == ["t2", "t1"]
    res = run(store_config, "logs", "--modality", "stt", "-n", "1", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    newest_stt = "t3" if clock.now() > datetime(2026, 11, 9, 23, 30, tzinfo=UTC) else "li-001"
    assert len(rows) == 1 and rows[0]["id"] == newest_stt
    assert run(store_config, "logs", "--modality", "video").exit_code == 2
    assert run(store_config, "logs", "-n", "0").exit_code == 2
    assert run(store_config, "logs", "--since", "last tuesday").exit_code == 2
    res = run(store_config, "logs", "--since", "1h")
    hour_ago = clock.now() - timedelta(hours=1)
    with open(FIXTURES / "line-items.csv") as f:  # fixture rows stamped after that, if any
        later = sum(datetime.fromisoformat(r["timestamp"]) >= hour_ago for r in csv.DictReader(f))
    assert res.exit_code == 0 and f"Latest {4 + later} line items" in res.stdout


def test_projects_list(store_config) -> None:
    res = run(store_config, "projects", "-f", "json")
    assert res.exit_code == 0, res.output
    rows = {r["id"]: r for r in json.loads(res.stdout)}
    assert rows["sales"]["budget_status"] == "exceeded"  # $1.15 of $1
    assert Decimal(rows["sales"]["today_spend"]) == Decimal("1.15")
    assert rows["sales"]["today_items"] == 2
    assert rows["support"]["budget_status"] == "ok"
    assert rows["support"]["source"] == "yaml"
    res = run(store_config, "projects", "-f", "csv")
    assert res.stdout.splitlines()[0].startswith("id,name,tags")
    res = run(store_config, "projects")
    assert "exceeded" in res.stdout and "Support Bot" in res.stdout


def test_project_detail_and_unknown(store_config) -> None:
    res = run(store_config, "project", "sales", "-f", "json")
    d = json.loads(res.stdout)
    assert Decimal(d["today_spend"]) == Decimal("1.15") and d["today_items"] == 2
    assert len(d["daily_spend"]) == 14
    assert Decimal(d["daily_spend"][-1]["cost_usd"]) == Decimal("1.15")
    assert {r["modality"] for r in d["by_modality"]} == {"llm"}
    res = run(store_config, "project", "sales")
    assert "Daily spend, last 14 days" in res.stdout
    res = run(store_config, "project", "suport")
    assert res.exit_code == 1 and "did you mean support" in res.stderr


def test_status(store_config) -> None:
    res = run(store_config, "status", "-f", "json")
    info = json.loads(res.stdout)
    assert info["items"] == 9
    assert info["spool_backlog_files"] == 1 and info["folded_now"] == 4
    assert info["timezone"] == TEST_TZ
    assert {"support", "sales", "default"} <= set(info["projects"])
    res = run(store_config, "status")
    assert res.exit_code == 0 and "voicegw status" in res.stdout


def test_invalid_config_exits_3(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("projects:\n  x: {name: X, budget_action: nuke}\n")
    res = runner.invoke(app, ["--config", str(bad), "costs"])
    assert res.exit_code == 3
    assert res.stderr.strip().startswith(f"Error: {bad}: projects.x.budget_action")


def test_init_refuses_overwrite(tmp_path: Path) -> None:
    res = runner.invoke(app, ["init"])
    assert res.exit_code == 0 and (tmp_path / "voicegw.yaml").exists()
    res = runner.invoke(app, ["init"])
    assert res.exit_code == 2 and "--force" in res.stderr
    assert runner.invoke(app, ["init", "--force"]).exit_code == 0


def test_day_boundary_in_half_hour_zone(write_config) -> None:
    """Asia/Kolkata is UTC+5:30: 18:29 and 18:31 UTC fall on different local days."""
    from voicegw_cli.periods import Period
    from voicegw_cli.store import queries

    cfg = write_config(BASIC_YAML_TEMPLATE.format(tz="Asia/Kolkata"))
    w = SpoolWriter(cfg.spool_dir)
    w.write(
        [
            item(id="a", timestamp=datetime(2026, 11, 10, 18, 29, 59, tzinfo=UTC)).to_record(),
            item(id="b", timestamp=datetime(2026, 11, 10, 18, 30, 0, tzinfo=UTC)).to_record(),
            item(id="c", timestamp=datetime(2026, 11, 10, 18, 31, 0, tzinfo=UTC)).to_record(),
        ]
    )
    w.close()
    from datetime import date

    p = Period("t", date(2026, 11, 10), date(2026, 11, 11), cfg.tz)
    with Store.open(cfg) as store:
        rows = queries.costs(store.conn, p.start_utc, p.end_utc, by="day", tz=cfg.timezone)
        daily = queries.daily_spend(store.conn, p.start_utc, p.end_utc, tz=cfg.timezone)
    assert {r["day"]: r["items"] for r in rows} == {"2026-11-10": 1, "2026-11-11": 2}
    assert daily == {"2026-11-10": Decimal("0.00021"), "2026-11-11": Decimal("0.00042")}


def test_unpriced_is_never_shown_as_zero(store_config) -> None:
    body = json.loads(run(store_config, "costs", "--today", "-f", "json").stdout)
    rows = {r["model"]: r for r in body["rows"]}
    mystery = rows["openai/mystery-model"]
    assert mystery["cost_usd"] is None and mystery["unpriced_items"] == 1
    assert body["unpriced_items"] == 1
    out = run(store_config, "costs", "--today").stdout
    assert "unpriced" in out and "$0.0000" not in out
    by_project = run(store_config, "costs", "--today", "--by", "project").stdout
    assert "+ 1 unpriced" in by_project  # support's spend is a lower bound
    res = run(store_config, "projects", "-f", "json")
    support = {r["id"]: r for r in json.loads(res.stdout)}["support"]
    assert support["today_unpriced_items"] == 1
    assert "+ 1 unpriced" in run(store_config, "projects").stdout


def test_budget_check_says_spend_is_a_lower_bound(store_config) -> None:
    res = run(store_config, "budget", "check", "--project", "support")
    assert res.exit_code == 0 and "lower bound" in res.stderr and "+ 1 unpriced" in res.stdout
    res = run(store_config, "budget", "check", "--project", "support", "-f", "json")
    (row,) = json.loads(res.stdout)["rows"]
    assert row["unpriced_items"] == 1 and row["spend_is_lower_bound"] is True
    res = run(store_config, "budget", "check", "--project", "support", "--fail-on-unpriced")
    assert res.exit_code == 1 and "unpriced usage in support" in res.stderr


def test_budget_check_takes_the_shared_period_words(store_config) -> None:
    res = run(store_config, "budget", "check", "--period", "month", "-f", "json")
    assert json.loads(res.stdout)["budget"] == "month"
    res = run(store_config, "budget", "check", "--period", "2026-11-10", "-f", "json")
    body = json.loads(res.stdout)
    assert body["budget"] == "day" and body["period"]["start"] == "2026-11-10"
    res = run(store_config, "budget", "check", "--period", "2026-11", "-f", "json")
    assert json.loads(res.stdout)["period"]["end"] == "2026-11-30"
    res = run(store_config, "budget", "check", "--period", "week")
    assert res.exit_code == 2 and "daily or monthly" in res.stderr


def test_status_counts_unpriced_items(store_config) -> None:
    info = json.loads(run(store_config, "status", "-f", "json").stdout)
    assert info["unpriced_items"] == 1
    assert info["unpriced_models"] == {"openai/mystery-model": 1}
    out = run(store_config, "status").stdout
    assert "openai/mystery-model: 1" in out
