"""Fleets: shipping closed spool segments to a real S3 API (moto's server on loopback) and
to a shared directory, folding them centrally exactly once, sealing windows so listing
stays cheap, retention, the fleet budget, `voicegw ship`/`fold`/`status`, and
partitioned Parquet read back by a second engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voicegw_cli import clock
from voicegw_cli.config import load_config
from voicegw_cli.errors import ConfigError
from voicegw_cli.fleet.layout import WINDOW, parse_key, window_of
from voicegw_cli.fleet.ship import Shipper, backlog, shipped_files
from voicegw_cli.fleet.target import Target, open_target
from voicegw_cli.spool import Rotation, SpoolWriter, segment_files, set_rotation
from voicegw_cli.store import Store

from .conftest import item
from .fleet_helpers import AWS_ENV, BUCKET, S3Server, host_yaml

HELPERS = Path(__file__).with_name("fleet_helpers.py")


@pytest.fixture(scope="module")
def s3():
    saved = {k: os.environ.get(k) for k in AWS_ENV}
    os.environ.update(AWS_ENV)
    server = S3Server()
    yield server
    server.close()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(autouse=True)
def _no_rotation():
    yield
    set_rotation(None)


@pytest.fixture(params=["dir", "s3"])
def ship_to(request, tmp_path: Path):
    """(ship_to URL, endpoint, server) for a shared directory and for the S3 server."""
    if request.param == "dir":
        shared = tmp_path / "shared"
        shared.mkdir()
        return f"file://{shared}", None, None
    server = request.getfixturevalue("s3")
    for k, v in AWS_ENV.items():
        request.getfixturevalue("monkeypatch").setenv(k, v)
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:8]}", server.endpoint, server


def hosts(tmp_path: Path, ship_to, names=("a", "b"), **kw):
    url, endpoint, _server = ship_to
    return {
        n: load_config(host_yaml(tmp_path, n, url, endpoint=endpoint, **kw))
        for n in (*names, "central")
    }


def spend(cfg, n: int, *, project: str = "support", cost: str = "0.01", tag: str = "") -> None:
    """`n` items in this host's spool, in one closed segment."""
    w = SpoolWriter(cfg.spool_dir)
    tag = tag or uuid.uuid4().hex[:6]
    w.write(
        [
            item(
                id=f"{cfg.ship.host}-{tag}-{i}",
                timestamp=clock.now(),
                project=project,
                cost_usd=Decimal(cost),
            ).to_record()
            for i in range(n)
        ]
    )
    w.close()


def totals(cfg) -> tuple[int, int, Decimal | None]:
    with Store.open(cfg) as store:
        return tuple(
            store.conn.execute(
                "SELECT count(*), count(DISTINCT id), sum(cost_usd) FROM line_items"
            ).fetchall()[0]
        )


# ------------------------------------------------------------------ config and spool


def test_ship_to_config_is_checked(write_config) -> None:
    cfg = write_config("storage:\n  ship_to: s3://bucket/voicegw\n  segment_max_seconds: 10\n")
    assert cfg.ship.url == "s3://bucket/voicegw" and cfg.ship.segment_max_seconds == 10
    assert cfg.ship.segment_max_bytes == 8 << 20 and cfg.ship.compaction == "parquet"
    for text, key in (
        ("storage:\n  ship_to: ftp://x/y\n", "storage.ship_to"),
        ("storage:\n  ship_to: file://relative/dir\n", "storage.ship_to"),
        ("storage:\n  segment_max_seconds: 5\n", "storage.segment_max_seconds"),
        ("storage:\n  ship_to: s3://b/p\n  ship_compaction: zip\n", "storage.ship_compaction"),
        ("storage:\n  ship_to: s3://b/p\n  segment_max_bytes: 1.5\n", "storage.segment_max_bytes"),
    ):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            write_config(text)


