"""The hook across processes, as LiveKit runs jobs (one process per job):

* 8 processes, each running concurrent real sessions that emit thousands of usage events,
  while folds run: the store ends with exactly the expected items and totals;
* a process killed with SIGKILL loses only usage from its last flush interval.

Children run this file as a script (`python test_hook_procs.py child ...`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROCS_YAML = """\
timezone: Europe/Paris
projects:
  alpha: {name: Alpha}
  beta: {name: Beta}
  gamma: {name: Gamma}
hook:
  flush_interval_seconds: {interval}
"""

PROCESSES = 8
SESSIONS_PER_PROCESS = 2
EVENTS_PER_SESSION = 1500  # 500 STT + 500 LLM + 500 TTS


def _expected_units(worker: int, session: int, i: int) -> dict[str, float | int]:
    """Deterministic, distinct per event; floats are binary-exact so sums are exact."""
    k = worker * 7 + session * 3 + i
    return {
        "audio": 0.25 * (1 + k % 8),
        "prompt": 100 + k % 50,
        "completion": 1 + k % 9,
        "chars": 10 + k % 40,
        "tts_audio": 0.5 * (1 + k % 4),
    }


def project_of(worker: int, session: int) -> str:
    return ("alpha", "beta", "gamma")[(worker + session) % 3]


# ------------------------------------------------------------------ child processes


def child_sessions(worker: int, explicit_flush: bool) -> None:
    import asyncio

    sys.path.insert(0, str(ROOT))
    import voicegw_cli.livekit as vg
    from tests.test_hook_helpers import (
        agent,
        emit,
        llm_metric,
        new_session,
        plugins,
        quiet_livekit,
        stt_metric,
        stt_setup_metric,
        tts_metric,
    )

    quiet_livekit()

    async def one(session_no: int) -> None:
        vg.set_project(project_of(worker, session_no))  # this task's context only
        stt, llm, tts = plugins()
        session = new_session(stt, llm, tts)
        vg.track(session)
        await session.start(agent(), record=False)
        emit(stt, stt_setup_metric(stt))
        for i in range(EVENTS_PER_SESSION // 3):
            u = _expected_units(worker, session_no, i)
            emit(stt, stt_metric(stt, request_id=f"w{worker}s{session_no}", audio=u["audio"]))
            emit(
                llm,
                llm_metric(llm, request_id=f"r{i}", prompt=u["prompt"], completion=u["completion"]),
            )
            emit(tts, tts_metric(tts, request_id=f"t{i}", chars=u["chars"], audio=u["tts_audio"]))
            if i % 50 == 0:
                await asyncio.sleep(0.001)
        await session.aclose()

    async def main() -> None:
        await asyncio.gather(*(one(s) for s in range(SESSIONS_PER_PROCESS)))
        if explicit_flush:
            await vg.aflush()
        # else: the atexit flush writes whatever close did not

    asyncio.run(main())


def child_crash(interval: float, events: int) -> None:
    """Emit LLM events whose prompt tokens are their sequence number, then SIGKILL self."""
    import asyncio

    sys.path.insert(0, str(ROOT))
    import voicegw_cli.livekit as vg
    from tests.test_hook_helpers import agent, emit, llm_metric, new_session, plugins, quiet_livekit

    quiet_livekit()
    out = sys.stdout

    async def main() -> None:
        stt, llm, tts = plugins()
        session = new_session(stt, llm, tts)
        vg.track(session, "alpha")
        await session.start(agent(), record=False)
        for seq in range(1, events + 1):
            emit(llm, llm_metric(llm, request_id="r", prompt=seq, completion=1))
            out.write(f"E {seq} {time.time():.6f}\n")
            out.flush()
            await asyncio.sleep(0.003)
        out.write(f"K {time.time():.6f}\n")
        out.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())


# ------------------------------------------------------------------ tests


def _spawn(args: list[str], config_path: Path, cwd: Path, **kw) -> subprocess.Popen:
    env = {**os.environ, "VOICEGW_CONFIG": str(config_path), "PYTHONPATH": str(ROOT)}
    env.pop("VOICEGW_ACTIVE_PROJECT", None)
    return subprocess.Popen([sys.executable, __file__, *args], env=env, cwd=cwd, **kw)


def test_eight_processes_lose_and_duplicate_nothing(write_config, tmp_path: Path) -> None:
    from voicegw_cli.store import Store

    cfg = write_config(PROCS_YAML.replace("{interval}", "0.2"))
    procs = [
        _spawn(
            ["child", str(w), str(w % 2)],
            cfg.path,
            tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for w in range(PROCESSES)
    ]
    folds = 0
    while any(p.poll() is None for p in procs):  # fold concurrently with the writers
        with Store.open(cfg):
            folds += 1
        time.sleep(0.3)
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read().decode()[-3000:]

    exp: dict[str, dict[str, float]] = {}
    n_items = 0
    for w in range(PROCESSES):
        for s in range(SESSIONS_PER_PROCESS):
            e = exp.setdefault(
                project_of(w, s),
                {"stt": 0.0, "prompt": 0, "completion": 0, "chars": 0, "tts": 0.0, "items": 0},
            )
            for i in range(EVENTS_PER_SESSION // 3):
                u = _expected_units(w, s, i)
                e["stt"] += u["audio"]
                e["prompt"] += u["prompt"]
                e["completion"] += u["completion"]
                e["chars"] += u["chars"]
                e["tts"] += u["tts_audio"]
                e["items"] += 3
                n_items += 3

    with Store.open(cfg) as store:
        total, distinct = store.conn.execute(
            "SELECT count(*), count(DISTINCT id) FROM line_items"
        ).fetchall()[0]
        rows = store.conn.execute(
            """SELECT project,
                      SUM(audio_seconds) FILTER (WHERE modality = 'stt'),
                      SUM(input_tokens) FILTER (WHERE modality = 'llm'),
                      SUM(output_tokens) FILTER (WHERE modality = 'llm'),
                      SUM(characters), SUM(audio_seconds) FILTER (WHERE modality = 'tts'),
                      count(*), count(*) FILTER (WHERE metadata LIKE '%correction%')
               FROM line_items GROUP BY project ORDER BY project"""
        ).fetchall()
    assert total == distinct == n_items == PROCESSES * SESSIONS_PER_PROCESS * 1500
    got = {
        r[0]: {
            "stt": r[1],
            "prompt": r[2],
            "completion": r[3],
            "chars": r[4],
            "tts": r[5],
            "items": r[6],
        }
        for r in rows
    }
    assert got == exp
    assert all(r[7] == 0 for r in rows)  # no corrections: the events told us everything
    assert folds >= 1


def test_sigkill_loses_at_most_one_flush_interval(write_config, tmp_path: Path) -> None:
    from voicegw_cli.spool import parse_lines, spool_files

    interval = 0.5
    cfg = write_config(PROCS_YAML.replace("{interval}", str(interval)))
    proc = _spawn(
        ["crash", str(interval), "1000"],
        cfg.path,
        tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, err[-3000:]
    emitted: dict[int, float] = {}
    killed_at = None
    for line in out.splitlines():
        parts = line.split()
        if parts[0] == "E":
            emitted[int(parts[1])] = float(parts[2])
        elif parts[0] == "K":
            killed_at = float(parts[1])
    assert killed_at is not None and len(emitted) == 1000

    recs = [r for p in spool_files(cfg.spool_dir) for r in parse_lines(p.read_bytes())]
    written = [r["input_tokens"] for r in recs]
    assert len(written) == len(set(written))  # nothing twice
    lost = sorted(set(emitted) - set(written))
    # What was written is a prefix; what was lost is the tail...
    assert set(written) == set(range(1, len(written) + 1))
    # ...and every lost event was emitted within one flush interval of the kill (plus the
    # time one batch takes to price and write on a loaded machine).
    slack = 0.25
    oldest_lost_age = max((killed_at - emitted[s] for s in lost), default=0.0)
    print(
        f"crash: {len(lost)} of {len(emitted)} events lost, oldest {oldest_lost_age:.3f} s "
        f"before the kill (interval {interval} s)"
    )
    assert oldest_lost_age <= interval + slack, (len(lost), oldest_lost_age)
    # The bound is not vacuous: more than one interval of events was emitted in all.
    assert killed_at - emitted[1] > 4 * interval


if __name__ == "__main__":
    if sys.argv[1] == "child":
        child_sessions(int(sys.argv[2]), sys.argv[3] == "1")
    elif sys.argv[1] == "crash":
        child_crash(float(sys.argv[2]), int(sys.argv[3]))
    else:  # pragma: no cover
        pytest.exit(f"unknown mode {sys.argv[1]}")


def test_forked_child_never_rewrites_the_parents_queue(tmp_path: Path) -> None:
    """Usage queued before a fork belongs to the parent; the child starts empty and
    writes its own usage to its own spool file."""
    from voicegw_cli import clock
    from voicegw_cli.hook.recorder import Recorder
    from voicegw_cli.items import LineItem
    from voicegw_cli.spool import parse_lines, spool_files

    def items(tag: str, n: int):
        return [
            LineItem(
                timestamp=clock.now(),
                project=tag,
                modality="llm",
                provider="openai",
                model="gpt-4o-mini",
                input_tokens=1,
            )
            for _ in range(n)
        ]

    rec = Recorder(tmp_path / "spool", flush_interval=60)
    rec.start()
    rec.submit(lambda p: p, items("parent", 3))
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            assert rec.pending == 0 and not rec.running
            rec.start()
            rec.submit(lambda p: p, items("child", 2))
            rec.close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    rec.close()
    files = spool_files(tmp_path / "spool")
    per_file = sorted(sorted({r["project"] for r in parse_lines(f.read_bytes())}) for f in files)
    counts = sorted(len(parse_lines(f.read_bytes())) for f in files)
    assert per_file == [["child"], ["parent"]] and counts == [2, 3]
