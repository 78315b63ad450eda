"""Benchmarks for the foundation: store load, `costs --month`, `ingest`, `--help`.

Prints figures; asserts nothing (targets live here, not in unit tests). Usage:

    .venv/bin/python bench/bench_core.py --items 1000000 [--repeat 5] [--skip-ingest]

Targets (2-core machine, 1M items): costs --month < 0.6 s wall end to end,
ingest of 1M rows < 10 s, voicegw --help < 0.25 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VOICEGW = str(Path(sys.executable).parent / "voicegw")


def timed(cmd: list[str], cwd: Path, repeat: int) -> tuple[float, list[float]]:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        runs.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr}")
    return statistics.median(runs), runs


def peak_rss_mb(cmd: list[str], cwd: Path) -> float:
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *cmd], cwd=cwd, capture_output=True, text=True
    )
    return int(proc.stderr.strip().splitlines()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--keep", type=Path, help="Keep the bench directory here.")
    args = ap.parse_args()

    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    from voicegw_cli.config import load_config
    from voicegw_cli.pricing import Pricer
    from voicegw_cli.store import Store
    from voicegw_cli.synthetic import demo_config_text, generate

    work = args.keep or Path(tempfile.mkdtemp(prefix="voicegw-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "voicegw.yaml").write_text(demo_config_text())
    cfg = load_config(work / "voicegw.yaml")
    now = datetime.now(UTC)
    month_start = now.date().replace(day=1)
    print(f"bench dir {work}; {args.items:,} items in {month_start:%Y-%m} (up to today)")

    t0 = time.perf_counter()
    table = generate(month_start, now.day, target_items=args.items)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    table = Pricer(cfg.pricing_overrides).price_table(table)
    t_price = time.perf_counter() - t0
    unpriced = pc.sum(pc.equal(table.column("pricing_source"), "unpriced")).as_py()
    print(
        f"generate {table.num_rows:,} rows: {t_gen:.2f} s; price_table: {t_price:.2f} s "
        f"({table.num_rows / t_price:,.0f} rows/s, {unpriced} unpriced)"
    )

    t0 = time.perf_counter()
    with Store.open(cfg) as store:
        store.insert_items(table)
    print(
        f"store load via insert_items: {time.perf_counter() - t0:.2f} s; "
        f"store file {cfg.store_path.stat().st_size / 1e6:.0f} MB"
    )

    med, runs = timed([VOICEGW, "--help"], work, args.repeat)
    print(f"voicegw --help: median {med:.3f} s  runs {[round(r, 3) for r in runs]}")
    med, runs = timed([VOICEGW, "costs", "--month"], work, args.repeat)
    print(
        f"costs --month ({args.items:,} items): median {med:.3f} s  "
        f"runs {[round(r, 3) for r in runs]}"
    )
    med, runs = timed([VOICEGW, "costs", "--month", "--by", "day", "-f", "json"], work, args.repeat)
    print(f"costs --month --by day -f json: median {med:.3f} s")
    med, runs = timed([VOICEGW, "projects"], work, args.repeat)
    print(f"projects: median {med:.3f} s")

    if not args.skip_ingest:
        csv_path = work / "items.csv"
        t0 = time.perf_counter()
        pcsv.write_csv(table, csv_path)
        print(
            f"wrote {csv_path.name} ({csv_path.stat().st_size / 1e6:.0f} MB) in "
            f"{time.perf_counter() - t0:.2f} s"
        )
        fresh = work / "fresh"
        fresh.mkdir()
        (fresh / "voicegw.yaml").write_text(demo_config_text())
        med, runs = timed([VOICEGW, "ingest", str(csv_path)], fresh, 1)
        print(f"ingest {table.num_rows:,} rows with costs into an empty store: {med:.2f} s")
        med, runs = timed([VOICEGW, "ingest", str(csv_path)], fresh, 1)
        print(f"ingest the same file again (all rows already present): {med:.2f} s")
        unpriced_csv = work / "items-unpriced.csv"
        stripped = table.drop_columns(["cost_usd", "pricing_source"])
        pcsv.write_csv(stripped, unpriced_csv)
        shutil.rmtree(fresh / ".voicegw")
        rss = peak_rss_mb([VOICEGW, "ingest", str(unpriced_csv)], fresh)
        shutil.rmtree(fresh / ".voicegw")
        med, runs = timed([VOICEGW, "ingest", str(unpriced_csv)], fresh, 1)
        print(
            f"ingest {table.num_rows:,} rows without costs (priced on the way in): "
            f"{med:.2f} s, peak RSS {rss:.0f} MB"
        )
    if not args.keep:
        shutil.rmtree(work)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
