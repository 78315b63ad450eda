"""Pricing: genai-prices tokens, the dated catalog, overrides, periods, bulk == per item."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

from voicegw_cli.errors import ConfigError
from voicegw_cli.items import COLUMNS, LineItem
from voicegw_cli.pricing import (
    MAX_AGE_DAYS,
    Pricer,
    Rate,
    canonical_provider,
    catalog_entries,
    catalog_health,
    format_rate,
    parse_overrides,
    pricing_versions,
    stale_entries,
)
from voicegw_cli.pricing.catalog import load_catalog, parse_catalog
from voicegw_cli.pricing.llm import genai_source

TS = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
Q = Decimal("1e-10")
GENAI = genai_source()


def make(**kw) -> LineItem:
    base = dict(timestamp=TS, project="p", modality="llm", provider="openai", model="gpt-4o-mini")
    base.update(kw)
    return LineItem(**base)


def priced(pricer: Pricer | None = None, **kw) -> LineItem:
    return (pricer or Pricer()).price_item(make(**kw))


def catalog_source(
    provider: str, model: str, on: date | None = None, variant: str | None = None
) -> str:
    """The `pricing_source` of the catalog entry in force for provider/model on `on` (TS)."""
    (entry,) = [
        e
        for e in load_catalog().current(on or TS.date())
        if (e.provider, e.model, e.variant) == (provider, model, variant)
    ]
    return entry.source


def genai_total(model: str, provider: str, when: datetime = TS, **usage) -> Decimal:
    calc = calc_price(Usage(**usage), model, provider_id=provider, genai_request_timestamp=when)
    return calc.total_price.quantize(Q)


# ------------------------------------------------------------------ LLM tokens


def test_cached_tokens_are_part_of_input_and_priced_at_cached_rate() -> None:
    it = priced(input_tokens=10_000, cached_input_tokens=2_048, output_tokens=1_000)
    # 7,952 uncached x $0.15 + 2,048 cached x $0.075 + 1,000 out x $0.60, per 1M tokens
    assert it.cost_usd == Decimal("0.0019464000")
    assert it.pricing_source == GENAI == "genai-prices@0.2.3"
    assert it.cost_usd == genai_total(
        "gpt-4o-mini", "openai", input_tokens=10_000, cache_read_tokens=2_048, output_tokens=1_000
    )


def test_cache_writes_have_their_own_rate() -> None:
    it = priced(
        provider="anthropic",
        model="claude-haiku-4-5",
        input_tokens=10_000,
        cached_input_tokens=2_000,
        cache_write_tokens=3_000,
        output_tokens=500,
    )
    # 5,000 x $1 + 2,000 x $0.10 + 3,000 x $1.25 + 500 x $5, per 1M
    assert it.cost_usd == Decimal("0.0114500000")
    assert it.cost_usd == genai_total(
        "claude-haiku-4-5",
        "anthropic",
        input_tokens=10_000,
        cache_read_tokens=2_000,
        cache_write_tokens=3_000,
        output_tokens=500,
    )


def test_realtime_audio_tokens_at_audio_rates() -> None:
    it = priced(
        modality="realtime",
        model="gpt-realtime",
        input_tokens=5_000,
        cached_input_tokens=1_000,
        audio_input_tokens=3_000,
        output_tokens=800,
        audio_output_tokens=600,
        metadata={"input_cached_audio_tokens": 600},
    )
    # text in 1,600 x $4 + cached text 400 x $0.4 + audio in 2,400 x $32
    # + cached audio 600 x $0.4 + text out 200 x $16 + audio out 600 x $64, per 1M
    assert it.cost_usd == Decimal("0.1252000000")
    assert it.cost_usd == genai_total(
        "gpt-realtime",
        "openai",
        input_tokens=5_000,
        cache_read_tokens=1_000,
        input_audio_tokens=3_000,
        cache_audio_read_tokens=600,
        output_tokens=800,
        output_audio_tokens=600,
    )


def test_historical_price_change_splits_items_by_period() -> None:
    """genai-prices has o3 at $10/$40 until 2025-06-09 and $2/$8 from 2025-06-10."""
    pricer = Pricer()
    before = datetime(2025, 6, 9, 23, 59, 59, tzinfo=UTC)
    after = datetime(2025, 6, 10, 0, 0, 0, tzinfo=UTC)
    units = dict(model="o3", input_tokens=1_000_000, output_tokens=100_000)
    a = priced(pricer, timestamp=before, **units)
    b = priced(pricer, timestamp=after, **units)
    assert (a.cost_usd, b.cost_usd) == (Decimal("14.0000000000"), Decimal("2.8000000000"))
    assert a.cost_usd == genai_total(
        "o3", "openai", before, input_tokens=1_000_000, output_tokens=100_000
    )
    assert b.cost_usd == genai_total(
        "o3", "openai", after, input_tokens=1_000_000, output_tokens=100_000
    )
    old = pricer.rate_for("openai", "o3", before)
    new = pricer.rate_for("openai", "o3", after)
    assert (old.input, old.valid_to) == (Decimal("10"), date(2025, 6, 10))
    assert (new.input, new.valid_from) == (Decimal("2"), date(2025, 6, 10))

    table = to_table([make(timestamp=before, **units), make(timestamp=after, **units)])
    out = pricer.price_table(table)
    assert out.column("cost_usd").to_pylist() == [a.cost_usd, b.cost_usd]
    assert out.column("pricing_source").to_pylist() == [GENAI, GENAI]


def test_context_size_tiers_price_all_tokens_at_the_tier() -> None:
    """claude-sonnet-4-6 had a >200k-token tier until 2026-03-12 (flat afterwards)."""
    when = datetime(2026, 1, 5, tzinfo=UTC)
    small = priced(
        provider="anthropic",
        model="claude-sonnet-4-6",
        timestamp=when,
        input_tokens=200_000,
        output_tokens=1_000,
    )
    big = priced(
        provider="anthropic",
        model="claude-sonnet-4-6",
        timestamp=when,
        input_tokens=200_001,
        output_tokens=1_000,
    )
    assert small.cost_usd == Decimal("0.6150000000")  # 200k x $3 + 1k x $15
    assert big.cost_usd == Decimal("1.2225060000")  # 200,001 x $6 + 1k x $22.50
    for it in (small, big):
        assert it.cost_usd == genai_total(
            "claude-sonnet-4-6",
            "anthropic",
            when,
            input_tokens=it.input_tokens,
            output_tokens=1_000,
        )
    later = priced(
        provider="anthropic", model="claude-sonnet-4-6", input_tokens=200_001, output_tokens=1_000
    )
    assert later.cost_usd == Decimal("0.6150030000")


def test_time_of_day_prices() -> None:
    night = datetime(2026, 11, 10, 20, 0, tzinfo=UTC)
    day = datetime(2026, 11, 10, 3, 0, tzinfo=UTC)
    a = priced(
        provider="deepseek",
        model="deepseek-chat",
        timestamp=night,
        input_tokens=1_000_000,
        output_tokens=0,
    )
    b = priced(
        provider="deepseek",
        model="deepseek-chat",
        timestamp=day,
        input_tokens=1_000_000,
        output_tokens=0,
    )
    assert a.cost_usd != b.cost_usd
    for it in (a, b):
        assert it.cost_usd == genai_total(
            "deepseek-chat", "deepseek", it.timestamp, input_tokens=1_000_000
        )


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4o-mini"),
        ("openai", "gpt-4.1-mini"),
        ("openai", "gpt-4o-realtime-preview"),
        ("openai", "gpt-realtime-mini"),
        ("openai", "o3"),
        ("anthropic", "claude-sonnet-4-6"),
        ("anthropic", "claude-haiku-4-5"),
        ("google", "gemini-2.5-flash"),
        ("google", "gemini-2.5-pro"),
        ("groq", "llama-3.3-70b-versatile"),
        ("deepseek", "deepseek-chat"),
        ("mistral", "mistral-small-latest"),
        ("x-ai", "grok-4"),
    ],
)
def test_rates_match_genai_prices_calc_price(provider: str, model: str) -> None:
    """Our rate decomposition gives genai-prices' own answer, to the 10th decimal."""
    rng = random.Random(f"{provider}/{model}")
    pricer = Pricer()
    for _ in range(40):
        when = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(0, 700 * 86_400))
        inp = rng.choice([0, 50, 1_000, 30_000, 199_999, 200_001, 260_000])
        cached = rng.randrange(0, inp + 1) if inp else 0
        write = rng.randrange(0, inp - cached + 1) if provider == "anthropic" and inp else 0
        out = rng.randrange(0, 5_000)
        audio_in = audio_out = cached_audio = 0
        if "realtime" in model:
            audio_in = rng.randrange(0, inp - cached - write + 1) if inp else 0
            audio_out = rng.randrange(0, out + 1)
        usage = dict(
            input_tokens=inp,
            cache_read_tokens=cached,
            cache_write_tokens=write,
            output_tokens=out,
            input_audio_tokens=audio_in,
            output_audio_tokens=audio_out,
            cache_audio_read_tokens=cached_audio,
        )
        try:
            expected = genai_total(model, provider, when, **usage)
        except ValueError:
            continue
        it = priced(
            pricer,
            provider=provider,
            model=model,
            timestamp=when,
            input_tokens=inp,
            cached_input_tokens=cached,
            cache_write_tokens=write,
            output_tokens=out,
            audio_input_tokens=audio_in,
            audio_output_tokens=audio_out,
        )
        assert it.cost_usd == expected, (when, usage)


