"""Folding the spool into the store, exactly once.

Each spool file's folded byte offset is committed in the same transaction as its line
items, call records, latency samples and errors, so a fold killed midway rolls back whole
and the next one redoes it; every record has a unique key (line and sample ids, a call's
session id), so even a replayed chunk adds nothing. A torn last line (a writer
mid-append) is left for the next fold. Files whose writer is gone and whose bytes are all
folded are retired (deleted) after the commit.

Line items carry no `kind`; the other records start with `"kind": ...`
(`voicegw_cli.records`). One Arrow read with the union of all columns splits them.

Guardrail events live in the spool's `guardrails/` subdirectory, in files of their own
written the same way; they are folded in the same pass and the same transaction into
`guardrail_events`, their offsets kept in `spool_offsets` under `guardrails/<file>`.

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
from voicegw_cli.records import COLUMNS_BY_KIND, KEY_BY_KIND, KINDS, TIME_BY_KIND
from voicegw_cli.spool import EVENTS_SUBDIR, pending

log = logging.getLogger("voicegw.store")

EVENTS_PREFIX = EVENTS_SUBDIR + "/"

_INT_TYPES = {"BIGINT"}


def _arrow_type(typ: str):
    import pyarrow as pa

    if typ in _INT_TYPES:
        return pa.int64()
    if typ == "DOUBLE":
        return pa.float64()
    if typ == "BOOLEAN":
        return pa.bool_()
    return pa.string()


def raw_schema(columns: tuple[tuple[str, str], ...] = COLUMNS):
    """Spool NDJSON as Arrow types; timestamps and money stay text until DuckDB casts."""
    import pyarrow as pa

    return pa.schema([pa.field(name, _arrow_type(typ)) for name, typ in columns])


def _union_columns() -> tuple[tuple[str, str], ...]:
    """Every column of every record kind once (shared names have one type), plus `kind`."""
    seen = {name: typ for name, typ in COLUMNS}
    extra: list[tuple[str, str]] = [("kind", "VARCHAR")]
    for cols in COLUMNS_BY_KIND.values():
        for name, typ in cols:
            if name not in seen:
                seen[name] = typ
                extra.append((name, typ))
    return (*COLUMNS, *extra)


_UNION = _union_columns()


def _coerce(
    record: dict[str, Any], columns: tuple[tuple[str, str], ...] = COLUMNS
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, typ in columns:
        v = record.get(name)
        if v is None:
            out[name] = None
        elif typ in _INT_TYPES:
            out[name] = int(v)
        elif typ == "DOUBLE":
            out[name] = float(v)
        elif typ == "BOOLEAN":
            if not isinstance(v, bool):
                raise ValueError(f"{name}: not true/false")
            out[name] = v
        elif isinstance(v, dict | list):
            out[name] = json.dumps(v, separators=(",", ":"))
        else:
            out[name] = str(v)
    return out


@dataclass(slots=True)
class Parsed:
    """One chunk of spool lines: line items, the other record kinds, unreadable lines."""

    items: Any
    records: dict[str, Any]
    bad: list[bytes]


def parse_ndjson(data: bytes) -> tuple[Any, list[bytes]]:
    """NDJSON bytes to an Arrow table of line items; returns the lines that could not be
    read (records of other kinds are left out: see `parse_chunk`)."""
    parsed = parse_chunk(data)
    return parsed.items, parsed.bad


def parse_chunk(data: bytes) -> Parsed:
    """Spool bytes split by record kind, each an Arrow table of its own columns."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    schema = raw_schema(_UNION)
    try:
        table = pj.read_json(
            io.BytesIO(data),
            parse_options=pj.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"
            ),
            read_options=pj.ReadOptions(block_size=16 << 20),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _parse_lines(data)
    kind = table.column("kind")
    item_names = [n for n, _ in COLUMNS]
    if kind.null_count == table.num_rows:  # the usual case: only line items
        return Parsed(table.select(item_names), {}, [])
    items = table.filter(pc.is_null(kind)).select(item_names)
    records = {}
    for k in KINDS:
        rows = table.filter(pc.equal(kind, k))
        if rows.num_rows:
            records[k] = rows.select([n for n, _ in COLUMNS_BY_KIND[k]])
    unknown = pc.invert(pc.or_kleene(pc.is_null(kind), pc.is_in(kind, pa.array(KINDS))))
    bad: list[bytes] = []
    if pc.any(unknown).as_py():  # a newer writer's kind: keep the lines, do not guess
        bad = [
            line
            for line in data.splitlines()
            if line.strip() and _kind_of(line) not in (None, *KINDS)
        ]
    return Parsed(items, records, bad)


def _kind_of(line: bytes) -> str | None:
    try:
        rec = json.loads(line)
    except ValueError:
        return "?"
    return rec.get("kind") if isinstance(rec, dict) else "?"


