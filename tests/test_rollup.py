"""The 15-minute rollup always equals a fresh sum of the items, whatever wrote them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from voicegw_cli.ingest import ingest_files
from voicegw_cli.spool import SpoolWriter
from voicegw_cli.store import Store, queries, rollup

from .conftest import item

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "items"


def test_fold_ingest_and_reprice_keep_the_rollup_exact(config) -> None:
    w = SpoolWriter(config.spool_dir)
    base = datetime(2026, 11, 10, 23, 50, tzinfo=UTC)
    w.write(
        [
            item(id=f"s{i}", timestamp=base + timedelta(minutes=3 * i), cost_usd=Decimal("0.01"))
            for i in range(20)
        ]
    )
    w.write([item(id="u", model="mystery", cost_usd=None, pricing_source="unpriced").to_record()])
    w.close()
    with Store.open(config) as store:
        assert rollup.mismatches(store.conn) == 0
        ingest_files(store, [FIXTURES / "line-items.csv", FIXTURES / "voicegateway-export.csv"])
        assert rollup.mismatches(store.conn) == 0
        n_roll = store.conn.execute("SELECT SUM(items) FROM rollup_15m").fetchall()[0][0]
        n_items = store.conn.execute("SELECT count(*) FROM line_items").fetchall()[0][0]
        assert n_roll == n_items
    with Store.open(config) as store:  # a second fold of the same spool adds nothing
        assert rollup.mismatches(store.conn) == 0
    from voicegw_cli.pricing import Pricer
    from voicegw_cli.reprice import reprice

    with Store.open(config) as store:
        result = reprice(
            store.conn,
            Pricer({"openai/gpt-4o-mini": {"input_per_mtok": 1, "output_per_mtok": 2}}),
            datetime(2026, 11, 1),
            datetime(2026, 12, 1),
            apply=True,
            actor="test",
        )
        assert result.changed > 0
        assert rollup.mismatches(store.conn) == 0


def test_reports_read_the_rollup_and_agree_with_the_items(config) -> None:
    with Store.open(config) as store:
        ingest_files(store, [FIXTURES / "line-items.csv"])
        lo, hi = datetime(2026, 11, 1), datetime(2026, 12, 1)
        from_rollup = queries.costs(store.conn, lo, hi, by="model")
        # a bound off the quarter hour reads the items instead: the same answer
        from_items = queries.costs(store.conn, lo, hi - timedelta(seconds=1), by="model")
        assert from_rollup == from_items
        by_day = queries.costs(store.conn, lo, hi, by="day", tz="America/New_York")
        by_day_items = queries.costs(
            store.conn, lo, hi - timedelta(seconds=1), by="day", tz="America/New_York"
        )
        assert by_day == by_day_items


def test_an_old_store_gets_its_rollup(config) -> None:
    import duckdb

    with Store.open(config) as store:
        ingest_files(store, [FIXTURES / "line-items.csv"])
    conn = duckdb.connect(str(config.store_path))  # as a store from before the rollup
    conn.execute("DROP TABLE rollup_15m")
    conn.execute("DELETE FROM _migrations WHERE name = 'm0801_rollup'")
    conn.close()
    with Store.open(config) as store:
        assert rollup.mismatches(store.conn) == 0
        assert store.conn.execute("SELECT SUM(items) FROM rollup_15m").fetchall()[0][0] == 5
