"""reprice: costs recomputed from stored units, shown before/after, written only with
--apply, in one transaction with an audit entry; corrections keep their cost."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from tests.conftest import item
from tests.test_reconcile_scenarios import load_items
from voicegw_cli.cli.app import app
from voicegw_cli.reprice import reprice
from voicegw_cli.store import Store

OUTPUT_RATE = Decimal("0.0000055")  # the corrected price: $5.50 per million output tokens
INPUT_RATE = Decimal("0.000001")


class FixedPriceList:
    """Prices what it is given the way `Pricer.price_table` does: rows whose cost is null
    get a cost from their units and a pricing_source; others are left alone."""

    def __init__(self, overrides: Any = None) -> None:
        self.overrides = overrides

    def price_table(self, table: Any) -> Any:
        money = pa.decimal128(18, 10)
        costs = [
            c if c is not None else (INPUT_RATE * i + OUTPUT_RATE * o).quantize(Decimal("1e-10"))
            for c, i, o in zip(
                table.column("cost_usd").to_pylist(),
                table.column("input_tokens").to_pylist(),
                table.column("output_tokens").to_pylist(),
                strict=True,
            )
        ]
        src = pc.if_else(
            pc.is_null(table.column("cost_usd")), "override", table.column("pricing_source")
        )
        table = table.set_column(
            table.schema.get_field_index("cost_usd"), "cost_usd", pa.array(costs, money)
        )
        return table.set_column(
            table.schema.get_field_index("pricing_source"), "pricing_source", src
        )


NOV = (datetime(2026, 11, 1), datetime(2026, 12, 1))


def at(day: int) -> datetime:
    return datetime(2026, 11, day, 12, tzinfo=UTC)


@pytest.fixture
def seeded(config, tmp_path: Path):
    items = [
        item(
            id="h1",
            timestamp=at(2),
            provider="anthropic",
            model="claude-haiku-4-5",
            input_tokens=1000,
            output_tokens=200,
            cost_usd=Decimal("0.002"),
        ),
        item(
            id="h2",
            timestamp=at(20),
            provider="anthropic",
            model="claude-haiku-4-5",
            input_tokens=3000,
            output_tokens=100,
            cost_usd=Decimal("0.0035"),
        ),
        item(id="g1", timestamp=at(3), cost_usd=Decimal("0.00021")),  # openai, other model
        item(
            id="fix",
            timestamp=at(4),
            provider="anthropic",
            model="claude-haiku-4-5",
            input_tokens=0,
            output_tokens=0,
            cost_usd=Decimal("1.50"),
            metadata={"correction": True, "note": "a call the hook missed"},
        ),
        item(
            id="u1",
            timestamp=at(5),
            provider="anthropic",
            model="claude-haiku-4-5",
            input_tokens=500,
            output_tokens=50,
            cost_usd=None,
            pricing_source="unpriced",
        ),
        item(
            id="dec",
            timestamp=datetime(2026, 12, 1, 0, 0, tzinfo=UTC),
            provider="anthropic",
            model="claude-haiku-4-5",
            cost_usd=Decimal("0.001"),
        ),  # outside the period
    ]
    f = tmp_path / "seed.ndjson"
    f.write_text("\n".join(json.dumps(i.to_record()) for i in items) + "\n")
    load_items(config, f)
    return config


def costs(config) -> dict[str, tuple[Decimal | None, str]]:
    with Store.open(config) as s:
        rows = s.conn.execute("SELECT id, cost_usd, pricing_source FROM line_items").fetchall()
    return {i: (c, src) for i, c, src in rows}


def test_dry_run_shows_before_and_after_and_writes_nothing(seeded) -> None:
    before = costs(seeded)
    with Store.open(seeded) as s:
        result = reprice(s.conn, FixedPriceList(), *NOV, provider="anthropic")
    (m,) = result.models
    assert (m.provider, m.model, m.items) == ("anthropic", "claude-haiku-4-5", 3)
    assert m.before == Decimal("0.0055")  # h1 + h2; u1 had no cost
    # 1000 in + 200 out, 3000 in + 100 out, 500 in + 50 out at the fixed rates
    assert m.after == Decimal("0.0021") + Decimal("0.00355") + Decimal("0.000775")
    assert (m.unpriced_before, m.unpriced_after, m.changed) == (1, 0, 3)
    assert not result.applied
    assert costs(seeded) == before


def test_apply_writes_changes_in_one_transaction_with_an_audit_entry(seeded) -> None:
    with Store.open(seeded) as s:
        result = reprice(
            s.conn, FixedPriceList(), *NOV, provider="anthropic", apply=True, actor="test"
        )
    assert result.applied and result.changed == 3
    after = costs(seeded)
    assert after["h1"] == (Decimal("0.0021000000"), "override")
    assert after["u1"] == (Decimal("0.0007750000"), "override")
    assert after["fix"][0] == Decimal("1.5000000000")  # a correction keeps its cost
    assert after["g1"][0] == Decimal("0.0002100000")  # other provider untouched
    assert after["dec"][0] == Decimal("0.0010000000")  # outside the period untouched
    with Store.open(seeded) as s:
        (entry,) = s.conn.execute(
            "SELECT action, target, old_value, new_value, actor FROM audit_log"
        ).fetchall()
    assert entry[:2] == ("reprice", "anthropic/* 2026-11-01..2026-11-30")
    assert json.loads(entry[2]) == {"cost_usd": "0.0055000000"}
    assert json.loads(entry[3])["items_changed"] == 3 and entry[4] == "test"
    # Applying again finds nothing to change.
    with Store.open(seeded) as s:
        again = reprice(s.conn, FixedPriceList(), *NOV, provider="anthropic", apply=True)
    assert again.changed == 0 and not again.applied


def test_a_failure_leaves_every_cost_as_it_was(seeded, monkeypatch) -> None:
    before = costs(seeded)

    def boom(*args: Any, **kw: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("voicegw_cli.projects.record_audit", boom)
    with Store.open(seeded) as s, pytest.raises(RuntimeError):
        reprice(s.conn, FixedPriceList(), *NOV, apply=True)
    assert costs(seeded) == before


def test_model_filter(seeded) -> None:
    with Store.open(seeded) as s:
        result = reprice(s.conn, FixedPriceList(), *NOV, model="gpt-4o-mini")
    assert [(m.model, m.items, m.changed) for m in result.models] == [("gpt-4o-mini", 1, 1)]


OVERRIDE = """
pricing:
  overrides:
    anthropic/claude-haiku-4-5:
      input_per_mtok: "1.00"
      output_per_mtok: "5.50"
