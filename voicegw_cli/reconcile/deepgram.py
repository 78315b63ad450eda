"""Deepgram: `usage/breakdown`, `billing/breakdown`, `requests` (and the plain `usage`
summary), plus `usage/fields` to name models that other files give as UUIDs.

Quirks handled: every measure is a float (`hours`, `tts_characters`, even `requests`);
audio is metered in hours and compared in seconds; a result whose `grouping` spans the
whole period (no `resolution` per day) is compared over the period, not put on a day;
`grouping.models` may be null (the figures then cover every model of that endpoint),
names or UUIDs; billing line items embed the model (`streaming::nova-3`); a request's
`details.usd` is present only for non-contract projects; failed requests carry no details.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from voicegw_cli.reconcile.base import (
    CHARACTERS,
    COST,
    OUTPUT,
    SECONDS,
    UNCACHED,
    USAGE,
    ReadResult,
    Rec,
    Source,
    half_ulp,
    parse_instant,
    to_decimal,
    to_quantity,
)
from voicegw_cli.reconcile.pages import ReadContext

PROVIDER = "deepgram"
_ENDPOINT_MODALITY = {"listen": "stt", "speak": "tts", "agent": "realtime", "read": "llm"}


def detect_json(docs: list[Any]) -> str | None:
    doc = docs[0] if docs else None
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("requests"), list) and "page" in doc:
        return "Deepgram requests"
    if isinstance(doc.get("models"), list) and (
        "processing_methods" in doc or "features" in doc or "languages" in doc
    ):
        return "Deepgram usage fields"
    results = doc.get("results")
    if not isinstance(results, list) or "resolution" not in doc:
        return None
    sample = next((r for r in results if isinstance(r, dict)), None)
    if sample is None:
        return "Deepgram usage/billing breakdown (empty)"
    if "dollars" in sample:
        return "Deepgram billing breakdown"
    if "grouping" in sample:
        return "Deepgram usage breakdown"
    if "hours" in sample:
        return "Deepgram usage summary"
    return None


def _span(src: Source, obj: dict[str, Any], where: str) -> date | None:
    """A result's day, or None when its start..end covers more than one day.

    Deepgram dates are inclusive `YYYY-MM-DD` (a one-day bucket may also end on the
    next day); date-times are accepted too."""
    start_raw, end_raw = obj.get("start"), obj.get("end")
    if not start_raw:
        return None
    start = parse_instant(src, start_raw, f"{where}.start").date()
    if not end_raw:
        return start
    end = parse_instant(src, end_raw, f"{where}.end").date()
    return start if end - start <= timedelta(days=1) else None


def _day(
    src: Source, doc: dict[str, Any], r: dict[str, Any], grouping: dict[str, Any], where: str
) -> date | None:
    """The result's own span: its grouping's, else its own, else the whole response's."""
    if grouping.get("start"):
        return _span(src, grouping, f"{where}.grouping")
    if r.get("start"):
        return _span(src, r, where)
    return _span(src, doc, "response")


def _model_of(models: Any, ctx: ReadContext) -> str | None:
    if isinstance(models, list) and models:
        names = sorted({ctx.model_names.get(str(m), str(m)) for m in models if m})
        return "+".join(names) if names else None
    if isinstance(models, str) and models:
        return ctx.model_names.get(models, models)
    return None


def _q(src: Source, r: dict[str, Any], key: str, where: str, factor: float = 1.0):
    value = r.get(key)
    if value in (None, ""):
        return None
    qty, tol = to_quantity(src, value, f"{where}.{key}")
    return qty * factor, tol * factor


def read_usage(src: Source, docs: list[Any], ctx: ReadContext, fmt: str) -> ReadResult:
    out = ReadResult(src.name, fmt, PROVIDER)
    for d, doc in enumerate(docs):
        for i, r in enumerate(doc.get("results") or []):
            where = f"results[{i}]" if len(docs) == 1 else f"page {d + 1} results[{i}]"
            if not isinstance(r, dict):
                raise src.error(where, "expected an object")
            grouping = r.get("grouping") if isinstance(r.get("grouping"), dict) else {}
            day = _day(src, doc, r, grouping, where)
            model = _model_of(grouping.get("models"), ctx)
            endpoint = str(grouping.get("endpoint") or "").lower() or None
            measures = (
                ("hours", SECONDS, "stt", 3600.0),
                ("tts_characters", CHARACTERS, "tts", 1.0),
                ("agent_hours", SECONDS, "realtime", 3600.0),
                ("tokens_in", UNCACHED, "llm", 1.0),
                ("tokens_out", OUTPUT, "llm", 1.0),
            )
            for key, unit, modality, factor in measures:
                got = _q(src, r, key, where, factor)
                if got is None:
                    continue
                relevant = endpoint is None or _ENDPOINT_MODALITY.get(endpoint) == modality
                if endpoint is None and got[0] == 0:
                    continue  # ungrouped: only the measures that were used
                if not relevant:
                    continue
                out.records.append(
                    Rec(model, day, unit, got[0], None, USAGE, modality=modality, qtol=got[1])
                )
    return out


