"""export-costs: every line item of a period, in the columns `ingest` reads back, plus
the item's call attributes as `attr_<name>` columns (which `ingest` reads past).

DuckDB's COPY writes every format, parallel and streaming: rows never pass through
Python or pandas. With `-o` it writes a temporary name that replaces the target in one
rename, so a failed export never leaves half a file; to stdout it writes straight to the
process's descriptor (or, for an in-memory stream, through a temporary file). One writer
for both means `-o out.csv` and `> out.csv` give the same rows. Row order is not
promised: keeping it would make DuckDB buffer the whole result.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from voicegw_cli.errors import UsageError, VoicegwError
from voicegw_cli.store.aggregates import export_sql

FORMATS = ("csv", "json", "ndjson", "parquet")
#: DuckDB's working memory while exporting; the process stays under 300 MB in all.
MEMORY_LIMIT = "160MB"

_COPY_OPTIONS = {
    "csv": "FORMAT csv, HEADER true",
    "json": "FORMAT json, ARRAY true",
    "ndjson": "FORMAT json",
    # Smaller row groups: each writer thread holds one in memory until it is full.
    "parquet": "FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 50000",
}


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _reader_left() -> int:
    """The reader of our stdout went away (`| head`): stop quietly, like any filter."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0


def _fd(stream: IO[bytes]) -> int | None:
    """The OS descriptor behind `stream`, when there is one DuckDB can open by path."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return fd if os.path.exists(f"/dev/fd/{fd}") else None


def export_costs(
    conn: Any,
    start: datetime,
    end: datetime,
    *,
    fmt: str,
    out: Path | None = None,
    project: str | None = None,
    stream: IO[bytes] | None = None,
) -> int:
    """Write the items with start <= timestamp < end (naive UTC); returns the row count."""
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    target: IO[bytes] | None = None
    tmp: Path | None = None
    if out is not None:
        out = out.expanduser()
        if out.is_dir():
            raise UsageError(f"-o {out}: is a folder; give a file name")
        if not out.parent.exists():
            raise UsageError(f"-o {out}: folder {out.parent} does not exist")
        tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
        dest = str(tmp)
    else:
        target = stream if stream is not None else sys.stdout.buffer
        if fmt == "parquet" and target.isatty():
            raise UsageError("parquet is binary: give -o FILE or redirect stdout to a file")
        fd = _fd(target)
        if fd is not None:  # a real descriptor (terminal, pipe, file): DuckDB writes to it
            target.flush()
            dest = f"/dev/fd/{fd}"
        else:  # an in-memory stream: write a temporary file, then copy it over
            handle, name = tempfile.mkstemp(prefix="voicegw-export-", suffix=f".{fmt}")
            os.close(handle)
            tmp = Path(name)
            dest = name
    from voicegw_cli.store.calls import attribute_columns

    attributes = attribute_columns(conn, start, end, project)
    sql, params = export_sql(fmt, project=project, attributes=attributes)
    quoted = dest.replace("'", "''")
    # Without insertion order to keep, DuckDB writes each thread's rows as they come:
    # memory stays flat instead of buffering the result. The memory limit caps what its
    # writers may hold at once (they flush sooner rather than fail).
    conn.execute("SET preserve_insertion_order = false")
    conn.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    # DuckDB's own write-aside-and-rename cannot work on /dev/fd, and is ours for files.
    options = f"{_COPY_OPTIONS[fmt]}, USE_TMP_FILE false"
    try:
        try:
            [(rows,)] = conn.execute(
                f"COPY ({sql}) TO '{quoted}' ({options})", {**params, "start": start, "end": end}
            ).fetchall()
            if out is not None and tmp is not None:
                os.replace(tmp, out)
            elif tmp is not None and target is not None:
                with tmp.open("rb") as f:
                    shutil.copyfileobj(f, target, 1 << 20)
                target.flush()
        except BrokenPipeError:
            return _reader_left()
        except Exception as exc:  # duckdb.IOException, OSError: disk full, permissions
            if "Broken pipe" in str(exc):
                return _reader_left()
            where = out if out is not None else "stdout"
            raise VoicegwError(f"{where}: cannot write the export: {_first_line(exc)}") from None
    finally:
        conn.execute("RESET preserve_insertion_order")
        conn.execute("RESET memory_limit")
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return int(rows)
