"""Reading provider exports: files and folders in, one tidy list of records out.

The format is chosen from the file's content (JSON keys, CSV header), never from its name
alone: users rename downloads, and `usage.json` says nothing about which API made it.
Anything unreadable becomes an `InputError` naming the file and the row or field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from voicegw_cli.errors import InputError
from voicegw_cli.progress import Progress
from voicegw_cli.reconcile import anthropic, cartesia, deepgram, elevenlabs, generic, openai
from voicegw_cli.reconcile.base import ReadResult, Rec, Source, csv_header
from voicegw_cli.reconcile.pages import ReadContext, parse_json_values
from voicegw_cli.reconcile.provider_errors import html_error, json_error

#: Extensions picked up when a folder is given; a file named explicitly is read whatever
#: its name.
FOLDER_SUFFIXES = (".json", ".csv", ".ndjson", ".jsonl")

JsonReader = Callable[[Source, list[Any], ReadContext, str], ReadResult]
CsvReader = Callable[[Source, ReadContext, str], ReadResult]

# (detect, read, provider), tried in order; detection looks at structure only.
_JSON: tuple[tuple[Callable[[list[Any]], str | None], JsonReader, str], ...] = (
    (openai.detect_json, openai.read_json, "openai"),
    (anthropic.detect_json, anthropic.read_json, "anthropic"),
    (cartesia.detect_json, cartesia.read, "cartesia"),
    (elevenlabs.detect_json, elevenlabs.read, "elevenlabs"),
    (deepgram.detect_json, deepgram.read, "deepgram"),
)
# The generic CSV names its provider per row (None here).
_CSV_READERS: dict[str, tuple[CsvReader, str | None]] = {
    "OpenAI dashboard cost CSV": (openai.read_cost_csv, "openai"),
    "OpenAI dashboard usage CSV": (openai.read_usage_csv, "openai"),
    openai.EMPTY_CSV: (openai.read_empty_csv, "openai"),
    "Anthropic console token CSV": (anthropic.read_token_csv, "anthropic"),
    "Anthropic console cost CSV": (anthropic.read_cost_csv, "anthropic"),
    "generic CSV": (generic.read, None),
}
_CSV_DETECT = (openai.detect_csv, anthropic.detect_csv, generic.detect_csv)
_FIELDS = "Deepgram usage fields"


@dataclass(slots=True)
class Truncated:
    """A chain of pages that ends with `has_more: true` and no later page among the files."""

    path: str
    fmt: str
    next_page: str | None
    ends: datetime  # where the last page given stops (UTC)
    modalities: frozenset[str | None]  # what the file's records were about

    def describe(self) -> str:
        token = f' (next_page "{self.next_page}")' if self.next_page else ""
        return (
            f"{self.path} ended with has_more: true{token} and no later page was given: "
            f"the {self.fmt} export stops at {self.ends:%Y-%m-%d %H:%M} UTC"
        )


@dataclass(slots=True)
class Export:
    """Everything read for one provider: records plus what the readers want said."""

    provider: str
    files: list[ReadResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    truncated: list[Truncated] = field(default_factory=list)

    @property
    def records(self) -> list[Rec]:
        return [r for f in self.files for r in f.records]


def expand(paths: Sequence[Path]) -> list[Path]:
    """Files as given, folders as their export files (sorted, hidden files skipped)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in FOLDER_SUFFIXES
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not found:
                raise InputError(p, None, f"no export files ({', '.join(FOLDER_SUFFIXES)}) here")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise InputError(p, None, "no such file or folder")
    return out