def read_billing(src: Source, docs: list[Any], ctx: ReadContext, fmt: str) -> ReadResult:
    out = ReadResult(src.name, fmt, PROVIDER)
    for d, doc in enumerate(docs):
        for i, r in enumerate(doc.get("results") or []):
            where = f"results[{i}]" if len(docs) == 1 else f"page {d + 1} results[{i}]"
            if not isinstance(r, dict):
                raise src.error(where, "expected an object")
            dollars = to_decimal(src, r.get("dollars"), f"{where}.dollars")
            grouping = r.get("grouping") if isinstance(r.get("grouping"), dict) else {}
            day = _day(src, doc, r, grouping, where)
            line = str(grouping.get("line_item") or "").strip()
            method, _, name = line.rpartition("::")
            modality = "tts" if name.lower().startswith("aura") or method == "tts" else "stt"
            # no quantity, but the unit a line prices, so the invoice's rate can be derived
            # from the usage export's figures
            out.records.append(
                Rec(
                    name or None,
                    day,
                    (CHARACTERS if modality == "tts" else SECONDS) if name else None,
                    None,
                    dollars,
                    COST,
                    modality=modality if name else None,
                    ctol=half_ulp(dollars),
                )
            )
    return out


def read_requests(src: Source, docs: list[Any], ctx: ReadContext, fmt: str) -> ReadResult:
    out = ReadResult(src.name, fmt, PROVIDER)
    failed = 0
    for d, doc in enumerate(docs):
        for i, req in enumerate(doc.get("requests") or []):
            where = f"requests[{i}]" if len(docs) == 1 else f"page {d + 1} requests[{i}]"
            if not isinstance(req, dict):
                raise src.error(where, "expected an object")
            mark = f"deepgram-request:{req.get('request_id')}"
            if req.get("request_id") and mark in ctx.seen:
                ctx.duplicates += 1
                continue
            ctx.seen.add(mark)
            response = req.get("response") if isinstance(req.get("response"), dict) else {}
            details = response.get("details")
            if not isinstance(details, dict):
                failed += 1
                continue
            day = parse_instant(src, req.get("created"), f"{where}.created").date()
            path = urlsplit(str(req.get("path") or ""))
            endpoint = path.path.rstrip("/").rsplit("/", 1)[-1].lower()
            modality = _ENDPOINT_MODALITY.get(endpoint, "stt")
            query_model = parse_qs(path.query).get("model", [None])[0]
            config = details.get("config") if isinstance(details.get("config"), dict) else {}
            model = (
                query_model
                or (config.get("model") if isinstance(config.get("model"), str) else None)
                or _model_of(details.get("models") or details.get("model"), ctx)
            )
            dwhere = f"{where}.response.details"
            usd = details.get("usd")
            cost = to_decimal(src, usd, f"{dwhere}.usd") if usd is not None else None
            if modality == "tts":
                got = _q(src, details, "characters", dwhere) or _q(
                    src, details, "tts_characters", dwhere
                )
                unit = CHARACTERS
            else:
                got = _q(src, details, "duration", dwhere, 3600.0)  # hours of audio
                unit = SECONDS
            qty, qtol = got if got else (None, 0.0)
            out.records.append(
                Rec(
                    model,
                    day,
                    unit if qty is not None else None,
                    qty,
                    None,
                    USAGE,
                    modality=modality,
                    qtol=qtol,
                )
            )
            if cost is not None:
                out.records.append(
                    Rec(model, day, None, None, cost, COST, modality=modality, ctol=half_ulp(cost))
                )
    if failed:
        out.notes.append(f"{src.name}: {failed} failed request(s) without details (not billed)")
    return out


def read_fields(src: Source, docs: list[Any], ctx: ReadContext, fmt: str) -> ReadResult:
    """No figures: teaches the other Deepgram files the names behind model UUIDs."""
    out = ReadResult(src.name, fmt, PROVIDER)
    for doc in docs:
        for m in doc.get("models") or []:
            if isinstance(m, dict) and m.get("model_id") and m.get("name"):
                ctx.model_names[str(m["model_id"])] = str(m["name"])
    return out


def read(src: Source, docs: list[Any], ctx: ReadContext, fmt: str) -> ReadResult:
    """Dispatch on the format `detect_json` named."""
    if fmt == "Deepgram requests":
        return read_requests(src, docs, ctx, fmt)
    if fmt == "Deepgram usage fields":
        return read_fields(src, docs, ctx, fmt)
    if fmt == "Deepgram billing breakdown":
        return read_billing(src, docs, ctx, fmt)
    return read_usage(src, docs, ctx, fmt)
