"""`voicegw export-costs`: the line-item columns in every format, exact money, UTC days,
streaming to stdout, atomic files, and a round trip through `ingest`."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests.conftest import item
from tests.test_reconcile_scenarios import load_items
from voicegw_cli.cli.app import app
from voicegw_cli.items import COLUMN_NAMES
from voicegw_cli.store import Store

ITEMS = [
    item(
        id="a",
        timestamp=datetime(2026, 11, 10, 0, 0, tzinfo=UTC),
        cost_usd=Decimal("0.0001234567"),
        metadata={"turn": 1},
    ),
    item(
        id="b",
        timestamp=datetime(2026, 11, 11, 23, 59, 59, 999000, tzinfo=UTC),
        modality="stt",
        provider="deepgram",
        model="nova-3",
        input_tokens=0,
        output_tokens=0,
        audio_seconds=12.37,
        cost_usd=Decimal("0.0015873333"),
    ),
    item(id="c", timestamp=datetime(2026, 11, 12, 0, 0, tzinfo=UTC), project="sales"),
    item(id="d", timestamp=datetime(2026, 11, 9, 23, 59, 59, tzinfo=UTC)),  # before
    item(
        id="e",
        timestamp=datetime(2026, 11, 11, 8, 0, tzinfo=UTC),
        modality="tts",
        provider="cartesia",
        model="sonic-3",
        input_tokens=0,
        output_tokens=0,
        characters=310,
        cost_usd=None,
        pricing_source="unpriced",
    ),
]


@pytest.fixture
def cli(config, tmp_path: Path):
    f = tmp_path / "seed.ndjson"
    f.write_text("\n".join(json.dumps(i.to_record()) for i in ITEMS) + "\n")
    load_items(config, f)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, ["--config", str(config.path), *args])

    return invoke


#: These tests pin UTC day boundaries; `--utc` reads the days in UTC in any test zone.
DAYS = ["--start", "2026-11-10", "--end", "2026-11-11", "--utc"]


def test_csv_columns_days_and_exact_values(cli) -> None:
    res = cli("export-costs", *DAYS)
    assert res.exit_code == 0, res.output
    reader = csv.DictReader(io.StringIO(res.stdout))
    assert tuple(reader.fieldnames or ()) == COLUMN_NAMES
    rows = {r["id"]: r for r in reader}
    assert set(rows) == {"a", "b", "e"}  # inclusive UTC days, other projects included
    assert rows["a"]["timestamp"] == "2026-11-10T00:00:00.000000+00:00"
    assert rows["b"]["timestamp"] == "2026-11-11T23:59:59.999000+00:00"
    assert rows["a"]["cost_usd"] == "0.0001234567"
    assert rows["b"]["audio_seconds"] == "12.37"
    assert rows["e"]["cost_usd"] == "" and rows["e"]["pricing_source"] == "unpriced"
    assert json.loads(rows["a"]["metadata"]) == {"turn": 1}


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_json_formats_carry_money_as_strings(cli, fmt: str) -> None:
    res = cli("export-costs", *DAYS, "--format", fmt, "--project", "support")
    assert res.exit_code == 0, res.output
    if fmt == "json":
        records = json.loads(res.stdout)
    else:
        records = [json.loads(line) for line in res.stdout.splitlines()]
    assert [tuple(r) for r in records] == [COLUMN_NAMES] * len(records)
    by_id = {r["id"]: r for r in records}
    assert set(by_id) == {"a", "b", "e"}
    assert by_id["a"]["cost_usd"] == "0.0001234567"
    assert by_id["e"]["cost_usd"] is None
    assert by_id["a"]["input_tokens"] == 1000 and by_id["b"]["audio_seconds"] == 12.37


def test_parquet_keeps_native_types(cli, tmp_path: Path) -> None:
    out = tmp_path / "items.parquet"
    res = cli("export-costs", *DAYS, "--format", "parquet", "-o", str(out))
    assert res.exit_code == 0, res.output
    assert "wrote 3 line items" in res.stderr
    table = pq.read_table(out)
    assert tuple(table.column_names) == COLUMN_NAMES
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("cost_usd").type == pa.decimal128(18, 10)
    costs = dict(
        zip(table.column("id").to_pylist(), table.column("cost_usd").to_pylist(), strict=True)
    )
    assert costs["b"] == Decimal("0.0015873333")


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson"])
def test_file_and_stdout_are_the_same_bytes(cli, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"items.{fmt}"
    assert cli("export-costs", *DAYS, "-f", fmt, "-o", str(out)).exit_code == 0
    assert cli("export-costs", *DAYS, "-f", fmt).stdout_bytes == out.read_bytes()


def test_round_trip_through_ingest(cli, config, tmp_path: Path, write_config) -> None:
    out = tmp_path / "all.csv"
    assert (
        cli(
            "export-costs", "--start", "2026-11-01", "--end", "2026-11-30", "-o", str(out)
        ).exit_code
        == 0
    )
    other = write_config(
        "storage:\n  store: other.duckdb\n  spool: other-spool\n", name="other.yaml"
    )
    assert load_items(other, out) == 5

    def dump(cfg) -> list[tuple]:
        with Store.open(cfg) as s:
            return s.conn.execute("SELECT * FROM line_items ORDER BY id").fetchall()

    assert dump(other) == dump(config)


def test_a_failed_export_leaves_no_file(cli, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "items.csv"
    out.write_text("previous export\n")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("voicegw_cli.export.os.replace", boom)
    res = cli("export-costs", *DAYS, "-o", str(out))
    assert res.exit_code == 1
    assert res.stderr.strip() == f"Error: {out}: cannot write the export: disk full"
    assert out.read_text() == "previous export\n"  # untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["--start", "2026-11-12", "--end", "2026-11-10"],
            2,
            "Error: --start 2026-11-12 is after --end 2026-11-10",
        ),
        (
            ["--start", "2026-11-10", "--end", "soon"],
            2,
            "Error: --end: expected a date like 2026-11-01, got 'soon'",
        ),
        ([*DAYS, "--project", "nobody"], 1, "Error: no project 'nobody'"),
        (
            [*DAYS, "-o", "/nonexistent/dir/x.csv"],
            2,
            "Error: -o /nonexistent/dir/x.csv: folder /nonexistent/dir does not exist",
        ),
    ],
)
def test_bad_arguments(cli, args: list[str], code: int, message: str) -> None:
    res = cli("export-costs", *args)
    assert res.exit_code == code
    assert res.stderr.startswith(message)


def test_empty_period_is_a_header_only_csv(cli) -> None:
    res = cli("export-costs", "--start", "2020-01-01", "--end", "2020-01-31")
    assert res.exit_code == 0
    assert res.stdout.strip() == ",".join(COLUMN_NAMES)


def test_stdout_of_a_real_process_gets_every_row(cli, config) -> None:
    """Through a pipe DuckDB writes to the descriptor itself; a reader that stops early
    (`| head`) ends the export quietly."""
    import subprocess
    import sys

    cmd = [
        sys.executable,
        "-c",
        "from voicegw_cli.cli.app import main; main()",
        "--config",
        str(config.path),
        "export-costs",
        *DAYS,
        "-f",
        "ndjson",
    ]
    done = subprocess.run(cmd, capture_output=True, check=True)
    assert sorted(json.loads(line)["id"] for line in done.stdout.splitlines()) == ["a", "b", "e"]
    head = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert head.stdout is not None
    head.stdout.readline()
    head.stdout.close()
    assert head.wait() == 0
    assert b"Traceback" not in head.stderr.read()


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_costs_and_export_costs_agree_on_any_period(write_config, tmp_path: Path, zone) -> None:
    """The same --start/--end means the same items to every command, in the configured zone."""
    from tests.conftest import BASIC_YAML_TEMPLATE

    cfg = write_config(BASIC_YAML_TEMPLATE.format(tz=zone), name=f"{zone.replace('/', '_')}.yaml")
    f = tmp_path / "seed.ndjson"
    f.write_text("\n".join(json.dumps(i.to_record()) for i in ITEMS) + "\n")
    load_items(cfg, f)
    runner = CliRunner()
    for days in (DAYS[:4], ["--period", "2026-11-11"], ["--period", "2026-11"]):
        base = ["--config", str(cfg.path)]
        costs = json.loads(
            runner.invoke(app, [*base, "costs", *days, "--by", "project", "-f", "json"]).stdout
        )
        exported = list(
            csv.DictReader(io.StringIO(runner.invoke(app, [*base, "export-costs", *days]).stdout))
        )
        assert costs["items"] == len(exported), (zone, days)
        priced = [Decimal(r["cost_usd"]) for r in exported if r["cost_usd"]]
        assert Decimal(costs["total_cost_usd"]) == sum(priced, Decimal(0)), (zone, days)
        assert costs["period"]["timezone"] == zone
