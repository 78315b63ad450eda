"""Folding the spool into the store, exactly once.

Each spool file's folded byte offset is committed in the same transaction as its line
items, so a fold killed midway rolls back whole and the next one redoes it; line ids are
unique, so even a replayed chunk adds nothing. A torn last line (a writer mid-append) is
left for the next fold. Files whose writer is gone and whose bytes are all folded are
retired (deleted) after the commit.

One code path for every source of spool lines (`fold_source`): the local spool
(`LocalSpool`) and the segments agent hosts ship to `storage.ship_to`
(`store.shipped.ShippedSegments`) yield `Chunk`s keyed by their spool path, `absorb`
parses them, and each source records what it folded inside the same transaction.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from voicegw_cli import clock
from voicegw_cli.items import COLUMNS
from voicegw_cli.spool import pending

log = logging.getLogger("voicegw.store")

_INT_TYPES = {"BIGINT"}


def raw_schema():
    """The spool's NDJSON as Arrow types; timestamps and money stay text until DuckDB casts."""
    import pyarrow as pa

    fields = []
    for name, typ in COLUMNS:
        if typ in _INT_TYPES:
            fields.append(pa.field(name, pa.int64()))
        elif typ == "DOUBLE":
            fields.append(pa.field(name, pa.float64()))
        else:
            fields.append(pa.field(name, pa.string()))
    return pa.schema(fields)


def _coerce(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, typ in COLUMNS:
        v = record.get(name)
        if v is None:
            out[name] = None
        elif typ in _INT_TYPES:
            out[name] = int(v)
        elif typ == "DOUBLE":
            out[name] = float(v)
        elif name == "metadata" and not isinstance(v, str):
            out[name] = json.dumps(v, separators=(",", ":"))
        else:
            out[name] = str(v)
    return out


def parse_ndjson(data: bytes) -> tuple[Any, list[bytes]]:
    """NDJSON bytes to an Arrow table; returns the lines that could not be read."""
    import pyarrow as pa
    import pyarrow.json as pj

    schema = raw_schema()
    try:
        table = pj.read_json(
            io.BytesIO(data),
            parse_options=pj.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"
            ),
            read_options=pj.ReadOptions(block_size=16 << 20),
        )
        return table.select(schema.names), []
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    good: list[dict[str, Any]] = []
    bad: list[bytes] = []
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or not rec.get("id"):
                raise ValueError("not a line item")
            good.append(_coerce(rec))
        except (ValueError, TypeError):
            bad.append(line)
    return pa.Table.from_pylist(good, schema=schema), bad


def _select_sql(src: str) -> str:
    exprs = []
    for name, typ in COLUMNS:
        if name == "timestamp":
            exprs.append(f"CAST(CAST({src}.timestamp AS TIMESTAMPTZ) AS TIMESTAMP)")
        elif name in ("audio_seconds",):
            exprs.append(f"COALESCE(CAST({src}.{name} AS DOUBLE), 0)")
        elif typ in _INT_TYPES:
            exprs.append(f"COALESCE(CAST({src}.{name} AS BIGINT), 0)")
        else:
            exprs.append(f"CAST({src}.{name} AS {typ})")
    return ", ".join(exprs)


def insert_items(conn: Any, table: Any) -> int:
    """Insert rows whose id the store does not hold yet (first of any in-batch repeats).

    Runs inside the caller's transaction; the existing-id check is limited to the batch's
    time range so it stays cheap on a large store.
    """
    if table.num_rows == 0:
        return 0
    conn.register("_incoming", table)
    try:
        lo, hi = conn.execute(
            "SELECT min(CAST(CAST(timestamp AS TIMESTAMPTZ) AS TIMESTAMP)),"
            " max(CAST(CAST(timestamp AS TIMESTAMPTZ) AS TIMESTAMP)) FROM _incoming"
        ).fetchall()[0]
        before = conn.execute("SELECT count(*) FROM line_items").fetchall()[0][0]
        conn.execute(
            f"""INSERT INTO line_items
            SELECT {_select_sql("i")} FROM _incoming i
            WHERE i.id NOT IN (
                SELECT id FROM line_items WHERE timestamp BETWEEN ? AND ?)
            QUALIFY row_number() OVER (PARTITION BY i.id) = 1""",
            [lo, hi],
        )
        after = conn.execute("SELECT count(*) FROM line_items").fetchall()[0][0]
        if after > before:
            from voicegw_cli.store import rollup

            rollup.refresh(conn, lo, hi)
    finally:
        conn.unregister("_incoming")
    return after - before


@dataclass(slots=True)
class FoldResult:
    files_seen: int = 0
    items_added: int = 0
    lines_read: int = 0
    bad_lines: int = 0
    torn_bytes_discarded: int = 0
    files_retired: list[str] = field(default_factory=list)
    #: Shipped segments folded from `storage.ship_to` (see `store.shipped`).
    segments_folded: int = 0
    windows_sealed: int = 0
    list_requests: int = 0
    objects_listed: int = 0
    #: Set when `storage.ship_to` could not be read (the fold used what it had).
    ship_error: str | None = None

    @property
    def changed(self) -> bool:
        return bool(
            self.items_added
            or self.files_retired
            or self.lines_read
            or self.segments_folded
            or self.windows_sealed
        )


