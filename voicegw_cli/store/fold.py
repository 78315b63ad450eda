"""Folding the spool into the store, exactly once.

Each spool file's folded byte offset is committed in the same transaction as its line
items, so a fold killed midway rolls back whole and the next one redoes it; line ids are
unique, so even a replayed chunk adds nothing. A torn last line (a writer mid-append) is
left for the next fold. Files whose writer is gone and whose bytes are all folded are
retired (deleted) after the commit.

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
from voicegw_cli.spool import EVENTS_SUBDIR, events_dir, pending

log = logging.getLogger("voicegw.store")

_INT_TYPES = {"BIGINT"}
#: Offset keys of guardrail-event files start with this.
EVENTS_PREFIX = EVENTS_SUBDIR + "/"


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
    events_added: int = 0
    lines_read: int = 0
    bad_lines: int = 0
    torn_bytes_discarded: int = 0
    files_retired: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.items_added or self.events_added or self.files_retired or self.lines_read)


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
                    table, bad_lines = parse_ndjson(chunk.data)
                    tables.append(table)
                    read = table.num_rows
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
        if tables:
            import pyarrow as pa  # only when there is something to fold: costs start-up time

            result.items_added = insert_items(conn, pa.concat_tables(tables))
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
