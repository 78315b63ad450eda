"""`voicegw prices`: which rates price a model, and whether the STT/TTS catalog is fresh."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import typer

from voicegw_cli import clock
from voicegw_cli.cli.output import Format, FormatOpt

app = typer.Typer(
    help="Show the rates voicegw prices a model with, and check the STT/TTS catalog's age.",
    no_args_is_help=True,
)


@app.command()
def show(
    model_id: Annotated[
        str,
        typer.Argument(
            metavar="PROVIDER/MODEL",
            help="Like openai/gpt-4o-mini, deepgram/nova-3, livekit/cartesia/sonic-3.",
        ),
    ],
    at: Annotated[
        str | None,
        typer.Option("--at", help="UTC date or date-time the prices are for (default: now)."),
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Print every rate that can price PROVIDER/MODEL, in the order they win.

    Overrides from voicegw.yaml come first, then the dated catalog, then genai-prices.
    Exits 1 (with close matches) when nothing prices the model.
    """
    from voicegw_cli.cli.context import get_config
    from voicegw_cli.cli.output import emit
    from voicegw_cli.pricing import Pricer, split_model_id

    try:
        provider, model = split_model_id(model_id)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="PROVIDER/MODEL") from None
    when = _parse_when(at)
    pricer = Pricer(get_config().pricing_overrides or None)
    rates = pricer.rates_for(provider, model, when)
    if not rates:
        close = _close_matches(pricer, provider, model)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        typer.echo(
            f"Error: no price known for {provider}/{model} at {when:%Y-%m-%d}{hint} "
            "(add a pricing.overrides entry in voicegw.yaml for a custom model)",
            err=True,
        )
        raise typer.Exit(1)
    rows = []
    for slot, rate in rates:
        rows.append(_rate_row(slot, rate))
        for threshold, tier in rate.tiers:
            rows.append(_rate_row(f"{slot} (input > {threshold:,} tokens)", tier))
    if fmt is not Format.table:
        emit(
            rows,
            fmt=fmt,
            payload={"model": f"{provider}/{model}", "at": when.isoformat(), "timezone": "UTC"}
            if fmt is Format.json
            else None,
            columns=list(rows[0]),
        )
        return
    emit(
        rows,
        fmt=fmt,
        title=f"Rates for {provider}/{model} at {when:%Y-%m-%d %H:%M} UTC (first match wins)",
        columns=["slot", "pricing_source", "prices", "period", "billing", "note"],
        cells={
            "prices": _prices_text,
            "period": _period_text,
            "billing": _billing_text,
            "note": lambda r: r["note"] or "",
        },
    )


