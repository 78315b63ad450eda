"""ingest streams: progress reports, all-or-nothing on a bad last row, a kill -9 midway and
a full disk (RLIMIT_FSIZE), and the progress bar only on a terminal."""

from __future__ import annotations

import os
import pty
import resource
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voicegw_cli.cli.app import app
from voicegw_cli.errors import InputError
from voicegw_cli.ingest import ingest_files
from voicegw_cli.store import Store
from voicegw_cli.synthetic import write_voicegateway_csv

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "items"
VOICEGW = str(Path(sys.executable).parent / "voicegw")


def _state(config) -> tuple:
    """Row counts and checksums of the items and the tables derived from them."""
    with Store.open(config, fold=False) as store:
        c = store.conn
        return (
            c.execute(
                "SELECT count(*), sum(hash(id, timestamp, cost_usd, input_tokens))::VARCHAR"
                " FROM line_items"
            ).fetchall()[0],
            c.execute("SELECT count(*), sum(items), sum(cost_usd) FROM rollup_15m").fetchall(),
            c.execute("SELECT count(*), sum(items) FROM call_usage").fetchall(),
            c.execute("SELECT count(*) FROM ingested_files").fetchall(),
        )


def _seed(config) -> tuple:
    with Store.open(config) as store:
        ingest_files(store, [FIXTURES / "line-items.csv"])
    return _state(config)


class Recorder:
    def __init__(self) -> None:
        self.phases: list[tuple[str, int, str, list[int]]] = []

    def begin(self, label: str, total: int, unit: str = "rows") -> None:
        self.phases.append((label, total, unit, []))

    def update(self, done: int) -> None:
        self.phases[-1][3].append(done)


def test_progress_counts_grow_to_the_total(config, tmp_path: Path) -> None:
    big = tmp_path / "vg.csv"
    write_voicegateway_csv(big, 50_000)
    files = [FIXTURES / "line-items.csv", big, FIXTURES / "voicegateway-export.csv"]
    rec = Recorder()
    with Store.open(config) as store:
        result = ingest_files(store, files, progress=rec)
    assert result.added == 5 + 50_000 + 4
    (read, read_total, read_unit, reads), (stored, store_total, store_unit, stores) = rec.phases
    assert (read, read_unit, read_total) == ("read", "bytes", sum(f.stat().st_size for f in files))
    assert (stored, store_unit, store_total) == ("store", "rows", 50_009)
    for counts, total in ((reads, read_total), (stores, store_total)):
        assert counts == sorted(counts) and len(set(counts)) == len(counts)
        assert counts[-1] == total


def test_bad_last_row_of_a_million_rejects_the_file(config, tmp_path: Path) -> None:
    before = _seed(config)
    big = tmp_path / "year.csv"
    write_voicegateway_csv(big, 1_000_000)
    with big.open("a") as f:
        f.write("2026-11-01T00:00:00+00:00,dental,video,deepgram,nova-3,1.0,0.0,0.1,x,success\n")
    with pytest.raises(InputError) as err, Store.open(config) as store:
        ingest_files(store, [big])
    assert str(err.value).startswith(f"{big}:1000002: modality video is not one of")
    assert _state(config) == before


def _cli(config, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [VOICEGW, "--config", str(config.path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_kill_9_midway_leaves_the_store_as_it_was(config, tmp_path: Path) -> None:
    before = _seed(config)
    big = tmp_path / "year.csv"
    write_voicegateway_csv(big, 3_000_000)
    db = config.store_path
    size = db.stat().st_size
    proc = _cli(config, "--quiet", "ingest", str(big))
    deadline = time.monotonic() + 120
    # Started writing: the store file grows (DuckDB writes a big insert's blocks early).
    while db.stat().st_size <= size and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "the ingest ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert db.stat().st_size > size  # it had written
    assert _state(config) == before


def test_full_disk_leaves_the_store_as_it_was(config, tmp_path: Path) -> None:
    before = _seed(config)
    big = tmp_path / "year.csv"
    write_voicegateway_csv(big, 1_000_000)
    limit = config.store_path.stat().st_size + (4 << 20)

    def small_disk() -> None:  # writes past `limit` bytes fail with EFBIG, unprivileged
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    proc = _cli(config, "ingest", str(big), preexec_fn=small_disk)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {config.store_path}: cannot write")
    assert "nothing was imported" in lines[0]
    assert _state(config) == before


def test_no_progress_when_stderr_is_not_a_terminal(config) -> None:
    runner = CliRunner()
    for quiet in ([], ["--quiet"]):
        res = runner.invoke(
            app, ["--config", str(config.path), *quiet, "ingest", str(FIXTURES / "line-items.csv")]
        )
        assert res.exit_code == 0, res.output
        assert res.stderr == ""


def _on_a_terminal(config, *args: str) -> str:
    """Run the CLI with stderr on a pseudo-terminal; what it wrote there."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [VOICEGW, "--config", str(config.path), *args],
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait()
    os.close(master)
    assert proc.returncode == 0
    return b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal_and_quiet(config, tmp_path: Path) -> None:
    big = tmp_path / "vg.csv"
    write_voicegateway_csv(big, 200_000)
    shown = _on_a_terminal(config, "ingest", str(big))
    assert "read" in shown and "B/s" in shown and "ETA" in shown
    assert "rows/s" in shown
    quiet = _on_a_terminal(config, "--quiet", "ingest", str(big))
    assert "ETA" not in quiet and "━" not in quiet
