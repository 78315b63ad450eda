"""Importing line items from CSV, JSON, NDJSON or Parquet files.

Reads our own `export-costs` columns (so exports round-trip) and `voicegateway
export-costs` CSVs. Every row is checked before anything is written: one bad row rejects
the whole run with `file:line: reason`, and the store stays as it was. Rows without an id
get one derived from their content, so importing a file twice adds nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicegw_cli import clock
from voicegw_cli.errors import InputError
from voicegw_cli.items import COLUMN_NAMES, COLUMNS, MODALITIES, UNIT_COLUMNS
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
        first = path.open("rb").readline().lstrip(b"\xef\xbb\xbf").strip()
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


def read_file(path: Path) -> tuple[str, Any, int]:
    """The file as an all-text Arrow table, its format, and the line of its first row."""
    import pyarrow as pa

    if not path.is_file():
        raise InputError(path, None, "file not found")
    fmt = sniff(path)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            return fmt, table.cast(pa.schema([(n, pa.string()) for n in table.column_names])), 1
        raw = path.read_bytes()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise InputError(path, line, f"not UTF-8 text (byte 0x{raw[exc.start]:02x})") from None
        if fmt == "csv":
            import pyarrow.csv as pcsv

            body = raw.lstrip(b"\xef\xbb\xbf")
            header = body.split(b"\n", 1)[0].decode().strip().split(",")
            table = pcsv.read_csv(
                io.BytesIO(body),
                convert_options=pcsv.ConvertOptions(
                    column_types={h.strip().strip('"'): pa.string() for h in header},
                    strings_can_be_null=True,
                ),
            )
            return fmt, table, 2
        if fmt == "ndjson":
            records = []
            for i, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
                if not line.strip():
                    records.append({"__blank__": True})
                    continue
                try:
                    records.append(json.loads(line))
                except ValueError as exc:
                    raise InputError(path, i, f"invalid JSON: {exc.msg}") from None
            blank = [i for i, r in enumerate(records) if isinstance(r, dict) and "__blank__" in r]
            keep = [r for r in records if not (isinstance(r, dict) and "__blank__" in r)]
            lines = [i + 1 for i in range(len(records)) if i not in set(blank)]
            table = _records_table(path, keep, lambda i: lines[i])
            return fmt, table.append_column("_line", pa.array(lines, pa.int64())), 1
        try:
            data = json.loads(raw)
        except ValueError as exc:
            where = f"line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else None
            raise InputError(path, where, f"invalid JSON: {getattr(exc, 'msg', exc)}") from None
        if isinstance(data, dict):
            data = data.get("rows", data.get("items"))
        if not isinstance(data, list):
            raise InputError(path, None, 'JSON must be a list of line items (or {"rows": [...]})')
        table = _records_table(path, data, lambda i: f"item {i}")
        return fmt, table, 0
    except pa.ArrowInvalid as exc:
        raise InputError(path, None, f"cannot parse {fmt}: {str(exc).splitlines()[0]}") from None


# ------------------------------------------------------------------ validation


def _location(fmt: str, base: int, row: int, line: int | None) -> str | int:
    if line is not None:
        return line
    if fmt == "json":
        return f"item {row}"
    if fmt == "parquet":
        return f"row {row + 1}"
    return base + row


def _first_bad(conn: Any, sql: str) -> tuple[int, Any, int | None] | None:
    rows = conn.execute(sql).fetchall()
    return rows[0] if rows else None


def normalise(conn: Any, path: Path, fmt: str, table: Any, base_line: int) -> Any:
    """Check every row and return a typed Arrow table of line-item columns."""
    import pyarrow as pa

    names = [n for n in table.column_names if n != "_line"]
    lines = table.column("_line") if "_line" in table.column_names else None
    table = table.select(names).append_column("_row", pa.array(range(table.num_rows), pa.int64()))
    if lines is not None:
        table = table.append_column("_line", lines)
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
    if extra:
        raise InputError(
            path,
            1 if fmt == "csv" else None,
            f"unknown column(s): {', '.join(extra)} "
            f"(expected the export-costs columns: {', '.join(COLUMN_NAMES)}, "
            f"and any {ATTRIBUTE_PREFIX}<name>)",
        )
    missing = [c for c in required if c not in names]
    if missing:
        raise InputError(
            path, 1 if fmt == "csv" else None, f"missing required column(s): {', '.join(missing)}"
        )
    conn.register("_raw", table)
    try:
        has_line = lines is not None
        src = _voicegateway_view(has_line) if voicegateway else _native_view(names, has_line)
        conn.execute(f"CREATE OR REPLACE TEMP VIEW _src AS {src}")
        line_col = "_line" if lines is not None else "NULL"
        problem = "CASE " + " ".join(f"WHEN {c} THEN {m}" for c, m in _checks()) + " END"
        bad = _first_bad(
            conn,
            f"SELECT _row, problem, {line_col} FROM (SELECT *, {problem} AS problem FROM _src)"
            " WHERE problem IS NOT NULL ORDER BY _row LIMIT 1",
        )
        if bad:
            row, msg, line = bad
            raise InputError(path, _location(fmt, base_line, row, line), msg)
        typed = conn.sql(f"SELECT {_typed_select()} FROM _src ORDER BY _row").to_arrow_table()
    finally:
        conn.execute("DROP VIEW IF EXISTS _src")
        conn.unregister("_raw")
    return typed


def _col(names: Sequence[str], name: str) -> str:
    return f"NULLIF(trim(\"{name}\"), '')" if name in names else "NULL"


def _native_view(names: Sequence[str], has_line: bool) -> str:
    parts = [f"{_col(names, n)} AS {n}" for n in COLUMN_NAMES]
    extra = ", _line" if has_line else ""
    return f"SELECT _row{extra}, {', '.join(parts)} FROM _raw"


def _voicegateway_view(has_line: bool) -> str:
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
    inner = ", ".join(f"NULLIF(trim(\"{c}\"), '') AS {c}" for c in VOICEGATEWAY_COLUMNS)
    outer = ", ".join(f"{expr} AS {name}" for name, expr in fields.items())
    line = ", _line" if has_line else ""
    return f"SELECT _row{line}, {outer} FROM (SELECT _row{line}, {inner} FROM _raw)"


def _checks() -> list[tuple[str, str]]:
    mods = ", ".join(f"'{m}'" for m in MODALITIES)
    checks = [
        ("timestamp IS NULL", "'timestamp is empty'"),
        (
            "TRY_CAST(timestamp AS TIMESTAMPTZ) IS NULL",
            "'timestamp ' || timestamp || ' is not an ISO date-time'",
        ),
        ("modality IS NULL", "'modality is empty'"),
        (
            f"lower(modality) NOT IN ({mods})",
            f"'modality ' || modality || ' is not one of {', '.join(MODALITIES)}'",
        ),
        ("provider IS NULL", "'provider is empty'"),
        ("model IS NULL", "'model is empty'"),
    ]
    for name in UNIT_COLUMNS:
        typ = "DOUBLE"
        checks.append(
            (
                f"{name} IS NOT NULL AND TRY_CAST({name} AS {typ}) IS NULL",
                f"'{name} ' || {name} || ' is not a number'",
            )
        )
        checks.append((f"TRY_CAST({name} AS DOUBLE) < 0", f"'{name} ' || {name} || ' is negative'"))
        if name != "audio_seconds":
            checks.append(
                (
                    f"TRY_CAST({name} AS DOUBLE) <> floor(TRY_CAST({name} AS DOUBLE))",
                    f"'{name} ' || {name} || ' is not a whole number'",
                )
            )
    checks += [
        (
            "cost_usd IS NOT NULL AND TRY_CAST(cost_usd AS DECIMAL(38,12)) IS NULL",
            "'cost_usd ' || cost_usd || ' is not a decimal number'",
        ),
        ("TRY_CAST(cost_usd AS DECIMAL(38,12)) < 0", "'cost_usd ' || cost_usd || ' is negative'"),
        (
            "TRY_CAST(cost_usd AS DECIMAL(38,12)) >= 100000000",
            "'cost_usd ' || cost_usd || ' is too large for one line item'",
        ),
        ("metadata IS NOT NULL AND NOT json_valid(metadata)", "'metadata is not valid JSON'"),
    ]
    return checks


def _typed_select() -> str:
    content = " || '|' || ".join(f"COALESCE({n}, '')" for n in COLUMN_NAMES if n not in ("id",))
    exprs = []
    for name, typ in COLUMNS:
        if name == "id":
            exprs.append(f"COALESCE(id, 'c' || substr(sha256({content}), 1, 31)) AS id")
        elif name == "timestamp":
            exprs.append("CAST(CAST(timestamp AS TIMESTAMPTZ) AS TIMESTAMP) AS timestamp")
        elif name == "project":
            exprs.append("COALESCE(project, 'default') AS project")
        elif name == "modality":
            exprs.append("lower(modality) AS modality")
        elif name == "audio_seconds":
            exprs.append("COALESCE(CAST(audio_seconds AS DOUBLE), 0) AS audio_seconds")
        elif name in UNIT_COLUMNS:
            exprs.append(f"COALESCE(CAST(CAST({name} AS DOUBLE) AS BIGINT), 0) AS {name}")
        elif name == "cost_usd":
            exprs.append("CAST(CAST(cost_usd AS DECIMAL(38,12)) AS DECIMAL(18,10)) AS cost_usd")
        elif name == "pricing_source":
            exprs.append(
                "CASE WHEN cost_usd IS NULL THEN NULL "
                f"ELSE COALESCE(pricing_source, '{IMPORTED}') END AS pricing_source"
            )
        else:
            exprs.append(f"CAST({name} AS {typ}) AS {name}")
    return ", ".join(exprs)


# ------------------------------------------------------------------ the import


def ingest_files(
    store: Store,
    paths: Sequence[str | Path],
    *,
    pricer: Pricer | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> IngestResult:
    """Validate every file, then price and insert them all in one transaction."""
    import pyarrow as pa
    import pyarrow.compute as pc

    conn = store.conn
    result = IngestResult()
    staged: list[tuple[Path, Any, FileResult]] = []
    for raw_path in paths:
        path = Path(raw_path)
        fmt, table, base = read_file(path)
        if progress:
            progress(f"read {path.name}", 1)
        typed = normalise(conn, path, fmt, table, base)
        if progress:
            progress(f"checked {path.name}", 1)
        fr = FileResult(str(path), fmt, typed.num_rows)
        needs_price = pc.sum(pc.is_null(typed.column("cost_usd"))).as_py() or 0
        if needs_price:
            if pricer is None:
                from voicegw_cli.pricing import Pricer

                pricer = Pricer(store.config.pricing_overrides)
            typed = pricer.price_table(typed)
        fr.priced = needs_price
        fr.unpriced = (
            pc.sum(pc.equal(typed.column("pricing_source"), pa.scalar("unpriced"))).as_py() or 0
        )
        if progress:
            progress(f"priced {path.name}", 1)
        staged.append((path, typed, fr))
    conn.execute("BEGIN TRANSACTION")
    try:
        for path, typed, fr in staged:
            fr.added = store.insert_items(typed)
            conn.execute(
                "INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?)",
                [str(path.resolve()), _sha256(path), fr.rows, fr.added, clock.utcnow_naive()],
            )
            result.files.append(fr)
            if progress:
                progress(f"stored {path.name}", 1)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return result


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
