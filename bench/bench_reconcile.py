"""Benchmarks for reconcile and export-costs (prints figures; not a test).

    .venv/bin/python bench/bench_reconcile.py                 # 10M items, 100k-row export
    .venv/bin/python bench/bench_reconcile.py --items 2000000 --repeat 3

1. reconcile: a month of `--items` synthetic line items (voicegw_cli.synthetic, all
   providers) in a real store, against an OpenAI dashboard cost CSV of `--rows` rows
   (hourly buckets x API keys x line items, built from the same usage so it mostly
   agrees). Timed in-process (read + aggregate + diff + JSON) and as the `voicegw`
   command in a fresh process, by model and by day. Medians of `--repeat` runs.
2. export-costs: `--export-items` items written by `voicegw export-costs` in every format,
   to a file and to stdout; wall time and the child process's peak RSS.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicegw_cli.items import COLUMN_NAMES  # noqa: E402

VOICEGW = str(Path(sys.executable).with_name("voicegw"))
MONTH = date(2025, 11, 1)
DAYS = 30
# Bench prices (USD per unit) used for our stored costs and the provider's export alike.
RATES = {
    "uncached": Decimal("0.00000015"),
    "cached": Decimal("0.000000075"),
    "output": Decimal("0.0000006"),
}
COST_SQL = """CAST(
    (input_tokens - cached_input_tokens) * 0.00000015 + cached_input_tokens * 0.000000075
    + output_tokens * 0.0000006 + audio_seconds * 0.0001283333 + characters * 0.000015
    AS DECIMAL(18,10))"""


def build_store(path: Path, items: int, seed: int = 7) -> int:
    """A store with about `items` line items over November 2025, priced."""
    import duckdb

    from voicegw_cli.store.migrations import migrate
    from voicegw_cli.synthetic import generate

    conn = duckdb.connect(str(path))
    migrate(conn)
    chunk_days = 5
    select = ", ".join(
        COST_SQL + " AS cost_usd"
        if c == "cost_usd"
        else "'bench-prices@1' AS pricing_source"
        if c == "pricing_source"
        else c
        for c in COLUMN_NAMES
    )
    # synthetic.generate's volume is approximate: add 5-day chunks until there are enough
    # (a top-up lands on days that already have traffic, which only makes them busier).
    per_chunk = items * chunk_days // DAYS
    n, i = 0, 0
    while n < items:
        first = MONTH + timedelta(days=(i * chunk_days) % DAYS)
        table = generate(first, chunk_days, seed=seed + i, target_items=per_chunk)
        table = table.slice(0, items - n)
        conn.register("chunk", table)
        conn.execute(f"INSERT INTO line_items SELECT {select} FROM chunk")
        conn.unregister("chunk")
        n += table.num_rows
        i += 1
    n = conn.execute("SELECT count(*) FROM line_items").fetchall()[0][0]
    conn.close()
    return n


def build_openai_cost_csv(store: Path, out: Path, rows: int) -> int:
    """OpenAI dashboard cost CSV: hourly buckets x API keys x (input, cached input, output)."""
    import duckdb

    conn = duckdb.connect(str(store), read_only=True)
    hours = conn.execute(
        """SELECT date_trunc('hour', timestamp) AS h, model,
                  SUM(input_tokens - cached_input_tokens), SUM(cached_input_tokens),
                  SUM(output_tokens)
           FROM line_items WHERE provider = 'openai' GROUP BY ALL ORDER BY 1, 2"""
    ).fetchall()
    conn.close()
    keys = max(1, rows // max(1, len(hours) * 3))
    written = 0
    with out.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            "start_time,end_time,start_time_iso,end_time_iso,amount_value,"
            "amount_currency,quantity,quantity_unit,line_item,user_id,api_key_id,"
            "project_id,organization_id,project_name,organization_name,user_email,"
            "api_source".split(",")
        )
        for h, model, uncached, cached, output in hours:
            t0 = int(h.replace(tzinfo=UTC).timestamp())
            iso0 = h.replace(tzinfo=UTC).isoformat()
            iso1 = (h + timedelta(hours=1)).replace(tzinfo=UTC).isoformat()
            for kind, label, qty in (
                ("uncached", "input", uncached),
                ("cached", "cached input", cached),
                ("output", "output", output),
            ):
                base, extra = divmod(int(qty), keys)
                for k in range(keys):
                    q = base + (1 if k < extra else 0)
                    value = RATES[kind] * q
                    w.writerow(
                        [
                            t0,
                            t0 + 3600,
                            iso0,
                            iso1,
                            f"{value:.30f}",
                            "usd",
                            f"{q}.0",
                            "tokens",
                            f"{model}-2024-07-18, {label}",
                            "",
                            f"key_{k:03d}",
                            "proj_bench",
                            "org-bench",
                            "Bench",
                            "Acme",
                            "",
                            "",
                        ]
                    )
                    written += 1
    return written


def write_config(folder: Path, store: Path) -> Path:
    cfg = folder / "voicegw.yaml"
    cfg.write_text(f"storage:\n  store: {store}\n  spool: {folder / 'spool'}\n")
    return cfg


# Measured from a small launcher: a child forked straight from this (large) process would
# report this process's memory as its own peak RSS.
_LAUNCHER = """
import json, os, subprocess, sys, time
t0 = time.perf_counter()
out = open(os.devnull, "wb")
p = subprocess.Popen(sys.argv[1:], stdout=out, stderr=subprocess.PIPE)
_, status, usage = os.wait4(p.pid, 0)
err = p.stderr.read().decode()
print(json.dumps([time.perf_counter() - t0, usage.ru_maxrss / 1024,
                  os.waitstatus_to_exitcode(status), err]))
