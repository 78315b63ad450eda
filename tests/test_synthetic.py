"""The demo's usage is what the budget guard would have allowed."""

from __future__ import annotations

from datetime import UTC, date
from decimal import Decimal

from voicegw_cli.config import load_config
from voicegw_cli.pricing import Pricer
from voicegw_cli.synthetic import as_the_guard_allows, demo_config_text, generate


def _per_day(table, tz):
    out: dict[tuple[str, date], list[dict]] = {}
    for row in table.to_pylist():
        day = row["timestamp"].replace(tzinfo=UTC).astimezone(tz).date()
        out.setdefault((row["project"], day), []).append(row)
    return out


def test_block_stops_and_throttle_falls_back(tmp_path) -> None:
    (tmp_path / "voicegw.yaml").write_text(demo_config_text())
    cfg = load_config(tmp_path / "voicegw.yaml")
    pricer = Pricer(cfg.pricing_overrides)
    raw = pricer.price_table(generate(date(2026, 11, 2), 7))
    allowed = as_the_guard_allows(raw, cfg, pricer)
    before, after = _per_day(raw, cfg.tz), _per_day(allowed, cfg.tz)
    blocked = cfg.projects["restaurant-orders"]
    throttled = cfg.projects["dental-receptionist"]
    economy = {f"{p}/{m}" for p, m in (v.split("/", 1) for v in cfg.stacks["economy"].values())}
    saw_block = saw_fallback = False
    for (pid, day), rows in before.items():
        spent = sum((r["cost_usd"] or Decimal(0) for r in rows), Decimal(0))
        kept = after.get((pid, day), [])
        if pid == blocked.id and spent > blocked.daily_budget:
            kept_spend = sum((r["cost_usd"] for r in kept), Decimal(0))
            # the call that crossed the budget finishes; nothing starts after it
            last_call = max(kept, key=lambda r: r["timestamp"])["session_id"]
            before_last = sum(
                (r["cost_usd"] for r in kept if r["session_id"] != last_call), Decimal(0)
            )
            assert before_last < blocked.daily_budget <= kept_spend + Decimal("0.5")
            saw_block = saw_block or len(kept) < len(rows)  # (the last call may be the one)
        if pid == throttled.id and spent > throttled.daily_budget:
            models = {f"{r['provider']}/{r['model']}" for r in kept}
            if models & economy:
                saw_fallback = True
            assert len(kept) == len(rows)  # throttled calls still happen
        if pid == "internal-qa":  # warn only
            assert len(kept) == len(rows)
    assert saw_block and saw_fallback
