"""Realistic synthetic usage for the demo and the benchmarks.

Calls arrive through the day in the project's time zone with a weekday pattern; each call
has turns, and each turn burns the three meters: STT audio seconds, LLM tokens (the prompt
grows with the conversation and is mostly cached after the first turn), TTS characters.
Generated column-wise with numpy so a million items take about a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from voicegw_cli.items import COLUMNS


@dataclass(frozen=True, slots=True)
class Profile:
    project: str
    calls_per_day: int
    turns: tuple[int, int]
    stt: tuple[str, str]
    llm: tuple[str, str]
    tts: tuple[str, str]
    agent: str


DEMO_PROFILES = (
    Profile(
        "dental-receptionist",
        60,
        (4, 14),
        ("deepgram", "nova-3"),
        ("openai", "gpt-4o-mini"),
        ("cartesia", "sonic-3"),
        "receptionist",
    ),
    Profile(
        "restaurant-orders",
        35,
        (3, 10),
        ("deepgram", "nova-3"),
        ("anthropic", "claude-haiku-4-5"),
        ("elevenlabs", "eleven_flash_v2_5"),
        "orders",
    ),
    Profile(
        "internal-qa",
        12,
        (2, 8),
        ("livekit", "deepgram/nova-3"),
        ("livekit", "openai/gpt-4.1-mini"),
        ("livekit", "cartesia/sonic-3"),
        "qa-bot",
    ),
)


def generate(
    start: date,
    days: int,
    *,
    profiles: tuple[Profile, ...] = DEMO_PROFILES,
    scale: float = 1.0,
    seed: int = 7,
    target_items: int | None = None,
) -> Any:
    """A pyarrow Table of unpriced line items (cost_usd null), ordered by timestamp.

    `target_items` rescales call volume so the table has exactly that many rows (the
    overshoot is thinned evenly across the span).
    """
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    if target_items:
        mean_turns = sum((p.turns[0] + p.turns[1]) / 2 * p.calls_per_day for p in profiles)
        day_weight = sum(
            0.45 if (start + timedelta(days=d)).weekday() >= 5 else 1.0 for d in range(days)
        )
        scale = 1.2 * target_items / (3 * mean_turns * day_weight)  # overshoot, then trim
    parts = []
    base = datetime.combine(start, datetime.min.time(), UTC)
    for p in profiles:
        day_idx = np.arange(days)
        weekday = np.array([(start + timedelta(days=int(d))).weekday() for d in day_idx])
        lam = p.calls_per_day * scale * np.where(weekday >= 5, 0.45, 1.0)
        calls_per_day = rng.poisson(lam)
        n_calls = int(calls_per_day.sum())
        if n_calls == 0:
            continue
        call_day = np.repeat(day_idx, calls_per_day)
        # Office hours, peaking late morning: seconds into the day.
        call_sec = np.clip(rng.normal(11.5 * 3600, 3.2 * 3600, n_calls), 0, 86399)
        call_start = call_day * 86400.0 + call_sec
        turns = rng.integers(p.turns[0], p.turns[1] + 1, n_calls)
        n_turns = int(turns.sum())
        call_of_turn = np.repeat(np.arange(n_calls), turns)
        turn_no = np.arange(n_turns) - np.repeat(np.cumsum(turns) - turns, turns)
        t = call_start[call_of_turn] + turn_no * rng.uniform(6, 14, n_turns)
        audio = np.round(rng.gamma(2.2, 2.0, n_turns) + 0.6, 2)
        prompt = (650 + turn_no * rng.integers(60, 140, n_turns)).astype(np.int64)
        cached = np.where(
            turn_no > 0, (prompt * rng.uniform(0.55, 0.9, n_turns)) // 128 * 128, 0
        ).astype(np.int64)
        output = rng.integers(18, 160, n_turns).astype(np.int64)
        chars = (output * rng.uniform(3.6, 4.6, n_turns)).astype(np.int64)
        session = np.char.add(f"{p.project[:4]}-", call_of_turn.astype(str))
        for modality, (prov, model), offset in (
            ("stt", p.stt, 0.0),
            ("llm", p.llm, 0.4),
            ("tts", p.tts, 0.9),
        ):
            n = n_turns
            zeros = np.zeros(n, np.int64)
            cols = {
                "timestamp": t + offset,
                "project": np.full(n, p.project),
                "session_id": session,
                "agent": np.full(n, p.agent),
                "modality": np.full(n, modality),
                "provider": np.full(n, prov),
                "model": np.full(n, model),
                "input_tokens": prompt if modality == "llm" else zeros,
                "cached_input_tokens": cached if modality == "llm" else zeros,
                "output_tokens": output if modality == "llm" else zeros,
                "audio_seconds": audio if modality == "stt" else np.zeros(n),
                "characters": chars if modality == "tts" else zeros,
            }
            parts.append(cols)
    merged = {k: np.concatenate([c[k] for c in parts]) for k in parts[0]}
    order = np.argsort(merged["timestamp"], kind="stable")
    if target_items and target_items < len(order):
        # Thin evenly over the whole span (trimming the latest rows would leave the last
        # weeks empty, and a benchmark of "this month" would measure nothing).
        keep = np.sort(rng.choice(len(order), size=target_items, replace=False))
        order = order[keep]
    n = len(order)
    ts = np.datetime64(base.replace(tzinfo=None), "us") + (merged["timestamp"][order] * 1e6).astype(
        "timedelta64[us]"
    )
    ids = np.char.add(f"syn{seed:x}-", np.arange(n).astype(str))
    arrays: dict[str, Any] = {}
    for name, typ in COLUMNS:
        if name == "id":
            arrays[name] = pa.array(ids)
        elif name == "timestamp":
            arrays[name] = pa.array(ts, pa.timestamp("us"))
        elif name in merged:
            arrays[name] = pa.array(merged[name][order])
        elif typ == "BIGINT":
            arrays[name] = pa.array(np.zeros(n, np.int64))
        elif name == "cost_usd":
            arrays[name] = pa.nulls(n, pa.decimal128(18, 10))
        else:
            arrays[name] = pa.nulls(n, pa.string())
    return pa.table(arrays)


def demo_config_text(store: str = ".voicegw/usage.duckdb") -> str:
    return f"""# voicegw demo config: three projects, written by `voicegw demo`.
