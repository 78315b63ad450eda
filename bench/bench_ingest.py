"""Benchmark: `voicegw ingest` of a voicegateway export-costs CSV, end to end.

Generates the CSV with DuckDB (seconds for 10M rows), runs `voicegw ingest` on a fresh
store as a subprocess, and prints wall time and the child's peak RSS. Asserts nothing.

    .venv/bin/python bench/bench_ingest.py --rows 1000000 [--rows 10000000] [--reingest]

Targets (issue 8, 2-core machine): 10M rows (~1.06 GB) <= 25 s and <= 1 GB peak RSS;
1M rows <= 3 s.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VOICEGW = str(Path(sys.executable).parent / "voicegw")


def run_ingest(work: Path, csv: Path) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MB, exit code) of one `voicegw ingest` subprocess."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            "/usr/bin/time",
            "-f",
            "%M",
            VOICEGW,
            "--config",
            str(work / "voicegw.yaml"),
            "ingest",
            str(csv),
            "--format",
            "json",
        ],
        cwd=work,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    tail = proc.stderr.strip().splitlines()
    try:
        rss = int(tail[-1]) / 1024
    except (IndexError, ValueError):
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
    return wall, rss, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, action="append", help="rows per run (repeatable)")
    ap.add_argument("--reingest", action="store_true", help="also time a second ingest (dedupe)")
    ap.add_argument("--keep", type=Path, help="work directory to keep (default: a temp dir)")
    args = ap.parse_args()
    sizes = args.rows or [1_000_000]

    from voicegw_cli.synthetic import demo_config_text, write_voicegateway_csv

    base = args.keep or Path(tempfile.mkdtemp(prefix="voicegw-bench-ingest-"))
    results = []
    try:
        for rows in sizes:
            work = base / f"r{rows}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            (work / "voicegw.yaml").write_text(demo_config_text())
            csv = work / "voicegateway-export.csv"
            t0 = time.perf_counter()
            write_voicegateway_csv(csv, rows)
            t_gen = time.perf_counter() - t0
            size = csv.stat().st_size
            print(f"generated {rows:,} rows, {size / 1e9:.2f} GB in {t_gen:.1f} s", flush=True)
            wall, rss, rc = run_ingest(work, csv)
            results.append((rows, "ingest (new store)", size, wall, rss, rc))
            if args.reingest:
                wall, rss, rc = run_ingest(work, csv)
                results.append((rows, "ingest again (all present)", size, wall, rss, rc))
            csv.unlink()
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    print()
    print(
        f"{'rows':>12}  {'run':<28} {'file':>9} {'wall s':>8} {'peak RSS MB':>12}"
        f" {'rows/s':>12}  exit"
    )
    for rows, what, size, wall, rss, rc in results:
        print(
            f"{rows:>12,}  {what:<28} {size / 1e9:>7.2f}GB {wall:>8.2f} {rss:>12.0f}"
            f" {rows / wall:>12,.0f}  {rc}"
        )


if __name__ == "__main__":
    main()