def _parse_lines(data: bytes) -> Parsed:
    """Line by line, when one line spoils the fast read: good lines go on, bad ones out."""
    import pyarrow as pa

    good: list[dict[str, Any]] = []
    by_kind: dict[str, list[dict[str, Any]]] = {}
    bad: list[bytes] = []
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("not a record")
            kind = rec.get("kind")
            if kind is None:
                if not rec.get("id"):
                    raise ValueError("not a line item")
                good.append(_coerce(rec))
            elif kind in KINDS and rec.get(KEY_BY_KIND[kind]):
                by_kind.setdefault(kind, []).append(_coerce(rec, COLUMNS_BY_KIND[kind]))
            else:
                raise ValueError(f"unknown record kind {kind!r}")
        except (ValueError, TypeError):
            bad.append(line)
    records = {
        k: pa.Table.from_pylist(rows, schema=raw_schema(COLUMNS_BY_KIND[k]))
        for k, rows in by_kind.items()
    }
    return Parsed(pa.Table.from_pylist(good, schema=raw_schema()), records, bad)


def _select_sql(src: str) -> str:
    exprs = []
    for name, typ in COLUMNS:
        if name == "timestamp":
            exprs.append(f"CAST(CAST({src}.timestamp AS TIMESTAMPTZ) AS TIMESTAMP) AS timestamp")
        elif name in ("audio_seconds",):
            exprs.append(f"COALESCE(CAST({src}.{name} AS DOUBLE), 0) AS {name}")
        elif typ in _INT_TYPES:
            exprs.append(f"COALESCE(CAST({src}.{name} AS BIGINT), 0) AS {name}")
        else:
            exprs.append(f"CAST({src}.{name} AS {typ}) AS {name}")
    return ", ".join(exprs)


def insert_items(conn: Any, table: Any) -> int:
    """Insert an Arrow table of line-item columns (see `insert_from`)."""
    if table.num_rows == 0:
        return 0
    conn.register("_incoming", table)
    try:
        return insert_from(conn, "_incoming")
    finally:
        conn.unregister("_incoming")


def insert_from(conn: Any, source: str) -> int:
    """Insert the rows of table `source` (line-item columns, by name) whose id the store
    does not hold yet (first of any in-batch repeats), and add exactly those rows to the
    per-call totals (`store.calls.add_usage`) and the rollup.

    Runs inside the caller's transaction; the existing-id check is limited to the batch's
    time range so it stays cheap on a large store, and skipped when nothing is stored in
    that range (a first import of a year of history).
    """
    from voicegw_cli.store.calls import add_usage

    lo, hi, rows, ids = conn.execute(
        "SELECT min(CAST(CAST(timestamp AS TIMESTAMPTZ) AS TIMESTAMP)),"
        " max(CAST(CAST(timestamp AS TIMESTAMPTZ) AS TIMESTAMP)), count(*),"
        f" count(DISTINCT hash(id)) FROM {source}"
    ).fetchall()[0]
    # As many distinct hashes as rows proves the ids distinct; fewer (a repeat, or a
    # rare collision) takes the exact path below.
    if not rows:
        return 0
    present = conn.execute(
        "SELECT count(*) FROM line_items WHERE timestamp BETWEEN ? AND ?", [lo, hi]
    ).fetchall()[0][0]
    select = _select_sql("i")
    if not present and ids == rows:  # all new and all distinct: straight in
        conn.execute(f"INSERT INTO line_items SELECT {select} FROM {source} i")
        added = rows
        usage_src = f"(SELECT {select} FROM {source} i)"
    else:
        where = (
            "WHERE i.id NOT IN (SELECT id FROM line_items WHERE timestamp BETWEEN ? AND ?)"
            if present
            else ""
        )
        qualify = "QUALIFY row_number() OVER (PARTITION BY i.id) = 1" if ids != rows else ""
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE _new_items AS SELECT {select} FROM {source} i"
            f" {where} {qualify}",
            [lo, hi] if present else [],
        )
        # No `finally`: after an error the transaction is aborted, and its rollback drops
        # the temporary table with everything else.
        added = conn.execute("SELECT count(*) FROM _new_items").fetchall()[0][0]
        if added:
            conn.execute("INSERT INTO line_items SELECT * FROM _new_items")
        usage_src = "_new_items"
    if added:
        from voicegw_cli.store import rollup

        add_usage(conn, usage_src)
        rollup.refresh(conn, lo, hi)
    conn.execute("DROP TABLE IF EXISTS _new_items")
    return added


def _record_select(kind: str, src: str) -> str:
    exprs = []
    for name, typ in COLUMNS_BY_KIND[kind]:
        if typ == "TIMESTAMP":
            exprs.append(f"CAST(CAST({src}.{name} AS TIMESTAMPTZ) AS TIMESTAMP)")
        else:
            exprs.append(f"CAST({src}.{name} AS {typ})")
    return ", ".join(exprs)


