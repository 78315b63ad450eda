"""Issue 16: the gaps found against the providers' published schemas, one test (or two)
per gap, each on a fixture in fixtures/providers/ built from that schema (sources in
fixtures/providers/README.md) and our items in a real store."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import item
from tests.test_reconcile_diff import PROVIDERS, at, run, store, stt, tts
from voicegw_cli.cli.app import app
from voicegw_cli.errors import InputError
from voicegw_cli.reconcile.diff import Settings
from voicegw_cli.reconcile.read import read_exports

# unit kinds and tiers as the report names them (JSON field names)
UNCACHED, CACHED, CACHE_WRITE = "uncached_input_tokens", "cached_input_tokens", "cache_write_tokens"
OUTPUT, AUDIO_IN, AUDIO_OUT = "output_tokens", "audio_input_tokens", "audio_output_tokens"
LONG_CONTEXT = "long context"
NOV1 = date(2025, 11, 1)
ONE_DAY = Settings(NOV1, NOV1)
THREE_DAYS = Settings(NOV1, date(2025, 11, 3))


def read(provider: str, *names: str):
    return read_exports([PROVIDERS / n for n in names], provider)


def rows_of(res) -> dict[str, dict]:
    return {r["model"]: r for r in res.rows}


def llm(hour: int, model: str, uncached: int, cached: int, write: int, output: int, **kw):
    return item(
        timestamp=at(1, hour),
        model=model,
        input_tokens=uncached + cached + write,
        cached_input_tokens=cached,
        cache_write_tokens=write,
        output_tokens=output,
        **kw,
    )


# ------------------------------------------------------------------ 1. `whisper`


def test_gap01_whisper_cost_line_is_whisper_1(config, tmp_path) -> None:
    store(
        config,
        tmp_path,
        [stt(1, 5400.0, model="whisper-1", provider="openai", cost_usd=Decimal("0.54"))],
    )
    res = run(
        config,
        "openai",
        "openai_usage_audio_transcriptions.json",
        "openai_costs_line_items.json",
        settings=ONE_DAY,
    )
    rows = rows_of(res)
    assert "whisper" not in rows  # no phantom provider-only row
    w = rows["whisper-1"]
    assert w["provider_cost_usd"] == Decimal("0.54") and not w["flagged"]
    assert w["names"] == ["whisper", "whisper-1"]


# ------------------------------------------------- 2, 3. long context, cache writes

GPT54 = "gpt-5.4-2026-03-05"


def test_gap02_long_context_lines_stay_on_their_model() -> None:
    ex = read("openai", "openai_costs_line_items.json")
    models = {r.model for r in ex.records if r.model and r.model.startswith("gpt-5.4")}
    assert models == {GPT54}
    long = {(r.unit, r.quantity, r.cost) for r in ex.records if r.tier == LONG_CONTEXT}
    assert long == {(UNCACHED, 300_000, Decimal("1.5")), (OUTPUT, 4_000, Decimal("0.09"))}
    (priority,) = [r for r in ex.records if r.tier == "priority"]
    assert (priority.model, priority.unit, priority.quantity) == (GPT54, OUTPUT, 1_000)


def test_gap03_cache_writes_plural() -> None:
    ex = read("openai", "openai_costs_line_items.json")
    (write,) = [r for r in ex.records if r.unit == CACHE_WRITE]
    assert (write.model, write.quantity, write.cost) == (GPT54, 20_000, Decimal("0.0625"))


def _gpt54_items() -> list:
    """Our day of gpt-5.4, priced at the standard rates only ($2.50/$0.25/$3.125/$15 per
    1M), in five hours, so the fit recovers them: 500k uncached, 100k cached, 20k cache
    writes, 25k output — what the bill counts over every tier."""
    m = Decimal("0.000001")
    split = [
        (100_000, 20_000, 4_000, 5_000),
        (80_000, 30_000, 0, 4_000),
        (120_000, 10_000, 6_000, 7_000),
        (60_000, 25_000, 5_000, 3_000),
        (140_000, 15_000, 5_000, 6_000),
    ]
    out = []
    for hour, (u, c, w, o) in enumerate(split, start=9):
        cost = (Decimal("2.5") * u + Decimal("0.25") * c + Decimal("3.125") * w + 15 * o) * m
        out.append(llm(hour, "gpt-5.4", u, c, w, o, cost_usd=cost))
    return out


def test_gap02_long_context_is_its_own_tier_on_the_row(config, tmp_path) -> None:
    store(config, tmp_path, _gpt54_items())
    res = run(config, "openai", "openai_costs_line_items.json", settings=ONE_DAY)
    rows = rows_of(res)
    assert not any(name.startswith(GPT54 + ",") for name in rows)
    row = rows["gpt-5.4"]
    assert (
        row["ours_units"]
        == row["provider_units"]
        == {
            UNCACHED: 500_000,
            CACHED: 100_000,
            CACHE_WRITE: 20_000,
            OUTPUT: 25_000,
        }
    )
    assert row["cause"] == "rate"
    assert row["tiers"][LONG_CONTEXT] == {
        "units": {UNCACHED: 300_000, OUTPUT: 4_000},
        "cost_usd": Decimal("1.59"),
    }
    lines = {(x["unit"], x["tier"]): x for x in row["rates"]}
    assert lines[(UNCACHED, None)]["invoice_usd_per_unit"] == "0.0000025"
    assert not lines[(UNCACHED, None)]["differs"]
    assert not lines[(CACHE_WRITE, None)]["differs"]  # the cache-writes line, priced apart
    lc = lines[(UNCACHED, LONG_CONTEXT)]
    assert (lc["invoice_usd_per_unit"], lc["ours_usd_per_unit"], lc["differs"]) == (
        "0.000005",
        "0.0000025",
        True,
    )
    assert (
        "uncached_input_tokens (long context): ours $2.50/1M tokens (genai-prices@test, "
        "no long context price), invoice implies $5.00/1M tokens" in row["detail"]
    )
    assert lines[(OUTPUT, "priority")]["invoice_usd_per_unit"] == "0.00003"
    from voicegw_cli.reconcile.report import to_markdown

    md = to_markdown(res)
    assert "- gpt-5.4: of which long context: 300,000 uncached in, 4,000 output ($1.5900)" in md
    assert "billed at its long context and priority price" in row["check"]


# ------------------------------------------------------------------ 4. older-spec pages


def _realtime(model: str, cost: str, *, audio_in: int = 12_000, source: str = "override"):
    """A realtime session day: 4,000 text + 12,000 audio input tokens, of which 1,000 text
    and 2,000 audio cached; 1,000 text + 6,000 audio output tokens."""
    return item(
        timestamp=at(1, 15),
        modality="realtime",
        model=model,
        input_tokens=16_000,
        cached_input_tokens=3_000,
        audio_input_tokens=audio_in,
        output_tokens=7_000,
        audio_output_tokens=6_000,
        metadata={"input_cached_audio_tokens": 2_000},
        cost_usd=Decimal(cost),
        pricing_source=source,
    )


def test_gap04_older_spec_page_is_read_by_its_own_rules() -> None:
    ex = read("openai", "openai_usage_completions_2025.json")
    m = "gpt-4o-realtime-preview-2024-12-17"

    def q(unit: str, model: str = m) -> float:
        return sum(r.quantity or 0 for r in ex.records if r.model == model and r.unit == unit)

    # input_tokens 4,000 is text only: uncached = 3,000 text + 12,000 audio
    assert (q(UNCACHED), q(CACHED), q(OUTPUT)) == (15_000, 1_000, 7_000)
    assert (q(AUDIO_IN), q(AUDIO_OUT)) == (12_000, 6_000)
    assert q(UNCACHED, "gpt-4o-mini-2024-07-18") == 80_000
    assert any("schema before 2026-07-15" in n for n in ex.notes)


def test_gap04_older_spec_realtime_rows_agree(config, tmp_path) -> None:
    store(
        config,
        tmp_path,
        [
            _realtime("gpt-4o-realtime-preview", "0.9701"),
            llm(10, "gpt-4o-mini", 80_000, 40_000, 0, 9_000, cost_usd=Decimal("0.0204")),
        ],
    )
    res = run(config, "openai", "openai_usage_completions_2025.json", settings=ONE_DAY)
    assert res.flagged == [], [r["detail"] for r in res.flagged]
    row = rows_of(res)["gpt-4o-realtime-preview"]
    assert row["ours_units"][AUDIO_IN] == row["provider_units"][AUDIO_IN] == 12_000
    assert row["ours_units"][OUTPUT] == row["provider_units"][OUTPUT] == 7_000


# ------------------------------------------------------------------ 5. realtime text/audio split

REALTIME = ("openai_usage_completions_realtime.json", "openai_costs_realtime.json")


def test_gap05_text_audio_split_is_its_own_cause(config, tmp_path) -> None:
    # The hook reported 3,000 of the audio input tokens as text.
    store(config, tmp_path, [_realtime("gpt-realtime", "0.6492", audio_in=9_000)])
    res = run(config, "openai", *REALTIME, settings=ONE_DAY)
    (row,) = res.rows
    assert row["cause"] == "split" and row["causes"] == ["split"]
    assert row["ours_units"][UNCACHED] == row["provider_units"][UNCACHED] == 13_000
    assert (row["ours_units"][AUDIO_IN], row["provider_units"][AUDIO_IN]) == (9_000, 12_000)
    assert row["detail"].startswith("totals agree, text/audio split differs: audio_input_tokens")
    assert "rates" not in row


def test_gap05_rate_row_names_the_source_our_items_give(config, tmp_path) -> None:
    # Split right, but our override priced audio input at $40/1M instead of $32/1M; the
    # price list (genai-prices) knows gpt-realtime, but our items were not priced by it.
    store(config, tmp_path, [_realtime("gpt-realtime", "0.8132")])
    export = read_exports([PROVIDERS / f for f in REALTIME], "openai")
    from voicegw_cli.reconcile import compare
    from voicegw_cli.store import Store

    with Store.open(config) as s:
        res = compare(s.conn, export, ONE_DAY, config=config)
    (row,) = res.rows
    assert row["cause"] == "rate"
    assert "genai-prices" not in row["detail"]
    assert "(our prices from override)" in row["detail"]
    assert {x["ours_source"] for x in row["rates"]} == {"override"}
    audio = next(x for x in row["rates"] if x["unit"] == "uncached_audio_input_tokens")
    assert audio["invoice_usd_per_unit"] == "0.000032"  # the audio line's own price


# ------------------------------------------------------------------ 6. the empty dashboard CSV


def test_gap06_empty_dashboard_csv_means_no_usage(config, tmp_path) -> None:
    ex = read("openai", "openai_dashboard_empty.csv")
    assert ex.records == []
    assert any("OpenAI reported no usage (2025-11-01..2025-11-03)" in n for n in ex.notes)
    store(config, tmp_path, [llm(10, "gpt-4o-mini", 1_000, 0, 0, 100)])
    res = run(config, "openai", "openai_dashboard_empty.csv", settings=THREE_DAYS)
    (row,) = res.rows
    assert (row["model"], row["cause"]) == ("gpt-4o-mini", "coverage")
    cli = CliRunner().invoke(
        app,
        [
            "--config",
            str(config.path),
            "reconcile",
            "--provider",
            "openai",
            "--provider-usage-file",
            str(PROVIDERS / "openai_dashboard_empty.csv"),
            "--start",
            "2025-11-01",
            "--end",
            "2025-11-03",
        ],
    )
    assert cli.exit_code == 0, cli.output


# ------------------------------------------------- 7. console CSV without cache columns


def test_gap07_console_tokens_without_cache_columns(config, tmp_path) -> None:
    ex = read("anthropic", "anthropic_console_tokens_nocache.csv")
    m = "claude-haiku-4-5-20251001"
    got = {(r.day.day, r.unit): r.quantity for r in ex.records if r.model == m}
    assert got[(1, UNCACHED)] == 410_000 and got[(2, OUTPUT)] == 47_000
    assert got[(1, CACHED)] == 0 and got[(1, CACHE_WRITE)] == 0
    assert any("read as no cache reads or writes" in n for n in ex.notes)
    store(
        config,
        tmp_path,
        [
            llm(10, "claude-haiku-4-5", 410_000, 0, 0, 52_000, provider="anthropic"),
            item(
                timestamp=at(2),
                provider="anthropic",
                model="claude-haiku-4-5",
                input_tokens=380_000,
                output_tokens=47_000,
            ),
        ],
    )
    res = run(
        config,
        "anthropic",
        "anthropic_console_tokens_nocache.csv",
        settings=Settings(NOV1, date(2025, 11, 2)),
    )
    assert res.flagged == [] and len(res.rows) == 1


# ------------------------------------------------- 8. costs grouped by project only


def _whisper_and_tts() -> list:
    return [
        stt(1, 5400.0, model="whisper-1", provider="openai", cost_usd=Decimal("0.54")),
        tts(1, 48_210, "tts-1", "openai", cost_usd=Decimal("0.72315")),
    ]


def test_gap08_costs_without_line_items_are_an_all_model_total(config, tmp_path) -> None:
    store(config, tmp_path, _whisper_and_tts())
    res = run(config, "openai", "openai_costs_by_project.json", settings=ONE_DAY)
    (row,) = res.rows
    assert row["model"] == "(all models)" and not row["flagged"]
    assert row["names"] == ["tts-1", "whisper-1"]
    assert row["ours_cost_usd"] == row["provider_cost_usd"] == Decimal("1.26315")


def test_gap08_the_total_covers_models_the_usage_files_name(config, tmp_path) -> None:
    store(config, tmp_path, _whisper_and_tts())
    res = run(
        config,
        "openai",
        "openai_usage_audio_transcriptions.json",
        "openai_costs_by_project.json",
        settings=ONE_DAY,
    )
    rows = rows_of(res)
    assert set(rows) == {"whisper-1", "(all models)"}
    assert not rows["whisper-1"]["flagged"] and rows["whisper-1"]["provider_cost_usd"] is None
    total = rows["(all models)"]
    assert total["all_models"] is True and not total["flagged"]
    assert total["ours_cost_usd"] == Decimal("1.26315") == total["provider_cost_usd"]
    assert res.totals["ours_cost_usd"] == Decimal("1.26315")  # counted once
    assert res.totals["ours_items"] == 2


# ------------------------------------------------------------------ 9. has_more with no next page


def _mini_days() -> list:
    return [
        llm(10, "gpt-4o-mini", 80_000, 40_000, 0, 9_000),
        item(
            timestamp=at(2),
            input_tokens=75_000,
            cached_input_tokens=25_000,
            output_tokens=5_000,
        ),
        item(timestamp=at(3), input_tokens=60_000, cached_input_tokens=20_000, output_tokens=4_000),
    ]


def test_gap09_a_cut_short_page_chain_is_named(config, tmp_path) -> None:
    f = PROVIDERS / "openai_usage_completions_has_more.json"
    ex = read("openai", f.name)
    (cut,) = ex.truncated
    assert (cut.path, cut.next_page) == (str(f), "page_AAAAAGkGFQA")
    assert any(f"{f} ended with has_more: true" in n for n in ex.notes)
    store(config, tmp_path, _mini_days())
    by_day = run(config, "openai", f.name, settings=Settings(NOV1, date(2025, 11, 3), by="day"))
    (row,) = by_day.flagged
    assert (row["day"], row["cause"], row["truncated_file"]) == ("2025-11-03", "coverage", str(f))
    assert "no provider figures after 2025-11-03 00:00 UTC" in row["detail"]
    assert "has_more: true (next_page page_AAAAAGkGFQA)" in row["detail"]
    (whole,) = run(config, "openai", f.name, settings=THREE_DAYS).rows
    assert (whole["cause"], whole["truncated_file"]) == ("coverage", str(f))


def test_gap09_a_complete_page_chain_is_not_named() -> None:
    ex = read("openai", "openai_usage_pages")
    assert ex.truncated == []
    assert not any("has_more" in n for n in ex.notes)
    assert read("openai", "openai_usage_pages/page_1.json").truncated  # alone, it is cut


# ------------------------------------------------------------------ 11. provider errors


@pytest.mark.parametrize(
    ("name", "provider", "said"),
    [
        (
            "openai_error.json",
            "openai",
            "OpenAI said: Incorrect API key provided: sk-admin-****",
        ),
        ("openai_error.json", "openai", "(invalid_api_key)"),
        (
            "anthropic_error.json",
            "anthropic",
            "Anthropic said: This endpoint requires an Admin API key (sk-ant-admin...). "
            "(permission_error)",
        ),
        ("deepgram_error.json", "deepgram", "Deepgram said: Invalid credentials. (INVALID_AUTH)"),
        (
            "elevenlabs_error.json",
            "elevenlabs",
            "ElevenLabs said: Invalid API key (invalid_api_key)",
        ),
        (
            "elevenlabs_validation_error.json",
            "elevenlabs",
            "ElevenLabs said: query.start_unix: field required (validation error)",
        ),
        (
            "cartesia_error.json",
            "cartesia",
            "Cartesia said: Unauthorized: Admin API key required for usage endpoints. "
            "(unauthorized)",
        ),
        ("gateway_502.html", "openai", 'an HTML page, not an export: "502 Bad Gateway"'),
    ],
)
def test_gap11_a_saved_error_is_quoted(config, name: str, provider: str, said: str) -> None:
    path = PROVIDERS / name
    with pytest.raises(InputError) as err:
        read_exports([path], provider)
    assert said in str(err.value) and str(err.value).startswith(f"{path}:")
    res = CliRunner().invoke(
        app,
        [
            "--config",
            str(config.path),
            "reconcile",
            "--provider",
            provider,
            "--provider-usage-file",
            str(path),
            "--start",
            "2025-11-01",
            "--end",
            "2025-11-30",
        ],
    )
    assert res.exit_code == 3
    (line,) = res.stderr.strip().splitlines()
    assert said in line and "Traceback" not in res.output


# ------------------------------------------------------------------ 12. batch


def test_gap12_openai_batch_usage_is_its_own_row(config, tmp_path) -> None:
    store(config, tmp_path, [llm(10, "gpt-4o-mini", 80_000, 40_000, 0, 9_000)])
    res = run(config, "openai", "openai_usage_completions_batch.json", settings=ONE_DAY)
    rows = rows_of(res)
    assert set(rows) == {"gpt-4o-mini", "gpt-4o-mini-2024-07-18 (batch)"}
    assert not rows["gpt-4o-mini"]["flagged"]
    batch = rows["gpt-4o-mini-2024-07-18 (batch)"]
    assert batch["cause"] == "coverage" and batch["provider_units"][UNCACHED] == 2_000_000
    assert "billed as batch" in batch["detail"]
    assert any(n.startswith("kept batch usage apart") for n in res.notes)


def test_gap12_anthropic_batch_costs_are_their_own_row(config, tmp_path) -> None:
    ex = read("anthropic", "anthropic_cost_report_batch.json")
    tiers = {(r.model, r.tier, r.cost) for r in ex.records}
    assert ("claude-haiku-4-5-20251001", "batch", Decimal("0.5")) in tiers
    assert ("claude-sonnet-4-5-20250929", LONG_CONTEXT, Decimal("0.6")) in tiers
    store(
        config,
        tmp_path,
        [
            llm(
                10,
                "claude-haiku-4-5",
                410_000,
                0,
                0,
                52_000,
                provider="anthropic",
                cost_usd=Decimal("0.67"),
            )
        ],
    )
    res = run(config, "anthropic", "anthropic_cost_report_batch.json", settings=ONE_DAY)
    rows = rows_of(res)
    assert rows["claude-haiku-4-5"]["provider_cost_usd"] == Decimal("0.67")
    assert not rows["claude-haiku-4-5"]["flagged"]
    assert rows["claude-haiku-4-5-20251001 (batch)"]["provider_cost_usd"] == Decimal("0.75")


def test_fixtures_of_this_issue_are_listed_in_the_readme() -> None:
    readme = (PROVIDERS / "README.md").read_text()
    for name in (
        "openai_costs_line_items.json",
        "openai_usage_completions_2025.json",
        "openai_usage_completions_realtime.json",
        "openai_costs_realtime.json",
        "openai_dashboard_empty.csv",
        "anthropic_console_tokens_nocache.csv",
        "openai_costs_by_project.json",
        "openai_usage_completions_has_more.json",
        "openai_usage_completions_batch.json",
        "anthropic_cost_report_batch.json",
        "openai_error.json",
        "anthropic_error.json",
        "deepgram_error.json",
        "elevenlabs_error.json",
        "elevenlabs_validation_error.json",
        "cartesia_error.json",
        "gateway_502.html",
        "ours_openai_2025-11-01.csv",
    ):
        assert f"`{name}`" in readme, name
        assert (PROVIDERS / name).is_file()
    assert Path(PROVIDERS).is_dir()


def test_the_documented_day_of_openai_fixtures(config) -> None:
    """docs/reconcile.md's tiers example: our items of fixtures/providers/ ingested, five
    OpenAI files at once; every gap's row where the docs say it is."""
    from tests.test_reconcile_scenarios import load_items

    load_items(config, PROVIDERS / "ours_openai_2025-11-01.csv")
    res = run(
        config,
        "openai",
        "openai_usage_audio_transcriptions.json",
        "openai_costs_line_items.json",
        "openai_usage_completions_realtime.json",
        "openai_costs_realtime.json",
        "openai_usage_completions_batch.json",
        settings=ONE_DAY,
    )
    assert {r["model"]: r["cause"] for r in res.rows} == {
        "gpt-4o-mini": None,
        "gpt-4o-mini-2024-07-18 (batch)": "coverage",
        "gpt-5.4": "rate",
        "gpt-realtime": "split",
        "web search tool calls": "coverage",
        "whisper-1": None,
    }
