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

#: (modality, provider, model, input_units SQL, output_units SQL, cost SQL) per row kind.
_KINDS = (
    ("stt", "deepgram", "deepgram/nova-3", "round(random() * 3, 4)", "0.0", "round(random() * 0.02, 6)"),
    ("llm", "openai", "openai/gpt-4o-mini", "floor(random() * 4000)", "floor(random() * 300)", "round(random() * 0.001, 8)"),
    ("tts", "cartesia", "cartesia/sonic-3", "floor(random() * 600)", "0.0", "round(random() * 0.02, 6)"),
    ("llm", "anthropic", "anthropic/claude-haiku-4-5", "floor(random() * 4000)", "floor(random() * 300)", "round(random() * 0.002, 8)"),
)


def generate(path: Path, rows: int) -> float:
    """A voicegateway export-costs CSV of `rows` rows spread over a year; seconds taken."""
    import duckdb

    t0 = time.perf_counter()
    case = lambda i: " ".join(  # noqa: E731
        f"WHEN {k} THEN {kind[i]}" if i > 2 else f"WHEN {k} THEN '{kind[i]}'"
        for k, kind in enumerate(_KINDS)
    )
    sql = f"""COPY (
        SELECT strftime(TIMESTAMP '2025-11-01' + to_microseconds((i::HUGEINT * 31536000000000 // {rows})::BIGINT),
                        '%Y-%m-%dT%H:%M:%S.%f+00:00') AS timestamp,
               ['dental', 'restaurant', 'internal-qa'][1 + (i // 7) % 3] AS project,
               CASE i % 4 {case(0)} END AS modality,
               CASE i % 4 {case(1)} END AS provider,
               CASE i % 4 {case(2)} END AS model,
               CAST(CASE i % 4 {case(3)} END AS DOUBLE) AS input_units,
               CAST(CASE i % 4 {case(4)} END AS DOUBLE) AS output_units,
               CAST(CASE i % 4 {case(5)} END AS DOUBLE) AS calculated_cost_usd,
               'voice-prices@0.11.0' AS pricing_source,
               CASE WHEN i % 97 = 0 THEN 'error' ELSE 'success' END AS status
        FROM range({rows}) t(i)
    ) TO '{path}' (HEADER, DELIMITER ',')"""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = true")
    con.execute(sql)
    con.close()
    return time.perf_counter() - t0


def run_ingest(work: Path, csv: Path) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MB, exit code) of one `voicegw ingest` subprocess."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%M", VOICEGW, "--config", str(work / "voicegw.yaml"),
         "ingest", str(csv), "--format", "json"],
        cwd=work, capture_output=True, text=True,
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

    from voicegw_cli.synthetic import demo_config_text

    base = args.keep or Path(tempfile.mkdtemp(prefix="voicegw-bench-ingest-"))
    results = []
    try:
        for rows in sizes:
            work = base / f"r{rows}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            (work / "voicegw.yaml").write_text(demo_config_text())
            csv = work / "voicegateway-export.csv"
            t_gen = generate(csv, rows)
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
    print(f"{'rows':>12}  {'run':<28} {'file':>9} {'wall s':>8} {'peak RSS MB':>12} {'rows/s':>12}  exit")
    for rows, what, size, wall, rss, rc in results:
        print(
            f"{rows:>12,}  {what:<28} {size / 1e9:>7.2f}GB {wall:>8.2f} {rss:>12.0f}"
            f" {rows / wall:>12,.0f}  {rc}"
        )


if __name__ == "__main__":
    main()
