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
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicegw_cli import clock
from voicegw_cli.items import COLUMNS
from voicegw_cli.records import COLUMNS_BY_KIND, KEY_BY_KIND, KINDS, TIME_BY_KIND
from voicegw_cli.spool import EVENTS_SUBDIR, events_dir, pending

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
    """Insert rows whose id the store does not hold yet (first of any in-batch repeats),
    and add exactly those rows to the per-call totals (`store.calls.add_usage`).

    Runs inside the caller's transaction; the existing-id check is limited to the batch's
    time range so it stays cheap on a large store.
    """
    from voicegw_cli.store.calls import add_usage

    if table.num_rows == 0:
        return 0
    conn.register("_incoming", table)
    try:
        lo, hi = conn.execute(
            "SELECT min(CAST(CAST(timestamp AS TIMESTAMPTZ) AS TIMESTAMP)),"
            " max(CAST(CAST(timestamp AS TIMESTAMPTZ) AS TIMESTAMP)) FROM _incoming"
        ).fetchall()[0]
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE _new_items AS
            SELECT {_select_sql("i")} FROM _incoming i
            WHERE i.id NOT IN (
                SELECT id FROM line_items WHERE timestamp BETWEEN ? AND ?)
            QUALIFY row_number() OVER (PARTITION BY i.id) = 1""",
            [lo, hi],
        )
    finally:
        conn.unregister("_incoming")
    # No `finally`: after an error the transaction is aborted, and its rollback drops
    # the temporary table with everything else.
    added = conn.execute("SELECT count(*) FROM _new_items").fetchall()[0][0]
    if added:
        from voicegw_cli.store import rollup

        conn.execute("INSERT INTO line_items SELECT * FROM _new_items")
        add_usage(conn, "_new_items")
        rollup.refresh(conn, lo, hi)
    conn.execute("DROP TABLE _new_items")
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
    #: Call records, latency samples and errors added, by kind.
    records_added: dict[str, int] = field(default_factory=dict)
    events_added: int = 0
    lines_read: int = 0
    bad_lines: int = 0
    torn_bytes_discarded: int = 0
    files_retired: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.items_added
            or self.events_added
            or self.files_retired
            or self.lines_read
            or any(self.records_added.values())
        )


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


def fold_spool(conn: Any, spool_dir: Path) -> FoldResult:
    result = FoldResult()
    rows = conn.execute("SELECT file, byte_offset, retired FROM spool_offsets").fetchall()
    offsets = {f: off for f, off, _ in rows}
    retired_before = {f for f, _, r in rows if r}
    tables = []
    record_tables: dict[str, list[Any]] = {}
    events: list[dict[str, Any]] = []
    new_offsets: dict[str, int] = {}
    retire: list[tuple[str, Path]] = []
    bad: list[tuple[str, bytes]] = []
    for prefix, directory in (("", Path(spool_dir)), (EVENTS_PREFIX, events_dir(spool_dir))):
        own = {
            k[len(prefix) :]: v
            for k, v in offsets.items()
            if k.startswith(prefix) and "/" not in k[len(prefix) :]
        }
        for chunk in pending(directory, own):
            key = prefix + chunk.name
            result.files_seen += 1
            if key in retired_before:  # folded and retired; only the delete was lost
                retire.append((key, chunk.path))
                continue
            if chunk.data:
                if prefix:
                    event_rows, bad_lines = parse_events(chunk.data)
                    events.extend(event_rows)
                    read = len(event_rows)
                else:
                    parsed = parse_chunk(chunk.data)
                    tables.append(parsed.items)
                    for kind, kind_rows in parsed.records.items():
                        record_tables.setdefault(kind, []).append(kind_rows)
                    bad_lines = parsed.bad
                    read = parsed.items.num_rows + sum(t.num_rows for t in parsed.records.values())
                bad.extend((key, b) for b in bad_lines)
                result.lines_read += read + len(bad_lines)
                new_offsets[key] = chunk.end
            if not chunk.writer_alive:
                size = chunk.path.stat().st_size
                if size > chunk.end:
                    result.torn_bytes_discarded += size - chunk.end
                    log.warning(
                        "%s: discarding %d bytes of a torn last line from a writer that is gone",
                        chunk.path,
                        size - chunk.end,
                    )
                new_offsets[key] = chunk.end
                retire.append((key, chunk.path))
    result.bad_lines = len(bad)
    if not new_offsets and not retire:
        return result
    retire_names = {key for key, _ in retire}
    conn.execute("BEGIN TRANSACTION")
    try:
        if tables or record_tables:
            import pyarrow as pa  # only when there is something to fold: costs start-up time

            if tables:
                result.items_added = insert_items(conn, pa.concat_tables(tables))
            for kind, parts in record_tables.items():
                result.records_added[kind] = insert_records(conn, kind, pa.concat_tables(parts))
        result.events_added = insert_events(conn, events)
        stamp = clock.utcnow_naive()
        for name, end in new_offsets.items():
            conn.execute(
                "INSERT OR REPLACE INTO spool_offsets VALUES (?, ?, ?, ?)",
                [name, end, name in retire_names, stamp],
            )
        for name in retire_names - set(new_offsets):
            conn.execute("UPDATE spool_offsets SET retired = true WHERE file = ?", [name])
        # Forget retired files whose deletion is long done.
        conn.execute(
            "DELETE FROM spool_offsets WHERE retired AND updated_at < ?::TIMESTAMP"
            " - INTERVAL 7 DAY",
            [stamp],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if bad:
        _quarantine(spool_dir, bad)
    for key, path in retire:
        try:
            path.unlink()
            result.files_retired.append(key)
        except FileNotFoundError:
            pass
    return result


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
