"""`voicegw prices show` and `voicegw prices check` (through the real app)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from voicegw_cli import clock
from voicegw_cli.cli.app import app
from voicegw_cli.pricing import MAX_AGE_DAYS, catalog_health

runner = CliRunner()
#: The catalog's last review. Checks run at fixed days around it, never at today.
REVIEWED = date(2026, 12, 3)


@pytest.fixture(autouse=True)
def _config(tmp_path) -> None:
    """Every command but init and demo needs a voicegw.yaml; the tests run in tmp_path."""
    (tmp_path / "voicegw.yaml").write_text("timezone: UTC\n")


def invoke(*args: str):
    return runner.invoke(app, ["prices", *args], terminal_width=200)


def test_prices_is_mounted() -> None:
    res = runner.invoke(app, ["--help"], terminal_width=200)
    assert "prices" in res.stdout
    res = invoke("--help")
    assert res.exit_code == 0 and "show" in res.stdout and "check" in res.stdout


def test_show_table() -> None:
    res = invoke("show", "openai/gpt-4o-mini", "--at", "2026-11-10")
    assert res.exit_code == 0, res.output
    assert "genai-prices@0.2.3" in res.stdout
    assert "$0.075/1M tok" in res.stdout and "$0.6/1M tok" in res.stdout


def test_show_json_historical_period() -> None:
    res = invoke("show", "openai/o3", "--at", "2025-06-01", "--format", "json")
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert body["model"] == "openai/o3" and body["at"].startswith("2025-06-01")
    (row,) = body["rows"]
    assert (row["input_per_mtok"], row["output_per_mtok"]) == ("10", "40")
    assert row["valid_to"] == "2025-06-10" and row["pricing_source"] == "genai-prices@0.2.3"
    res = invoke("show", "openai/o3", "--at", "2025-06-10T00:00:00", "-f", "json")
    assert json.loads(res.stdout)["rows"][0]["input_per_mtok"] == "2"


def test_show_csv_catalog_with_batch_variant_and_history() -> None:
    res = invoke("show", "Deepgram/nova-3", "--at", "2026-11-10", "-f", "csv")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [(r["slot"], r["per_minute"], r["per_second"]) for r in rows] == [
        ("catalog", "0.0048", "0.00008"),
        ("catalog_batch", "0.0043", "0.00007166666666666666666666666667"),
    ]
    assert rows[0]["valid_from"] == "2026-05-05" and rows[0]["valid_to"] == ""
    assert rows[0]["pricing_source"].startswith("catalog@")
    # before Deepgram's promotional price: the regular $0.0077
    res = invoke("show", "deepgram/nova-3", "--at", "2026-03-01", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [(r["slot"], r["per_minute"], r["valid_to"]) for r in rows] == [
        ("catalog", "0.0077", "2026-05-05"),
        ("catalog_batch", "0.0043", ""),
    ]


def test_rates_print_as_plain_decimals() -> None:
    res = invoke("show", "cartesia/sonic-3", "--at", "2026-11-10")
    assert res.exit_code == 0, res.output
    assert "$50/1M chars" in res.stdout and "E+" not in res.stdout
    body = json.loads(invoke("show", "cartesia/sonic-3", "-f", "json").stdout)
    assert body["rows"][0]["per_1m_characters"] == "50"
    body = json.loads(invoke("show", "groq/whisper-large-v3", "-f", "json").stdout)
    row = body["rows"][0]
    assert (row["per_minute"], row["minimum_seconds"]) == ("0.00185", "10")
    res = invoke("show", "livekit/deepgram/nova-3", "--at", "2026-11-10", "-f", "json")
    row = json.loads(res.stdout)["rows"][0]
    assert (row["per_minute"], row["billing_increment_seconds"]) == ("0.0048", "1")
    for args in (["-f", "json"], ["-f", "csv"], []):
        out = invoke("check", "--today", "2027-03-01", *args).stdout
        assert "E+" not in out and "E-" not in out


def test_show_livekit_and_tiers() -> None:
    res = invoke("show", "livekit/openai/gpt-4.1-mini", "-f", "json")
    (row,) = json.loads(res.stdout)["rows"]
    assert row["provider"] == "livekit" and row["input_per_mtok"] == "0.4"
    res = invoke("show", "anthropic/claude-sonnet-4-6", "--at", "2026-01-05", "-f", "json")
    slots = [r["slot"] for r in json.loads(res.stdout)["rows"]]
    assert slots == ["genai", "genai (input > 200,000 tokens)"]


def test_show_override_from_voicegw_yaml(tmp_path) -> None:
    (tmp_path / "voicegw.yaml").write_text(
        "pricing:\n  overrides:\n    deepgram/nova-3:\n      per_minute: '0.0040'\n"
        "      note: 2026 contract\n"
    )
    res = invoke("show", "deepgram/nova-3", "-f", "json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["rows"]
    assert rows[0]["slot"] == "override" and rows[0]["pricing_source"] == "override"
    assert rows[0]["per_minute"] == "0.004" and rows[0]["note"] == "2026 contract"


def test_show_unknown_model_exits_1_with_close_matches() -> None:
    res = invoke("show", "openai/gpt-4o-mni")
    assert res.exit_code == 1
    assert res.stdout == ""
    assert res.stderr.startswith("Error: no price known for openai/gpt-4o-mni")
    assert "did you mean openai/gpt-4o-mini" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = invoke("show", "deepgram/nova-9")
    assert res.exit_code == 1 and "deepgram/nova-3" in res.stderr


def test_show_usage_errors_exit_2() -> None:
    assert invoke("show", "gpt-4o-mini").exit_code == 2
    assert invoke("show", "openai/gpt-4o-mini", "--at", "yesterday").exit_code == 2


def test_check_passes_on_the_shipped_catalog() -> None:
    res = invoke("check", "--today", REVIEWED.isoformat())
    assert res.exit_code == 0, res.output
    health = catalog_health(REVIEWED)
    assert (
        f"{len(health.in_force)} catalog prices in force on {REVIEWED}: 0 reviewed more than "
        f"60 days earlier, {len(health.unverified)} unverified: ok." in res.stdout
    )
    assert "deepgram" in res.stdout and "unverified" in res.stdout  # listed, not failed
    res = invoke("check", "--today", REVIEWED.isoformat(), "-f", "json")
    body = json.loads(res.stdout)
    assert body["ok"] is True and body["stale"] == 0 and body["today"] == "2026-12-03"
    assert body["checked"] == len(health.in_force) and body["max_age_days"] == MAX_AGE_DAYS
    assert body["unverified"] == len(body["rows"]) == len(health.unverified) > 0
    assert {r["problem"] for r in body["rows"]} == {"unverified"}
    # --fail-on-unverified makes them fail too
    res = invoke("check", "--today", REVIEWED.isoformat(), "--fail-on-unverified", "-f", "json")
    assert res.exit_code == 1 and json.loads(res.stdout)["ok"] is False


def test_check_fails_once_an_entry_passes_its_age() -> None:
    oldest = min(e.pricing_source_date for e in catalog_health(REVIEWED).in_force)
    last_ok = oldest + timedelta(days=MAX_AGE_DAYS)
    assert invoke("check", "--today", last_ok.isoformat()).exit_code == 0
    day = (last_ok + timedelta(days=1)).isoformat()
    res = invoke("check", "--today", day, "-f", "json")
    assert res.exit_code == 1
    body = json.loads(res.stdout)
    assert body["ok"] is False and body["stale"] > 0
    assert body["stale"] == sum("stale" in r["problem"] for r in body["rows"])
    aura = next(r for r in body["rows"] if r["model"] == "aura-2")
    assert aura["provider"] == "deepgram" and aura["rate"] == "$0.03/1K chars"
    assert aura["age_days"] == MAX_AGE_DAYS + 1 and aura["problem"] == "stale"
    assert all(r["age_days"] > MAX_AGE_DAYS for r in body["rows"] if "stale" in r["problem"])
    assert "Re-check them at their source" in res.stderr
    res = invoke("check", "--today", day, "-f", "csv")
    assert res.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert rows and list(rows[0]) == [
        "provider",
        "model",
        "variant",
        "rate",
        "effective_from",
        "pricing_source_date",
        "age_days",
        "confidence",
        "source_url",
        "problem",
    ]
    batch = next(r for r in rows if r["model"] == "nova-3" and r["variant"] == "batch")
    assert (batch["rate"], batch["effective_from"]) == ("$0.0043/min", "")
    res = invoke("check", "--today", day)
    assert res.exit_code == 1 and "aura-2" in res.stdout
    # a longer allowance passes the same day
    assert invoke("check", "--today", day, "--max-age-days", "1000").exit_code == 0


def test_status_and_check_agree_on_the_counts(write_config) -> None:
    write_config()
    for day in (REVIEWED, REVIEWED + timedelta(days=MAX_AGE_DAYS + 30)):
        clock.set_now(datetime(day.year, day.month, day.day, 12, tzinfo=UTC))
        status = runner.invoke(app, ["status", "--format", "json"], terminal_width=200)
        assert status.exit_code == 0, status.output
        pricing = json.loads(status.stdout)["pricing"]
        check = json.loads(invoke("check", "--format", "json").stdout)  # no --today: clock
        assert check["today"] == day.isoformat()
        assert (pricing["catalog_stale"], pricing["catalog_unverified"]) == (
            check["stale"],
            check["unverified"],
        )
        assert pricing["catalog_in_force"] == check["checked"]
        assert pricing["catalog_max_age_days"] == check["max_age_days"] == MAX_AGE_DAYS
    assert check["stale"] > 0  # the later day really is past the age


def test_check_help_names_the_library_default_age() -> None:
    res = runner.invoke(app, ["prices", "check", "--help"], terminal_width=200)
    assert res.exit_code == 0 and f"(default: {MAX_AGE_DAYS})" in " ".join(res.stdout.split())


def test_check_bad_options_are_usage_errors() -> None:
    assert invoke("check", "--today", "23/11/2026").exit_code == 2
    assert invoke("check", "--max-age-days", "-1").exit_code == 2


def test_ci_runs_the_catalog_check_on_the_real_clock() -> None:
    from pathlib import Path

    script = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    line = next(li for li in script.splitlines() if "prices check" in li)
    assert line.startswith(".venv/bin/voicegw prices check") and "--today" not in line
    assert script.index("prices check") > script.rindex("pytest")


def test_rate_text_of_every_entry_is_plain() -> None:
    for e in catalog_health(REVIEWED).in_force:
        text = e.rate_text()
        assert text.startswith("$") and "E" not in text, text
        assert Decimal(text[1:].split("/")[0]) == e.price