timezone: UTC
default_project: dental-receptionist
storage:
  store: {store}
  spool: .voicegw/spool
projects:
  dental-receptionist:
    name: Dental Receptionist
    description: Books and moves appointments for a dental group
    daily_budget: 6.00
    monthly_budget: 150.00
    budget_action: throttle
    fallback_stack: economy
    tags: [prod, healthcare]
    default_stack: premium
  restaurant-orders:
    name: Restaurant Orders
    description: Takes phone orders for three restaurants
    daily_budget: 3.00
    budget_action: block
    tags: [staging, food]
  internal-qa:
    name: Internal QA
    description: Regression calls through LiveKit Inference
    daily_budget: 0.50
    budget_action: warn
    tags: [dev]
stacks:
  premium:
    stt: deepgram/nova-3
    llm: openai/gpt-4o-mini
    tts: cartesia/sonic-3
  economy:
    stt: deepgram/nova-2
    llm: openai/gpt-4.1-nano
    tts: openai/tts-1
"""


def as_the_guard_allows(table: Any, config: Any, pricer: Any) -> Any:
    """Priced synthetic usage as `BudgetGuard.admit` would have let it happen.

    Calls are admitted in order of their start against the spend of their project's local
    day (and month) so far: once over budget, a `block` project's later calls that day are
    refused (they never happen) and a `throttle` project's calls run on its
    `fallback_stack` (priced again on those models); `warn` only warns. So the demo shows
    budgets working, not projects spending past them every day."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from voicegw_cli.budget import budget_for

    fallback = table
    swaps = {}
    for pid, proj in config.projects.items():
        stack = config.stacks.get(proj.fallback_stack or "")
        if proj.budget_action == "throttle" and stack:
            swaps[pid] = {m: tuple(stack[m].split("/", 1)) for m in ("stt", "llm", "tts")}
    if swaps:
        cols = table.to_pydict()
        for i, (pid, mod) in enumerate(zip(cols["project"], cols["modality"], strict=True)):
            if pid in swaps and mod in swaps[pid]:
                cols["provider"][i], cols["model"][i] = swaps[pid][mod]
        cols["cost_usd"] = [None] * table.num_rows
        cols["pricing_source"] = [None] * table.num_rows
        fallback = pricer.price_table(pa.table(cols, schema=table.schema))
    sessions = table.column("session_id").to_pylist()
    projects = table.column("project").to_pylist()
    stamps = table.column("timestamp").to_pylist()
    costs = {"primary": table.column("cost_usd").to_pylist()}
    costs["fallback"] = fallback.column("cost_usd").to_pylist()
    calls: dict[str, dict[str, Any]] = {}
    for i, sid in enumerate(sessions):
        c = calls.setdefault(sid, {"start": stamps[i], "project": projects[i], "rows": []})
        c["rows"].append(i)
    spent: dict[tuple[str, Any], Decimal] = {}
    use_fallback = [False] * table.num_rows
    keep = [True] * table.num_rows
    for call in sorted(calls.values(), key=lambda c: c["start"]):
        pid = call["project"]
        proj = config.projects.get(pid)
        local = call["start"].replace(tzinfo=UTC).astimezone(config.tz).date()
        keys = {"day": (pid, local), "month": (pid, local.replace(day=1))}
        over = proj is not None and any(
            (b := budget_for(proj, period)) is not None and spent.get(key, Decimal(0)) >= b
            for period, key in keys.items()
        )
        kind = "primary"
        if over and proj.budget_action == "block":
            for i in call["rows"]:
                keep[i] = False
            continue
        if over and pid in swaps:
            kind = "fallback"
            for i in call["rows"]:
                use_fallback[i] = True
        cost = sum((costs[kind][i] or Decimal(0) for i in call["rows"]), Decimal(0))
        for key in keys.values():
            spent[key] = spent.get(key, Decimal(0)) + cost
    mask = pa.array(use_fallback)
    merged = pa.table(
        {
            name: pc.if_else(mask, fallback.column(name), table.column(name))
            for name in table.column_names
        }
    )
    return merged.filter(pa.array(keep))


def to_records(table: Any) -> list[dict[str, Any]]:
    """Arrow rows as spool records (what the runtime hook writes)."""
    out = []
    for row in table.to_pylist():
        row["timestamp"] = row["timestamp"].replace(tzinfo=UTC).isoformat()
        if row["cost_usd"] is not None:
            row["cost_usd"] = str(row["cost_usd"])
        out.append(row)
    return out
