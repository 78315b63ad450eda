"""Benchmark a fleet: many hosts shipping spool segments to one folder, on simulated time.

Simulates `--hosts` agent hosts x `--procs` agent processes, each recording `--rate`
priced line items a second (a voice call reports STT every few seconds and LLM and TTS
once a turn: about 0.5 items/s per busy process), each process closing a segment every
`--segment-seconds`. Every simulated `--fold-interval` each host's real `Shipper` ships
its closed segments to a shared directory (the `file://` backend; S3 differs only in
request latency) and the central store's real fold reads them. Time is the library's
clock, moved by hand, so an hour runs in a fraction of one; fold durations are real.

Prints:
* objects per hour (segments shipped, measured and as the formula hosts x procs x 3600 /
  segment age);
* fold throughput: segments/s and items/s of real fold time (median and overall);
* the central view's lag: from an item's timestamp to the fold that made it visible
  (simulated seconds; add the fold's own real duration);
* listing cost over `--days` simulated days: list requests and objects listed per fold,
  against the objects a full listing of the bucket would read.

Asserts nothing. Usage:

    .venv/bin/python bench/bench_fleet.py [--hosts 50] [--procs 20] [--rate 0.5]
        [--minutes 10] [--days 30] [--segment-seconds 30] [--fold-interval 10]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

YAML = """\
timezone: UTC
budgets: {{refresh_seconds: 5}}
storage:
  store: {store}
  spool: {spool}
  host: {host}
  ship_to: file://{shared}
  segment_max_seconds: {segment}
"""

RECORD = (
    '{{"id":"{id}","timestamp":"{ts}","project":"p{p}","modality":"llm",'
    '"provider":"openai","model":"gpt-4o-mini","input_tokens":812,"output_tokens":64,'
    '"cached_input_tokens":0,"cache_write_tokens":0,"audio_seconds":0,"characters":0,'
    '"cost_usd":"0.0001602000","pricing_source":"genai-prices@0.0.30","session_id":'
    '"{sid}","agent":"support-agent","metadata":{{"job_id":"AJ_{sid}","room":"call-{sid}"}}}}\n'
)


def _config(tmp: Path, host: str, shared: Path, segment: float):
    from voicegw_cli.config import load_config

    path = tmp / f"{host}.yaml"
    path.write_text(
        YAML.format(
            store=tmp / "central" / "usage.duckdb",
            spool=tmp / "hosts" / host,
            host=host,
            shared=shared,
            segment=segment,
        )
    )
    return load_config(path)


def _segment(
    spool: Path, host: str, proc: int, seq: int, start: datetime, n: int, span: float = 30
) -> None:
    """One closed segment of `n` items spread over the segment's age, as a writer leaves it."""
    lines = []
    for i in range(n):
        ts = (start + timedelta(seconds=i * span / max(n, 1))).isoformat()
        lines.append(
            RECORD.format(id=f"{host}-{proc}-{seq}-{i}", ts=ts, p=proc % 4, sid=f"{proc}{seq}")
        )
    spool.mkdir(parents=True, exist_ok=True)
    (spool / f"{host}-{proc}-bench-{seq:05d}.ndjson").write_text("".join(lines))


