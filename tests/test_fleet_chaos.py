"""Four hosts, four writer processes each, shipping through real Recorders to a real S3
API (moto's server on loopback) or a shared directory, while writers and sidecar
shippers are killed with SIGKILL at random points and the bucket is unreachable for a
while. Then: every item a writer had written is folded centrally exactly once, nothing
else is, and the sums are exact."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from voicegw_cli.config import load_config
from voicegw_cli.fleet.ship import Shipper, backlog
from voicegw_cli.store import Store

from .fleet_helpers import AWS_ENV, BUCKET, S3Server, child_env, cost_of, host_yaml

HELPERS = str(Path(__file__).with_name("fleet_helpers.py"))
HOSTS, WRITERS, PER = 4, 4, 5
#: Chaos steps, and the steps during which the bucket is unreachable.
ROUNDS, OUTAGE = 30, (8, 16)


@pytest.fixture(params=["dir", "s3"])
def backend(request, tmp_path: Path, monkeypatch):
    if request.param == "dir":
        shared = tmp_path / "shared"
        shared.mkdir()
        yield f"file://{shared}", None, None
        return
    for k, v in AWS_ENV.items():
        monkeypatch.setenv(k, v)
    server = S3Server()
    yield f"s3://{BUCKET}/{uuid.uuid4().hex[:8]}", server.endpoint, server
    server.close()


class Outage:
    """Make the bucket unreachable, and reachable again."""

    def __init__(self, url: str, server: S3Server | None) -> None:
        self.server = server
        self.shared = Path(url[len("file://") :]) if server is None else None

    def begin(self) -> None:
        if self.server is not None:
            self.server.stop()
        else:
            self.shared.rename(self.shared.with_name("shared-away"))
            self.shared.write_text("unmounted")

    def end(self) -> None:
        if self.server is not None:
            self.server.start()
        else:
            self.shared.unlink()
            self.shared.with_name("shared-away").rename(self.shared)


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, HELPERS, *args],
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _expected(logs: list[tuple[str, Path, bool]]) -> tuple[set[str], set[str]]:
    """(ids surely written, ids perhaps written) from the writers' logs."""
    sure: set[str] = set()
    maybe: set[str] = set()
    for tag, log, clean in logs:
        confirmed, begun = -1, -1
        for line in log.read_text().splitlines() if log.exists() else []:
            kind, _, seq = line.partition(" ")
            if kind == "C":
                confirmed = int(seq)
            elif kind == "B":
                begun = int(seq)
        sure |= {f"{tag}-{s}" for s in range(confirmed + 1)}
        if not clean:  # killed: its last batch may or may not have reached the spool
            maybe |= {f"{tag}-{s}" for s in range(confirmed + 1, begun + 1)}
    return sure, maybe


def test_fleet_loses_and_duplicates_nothing(tmp_path: Path, backend) -> None:
    url, endpoint, server = backend
    rng = random.Random(1313)
    configs = {
        f"h{i}": host_yaml(
            tmp_path, f"h{i}", url, endpoint=endpoint, segment_seconds=0.5, segment_bytes=65536
        )
        for i in range(HOSTS)
    }
    central = load_config(host_yaml(tmp_path, "central", url, endpoint=endpoint))
    stop = tmp_path / "stop"
    writers: dict[tuple[str, int], tuple[subprocess.Popen, str, Path]] = {}
    logs: list[tuple[str, Path, bool]] = []
    gens: dict[tuple[str, int], int] = {}

    def start_writer(host: str, w: int) -> None:
        gen = gens[(host, w)] = gens.get((host, w), -1) + 1
        tag = f"{host}-w{w}-g{gen}-{w % 2}"  # ends in 1: project sales, else support
        log = tmp_path / f"{tag}.log"
        writers[(host, w)] = (
            _spawn("writer", str(configs[host]), tag, "100000", str(PER), str(log), str(stop)),
            tag,
            log,
        )

    for host in configs:
        for w in range(WRITERS):
            start_writer(host, w)
    sidecars = {host: _spawn("sidecar", str(p)) for host, p in configs.items()}
    outage = Outage(url, server)
    kills = {"writers": 0, "sidecars": 0}
    folds = 0
    down = False
    try:
        # Steps, not seconds: on a loaded machine every step still happens, in order.
        for step in range(ROUNDS):
            if step == OUTAGE[0]:
                outage.begin()
                down = True
            elif step == OUTAGE[1]:
                outage.end()
                down = False
            if step % 3 == 1:  # kill -9 a writer (and its shipper thread) mid-work
                key = rng.choice(sorted(writers))
                proc, tag, log = writers[key]
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    kills["writers"] += 1
                    logs.append((tag, log, False))
                    start_writer(*key)
            if step % 4 == 2:  # kill -9 a sidecar shipper, wherever it is
                host = rng.choice(sorted(sidecars))
                sidecars[host].send_signal(signal.SIGKILL)
                sidecars[host].wait()
                kills["sidecars"] += 1
                sidecars[host] = _spawn("sidecar", str(configs[host]))
            if not down and step % 3 == 0:
                Store.open(central).close()  # the central fold runs meanwhile
                folds += 1
            time.sleep(rng.uniform(0.05, 0.25))
    finally:
        if down:
            outage.end()
        stop.write_text("stop")
        for proc, tag, log in writers.values():
            rc = proc.wait(timeout=60)
            assert rc == 0, proc.stderr.read().decode()[-2000:]
            logs.append((tag, log, True))
        for proc in sidecars.values():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    # What the writers' own threads did not ship, `voicegw ship` does (a pre-stop hook).
    for host, path in configs.items():
        cfg = load_config(path)
        r = Shipper(cfg).ship_once(wait=10)
        assert r.error is None
        assert backlog(cfg.spool_dir).files == 0, host
    sure, maybe = _expected(logs)
    with Store.open(central) as store:
        ids = {r[0] for r in store.conn.execute("SELECT id FROM line_items").fetchall()}
        total, distinct, cost = store.conn.execute(
            "SELECT count(*), count(DISTINCT id), sum(cost_usd) FROM line_items"
        ).fetchall()[0]
        per_host = dict(
            store.conn.execute(
                "SELECT split_part(id, '-', 1), count(*) FROM line_items GROUP BY 1"
            ).fetchall()
        )
    lost = sure - ids
    invented = ids - sure - maybe
    print(
        f"chaos ({url.split(':')[0]}): {total} items from {len(logs)} writer runs, "
        f"{kills['writers']} writers and {kills['sidecars']} sidecars killed, {folds} folds "
        f"during the run, {len(maybe & ids)} of {len(maybe)} in-flight items made it"
    )
    assert kills["writers"] >= 5 and kills["sidecars"] >= 5
    assert total == distinct == len(ids)  # 0 duplicated
    assert lost == set()  # 0 lost
    assert invented == set()
    assert cost == sum(Decimal(cost_of(int(i.rsplit("-", 1)[1]))) for i in ids)
    assert set(per_host) == set(configs) and sum(per_host.values()) == total
    assert len(sure) > 16 * 100  # the run wrote real volume