"""


def run_child(args: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit code) of one `voicegw` run, stdout discarded."""
    import json

    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *args], capture_output=True, text=True, check=True
    )
    wall, rss, code, err = json.loads(done.stdout)
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(args)} failed ({code}): {err}")
    return wall, rss, code


def reconcile_in_process(cfg: Path, export: Path, by: str) -> tuple[float, int, int]:
    from voicegw_cli.cli.output import dumps
    from voicegw_cli.config import load_config
    from voicegw_cli.reconcile import compare
    from voicegw_cli.reconcile.diff import Settings
    from voicegw_cli.reconcile.read import read_exports
    from voicegw_cli.store import Store

    t0 = time.perf_counter()
    config = load_config(cfg)
    ex = read_exports([export], "openai")
    settings = Settings(MONTH, MONTH + timedelta(days=DAYS - 1), by=by)
    with Store.open(config) as store:
        result = compare(store.conn, ex, settings, config=config)
    dumps(result.as_dict())
    return time.perf_counter() - t0, len(result.rows), len(result.flagged)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=10_000_000)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--export-items", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="Work in this folder and keep it.")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="voicegw-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; work dir {work}")

    # ---------------------------------------------------------------- reconcile
    store = work / "month.duckdb"
    if not store.exists():
        t0 = time.perf_counter()
        n = build_store(store, args.items)
        print(f"built store: {n:,} line items in {time.perf_counter() - t0:.1f}s")
    export = work / "cost_2025-11.csv"
    if not export.exists():
        rows = build_openai_cost_csv(store, export, args.rows)
        print(f"built export: {rows:,} rows, {export.stat().st_size / 1e6:.1f} MB")
    cfg = write_config(work, store)
    import duckdb

    with duckdb.connect(str(store), read_only=True) as c:
        n_items, n_openai = c.execute(
            "SELECT count(*), count(*) FILTER (WHERE provider = 'openai') FROM line_items"
        ).fetchall()[0]
    with export.open() as f:
        n_rows = sum(1 for _ in f) - 1
    print(
        f"\nreconcile: {n_items:,} line items ({n_openai:,} billed by openai) vs "
        f"{n_rows:,}-row OpenAI cost CSV"
    )
    for by in ("model", "day"):
        walls = []
        for _ in range(args.repeat):
            wall, rows, flagged = reconcile_in_process(cfg, export, by)
            walls.append(wall)
        cli = [
            run_child(
                [
                    VOICEGW,
                    "--config",
                    str(cfg),
                    "reconcile",
                    "--provider",
                    "openai",
                    "--provider-usage-file",
                    str(export),
                    "--start",
                    str(MONTH),
                    "--end",
                    str(MONTH + timedelta(days=DAYS - 1)),
                    "--by",
                    by,
                    "--format",
                    "json",
                ]
            )
            for _ in range(max(1, args.repeat // 2))
        ]
        print(
            f"  --by {by:5}: in-process median {statistics.median(walls):.2f}s "
            f"(min {min(walls):.2f}s, {len(walls)} runs; {rows} rows, {flagged} flagged) · "
            f"voicegw command median {statistics.median(c[0] for c in cli):.2f}s, "
            f"peak RSS {max(c[1] for c in cli):.0f} MiB"
        )

    # ---------------------------------------------------------------- export-costs
    small = work / "export.duckdb"
    if not small.exists():
        build_store(small, args.export_items, seed=101)
    ecfg = work / "export"
    ecfg.mkdir(exist_ok=True)
    ecfg = write_config(ecfg, small)
    with duckdb.connect(str(small), read_only=True) as c:
        n_export = c.execute("SELECT count(*) FROM line_items").fetchall()[0][0]
    print(
        f"\nexport-costs: {n_export:,} line items, --start {MONTH} --end "
        f"{MONTH + timedelta(days=DAYS - 1)}"
    )
    base = [
        VOICEGW,
        "--config",
        str(ecfg),
        "export-costs",
        "--start",
        str(MONTH),
        "--end",
        str(MONTH + timedelta(days=DAYS - 1)),
    ]
    for fmt in ("csv", "json", "ndjson", "parquet"):
        out = work / f"items.{fmt}"
        runs = [run_child([*base, "--format", fmt, "-o", str(out)]) for _ in range(3)]
        piped = [run_child([*base, "--format", fmt]) for _ in range(3)]
        print(
            f"  {fmt:8} -o file: median {statistics.median(r[0] for r in runs):.2f}s, "
            f"peak RSS {max(r[1] for r in runs):.0f} MiB, {out.stat().st_size / 1e6:.0f} MB"
            f" · stdout: median {statistics.median(r[0] for r in piped):.2f}s, "
            f"peak RSS {max(r[1] for r in piped):.0f} MiB"
        )
    t0 = time.perf_counter()
    subprocess.run([VOICEGW, "--help"], capture_output=True, check=True)
    print(
        f"\n(voicegw --help alone: {time.perf_counter() - t0:.2f}s — process start-up "
        "included in every command figure above)"
    )


if __name__ == "__main__":
    main()