def decode(path: Path) -> Source:
    """The file as text. Exports are UTF-8 (a BOM is fine); anything else is exit 3."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            path,
            f"line {line}",
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "re-save the export as UTF-8",
        ) from None
    if not text.strip():
        raise InputError(path, None, "empty file")
    return Source(path, text)


Pending = tuple[str, str | None, Callable[[ReadContext], ReadResult]]


def identify(src: Source, expected: str = "") -> Pending:
    """(format name, provider or None for the generic CSV, a reader bound to the file)."""
    if src.text.lstrip()[:1] in ("{", "["):
        docs = parse_json_values(src)
        for i, doc in enumerate(docs):
            said = json_error(doc, expected)
            if said:
                raise src.error(f"page {i + 1}" if len(docs) > 1 else None, said)
        for detect, reader, provider in _JSON:
            fmt = detect(docs) if docs else None
            if fmt:
                return fmt, provider, partial(reader, src, docs, fmt=fmt)
        if expected and docs and all(_bucketless(d) for d in docs):
            fmt = f"{expected} page with no buckets"
            return fmt, expected, partial(_read_bucketless, src, expected, fmt)
        first = docs[0] if docs else None
        keys = ", ".join(sorted(first)[:8]) if isinstance(first, dict) else type(first).__name__
        raise src.error(
            None,
            f"not a provider export voicegw knows (top level: {keys}); "
            "see docs/reconcile.md for the formats it reads",
        )
    page = html_error(src.text)
    if page:
        raise src.error(None, page)
    header = csv_header(src.text)
    for detect in _CSV_DETECT:
        fmt = detect(header)
        if fmt:
            csv_reader, provider = _CSV_READERS[fmt]
            return fmt, provider, partial(csv_reader, src, fmt=fmt)
    raise src.error(
        "row 1 (header)",
        f"unrecognised columns ({', '.join(header[:8]) or 'none'}); expected a provider "
        f"export or the generic CSV ({','.join(generic.COLUMNS)})",
    )


def _bucketless(doc: Any) -> bool:
    """A usage/cost API page holding no buckets at all (`{"data": [], "has_more": false}`):
    the provider's way of saying "nothing in this range"; any provider's admin API."""
    return (
        isinstance(doc, dict)
        and doc.get("data") == []
        and not doc.get("has_more")
        and set(doc) <= {"data", "has_more", "next_page", "object", "first_id", "last_id"}
    )


def _read_bucketless(src: Source, provider: str, fmt: str, ctx: ReadContext) -> ReadResult:
    out = ReadResult(src.name, fmt, provider)
    out.notes.append(f"{src.name}: a page with no buckets: {provider} reported no usage here")
    return out


def read_exports(
    paths: Sequence[Path],
    provider: str,
    *,
    metric: str = "credits",
    progress: Progress | None = None,
) -> Export:
    """Read every file for `provider`; a file in another provider's format is an error.
    `progress` hears the bytes read (each file counts once it is parsed)."""
    from voicegw_cli.progress import phase

    ctx = ReadContext(provider=provider, metric=metric)
    files = expand(paths)
    read = phase(progress, "read exports", sum(_size(f) for f in files), "bytes")
    pending: list[tuple[Pending, int]] = []
    for path in files:
        fmt, prov, reader = identify(decode(path), provider)
        if prov is not None and prov != provider:
            raise InputError(
                path, None, f"{fmt} export, which belongs to {prov}, but --provider is {provider}"
            )
        pending.append(((fmt, prov, reader), _size(path)))
    # Deepgram's model list must be known before the files that name models by UUID.
    pending.sort(key=lambda p: p[0][0] != _FIELDS)
    export = Export(provider)
    for (_, _, reader), size in pending:
        result = reader(ctx)
        read.update(read.done + size)
        export.files.append(result)
        export.notes.extend(result.notes)
    read.finish()
    if ctx.duplicates:
        export.notes.append(f"skipped {ctx.duplicates} bucket(s) repeated across files")
    export.truncated = check_page_chains(export.files)
    export.notes.extend(t.describe() + "; fetch the remaining pages" for t in export.truncated)
    return export


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def check_page_chains(files: Sequence[ReadResult]) -> list[Truncated]:
    """Pages that say `has_more: true` whose continuation is not among the files.

    A page does not carry its own cursor, but the admin APIs page through buckets in time
    order: the next page starts where this one ended. A `has_more` page is therefore
    continued when some page of the same format starts at (or before) its last bucket's
    end and runs past it; otherwise the chain was cut short and the export is incomplete."""
    pages = [(f, p) for f in files for p in f.pages]
    out = []
    for f, p in pages:
        if not p.has_more or p.last_end is None:
            continue
        continued = any(
            (g.fmt == f.fmt or "empty buckets" in g.fmt)
            and q.first_start is not None
            and q.last_end is not None
            and q.first_start <= p.last_end < q.last_end
            for g, q in pages
        )
        if not continued and not any(t.path == f.path for t in out):
            mods = frozenset(r.modality for r in f.records)
            out.append(Truncated(f.path, f.fmt, p.next_page, p.last_end, mods))
    return out
