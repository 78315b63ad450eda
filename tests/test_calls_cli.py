"""`voicegw calls`, `calls show`, `latency`, `project` and `export-costs` over a store of
known calls (written through the real spool, as the hook writes them)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from voicegw_cli import clock
from voicegw_cli.cli.app import app
from voicegw_cli.spool import SpoolWriter

from .conftest import item
from .test_calls_store import _call, _error, _sample
from .voice_pipeline import quantile_cont

RUNNER = CliRunner()


def _run(config, *args: str):
    return RUNNER.invoke(app, ["--config", str(config.path), *args])


def _json(config, *args: str):
    res = _run(config, *args, "-f", "json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def _items(sid: str, start: datetime, costs: dict[str, str], **kw) -> list[dict]:
    out = []
    for k, (modality, cost) in enumerate(costs.items()):
        out.append(
            item(
                id=f"{sid}-{k}",
                session_id=sid,
                modality=modality,
                timestamp=start + timedelta(seconds=10 * (k + 1)),
                cost_usd=Decimal(cost),
                audio_seconds=20.0 if modality == "stt" else 0.0,
                agent=kw.get("agent", "receptionist"),
                project=kw.get("project", "support"),
            ).to_record()
        )
    return out


LATENCY = {  # session -> (metric, seconds) per turn
    "s1": [("llm_ttft", 0.30), ("llm_ttft", 0.40), ("tts_ttfb", 0.12), ("e2e_latency", 0.95)],
    "s2": [("llm_ttft", 0.80), ("tts_ttfb", 0.20), ("e2e_latency", 1.60)],
    "s3": [("llm_ttft", 0.35), ("tts_ttfb", 0.18)],
}


@pytest.fixture
def calls_store(config):
    """Five calls today: s1..s3 with records and usage, s4 usage only (its process died),
    s5 a record without usage (hung up at once)."""
    # Early in today's local day, so every call is "today" and "this week" at any instant
    # the suite is pinned to (calls may lie a little ahead of the clock; reports take days).
    local_midnight = datetime.combine(clock.today(config.tz), datetime.min.time(), config.tz)
    t = (local_midnight + timedelta(minutes=1)).astimezone(UTC)
    recs: list[dict] = []
    recs += _items("s1", t, {"stt": "0.10", "llm": "0.25", "tts": "0.15"})  # $0.50, 10 min
    recs.append(_call("s1", t, 10.0, attributes={"customer": "acme", "plan": "pro"}))
    t2 = t + timedelta(minutes=5)
    recs += _items("s2", t2, {"llm": "0.30", "tts": "0.10"}, agent="triage")  # $0.40, 2 min
    recs.append(_call("s2", t2, 2.0, agents=["triage", "billing"], attributes={"customer": "acme"}))
    t3 = t + timedelta(minutes=8)
    recs += _items("s3", t3, {"llm": "0.06", "tts": "0.04"}, project="sales")  # $0.10, 5 min
    recs.append(_call("s3", t3, 5.0, project="sales", attributes={"customer": "globex"}))
    recs += _items("s4", t + timedelta(minutes=12), {"llm": "0.05"})  # no record
    recs.append(_call("s5", t + timedelta(minutes=15), 0.1, turns=0))
    starts = {"s1": t, "s2": t2, "s3": t3}
    for sid, samples in LATENCY.items():
        for n, (metric, seconds) in enumerate(samples, start=1):
            recs.append(
                _sample(
                    sid,
                    n,
                    metric,
                    seconds,
                    starts[sid] + timedelta(seconds=5 * n),
                    project="sales" if sid == "s3" else "support",
                    provider="cartesia" if metric == "tts_ttfb" else "openai",
                    model="sonic-3" if metric == "tts_ttfb" else "gpt-4o-mini",
                )
            )
    recs.append(_error("e1", "s2", t2 + timedelta(seconds=5)))
    w = SpoolWriter(config.spool_dir)
    w.write(recs)
    w.close()
    return config


def test_top_calls_by_cost_duration_and_cost_per_minute(calls_store) -> None:
    out = _json(calls_store, "calls")
    assert out["calls"] == 5 and out["total_cost_usd"] == "1.0500000000"
    assert [r["session_id"] for r in out["rows"]] == ["s1", "s2", "s3", "s4", "s5"]
    s1 = out["rows"][0]
    assert (s1["minutes"], s1["items"], s1["cost_stt"], s1["cost_llm"], s1["cost_tts"]) == (
        10.0,
        3,
        "0.1000000000",
        "0.2500000000",
        "0.1500000000",
    )
    assert s1["cost_per_minute"] == "0.050000" and s1["attributes"]["plan"] == "pro"
    assert s1["end_reason"] == "participant_disconnected" and s1["has_record"] is True
    s4 = out["rows"][3]  # no record: times and minutes from its items
    assert s4["has_record"] is False and s4["minutes"] == 0.0 and s4["attributes"] == {}
    assert out["rows"][4]["items"] == 0  # s5: a record, no usage
    by_duration = _json(calls_store, "calls", "--sort", "duration", "--top", "2")
    assert [r["session_id"] for r in by_duration["rows"]] == ["s1", "s3"]
    by_cpm = _json(calls_store, "calls", "--sort", "cost_per_minute", "--top", "3")
    assert [r["session_id"] for r in by_cpm["rows"]] == ["s2", "s1", "s3"]  # 0.20, 0.05, 0.02
    sales = _json(calls_store, "calls", "--project", "sales")
    assert [r["session_id"] for r in sales["rows"]] == ["s3"]


def test_grouped_by_attribute_agent_project_and_day(calls_store) -> None:
    by_customer = _json(calls_store, "calls", "--by", "customer")
    rows = {r["group"]: r for r in by_customer["rows"]}
    assert list(rows) == ["acme", "globex", None]
    assert (rows["acme"]["calls"], rows["acme"]["cost_usd"], rows["acme"]["minutes"]) == (
        2,
        "0.9000000000",
        12.0,
    )
    assert rows["acme"]["cost_per_minute"] == "0.075000"
    assert rows["acme"]["cost_per_call"] == "0.450000"
    assert rows[None]["calls"] == 2  # s4 and s5 have no customer
    plan = {r["group"]: r["calls"] for r in _json(calls_store, "calls", "--by", "plan")["rows"]}
    assert plan == {"pro": 1, None: 4}
    agents = {r["group"]: r["calls"] for r in _json(calls_store, "calls", "--by", "agent")["rows"]}
    assert agents == {"receptionist": 4, "triage": 1}  # s2 answered by triage, then billing
    projects = _json(calls_store, "calls", "--by", "project")["rows"]
    assert [(r["group"], r["calls"]) for r in projects] == [("support", 4), ("sales", 1)]
    days = _json(calls_store, "calls", "--by", "day")["rows"]
    assert [r["calls"] for r in days] == [5] and days[0]["group"] == clock.today(
        calls_store.tz
    ).isoformat()
    table = _run(calls_store, "calls", "--by", "customer")
    assert table.exit_code == 0 and "Calls by customer" in table.stdout
    assert "(none)" in table.stdout


def test_unknown_group_lists_the_known_attributes(calls_store) -> None:
    res = _run(calls_store, "calls", "--by", "tier")
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0
    assert "known: customer, plan" in res.stderr and "agent, day, project" in res.stderr


def test_show_one_call_and_a_missing_one(calls_store) -> None:
    d = _json(calls_store, "calls", "show", "s2")
    assert d["agents"] == ["triage", "billing"] and d["minutes"] == 2.0
    assert [i["modality"] for i in d["line_items"]] == ["llm", "tts"]
    assert [(t["turn"], t["llm_ttft_ms"], t["tts_ttfb_ms"], t["e2e_latency_ms"]) for t in
            d["turns_detail"]] == [(1, 800.0, None, None), (2, None, 200.0, None),
                                   (3, None, None, 1600.0)]  # fmt: skip
    assert [e["error_type"] for e in d["errors"]] == ["llm_error"]
    table = _run(calls_store, "calls", "show", "s2")
    assert table.exit_code == 0 and "Latency by turn" in table.stdout
    res = _run(calls_store, "calls", "show", "nope")
    assert res.exit_code == 1 and res.stdout == ""
    assert res.stderr.startswith("Error: no call 'nope'") and res.stderr.count("\n") == 1
    flat = _run(calls_store, "calls", "show", "s1", "-f", "csv")
    row = next(csv.DictReader(io.StringIO(flat.stdout)))
    assert row["session_id"] == "s1" and row["cost_usd"] == "0.5000000000"
    logs = _json(calls_store, "logs", "--session", "s1")
    assert sorted(r["id"] for r in logs) == ["s1-0", "s1-1", "s1-2"]


def test_calls_csv_and_unknown_project(calls_store) -> None:
    res = _run(calls_store, "calls", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [r["session_id"] for r in rows][:2] == ["s1", "s2"]
    assert rows[0]["attributes"] == '{"customer":"acme","plan":"pro"}'
    res = _run(calls_store, "calls", "--project", "ghost")
    assert res.exit_code == 1 and "no project 'ghost'" in res.stderr


def test_latency_percentiles_are_duckdb_quantiles_of_the_samples(calls_store) -> None:
    out = _json(calls_store, "latency")
    rows = {(r["metric"], r["model"]): r for r in out["rows"]}
    assert [r["metric"] for r in out["rows"]] == ["llm_ttft", "tts_ttfb", "e2e_latency"]
    ttft = [0.30, 0.40, 0.80, 0.35]
    r = rows["llm_ttft", "openai/gpt-4o-mini"]
    assert r["count"] == 4 and r["max_ms"] == 800.0
    for q, key in ((0.5, "p50_ms"), (0.9, "p90_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")):
        assert r[key] == round(quantile_cont(ttft, q) * 1000, 1)
    assert r["p50_ms"] == 375.0 and r["p95_ms"] == 740.0
    by_provider = {
        (r["metric"], r["provider"]): r["count"]
        for r in _json(calls_store, "latency", "--by", "provider")["rows"]
    }
    assert by_provider == {
        ("llm_ttft", "openai"): 4,
        ("tts_ttfb", "cartesia"): 3,
        ("e2e_latency", "openai"): 2,
    }
    only = _json(calls_store, "latency", "--metric", "tts_ttfb", "--by", "project")
    assert [(r["project"], r["count"], r["p50_ms"]) for r in only["rows"]] == [
        ("support", 2, 160.0),
        ("sales", 1, 180.0),
    ]
    day = _json(calls_store, "latency", "--by", "day", "-m", "llm_ttft,e2e_latency")
    assert [(r["metric"], r["count"]) for r in day["rows"]] == [("llm_ttft", 4), ("e2e_latency", 2)]
    assert day["rows"][0]["day"] == clock.today(calls_store.tz).isoformat()
    res = _run(calls_store, "latency", "--metric", "ttfb")
    assert res.exit_code == 2 and "choose from transcription_delay" in res.stderr
    table = _run(calls_store, "latency", "--period", "week")
    assert table.exit_code == 0 and "Latency by model (ms)" in table.stdout


def test_projects_count_todays_calls(calls_store) -> None:
    """s1, s2, s4 (usage only) and s5 (a record only) are support's; s3 is sales'."""
    rows = {r["id"]: r for r in _json(calls_store, "projects")}
    assert (rows["support"]["today_calls"], rows["sales"]["today_calls"]) == (4, 1)
    wide = RUNNER.invoke(app, ["--config", str(calls_store.path), "projects"],
                         env={"COLUMNS": "200"})  # fmt: skip
    assert "today calls" in wide.stdout


def test_project_shows_the_weeks_p95_next_to_spend(calls_store) -> None:
    d = _json(calls_store, "project", "support")
    assert d["week_latency"]["llm_ttft"] == {"count": 3, "p95_ms": 760.0}  # of 300, 400, 800
    assert d["week_latency"]["e2e_latency"]["count"] == 2
    table = _run(calls_store, "project", "support")
    assert "Week p95" in table.stdout and "LLM TTFT 760 ms" in table.stdout


def test_export_costs_has_attribute_columns_and_ingests_back(
    calls_store, write_config, tmp_path
) -> None:
    local_midnight = datetime.combine(
        clock.today(calls_store.tz), datetime.min.time(), calls_store.tz
    )
    day = (local_midnight + timedelta(minutes=1)).astimezone(UTC).date().isoformat()
    for fmt in ("csv", "json", "ndjson", "parquet"):
        out = tmp_path / f"export.{fmt}"
        res = _run(calls_store, "export-costs", "--utc", "--start", day, "--end", day,
                   "-f", fmt, "-o", str(out))  # fmt: skip
        assert res.exit_code == 0, res.output
        if fmt == "csv":
            rows = list(csv.DictReader(out.open()))
            assert list(rows[0])[-2:] == ["attr_customer", "attr_plan"]
            got = {r["id"]: (r["attr_customer"], r["attr_plan"]) for r in rows}
            assert got["s1-0"] == ("acme", "pro") and got["s4-0"] == ("", "")
        fresh = write_config(
            f"timezone: UTC\nstorage: {{store: {fmt}/usage.duckdb, spool: {fmt}/spool}}\n",
            name=f"fresh-{fmt}.yaml",
        )
        res = RUNNER.invoke(app, ["--config", str(fresh.path), "ingest", str(out)])
        assert res.exit_code == 0, res.output
        back = RUNNER.invoke(
            app, ["--config", str(fresh.path), "calls", "--period", day, "-f", "json"]
        )
        assert json.loads(back.stdout)["total_cost_usd"] == "1.0500000000", fmt


def test_export_without_calls_keeps_the_item_columns(config, tmp_path) -> None:
    from voicegw_cli.items import COLUMN_NAMES

    w = SpoolWriter(config.spool_dir)
    w.write([item(id="x", timestamp=datetime(2026, 11, 10, 12, tzinfo=UTC)).to_record()])
    w.close()
    res = _run(config, "export-costs", "--start", "2026-11-10", "--end", "2026-11-10")
    assert res.stdout.splitlines()[0].split(",") == list(COLUMN_NAMES)
