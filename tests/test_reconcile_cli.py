"""`voicegw reconcile` through the real app: formats, exit codes, one-line errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voicegw_cli.cli.app import app

SCENARIOS = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios"
RATE = SCENARIOS / "rate"
PERIOD = ["--start", "2025-11-01", "--end", "2025-11-30"]


@pytest.fixture
def cli(config):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, ["--config", str(config.path), *args], terminal_width=200)

    return invoke


@pytest.fixture
def rate_store(cli):
    res = cli("ingest", str(RATE / "ours.csv"))
    assert res.exit_code == 0, res.output
    return cli


def reconcile(cli, *extra: str, files=("usage_report.json", "cost_report.json")):
    first, *rest = [str(RATE / f) for f in files]
    return cli(
        "reconcile",
        "--provider",
        "anthropic",
        "--provider-usage-file",
        first,
        *rest,
        *PERIOD,
        *extra,
    )


def test_text_report_ends_with_what_to_check(rate_store) -> None:
    res = reconcile(rate_store, "--by", "day")
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "Reconcile anthropic: 2025-11-01..2025-11-30 (UTC days), by day" in out
    assert "11 day rows agree and are not listed" in out
    assert "19 of 30 rows flagged" in out
    tail = out[out.index("What to check") :]
    assert "1. [rate] claude-haiku-4-5 — 19 days, 2025-11-12..2025-11-30" in tail
    assert "invoice implies $5.50/1M tokens since 2025-11-12" in tail
    assert "check: The invoice's price changed on 2025-11-12: add a dated override" in tail


def test_json_report_shape(rate_store) -> None:
    res = reconcile(rate_store, "--by", "day", "--format", "json")
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert body["provider"] == "anthropic"
    assert body["period"] == {"start": "2025-11-01", "end": "2025-11-30", "timezone": "UTC"}
    assert body["flagged_count"] == 19 == sum(r["flagged"] for r in body["rows"])
    row = next(r for r in body["rows"] if r["day"] == "2025-11-12")
    assert row["model"] == "claude-haiku-4-5" and row["cause"] == "rate" and row["flagged"]
    assert (
        set(row["ours_units"])
        == set(row["provider_units"])
        == {"uncached_input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens"}
    )
    # Money is an exact decimal string.
    assert isinstance(row["ours_cost_usd"], str) and isinstance(row["provider_cost_usd"], str)
    totals = body["totals"]
    assert totals["ours_cost_usd"] == "2.3464533500"
    assert totals["provider_cost_usd"] == "2.4112710000"
    early = next(r for r in body["rows"] if r["day"] == "2025-11-01")
    assert early["flagged"] is False and early["cause"] is None


def test_csv_and_markdown_reports(rate_store) -> None:
    res = reconcile(rate_store, "--format", "csv")
    assert res.exit_code == 0, res.output
    (row,) = list(csv.DictReader(io.StringIO(res.stdout)))
    assert row["model"] == "claude-haiku-4-5" and row["cause"] == "rate"
    assert row["ours_output_tokens"] == row["provider_output_tokens"] == "201892"
    assert row["cost_diff_usd"] == "-0.0648176500"
    md = reconcile(rate_store, "--format", "markdown").stdout
    assert "| `claude-haiku-4-5` | $2.3465 | $2.4113 | -$0.0648 | -2.69% | = | **rate** |" in md
    assert "### What to check" in md


def test_fail_on_drift_exits_1_after_the_report(rate_store) -> None:
    res = reconcile(rate_store, "--fail-on-drift", "--format", "json")
    assert res.exit_code == 1
    assert json.loads(res.stdout)["flagged_count"] == 1
    assert res.stderr.strip() == "Error: reconcile: 1 row beyond the 1% threshold"
    ok = reconcile(rate_store, "--fail-on-drift", "--threshold", "5")
    assert ok.exit_code == 0, ok.output
    assert "Nothing to check" in ok.stdout


def test_clean_month_exits_0_with_fail_on_drift(cli) -> None:
    clean = SCENARIOS / "clean"
    assert cli("ingest", str(clean / "ours.csv")).exit_code == 0
    files = json.loads((clean / "expected.json").read_text())["files"]
    res = cli(
        "reconcile",
        "--provider",
        "openai",
        "--provider-usage-file",
        str(clean / files[0]),
        *[str(clean / f) for f in files[1:]],
        *PERIOD,
        "--by",
        "day",
        "--fail-on-drift",
    )
    assert res.exit_code == 0, res.output
    assert "0 of 90 rows flagged" in res.stdout


def test_files_can_be_given_as_a_folder(cli, tmp_path: Path) -> None:
    coverage = SCENARIOS / "coverage"
    assert cli("ingest", str(coverage / "ours.csv")).exit_code == 0
    res = cli(
        "reconcile",
        "--provider",
        "openai",
        "--provider-usage-file",
        str(coverage / "usage_pages"),
        "--provider-usage-file",
        str(coverage / "costs.json"),
        *PERIOD,
        "--format",
        "json",
    )
    body = json.loads(res.stdout)
    assert {r["model"] for r in body["rows"] if r["flagged"]} == {
        "gpt-4.1-nano-2025-04-14",
        "tts-1",
    }
    assert len(body["files"]) == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"data": [{"starting_at": "2025-11-01T00:00:00Z", "results": [{"model"',
            ":line 1 column 71: the file ends in the middle of a value; it looks truncated",
        ),
        ("when,what\n2025-11-01,5\n", ":row 1 (header): unrecognised columns (when, what)"),
        (
            b"provider,model,day,unit,quantity,cost\nanthropic,\xff,2025-11-01,output,1,1\n",
            ":line 2: not UTF-8 text (byte 0xff at offset 48)",
        ),
        (
            "provider,model,day,unit,quantity,cost\nanthropic,m,2025-11-01,output,-3,1\n",
            ":row 2 column quantity: negative quantity '-3'",
        ),
    ],
)
def test_unreadable_export_exits_3_with_one_line(cli, tmp_path: Path, content, message) -> None:
    f = tmp_path / "export.dat"
    if isinstance(content, bytes):
        f.write_bytes(content)
    else:
        f.write_text(content)
    res = cli("reconcile", "--provider", "anthropic", "--provider-usage-file", str(f), *PERIOD)
    assert res.exit_code == 3
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {f}{message}")
    assert "Traceback" not in res.output


@pytest.mark.parametrize(
    "args",
    [
        ["--start", "2025-12-01", "--end", "2025-11-30"],
        ["--start", "2025-11-01", "--end", "yesterday"],
        [*PERIOD, "--by", "week"],
        [*PERIOD, "--threshold", "-1"],
        [*PERIOD, "--format", "xml"],
        [],  # a period is required
        ["--period", "2025-11", *PERIOD],
    ],
)
def test_usage_errors_exit_2(cli, args: list[str]) -> None:
    res = cli(
        "reconcile",
        "--provider",
        "anthropic",
        "--provider-usage-file",
        str(RATE / "usage_report.json"),
        *args,
    )
    assert res.exit_code == 2, res.output


def test_missing_export_file_exits_3(cli, tmp_path: Path) -> None:
    res = cli(
        "reconcile",
        "--provider",
        "anthropic",
        "--provider-usage-file",
        str(tmp_path / "nope.json"),
        *PERIOD,
    )
    assert res.exit_code == 3
    assert res.stderr.strip() == f"Error: {tmp_path / 'nope.json'}: no such file or folder"


def test_period_words_are_utc_days_like_the_exports(rate_store) -> None:
    """--period 2025-11 is the same month as --start/--end, read in UTC even when the
    configured zone is another one; the report says which days it compared."""
    by_dates = json.loads(reconcile(rate_store, "--format", "json").stdout)
    files = [str(RATE / "usage_report.json"), str(RATE / "cost_report.json")]
    res = rate_store(
        "reconcile", "--provider", "anthropic", "--provider-usage-file", files[0], files[1],
        "--period", "2025-11", "--format", "json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    by_period = json.loads(res.stdout)
    assert by_period["period"] == by_dates["period"]
    assert by_period["period"]["timezone"] == "UTC"
    assert by_period["rows"] == by_dates["rows"]