def insert_records(conn: Any, kind: str, table: Any) -> int:
    """Insert call records, latency samples or errors whose key the store does not hold
    (the duplicate check is narrowed to the batch's time range, like line items')."""
    if table.num_rows == 0:
        return 0
    target = TABLE_BY_KIND[kind]
    key, when = KEY_BY_KIND[kind], TIME_BY_KIND[kind]
    conn.register("_incoming_records", table)
    try:
        lo, hi = conn.execute(
            f"SELECT min(CAST(CAST({when} AS TIMESTAMPTZ) AS TIMESTAMP)),"
            f" max(CAST(CAST({when} AS TIMESTAMPTZ) AS TIMESTAMP)) FROM _incoming_records"
        ).fetchall()[0]
        before = conn.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0]
        select, join = _record_select(kind, "i"), ""
        if kind == "latency":
            from voicegw_cli.store.latency import SERIES_JOIN, add_series

            add_series(conn, "_incoming_records")
            select, join = f"{select}, k.series", SERIES_JOIN.format(src="i")
        conn.execute(
            f"""INSERT INTO {target}
            SELECT {select} FROM _incoming_records i{join}
            WHERE i.{key} IS NOT NULL AND i.{when} IS NOT NULL AND i.{key} NOT IN (
                SELECT {key} FROM {target} WHERE {when} BETWEEN ? AND ?)
            QUALIFY row_number() OVER (PARTITION BY i.{key}) = 1""",
            [lo, hi],
        )
        after = conn.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0]
    finally:
        conn.unregister("_incoming_records")
    return after - before


#: Store table of each record kind.
TABLE_BY_KIND = {"call": "calls", "latency": "latency_samples", "error": "session_errors"}


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
    #: Call records, latency samples and errors added, by kind.
    records_added: dict[str, int] = field(default_factory=dict)
    events_added: int = 0

    @property
    def changed(self) -> bool:
        return bool(
            self.items_added
            or self.events_added
            or any(self.records_added.values())
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
    #: What the fold parsed from `data`: line items (an Arrow table), the other record
    #: kinds (kind -> Arrow table) and guardrail events (rows).
    items: Any = None
    records: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)


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


def parse_events(data: bytes) -> tuple[list[dict[str, Any]], list[bytes]]:
    """Guardrail-event NDJSON to rows of text columns; returns the unreadable lines."""
    from voicegw_cli.guardrails.events import EVENT_COLUMN_NAMES

    rows: list[dict[str, Any]] = []
    bad: list[bytes] = []
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or not all(rec.get(k) for k in ("id", "ts", "kind")):
                raise ValueError("not a guardrail event")
            row: dict[str, Any] = {}
            for name in EVENT_COLUMN_NAMES:
                v = rec.get(name)
                if isinstance(v, dict | list):
                    v = json.dumps(v, separators=(",", ":"))
                row[name] = None if v is None else str(v)
            rows.append(row)
        except (ValueError, TypeError):
            bad.append(line)
    return rows, bad


def insert_events(conn: Any, rows: list[dict[str, Any]]) -> int:
    """Insert events whose id the store does not hold yet (inside the caller's transaction)."""
    if not rows:
        return 0
    import pyarrow as pa

    from voicegw_cli.guardrails.events import EVENT_COLUMN_NAMES

    table = pa.Table.from_pylist(
        rows, schema=pa.schema([pa.field(n, pa.string()) for n in EVENT_COLUMN_NAMES])
    )
    cols = ", ".join(
        "CAST(CAST(ts AS TIMESTAMPTZ) AS TIMESTAMP)" if n == "ts" else n for n in EVENT_COLUMN_NAMES
    )
    conn.register("_events", table)
    try:
        before = conn.execute("SELECT count(*) FROM guardrail_events").fetchall()[0][0]
        conn.execute(
            f"""INSERT OR IGNORE INTO guardrail_events SELECT {cols} FROM _events
            QUALIFY row_number() OVER (PARTITION BY id) = 1"""
        )
        after = conn.execute("SELECT count(*) FROM guardrail_events").fetchall()[0][0]
    finally:
        conn.unregister("_events")
    return after - before


def absorb(chunk: Chunk, result: FoldResult) -> list[bytes]:
    """Parse one chunk; returns its unreadable lines. The one place spool lines become
    records, for local spool files and shipped segments alike: files under `guardrails/`
    hold guardrail events, the others line items and the kinds of `voicegw_cli.records`."""
    if chunk.key.startswith(EVENTS_PREFIX):
        chunk.events, bad_lines = parse_events(chunk.data)
        result.lines_read += len(chunk.events) + len(bad_lines)
        return bad_lines
    parsed = parse_chunk(chunk.data)
    chunk.items, chunk.records = parsed.items, parsed.records
    result.lines_read += (
        parsed.items.num_rows + sum(t.num_rows for t in parsed.records.values()) + len(parsed.bad)
    )
    return parsed.bad


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
        tables = [c.items for c in chunks if c.items is not None and c.items.num_rows]
        kinds: dict[str, list[Any]] = {}
        for c in chunks:
            for kind, rows in c.records.items():
                kinds.setdefault(kind, []).append(rows)
        if tables or kinds:
            import pyarrow as pa  # only when there is something to fold: costs start-up time

            if tables:
                result.items_added = insert_items(conn, pa.concat_tables(tables))
            for kind, parts in kinds.items():
                result.records_added[kind] = insert_records(conn, kind, pa.concat_tables(parts))
        result.events_added = insert_events(conn, [e for c in chunks for e in c.events])
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