def test_writers_rotate_by_size_and_age_into_unique_closed_segments(tmp_path: Path) -> None:
    from voicegw_cli.spool import dumps_record, rotate_due, writer_alive

    set_rotation(Rotation(max_bytes=2000, max_seconds=0.2))
    w = SpoolWriter(tmp_path / "spool")
    size = len(dumps_record(item(id="r00").to_record())) + 1
    per_file = -(-2000 // size)  # a file closes with the write that takes it past 2000 B
    for i in range(10, 10 + 4 * per_file + 1):  # four full files and one record more
        w.write([item(id=f"r{i}").to_record()])
    files = [p for _r, p in segment_files(tmp_path / "spool")]
    assert len(files) == 5 and len({p.name for p in files}) == 5
    assert [writer_alive(p) for p in files] == [False] * 4 + [True]
    assert all(p.stat().st_size == per_file * size for p in files[:4])
    assert rotate_due() == 0  # not old enough yet
    import time

    time.sleep(0.25)
    assert rotate_due() == 1 and not writer_alive(files[-1])
    names = sorted(p.name for p in files)
    assert names[0].endswith("-00001.ndjson") and names[-1].endswith("-00005.ndjson")
    lines = sum(len(p.read_bytes().splitlines()) for p in files)
    assert lines == 4 * per_file + 1


# ------------------------------------------------------------------ ship and fold


def test_ship_then_fold_exactly_once(tmp_path: Path, ship_to) -> None:
    h = hosts(tmp_path, ship_to)
    spend(h["a"], 30)
    spend(h["a"], 20)
    spend(h["b"], 25, cost="0.02")
    live = SpoolWriter(h["b"].spool_dir)  # a writer still appending: not shipped
    live.write([item(id="live-1", timestamp=clock.now()).to_record()])
    for n in ("a", "b"):
        r = Shipper(h[n]).ship_once()
        assert r.error is None and r.elected
    assert backlog(h["a"].spool_dir).files == 0 and len(shipped_files(h["a"].spool_dir)) == 2
    assert backlog(h["b"].spool_dir).files == 1  # the live one
    target = open_target(h["central"].ship)
    keys = sorted(o.key for o in target.list("segments"))
    assert len(keys) == 3
    assert all(parse_key(k)[1] in ("a", "b") for k in keys)
    assert all(k.startswith(f"segments/{window_of(clock.now()):%Y-%m-%d}/") for k in keys)

    assert totals(h["central"]) == (75, 75, Decimal("1.00"))
    assert totals(h["central"]) == (75, 75, Decimal("1.00"))  # folding again adds nothing
    live.close()
    assert Shipper(h["b"]).ship_once().shipped == 1
    assert totals(h["central"]) == (76, 76, Decimal("1.00021"))
    # The published snapshot carries the fleet's spend for every host to read.
    snap = json.loads(target.get("spend/snapshot.json"))
    today = clock.today(h["central"].tz).isoformat()
    assert Decimal(snap["spend"]["support"][today]) == Decimal("1.00021")
    assert set(snap["fleet"]["open"][next(iter(snap["fleet"]["open"]))]) == {"a", "b"}


def test_a_segment_shipped_twice_adds_nothing(tmp_path: Path, ship_to) -> None:
    h = hosts(tmp_path, ship_to, names=("a",))
    spend(h["a"], 10)
    Shipper(h["a"]).ship_once()
    assert totals(h["central"])[0] == 10
    # The shipper was killed after its upload, before moving the file: it ships it again,
    # minutes later, into another window.
    (_start, rel, path) = shipped_files(h["a"].spool_dir)[0]
    os.replace(path, h["a"].spool_dir / rel)
    clock.set_now(clock.now() + timedelta(minutes=7))
    assert Shipper(h["a"]).ship_once().shipped == 1
    target = open_target(h["central"].ship)
    assert len({parse_key(o.key)[0] for o in target.list("segments")}) == 2  # two copies
    with Store.open(h["central"]) as store:
        assert store.fold_result.segments_folded == 0  # known by host and name
        n = store.conn.execute("SELECT count(*) FROM line_items").fetchall()[0][0]
    assert n == 10


KILL_FOLD = textwrap.dedent(
    """
    import os, sys
    import voicegw_cli.store.fold as fold
    from voicegw_cli.config import load_config
    from voicegw_cli.store import Store
    real = fold.insert_items
    def insert_then_die(conn, table):
        real(conn, table)
        os._exit(9)  # killed mid-transaction: items inserted, nothing committed
    fold.insert_items = insert_then_die
    Store.open(load_config(sys.argv[1])).close()
    """
)


def test_central_fold_killed_midway_is_redone(tmp_path: Path, ship_to) -> None:
    from .fleet_helpers import child_env

    h = hosts(tmp_path, ship_to, names=("a",))
    for _ in range(3):
        spend(h["a"], 40)
    Shipper(h["a"]).ship_once()
    Store.open(h["central"], fold=False).close()
    proc = subprocess.run(
        [sys.executable, "-c", KILL_FOLD, str(h["central"].path)], env=child_env()
    )
    assert proc.returncode == 9
    with Store.open(h["central"], fold=False) as store:
        assert store.conn.execute("SELECT count(*) FROM fleet_segments").fetchall()[0][0] == 0
    assert totals(h["central"]) == (120, 120, Decimal("1.20"))


def test_unreachable_target_loses_nothing_and_recovers(tmp_path: Path, ship_to) -> None:
    url, _endpoint, server = ship_to
    h = hosts(tmp_path, ship_to, names=("a",))
    spend(h["a"], 5)
    assert Shipper(h["a"]).ship_once().shipped == 1
    # The bucket goes away: the server stops, or the shared directory is not there.
    if server is not None:
        server.stop()
    else:
        shared = Path(url[len("file://") :])
        shared.rename(shared.with_name("away"))
        shared.write_text("not a directory")
    try:
        spend(h["a"], 7)
        r = Shipper(h["a"]).ship_once()
        assert r.shipped == 0 and r.error and "cannot" in r.error
        b = backlog(h["a"].spool_dir)
        assert (b.files, b.failures) == (1, 1) and b.last_error
        with Store.open(h["central"]) as store:  # the central side says so, and goes on
            assert store.fold_result.ship_error
        result = CliRunner().invoke(_app(), ["-c", str(h["a"].path), "status", "-f", "json"])
        info = json.loads(result.stdout)
        assert info["unshipped_files"] == 1 and info["last_ship_error"]
    finally:
        if server is not None:
            server.start()
        else:
            shared.unlink()
            shared.with_name("away").rename(shared)
    r = Shipper(h["a"]).ship_once()
    assert r.shipped == 1 and r.error is None and backlog(h["a"].spool_dir).failures == 0
    assert totals(h["central"]) == (12, 12, Decimal("0.12"))


def test_upload_finishing_late_for_its_window_is_reshipped(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    h = hosts(tmp_path, (f"file://{shared}", None, None), names=("a",), grace=60)
    spend(h["a"], 3)
    shipper = Shipper(h["a"])
    real = shipper.target.put
    calls = []

    def slow_put(key: str, data: bytes) -> None:
        real(key, data)
        calls.append(key)
        if len(calls) == 1:  # the first upload "took" ten minutes
            clock.set_now(clock.now() + timedelta(minutes=10))

    shipper.target.put = slow_put  # type: ignore[method-assign]
    r = shipper.ship_once()
    assert (r.shipped, r.reshipped) == (1, 1) and len(calls) == 2
    assert parse_key(calls[0])[0] != parse_key(calls[1])[0]
    assert totals(h["central"])[0] == 3


def test_listing_only_covers_open_windows_and_days(tmp_path: Path, ship_to) -> None:
    h = hosts(tmp_path, ship_to, names=("a",), grace=60)
    start = window_of(clock.now()).replace(hour=12, minute=0)  # clear of midnight
    for w in range(4):  # segments in four consecutive windows
        clock.set_now(start + w * WINDOW + timedelta(seconds=10), frozen=True)
        spend(h["a"], 2)
        Shipper(h["a"]).ship_once()
    with Store.open(h["central"]) as store:
        first = store.fold_result
    # The day names, the day's windows, then each window once; the first two windows are
    # already past their grace, so sealed by this fold.
    assert first.segments_folded == 4 and first.list_requests == 2 + 4
    assert first.windows_sealed == 2
    # Past the last window's grace every window is sealed, and none is listed again.
    clock.set_now(start + 4 * WINDOW + timedelta(seconds=61), frozen=True)
    with Store.open(h["central"]) as store:
        assert store.fold_result.windows_sealed == 2
        assert store.fold_result.list_requests == 2 + 2
    with Store.open(h["central"]) as store:
        assert store.fold_result.list_requests == 2  # the day names, the day's windows
    # A new day: yesterday is sealed once its grace is over, and never listed again.
    tomorrow = (start + timedelta(days=1)).replace(hour=0, minute=2)
    clock.set_now(tomorrow, frozen=True)
    Store.open(h["central"]).close()  # lists yesterday one last time, seals it
    with Store.open(h["central"]) as store:
        assert store.fold_result.list_requests == 1
        assert store.conn.execute("SELECT count(*) FROM fleet_windows").fetchall() == [(0,)]
    assert Shipper(h["a"]).prune() == 4  # hosts drop shipped copies once sealed
    assert totals(h["central"])[0] == 8


def test_retention_compacts_days_into_parquet(tmp_path: Path, ship_to) -> None:
    import pyarrow.parquet as pq

    h = hosts(tmp_path, ship_to, names=("a",), grace=60)
    start = window_of(clock.now()).replace(hour=12, minute=0)
    clock.set_now(start + timedelta(seconds=5), frozen=True)
    spend(h["a"], 6)
    Shipper(h["a"]).ship_once()
    assert totals(h["central"])[0] == 6
    day = start.date()
    clock.set_now(start + timedelta(days=9), frozen=True)
    with Store.open(h["central"]) as store:  # seals the old day
        pass
    with Store.open(h["central"]) as store:  # compacts it (7 days' retention)
        compacted = store.conn.execute(
            "SELECT compacted FROM fleet_days WHERE day = ?", [day]
        ).fetchall()
    assert compacted == [(True,)]
    target = open_target(h["central"].ship)
    assert target.list(f"segments/{day.isoformat()}") == []
    blob = target.get(f"compacted/day={day.isoformat()}/segments.parquet")
    import io

    table = pq.read_table(io.BytesIO(blob))
    assert table.num_rows == 6 and set(table.column("host").to_pylist()) == {"a"}
    assert all(json.loads(line)["id"].startswith("a-") for line in table.column("line").to_pylist())
    assert totals(h["central"])[0] == 6


def test_delete_after_retention(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    h = hosts(
        tmp_path,
        (f"file://{shared}", None, None),
        names=("a",),
        grace=60,
        extra="  ship_compaction: delete\n  ship_retention_days: 2\n",
    )
    start = window_of(clock.now())
    clock.set_now(start + timedelta(seconds=5), frozen=True)
    spend(h["a"], 4)
    Shipper(h["a"]).ship_once()
    Store.open(h["central"]).close()
    clock.set_now(start + timedelta(days=3, minutes=5), frozen=True)
    Store.open(h["central"]).close()
    Store.open(h["central"]).close()
    target = Target(f"file://{shared}")
    assert target.list("segments") == [] and target.list("compacted") == []
    assert totals(h["central"])[0] == 4


def test_hook_recorder_ships_from_its_own_thread(tmp_path: Path, ship_to) -> None:
    from voicegw_cli.hook.recorder import Recorder

    h = hosts(tmp_path, ship_to, names=("a",), segment_seconds=0.2)
    rec = Recorder(
        h["a"].spool_dir,
        flush_interval=0.05,
        pricer_factory=lambda _o: None,
        ship_config=h["a"],
    )
    rec.start()
    assert rec.shipper is not None
    rec.submit(lambda n: [item(id=f"h{i}", timestamp=clock.now()) for i in range(n)], 12)
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not shipped_files(h["a"].spool_dir):
        time.sleep(0.05)
    assert shipped_files(h["a"].spool_dir), "the shipper thread shipped nothing"
    rec.submit(lambda n: [item(id=f"j{i}", timestamp=clock.now()) for i in range(n)], 3)
    rec.close()  # the last file is closed and shipped on the way out
    assert backlog(h["a"].spool_dir).files == 0
    assert totals(h["central"])[0] == 15


def test_backlog_over_its_bound_holds_usage_in_memory(tmp_path: Path, caplog) -> None:
    import logging

    from voicegw_cli.hook.recorder import Recorder

    caplog.set_level(logging.WARNING, logger="voicegw.fleet")
    shared = tmp_path / "shared"
    shared.write_text("the shared directory is not mounted")
    h = hosts(
        tmp_path,
        (f"file://{shared}", None, None),
        names=("a",),
        extra="  max_backlog_bytes: 1000\n",
    )
    rec = Recorder(
        h["a"].spool_dir, flush_interval=60, pricer_factory=lambda _o: None, ship_config=h["a"]
    )
    rec.start()
    rec.submit(lambda n: [item(id=f"x{i}") for i in range(n)], 10)
    rec.flush()
    rec._writer.close()
    rec.shipper.run_once()
    assert rec.shipper.backlog_full
    assert any("not shipped" in r.getMessage() for r in caplog.records)
    before = backlog(h["a"].spool_dir).bytes
    rec.submit(lambda n: [item(id=f"y{i}") for i in range(n)], 10)
    assert rec.flush() == 0 and backlog(h["a"].spool_dir).bytes == before  # held
    shared.unlink()
    shared.mkdir()
    rec.shipper.run_once()
    assert not rec.shipper.backlog_full
    rec.flush()  # written once there is room again
    assert backlog(h["a"].spool_dir).bytes == before
    rec.close()
    assert totals(h["central"])[0] == 20


# ------------------------------------------------------------------ CLI


def _app():
    from voicegw_cli.cli.app import app

    return app


def test_ship_and_fold_commands(tmp_path: Path, ship_to) -> None:
    h = hosts(tmp_path, ship_to, names=("a",))
    spend(h["a"], 9)
    runner = CliRunner()
    r = runner.invoke(_app(), ["-c", str(h["a"].path), "ship", "-f", "json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)[0]
    assert (row["shipped"], row["left_files"]) == (1, 0)
    r = runner.invoke(_app(), ["-c", str(h["central"].path), "fold", "-f", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)[0]["segments_folded"] == 1
    spend(h["a"], 2)
    runner.invoke(_app(), ["-c", str(h["a"].path), "ship"])
    r = runner.invoke(
        _app(),
        ["-c", str(h["central"].path), "fold", "--watch", "--interval", "50ms", "--rounds", "2"],
    )
    assert r.exit_code == 0 and r.stdout.count("folded") == 2, r.output
    assert "folded 1 segment(s), 2 item(s)" in r.stdout
    r = runner.invoke(_app(), ["-c", str(h["a"].path), "fold", "--interval", "soon"])
    assert r.exit_code == 2
    no_ship = tmp_path / "plain.yaml"
    no_ship.write_text("timezone: UTC\n")
    r = runner.invoke(_app(), ["-c", str(no_ship), "ship"])
    assert r.exit_code == 2 and "ship_to" in r.output
    assert totals(h["central"])[0] == 11


# ------------------------------------------------------------------ one budget


def _expire_snapshot_cache() -> None:
    """Move the clock past every host's snapshot cache (refresh_seconds is 0.2 here)."""
    clock.set_now(clock.now() + timedelta(seconds=1))


def test_guards_count_the_fleet_and_nothing_twice(tmp_path: Path, ship_to) -> None:
    from voicegw_cli.budget import BudgetGuard
    from voicegw_cli.errors import BudgetExceededError

    h = hosts(tmp_path, ship_to)
    today = clock.today(h["a"].tz).isoformat()

    def seen(host: str) -> Decimal:
        g = BudgetGuard(h[host])
        g.refresh()
        assert g._error is None, g._error
        return (g._spend or {}).get("sales", {}).get(today, Decimal(0))

    spend(h["a"], 6, project="sales", cost="0.10")  # a: $0.60, shipped
    Shipper(h["a"]).ship_once()
    spend(h["b"], 3, project="sales", cost="0.10")  # b: $0.30, not shipped yet
    assert (seen("a"), seen("b")) == (Decimal("0.60"), Decimal("0.30"))  # no fold yet
    Store.open(h["central"]).close()  # folds a's segment, publishes the snapshot
    _expire_snapshot_cache()
    # a's own folded segment is not counted twice (the snapshot's open-window share for
    # a is swapped for a's own copy); b sees a's spend plus its own unshipped spool.
    assert (seen("a"), seen("b")) == (Decimal("0.60"), Decimal("0.90"))
    Shipper(h["b"]).ship_once()  # shipped, not folded: b still counts it, once
    assert seen("b") == Decimal("0.90")
    spend(h["b"], 2, project="sales", cost="0.10")
    assert seen("b") == Decimal("1.10")
    with pytest.raises(BudgetExceededError):
        BudgetGuard(h["b"]).check("sales")
    assert BudgetGuard(h["a"]).check("sales").action == "allow"  # not folded yet
    Shipper(h["b"]).ship_once()
    Store.open(h["central"]).close()
    _expire_snapshot_cache()
    with pytest.raises(BudgetExceededError):
        BudgetGuard(h["a"]).check("sales")  # the fleet's spend reached host a
    assert (seen("a"), seen("b")) == (Decimal("1.10"), Decimal("1.10"))
    # Windows sealed: hosts drop their shipped copies; the totals stay exact.
    clock.set_now(clock.now() + timedelta(minutes=10))
    Store.open(h["central"]).close()
    _expire_snapshot_cache()
    assert Shipper(h["a"]).prune() == 1 and Shipper(h["b"]).prune() == 2
    assert (seen("a"), seen("b")) == (Decimal("1.10"), Decimal("1.10"))


def test_unreadable_fleet_snapshot_follows_fail_closed(tmp_path: Path) -> None:
    from voicegw_cli.budget import BudgetGuard, BudgetUnavailableError

    shared = tmp_path / "not-mounted"
    url = (f"file://{shared}", None, None)
    h = hosts(tmp_path, url, names=("a",))
    closed = load_config(host_yaml(tmp_path, "c", url[0]))
    a = BudgetGuard(h["a"]).check("sales")
    assert (a.action, a.spend_known) == ("allow", False)  # fail open by default
    closed.budgets.fail_closed = True
    with pytest.raises(BudgetUnavailableError, match="fleet's spend snapshot"):
        BudgetGuard(closed).check("sales")


def test_two_hosts_guards_see_each_other_within_the_bound(tmp_path: Path, ship_to) -> None:
    """Host a's agent spends past sales' $1 budget; host b's guard blocks sales within
    flush + segment age + ship interval + fold interval + 2 x refresh (+ the time one
    upload and one fold take)."""
    import time

    from voicegw_cli.budget import BudgetGuard
    from voicegw_cli.errors import BudgetExceededError
    from voicegw_cli.fleet.ship import ship_interval

    from .fleet_helpers import child_env

    h = hosts(tmp_path, ship_to, segment_seconds=0.3)
    fold_interval = 0.5
    go, log, stop = tmp_path / "go", tmp_path / "burst.log", tmp_path / "stop"
    agent = subprocess.Popen(
        [
            sys.executable,
            str(HELPERS),
            "burst",
            str(h["a"].path),
            "1.50",
            str(go),
            str(log),
            str(stop),
        ],
        env=child_env(),
    )
    folder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from voicegw_cli.cli.app import main; main()",
            "-c",
            str(h["central"].path),
            "fold",
            "--watch",
            "--interval",
            f"{fold_interval}s",
        ],
        env=child_env(),
        stdout=subprocess.DEVNULL,
    )
    b = BudgetGuard(h["b"])
    try:
        assert b.check("sales").action == "allow"
        time.sleep(1.0)  # both children up
        go.write_text("go")
        blocked_at = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            b.invalidate()
            try:
                b.check("sales")
            except BudgetExceededError:
                blocked_at = clock.time()
                break
            time.sleep(0.02)
        assert blocked_at is not None, "host b never saw host a's spend"
        spent_at = float(log.read_text())
    finally:
        stop.write_text("stop")
        agent.wait(timeout=30)
        folder.terminate()
        folder.wait(timeout=30)
    cfg = h["a"]
    bound = (
        cfg.hook.flush_interval_seconds
        + cfg.ship.segment_max_seconds
        + ship_interval(cfg)
        + fold_interval
        + 2 * cfg.budgets.refresh_seconds
    )
    lag = blocked_at - spent_at
    print(
        f"fleet budget lag ({ship_to[0].split(':')[0]}): {lag:.2f} s (bound {bound:.2f} s "
        "+ one upload and one fold)"
    )
    assert 0 < lag <= bound + 3.0  # slack: one upload, one fold, a loaded machine


# ------------------------------------------------------------------ partitioned Parquet


def test_partitioned_export_is_incremental_and_reads_back(
    tmp_path: Path, write_config, ship_to
) -> None:
    import pyarrow.dataset as ds

    from voicegw_cli.fleet.target import target_for

    url, endpoint, _server = ship_to
    cfg = write_config("timezone: America/Los_Angeles\n")
    base = clock.now().replace(hour=12, minute=0, second=0, microsecond=0)
    w = SpoolWriter(cfg.spool_dir)
    for day in range(3):  # around local midnights too: 07:30 UTC is 23:30 or 00:30 there
        for i in range(50):
            when = base - timedelta(days=day, hours=4, minutes=30) + timedelta(minutes=i * 7)
            w.write(
                [
                    item(
                        id=f"d{day}-{i}",
                        timestamp=when,
                        cost_usd=Decimal(f"0.{i % 9 + 1:02d}37"),
                        project="support" if i % 3 else "sales",
                    ).to_record()
                ]
            )
    w.close()
    out = url + "/ledger" if url.startswith("s3://") else str(tmp_path / "ledger")
    if endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
    runner = CliRunner()
    args = [
        "-c",
        str(cfg.path),
        "export-costs",
        "--format",
        "parquet",
        "--partition",
        "day",
        "-o",
        out,
    ]
    try:
        r = runner.invoke(_app(), args)
        assert r.exit_code == 0, r.output
        target = target_for(out)

        def read_back() -> tuple[dict[str, Decimal], int]:
            dataset = ds.dataset(
                f"{target.root}/", filesystem=target.fs, format="parquet", partitioning="hive"
            )
            table = dataset.to_table(columns=["day", "cost_usd"])
            per_day: dict[str, Decimal] = {}
            for day, cost in zip(
                table.column("day").to_pylist(), table.column("cost_usd").to_pylist(), strict=True
            ):
                per_day[str(day)] = per_day.get(str(day), Decimal(0)) + cost
            return per_day, table.num_rows

        with Store.open(cfg) as store:
            expect = {
                d.isoformat(): c
                for d, c in store.conn.execute(
                    "SELECT CAST(timezone('America/Los_Angeles', timestamp AT TIME ZONE 'UTC')"
                    " AS DATE), SUM(cost_usd) FROM line_items GROUP BY 1"
                ).fetchall()
            }
        got, rows = read_back()
        assert rows == 150 and got == expect  # to the cent and beyond: exact decimals
        assert all(
            o.key.startswith("day=") and o.key.endswith("/part-0.parquet") for o in target.list("")
        )
        r = runner.invoke(_app(), args)
        assert "wrote 0 day(s)" in r.stderr, r.output  # nothing changed
        spend_day = sorted(expect)[-1]
        w = SpoolWriter(cfg.spool_dir)
        w.write([item(id="late", timestamp=base, cost_usd=Decimal("1.25")).to_record()])
        w.close()
        r = runner.invoke(_app(), args)
        assert "wrote 1 day(s), 51 line items" in r.stderr or "wrote 1 day(s)" in r.stderr, r.stderr
        got, rows = read_back()
        assert rows == 151
        assert sum(got.values()) == sum(expect.values()) + Decimal("1.25")
        assert spend_day in got
    finally:
        os.environ.pop("AWS_ENDPOINT_URL", None)


def test_read_only_reader_folds_but_never_writes_the_bucket(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    h = hosts(tmp_path, (f"file://{shared}", None, None), names=("a",))
    reader = load_config(
        host_yaml(tmp_path, "reader", f"file://{shared}", extra="  ship_read_only: true\n")
    )
    spend(h["a"], 4)
    Shipper(h["a"]).ship_once()
    assert totals(reader) == (4, 4, Decimal("0.04"))
    assert not (shared / "spend").exists()  # no snapshot published by a reader


def test_agent_exit_ships_its_last_segment(tmp_path: Path, ship_to) -> None:
    from .fleet_helpers import child_env

    h = hosts(tmp_path, ship_to, names=("a",), segment_seconds=60)
    proc = subprocess.run(
        [sys.executable, str(HELPERS), "exit", str(h["a"].path)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert backlog(h["a"].spool_dir).files == 0, proc.stderr[-2000:]
    assert totals(h["central"]) == (5, 5, Decimal("0.05"))
