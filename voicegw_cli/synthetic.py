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
from pathlib import Path
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
    session_prefix: str = "",
) -> Any:
    """A pyarrow Table of unpriced line items (cost_usd null), ordered by timestamp.

    `target_items` rescales call volume so the table has exactly that many rows (the
    overshoot is thinned evenly across the span). `session_prefix` keeps session ids of several
    tables apart.
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
        session = np.char.add(f"{session_prefix}{p.project[:4]}-", call_of_turn.astype(str))
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


#: Per-project call attributes (what `track(attributes=...)` would carry) and callers.
_CUSTOMERS = {
    "dental-receptionist": ("smile-dental", "bright-teeth", "city-ortho", "lakeside-clinic"),
    "restaurant-orders": ("tonys-pizza", "golden-wok", "taco-loco"),
    "internal-qa": ("regression",),
}
_PLANS = ("pro", "basic")
#: Median seconds (log-normal) of what LiveKit measures per turn, by model.
_TTFT = {"gpt-4o-mini": 0.42, "claude-haiku-4-5": 0.55, "openai/gpt-4.1-mini": 0.48}
_TTFB = {"sonic-3": 0.16, "eleven_flash_v2_5": 0.21, "cartesia/sonic-3": 0.19}


def calls_and_latency(items: Any, *, seed: int = 7) -> tuple[Any, Any]:
    """Call records and per-turn latency samples for the sessions in `items` (a table from
    `generate`), shaped as the hook writes them: one call per session, five metrics per
    turn (one turn per LLM item). Returns two Arrow tables with the columns of
    `voicegw_cli.records` (times as timestamps)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from voicegw_cli.records import CALL_COLUMNS, LATENCY_COLUMNS

    rng = np.random.default_rng(seed + 1)
    # ---- calls: one per session
    grouped = items.group_by("session_id").aggregate(
        [
            ("timestamp", "min"),
            ("timestamp", "max"),
            ("project", "min"),
            ("agent", "min"),
            ("modality", "count"),
        ]
    )
    sessions = grouped.column("session_id").to_numpy(zero_copy_only=False)
    n = len(sessions)
    projects = grouped.column("project_min").to_numpy(zero_copy_only=False)
    first = grouped.column("timestamp_min").to_numpy().astype("datetime64[us]")
    last = grouped.column("timestamp_max").to_numpy().astype("datetime64[us]")
    started = first - (rng.uniform(1, 3, n) * 1e6).astype("timedelta64[us]")
    ended = last + (rng.uniform(2, 6, n) * 1e6).astype("timedelta64[us]")
    duration = (ended - started).astype(np.int64) / 1e6
    llm = items.filter(pc.equal(items.column("modality"), "llm"))
    turns_by_session = dict(
        zip(
            *(
                c.to_pylist()
                for c in llm.group_by("session_id").aggregate([("session_id", "count")]).columns
            ),
            strict=True,
        )
    )
    customers, plans, kinds, identities, numbers = [], [], [], [], []
    pick = rng.random(n)
    for i, proj in enumerate(projects):
        pool = _CUSTOMERS.get(proj, ("default",))
        customers.append(pool[int(pick[i] * len(pool))])
        plans.append(_PLANS[int(pick[i] * 7) % 2])
        if proj == "internal-qa":
            kinds.append("standard")
            identities.append("qa-runner")
            numbers.append(None)
        else:
            tail = f"{int(pick[i] * 10_000):04d}"
            kinds.append("sip")
            identities.append(f"sip_+1******{tail}")  # as the hook writes it: masked
            numbers.append(f"+1******{tail}")
    attrs = [f'{{"customer":"{c}","plan":"{p}"}}' for c, p in zip(customers, plans, strict=True)]
    reasons = np.where(rng.random(n) < 0.8, "participant_disconnected", "user_initiated")
    agents = grouped.column("agent_min").to_pylist()
    calls = {
        "session_id": pa.array(sessions, pa.string()),
        "project": pa.array(projects, pa.string()),
        "started_at": pa.array(started, pa.timestamp("us")),
        "ended_at": pa.array(ended, pa.timestamp("us")),
        "duration_seconds": pa.array(np.round(duration, 3)),
        "agents": pa.array([f'["{a}"]' for a in agents], pa.string()),
        "room": pa.array([f"call-{s}" for s in sessions], pa.string()),
        "job_id": pa.array([f"AJ_{s}" for s in sessions], pa.string()),
        "participant_identity": pa.array(identities, pa.string()),
        "participant_kind": pa.array(kinds, pa.string()),
        "caller_number": pa.array(numbers, pa.string()),
        "end_reason": pa.array(reasons, pa.string()),
        "error": pa.nulls(n, pa.string()),
        "turns": pa.array([turns_by_session.get(s, 0) for s in sessions], pa.int64()),
        "attributes": pa.array(attrs, pa.string()),
        "lk_usage": pa.nulls(n, pa.string()),
    }
    calls_table = pa.table({name: calls[name] for name, _ in CALL_COLUMNS})

    # ---- latency: five samples per LLM item (one turn each)
    order = pc.sort_indices(llm, [("session_id", "ascending"), ("timestamp", "ascending")])
    llm = llm.take(order)
    sid = llm.column("session_id").to_numpy(zero_copy_only=False)
    m = len(sid)
    new_session = np.ones(m, bool)
    new_session[1:] = sid[1:] != sid[:-1]
    starts = np.maximum.accumulate(np.where(new_session, np.arange(m), 0))
    turn = np.arange(m) - starts + 1
    ts = llm.column("timestamp").to_numpy().astype("datetime64[us]")
    proj = llm.column("project").to_numpy(zero_copy_only=False)
    agent = llm.column("agent").to_numpy(zero_copy_only=False)
    llm_provider = llm.column("provider").to_numpy(zero_copy_only=False)
    llm_model = llm.column("model").to_numpy(zero_copy_only=False)
    profiles = {p.project: p for p in DEMO_PROFILES}
    stt_p = np.array([profiles[p].stt[0] if p in profiles else "deepgram" for p in proj])
    stt_m = np.array([profiles[p].stt[1] if p in profiles else "nova-3" for p in proj])
    tts_p = np.array([profiles[p].tts[0] if p in profiles else "cartesia" for p in proj])
    tts_m = np.array([profiles[p].tts[1] if p in profiles else "sonic-3" for p in proj])

    def lognormal(medians: Any, sigma: float) -> Any:
        return np.exp(np.log(medians) + rng.normal(0, sigma, m))

    ttft = lognormal(np.array([_TTFT.get(x, 0.45) for x in llm_model]), 0.4)
    ttfb = lognormal(np.array([_TTFB.get(x, 0.18) for x in tts_m]), 0.35)
    stt = lognormal(np.full(m, 0.12), 0.5)
    eou = lognormal(np.full(m, 0.55), 0.35)
    e2e = eou + ttft + ttfb + lognormal(np.full(m, 0.05), 0.3)
    per_metric = (
        ("transcription_delay", stt, stt_p, stt_m, -1.2),
        ("end_of_turn_delay", eou, np.full(m, "livekit"), np.full(m, "vad"), -1.0),
        ("llm_ttft", ttft, llm_provider, llm_model, 0.0),
        ("tts_ttfb", ttfb, tts_p, tts_m, 0.5),
        ("e2e_latency", e2e, llm_provider, llm_model, 0.9),
    )
    parts = []
    for metric, values, provider, model, offset in per_metric:
        at = ts + np.timedelta64(int(offset * 1e6), "us")
        parts.append(
            {
                "id": np.char.add(
                    np.char.add(sid.astype(str), ":t"), np.char.add(turn.astype(str), f":{metric}")
                ),
                "timestamp": at,
                "session_id": sid,
                "project": proj,
                "agent": agent,
                "turn": turn,
                "item_id": np.char.add("item_t", turn.astype(str)),
                "metric": np.full(m, metric),
                "seconds": np.round(values, 6),
                "provider": provider,
                "model": model,
            }
        )
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    by_time = np.argsort(merged["timestamp"], kind="stable")
    latency = {}
    for name, typ in LATENCY_COLUMNS:
        col = merged[name][by_time]
        if typ == "TIMESTAMP":
            latency[name] = pa.array(col, pa.timestamp("us"))
        elif typ == "BIGINT":
            latency[name] = pa.array(col.astype(np.int64))
        elif typ == "DOUBLE":
            latency[name] = pa.array(col.astype(float))
        else:
            latency[name] = pa.array(col.astype(str), pa.string())
    return calls_table, pa.table(latency)