# ---------------------------------------------------------------- STT and TTS


def test_catalog_stt_per_second_with_minimum() -> None:
    pricer = Pricer()
    short = priced(
        pricer, modality="stt", provider="groq", model="whisper-large-v3", audio_seconds=3.0
    )
    # billed as the 10 s minimum at $0.111/hour
    assert short.cost_usd == (Decimal("0.111") * 10 / 3600).quantize(Q)
    assert short.pricing_source == catalog_source("groq", "whisper-large-v3")
    long = priced(
        pricer, modality="stt", provider="groq", model="whisper-large-v3", audio_seconds=36.0
    )
    assert long.cost_usd == Decimal("0.0011100000")
    none = priced(
        pricer, modality="stt", provider="groq", model="whisper-large-v3", audio_seconds=0.0
    )
    assert none.cost_usd == Decimal(0) and none.pricing_source == short.pricing_source


def test_catalog_stt_billing_increment() -> None:
    pricer = Pricer()
    # LiveKit Inference STT: connection seconds rounded up to whole seconds per usage
    lk = priced(
        pricer, modality="stt", provider="livekit", model="deepgram/nova-3", audio_seconds=4.2
    )
    assert lk.cost_usd == Decimal("0.0004000000")  # 5 s at $0.0048/min
    # OpenAI whisper-1: to the nearest second
    assert priced(pricer, modality="stt", model="whisper-1", audio_seconds=3.4).cost_usd == Decimal(
        "0.0003000000"
    )
    assert priced(pricer, modality="stt", model="whisper-1", audio_seconds=3.5).cost_usd == Decimal(
        "0.0004000000"
    )
    # Deepgram direct: exact duration, no increment
    dg = priced(pricer, modality="stt", provider="deepgram", model="nova-3", audio_seconds=4.2)
    assert dg.cost_usd == Decimal("0.0003360000")