def run_fleet(args: argparse.Namespace, tmp: Path) -> None:
    from voicegw_cli import clock
    from voicegw_cli.fleet.ship import Shipper
    from voicegw_cli.store import Store

    shared = tmp / "shared"
    shared.mkdir()
    hosts = [f"host{h:02d}" for h in range(args.hosts)]
    cfgs = {h: _config(tmp, h, shared, args.segment_seconds) for h in hosts}
    central = _config(tmp, "central", shared, args.segment_seconds)
    shippers = {h: Shipper(cfgs[h]) for h in hosts}
    t0 = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    per_segment = max(1, round(args.rate * args.segment_seconds))
    step = args.fold_interval
    steps = int(args.minutes * 60 / step)
    # Each process closes a segment every segment_seconds, staggered across processes.
    phase = {
        (h, p): (i * 7.919) % args.segment_seconds
        for i, (h, p) in enumerate((h, p) for h in hosts for p in range(args.procs))
    }
    seq = dict.fromkeys(phase, 0)
    shipped = 0
    fold_rates: list[tuple[int, int, float]] = []
    lags: list[float] = []
    pending_starts: list[datetime] = []
    clock.set_now(t0, frozen=True)
    Store.open(central).close()
    for k in range(1, steps + 1):
        now = t0 + timedelta(seconds=k * step)
        lo = now - timedelta(seconds=step)
        for (h, p), ph in phase.items():  # segments closed during this step
            t = lo + timedelta(seconds=ph)
            while t < now:
                if t >= t0 + timedelta(seconds=args.segment_seconds):
                    start = t - timedelta(seconds=args.segment_seconds)
                    _segment(
                        cfgs[h].spool_dir,
                        h,
                        p,
                        seq[(h, p)],
                        start,
                        per_segment,
                        args.segment_seconds,
                    )
                    seq[(h, p)] += 1
                    pending_starts.append(start)
                t += timedelta(seconds=args.segment_seconds)
        # Shippers run every few seconds: on average half a fold interval before the fold.
        clock.set_now(now - timedelta(seconds=step / 2), frozen=True)
        for h in hosts:
            shipped += shippers[h].ship_once().shipped
        clock.set_now(now, frozen=True)
        started = time.perf_counter()
        with Store.open(central) as store:
            r = store.fold_result
        took = time.perf_counter() - started
        if r.segments_folded:
            fold_rates.append((r.segments_folded, r.items_added, took))
            # This fold made visible the items of the segments closed during this step.
            for start in pending_starts:
                for i in range(per_segment):
                    ts = start + timedelta(seconds=i * args.segment_seconds / per_segment)
                    lags.append((now - ts).total_seconds())
            pending_starts = []
    # Segments start closing one segment age in: count the steady state only.
    hours = (steps * step - args.segment_seconds) / 3600
    segs = sum(s for s, _, _ in fold_rates)
    items = sum(i for _, i, _ in fold_rates)
    fold_time = sum(t for _, _, t in fold_rates)
    print(
        f"fleet: {args.hosts} hosts x {args.procs} processes, {args.rate} items/s each, "
        f"segment age {args.segment_seconds:g} s, fold every {step:g} s, "
        f"{args.minutes:g} simulated minutes"
    )
    formula = args.hosts * args.procs * 3600 / args.segment_seconds
    print(
        f"objects per hour: {shipped / hours:,.0f} measured ({formula:,.0f} by formula); "
        f"{per_segment} items, ~{per_segment * len(RECORD):,} bytes each"
    )
    per_fold = [s / t for s, _, t in fold_rates]
    per_fold_items = [i / t for _, i, t in fold_rates]
    print(
        f"fold throughput: {segs / fold_time:,.0f} segments/s, {items / fold_time:,.0f} "
        f"items/s overall (median per fold {statistics.median(per_fold):,.0f} segments/s, "
        f"{statistics.median(per_fold_items):,.0f} items/s); "
        f"{segs:,} segments, {items:,} items in {fold_time:.1f} s of folding"
    )
    durs = sorted(t for _, _, t in fold_rates)
    print(
        f"fold duration per {step:g} s round: median {statistics.median(durs):.3f} s, "
        f"max {durs[-1]:.3f} s ({segs / len(durs):,.0f} segments a round)"
    )
    if lags:
        lags.sort()
        print(
            f"central view lag (simulated): median {statistics.median(lags):.1f} s, "
            f"p99 {lags[int(len(lags) * 0.99) - 1]:.1f} s, max {lags[-1]:.1f} s "
            f"(+ fold duration); bound: segment age + ship interval + fold interval "
            f"= {args.segment_seconds + 5 + step:g} s"
        )


def run_listing(args: argparse.Namespace, tmp: Path) -> None:
    """30 simulated days: per hour, 20 hosts ship one segment each into that hour's
    window and the fold runs; report the noon fold of chosen days."""
    from voicegw_cli import clock
    from voicegw_cli.fleet.ship import Shipper
    from voicegw_cli.fleet.target import Target
    from voicegw_cli.store import Store

    shared = tmp / "listing-shared"
    shared.mkdir()
    n_hosts = 20
    (tmp / "l").mkdir(exist_ok=True)
    cfgs = {f"h{h:02d}": _config(tmp / "l", f"h{h:02d}", shared, 30) for h in range(n_hosts)}
    central = _config(tmp / "l", "central", shared, 30)
    target = Target(f"file://{shared}")
    t0 = datetime(2026, 10, 1, 0, 3, tzinfo=UTC)
    print(
        f"listing over {args.days} simulated days ({n_hosts} hosts, one segment each per "
        "hour, a fold every hour; retention 7 days, then compaction):"
    )
    print(
        f"  {'day':>4} {'list requests':>14} {'objects listed':>15} "
        f"{'objects in bucket':>18} {'ever shipped':>13} {'fold s':>7}"
    )
    seq = 0
    for day in range(args.days):
        for hour in range(24):
            now = t0 + timedelta(days=day, hours=hour)
            clock.set_now(now, frozen=True)
            for h, cfg in cfgs.items():
                _segment(cfg.spool_dir, h, 0, seq, now, 5)
                Shipper(cfg).ship_once()
            seq += 1
            started = time.perf_counter()
            with Store.open(central) as store:
                r = store.fold_result
            took = time.perf_counter() - started
            if hour == 12 and (day in (0, 1, 6, 9, 14, 19, 24) or day == args.days - 1):
                in_bucket = len(target.list("segments"))
                print(
                    f"  {day + 1:>4} {r.list_requests:>14} {r.objects_listed:>15} "
                    f"{in_bucket:>18,} {seq * n_hosts:>13,} {took:>7.3f}"
                )
    print(
        "  (list requests: 1 for the day names + 1 per open day + 1 per open window; a window"
        " is listed once more by the fold after it closes, then sealed; 'ever shipped' is"
        " what a fold listing the whole prefix would read without retention)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--procs", type=int, default=20)
    ap.add_argument("--rate", type=float, default=0.5, help="items/s per process")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--segment-seconds", type=float, default=30)
    ap.add_argument("--fold-interval", type=float, default=10)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="voicegw-bench-fleet-") as d:
        if args.minutes:
            run_fleet(args, Path(d))
        if args.days:
            run_listing(args, Path(d))


if __name__ == "__main__":
    main()
