"""Benchmarks for per-call costs and latency (prints figures; not a test).

    .venv/bin/python bench/bench_calls.py                       # 10M items, ~500k calls
    .venv/bin/python bench/bench_calls.py --items 2000000 --repeat 3 --keep /tmp/calls

Builds a store of `--items` synthetic line items over November 2025 (three projects,
about 20 items per call, so 10M items are about 500k calls), one call record per session
and five latency samples per turn (about 16M samples), all through the store's own insert
path (`fold.insert_items` keeps the per-call totals). Then times, as medians of
`--repeat` runs:

* in process: the library calls behind `calls --top 20`, `calls --by customer` and
  `latency --period month`;
* end to end: the `voicegw` command in a fresh process (Python start-up, config, store
  open and fold check, query, rendering), with the clock pinned inside November so
  `--period month` is that month.

Targets (2-core machine): `calls --top 20` and `latency --period month` <= 0.5 s each.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VOICEGW = str(Path(sys.executable).with_name("voicegw"))
MONTH = date(2025, 11, 1)
DAYS = 30
NOW = "2025-11-20T12:00:00+00:00"
COST_SQL = """CAST(
    (input_tokens - cached_input_tokens) * 0.00000015 + cached_input_tokens * 0.000000075
    + output_tokens * 0.0000006 + audio_seconds * 0.0001283333 + characters * 0.000015
    AS DECIMAL(18,10))"""


def build_store(workdir: Path, items: int, seed: int = 11) -> dict[str, int]:
    """A store with about `items` priced line items, their calls and latency samples."""
    from voicegw_cli.config import load_config
    from voicegw_cli.items import COLUMNS
    from voicegw_cli.store import Store
    from voicegw_cli.store.fold import insert_items, insert_records
    from voicegw_cli.synthetic import DEMO_PROFILES, calls_and_latency, generate

    profiles = tuple(dataclasses.replace(p, turns=(3, 10)) for p in DEMO_PROFILES)
    cfg = load_config(workdir / "voicegw.yaml")
    chunk_days = 5
    per_chunk = items * chunk_days // DAYS
    n, i = 0, 0
    timings = {"insert_items_s": 0.0, "records_s": 0.0}
    with Store.open(cfg) as store:
        conn = store.conn
        while n < items:
            first = MONTH + timedelta(days=(i * chunk_days) % DAYS)
            table = generate(
                first,
                chunk_days,
                profiles=profiles,
                seed=seed + i,
                target_items=per_chunk,
                session_prefix=f"c{i}-",
            ).slice(0, items - n)
            calls, latency = calls_and_latency(table, seed=seed + i)
            conn.register("chunk", table)
            priced = conn.sql(
                "SELECT "
                + ", ".join(
                    f"{COST_SQL} AS cost_usd"
                    if c == "cost_usd"
                    else "'bench-prices@1' AS pricing_source"
                    if c == "pricing_source"
                    else c
                    for c, _ in COLUMNS
                )
                + " FROM chunk"
            ).to_arrow_table()
            conn.unregister("chunk")
            t0 = time.perf_counter()
            conn.execute("BEGIN TRANSACTION")
            insert_items(conn, priced)
            conn.execute("COMMIT")
            timings["insert_items_s"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            conn.execute("BEGIN TRANSACTION")
            insert_records(conn, "call", calls)
            insert_records(conn, "latency", latency)
            conn.execute("COMMIT")
            timings["records_s"] += time.perf_counter() - t0
            n += table.num_rows
            i += 1
            del priced, table, calls, latency
        counts = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            for t in ("line_items", "calls", "call_usage", "latency_samples")
        }
        conn.execute("CHECKPOINT")
    return {**counts, **{k: round(v, 1) for k, v in timings.items()}}


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def timed(fn, repeat: int, who: int = 0) -> tuple[float, list[float], float]:
    """Median wall time, the runs, and the median CPU seconds (this process's, or its
    children's for commands): CPU time stays meaningful on a busy shared machine."""
    who = who or resource.RUSAGE_SELF
    runs, cpus = [], []
    for _ in range(repeat):
        c0, t0 = _cpu(who), time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
        cpus.append(_cpu(who) - c0)
    return statistics.median(runs), runs, statistics.median(cpus)


def run_cli(args: list[str], cwd: Path) -> None:
    env = {**os.environ, "VOICEGW_NOW": NOW, "COLUMNS": "200"}
    proc = subprocess.run([VOICEGW, *args], cwd=cwd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"voicegw {' '.join(args)} failed: {proc.stderr}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="Build (or reuse) the bench store here.")
    args = ap.parse_args()

    from voicegw_cli import clock, periods
    from voicegw_cli.config import load_config
    from voicegw_cli.synthetic import demo_config_text

    work = args.keep or Path(tempfile.mkdtemp(prefix="voicegw-bench-calls-"))
    work.mkdir(parents=True, exist_ok=True)
    cfg_path = work / "voicegw.yaml"
    store_file = work / ".voicegw" / "usage.duckdb"
    if not store_file.exists():
        cfg_path.write_text(demo_config_text())
        t0 = time.perf_counter()
        built = build_store(work, args.items)
        print(f"built store in {time.perf_counter() - t0:.0f} s: {built}")
    cfg = load_config(cfg_path)
    print(f"bench dir {work}; store {store_file.stat().st_size / 1e6:.0f} MB")

    from voicegw_cli.calls import call_report
    from voicegw_cli.latency import latency_report
    from voicegw_cli.store import Store

    with clock.pinned(__import__("datetime").datetime.fromisoformat(NOW)):
        month = periods.resolve(cfg.tz, period="month")
    with Store.open(cfg, read_only=True) as store:
        counts = {
            t: store.conn.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            for t in ("line_items", "calls", "call_usage", "latency_samples")
        }
        print(f"rows: {counts}")
        for label, fn in (
            ("calls --top 20 (library)", lambda: call_report(store, month, top=20)),
            (
                "calls --by customer (library)",
                lambda: call_report(store, month, by="customer", top=20),
            ),
            ("latency --period month (library)", lambda: latency_report(store, month)),
            (
                "latency --metric tts_ttfb (library)",
                lambda: latency_report(store, month, metrics=("tts_ttfb",)),
            ),
        ):
            med, runs, cpu = timed(fn, args.repeat)
            print(
                f"{label}: median {med:.3f} s wall, {cpu:.3f} s CPU"
                f"  runs {[round(r, 3) for r in runs]}"
            )
        top = call_report(store, month, top=1)["rows"][0]["session_id"]
    for label, cli in (
        ("voicegw --help", ["--help"]),
        ("voicegw calls --period month --top 20", ["calls", "--period", "month", "--top", "20"]),
        (
            "voicegw calls --period month --by customer",
            ["calls", "--period", "month", "--by", "customer"],
        ),
        ("voicegw latency --period month", ["latency", "--period", "month"]),
        (
            "voicegw latency --period month -f json",
            ["latency", "--period", "month", "-f", "json"],
        ),
        (f"voicegw calls show {top}", ["calls", "show", top]),
    ):
        med, runs, cpu = timed(
            lambda cli=cli: run_cli(cli, work), args.repeat, resource.RUSAGE_CHILDREN
        )
        print(
            f"{label}: median {med:.3f} s wall, {cpu:.3f} s CPU  runs {[round(r, 3) for r in runs]}"
        )
    if not args.keep:
        shutil.rmtree(work)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} (other processes share the cores: see CPU seconds)"
    )


if __name__ == "__main__":
    main()