def test_catalog_batch_variant_and_streaming_price_periods() -> None:
    pricer = Pricer()
    units = dict(
        modality="stt",
        provider="deepgram",
        model="nova-3",
        audio_seconds=60.0,
        metadata={"streamed": False},
    )
    # pre-recorded Nova-3 is $0.0043/min all through 2026 (no $0.0077 period)
    for when in (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC), TS):
        batch = priced(pricer, timestamp=when, **units)
        assert batch.cost_usd == Decimal("0.0043000000"), when
        assert batch.pricing_source == catalog_source("deepgram", "nova-3", variant="batch")
    # streaming: the regular $0.0077 until the promotional $0.0048 from 2026-05-05
    streamed = {**units, "metadata": {}}
    assert priced(pricer, **streamed).cost_usd == Decimal("0.0048000000")
    before = datetime(2026, 5, 4, 23, 59, 59, tzinfo=UTC)
    assert priced(pricer, timestamp=before, **streamed).cost_usd == Decimal("0.0077000000")
    from_day = datetime(2026, 5, 5, tzinfo=UTC)
    assert priced(pricer, timestamp=from_day, **streamed).cost_usd == Decimal("0.0048000000")
    # Cartesia's batch /stt bills 1 credit per 2 seconds: half the streaming price
    ink = dict(modality="stt", provider="cartesia", model="ink-whisper", audio_seconds=60.0)
    assert priced(pricer, **ink).cost_usd == Decimal("0.0030000000")
    assert priced(pricer, **ink, metadata={"streamed": False}).cost_usd == Decimal("0.0015000000")


def test_tts_per_character() -> None:
    pricer = Pricer()
    cart = priced(
        pricer,
        modality="tts",
        provider="Cartesia",
        model="sonic-3",
        characters=1_000,
        audio_seconds=61.0,
    )
    assert cart.cost_usd == Decimal("0.0500000000")
    snap = priced(
        pricer, modality="tts", provider="cartesia", model="sonic-3-2026-01-12", characters=10
    )
    assert snap.cost_usd == Decimal("0.0005000000")
    eleven = priced(
        pricer, modality="tts", provider="elevenlabs", model="eleven_flash_v2_5", characters=1_234
    )
    assert eleven.cost_usd == Decimal("0.0493600000")  # $0.04 per 1K since 2026-09-30
    summer = priced(
        pricer,
        modality="tts",
        provider="elevenlabs",
        model="eleven_flash_v2_5",
        timestamp=datetime(2026, 7, 1, tzinfo=UTC),
        characters=1_234,
    )
    assert summer.cost_usd == Decimal("0.0617000000")  # $0.05 per 1K before
    aura = priced(
        pricer, modality="tts", provider="deepgram", model="aura-2-thalia-en", characters=100
    )
    assert aura.cost_usd == Decimal("0.0030000000")


def test_token_billed_speech_models_use_tokens_when_present() -> None:
    pricer = Pricer()
    est = priced(pricer, modality="tts", model="gpt-4o-mini-tts", characters=100, audio_seconds=6.0)
    assert est.cost_usd == Decimal("0.0015000000")  # $0.015/min estimate from the catalog
    assert est.pricing_source.startswith("catalog@")
    tok = priced(
        pricer,
        modality="tts",
        model="gpt-4o-mini-tts",
        characters=100,
        audio_seconds=6.0,
        input_tokens=30,
        output_tokens=400,
    )
    assert tok.cost_usd == Decimal("0.0048180000")  # 30 x $0.60 + 400 x $12, per 1M
    assert tok.pricing_source == GENAI
    stt = priced(
        pricer,
        modality="stt",
        model="gpt-4o-transcribe",
        audio_seconds=30.0,
        input_tokens=500,
        audio_input_tokens=480,
        output_tokens=60,
    )
    # 20 text x $2.50 + 480 audio x $6 + 60 out x $10, per 1M
    assert stt.cost_usd == Decimal("0.0035300000") and stt.pricing_source == GENAI