@dataclass(slots=True)
class Chunk:
    """Complete NDJSON lines to fold, from any source.

    `key` is the path the lines had in a spool (`x.ndjson`, `sub/x.ndjson`): it, and the
    lines' own fields, decide what records they hold, the same for a local spool file and
    a shipped segment of one. `ref` is the source's handle (a spool file, an object).
    """

    key: str
    data: bytes
    ref: Any = None
    #: The line items parsed from `data` (an Arrow table), set by the fold.
    items: Any = None


class Source(Protocol):
    """Where a fold's chunks come from, and how the source records what was folded.

    `read` runs before the transaction; `commit` inside it (so what was folded is
    recorded exactly when the records are); `after_commit` after it (deleting files).
    `dirty` says whether `commit` has state to record even when no chunk has data.
    """

    dirty: bool

    def read(self, conn: Any, result: FoldResult) -> list[Chunk]: ...

    def commit(self, conn: Any, chunks: list[Chunk], stamp: Any) -> None: ...

    def after_commit(self, result: FoldResult) -> None: ...


def absorb(chunk: Chunk, result: FoldResult) -> list[bytes]:
    """Parse one chunk (sets `chunk.items`); returns its unreadable lines. The one place
    spool lines become records, for local spool files and shipped segments alike."""
    table, bad_lines = parse_ndjson(chunk.data)
    chunk.items = table
    result.lines_read += table.num_rows + len(bad_lines)
    return bad_lines


def fold_source(conn: Any, source: Source, quarantine_dir: Path) -> FoldResult:
    """Fold one source's chunks in one transaction with the source's own bookkeeping."""
    result = FoldResult()
    chunks = source.read(conn, result)
    bad: list[tuple[str, bytes]] = []
    for chunk in chunks:
        if chunk.data:
            bad.extend((chunk.key, b) for b in absorb(chunk, result))
    result.bad_lines = len(bad)
    if not chunks and not source.dirty:
        return result
    conn.execute("BEGIN TRANSACTION")
    try:
        tables = [c.items for c in chunks if c.items is not None]
        if tables:
            import pyarrow as pa  # only when there is something to fold: costs start-up time

            result.items_added = insert_items(conn, pa.concat_tables(tables))
        source.commit(conn, chunks, clock.utcnow_naive())
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if bad:
        _quarantine(quarantine_dir, bad)
    source.after_commit(result)
    return result


class LocalSpool:
    """The local spool directory as a fold source: byte offsets per file in
    `spool_offsets`, files retired once their writer is gone and all is folded."""

    def __init__(self, spool_dir: Path) -> None:
        self.spool_dir = Path(spool_dir)
        self.dirty = False
        self._offsets: dict[str, int] = {}
        self._retire: list[tuple[str, Path]] = []

    def read(self, conn: Any, result: FoldResult) -> list[Chunk]:
        rows = conn.execute("SELECT file, byte_offset, retired FROM spool_offsets").fetchall()
        offsets = {f: off for f, off, _ in rows}
        retired_before = {f for f, _, r in rows if r}
        chunks: list[Chunk] = []
        for sc in pending(self.spool_dir, offsets, subdirs=True):
            result.files_seen += 1
            if sc.key in retired_before:  # folded and retired; only the delete was lost
                self._retire.append((sc.key, sc.path))
                continue
            if sc.data:
                chunks.append(Chunk(sc.key, sc.data, sc))
                self._offsets[sc.key] = sc.end
            if not sc.writer_alive:
                size = sc.path.stat().st_size
                if size > sc.end:
                    result.torn_bytes_discarded += size - sc.end
                    log.warning(
                        "%s: discarding %d bytes of a torn last line from a writer that is gone",
                        sc.path,
                        size - sc.end,
                    )
                self._offsets[sc.key] = sc.end
                self._retire.append((sc.key, sc.path))
        self.dirty = bool(self._offsets or self._retire)
        return chunks

    def commit(self, conn: Any, chunks: list[Chunk], stamp: Any) -> None:
        retire_keys = {k for k, _ in self._retire}
        for key, end in self._offsets.items():
            conn.execute(
                "INSERT OR REPLACE INTO spool_offsets VALUES (?, ?, ?, ?)",
                [key, end, key in retire_keys, stamp],
            )
        for key in retire_keys - set(self._offsets):
            conn.execute("UPDATE spool_offsets SET retired = true WHERE file = ?", [key])
        # Forget retired files whose deletion is long done.
        conn.execute(
            "DELETE FROM spool_offsets WHERE retired AND updated_at < ?::TIMESTAMP"
            " - INTERVAL 7 DAY",
            [stamp],
        )

    def after_commit(self, result: FoldResult) -> None:
        for _key, path in self._retire:
            try:
                path.unlink()
                result.files_retired.append(path.name)
            except FileNotFoundError:
                pass


def fold_spool(conn: Any, spool_dir: Path) -> FoldResult:
    """Fold the local spool (its top level and record-kind subdirectories) exactly once."""
    return fold_source(conn, LocalSpool(spool_dir), Path(spool_dir))


def _quarantine(spool_dir: Path, bad: list[tuple[str, bytes]]) -> None:
    """Keep unreadable spool lines for inspection instead of dropping them silently."""
    qdir = Path(spool_dir) / "rejected"
    qdir.mkdir(parents=True, exist_ok=True)
    with open(qdir / "rejected.ndjson", "ab") as f:
        for name, line in bad:
            f.write(
                json.dumps({"file": name, "line": line.decode("utf-8", "replace")}).encode() + b"\n"
            )
    log.error("%d unreadable spool line(s) moved to %s", len(bad), qdir)
