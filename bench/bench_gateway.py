"""Benchmark plugin building: what `voicegw.stt()/llm()/tts()/stack()` cost the job's
event loop, and what `prewarm` saves by importing plugins before any job runs.

Builds each provider's real LiveKit plugin object with dummy keys (no network) from a
voicegw.yaml with a runtime project whose key is stored encrypted (so the stored-key path,
snapshot read and Fernet decrypt included, is measured). Prints figures; asserts nothing.

    .venv/bin/python bench/bench_gateway.py [--rounds 200]

Figures (median and p99 per build, after `Gateway.warm()`):
* each provider/model once per round, key from the environment;
* the same from the store (set-key, via the snapshot agents read);
* `stack()` (three objects) and `llm_with_fallback()` skipping one provider;
* the one-off cold import of each plugin module (in a fresh interpreter).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = [
    ("llm", "openai/gpt-4o-mini"),
    ("stt", "openai/whisper-1"),
    ("tts", "openai/tts-1:alloy"),
    ("llm", "anthropic/claude-haiku-4-5"),
    ("llm", "groq/llama-3.1-8b-instant"),
    ("stt", "deepgram/nova-3"),
    ("tts", "deepgram/aura-2"),
    ("tts", "cartesia/sonic-3:voice"),
    ("tts", "elevenlabs/eleven_turbo_v2_5:voice"),
    ("stt", "assemblyai/universal-streaming"),
    ("llm", "livekit/openai/gpt-4.1-mini"),
]
ENV = {
    "OPENAI_API_KEY": "o",
    "ANTHROPIC_API_KEY": "a",
    "GROQ_API_KEY": "g",
    "DEEPGRAM_API_KEY": "d",
    "CARTESIA_API_KEY": "c",
    "ELEVEN_API_KEY": "e",
    "ASSEMBLYAI_API_KEY": "s",
    "LIVEKIT_API_KEY": "lk-key-0123456789",
    "LIVEKIT_API_SECRET": "lk-secret-0123456789abcdef0123456789",
}
YAML = """\
projects:
  support: {name: Support}
stacks:
  premium: {stt: deepgram/nova-3, llm: openai/gpt-4o-mini, tts: cartesia/sonic-3}
fallbacks:
  llm: [anthropic/claude-haiku-4-5, openai/gpt-4o-mini]
"""


def _us(values: list[float]) -> str:
    s = sorted(values)
    p99 = s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))]
    return f"median {statistics.median(s) * 1e6:8.1f} µs   p99 {p99 * 1e6:8.1f} µs"


def _time(fn, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    logging.getLogger("voicegw").setLevel(logging.CRITICAL)
    os.environ.update(ENV)
    tmp = Path(tempfile.mkdtemp(prefix="voicegw-bench-gw-"))
    (tmp / "voicegw.yaml").write_text(YAML)
    os.chdir(tmp)

    from voicegw_cli import projects as P
    from voicegw_cli.config import load_config
    from voicegw_cli.gateway import Gateway
    from voicegw_cli.store import Store

    cfg = load_config(tmp / "voicegw.yaml")
    with Store.open(cfg) as store:
        P.create_project(cfg, store.conn, "tenant", name="Tenant", default_stack="premium")
        for provider in ("openai", "deepgram", "cartesia"):
            P.set_provider_key(cfg, store.conn, "tenant", provider, f"tenant-{provider}-key")
    gw = Gateway(cfg)  # agent side: the snapshot, not DuckDB
    gw.warm()
    for modality, model in MODELS:  # first build of each imports what warm did not
        gw.build(modality, model, "support")

    print(f"builds per figure: {args.rounds} (2 shared cores: expect noise)")
    print("\nkey from the environment:")
    for modality, model in MODELS:
        times = _time(lambda m=modality, x=model: gw.build(m, x, "support"), args.rounds)
        print(f"  {model:38s} {_us(times)}")
    print("\nkey stored with set-key (snapshot + Fernet decrypt):")
    for modality, model in (("llm", "openai/gpt-4o-mini"), ("stt", "deepgram/nova-3")):
        times = _time(lambda m=modality, x=model: gw.build(m, x, "tenant"), args.rounds)
        print(f"  {model:38s} {_us(times)}")
    print("\nwhole pipelines:")
    times = _time(lambda: gw.stack(project="tenant"), args.rounds)
    print(f"  {'stack(project=tenant)':38s} {_us(times)}")
    os.environ.pop("ANTHROPIC_API_KEY")
    times = _time(lambda: gw.with_fallback("llm", project="support"), args.rounds)
    print(f"  {'llm_with_fallback (skips anthropic)':38s} {_us(times)}")

    print("\ncold import of each plugin module (what prewarm moves out of the job):")
    for module in sorted(
        {
            "livekit.plugins.openai",
            "livekit.plugins.anthropic",
            "livekit.plugins.deepgram",
            "livekit.plugins.cartesia",
            "livekit.plugins.elevenlabs",
            "livekit.plugins.assemblyai",
            "livekit.agents.inference",
        }
    ):
        code = (
            "import time, livekit.agents; t = time.perf_counter(); "
            f"import {module}; print(time.perf_counter() - t)"
        )
        runs = [
            float(
                subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, check=True
                ).stdout
            )
            for _ in range(3)
        ]
        print(f"  {module:38s} median {statistics.median(runs) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