# ------------------------------------------------------- providers and LiveKit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("api.openai.com", "openai"),
        ("https://api.openai.com/v1", "openai"),
        ("api.anthropic.com", "anthropic"),
        ("Gemini", "google"),
        ("google", "google"),
        ("Deepgram", "deepgram"),
        ("Cartesia", "cartesia"),
        ("ElevenLabs", "elevenlabs"),
        ("livekit", "livekit"),
        ("api.groq.com", "groq"),
        ("https://api.groq.com/openai/v1", "groq"),
        ("api.deepseek.com", "deepseek"),
        ("openrouter.ai", "openrouter"),
        ("https://openrouter.ai/api/v1", "openrouter"),
        ("AssemblyAI", "assemblyai"),
        ("Azure", "azure"),
        ("https://my-res.openai.azure.com/openai/deployments/x", "azure"),
        ("api.x.ai", "x-ai"),
        ("xAI", "x-ai"),
        ("Mistral AI", "mistral"),
        ("api.cerebras.ai", "cerebras"),
        ("Some New Vendor", "some-new-vendor"),
        ("https://llm.example.com:8443/v1", "llm.example.com"),
        ("LOCALHOST", "localhost"),
        ("", "unknown"),
    ],
)
def test_canonical_provider(raw: str, expected: str) -> None:
    assert canonical_provider(raw) == expected


def test_livekit_inference_ids() -> None:
    pricer = Pricer()
    llm = priced(
        pricer,
        provider="livekit",
        model="openai/gpt-4.1-mini",
        input_tokens=1_000,
        output_tokens=100,
    )
    direct = priced(pricer, model="gpt-4.1-mini", input_tokens=1_000, output_tokens=100)
    assert llm.cost_usd == direct.cost_usd == Decimal("0.0005600000")
    assert llm.pricing_source == GENAI
    rate = pricer.rate_for("livekit", "openai/gpt-4.1-mini", TS)
    assert (rate.provider, rate.model) == ("livekit", "openai/gpt-4.1-mini")
    assert "LiveKit Inference" in rate.note

    stt = priced(
        pricer, modality="stt", provider="livekit", model="deepgram/nova-3", audio_seconds=60.0
    )
    assert stt.cost_usd == Decimal("0.0048000000")
    assert pricer.rate_for("livekit", "deepgram/nova-3", TS, "stt").provider == "livekit"
    # LiveKit's own price for a voice model (the voice is part of the model name)
    tts = priced(
        pricer,
        modality="tts",
        provider="livekit",
        model="deepgram/aura-2-thalia-en",
        characters=100,
    )
    assert tts.cost_usd == Decimal("0.0030000000")
    assert (
        "LiveKit Inference"
        not in pricer.rate_for("livekit", "deepgram/aura-2-thalia-en", TS, "tts").note
    )
    # not listed for LiveKit: the underlying provider's catalog price, labeled livekit
    tts = priced(
        pricer,
        modality="tts",
        provider="livekit",
        model="deepgram/aura-asteria-en",
        characters=100,
    )
    assert tts.cost_usd == Decimal("0.0015000000")
    fallback = pricer.rate_for("livekit", "deepgram/aura-asteria-en", TS, "tts")
    assert fallback.provider == "livekit" and "LiveKit Inference" in fallback.note


def test_unknown_model_is_unpriced_never_zero() -> None:
    pricer = Pricer()
    it = priced(pricer, provider="openai", model="gpt-nonexistent-9", input_tokens=10)
    assert (it.cost_usd, it.pricing_source) == (None, "unpriced")
    assert pricer.rate_for("openai", "gpt-nonexistent-9", TS) is None
    it = priced(pricer, modality="stt", provider="deepgram", model="nova-99", audio_seconds=5.0)
    assert (it.cost_usd, it.pricing_source) == (None, "unpriced")
    assert pricer.unpriced_models([("deepgram", "nova-99"), ("Deepgram", "nova-3")]) == [
        "deepgram/nova-99"
    ]


def test_contradictory_units_are_unpriced() -> None:
    it = priced(input_tokens=100, cached_input_tokens=200, output_tokens=5)
    assert (it.cost_usd, it.pricing_source) == (None, "unpriced")
    # a per-unit rate only needs its own unit to make sense
    it = priced(modality="stt", provider="deepgram", model="nova-3", audio_seconds=-1.0)
    assert it.cost_usd is None


# ------------------------------------------------------------------- overrides


