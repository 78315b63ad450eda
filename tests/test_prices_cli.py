"""`voicegw prices show` and `voicegw prices check` (through the real app)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from voicegw_cli.cli.app import app

runner = CliRunner()


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


def test_show_csv_catalog_with_batch_variant() -> None:
    res = invoke("show", "Deepgram/nova-3", "--at", "2026-11-10", "-f", "csv")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [(r["slot"], r["per_minute"]) for r in rows] == [
        ("catalog", "0.0048"),
        ("catalog_batch", "0.0077"),
    ]
    assert rows[0]["pricing_source"] == "catalog@2026-08-01"


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
    assert rows[0]["per_minute"] == "0.0040" and rows[0]["note"] == "2026 contract"


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


def test_check_passes_with_a_fixed_clock() -> None:
    res = invoke("check", "--today", "2026-11-23", "--max-age-days", "1000")
    assert res.exit_code == 0, res.output
    assert "were checked within 1000 days" in res.stdout
    res = invoke("check", "--today", "2026-11-23", "--max-age-days", "1000", "-f", "json")
    body = json.loads(res.stdout)
    assert body["ok"] is True and body["stale"] == 0 and body["rows"] == []
    assert body["today"] == "2026-11-23"


def test_check_fails_on_old_entries() -> None:
    res = invoke("check", "--today", "2026-11-23", "--max-age-days", "60", "-f", "json")
    assert res.exit_code == 1
    body = json.loads(res.stdout)
    assert body["ok"] is False and body["stale"] == len(body["rows"]) > 0
    assert {"provider": "deepgram", "model": "aura-2"}.items() <= next(
        r for r in body["rows"] if r["model"] == "aura-2"
    ).items()
    assert all(r["age_days"] > 60 for r in body["rows"])
    assert "re-check them at their source" in res.stderr
    res = invoke("check", "--today", "2026-11-23", "-f", "csv")
    assert res.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert rows and set(rows[0]) == {
        "provider",
        "model",
        "variant",
        "pricing_source_date",
        "age_days",
        "confidence",
        "source_url",
    }
    res = invoke("check", "--today", "2026-11-23")
    assert res.exit_code == 1 and "aura-2" in res.stdout


def test_check_bad_today_is_a_usage_error() -> None:
    assert invoke("check", "--today", "23/11/2026").exit_code == 2
