"""The diff on small hand-built months: exports without a model split, credits, period
lines in a by-day report, and models on one side only."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.conftest import item
from tests.test_reconcile_scenarios import load_items
from voicegw_cli.reconcile import compare
from voicegw_cli.reconcile.diff import Settings
from voicegw_cli.reconcile.read import read_exports
from voicegw_cli.store import Store

PROVIDERS = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
NOV = Settings(date(2025, 11, 1), date(2025, 11, 30))


def store(config: Any, tmp_path: Path, items: list) -> None:
    f = tmp_path / "ours.ndjson"
    f.write_text("\n".join(json.dumps(i.to_record()) for i in items) + "\n")
    load_items(config, f)


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2025, 11, day, hour, tzinfo=UTC)


def run(config: Any, provider: str, *files: str, settings: Settings = NOV, **kw):
    export = read_exports([PROVIDERS / f for f in files], provider, **kw)
    with Store.open(config) as s:
        return compare(s.conn, export, settings)


def stt(day: int, seconds: float, model: str = "nova-3", provider: str = "deepgram", **kw):
    return item(
        timestamp=at(day),
        modality="stt",
        provider=provider,
        model=model,
        input_tokens=0,
        output_tokens=0,
        audio_seconds=seconds,
        **kw,
    )


def tts(day: int, chars: int, model: str, provider: str, **kw):
    return item(
        timestamp=at(day),
        modality="tts",
        provider=provider,
        model=model,
        input_tokens=0,
        output_tokens=0,
        characters=chars,
        **kw,
    )


def test_an_export_without_models_is_compared_with_all_our_models(config, tmp_path) -> None:
    # Deepgram's month: 41.2 h of listen and 1.84M characters of speak, no model split.
    store(
        config,
        tmp_path,
        [
            stt(3, 100_000.0),
            stt(9, 48_320.0, model="nova-2"),
            tts(4, 1_840_000, "aura-2-thalia-en", "deepgram"),
        ],
    )
    res = run(config, "deepgram", "deepgram_usage_breakdown_month.json")
    rows = {r["model"]: r for r in res.rows}
    assert set(rows) == {"(all STT models)", "(all TTS models)"}
    assert rows["(all STT models)"]["names"] == ["nova-2", "nova-3"]
    assert rows["(all STT models)"]["ours_units"] == {"audio_seconds": 148_320.0}
    assert res.flagged == []


def test_period_lines_stay_whole_in_a_by_day_report(config, tmp_path) -> None:
    store(config, tmp_path, [stt(3, 100_000.0), stt(9, 48_320.0)])
    by_day = Settings(NOV.start, NOV.end, by="day")
    res = run(config, "deepgram", "deepgram_usage_breakdown_month.json", settings=by_day)
    rows = {r["model"]: r for r in res.rows}
    stt_row = rows["(all STT models)"]
    assert stt_row["day"] is None and not stt_row["flagged"]
    # The speak line of the export has no items of ours at all.
    assert rows["(all TTS models)"]["cause"] == "coverage"
    assert any("no daily split" in n for n in res.notes)


def test_elevenlabs_credits_against_our_characters(config, tmp_path) -> None:
    # Flash costs half a credit per character, Multilingual v2 one.
    store(
        config,
        tmp_path,
        [
            tts(1, 24_080, "eleven_flash_v2_5", "elevenlabs"),
            tts(2, 19_960, "eleven_flash_v2_5", "elevenlabs"),
            tts(1, 310, "eleven_multilingual_v2", "elevenlabs"),
            tts(3, 125, "eleven_multilingual_v2", "elevenlabs"),
        ],
    )
    res = run(
        config,
        "elevenlabs",
        "elevenlabs_character_stats.json",
        settings=Settings(NOV.start, NOV.end, by="day"),
    )
    assert res.flagged == []
    flash = next(
        r for r in res.rows if r["model"] == "eleven_flash_v2_5" and r["day"] == "2025-11-01"
    )
    assert flash["ours_units"] == flash["provider_units"] == {"credits": 12_040.0}
    # Read as characters, the same export is a units gap on flash.
    chars = run(config, "elevenlabs", "elevenlabs_character_stats.json", metric="characters")
    assert {r["model"]: r["cause"] for r in chars.flagged} == {"eleven_flash_v2_5": "units"}


def test_cartesia_credits_cover_every_model(config, tmp_path) -> None:
    store(
        config,
        tmp_path,
        [
            tts(1, 16_000, "sonic-2", "cartesia"),
            stt(1, 2_250.0, model="ink-whisper", provider="cartesia"),  # 1 credit/s
            tts(3, 9_400, "sonic-2", "cartesia"),
        ],
    )
    res = run(
        config, "cartesia", "cartesia_credits.json", settings=Settings(NOV.start, NOV.end, by="day")
    )
    assert res.flagged == []
    assert {r["model"] for r in res.rows} == {"(all models)"}
    assert sum(r["ours_units"]["credits"] for r in res.rows) == 27_650


def test_models_on_one_side_only_are_rows_and_count(config, tmp_path) -> None:
    # Anthropic's usage report bills claude-sonnet-4 (never logged); we logged haiku-3.
    store(
        config,
        tmp_path,
        [
            item(
                timestamp=at(1),
                provider="anthropic",
                model="claude-haiku-4-5",
                input_tokens=410_000 + 1_200_000 + 64_000,
                cached_input_tokens=1_200_000,
                cache_write_tokens=64_000,
                output_tokens=52_000,
            ),
            item(timestamp=at(1), provider="anthropic", model="claude-3-haiku-20240307"),
        ],
    )
    res = run(config, "anthropic", "anthropic_usage_report.json")
    rows = {r["model"]: r for r in res.rows}
    assert not rows["claude-haiku-4-5"]["flagged"]
    assert rows["claude-haiku-4-5"]["names"] == ["claude-haiku-4-5", "claude-haiku-4-5-20251001"]
    # Its usage is batch (service_tier: batch): a row of its own.
    assert rows["claude-sonnet-4-20250514 (batch)"]["cause"] == "coverage"
    assert rows["claude-3-haiku-20240307"]["cause"] == "coverage"
    assert res.totals["flagged"] == 2 and res.totals["rows"] == 3


def test_cost_only_export_flags_a_price_difference(config, tmp_path) -> None:
    # Deepgram bills $14.58 for nova-3 in the month; we priced the same audio at $14.00.
    store(config, tmp_path, [stt(5, 1000.0, cost_usd=Decimal("14.00"))])
    res = run(config, "deepgram", "deepgram_billing_breakdown.json")
    row = next(r for r in res.rows if r["model"] == "nova-3")
    assert row["cause"] == "rate"
    assert row["cost_diff_usd"] == Decimal("-0.58")
    assert "the export has no units to compare" in row["detail"]
