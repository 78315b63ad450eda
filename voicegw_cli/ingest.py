"""Importing line items from CSV, JSON, NDJSON or Parquet files.

Reads our own `export-costs` columns (so exports round-trip) and `voicegateway
export-costs` CSVs. Every row is checked before anything is written: one bad row rejects
the whole run with `file:line: reason`, and the store stays as it was. Rows without an id
get one derived from their content, so importing a file twice adds nothing.

Streaming, with bounded memory: a CSV is read by DuckDB's parallel reader straight into a
typed staging table (every column read as text, then checked and cast in SQL); other
formats, and a CSV the fast path rejects, go through Arrow record batches of
`BATCH_ROWS` rows, which also find the exact line of a bad row. DuckDB runs with a memory
limit and spills to a temporary directory beside the store. Everything happens in one
transaction: a bad row, a kill or a full disk leaves the store as it was.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicegw_cli import clock
from voicegw_cli.errors import InputError, VoicegwError
from voicegw_cli.items import COLUMN_NAMES, COLUMNS, MODALITIES, UNIT_COLUMNS
from voicegw_cli.progress import Phase, Progress, phase, watch_query
from voicegw_cli.records import ATTRIBUTE_PREFIX

if TYPE_CHECKING:
    from voicegw_cli.pricing import Pricer
    from voicegw_cli.store import Store

REQUIRED = ("timestamp", "modality", "provider", "model")
VOICEGATEWAY_COLUMNS = (
    "timestamp",
    "project",
    "modality",
    "provider",
    "model",
    "input_units",
    "output_units",
    "calculated_cost_usd",
    "pricing_source",
    "status",
)
#: pricing_source for imported costs that did not say where they came from.
IMPORTED = "imported"
#: Rows per Arrow batch (formats DuckDB does not stream for us, pricing, bad-row search).
BATCH_ROWS = 256_000
#: DuckDB's memory while ingesting; beyond it DuckDB spills to `<store>.tmp/`.
MEMORY_LIMIT = "512MB"


class StoreWriteError(VoicegwError):
    """The store could not be written (disk full, file too large): nothing was imported."""

    exit_code = 3


@dataclass(slots=True)
class FileResult:
    path: str
    format: str
    rows: int
    added: int = 0
    priced: int = 0
    unpriced: int = 0


@dataclass(slots=True)
class IngestResult:
    files: list[FileResult] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def added(self) -> int:
        return sum(f.added for f in self.files)


# ------------------------------------------------------------------ reading


def sniff(path: Path) -> str:
    """csv, json, ndjson or parquet, from the content (the extension only breaks ties)."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{"):
        with path.open("rb") as f:
            first = f.readline().lstrip(b"\xef\xbb\xbf").strip()
        try:
            obj = json.loads(first)
        except ValueError:
            return "json"
        wrapped = isinstance(obj, dict) and isinstance(obj.get("rows", obj.get("items")), list)
        return "json" if wrapped else "ndjson"
    return "csv"


def _strings_table(columns: dict[str, list[Any]]):
    import pyarrow as pa

    return pa.table(
        {
            k: pa.array([None if v is None else _to_text(v) for v in vals], pa.string())
            for k, vals in columns.items()
        }
    )


def _to_text(v: Any) -> str:
    if isinstance(v, dict | list):
        return json.dumps(v, separators=(",", ":"))
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _records_table(path: Path, records: Sequence[Any], first_line: Callable[[int], int]):
    names: list[str] = []
    seen: set[str] = set()
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise InputError(path, first_line(i), "each record must be a JSON object")
        for k in rec:
            if k not in seen:
                seen.add(k)
                names.append(k)
    cols = {n: [rec.get(n) for rec in records] for n in names}
    return _strings_table(cols)


