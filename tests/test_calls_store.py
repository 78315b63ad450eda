"""Calls, latency samples and errors in the store: the fold takes each record kind exactly
once, and the per-call totals (`call_usage`) always equal the line items they summarise,
through folds, ingest and reprice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from voicegw_cli.records import COLUMNS_BY_KIND, record
from voicegw_cli.spool import SpoolWriter, spool_files
from voicegw_cli.store import Store
from voicegw_cli.store.fold import TABLE_BY_KIND

from .conftest import item

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def _call(sid: str, start: datetime, minutes: float, **kw) -> dict:
    end = start + timedelta(minutes=minutes)
    return record(
        "call",
        session_id=sid,
        project=kw.pop("project", "support"),
        started_at=start.isoformat(),
        ended_at=end.isoformat(),
        duration_seconds=minutes * 60,
        agents=kw.pop("agents", ["receptionist"]),
        turns=kw.pop("turns", 3),
        attributes=kw.pop("attributes", {}),
        end_reason=kw.pop("end_reason", "participant_disconnected"),
        lk_usage=[],
        **kw,
    )


def _sample(sid: str, n: int, metric: str, seconds: float, at: datetime, **kw) -> dict:
    return record(
        "latency",
        id=f"{sid}:i{n}:{metric}",
        timestamp=at.isoformat(),
        session_id=sid,
        project=kw.get("project", "support"),
        agent="receptionist",
        turn=n,
        item_id=f"i{n}",
        metric=metric,
        seconds=seconds,
        provider=kw.get("provider", "openai"),
        model=kw.get("model", "gpt-4o-mini"),
    )


def _error(eid: str, sid: str, at: datetime, recoverable: bool = True) -> dict:
    return record(
        "error",
        id=eid,
        timestamp=at.isoformat(),
        session_id=sid,
        project="support",
        agent="receptionist",
        source="llm",
        provider="openai",
        model="gpt-4o-mini",
        error_type="llm_error",
        recoverable=recoverable,
        message="overloaded",
    )


def _counts(config) -> dict[str, int]:
    with Store.open(config) as store:
        return {
            t: store.conn.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            for t in ("line_items", *TABLE_BY_KIND.values())
        }


def _mixed_batch() -> list[dict]:
    recs = [
        item(id=f"i{k}", session_id="s1", timestamp=T0 + timedelta(seconds=k)).to_record()
        for k in range(3)
    ]
    recs.append(_call("s1", T0, 2.0, attributes={"customer": "acme"}))
    recs += [_sample("s1", 1, m, 0.25, T0) for m in ("llm_ttft", "tts_ttfb")]
    recs.append(_error("e1", "s1", T0))
    return recs


def test_tables_match_the_record_contracts(config) -> None:
    store_only = {"latency": [("series", "UINTEGER")]}  # the store's own group key
    with Store.open(config) as store:
        for kind, table in TABLE_BY_KIND.items():
            cols = store.conn.execute(f"DESCRIBE {table}").fetchall()
            expected = [*COLUMNS_BY_KIND[kind], *store_only.get(kind, [])]
            assert [(c[0], c[1]) for c in cols] == expected, table


def test_every_kind_folds_exactly_once(config) -> None:
    w = SpoolWriter(config.spool_dir)
    batch = _mixed_batch()
    w.write(batch)
    w.write(batch)  # a replay: same ids, same call
    assert _counts(config) == {
        "line_items": 3,
        "calls": 1,
        "latency_samples": 2,
        "session_errors": 1,
    }
    w.write([_sample("s1", 2, "llm_ttft", 0.5, T0 + timedelta(seconds=30))])
    w.write([_sample("s2", 1, "llm_ttft", 0.7, T0, project="sales")])  # same series
    with Store.open(config) as store:
        assert store.fold_result.records_added == {"latency": 2}
        assert store.fold_result.items_added == 0
        series = store.conn.execute(
            "SELECT metric, provider, model FROM latency_series ORDER BY series"
        ).fetchall()
        assert series == [  # one number per combination, never renumbered
            ("llm_ttft", "openai", "gpt-4o-mini"),
            ("tts_ttfb", "openai", "gpt-4o-mini"),
        ]
        (orphans,) = store.conn.execute(
            "SELECT count(*) FROM latency_samples s ANTI JOIN latency_series k"
            " ON s.series = k.series AND s.metric = k.metric AND s.model = k.model"
        ).fetchall()[0]
        assert orphans == 0
    w.close()
    with Store.open(config) as store:
        assert store.fold_result.files_retired  # everything folded, writer gone
    assert _counts(config)["latency_samples"] == 4


def test_unknown_kind_and_corrupt_lines_are_kept_aside(config) -> None:
    w = SpoolWriter(config.spool_dir)
    lines = [json.dumps(r) for r in _mixed_batch()]
    lines.insert(2, '{"kind":"guardrail","id":"g1"}')  # a newer writer's record
    lines.insert(4, '{"kind":"call", "session_id": ')  # corrupt
    w.write_lines(("\n".join(lines) + "\n").encode())
    w.close()
    assert _counts(config) == {
        "line_items": 3,
        "calls": 1,
        "latency_samples": 2,
        "session_errors": 1,
    }
    rejected = (config.spool_dir / "rejected" / "rejected.ndjson").read_text().splitlines()
    assert [json.loads(r)["line"][:20] for r in rejected] == [
        '{"kind":"guardrail",',
        '{"kind":"call", "ses',
    ]


KILLER = textwrap.dedent(
    """
    import os, sys
    import voicegw_cli.store.fold as fold
    from voicegw_cli.config import load_config
    from voicegw_cli.store import Store
    real = fold.insert_records
    def insert_then_die(conn, kind, table):
        real(conn, kind, table)
        if kind == "latency":
            os._exit(9)  # killed mid-transaction: items, call, samples inserted, not committed
        return 0
    fold.insert_records = insert_then_die
    Store.open(load_config(sys.argv[1])).close()
    """
)


def test_fold_killed_mid_transaction_is_redone_whole(config) -> None:
    Store.open(config).close()
    w = SpoolWriter(config.spool_dir)
    w.write(_mixed_batch())
    w.close()
    root = str(Path(__file__).resolve().parent.parent)
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(config.path)],
        env={**os.environ, "PYTHONPATH": root},
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 9, proc.stderr[-2000:]
    assert spool_files(config.spool_dir)  # nothing was committed, nothing retired
    assert _counts(config) == {
        "line_items": 3,
        "calls": 1,
        "latency_samples": 2,
        "session_errors": 1,
    }
    with Store.open(config) as store:
        (n,) = store.conn.execute("SELECT sum(items) FROM call_usage").fetchall()[0]
    assert n == 3


# ------------------------------------------------------------------ per-call totals

_PER_SESSION = """SELECT session_id, count(*), count(*) FILTER (WHERE pricing_source = 'unpriced'),
    COALESCE(SUM(cost_usd), 0), COALESCE(SUM(cost_usd) FILTER (WHERE modality = 'stt'), 0),
    COALESCE(SUM(cost_usd) FILTER (WHERE modality = 'llm'), 0), SUM(input_tokens),
    min(timestamp), max(timestamp)
    FROM line_items WHERE session_id IS NOT NULL GROUP BY ALL ORDER BY 1"""
_LEDGER = """SELECT session_id, SUM(items), SUM(unpriced_items), SUM(cost_usd), SUM(cost_stt),
    SUM(cost_llm), SUM(input_tokens), min(first_at), max(last_at)
    FROM call_usage GROUP BY ALL ORDER BY 1"""


def _ledger_matches(config) -> list:
    with Store.open(config) as store:
        items = store.conn.execute(_PER_SESSION).fetchall()
        ledger = store.conn.execute(_LEDGER).fetchall()
        # one row per (session, quarter hour, project, agent): updates, not appends
        dupes = store.conn.execute(
            "SELECT count(*) - count(DISTINCT (session_id, bucket, project, agent)) FROM call_usage"
        ).fetchall()[0][0]
    assert dupes == 0
    assert ledger == items
    return items


def test_call_totals_follow_folds_ingest_and_reprice(config, tmp_path: Path) -> None:
    from voicegw_cli.ingest import ingest_files
    from voicegw_cli.reprice import reprice

    w = SpoolWriter(config.spool_dir)
    for k in range(3):  # three folds, same session and quarter hour: rows are updated
        w.write(
            [
                item(
                    id=f"a{k}",
                    session_id="s1",
                    modality="stt" if k == 1 else "llm",
                    timestamp=T0 + timedelta(minutes=k),
                    cost_usd=Decimal("0.01") * (k + 1),
                    audio_seconds=30.0 if k == 1 else 0.0,
                ).to_record()
            ]
        )
        _ledger_matches(config)
    w.write(
        [
            item(id="b1", session_id="s1", timestamp=T0 + timedelta(minutes=20)).to_record(),
            item(id="b2", session_id="s2", project="sales", timestamp=T0).to_record(),
            item(id="b3", session_id=None, timestamp=T0).to_record(),
            item(
                id="b4",
                session_id="s2",
                timestamp=T0,
                cost_usd=None,
                pricing_source="unpriced",
            ).to_record(),
        ]
    )
    rows = _ledger_matches(config)
    assert [r[:2] for r in rows] == [("s1", 4), ("s2", 2)]
    csv = tmp_path / "more.csv"
    csv.write_text(
        "timestamp,session_id,modality,provider,model,input_tokens,output_tokens,cost_usd\n"
        "2026-11-10T12:01:00Z,s2,llm,openai,gpt-4o-mini,100,10,0.25\n"
        "2026-11-10T13:00:00Z,s3,llm,openai,gpt-4o-mini,100,10,0.50\n"
    )
    with Store.open(config) as store:
        ingest_files(store, [csv])
        ingest_files(store, [csv])  # a second ingest adds nothing, to items or totals
    rows = _ledger_matches(config)
    assert [r[:2] for r in rows] == [("s1", 4), ("s2", 3), ("s3", 1)]
    from voicegw_cli.pricing import Pricer

    with Store.open(config) as store:
        before = store.conn.execute("SELECT SUM(cost_usd) FROM call_usage").fetchall()[0][0]
        result = reprice(
            store.conn,
            Pricer({"openai/gpt-4o-mini": {"input_per_mtok": "100", "output_per_mtok": "400"}}),
            datetime(2026, 11, 10),
            datetime(2026, 11, 11),
            provider="openai",
            apply=True,
        )
        assert result.changed
        after = store.conn.execute("SELECT SUM(cost_usd) FROM call_usage").fetchall()[0][0]
    assert before != after
    _ledger_matches(config)
    with Store.open(config) as store:  # a rebuild from the items changes nothing
        from voicegw_cli.store.calls import rebuild_usage

        first = store.conn.execute(_LEDGER).fetchall()
        rebuild_usage(store.conn)
        assert store.conn.execute(_LEDGER).fetchall() == first


def test_migration_fills_totals_from_existing_items(config) -> None:
    """A store from before issue 12 gets call_usage built from its items."""
    import duckdb

    from voicegw_cli.store import migrations

    config.store_path.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(config.store_path))
    conn.execute("SET TimeZone='UTC'")
    old = [m for m in migrations.MIGRATIONS if not m.__name__.startswith("m12")]
    new = migrations.MIGRATIONS
    migrations.MIGRATIONS = old
    try:
        migrations.migrate(conn)
    finally:
        migrations.MIGRATIONS = new
    conn.execute(
        "INSERT INTO line_items (id, timestamp, project, session_id, modality, provider, model,"
        " input_tokens, cached_input_tokens, cache_write_tokens, output_tokens,"
        " reasoning_tokens, audio_input_tokens, audio_output_tokens, audio_seconds,"
        " characters, cost_usd, pricing_source) VALUES"
        " ('x1', '2026-11-10 12:00', 'support', 'old', 'llm', 'openai', 'm', 5, 0, 0, 1, 0,"
        " 0, 0, 0, 0, 0.5, 'test'),"
        " ('x2', '2026-11-10 12:20', 'support', 'old', 'tts', 'cartesia', 'm', 0, 0, 0, 0, 0,"
        " 0, 0, 0, 10, 0.25, 'test')"
    )
    conn.close()
    rows = _ledger_matches(config)
    assert [r[:4] for r in rows] == [("old", 2, 0, Decimal("0.7500000000"))]


def test_calls_of_a_store_with_usage_but_no_call_records(config) -> None:
    """Usage from agents without call records (an older hook, `voicegw ingest`): ranking and
    grouping still work once totals pass 127 (DuckDB 2.0's compressed materialization
    narrowed them to INT8 and failed; the store turns that optimizer off)."""
    from voicegw_cli.store import calls as call_store

    w = SpoolWriter(config.spool_dir)
    recs = [
        item(
            id=f"s{n % 3}-{n}", session_id=f"s{n % 3}", timestamp=T0 + timedelta(seconds=n)
        ).to_record()
        for n in range(300)
    ]
    w.write(recs)
    w.close()
    with Store.open(config) as store:
        assert store.conn.execute("SELECT count(*) FROM calls").fetchone() == (0,)
        start, end = T0.replace(tzinfo=None, hour=0), T0.replace(tzinfo=None, hour=23)
        top, totals = call_store.top_calls(store.conn, start, end)
        assert totals["calls"] == 3 and totals["items"] == 300
        assert [r["items"] for r in top] == [100, 100, 100]
        by_project = call_store.grouped_calls(store.conn, start, end, by="project")
        assert [(r["group"], r["calls"], r["items"]) for r in by_project] == [("support", 3, 300)]
