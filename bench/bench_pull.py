"""Benchmark for `voicegw pull` (prints figures; not a test).

    .venv/bin/python bench/bench_pull.py                 # a year of OpenAI pages
    .venv/bin/python bench/bench_pull.py --days 90 --repeat 5

A year (`--days`) of daily OpenAI usage and cost buckets (the clean scenario's month,
repeated) is served by the tests' local stand-in of the admin API on 127.0.0.1, 10
buckets a page, and pulled in-process with `voicegw_cli.reconcile.pull.pull` into a
fresh folder: every request, every page written and fsynced, the manifest, the rename.
Then the pull is read back with `read_exports`. Medians of `--repeat` runs. The stand-in
answers at once, so the figures are voicegw's own cost per page, not the network's.
"""

from __future__ import annotations

import argparse
import calendar
import json
import logging
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_httpserver import HTTPServer  # noqa: E402

from tests.fake_admin_apis import openai_api  # noqa: E402
from voicegw_cli.admin_keys import AdminKey  # noqa: E402
from voicegw_cli.config import parse_config  # noqa: E402
from voicegw_cli.reconcile.pull import pull  # noqa: E402
from voicegw_cli.reconcile.read import read_exports  # noqa: E402

CLEAN = ROOT / "fixtures" / "scenarios" / "clean"
KEY = "sk-admin-bench0000000000000000000000"
DAY = 86400


def year_of_buckets(days: int, start: date) -> dict[str, list[dict]]:
    """The clean month's buckets, shifted day by day to cover `days` days from `start`."""
    t0 = calendar.timegm(start.timetuple())
    out: dict[str, list[dict]] = {}
    for kind, name in (
        ("completions", "usage_completions"),
        ("audio_speeches", "usage_audio_speeches"),
        ("audio_transcriptions", "usage_audio_transcriptions"),
        ("costs", "costs"),
    ):
        month = json.loads((CLEAN / f"{name}.json").read_text())["data"]
        out[kind] = [
            {**month[i % len(month)], "start_time": t0 + i * DAY, "end_time": t0 + (i + 1) * DAY}
            for i in range(days)
        ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    start = date(2025, 1, 1)
    end = start + timedelta(days=args.days - 1)
    server = HTTPServer("127.0.0.1", 0, threaded=True)
    server.start()
    try:
        api = openai_api(server, year_of_buckets(args.days, start), key=KEY)
        key = AdminKey("openai", KEY, "bench")
        pulls, reads, pages, size = [], [], 0, 0
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="voicegw-bench-pull-") as tmp:
                cfg = parse_config(
                    {"admin_keys": {"openai": {"base_url": api.base_url}}},
                    path=None,
                    root=Path(tmp),
                )
                t = time.perf_counter()
                result = pull(cfg, "openai", start, end, root=Path(tmp), key=key)
                pulls.append(time.perf_counter() - t)
                pages = len(result.pages)
                size = sum(p["bytes"] for p in result.pages)
                t = time.perf_counter()
                export = read_exports(result.export_files(), "openai")
                reads.append(time.perf_counter() - t)
                records = len(export.records)
        print(
            f"pull openai {start}..{end} ({args.days} days) from a local stand-in: "
            f"{pages} pages, {size / 1e6:.1f} MB, {result.manifest['requests']} requests"
        )
        med = statistics.median(pulls)
        print(
            f"  pull: median {med:.2f}s (min {min(pulls):.2f}s, {args.repeat} runs) · "
            f"{med / pages * 1000:.1f} ms per page, request to fsync"
        )
        print(
            f"  read back (read_exports): median {statistics.median(reads):.2f}s, "
            f"{records:,} records"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
