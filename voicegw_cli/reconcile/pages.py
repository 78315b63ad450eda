"""Paged JSON as the admin APIs return it: several pages per file, files per folder.

OpenAI and Anthropic both answer `{data: [bucket...], has_more, next_page}`. A user may save
one page, an array of pages, pages one per line, or one page per file; the same page saved
twice must not count twice, so buckets are de-duplicated across every file of a run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from voicegw_cli.reconcile.base import Page, Source


@dataclass(slots=True)
class ReadContext:
    """State shared by every file of one reconcile run."""

    provider: str = ""  # the provider being reconciled (the generic CSV filters on it)
    metric: str = "credits"  # what a metric-less ElevenLabs export counts
    seen: set[str] = field(default_factory=set)  # bucket fingerprints already read
    model_names: dict[str, str] = field(default_factory=dict)  # Deepgram model uuid -> name
    duplicates: int = 0


def parse_json_values(src: Source) -> list[Any]:
    """Every top-level JSON value in the file (one page, pages one per line, or an array
    of pages), parsed with exact decimals. A cut-off file fails with its line and column."""
    decoder = json.JSONDecoder(parse_float=Decimal)
    text = src.text
    end = len(text.rstrip())
    out: list[Any] = []
    i = 0
    while True:
        while i < end and text[i].isspace():
            i += 1
        if i >= end:
            break
        try:
            value, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            hint = (
                "the file ends in the middle of a value; it looks truncated"
                if exc.pos >= end - 1 or "Unterminated" in exc.msg
                else "invalid JSON"
            )
            where = f"line {exc.lineno} column {exc.colno}"
            raise src.error(where, f"{hint} ({exc.msg})") from None
        out.append(value)
    if len(out) == 1 and isinstance(out[0], list):  # an array of pages
        out = out[0]
    return out


def walk_buckets(
    src: Source,
    pages: list[Any],
    ctx: ReadContext,
    bounds: Callable[[Source, dict[str, Any], str], tuple[datetime, datetime | None]],
) -> Iterator[tuple[str, datetime, datetime | None, dict[str, Any]]]:
    """(where, bucket start, bucket end, result) for every result not seen before."""
    for p, page in enumerate(pages):
        base = f"page {p + 1} " if len(pages) > 1 else ""
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise src.error(f"{base}".strip() or None, "expected an object with a `data` list")
        for b, bucket in enumerate(page["data"]):
            where = f"{base}data[{b}]"
            if not isinstance(bucket, dict):
                raise src.error(where, "expected a bucket object")
            start, end = bounds(src, bucket, where)
            results = bucket.get("results")
            if results is None:
                results = []
            if not isinstance(results, list):
                raise src.error(f"{where}.results", "expected a list")
            for r, result in enumerate(results):
                rwhere = f"{where}.results[{r}]"
                if not isinstance(result, dict):
                    raise src.error(rwhere, "expected an object")
                mark = json.dumps([str(start), str(end), result], sort_keys=True, default=str)
                if mark in ctx.seen:
                    ctx.duplicates += 1
                    continue
                ctx.seen.add(mark)
                yield rwhere, start, end, result


def page_infos(
    src: Source,
    pages: list[Any],
    bounds: Callable[[Source, dict[str, Any], str], tuple[datetime, datetime | None]],
) -> list[Page]:
    """How each page ends (`has_more`, `next_page`) and the span its buckets cover, so that
    a chain of pages cut short can be named (see `read.check_page_chains`)."""
    out = []
    for p, page in enumerate(pages):
        if not isinstance(page, dict) or "has_more" not in page:
            continue
        base = f"page {p + 1} " if len(pages) > 1 else ""
        spans = [
            bounds(src, b, f"{base}data[{i}]")
            for i, b in enumerate(page.get("data") or [])
            if isinstance(b, dict)
        ]
        ends = [e or s for s, e in spans]
        nxt = page.get("next_page")
        out.append(
            Page(
                p + 1,
                page.get("has_more") is True,
                str(nxt) if nxt else None,
                min((s for s, _ in spans), default=None),
                max(ends, default=None),
            )
        )
    return out


def first_result(pages: list[Any]) -> dict[str, Any] | None:
    for page in pages:
        if not (isinstance(page, dict) and isinstance(page.get("data"), list)):
            continue
        for bucket in page["data"]:
            if isinstance(bucket, dict):
                for result in bucket.get("results") or []:
                    if isinstance(result, dict):
                        return result
    return None


def first_bucket(pages: list[Any]) -> dict[str, Any] | None:
    for page in pages:
        if isinstance(page, dict) and isinstance(page.get("data"), list):
            for bucket in page["data"]:
                if isinstance(bucket, dict):
                    return bucket
    return None
