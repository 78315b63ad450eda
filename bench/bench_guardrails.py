"""Benchmark voice guardrails: detection time per utterance, stream overhead per chunk, and
precision/recall on the labelled transcripts. Prints figures; asserts nothing. Usage:

    .venv/bin/python bench/bench_guardrails.py [--repeat 20] [--set utterances.jsonl]

Figures:
* `Policy.check` per utterance (input side, every category on, the policy of
  fixtures/guardrails/voicegw.yaml): median, p95, p99 and max over every utterance of
  the set, each timed `--repeat` times after one warm-up pass; also the median for
  utterances with and without a number in them;
* `StreamGuard.push` per chunk for replies streamed four characters at a time (output
  side), and the most characters it ever held back;
* precision / recall per category and entity on both labelled sets.

Target: detection median <= 1 ms per utterance (it runs on the agent's event loop).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "fixtures" / "guardrails"


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--set", default="utterances.jsonl")
    args = ap.parse_args()

    from voicegw_cli.config import load_config
    from voicegw_cli.guardrails.evaluate import load, score
    from voicegw_cli.guardrails.policy import policy_for
    from voicegw_cli.guardrails.stream import StreamGuard
    from voicegw_cli.guardrails.text import number_runs, tokenize

    cfg = load_config(FIXTURES / "voicegw.yaml")
    t0 = time.perf_counter()
    policy = policy_for(cfg.projects["eval"].guardrails)
    build_ms = (time.perf_counter() - t0) * 1e3
    items = load(FIXTURES / args.set)
    cold: list[float] = []
    for it in items:  # warm-up: regex caches, numbering plans of countries not yet seen
        t = time.perf_counter()
        policy.check(it.text)
        cold.append((time.perf_counter() - t) * 1e3)

    per: list[float] = []
    with_numbers: list[float] = []
    without: list[float] = []
    for it in items:
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            policy.check(it.text)
            times.append(time.perf_counter() - t)
        med = statistics.median(times) * 1e6
        per.append(med)
        (with_numbers if number_runs(tokenize(it.text)) else without).append(med)
    print(f"policy build (imports, numbering plans, IBAN registry): {build_ms:.0f} ms, once")
    print(
        f"first pass (cold caches): max {max(cold):.1f} ms per utterance; "
        f"{sum(c > 1 for c in cold)} of {len(cold)} over 1 ms"
    )
    print(f"detection per utterance, {len(items)} utterances x {args.repeat}, µs:")
    print(
        f"  median {statistics.median(per):.0f}  p95 {_pct(per, 0.95):.0f}"
        f"  p99 {_pct(per, 0.99):.0f}  max {max(per):.0f}"
        f"  (mean length {statistics.mean(len(i.text) for i in items):.0f} chars)"
    )
    print(
        f"  with a number: median {statistics.median(with_numbers):.0f} ({len(with_numbers)})"
        f" · without: median {statistics.median(without):.0f} ({len(without)})"
    )

    out_cfg = load_config(FIXTURES / "voicegw.yaml")
    out_policy = policy_for(out_cfg.projects["eval"].guardrails)
    pushes: list[float] = []
    held = 0
    for timed in (False, True):  # the first pass meets each country's numbering plan cold
        for it in items:
            text = f"Sure. {it.text}. Anything else?"
            g = StreamGuard(out_policy, "output")
            for i in range(0, len(text), 4):
                t = time.perf_counter()
                g.push(text[i : i + 4])
                if timed:
                    pushes.append(time.perf_counter() - t)
            g.flush()
            held = max(held, g.held_max)
    us = [p * 1e6 for p in pushes]
    print(
        f"stream guard per 4-char chunk, {len(us)} chunks, µs: median {statistics.median(us):.0f}"
        f"  p95 {_pct(us, 0.95):.0f}  max {max(us):.0f}; most held back {held} chars"
    )

    for name in ("utterances.jsonl", "heldout.jsonl"):
        scores = score(policy, load(FIXTURES / name))
        print(f"\nprecision / recall on {name}:")
        print(f"  {'':18}{'n':>5}{'precision':>11}{'recall':>8}{'hard neg':>10}{'clean':>7}")
        for s in scores.values():
            print(
                f"  {s.name:18}{s.positives:>5}{s.precision:>11.3f}{s.recall:>8.3f}"
                f"{s.hard_negatives:>10}{s.negatives_clean:>7.3f}"
            )


if __name__ == "__main__":
    main()
