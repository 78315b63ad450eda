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
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from voicegw_cli.errors import UsageError, VoicegwError
from voicegw_cli.progress import Phase, Progress, phase, watch_query
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


def _reader_left(target: IO[bytes] | None) -> int:
    """The reader went away (`| head`, a closed HTTP stream): stop quietly, like any
    filter; when it was our stdout, point it at /dev/null so exit does not fail."""
    if target is sys.stdout.buffer:
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
    progress: Progress | None = None,
) -> int:
    """Write the items with start <= timestamp < end (naive UTC); returns the row count.
    `progress` hears the rows written (DuckDB's own progress of the COPY)."""
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
    report = _export_phase(conn, progress, start, end, project)
    try:
        try:
            [(rows,)] = watch_query(
                conn,
                lambda: conn.execute(
                    f"COPY ({sql}) TO '{quoted}' ({options})",
                    {**params, "start": start, "end": end},
                ).fetchall(),
                report,
            )
            report.finish()
            if out is not None and tmp is not None:
                os.replace(tmp, out)
            elif tmp is not None and target is not None:
                with tmp.open("rb") as f:
                    shutil.copyfileobj(f, target, 1 << 20)
                target.flush()
        except BrokenPipeError:
            return _reader_left(target)
        except Exception as exc:  # duckdb.IOException, OSError: disk full, permissions
            if "Broken pipe" in str(exc):
                return _reader_left(target)
            where = out if out is not None else "stdout"
            raise VoicegwError(f"{where}: cannot write the export: {_first_line(exc)}") from None
    finally:
        conn.execute("RESET preserve_insertion_order")
        conn.execute("RESET memory_limit")
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return int(rows)


# ------------------------------------------------------------------ partitioned Parquet


@dataclass(slots=True)
class PartitionedExport:
    """What `export_partitioned` did to a target."""

    target: str
    days_written: int = 0
    days_unchanged: int = 0
    days_removed: int = 0
    rows_written: int = 0

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def _export_phase(
    conn: Any, progress: Progress | None, start: datetime, end: datetime, project: str | None
) -> Phase:
    """The export's phase, sized by the period's item count (from the rollup: no scan)."""
    if progress is None:
        return phase(None, "export", 0)
    from voicegw_cli.store.rollup import count_items

    return phase(progress, "export", count_items(conn, start, end, project=project))


def _day_fingerprints(
    conn: Any, zone: str, start: datetime | None, end: datetime | None, project: str | None
) -> dict[date, tuple[str, int]]:
    """Per local day: a fingerprint of its items (counts, units and cost from the rollup,
    which every write keeps exact) and its item count."""
    import hashlib

    from voicegw_cli.store.queries import local_day
    from voicegw_cli.store.rollup import MEASURES

    where, params = ["TRUE"], {"tz": zone}
    if start is not None and end is not None:
        where.append("bucket >= $start AND bucket < $end")
        params.update(start=start, end=end)
    if project is not None:
        where.append("project = $project")
        params["project"] = project
    sums = ", ".join(f"SUM({m}) AS {m}" for m, _, _ in MEASURES)
    rows = conn.execute(
        f"""SELECT {local_day("bucket")} AS day, {sums}, count(*) AS groups
            FROM rollup_15m WHERE {" AND ".join(where)} GROUP BY 1""",
        params,
    ).fetchall()
    out = {}
    for day, *vals in rows:
        digest = hashlib.sha256("|".join(str(v) for v in vals).encode()).hexdigest()[:32]
        out[day] = (digest, int(vals[0]))
    return out


def export_partitioned(
    conn: Any,
    where: str,
    *,
    zone: str,
    start: datetime | None = None,
    end: datetime | None = None,
    project: str | None = None,
    settings: Any = None,
) -> PartitionedExport:
    """The ledger as hive-partitioned Parquet, `day=YYYY-MM-DD/part-0.parquet` (local days
    in `zone`), under a directory or `s3://bucket/prefix`. Incremental: only days whose
    items changed since the last export to this target (remembered in `export_marks`)
    are written again, each replacing its one file whole; a day whose items are all gone
    loses its file. [start, end) are naive UTC bounds on quarter hours, or None for all.
    """
    from voicegw_cli import clock
    from voicegw_cli.fleet.target import TargetError, target_for

    target = target_for(where, settings)
    if target.scheme == "file":  # the export's own directory is made; its parent must exist
        root = Path(target.root)
        if root.exists() and not root.is_dir():
            raise UsageError(f"-o {where}: is a file; give a directory for --partition")
        if not root.parent.is_dir():
            raise UsageError(f"-o {where}: folder {root.parent} does not exist")
        root.mkdir(exist_ok=True)
    mark = f"{target.url}|{project or '*'}|{zone}"
    report = PartitionedExport(target=target.url)
    current = _day_fingerprints(conn, zone, start, end, project)
    lo = start.date() - timedelta(days=1) if start else date.min
    hi = end.date() + timedelta(days=1) if end else date.max
    marks = {
        d: fp
        for d, fp in conn.execute(
            "SELECT day, fingerprint FROM export_marks WHERE target = ?", [mark]
        ).fetchall()
        if lo <= d <= hi
    }
    sql, params = export_sql("parquet", project=project)
    conn.execute("SET preserve_insertion_order = false")
    conn.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    handle, name = tempfile.mkstemp(prefix="voicegw-part-", suffix=".parquet")
    os.close(handle)
    try:
        for day in sorted(current):
            fingerprint, _n = current[day]
            if marks.get(day) == fingerprint:
                report.days_unchanged += 1
                continue
            quoted = name.replace("'", "''")
            [(rows,)] = conn.execute(  # a local day is [its midnight, the next one) in UTC
                f"COPY ({sql}) TO '{quoted}' ({_COPY_OPTIONS['parquet']})",
                {
                    **params,
                    "start": _local_midnight(day, zone),
                    "end": _local_midnight(day + timedelta(days=1), zone),
                },
            ).fetchall()
            try:
                target.put_file(f"day={day.isoformat()}/part-0.parquet", name)
            except TargetError as exc:
                raise VoicegwError(str(exc)) from None
            conn.execute(
                "INSERT OR REPLACE INTO export_marks VALUES (?, ?, ?, ?, ?)",
                [mark, day, fingerprint, int(rows), clock.utcnow_naive()],
            )
            report.days_written += 1
            report.rows_written += int(rows)
        for day in sorted(set(marks) - set(current)):
            if start is not None and not (
                _local_midnight(day, zone) >= start and _local_midnight(day, zone) < end
            ):
                continue
            target.delete_dir(f"day={day.isoformat()}")
            conn.execute("DELETE FROM export_marks WHERE target = ? AND day = ?", [mark, day])
            report.days_removed += 1
    finally:
        conn.execute("RESET preserve_insertion_order")
        conn.execute("RESET memory_limit")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
    return report


def _local_midnight(day: date, zone: str) -> datetime:
    """Naive UTC instant of `day`'s local midnight in `zone`."""
    from datetime import UTC, time
    from zoneinfo import ZoneInfo

    local = datetime.combine(day, time(), ZoneInfo(zone))
    return local.astimezone(UTC).replace(tzinfo=None)