def record_rows(table: Any, kind: str) -> list[dict[str, Any]]:
    """Arrow rows of `calls_and_latency` as spool records of `kind`."""
    from voicegw_cli.records import record

    out = []
    for row in table.to_pylist():
        for k, v in row.items():
            if isinstance(v, datetime):
                row[k] = v.replace(tzinfo=UTC).isoformat()
        out.append(record(kind, **row))
    return out


#: (modality, provider, model, input_units SQL, output_units SQL, cost SQL) per row kind.
_KINDS = (
    (
        "stt",
        "deepgram",
        "deepgram/nova-3",
        "round((hash(i) % 1000003 / 1000003.0) * 3, 4)",
        "0.0",
        "round((hash(i) % 1000003 / 1000003.0) * 0.02, 6)",
    ),
    (
        "llm",
        "openai",
        "openai/gpt-4o-mini",
        "floor((hash(i) % 1000003 / 1000003.0) * 4000)",
        "floor((hash(i) % 1000003 / 1000003.0) * 300)",
        "round((hash(i) % 1000003 / 1000003.0) * 0.001, 8)",
    ),
    (
        "tts",
        "cartesia",
        "cartesia/sonic-3",
        "floor((hash(i) % 1000003 / 1000003.0) * 600)",
        "0.0",
        "round((hash(i) % 1000003 / 1000003.0) * 0.02, 6)",
    ),
    (
        "llm",
        "anthropic",
        "anthropic/claude-haiku-4-5",
        "floor((hash(i) % 1000003 / 1000003.0) * 4000)",
        "floor((hash(i) % 1000003 / 1000003.0) * 300)",
        "round((hash(i) % 1000003 / 1000003.0) * 0.002, 8)",
    ),
)


def write_voicegateway_csv(path: Path, rows: int) -> None:
    """A voicegateway export-costs CSV of `rows` rows spread over a year from 2025-11-01
    (for ingest tests and benchmarks; DuckDB writes 10M rows in seconds)."""
    import duckdb

    case = lambda i: " ".join(  # noqa: E731
        f"WHEN {k} THEN {kind[i]}" if i > 2 else f"WHEN {k} THEN '{kind[i]}'"
        for k, kind in enumerate(_KINDS)
    )
    offset = f"(i::HUGEINT * 31536000000000 // {rows})::BIGINT"  # a year, evenly
    sql = f"""COPY (
        SELECT strftime(TIMESTAMP '2025-11-01' + to_microseconds({offset}),
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
    ) TO '{str(path).replace(chr(39), chr(39) * 2)}' (HEADER, DELIMITER ',')"""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = true")
    con.execute(sql)
    con.close()
