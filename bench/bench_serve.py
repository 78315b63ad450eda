"""`voicegw serve` under load beside the CLI and a writer, on a store of N items.

Starts the real server as a subprocess, then for --seconds runs at once:

* --clients concurrent HTTP clients on loopback, each asking GET /v1/costs?period=month
  again as soon as it has its answer (--think seconds apart);
* a writer: agent-hook-style spool appends (what LiveKit workers do), a few items every
  100 ms, which every store opener folds in;
* the CLI, back to back: `voicegw costs --period month` and `voicegw logs -n 5` (each
  folds the spool, so it is the fold loop too).

Prints the HTTP latency p50/p90/p99/max, throughput, error count, and the CLI's exit codes
and durations (exit 4 would be the store staying busy past VOICEGW_LOCK_TIMEOUT).
Target (2 cores): p99 <= 300 ms at 1M items with 0 errors and no CLI exit 4. Measured
(1M items, 50 clients, 20 s): 3,086 requests/s, p50 13 ms, p99 52 ms, max 730 ms, 0
errors; 18 CLI runs, all exit 0. With `--cache-ttl 0`: 634/s, p99 1,078 ms, 0 errors.

    .venv/bin/python bench/bench_serve.py --items 1000000 [--keep DIR] [--clients 50]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_reports import VOICEGW, build  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: bytes):
    """One keep-alive HTTP/1.1 GET: (status, body). A bare client: httpx spends several
    times the server's CPU per request, and on two cores the load generator's CPU is
    taken from the server it measures."""
    writer.write(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = next(
        int(v)
        for k, _, v in (ln.partition(b":") for ln in lines[1:])
        if k.lower() == b"content-length"
    )
    return status, await reader.readexactly(length)


async def clients(url: str, n: int, seconds: float, think: float) -> tuple[list[float], dict]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    target = (parts.path + ("?" + parts.query if parts.query else "")).encode()
    latencies: list[float] = []
    outcomes: collections.Counter = collections.Counter()
    stop = time.monotonic() + seconds

    async def one() -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                try:
                    status, data = await _get(reader, writer, target)
                    outcomes[status] += 1
                    if status == 200:
                        json.loads(data)
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    outcomes[type(exc).__name__] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                latencies.append(time.perf_counter() - t0)
                if think:
                    await asyncio.sleep(think)
        finally:
            writer.close()

    await asyncio.gather(*(one() for _ in range(n)))
    return latencies, dict(outcomes)


def writer(cfg_path: Path, stop: threading.Event, counter: list[int]) -> None:
    from voicegw_cli.config import load_config
    from voicegw_cli.items import LineItem
    from voicegw_cli.spool import SpoolWriter

    cfg = load_config(cfg_path)
    w = SpoolWriter(cfg.spool_dir)
    n = 0
    while not stop.is_set():
        batch = []
        for _ in range(5):
            n += 1
            batch.append(
                LineItem(
                    id=f"bench-serve-{os.getpid()}-{n}",
                    timestamp=datetime.now(UTC),
                    project="dental-receptionist",
                    modality="llm",
                    provider="openai",
                    model="gpt-4o-mini",
                    input_tokens=900,
                    output_tokens=80,
                    cost_usd=Decimal("0.000183"),
                    pricing_source="genai-prices@bench",
                ).to_record()
            )
        w.write(batch)
        counter[0] = n
        time.sleep(0.1)
    w.close()


def cli_loop(work: Path, stop: threading.Event, runs: list[tuple[str, int, float]]) -> None:
    cmds = [
        [VOICEGW, "costs", "--period", "month", "--format", "json"],
        [VOICEGW, "logs", "-n", "5", "--format", "json"],
    ]
    i = 0
    while not stop.is_set():
        cmd = cmds[i % len(cmds)]
        i += 1
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
        runs.append((cmd[1], p.returncode, time.perf_counter() - t0))
        if p.returncode not in (0,):
            print(f"  CLI {' '.join(cmd[1:])} exit {p.returncode}: {p.stderr.strip()[:200]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--think", type=float, default=0.0, help="Pause between a client's asks.")
    ap.add_argument("--no-cli", action="store_true", help="No CLI or writer beside the load.")
    ap.add_argument("--keep", type=Path, help="Build the store here once and reuse it.")
    ap.add_argument(
        "--cache-ttl",
        type=float,
        help="Serve create_app(cache_ttl=...) instead of `voicegw serve` (0: no answer cache).",
    )
    args = ap.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="voicegw-bench-serve-"))
    work.mkdir(parents=True, exist_ok=True)
    if not (work / ".voicegw" / "usage.duckdb").exists():
        build(work, args.items, args.days)
    else:
        print(f"reusing the store in {work}")
    port = _free_port()
    cmd = [VOICEGW, "serve", "--port", str(port)]
    if args.cache_ttl is not None:
        code = (
            "import uvicorn; from pathlib import Path; from voicegw_cli.server.app import "
            f"create_app; uvicorn.run(create_app(Path('voicegw.yaml'), cache_ttl={args.cache_ttl})"
            f", port={port}, log_level='warning', access_log=False)"
        )
        cmd = [sys.executable, "-c", code]
    server = subprocess.Popen(
        cmd,
        cwd=work,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/health", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.1)
        url = base + "/v1/costs?period=month"
        t0 = time.perf_counter()
        httpx.get(url, timeout=60).raise_for_status()
        cold = 1000 * (time.perf_counter() - t0)
        print(f"first /v1/costs?period=month (cold open): {cold:.0f} ms")

        stop = threading.Event()
        written = [0]
        runs: list[tuple[str, int, float]] = []
        threads = []
        if not args.no_cli:
            threads = [
                threading.Thread(target=writer, args=(work / "voicegw.yaml", stop, written)),
                threading.Thread(target=cli_loop, args=(work, stop, runs)),
            ]
        for t in threads:
            t.start()
        try:
            lat, outcomes = asyncio.run(clients(url, args.clients, args.seconds, args.think))
        finally:
            stop.set()
            for t in threads:
                t.join()
        ms = [x * 1000 for x in lat]
        errors = sum(v for k, v in outcomes.items() if k != 200)
        print(
            f"{args.clients} clients x {args.seconds:g} s on /v1/costs?period=month "
            f"(think {args.think:g} s): {len(ms):,} requests, {len(ms) / args.seconds:,.0f}/s; "
            f"p50 {pct(ms, 0.5):.0f} ms, p90 {pct(ms, 0.9):.0f} ms, p99 {pct(ms, 0.99):.0f} ms, "
            f"max {max(ms):.0f} ms; errors {errors} {outcomes}"
        )
        if runs:
            codes = collections.Counter(code for _, code, _ in runs)
            for name in ("costs", "logs"):
                d = [s for n, _, s in runs if n == name]
                if d:
                    med = statistics.median(d)
                    top = max(d)
                    print(f"CLI `{name}`: {len(d)} runs, median {med:.2f} s, max {top:.2f} s")
            print(f"CLI exit codes: {dict(codes)}; writer appended {written[0]:,} items")
            final = httpx.get(url, timeout=60).json()
            print(f"items in month after the run: {final['items']:,}")
    finally:
        server.terminate()
        try:
            _, err = server.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            _, err = server.communicate()
        if err.strip():
            print("server stderr:", err.strip()[-2000:])


if __name__ == "__main__":
    main()
