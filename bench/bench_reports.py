"""Speed of the everyday commands, end to end, on a store of N items over D days.

Prints figures; asserts nothing (targets live here, not in unit tests). Usage:

    .venv/bin/python bench/bench_reports.py --items 10000000 --days 365 [--repeat 7]
        [--keep DIR]   # reuse (or build once) the store in DIR

Targets (2-core machine): `--help` <= 0.15 s; at 1M items `costs --month` <= 0.3 s; at 10M
items over a year `costs --month` <= 0.4 s, `logs -n 20` <= 0.3 s, a year `--by day`
<= 0.8 s. Each figure is the median of --repeat runs of the real `voicegw` command.
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
from datetime import timedelta
from pathlib import Path

VOICEGW = str(Path(sys.executable).parent / "voicegw")


def timed(cmd: list[str], cwd: Path, repeat: int) -> tuple[float, list[float]]:
    subprocess.run(cmd, cwd=cwd, capture_output=True)  # warm the page cache once
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        runs.append(time.perf_counter() - t0)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr}")
    return statistics.median(runs), runs


def build(work: Path, items: int, days: int) -> None:
    from voicegw_cli import clock
    from voicegw_cli.config import load_config
    from voicegw_cli.pricing import Pricer
    from voicegw_cli.store import Store
    from voicegw_cli.synthetic import demo_config_text, generate

    (work / "voicegw.yaml").write_text(demo_config_text())
    cfg = load_config(work / "voicegw.yaml")
    today = clock.today(cfg.tz)
    t0 = time.perf_counter()
    table = generate(today - timedelta(days=days - 1), days, target_items=items)
    table = Pricer(cfg.pricing_overrides).price_table(table)
    t1 = time.perf_counter()
    with Store.open(cfg) as store:
        for start in range(0, table.num_rows, 2_000_000):
            store.insert_items(table.slice(start, 2_000_000))
    t2 = time.perf_counter()
    size = cfg.store_path.stat().st_size / 1e6
    print(
        f"built {table.num_rows:,} items over {days} days: generate+price {t1 - t0:.1f} s, "
        f"insert {t2 - t1:.1f} s, store {size:.0f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--keep", type=Path, help="Build the store here once and reuse it.")
    args = ap.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="voicegw-bench-reports-"))
    work.mkdir(parents=True, exist_ok=True)
    if not (work / ".voicegw" / "usage.duckdb").exists():
        build(work, args.items, args.days)
    else:
        print(f"reusing the store in {work}")

    from voicegw_cli import clock

    today = clock.now().date()
    first = (today - timedelta(days=args.days - 1)).isoformat()
    span = ["--start", first, "--end", today.isoformat()]
    cases = [
        ("voicegw --help", ["--help"]),
        ("costs --month", ["costs", "--month"]),
        ("costs --month --by day -f json", ["costs", "--month", "--by", "day", "-f", "json"]),
        (
            f"costs --by day over {args.days} days -f json",
            ["costs", *span, "--by", "day", "-f", "json"],
        ),
        ("logs -n 20", ["logs", "-n", "20"]),
        ("logs -n 20 --project internal-qa", ["logs", "-n", "20", "--project", "internal-qa"]),
        ("projects", ["projects"]),
        ("project dental-receptionist", ["project", "dental-receptionist"]),
        ("budget check", ["budget", "check"]),
    ]
    for label, argv in cases:
        med, runs = timed([VOICEGW, *argv], work, args.repeat)
        print(f"{label:<45} median {med:.3f} s  runs {[round(r, 3) for r in runs]}")
    load = os.getloadavg()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {load[0]:.2f}")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