"""


@pytest.fixture
def cli(seeded):
    """The real command, with the real Pricer and a negotiated rate in voicegw.yaml."""
    seeded.path.write_text(seeded.path.read_text() + OVERRIDE)
    runner = CliRunner()
    return lambda *a: runner.invoke(app, ["--config", str(seeded.path), *a], terminal_width=160)


def test_cli_dry_run_then_apply(cli, seeded) -> None:
    period = ["--utc", "--start", "2026-11-01", "--end", "2026-11-30", "--provider", "anthropic"]
    res = cli("reprice", *period)
    assert res.exit_code == 0, res.output
    assert "before $0.0055 → after $0.0064" in res.stdout
    assert "dry run: 3 items would change; nothing written (add --apply)" in res.stdout
    assert costs(seeded)["h1"][1] != "override"
    res = cli("reprice", *period, "--apply", "--format", "json")
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert body["applied"] is True and body["changed_items"] == 3
    assert body["before_usd"] == "0.0055000000" and body["after_usd"] == "0.0064250000"
    assert body["rows"][0]["model"] == "claude-haiku-4-5"
    assert body["rows"][0]["pricing_sources"] == ["override"]
    assert costs(seeded)["h1"] == (Decimal("0.0021000000"), "override")
    assert costs(seeded)["fix"][0] == Decimal("1.5000000000")


def test_cli_usage_errors(cli) -> None:
    res = cli("reprice", "--start", "2026-11-30", "--end", "2026-11-01")
    assert res.exit_code == 2
    assert res.stderr.strip() == "Error: --start 2026-11-30 is after --end 2026-11-01"