def test_override_wins_with_source_override() -> None:
    pricer = Pricer(
        {
            "openai/gpt-4o-mini": {
                "input_per_mtok": "0.12",
                "cached_input_per_mtok": "0.06",
                "output_per_mtok": 0.48,
            },
            "Deepgram/nova-3": {"per_minute": "0.0040", "billing_increment_seconds": 1},
            "cartesia/sonic-3": [
                {"per_1m_characters": "40"},
                {"per_1m_characters": "30", "effective_from": "2026-11-01"},
            ],
            "livekit/deepgram/nova-3": {
                "per_second": "0.0001",
                "effective_from": date(2026, 12, 1),
            },
        }
    )
    llm = priced(pricer, input_tokens=10_000, cached_input_tokens=2_048, output_tokens=1_000)
    assert (llm.cost_usd, llm.pricing_source) == (Decimal("0.0015571200"), "override")
    stt = priced(pricer, modality="stt", provider="deepgram", model="nova-3", audio_seconds=4.2)
    assert (stt.cost_usd, stt.pricing_source) == (Decimal("0.0003333333"), "override")
    old = priced(
        pricer,
        modality="tts",
        provider="cartesia",
        model="sonic-3",
        timestamp=datetime(2026, 10, 31, tzinfo=UTC),
        characters=1_000_000,
    )
    new = priced(pricer, modality="tts", provider="cartesia", model="sonic-3", characters=1_000_000)
    assert (old.cost_usd, new.cost_usd) == (Decimal("40.0000000000"), Decimal("30.0000000000"))
    # before effective_from the list price applies
    lk = priced(
        pricer, modality="stt", provider="livekit", model="deepgram/nova-3", audio_seconds=60.0
    )
    assert lk.pricing_source.startswith("catalog@")
    lk = priced(
        pricer,
        modality="stt",
        provider="livekit",
        model="deepgram/nova-3",
        audio_seconds=60.0,
        timestamp=datetime(2026, 12, 2, tzinfo=UTC),
    )
    assert (lk.cost_usd, lk.pricing_source) == (Decimal("0.0060000000"), "override")
    assert pricer.override_keys() == [
        "cartesia/sonic-3",
        "deepgram/nova-3",
        "livekit/deepgram/nova-3",
        "openai/gpt-4o-mini",
    ]
    # an override for a model no price list knows makes it priceable
    custom = Pricer({"acme/voice-1": {"per_character": "0.00001"}})
    it = priced(custom, modality="tts", provider="acme", model="voice-1", characters=10)
    assert (it.cost_usd, it.pricing_source) == (Decimal("0.0001000000"), "override")