@app.command()
def check(
    max_age_days: Annotated[
        int | None,
        typer.Option(
            "--max-age-days",
            min=0,
            show_default=False,
            help="Fail when a price in force was reviewed longer ago (default: 60).",
        ),
    ] = None,
    today: Annotated[
        str | None,
        typer.Option(
            "--today",
            help="The date to measure age from, YYYY-MM-DD (default: today, UTC). Leave it "
            "unset in CI, so the build fails once an entry passes its age.",
        ),
    ] = None,
    fail_on_unverified: Annotated[
        bool,
        typer.Option(
            "--fail-on-unverified", help="Also exit 1 when a price in force is unverified."
        ),
    ] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Exit 1 when a catalog price in force was last reviewed more than --max-age-days ago.

    Lists stale and unverified prices (unverified ones fail only with --fail-on-unverified).
    Superseded price periods are history and are not checked. `voicegw status` reports the
    same counts.
    """
    from voicegw_cli.cli.output import emit, note
    from voicegw_cli.pricing.catalog import MAX_AGE_DAYS, catalog_health

    if max_age_days is None:
        max_age_days = MAX_AGE_DAYS
    health = catalog_health(_parse_day(today), max_age_days)
    day = health.today
    stale = set(health.stale)
    rows = []
    for e in health.needing_attention():
        row = e.as_row(day)
        problems = (["stale"] if e in stale else []) + ([] if e.verified else ["unverified"])
        rows.append(
            {**{c: row[c] for c in _CHECK_COLUMNS if c in row}, "problem": ", ".join(problems)}
        )
    columns = [*_CHECK_COLUMNS, "problem"]
    failed = bool(health.stale) or (fail_on_unverified and bool(health.unverified))
    summary = {**health.summary(), "ok": not failed}
    if fmt is Format.json:
        emit(rows, fmt=fmt, columns=columns, payload=summary)
    elif fmt is Format.csv:
        emit(rows, fmt=fmt, columns=columns)
    elif rows:
        emit(
            [
                {
                    "problem": r["problem"],
                    "provider": r["provider"],
                    "model": r["model"] + (f" ({r['variant']})" if r["variant"] else ""),
                    "rate": r["rate"],
                    "age_days": r["age_days"],
                }
                for r in rows
            ],
            fmt=fmt,
            title=f"Catalog prices in force on {day} that need attention "
            f"(stale: reviewed more than {max_age_days} days earlier)",
        )
    counts = (
        f"{len(health.in_force)} catalog prices in force on {day}: {len(health.stale)} reviewed "
        f"more than {max_age_days} days earlier, {len(health.unverified)} unverified"
    )
    if failed:
        note(
            f"{counts}. Re-check them at their source and update "
            "voicegw_cli/pricing/catalog.json (or set pricing.overrides)."
        )
        raise typer.Exit(1)
    if fmt is Format.table:
        typer.echo(f"{counts}: ok.")


_CHECK_COLUMNS = (
    "provider",
    "model",
    "variant",
    "rate",
    "effective_from",
    "pricing_source_date",
    "age_days",
    "confidence",
    "source_url",
)


# ------------------------------------------------------------------------- helpers


def _parse_when(text: str | None) -> datetime:
    if not text:
        return clock.now()
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"expected YYYY-MM-DD or an ISO date-time: {text!r}", param_hint="--at"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _parse_day(text: str | None) -> date:
    if not text:
        return clock.now().date()
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(f"expected YYYY-MM-DD: {text!r}", param_hint="--today") from None


_TOKEN_LABELS = (
    ("input", "input"),
    ("cached_input", "cached input"),
    ("cache_write", "cache write"),
    ("output", "output"),
    ("reasoning", "reasoning"),
    ("audio_input", "audio input"),
    ("cached_audio_input", "cached audio input"),
    ("audio_output", "audio output"),
)


def _rate_row(slot: str, rate: Any) -> dict[str, Any]:
    """One rate as a row; every price is a plain decimal string (`format_rate`), the same
    in the table, JSON and CSV."""
    from voicegw_cli.pricing.rates import format_rate

    row: dict[str, Any] = {
        "slot": slot,
        "pricing_source": rate.source,
        "provider": rate.provider,
        "model": rate.model,
    }
    for attr, _label in _TOKEN_LABELS:
        row[f"{attr}_per_mtok"] = format_rate(getattr(rate, attr))
    row["per_second"] = format_rate(rate.per_second)
    row["per_minute"] = format_rate(rate.per_minute)
    row["per_1m_characters"] = (
        format_rate(rate.per_character * 1_000_000) if rate.per_character is not None else None
    )
    row["billing_increment_seconds"] = format_rate(rate.billing_increment_seconds)
    row["minimum_seconds"] = format_rate(rate.minimum_seconds)
    row["rounding"] = rate.rounding if rate.billing_increment_seconds else None
    row["valid_from"] = rate.valid_from
    row["valid_to"] = rate.valid_to
    row["condition"] = rate.condition
    row["matched_model"] = rate.matched_model
    row["not_applied"] = list(rate.not_applied)
    row["note"] = rate.note
    return row


def _prices_text(row: dict[str, Any]) -> str:
    parts = [
        f"{label} ${row[f'{attr}_per_mtok']}/1M tok"
        for attr, label in _TOKEN_LABELS
        if row[f"{attr}_per_mtok"] is not None
    ]
    if row["per_minute"] is not None:
        parts.append(f"${row['per_minute']}/min audio")
    if row["per_1m_characters"] is not None:
        parts.append(f"${row['per_1m_characters']}/1M chars")
    if row["not_applied"]:
        parts.append(f"(not applied: {', '.join(row['not_applied'])})")
    return "\n".join(parts)


def _period_text(row: dict[str, Any]) -> str:
    lo, hi = row["valid_from"], row["valid_to"]
    text = f"{lo or '…'} → {hi or '…'}" if (lo or hi) else "always"
    return f"{text}\n{row['condition']}" if row["condition"] else text


def _billing_text(row: dict[str, Any]) -> str:
    parts = []
    if row["billing_increment_seconds"]:
        parts.append(f"{row['rounding']} to {row['billing_increment_seconds']} s")
    if row["minimum_seconds"]:
        parts.append(f"min {row['minimum_seconds']} s")
    return ", ".join(parts)


def _close_matches(pricer: Any, provider: str, model: str) -> list[str]:
    import difflib

    from voicegw_cli.pricing.catalog import load_catalog
    from voicegw_cli.pricing.llm import genai_models, genai_provider_ids

    known = set(load_catalog().models())
    known.update(f"{p}/{m}" for p, m in (k.split("/", 1) for k in pricer.override_keys()))
    providers = [provider] if provider in genai_provider_ids() else genai_provider_ids()
    for p in providers:
        known.update(f"{p}/{m}" for m in genai_models(p))
    same = sorted(k for k in known if k.startswith(provider + "/"))
    pool = same or sorted(known)
    target = f"{provider}/{model}"
    matches = difflib.get_close_matches(target.lower(), [k.lower() for k in pool], n=4, cutoff=0.6)
    lookup = {k.lower(): k for k in pool}
    return [lookup[m] for m in matches]