def _check_utf8(path: Path) -> None:
    """Stop at the first byte that is not UTF-8, naming its line (read in blocks)."""
    lines = 0
    carry = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(8 << 20)
            data = carry + block
            cut = len(data) if not block else data.rfind(b"\n") + 1
            chunk, carry = data[:cut], data[cut:]
            try:
                codecs.decode(chunk, "utf-8")
            except UnicodeDecodeError as exc:
                line = lines + chunk.count(b"\n", 0, exc.start) + 1
                raise InputError(
                    path, line, f"not UTF-8 text (byte 0x{chunk[exc.start]:02x})"
                ) from None
            lines += chunk.count(b"\n")
            if not block:
                return


def _csv_header(path: Path) -> list[str]:
    with open(path, "rb") as f:
        first = f.readline().lstrip(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    if not first.strip():
        return []
    return [h.strip() for h in next(csv.reader([first]))]


def _json_table(path: Path, fmt: str) -> tuple[Any, int]:
    """A JSON or NDJSON file (read whole: the formats of small exports) as all-text Arrow,
    and the line of its first row."""
    import pyarrow as pa

    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(path, line, f"not UTF-8 text (byte 0x{raw[exc.start]:02x})") from None
    if fmt == "ndjson":
        records = []
        lines = []
        for i, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError as exc:
                raise InputError(path, i, f"invalid JSON: {exc.msg}") from None
            lines.append(i)
        table = _records_table(path, records, lambda i: lines[i])
        return table.append_column("_line", pa.array(lines, pa.int64())), 1
    try:
        data = json.loads(raw)
    except ValueError as exc:
        where = f"line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else None
        raise InputError(path, where, f"invalid JSON: {getattr(exc, 'msg', exc)}") from None
    if isinstance(data, dict):
        data = data.get("rows", data.get("items"))
    if not isinstance(data, list):
        raise InputError(path, None, 'JSON must be a list of line items (or {"rows": [...]})')
    return _records_table(path, data, lambda i: f"item {i}"), 0


def _batches(path: Path, fmt: str) -> tuple[Iterator[tuple[Any, float]], int]:
    """All-text Arrow batches of the file with the fraction of it read after each, and the
    line of its first row."""
    import pyarrow as pa

    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except pa.ArrowInvalid as exc:
            raise InputError(path, None, f"cannot parse parquet: {_first(exc)}") from None
        total = max(pf.metadata.num_rows, 1)

        def parquet() -> Iterator[tuple[Any, float]]:
            done = 0
            for batch in pf.iter_batches(batch_size=BATCH_ROWS):
                text = pa.schema([(n, pa.string()) for n in batch.schema.names])
                done += batch.num_rows
                yield pa.Table.from_batches([batch]).cast(text), done / total

        return parquet(), 1
    if fmt == "csv":
        import pyarrow.csv as pcsv

        _check_utf8(path)
        size = max(path.stat().st_size, 1)

        def text_csv() -> Iterator[tuple[Any, float]]:
            with open(path, "rb") as f:
                header = _csv_header(path)
                reader = pcsv.open_csv(
                    f,
                    read_options=pcsv.ReadOptions(block_size=16 << 20),
                    convert_options=pcsv.ConvertOptions(
                        column_types={h: pa.string() for h in header},
                        strings_can_be_null=True,
                    ),
                )
                for batch in reader:
                    yield pa.Table.from_batches([batch]), min(f.tell() / size, 1.0)

        return text_csv(), 2
    table, base = _json_table(path, fmt)

    def whole() -> Iterator[tuple[Any, float]]:
        n = table.num_rows
        if n == 0:
            yield table, 1.0
        for start in range(0, n, BATCH_ROWS):
            part = table.slice(start, BATCH_ROWS)
            yield part, min((start + part.num_rows) / n, 1.0)

    return whole(), base


def _first(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


# ------------------------------------------------------------------ validation


def _location(fmt: str, base: int, row: int, line: int | None) -> str | int:
    if line is not None:
        return line
    if fmt == "json":
        return f"item {row}"
    if fmt == "parquet":
        return f"row {row + 1}"
    return base + row


@dataclass(frozen=True, slots=True)
class Layout:
    """Which columns a file has, and whether it is a voicegateway export."""

    names: tuple[str, ...]
    voicegateway: bool


def layout(path: Path, fmt: str, columns: Sequence[str]) -> Layout:
    """Check the file's columns (unknown or missing ones reject it)."""
    names = [n for n in columns if n not in ("_line", "_row")]
    voicegateway = set(VOICEGATEWAY_COLUMNS) <= set(names) and "input_units" in names
    # export-costs adds the call's attributes as `attr_<name>` columns; they belong to the
    # call record, not to the item, so they are read past.
    names = [n for n in names if not n.startswith(ATTRIBUTE_PREFIX)]
    if voicegateway:
        extra = sorted(set(names) - set(VOICEGATEWAY_COLUMNS))
        required: tuple[str, ...] = VOICEGATEWAY_COLUMNS[:5]
    else:
        extra = sorted(set(names) - set(COLUMN_NAMES))
        required = REQUIRED
    where = 1 if fmt == "csv" else None
    if extra:
        raise InputError(
            path,
            where,
            f"unknown column(s): {', '.join(extra)} "
            f"(expected the export-costs columns: {', '.join(COLUMN_NAMES)}, "
            f"and any {ATTRIBUTE_PREFIX}<name>)",
        )
    missing = [c for c in required if c not in names]
    if missing:
        raise InputError(path, where, f"missing required column(s): {', '.join(missing)}")
    return Layout(tuple(names), voicegateway)


def _problem_sql(voicegateway: bool) -> str:
    return "CASE " + " ".join(f"WHEN {c} THEN {m}" for c, m in _checks(voicegateway)) + " END"


def _source_sql(lay: Layout, raw: str, extra: Sequence[str]) -> str:
    """Line-item columns as text (plus the `extra` pass-through columns) over `raw`."""
    if lay.voicegateway:
        return _voicegateway_view(raw, extra)
    return _native_view(lay.names, raw, extra)


def _staged_select(lay: Layout, raw: str, extra: Sequence[str]) -> str:
    """Typed line items, each row's first problem (or NULL), and `extra`, from `raw`."""
    keep = "".join(f", {c}" for c in extra)
    src = _source_sql(lay, raw, extra)
    return (
        f"SELECT {_typed_select()}, {_problem_sql(lay.voicegateway)} AS _problem{keep}"
        f" FROM (SELECT *, {_values_sql()} FROM ({src}))"
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _col(names: Sequence[str], name: str) -> str:
    return f"NULLIF(trim(\"{name}\"), '')" if name in names else "NULL"


def _native_view(names: Sequence[str], raw: str, extra: Sequence[str]) -> str:
    parts = [f"{_col(names, n)} AS {n}" for n in COLUMN_NAMES]
    keep = "".join(f"{c}, " for c in extra)
    return f"SELECT {keep}{', '.join(parts)} FROM {raw}"


def _voicegateway_view(raw: str, extra: Sequence[str]) -> str:
    """voicegateway rows: STT input units are minutes, TTS input units characters."""
    units = {n: "NULL" for n in UNIT_COLUMNS}
    units["input_tokens"] = "CASE WHEN modality IN ('llm','realtime') THEN input_units END"
    units["output_tokens"] = "CASE WHEN modality IN ('llm','realtime') THEN output_units END"
    units["audio_seconds"] = (
        "CASE WHEN modality = 'stt' THEN CAST(TRY_CAST(input_units AS DOUBLE) * 60 AS VARCHAR)"
        " WHEN modality = 'tts' THEN NULL END"
    )
    units["characters"] = "CASE WHEN modality = 'tts' THEN input_units END"
    model = (
        "CASE WHEN starts_with(model, provider || '/') AND provider <> 'livekit'"
        " THEN substr(model, length(provider) + 2) ELSE model END"
    )
    meta = "json_object('status', status, 'imported_from', 'voicegateway')"
    fields = {
        "id": "NULL",
        "timestamp": "timestamp",
        "project": "project",
        "session_id": "NULL",
        "agent": "NULL",
        "modality": "modality",
        "provider": "provider",
        "model": model,
        "request_id": "NULL",
        **units,
        "cost_usd": "calculated_cost_usd",
        "pricing_source": "pricing_source",
        "metadata": f"CAST({meta} AS VARCHAR)",
    }
    keep = "".join(f"{c}, " for c in extra)
    inner = ", ".join(f"NULLIF(trim(\"{c}\"), '') AS {c}" for c in VOICEGATEWAY_COLUMNS)
    outer = ", ".join(f"{expr} AS {name}" for name, expr in fields.items())
    return f"SELECT {keep}{outer} FROM (SELECT {keep}{inner} FROM {raw})"


def _values_sql() -> str:
    """Each text field parsed once (NULL when it does not parse), for checks and casts."""
    parts = [
        "TRY_CAST(timestamp AS TIMESTAMPTZ) AS _v_timestamp",
        "TRY_CAST(cost_usd AS DECIMAL(38,12)) AS _v_cost_usd",
        *(f"TRY_CAST({n} AS DOUBLE) AS _v_{n}" for n in UNIT_COLUMNS),
    ]
    return ", ".join(parts)


def _checks(voicegateway: bool = False) -> list[tuple[str, str]]:
    mods = ", ".join(f"'{m}'" for m in MODALITIES)
    checks = [
        ("timestamp IS NULL", "'timestamp is empty'"),
        ("_v_timestamp IS NULL", "'timestamp ' || timestamp || ' is not an ISO date-time'"),
        ("modality IS NULL", "'modality is empty'"),
        (
            f"lower(modality) NOT IN ({mods})",
            f"'modality ' || modality || ' is not one of {', '.join(MODALITIES)}'",
        ),
        ("provider IS NULL", "'provider is empty'"),
        ("model IS NULL", "'model is empty'"),
    ]
    for name in UNIT_COLUMNS:
        v = f"_v_{name}"
        checks.append(
            (f"{name} IS NOT NULL AND {v} IS NULL", f"'{name} ' || {name} || ' is not a number'")
        )
        checks.append((f"{v} < 0", f"'{name} ' || {name} || ' is negative'"))
        if name != "audio_seconds":
            checks.append(
                (
                    f"{v} IS NOT NULL AND TRY_CAST({v} AS BIGINT) IS NULL",
                    f"'{name} ' || {name} || ' is too large'",
                )
            )
            checks.append(
                (f"{v} <> floor({v})", f"'{name} ' || {name} || ' is not a whole number'")
            )
    checks += [
        (
            "cost_usd IS NOT NULL AND _v_cost_usd IS NULL",
            "'cost_usd ' || cost_usd || ' is not a decimal number'",
        ),
        ("_v_cost_usd < 0", "'cost_usd ' || cost_usd || ' is negative'"),
        (
            "_v_cost_usd >= 100000000",
            "'cost_usd ' || cost_usd || ' is too large for one line item'",
        ),
    ]
    if not voicegateway:  # a voicegateway row's metadata is built here, always valid
        checks.append(
            ("metadata IS NOT NULL AND NOT json_valid(metadata)", "'metadata is not valid JSON'")
        )
    return checks


def _typed_select() -> str:
    """The line-item columns, typed from the parsed values (NULL where a check fails)."""
    # The same text as `a || '|' || b ...` (no part is NULL), built in one go: far cheaper.
    fields = ", ".join(f"COALESCE({n}, '')" for n in COLUMN_NAMES if n != "id")
    content = f"concat_ws('|', {fields})"
    exprs = []
    for name, typ in COLUMNS:
        if name == "id":
            exprs.append(f"COALESCE(id, 'c' || substr(sha256({content}), 1, 31)) AS id")
        elif name == "timestamp":
            exprs.append("CAST(_v_timestamp AS TIMESTAMP) AS timestamp")
        elif name == "project":
            exprs.append("COALESCE(project, 'default') AS project")
        elif name == "modality":
            exprs.append("lower(modality) AS modality")
        elif name == "audio_seconds":
            exprs.append("COALESCE(_v_audio_seconds, 0) AS audio_seconds")
        elif name in UNIT_COLUMNS:
            exprs.append(f"COALESCE(TRY_CAST(_v_{name} AS BIGINT), 0) AS {name}")
        elif name == "cost_usd":
            # Parsed to 18,10 directly when that rounds as 38,12 then 18,10 would (up to
            # 12 decimals, no exponent): narrowing a 38,12 decimal is slow.
            short = (
                "NOT contains(cost_usd, 'e') AND NOT contains(cost_usd, 'E')"
                " AND length(cost_usd) - strpos(cost_usd, '.') <= 12"
            )
            exprs.append(
                f"CASE WHEN {short} THEN TRY_CAST(cost_usd AS DECIMAL(18,10))"
                " ELSE TRY_CAST(_v_cost_usd AS DECIMAL(18,10)) END AS cost_usd"
            )
        elif name == "pricing_source":
            exprs.append(
                "CASE WHEN cost_usd IS NULL THEN NULL "
                f"ELSE COALESCE(pricing_source, '{IMPORTED}') END AS pricing_source"
            )
        else:
            exprs.append(f"CAST({name} AS {typ}) AS {name}")
    return ", ".join(exprs)


# ------------------------------------------------------------------ staging

#: Columns the staging tables carry beside the line items.
_EXTRA = ("_row", "_line")


def _stage_csv(conn: Any, path: Path, target: str, report: Phase, start: int) -> int | None:
    """DuckDB's parallel CSV reader straight into `target`. None when the file has a
    problem (or a shape DuckDB reads differently): the batch path then finds and names it,
    or stages the file itself."""
    import duckdb

    names = _csv_header(path)
    if not names or len(set(names)) != len(names) or any('"' in n for n in names):
        return None
    lay = layout(path, "csv", names)
    columns = "{" + ", ".join(f"{_quote(n)}: 'VARCHAR'" for n in names) + "}"
    raw = (
        "(SELECT NULL::BIGINT AS _row, NULL::BIGINT AS _line, * FROM read_csv("
        f"{_quote(str(path))}, header = true, auto_detect = false, delim = ',', quote = '\"',"
        f" escape = '\"', columns = {columns}))"
    )
    size = path.stat().st_size
    try:
        sql = f"CREATE TEMP TABLE {target} AS {_staged_select(lay, raw, _EXTRA)}"
        watch_query(conn, lambda: conn.execute(sql), report, start, size)
    except duckdb.FatalException:
        raise
    except duckdb.IOException as exc:
        if _is_write_failure(exc):
            raise
        return None
    except duckdb.Error:
        return None
    problems, rows = conn.execute(f"SELECT count(_problem), count(*) FROM {target}").fetchall()[0]
    if problems:
        conn.execute(f"DROP TABLE {target}")
        return None
    return rows


def _stage_batches(conn: Any, path: Path, fmt: str, target: str, report: Phase, start: int) -> int:
    """Arrow batches into `target`, each checked as it comes: the first bad row stops the
    run with its line (or row, or item) and the field at fault."""
    import pyarrow as pa

    batches, base = _batches(path, fmt)
    size = path.stat().st_size
    rows = 0
    lay: Layout | None = None
    try:
        for table, fraction in batches:
            if lay is None:
                lay = layout(path, fmt, table.column_names)
            extra = table.column("_line") if "_line" in table.column_names else None
            table = table.select([n for n in table.column_names if n in lay.names])
            table = table.append_column(
                "_row", pa.array(range(rows, rows + table.num_rows), pa.int64())
            )
            table = table.append_column(
                "_line", extra if extra is not None else pa.nulls(table.num_rows, pa.int64())
            )
            conn.register("_raw_batch", table)
            try:
                select = _staged_select(lay, "_raw_batch", _EXTRA)
                if rows == 0:
                    conn.execute(f"CREATE TEMP TABLE {target} AS {select}")
                else:
                    conn.execute(f"INSERT INTO {target} {select}")
            finally:
                conn.unregister("_raw_batch")
            bad = conn.execute(
                f"SELECT _row, _problem, _line FROM {target} WHERE _row >= ?"
                " AND _problem IS NOT NULL ORDER BY _row LIMIT 1",
                [rows],
            ).fetchall()
            if bad:
                row, msg, line = bad[0]
                raise InputError(path, _location(fmt, base, row, line), msg)
            rows += table.num_rows
            report.update(start + size * fraction)
    except pa.ArrowInvalid as exc:
        raise InputError(path, None, f"cannot parse {fmt}: {_first(exc)}") from None
    if lay is None:  # no batch at all: an empty file
        raise InputError(path, None, "no header row" if fmt == "csv" else "no rows")
    return rows


def _is_write_failure(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(
        w in text
        for w in ("write", "no space", "file too large", "disk", "could not truncate", "fsync")
    )


def _price_staged(conn: Any, target: str, pricer: Callable[[], Pricer]) -> tuple[int, int]:
    """Price the staged rows that came without a cost, in batches; (priced, unpriced)."""
    need = conn.execute(f"SELECT count(*) FROM {target} WHERE cost_usd IS NULL").fetchall()[0][0]
    if need:
        conn.execute(f"CREATE TEMP TABLE {target}_priced AS FROM {target} LIMIT 0")
        first, last = conn.execute(
            f"SELECT min(rowid), max(rowid) FROM {target} WHERE cost_usd IS NULL"
        ).fetchall()[0]
        for lo in range(first, last + 1, BATCH_ROWS):
            batch = conn.sql(
                f"FROM {target} WHERE cost_usd IS NULL AND rowid >= {lo}"
                f" AND rowid < {lo + BATCH_ROWS}"
            ).to_arrow_table()
            if batch.num_rows == 0:
                continue
            conn.register("_priced_batch", pricer().price_table(batch))
            try:
                conn.execute(f"INSERT INTO {target}_priced BY NAME SELECT * FROM _priced_batch")
            finally:
                conn.unregister("_priced_batch")
        conn.execute(f"DELETE FROM {target} WHERE cost_usd IS NULL")
        conn.execute(f"INSERT INTO {target} SELECT * FROM {target}_priced")
        conn.execute(f"DROP TABLE {target}_priced")
    unpriced = conn.execute(
        f"SELECT count(*) FROM {target} WHERE pricing_source = 'unpriced'"
    ).fetchall()[0][0]
    return need, unpriced


@contextmanager
def _bounded(conn: Any, temp_dir: Path) -> Iterator[None]:
    """DuckDB with a memory limit, spilling beside the store, free to reorder rows."""
    names = ("memory_limit", "preserve_insertion_order")
    listed = ", ".join(_quote(n) for n in names)
    old = dict(
        conn.execute(
            f"SELECT name, value FROM duckdb_settings() WHERE name IN ({listed})"
        ).fetchall()
    )
    conn.execute(f"SET memory_limit = {_quote(MEMORY_LIMIT)}")
    conn.execute("SET preserve_insertion_order = false")
    try:
        conn.execute(f"SET temp_directory = {_quote(str(temp_dir))}")
    except Exception:  # already spilling elsewhere: keep that place
        pass
    try:
        yield
    finally:
        try:
            for name, value in old.items():
                conn.execute(f"SET {name} = {_quote(str(value))}")
        except Exception:  # the connection is unusable after a failed write
            pass


class _Digest(threading.Thread):
    """A file's SHA-256, computed beside the import (hashlib releases the GIL)."""

    def __init__(self, path: Path) -> None:
        super().__init__(name="voicegw-sha256", daemon=True)
        self.path = path
        self.hexdigest = ""
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            h = hashlib.sha256()
            with open(self.path, "rb") as f:
                for block in iter(lambda: f.read(4 << 20), b""):
                    h.update(block)
            self.hexdigest = h.hexdigest()
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            self.error = exc

    def result(self) -> str:
        self.join()
        if self.error is not None:
            raise InputError(self.path, None, f"cannot read: {self.error}")
        return self.hexdigest


# ------------------------------------------------------------------ the import


def ingest_files(
    store: Store,
    paths: Sequence[str | Path],
    *,
    pricer: Pricer | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Check, price and insert every file in one transaction: all of them or nothing.

    `progress` hears two phases: "read" in bytes of the files, then "store" in rows.
    A failure to write the store (a full disk) raises `StoreWriteError`; the store keeps
    what it held before."""
    import duckdb

    files = [Path(p) for p in paths]
    for path in files:
        if not path.is_file():
            raise InputError(path, None, "file not found")
    conn = store.conn
    digests = [_Digest(p) for p in files]
    for d in digests:
        d.start()
    cached: list[Pricer] = [pricer] if pricer is not None else []

    def get_pricer() -> Pricer:
        if not cached:
            from voicegw_cli.pricing import Pricer

            cached.append(Pricer(store.config.pricing_overrides))
        return cached[0]

    result = IngestResult()
    sizes = [p.stat().st_size for p in files]
    store_path = store.config.store_path
    try:
        with _bounded(conn, store_path.with_name(store_path.name + ".tmp")):
            conn.execute("BEGIN TRANSACTION")
            try:
                _ingest_in_transaction(
                    conn, store, files, sizes, digests, get_pricer, result, progress
                )
                conn.execute("COMMIT")
            except BaseException:
                try:
                    conn.execute("ROLLBACK")
                except duckdb.Error:
                    pass
                raise
    except duckdb.Error as exc:
        store.broken = True
        raise StoreWriteError(
            f"{store_path}: cannot write the store, nothing was imported: {_first(exc)}"
        ) from None
    return result


def _ingest_in_transaction(
    conn: Any,
    store: Store,
    files: list[Path],
    sizes: list[int],
    digests: list[_Digest],
    get_pricer: Callable[[], Pricer],
    result: IngestResult,
    progress: Progress | None,
) -> None:
    read = phase(progress, "read", sum(sizes), "bytes")
    staged: list[tuple[Path, str, FileResult]] = []
    start = 0
    for i, (path, size) in enumerate(zip(files, sizes, strict=True)):
        fmt = sniff(path)
        target = f"_ingest_{i}"
        rows = _stage_csv(conn, path, target, read, start) if fmt == "csv" else None
        if rows is None:
            rows = _stage_batches(conn, path, fmt, target, read, start)
        fr = FileResult(str(path), fmt, rows)
        fr.priced, fr.unpriced = _price_staged(conn, target, get_pricer)
        staged.append((path, target, fr))
        start += size
        read.update(start)
    read.finish()
    stored = phase(progress, "store", sum(fr.rows for _, _, fr in staged), "rows")
    done = 0
    for (path, target, fr), digest in zip(staged, digests, strict=True):
        fr.added = watch_query(conn, lambda t=target: store.insert_staged(t), stored, done, fr.rows)
        conn.execute(f"DROP TABLE {target}")
        conn.execute(
            "INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?)",
            [str(path.resolve()), digest.result(), fr.rows, fr.added, clock.utcnow_naive()],
        )
        result.files.append(fr)
        done += fr.rows
        stored.update(done)
    stored.finish()
