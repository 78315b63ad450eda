"""The spool and the fold: exactly once under concurrent writers, torn lines, and kills."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from voicegw_cli import clock
from voicegw_cli.spool import SpoolWriter, spool_files, writer_alive
from voicegw_cli.store import Store
from voicegw_cli.store.snapshot import read_snapshot

from .conftest import item

WRITER = textwrap.dedent(
    """
    import random, sys, time
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal
    from voicegw_cli.items import LineItem
    from voicegw_cli.spool import SpoolWriter

    spool, wid, batches, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    folded = sys.argv[5] if len(sys.argv) > 5 else None  # appears once a fold has run
    w = SpoolWriter(spool)
    t0 = datetime(2026, 11, 10, tzinfo=UTC)
    n = 0
    for b in range(batches):
        recs = []
        for i in range(per):
            recs.append(LineItem(timestamp=t0 + timedelta(seconds=n), project=f"p{wid % 2}",
                                 modality="llm", provider="openai", model="gpt-4o-mini",
                                 input_tokens=100, output_tokens=10,
                                 cost_usd=Decimal("0.0001"), pricing_source="test",
                                 id=f"w{wid}-{n}").to_record())
            n += 1
        w.write(recs)
        time.sleep(random.random() * 0.01)
        if folded and b == batches // 2:  # the second half lands while folds run, however
            import os                      # slow the machine is
            while not os.path.exists(folded):
                time.sleep(0.01)
    w.close()
    """
)


def _count(config) -> int:
    with Store.open(config) as store:
        return store.conn.execute("SELECT count(*) FROM line_items").fetchall()[0][0]


def test_fold_exactly_once_with_concurrent_writers(config, tmp_path: Path) -> None:
    writers, batches, per = 4, 60, 50
    Store.open(config, fold=False).close()  # migrate first: the race is about folding
    marker = tmp_path / "folded-once"
    args = [str(config.spool_dir), str(batches), str(per), str(marker)]
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, args[0], str(w), *args[1:]])
        for w in range(writers)
    ]
    folds = 0
    while any(p.poll() is None for p in procs):
        with Store.open(config):  # folds while the writers append
            folds += 1
        marker.touch()
        time.sleep(0.02)
    assert all(p.wait() == 0 for p in procs)
    with Store.open(config) as store:
        total, distinct, cost = store.conn.execute(
            "SELECT count(*), count(DISTINCT id), sum(cost_usd) FROM line_items"
        ).fetchall()[0]
    assert folds >= 2
    assert total == distinct == writers * batches * per
    assert cost == Decimal("0.0001") * writers * batches * per
    # Writers are gone and everything is folded, so their files are retired.
    assert spool_files(config.spool_dir) == []
    # Folding again adds nothing.
    assert _count(config) == writers * batches * per


def test_torn_last_line_waits_for_next_fold(config) -> None:
    w = SpoolWriter(config.spool_dir)
    w.write([item(id="a").to_record()])
    full = (json.dumps(item(id="b").to_record()) + "\n").encode()
    with open(w.path, "ab") as f:  # the writer is mid-append
        f.write(full[:25])
    assert writer_alive(w.path)
    assert _count(config) == 1
    with open(w.path, "ab") as f:
        f.write(full[25:])
    with Store.open(config) as store:
        ids = sorted(r[0] for r in store.conn.execute("SELECT id FROM line_items").fetchall())
    assert ids == ["a", "b"]
    w.close()
    assert not writer_alive(w.path)
    assert _count(config) == 2
    assert spool_files(config.spool_dir) == []


KILLER = textwrap.dedent(
    """
    import os, sys
    import voicegw_cli.store.fold as fold
    from voicegw_cli.config import load_config
    from voicegw_cli.store import Store
    where = sys.argv[2]
    if where == "before_commit":
        real = fold.insert_items
        def insert_then_die(conn, table):
            real(conn, table)
            os._exit(9)  # killed mid-transaction, items inserted but not committed
        fold.insert_items = insert_then_die
    else:
        import pathlib
        def die(self, *a, **k):
            os._exit(9)  # killed after the commit, before the spool file is retired
        pathlib.Path.unlink = die
    Store.open(load_config(sys.argv[1])).close()
    """
)


def _spool_items(config, n: int) -> None:
    w = SpoolWriter(config.spool_dir)
    t0 = datetime(2026, 11, 10, tzinfo=UTC)
    w.write([item(id=f"k{i}", timestamp=t0 + timedelta(seconds=i)).to_record() for i in range(n)])
    w.close()


def test_fold_killed_before_commit_is_redone(config) -> None:
    _spool_items(config, 500)
    Store.open(config, fold=False).close()  # the store exists, migrated
    proc = subprocess.run([sys.executable, "-c", KILLER, str(config.path), "before_commit"])
    assert proc.returncode == 9
    assert len(spool_files(config.spool_dir)) == 1
    assert _count(config) == 500
    assert spool_files(config.spool_dir) == []
    assert _count(config) == 500


def test_fold_killed_before_retiring_file_adds_nothing_twice(config) -> None:
    _spool_items(config, 300)
    proc = subprocess.run([sys.executable, "-c", KILLER, str(config.path), "after_commit"])
    assert proc.returncode == 9
    assert len(spool_files(config.spool_dir)) == 1  # the delete never happened
    assert _count(config) == 300
    assert spool_files(config.spool_dir) == []


def test_unreadable_line_is_quarantined_not_blocking(config) -> None:
    w = SpoolWriter(config.spool_dir)
    w.write([item(id="good1").to_record()])
    w.write_lines(b'{"id": "broken", "timestamp": \n')
    w.write([item(id="good2").to_record()])
    w.close()
    with Store.open(config) as store:
        assert store.fold_result.bad_lines == 1
        n = store.conn.execute("SELECT count(*) FROM line_items").fetchall()[0][0]
    assert n == 2
    rejected = (config.spool_dir / "rejected" / "rejected.ndjson").read_text()
    assert "broken" in rejected


def test_spend_snapshot_written_after_fold(config) -> None:
    today = clock.now()
    w = SpoolWriter(config.spool_dir)
    w.write(
        [item(id=f"s{i}", timestamp=today, cost_usd=Decimal("0.25")).to_record() for i in range(4)]
    )
    Store.open(config).close()
    snap = read_snapshot(config)
    assert snap is not None
    assert Decimal(snap["spend"]["support"][clock.today(config.tz).isoformat()]) == Decimal("1.00")
    assert snap["offsets"][w.path.name] == w.path.stat().st_size
    w.close()


def test_store_busy_waits_then_clear_error(config, monkeypatch) -> None:
    from voicegw_cli.errors import StoreBusyError

    monkeypatch.setenv("VOICEGW_LOCK_TIMEOUT", "0.5")
    Store.open(config).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, duckdb; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
            " time.sleep(3)",
            str(config.store_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    try:
        Store.open(config).close()
    except StoreBusyError as exc:
        assert "in use by another process" in str(exc)
        assert time.monotonic() - started >= 0.5
    else:
        raise AssertionError("expected StoreBusyError")
    holder.wait()
    # Once the other process is done, the command works.
    Store.open(config).close()


def test_second_command_waits_for_the_first(config) -> None:
    Store.open(config).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, duckdb; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
            " time.sleep(1.0)",
            str(config.store_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    Store.open(config).close()  # waits for the holder instead of failing
    assert time.monotonic() - started > 0.3
    holder.wait()
