"""Every provider export reader on its reconstructed fixtures, quirk by quirk, and every
way an export file can be unreadable (exit 3, naming the file and the spot)."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from voicegw_cli.errors import InputError
from voicegw_cli.reconcile.base import (
    AUDIO_IN,
    CACHE_WRITE,
    CACHED,
    CHARACTERS,
    CREDITS,
    OUTPUT,
    SECONDS,
    UNCACHED,
    UNCACHED_AUDIO,
)
from voicegw_cli.reconcile.names import model_key
from voicegw_cli.reconcile.read import read_exports

PROVIDERS = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
NOV1, NOV2, NOV3 = date(2025, 11, 1), date(2025, 11, 2), date(2025, 11, 3)


def read(provider: str, *names: str, **kw):
    return read_exports([PROVIDERS / n for n in names], provider, **kw)


def qty(export, model, unit, day=None, kind=None) -> float:
    return sum(
        r.quantity or 0
        for r in export.records
        if r.model == model
        and r.unit == unit
        and (day is None or r.day == day)
        and (kind is None or r.kind == kind)
    )


def cost(export, model=None, unit=None, day=None) -> Decimal:
    return sum(
        (
            r.cost
            for r in export.records
            if r.cost is not None
            and (model is None or r.model == model)
            and (unit is None or r.unit == unit)
            and (day is None or r.day == day)
        ),
        Decimal(0),
    )


# ------------------------------------------------------------------ model names


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("Claude Haiku 4.5", "claude-haiku-4-5-20251001"),
        ("Claude 3.5 Sonnet 2024-10-22", "claude-3-5-sonnet-20241022"),
        ("Claude Sonnet 4", "claude-sonnet-4-20250514"),
        ("openai/gpt-4.1-mini", "gpt-4.1-mini"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("aura-2-thalia-en", "aura-2"),
        ("eleven_flash_v2_5", "eleven-flash-v2-5"),
    ],
)
def test_model_key_joins_snapshots_and_display_names(a: str, b: str) -> None:
    assert model_key(a) == model_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [("gpt-4o", "gpt-4o-mini"), ("nova-3", "nova-2"), ("claude-haiku-4-5", "claude-sonnet-4-5")],
)
def test_model_key_keeps_different_models_apart(a: str, b: str) -> None:
    assert model_key(a) != model_key(b)


# ------------------------------------------------------------------ OpenAI


def test_openai_usage_completions_page() -> None:
    ex = read("openai", "openai_usage_completions.json")
    assert [f.fmt for f in ex.files] == ["OpenAI Usage API (completions)"]
    m = "gpt-4o-mini-2024-07-18"
    # The first bucket starts at the requested time (09:31), still 2025-11-01.
    assert qty(ex, m, UNCACHED, NOV1) == 80_000
    assert qty(ex, m, CACHED, NOV1) == 40_000
    assert qty(ex, m, OUTPUT, NOV1) == 9_000
    assert qty(ex, m, CACHE_WRITE, NOV3) == 1_000
    # The empty bucket of the 2nd gives nothing.
    assert not [r for r in ex.records if r.day == NOV2]
    # Without input_uncached_tokens, uncached = input - cached - cache writes.
    assert qty(ex, "gpt-4.1-nano-2025-04-14", UNCACHED, NOV1) == 5_000
    assert all(r.kind == "usage" and r.cost is None for r in ex.records)


@pytest.mark.parametrize(
    "source",
    [
        ("openai_usage_pages",),  # a folder of pages
        ("openai_usage_completions_array.json",),  # an array of pages
        ("openai_usage_completions_pages.ndjson",),  # pages one per line
    ],
)
def test_openai_usage_many_pages_read_alike(source: tuple[str, ...]) -> None:
    ex = read("openai", *source)
    m = "gpt-4o-mini-2024-07-18"
    assert qty(ex, m, UNCACHED, NOV1) == 75_000
    assert qty(ex, m, CACHED, NOV1) == 25_000
    assert qty(ex, m, UNCACHED, NOV2) == 50_000
    assert qty(ex, m, OUTPUT) == 11_000


def test_the_same_page_saved_twice_counts_once() -> None:
    ex = read("openai", "openai_usage_pages", "openai_usage_completions_array.json")
    assert qty(ex, "gpt-4o-mini-2024-07-18", OUTPUT) == 11_000
    assert any("repeated across files" in n for n in ex.notes)


def test_openai_audio_usage() -> None:
    speech = read("openai", "openai_usage_audio_speeches.json")
    assert qty(speech, "tts-1", CHARACTERS, NOV1) == 48_210
    assert speech.records[0].modality == "tts"
    transcription = read("openai", "openai_usage_audio_transcriptions.json")
    assert qty(transcription, "whisper-1", SECONDS, NOV1) == 5_400


def test_openai_costs_quirks() -> None:
    ex = read("openai", "openai_costs.json")
    m = "gpt-4o-mini-2024-07-18"
    # A JSON number and 40-decimal strings, exactly.
    assert cost(ex, m, UNCACHED, NOV1) == Decimal("0.012")
    assert cost(ex, m, CACHED, NOV1) == Decimal("0.003")
    assert cost(ex, m, OUTPUT, NOV1) == Decimal("0.0054")
    # "evals | <model>, input" keeps the model; "0E-6176" is zero.
    evals = [r for r in ex.records if r.model == m and r.quantity == 0]
    assert evals and evals[0].cost == 0
    # A line item that names no model is kept whole, as a cost with no unit.
    (search,) = [r for r in ex.records if r.model == "assistants api | file search"]
    assert search.unit is None and search.cost == Decimal("0.1")
    # duration_minutes -> seconds, 1000_tokens -> tokens, characters stay characters.
    assert qty(ex, "whisper-1", SECONDS) == 90 * 60
    assert qty(ex, "gpt-4.1-nano-2025-04-14", UNCACHED) == 5_000
    assert qty(ex, "tts-1", CHARACTERS) == 48_210
    # "<model> audio, input": the model without the modality word; the line prices the
    # uncached audio leaf of input and its quantity is also the audio part of input.
    line, part = [r for r in ex.records if r.model == "gpt-audio-mini-2025-12-15"]
    assert (line.unit, line.leaf, line.modality, line.day) == (
        UNCACHED,
        UNCACHED_AUDIO,
        "realtime",
        NOV3,
    )
    assert (part.unit, part.quantity, part.cost) == (AUDIO_IN, 15, None)
    assert all(r.kind == "cost" for r in ex.records)


def test_openai_dashboard_usage_csv() -> None:
    ex = read("openai", "openai_dashboard_usage.csv")
    m = "gpt-4o-mini-2024-07-18"
    assert qty(ex, m, UNCACHED, NOV1) == 80_000  # "80000.0"
    assert qty(ex, m, CACHED, NOV3) == 20_000
    assert qty(ex, m, OUTPUT) == 13_000
    assert not [r for r in ex.records if r.day == NOV2]  # the blank bucket row


def test_openai_dashboard_cost_csvs() -> None:
    ex = read("openai", "openai_dashboard_cost.csv")
    m = "gpt-4o-mini-2024-07-18"
    assert cost(ex, m, UNCACHED) == Decimal("0.012")
    assert cost(ex, m, CACHED) == Decimal("0.003")
    # The output row's line item was written without quotes around its comma.
    assert cost(ex, m, OUTPUT) == Decimal("0.0054")
    assert qty(ex, m, OUTPUT) == 9_000
    old = read("openai", "openai_dashboard_cost_2025-10.csv")  # no quantity columns
    assert cost(old, m) == Decimal("0.0258")
    assert all(r.quantity is None for r in old.records)


def test_non_usd_costs_are_refused(tmp_path: Path) -> None:
    text = (PROVIDERS / "openai_costs.json").read_text().replace('"usd"', '"eur"', 1)
    (tmp_path / "c.json").write_text(text)
    with pytest.raises(InputError, match=r"c\.json:data\[0\]\.results\[0\]\.amount\.currency"):
        read_exports([tmp_path / "c.json"], "openai")


# ------------------------------------------------------------------ Anthropic


def test_anthropic_usage_report() -> None:
    ex = read("anthropic", "anthropic_usage_report.json")
    m = "claude-haiku-4-5-20251001"
    assert qty(ex, m, UNCACHED, NOV1) == 410_000
    assert qty(ex, m, CACHED, NOV1) == 1_200_000
    assert qty(ex, m, CACHE_WRITE, NOV1) == 64_000  # 5m + 1h writes
    assert qty(ex, m, OUTPUT, NOV1) == 52_000


def test_anthropic_cost_report_amounts_are_cents() -> None:
    ex = read("anthropic", "anthropic_cost_report.json")
    m = "claude-haiku-4-5-20251001"
    assert cost(ex, m, UNCACHED) == Decimal("0.41")  # "41.0" cents
    assert cost(ex, m, CACHE_WRITE) == Decimal("0.083")  # 5m + 1h
    assert cost(ex, m, OUTPUT) == Decimal("0.26")
    # model null: the description names the model and the token kind.
    (sonnet,) = [r for r in ex.records if r.model == "Claude Sonnet 4"]
    assert (sonnet.unit, sonnet.cost) == (UNCACHED, Decimal("0.0045"))
    assert model_key(sonnet.model) == model_key("claude-sonnet-4-20250514")
    # Web search is not a token line of a model.
    assert cost(ex, "web_search") == Decimal("0.01")


def test_anthropic_console_token_csvs() -> None:
    new = read("anthropic", "anthropic_console_tokens.csv")
    old = read("anthropic", "anthropic_console_tokens_old.csv")
    m = "claude-haiku-4-5-20251001"
    for ex in (new, old):
        assert qty(ex, m, CACHE_WRITE, NOV1) == 64_000
        assert qty(ex, m, UNCACHED, NOV1) == 410_000
    assert qty(new, m, OUTPUT, NOV2) == 47_000  # "47000.0"


def test_anthropic_console_cost_csvs_are_dollars_with_display_names() -> None:
    ex = read("anthropic", "anthropic_console_cost.csv")
    assert cost(ex, "Claude Haiku 4.5", UNCACHED) == Decimal("0.41")
    assert cost(ex, "Claude Haiku 4.5", CACHE_WRITE) == Decimal("0.09")
    assert model_key("Claude 3.5 Sonnet 2024-10-22") in {
        model_key(r.model) for r in ex.records if r.model
    }
    assert cost(ex, "web_search (Claude Haiku 4.5)") == Decimal("0.02")
    # Two decimals printed: half a cent of rounding slack per line.
    assert all(r.ctol == Decimal("0.005") for r in ex.records)
    old = read("anthropic", "anthropic_console_cost_2024.csv")
    assert cost(old) == Decimal("0.67")


# ------------------------------------------------------------------ Deepgram


def test_deepgram_usage_breakdown_for_the_month_without_models() -> None:
    ex = read("deepgram", "deepgram_usage_breakdown_month.json")
    stt = [r for r in ex.records if r.unit == SECONDS]
    tts = [r for r in ex.records if r.unit == CHARACTERS]
    assert [(r.model, r.day, r.modality) for r in stt] == [(None, None, "stt")]
    assert stt[0].quantity == pytest.approx(41.2 * 3600)
    assert [(r.model, r.quantity, r.modality) for r in tts] == [(None, 1_840_000, "tts")]


def test_deepgram_usage_breakdown_daily_with_models() -> None:
    ex = read("deepgram", "deepgram_usage_breakdown_daily.json")
    assert qty(ex, "nova-3", SECONDS, NOV1) == pytest.approx(5_400)
    assert qty(ex, "nova-3", SECONDS, NOV2) == pytest.approx(900)
    assert qty(ex, "aura-2-thalia-en", CHARACTERS, NOV1) == 61_250


def test_deepgram_billing_breakdown() -> None:
    ex = read("deepgram", "deepgram_billing_breakdown.json")
    assert cost(ex, "nova-3") == Decimal("14.58")  # streaming::nova-3
    assert cost(ex, "aura-2") == Decimal("55.2")
    assert {r.day for r in ex.records} == {None}  # a monthly line


def test_deepgram_requests_name_uuid_models_from_usage_fields() -> None:
    ex = read("deepgram", "deepgram_requests.json", "deepgram_usage_fields.json")
    # The second request has no ?model= in its path; its UUID is named by the fields file.
    assert qty(ex, "nova-3", SECONDS, NOV1) == pytest.approx(0.06 * 3600)
    assert cost(ex, "nova-3") == Decimal("0.0231")
    assert any("1 failed request" in n for n in ex.notes)


# ------------------------------------------------------------------ ElevenLabs, Cartesia


def test_elevenlabs_character_stats_credits_by_default() -> None:
    ex = read("elevenlabs", "elevenlabs_character_stats.json")
    assert qty(ex, "eleven_flash_v2_5", CREDITS, NOV1) == 12_040  # time in ms, 01:30 start
    assert qty(ex, "eleven_flash_v2_5", CREDITS, NOV2) == 9_980
    assert qty(ex, "eleven_multilingual_v2", CREDITS, NOV3) == 125
    chars = read("elevenlabs", "elevenlabs_character_stats.json", metric="characters")
    assert qty(chars, "eleven_flash_v2_5", CHARACTERS) == 22_020


def test_elevenlabs_all_breakdown_over_weeks_is_period_level() -> None:
    ex = read("elevenlabs", "elevenlabs_character_stats_all.json")
    assert {(r.model, r.day) for r in ex.records} == {(None, None)}
    assert sum(r.quantity for r in ex.records) == 1_102


def test_cartesia_credits() -> None:
    daily = read("cartesia", "cartesia_credits.json")
    assert [(r.day, r.quantity) for r in daily.records] == [
        (NOV1, 18_250),
        (NOV2, 0),
        (NOV3, 9_400),
    ]
    assert all(r.model is None and r.unit == CREDITS for r in daily.records)
    total = read("cartesia", "cartesia_credits_total.json")
    assert [(r.day, r.quantity) for r in total.records] == [(None, 27_650)]


# ------------------------------------------------------------------ generic CSV


def test_generic_csv_converts_units_and_keeps_costs_exact() -> None:
    aai = read("assemblyai", "generic_assemblyai.csv")
    assert qty(aai, "universal-streaming", SECONDS, NOV1) == 2.5 * 3600
    assert qty(aai, "universal-streaming", SECONDS, NOV2) == 5_400
    assert cost(aai) == Decimal("0.600")
    groq = read("groq", "generic_groq.csv")
    assert qty(groq, "whisper-large-v3-turbo", SECONDS) == 600 * 60
    assert qty(groq, "llama-3.3-70b-versatile", OUTPUT) == 150_000


def test_generic_csv_invoice_lines_without_days_or_units() -> None:
    ex = read("livekit", "generic_livekit_invoice.csv")
    assert {r.day for r in ex.records} == {None}
    (fee,) = [r for r in ex.records if r.model == "agent session minutes"]
    assert (fee.unit, fee.quantity, fee.cost) == (None, None, Decimal("41.00"))
    assert qty(ex, "cartesia/sonic-2", CHARACTERS) == 9_800_000


def test_generic_csv_skips_and_counts_other_providers() -> None:
    ex = read("openai", "generic_groq.csv")
    assert ex.records == []
    assert any("skipped 3 row(s) for provider groq" in n for n in ex.notes)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("groq,m,2025-11-01,tokens,5,1", "row 2 column unit: `tokens` is ambiguous"),
        ("groq,m,2025-11-01,parsecs,5,1", "row 2 column unit: unknown unit 'parsecs'"),
        ("groq,m,2025-11-01,,5,1", "row 2 column unit: a quantity needs a unit"),
        ("groq,m,2025-11-01,output,five,1", "row 2 column quantity: expected a number"),
        ("groq,m,Nov 1,output,5,1", "row 2 column day: expected a date"),
        ("groq,m,2025-11-01,output,5", "row 2: 5 fields where the header has 6"),
    ],
)
def test_generic_csv_bad_cells(tmp_path: Path, row: str, message: str) -> None:
    f = tmp_path / "usage.csv"
    f.write_text("provider,model,day,unit,quantity,cost\n" + row + "\n")
    with pytest.raises(InputError) as err:
        read_exports([f], "groq")
    assert str(err.value) == f"{f}:{message}" or str(err.value).startswith(f"{f}:{message}")
    assert err.value.exit_code == 3


# ------------------------------------------------------------------ detection


def test_format_is_read_from_content_not_name(tmp_path: Path) -> None:
    for src, provider in (
        ("anthropic_cost_report.json", "anthropic"),
        ("openai_dashboard_cost.csv", "openai"),
        ("deepgram_billing_breakdown.json", "deepgram"),
    ):
        renamed = tmp_path / f"download-{provider}.txt"
        shutil.copy(PROVIDERS / src, renamed)
        assert read_exports([renamed], provider).records == read(provider, src).records


def test_a_file_of_another_provider_is_refused() -> None:
    with pytest.raises(
        InputError,
        match="Anthropic cost report export, which belongs to anthropic, but --provider is openai",
    ):
        read("openai", "anthropic_cost_report.json")


def test_folder_reads_every_export_and_skips_readmes(tmp_path: Path) -> None:
    shutil.copy(PROVIDERS / "anthropic_usage_report.json", tmp_path / "u.json")
    shutil.copy(PROVIDERS / "anthropic_cost_report.json", tmp_path / "c.json")
    (tmp_path / "README.md").write_text("# notes\n")
    ex = read_exports([tmp_path], "anthropic")
    assert sorted(f.fmt for f in ex.files) == ["Anthropic cost report", "Anthropic usage report"]


# ------------------------------------------------------------------ unreadable files


def _err(path: Path, provider: str = "openai") -> InputError:
    with pytest.raises(InputError) as err:
        read_exports([path], provider)
    assert err.value.exit_code == 3
    assert str(err.value).startswith(str(path))
    return err.value


def test_truncated_json(tmp_path: Path) -> None:
    f = tmp_path / "costs.json"
    cut = (PROVIDERS / "openai_costs.json").read_text()[:900]
    f.write_text(cut)
    e = _err(f)
    last_line = cut.count("\n") + 1
    assert f"costs.json:line {last_line} column " in str(e)
    assert "the file ends in the middle of a value; it looks truncated" in str(e)


def test_wrong_columns(tmp_path: Path) -> None:
    f = tmp_path / "usage.csv"
    f.write_text("date,what,how_much\n2025-11-01,tokens,5\n")
    e = _err(f)
    assert str(e) == (
        f"{f}:row 1 (header): unrecognised columns (date, what, how_much); expected a "
        "provider export or the generic CSV (provider,model,day,unit,quantity,cost)"
    )


def test_missing_required_column_of_a_known_format(tmp_path: Path) -> None:
    f = tmp_path / "tokens.csv"
    f.write_text("usage_date_utc,model_version,usage_input_tokens_no_cache\n2025-11-01,m,5\n")
    e = _err(f, "anthropic")
    assert "row 1 (header): missing column(s) usage_output_tokens" in str(e)


def test_non_utf8_bytes(tmp_path: Path) -> None:
    f = tmp_path / "cost.csv"
    f.write_bytes(b"provider,model,day,unit,quantity,cost\nopenai,caf\xe9,2025-11-01,output,5,1\n")
    e = _err(f)
    assert str(e) == (
        f"{f}:line 2: not UTF-8 text (byte 0xe9 at offset 48); re-save the export as UTF-8"
    )


def test_negative_quantity_in_json(tmp_path: Path) -> None:
    f = tmp_path / "usage.json"
    text = (PROVIDERS / "openai_usage_completions.json").read_text()
    f.write_text(text.replace('"output_tokens":4000', '"output_tokens":-4000'))
    e = _err(f)
    assert "data[2].results[0].output_tokens: negative quantity -4000" in str(e)


def test_negative_quantity_in_csv(tmp_path: Path) -> None:
    f = tmp_path / "usage.csv"
    text = (PROVIDERS / "openai_dashboard_usage.csv").read_text()
    f.write_text(text.replace(",9000.0,", ",-9000.0,"))
    e = _err(f)
    assert "row 2 column output_tokens: negative quantity '-9000.0'" in str(e)


def test_empty_and_unknown_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("  \n")
    assert str(_err(empty)) == f"{empty}: empty file"
    unknown = tmp_path / "other.json"
    unknown.write_text('{"hello": [1, 2]}')
    assert "not a provider export voicegw knows (top level: hello)" in str(_err(unknown))
    assert str(_err(tmp_path / "nope.json")) == f"{tmp_path / 'nope.json'}: no such file or folder"


@pytest.mark.parametrize("provider", ["anthropic", "cartesia", "deepgram", "elevenlabs", "openai"])
def test_a_page_with_no_buckets_means_no_usage(tmp_path, provider: str) -> None:
    """What an admin API answers for a range with nothing in it reads as no usage, for the
    provider asked about, not as an unknown format."""
    from voicegw_cli.reconcile.read import read_exports

    page = tmp_path / "page.json"
    page.write_text('{"data": [], "has_more": false, "next_page": null}')
    export = read_exports([page], provider)
    assert export.records == [] and "no usage" in export.notes[0]
    page.write_text('{"data": [], "has_more": true, "next_page": "x"}')  # not the end: no
    if provider != "openai":
        with pytest.raises(InputError, match="not a provider export"):
            read_exports([page], provider)