@pytest.mark.parametrize(
    ("raw", "key_path", "problem"),
    [
        (
            {"gpt-4o-mini": {"input_per_mtok": "1"}},
            "pricing.overrides.gpt-4o-mini",
            "provider/model",
        ),
        (
            {"openai/x": {"input_per_mtok": "1"}},
            "pricing.overrides.openai/x.output_per_mtok",
            "both",
        ),
        (
            {"openai/x": {"input_per_mtok": "abc", "output_per_mtok": "1"}},
            "pricing.overrides.openai/x.input_per_mtok",
            "decimal",
        ),
        (
            {"openai/x": {"input_per_mtok": "-1", "output_per_mtok": "1"}},
            "pricing.overrides.openai/x.input_per_mtok",
            "non-negative",
        ),
        (
            {"openai/x": {"inputs_per_mtok": "1"}},
            "pricing.overrides.openai/x.inputs_per_mtok",
            "unknown field",
        ),
        (
            {"deepgram/x": {"per_minute": "1", "per_second": "1"}},
            "pricing.overrides.deepgram/x.per_minute",
            "one of",
        ),
        (
            {"deepgram/x": {"per_character": "1", "minimum_seconds": 10}},
            "pricing.overrides.deepgram/x.minimum_seconds",
            "only applies",
        ),
        (
            {"deepgram/x": {"per_minute": "1", "effective_from": "soon"}},
            "pricing.overrides.deepgram/x.effective_from",
            "date",
        ),
        (
            {"deepgram/x": {"per_minute": "1", "rounding": "down"}},
            "pricing.overrides.deepgram/x.rounding",
            "up, nearest",
        ),
        ({"deepgram/x": {}}, "pricing.overrides.deepgram/x", "no price"),
        (
            {"deepgram/x": [{"per_minute": "1"}, {"per_minute": 2, "effective_from": True}]},
            "pricing.overrides.deepgram/x[1].effective_from",
            "date",
        ),
        ({"deepgram/x": "0.1"}, "pricing.overrides.deepgram/x", "mapping"),
    ],
)
def test_parse_overrides_errors(raw: dict, key_path: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_overrides(raw, source="voicegw.yaml")
    assert err.value.key_path == key_path
    assert problem in err.value.problem
    assert str(err.value).startswith(f"voicegw.yaml: {key_path}: ")
    assert err.value.exit_code == 3


def test_bad_overrides_in_voicegw_yaml_fail_config_loading(write_config) -> None:
    with pytest.raises(ConfigError) as err:
        write_config("pricing:\n  overrides:\n    openai/gpt-4o-mini:\n      per_minute: x\n")
    assert err.value.key_path == "pricing.overrides.openai/gpt-4o-mini.per_minute"
    cfg = write_config(
        "pricing:\n  overrides:\n    openai/gpt-4o-mini:\n"
        "      input_per_mtok: 0.1\n      output_per_mtok: 0.4\n"
    )
    it = priced(Pricer(cfg.pricing_overrides), input_tokens=1_000_000, output_tokens=0)
    assert (it.cost_usd, it.pricing_source) == (Decimal("0.1000000000"), "override")


# ---------------------------------------------------------------------- bulk


def to_table(items: list[LineItem]):
    import pyarrow as pa

    recs = [i.to_record() for i in items]
    arrays = {}
    for name, typ in COLUMNS:
        vals = [r[name] for r in recs]
        if name == "timestamp":
            arrays[name] = pa.array(
                [i.timestamp.replace(tzinfo=None) for i in items], pa.timestamp("us")
            )
        elif typ == "BIGINT":
            arrays[name] = pa.array(vals, pa.int64())
        elif typ == "DOUBLE":
            arrays[name] = pa.array(vals, pa.float64())
        elif name == "cost_usd":
            arrays[name] = pa.array([i.cost_usd for i in items], pa.decimal128(18, 10))
        else:
            arrays[name] = pa.array(vals, pa.string())
    return pa.table(arrays)


MODELS = [
    ("llm", "openai", "gpt-4o-mini"),
    ("llm", "api.openai.com", "gpt-4.1-mini"),
    ("llm", "anthropic", "claude-haiku-4-5"),
    ("llm", "anthropic", "claude-sonnet-4-6"),
    ("llm", "openai", "o3"),
    ("llm", "deepseek", "deepseek-chat"),
    ("llm", "livekit", "openai/gpt-4.1-mini"),
    ("llm", "openai", "no-such-model"),
    ("realtime", "openai", "gpt-realtime"),
    ("realtime", "openai", "gpt-4o-mini-realtime-preview"),
    ("stt", "deepgram", "nova-3"),
    ("stt", "Deepgram", "nova-2"),
    ("stt", "groq", "whisper-large-v3-turbo"),
    ("stt", "openai", "whisper-1"),
    ("stt", "openai", "gpt-4o-transcribe"),
    ("stt", "livekit", "deepgram/nova-3"),
    ("stt", "assemblyai", "universal-streaming"),
    ("stt", "nobody", "nothing"),
    ("tts", "cartesia", "sonic-3"),
    ("tts", "elevenlabs", "eleven_multilingual_v2"),
    ("tts", "openai", "gpt-4o-mini-tts"),
    ("tts", "livekit", "cartesia/sonic-3"),
    ("tts", "deepgram", "aura-2-asteria-en"),
]


def random_items(n: int, seed: int = 3) -> list[LineItem]:
    rng = random.Random(seed)
    start = datetime(2025, 5, 1, tzinfo=UTC)
    items = []
    for k in range(n):
        modality, provider, model = rng.choice(MODELS)
        ts = start + timedelta(
            seconds=rng.randrange(0, 600 * 86_400), microseconds=rng.randrange(0, 1_000_000)
        )
        kw: dict = {}
        meta: dict = {}
        if modality in ("llm", "realtime"):
            inp = rng.choice([0, 800, 12_000, 199_999, 200_001, 250_000])
            cached = rng.randrange(0, inp + 1) if inp else 0
            write = rng.randrange(0, inp - cached + 1) if "claude" in model and inp else 0
            out = rng.randrange(0, 3_000)
            kw = dict(
                input_tokens=inp,
                cached_input_tokens=cached,
                cache_write_tokens=write,
                output_tokens=out,
                reasoning_tokens=rng.randrange(0, out + 1),
            )
            if modality == "realtime":
                audio_in = rng.randrange(0, inp - cached - write + 1) if inp else 0
                kw.update(
                    audio_input_tokens=audio_in, audio_output_tokens=rng.randrange(0, out + 1)
                )
                if cached and audio_in and rng.random() < 0.5:
                    meta["input_cached_audio_tokens"] = rng.randrange(0, min(cached, audio_in) + 1)
            if rng.random() < 0.02:  # contradictory units
                kw["cached_input_tokens"] = inp + 5
        elif modality == "stt":
            kw = dict(
                audio_seconds=rng.choice(
                    [0.0, 0.3, 2.5, 3.5, 4.999999, 9.7, round(rng.uniform(0, 90), 3)]
                )
            )
            if model == "gpt-4o-transcribe" and rng.random() < 0.5:
                kw.update(input_tokens=400, audio_input_tokens=380, output_tokens=50)
            if model == "nova-3" and rng.random() < 0.3:
                meta["streamed"] = False
        else:
            kw = dict(characters=rng.randrange(0, 2_000), audio_seconds=rng.uniform(0, 30))
            if model == "gpt-4o-mini-tts" and rng.random() < 0.5:
                kw.update(input_tokens=40, output_tokens=rng.randrange(0, 3_000))
        item = make(
            timestamp=ts,
            modality=modality,
            provider=provider,
            model=model,
            id=f"r{k}",
            metadata=meta,
            **kw,
        )
        if rng.random() < 0.05:
            item.cost_usd, item.pricing_source = Decimal("1.2345"), "imported"
        items.append(item)
    return items


def test_price_table_equals_price_item_row_for_row() -> None:
    items = random_items(4_000)
    pricer = Pricer(
        {
            "openai/gpt-4o-mini": {
                "input_per_mtok": "0.1",
                "output_per_mtok": "0.5",
                "effective_from": "2026-01-01",
            }
        }
    )
    out = pricer.price_table(to_table(items))
    assert str(out.column("cost_usd").type) == "decimal128(18, 10)"
    costs = out.column("cost_usd").to_pylist()
    sources = out.column("pricing_source").to_pylist()
    seen = set()
    for item, cost, source in zip(items, costs, sources, strict=True):
        if item.cost_usd is not None:  # rows that carry a cost keep it
            assert (cost, source) == (Decimal("1.2345000000"), "imported")
            continue
        expected = pricer.price_item(
            make(**{f: getattr(item, f) for f in item.__dataclass_fields__ if f != "cost_usd"})
        )
        assert (cost, source) == (expected.cost_usd, expected.pricing_source), item
        seen.add(source.split("@")[0])
    assert seen == {"genai-prices", "catalog", "override", "unpriced"}
    assert out.column_names == to_table(items[:1]).column_names
    assert out.num_rows == len(items)


def test_price_table_keeps_rows_that_carry_a_cost() -> None:
    items = [make(cost_usd=Decimal("0.5"), pricing_source="imported", input_tokens=10)]
    out = Pricer().price_table(to_table(items))
    assert out.column("cost_usd").to_pylist() == [Decimal("0.5000000000")]
    assert out.column("pricing_source").to_pylist() == ["imported"]


def test_price_table_on_synthetic_history() -> None:
    from voicegw_cli.synthetic import generate

    table = generate(date(2026, 10, 1), 3, target_items=3_000)
    out = Pricer().price_table(table)
    assert out.column("cost_usd").null_count == 0
    assert set(out.column("pricing_source").to_pylist()) <= {GENAI} | {
        e.source for e in catalog_entries()
    }


# --------------------------------------------------------------- catalog data


def test_catalog_is_valid_dated_and_sourced() -> None:
    from importlib import resources

    raw = json.loads(resources.files("voicegw_cli.pricing").joinpath("catalog.json").read_text())
    entries = parse_catalog(raw, source="catalog.json")
    assert entries == catalog_entries()
    keys = {(e.provider, e.model) for e in entries}
    for needed in [
        ("deepgram", "nova-3"),
        ("deepgram", "nova-2"),
        ("deepgram", "aura-2"),
        ("cartesia", "sonic-3"),
        ("cartesia", "sonic-2"),
        ("elevenlabs", "eleven_turbo_v2_5"),
        ("elevenlabs", "eleven_flash_v2_5"),
        ("elevenlabs", "eleven_multilingual_v2"),
        ("openai", "whisper-1"),
        ("openai", "tts-1"),
        ("openai", "tts-1-hd"),
        ("openai", "gpt-4o-mini-tts"),
        ("openai", "gpt-4o-mini-transcribe"),
        ("openai", "gpt-4o-transcribe"),
        ("assemblyai", "universal-streaming"),
        ("groq", "whisper-large-v3"),
        ("groq", "whisper-large-v3-turbo"),
        ("livekit", "deepgram/nova-3"),
        ("livekit", "cartesia/sonic-3"),
    ]:
        assert needed in keys
    assert {e.variant for e in entries if e.key == "deepgram/nova-3"} == {None, "batch"}
    periods: dict[tuple[str, str, str | None], list[date | None]] = {}
    for e in entries:
        assert e.source_url.startswith("https://")
        assert e.evidence, f"{e.key}: every entry names what its review read"
        for ev in e.evidence:
            assert ev.as_of is None or ev.as_of <= e.pricing_source_date, e.key
        if e.effective_from is not None:
            assert e.effective_from <= e.pricing_source_date, e.key
        if e.confidence == "unverified":
            assert e.note.lower().startswith("not verified"), e.key
        # a price that parses the same way prints the same way: no exponent, no noise
        assert format_rate(e.price) == format_rate(Decimal(str(e.price)))
        assert "E" not in format_rate(e.price)
        periods.setdefault((e.provider, e.model, e.variant), []).append(e.effective_from)
    for key, starts in periods.items():
        assert len(set(starts)) == len(starts), f"{key}: two periods start the same day"
        assert None in starts, f"{key}: its first period has no start date"


def test_parse_catalog_rejects_bad_entries() -> None:
    good = {
        "provider": "x",
        "model": "m",
        "unit": "minute",
        "price": "0.1",
        "source_url": "https://x",
        "pricing_source_date": "2026-01-01",
        "confidence": "official",
    }
    for bad, msg in [
        ({"price": 0.1}, "decimal strings"),
        ({"unit": "day"}, "unit"),
        ({"confidence": "sure"}, "confidence"),
        ({"extra": 1}, "unknown"),
        ({"pricing_source_date": "yesterday"}, "ISO date"),
        ({"unit": "character", "minimum_seconds": "1"}, "audio units"),
        ({"evidence": {"source": "x"}}, "list of"),
        ({"evidence": [{"source": "x"}]}, r"evidence\[0\]: says is required"),
        ({"evidence": [{"source": "x", "says": "y", "seen": "z"}]}, "unknown field"),
        ({"evidence": [{"source": "x", "says": "y", "as_of": "June"}]}, "ISO date"),
    ]:
        with pytest.raises(ValueError, match=msg):
            parse_catalog({"entries": [{**good, **bad}]}, source="t")


REVIEWED = date(2026, 12, 3)  # the catalog's last review; a fixed day, never today


def test_shipped_catalog_is_fresh_on_its_review_day_and_stale_after_its_age() -> None:
    health = catalog_health(REVIEWED)
    assert health.ok and health.stale == () and health.max_age_days == MAX_AGE_DAYS == 60
    assert len(health.in_force) == len(
        {(e.provider, e.model, e.variant) for e in catalog_entries()}
    )
    oldest = min(e.pricing_source_date for e in health.in_force)
    assert catalog_health(oldest + timedelta(days=MAX_AGE_DAYS)).ok
    late = catalog_health(oldest + timedelta(days=MAX_AGE_DAYS + 1))
    assert not late.ok and late.stale
    assert all(e.age_days(late.today) > MAX_AGE_DAYS for e in late.stale)
    # unverified prices are counted, not failed
    assert {e.key for e in health.unverified} >= {"deepgram/nova-2", "livekit/deepgram/nova-2"}
    assert all(e.confidence == "unverified" for e in health.unverified)
    assert set(health.needing_attention()) == set(health.stale) | set(health.unverified)


def test_stale_entries_uses_the_given_day() -> None:
    assert stale_entries(10_000, REVIEWED) == []
    day = REVIEWED + timedelta(days=90)
    stale = stale_entries(60, day)
    assert stale and all(e.age_days(day) > 60 for e in stale)
    assert ("deepgram", "aura-2") in {(e.provider, e.model) for e in stale}
    # superseded periods are history: only the current streaming Nova-3 price is checked
    nova3 = [e for e in stale if e.key == "deepgram/nova-3" and e.variant is None]
    assert [e.price for e in nova3] == [Decimal("0.0048")]
    # entries reviewed within the age are fresh that day
    assert not [e for e in stale if e.pricing_source_date >= day - timedelta(days=60)]
    with pytest.raises(ValueError):
        catalog_health(REVIEWED, -1)


def test_pricing_versions_reports_catalog_health() -> None:
    info = pricing_versions(today=REVIEWED)
    health = catalog_health(REVIEWED)
    assert info["genai_prices"] == "0.2.3"
    assert info["catalog_entries"] == len(catalog_entries())
    assert info["catalog_in_force"] == len(health.in_force)
    assert info["catalog_oldest_age_days"] == 0
    assert (info["catalog_stale"], info["catalog_unverified"]) == (0, len(health.unverified))
    later = pricing_versions(today=REVIEWED + timedelta(days=61), max_age_days=60)
    assert later["catalog_stale"] == len(health.in_force)
    assert later["catalog_max_age_days"] == 60


def test_format_rate_is_plain_decimal() -> None:
    cases = {
        "5E+1": "50",
        "50.000": "50",
        "0.0048000": "0.0048",
        "5E-8": "0.00000005",
        "0": "0",
        "0.00": "0",
        "1.50": "1.5",
        "1E+3": "1000",
    }
    for raw, text in cases.items():
        assert format_rate(Decimal(raw)) == text, raw
    assert format_rate(None) is None


def test_rate_is_frozen_and_exact() -> None:
    rate = Rate(
        provider="x",
        model="m",
        source="override",
        audio_price=Decimal("0.0077"),
        audio_unit="minute",
    )
    with pytest.raises(AttributeError):
        rate.audio_price = Decimal(1)  # type: ignore[misc]
    assert rate.per_minute == Decimal("0.0077")
    # 7 s at $0.0077/min is 0.000898333..., rounded once, half to even
    assert rate.cost(audio_seconds=7.0) == Decimal("0.0008983333")
    assert rate.cost(audio_seconds=0.0) == Decimal(0)


def test_import_is_light() -> None:
    code = (
        "import sys, voicegw_cli.pricing\n"
        "print(','.join(m for m in ('pandas', 'numpy', 'pyarrow', 'genai_prices') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_price_table_exact_beyond_int64_and_tz_aware_timestamps() -> None:
    import pyarrow as pa

    normal = make(input_tokens=123_457, cached_input_tokens=1_000, output_tokens=999)
    giant = make(input_tokens=3 * 10**15, output_tokens=0)  # forces the Python-int path
    table = to_table([normal, giant])
    table = table.set_column(
        table.schema.get_field_index("timestamp"),
        "timestamp",
        table.column("timestamp").cast(pa.timestamp("us", tz="UTC")),
    )
    pricer = Pricer()
    out = pricer.price_table(table)
    expected = pricer.price_item(
        make(input_tokens=123_457, cached_input_tokens=1_000, output_tokens=999)
    )
    assert out.column("cost_usd").to_pylist() == [expected.cost_usd, None]
    assert out.column("pricing_source").to_pylist() == [GENAI, "unpriced"]
    assert pricer.price_item(giant).cost_usd is None
