"""Reconcile end to end: each month-long scenario's line items go into a real DuckDB store,
its provider export is read from fixtures/scenarios, and exactly the planted discrepancy
must be flagged, with the right cause, model and days. The clean month flags nothing."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from voicegw_cli.ingest import ingest_files
from voicegw_cli.reconcile import compare
from voicegw_cli.reconcile.diff import Reconciliation, Settings
from voicegw_cli.reconcile.names import model_key
from voicegw_cli.reconcile.read import read_exports
from voicegw_cli.store import Store

SCENARIOS = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios"
START, END = date(2025, 11, 1), date(2025, 11, 30)
ALL_DAYS = [str(START + timedelta(days=i)) for i in range(30)]


class NoPriceList:
    """A price list that knows no model. Ingest prices only rows that arrive without a
    cost; the scenarios' costs are part of the fixture, and the rows without one must
    stay unpriced whatever the installed catalog knows."""

    def price_table(self, table: Any) -> Any:
        import pyarrow.compute as pc

        i = table.schema.get_field_index("pricing_source")
        source = pc.if_else(pc.is_null(table.column("cost_usd")), "unpriced", table.column(i))
        return table.set_column(i, "pricing_source", source)


def load_items(config: Any, path: Path) -> int:
    """A line-items file into the real store, through ingest."""
    with Store.open(config) as store:
        return ingest_files(store, [path], pricer=NoPriceList()).added


def spec(name: str) -> dict[str, Any]:
    return json.loads((SCENARIOS / name / "expected.json").read_text())


def load(config: Any, name: str) -> None:
    load_items(config, SCENARIOS / name / "ours.csv")


def run(config: Any, name: str, by: str, threshold: float = 1.0) -> Reconciliation:
    s = spec(name)
    export = read_exports([SCENARIOS / name / f for f in s["files"]], s["provider"])
    with Store.open(config) as store:
        return compare(store.conn, export, Settings(START, END, by=by, threshold_pct=threshold))


def planted_days(plant: dict[str, Any]) -> list[str]:
    return ALL_DAYS if plant["days"] == "all" else plant["days"]


def test_scenarios_are_reproducible(tmp_path: Path) -> None:
    """make_scenarios.py regenerates byte-identical files."""
    import shutil
    import subprocess
    import sys

    copy = tmp_path / "scenarios"
    shutil.copytree(SCENARIOS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, str(copy / "make_scenarios.py")], check=True, capture_output=True
    )
    for f in sorted(
        p for p in SCENARIOS.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    ):
        assert (copy / f.relative_to(SCENARIOS)).read_bytes() == f.read_bytes(), f


def test_clean_month_flags_nothing(config) -> None:
    load(config, "clean")
    for by in ("day", "model"):
        res = run(config, "clean", by)
        assert res.flagged == [], [r["detail"] for r in res.flagged]
        assert {r["model"] for r in res.rows} == {"gpt-4o-mini", "whisper-1", "tts-1"}
        assert res.totals["flagged"] == 0
        assert abs(res.totals["ours_cost_usd"] - res.totals["provider_cost_usd"]) < Decimal(
            "0.000001"
        )
    by_day = run(config, "clean", "day")
    assert len(by_day.rows) == 90  # 3 models x 30 days, every row compared


@pytest.mark.parametrize(
    "name", ["rate", "units", "cached", "coverage", "unpriced", "timezone", "negotiated", "clock"]
)
def test_planted_cause_found_on_its_model_and_days(config, name: str) -> None:
    load(config, name)
    res = run(config, name, "day")
    planted = spec(name)["planted"]
    expected = {
        (model_key(p["model"]), day): p["cause"] for p in planted for day in planted_days(p)
    }
    found = {(model_key(r["model"]), r["day"]): r["cause"] for r in res.flagged}
    if name == "timezone":
        # A day whose shifted hours happen to balance out may agree; none may disagree
        # for any other reason.
        assert set(found) <= set(expected)
        assert set(found.values()) == {"timezone"}
        assert len(found) >= 0.9 * len(expected)
        assert {r["shift_hours"] for r in res.flagged} == {9}
    else:
        assert found == expected
    assert res.as_dict()["flagged_count"] == len(found)


@pytest.mark.parametrize(
    ("name", "causes"),
    [
        ("rate", {"claude-haiku-4-5": "rate"}),
        ("units", {"nova-3": "units"}),
        ("cached", {"gpt-4o-mini": "cached"}),
        ("coverage", {"gpt-4.1-nano-2025-04-14": "coverage", "tts-1": "coverage"}),
        ("unpriced", {"universal-3-streaming-beta": "unpriced"}),
        ("timezone", {"deepgram/nova-3": "timezone"}),
        ("negotiated", {"nova-3": "rate"}),
        ("clock", {}),  # the two days cancel over the month
    ],
)
def test_planted_cause_found_by_model(config, name: str, causes: dict[str, str]) -> None:
    load(config, name)
    res = run(config, name, "model")
    assert {r["model"]: r["cause"] for r in res.flagged} == causes
    assert all("day" not in r for r in res.rows)


def test_rate_names_our_rate_its_source_and_the_invoice_rate(config) -> None:
    load(config, "rate")
    res = run(config, "rate", "day")
    first = next(r for r in res.flagged if r["day"] == "2025-11-12")
    (output,) = [x for x in first["rates"] if x["differs"]]
    assert output["unit"] == "output_tokens"
    assert output["ours_usd_per_unit"] == "0.000005"
    assert output["ours_source"] == "genai-prices@0.2.3"
    assert output["invoice_usd_per_unit"] == "0.0000055"
    assert (
        "ours $5.00/1M tokens (genai-prices@0.2.3), invoice implies $5.50/1M" in (first["detail"])
    )
    assert first["ours_units"] == first["provider_units"]  # units agree


def test_units_gap_says_which_side_metered_more(config) -> None:
    load(config, "units")
    (row,) = run(config, "units", "day").flagged
    assert row["ours_units"]["audio_seconds"] < row["provider_units"]["audio_seconds"]
    assert row["unit_diff_pct"]["audio_seconds"] < -1
    assert "provider metered more than we logged" in row["check"]


def test_cached_split_differs_but_input_total_agrees(config) -> None:
    load(config, "cached")
    (row,) = run(config, "cached", "day").flagged
    ours, theirs = row["ours_units"], row["provider_units"]
    assert ours["cached_input_tokens"] == 0 < theirs["cached_input_tokens"]
    assert (
        ours["uncached_input_tokens"] + ours["cached_input_tokens"]
        == theirs["uncached_input_tokens"] + theirs["cached_input_tokens"]
    )


def test_coverage_rows_are_counted_on_both_sides(config) -> None:
    load(config, "coverage")
    res = run(config, "coverage", "model")
    rows = {r["model"]: r for r in res.rows}
    nano, tts = rows["gpt-4.1-nano-2025-04-14"], rows["tts-1"]
    assert nano["ours_items"] == 0 and nano["provider_cost_usd"] > 0
    assert tts["ours_items"] == 6 and tts["provider_cost_usd"] is None
    assert res.totals["provider_cost_usd"] == sum(
        (r["provider_cost_usd"] or Decimal(0) for r in res.rows), Decimal(0)
    )
    assert res.totals["ours_cost_usd"] == sum(r["ours_cost_usd"] or 0 for r in res.rows)
    assert "billed by the provider" in nano["detail"]


def test_unpriced_row_gives_the_rate_the_invoice_implies(config) -> None:
    load(config, "unpriced")
    (row,) = run(config, "unpriced", "day").flagged
    assert row["unpriced_items"] == row["ours_items"] > 0
    (rate,) = row["rates"]
    # $0.45 an hour, from the provider's (rounded) daily cost over its seconds.
    assert abs(Decimal(rate["invoice_usd_per_unit"]) * 3600 - Decimal("0.45")) < Decimal("0.0001")
    assert "pricing.overrides" in row["check"]


def test_threshold_decides_what_is_flagged(config) -> None:
    load(config, "rate")
    assert run(config, "rate", "model", threshold=1).flagged
    assert run(config, "rate", "model", threshold=5).flagged == []  # -2.69% over the month


def test_project_filter_limits_our_side(config) -> None:
    load(config, "clean")
    export = read_exports([SCENARIOS / "clean" / f for f in spec("clean")["files"]], "openai")
    with Store.open(config) as store:
        res = compare(store.conn, export, Settings(START, END, project="sales"))
    # None of our items are in "sales": every model is provider-only coverage.
    assert {r["cause"] for r in res.rows} == {"coverage"}
    assert res.totals["ours_items"] == 0


# ------------------------------------------------------------------ issue 15: a rate change


def test_rate_change_by_model_names_the_day_and_both_rates(config) -> None:
    """Over a month whose price changed on the 12th, no blended rate ($5.32/1M never
    existed): the day it changed, the rates before and after, a dated override."""
    load(config, "rate")
    (plant,) = spec("rate")["planted"]
    (row,) = run(config, "rate", "model").flagged
    (line,) = [x for x in row["rates"] if x["differs"]]
    assert line["unit"] == plant["unit"]
    assert line["invoice_usd_per_unit"] is None
    assert line["invoice_changed_on"] == plant["changed_on"]
    assert line["invoice_before_usd_per_unit"] == plant["before_usd_per_unit"]
    assert line["invoice_after_usd_per_unit"] == plant["after_usd_per_unit"]
    assert "5.32" not in row["detail"]
    assert (
        "the invoice's rate changed on 2025-11-12: $5.00/1M tokens before, $5.50/1M tokens "
        "from then on" in row["detail"]
    )
    assert row["suggested_override"] == plant["override"]
    assert "effective_from: 2025-11-12" in row["check"]
    assert "`voicegw reprice --utc --start 2025-11-12 --end 2025-11-30" in row["check"]
    # by day, each changed day points to the same dated override
    by_day = run(config, "rate", "day").flagged
    assert {r["suggested_override"]["effective_from"] for r in by_day} == {"2025-11-12"}


def test_the_suggested_override_closes_the_gap(config, tmp_path) -> None:
    """The suggestion, written to voicegw.yaml as it is printed, then `voicegw reprice
    --apply`: the month reconciles."""
    import yaml
    from typer.testing import CliRunner

    from voicegw_cli.cli.app import app

    load(config, "rate")
    (row,) = run(config, "rate", "model").flagged
    printed = row["check"].split("pricing.overrides: ", 1)[1].split("}, then", 1)[0] + "}"
    key, _, fields = printed.partition(": ")
    override = yaml.safe_load(f"{key}: {fields}")
    cfg = yaml.safe_load(config.path.read_text())
    cfg["pricing"] = {"overrides": override}
    config.path.write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(
        app,
        ["--config", str(config.path), "reprice", "--utc"]
        + ["--start", "2025-11-12", "--end", "2025-11-30", "--provider", "anthropic", "--apply"],
    )
    assert res.exit_code == 0, res.output
    assert run(config, "rate", "day").flagged == []
    assert run(config, "rate", "model").flagged == []


def test_a_constant_negotiated_rate_gets_a_flat_override(config) -> None:
    load(config, "negotiated")
    (plant,) = spec("negotiated")["planted"]
    (row,) = run(config, "negotiated", "model").flagged
    assert row["suggested_override"] == plant["override"]  # no effective_from
    (line,) = row["rates"]
    assert "invoice_changed_on" not in line and line["differs"]
    assert "invoice implies $0.0065/minute" in row["detail"]


def test_a_clock_off_on_one_evening_is_timezone_on_two_days(config) -> None:
    load(config, "clock")
    (plant,) = spec("clock")["planted"]
    flagged = run(config, "clock", "day").flagged
    assert [r["day"] for r in flagged] == plant["days"]
    assert {r["shift_hours"] for r in flagged} == {plant["shift_hours"]}
    first = flagged[0]
    assert "differ by amounts that cancel" in first["detail"]
    assert "our clock running 3 h ahead around midnight" in first["detail"]
    short, over = (r["unit_diff_pct"]["output_tokens"] for r in flagged)
    assert short < 0 < over


def test_no_single_override_when_ours_was_right_only_after_the_change(config) -> None:
    """Our items priced at the new $5.50 all month (a flat override applied too early):
    the invoice changed on the 12th, ours is wrong before it — one dated entry cannot
    say that, so none is suggested; the finding still names the change."""
    import yaml
    from typer.testing import CliRunner

    from voicegw_cli.cli.app import app

    load(config, "rate")
    cfg = yaml.safe_load(config.path.read_text())
    cfg["pricing"] = {
        "overrides": {
            "anthropic/claude-haiku-4-5": {
                "input_per_mtok": "1.00",
                "cached_input_per_mtok": "0.10",
                "cache_write_per_mtok": "1.25",
                "output_per_mtok": "5.50",
            }
        }
    }
    config.path.write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(
        app,
        ["--config", str(config.path), "reprice", "--utc"]
        + ["--start", "2025-11-01", "--end", "2025-11-30", "--apply"],
    )
    assert res.exit_code == 0, res.output
    (row,) = run(config, "rate", "model").flagged
    assert "suggested_override" not in row
    assert "the invoice's rate changed on 2025-11-12" in row["detail"]
    assert {r["day"] for r in run(config, "rate", "day").flagged} == {
        f"2025-11-{d:02d}" for d in range(1, 12)
    }
