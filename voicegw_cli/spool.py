"""The spool: append-only NDJSON files, one per writing process, folded into the store.

Agent processes never open DuckDB (one writer per file, and a writer locks out every
reader). Each process appends complete lines to its own file and holds an exclusive
`flock` on it while alive, so a reader can tell a live file from an abandoned one: a
file whose lock is free and whose bytes are all folded can be retired.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

SUFFIX = ".ndjson"
#: Guardrail events go to files of their own in this subdirectory (same writer, same
#: fold discipline); line-item readers list only the spool's top level and never see them.
EVENTS_SUBDIR = "guardrails"


def events_dir(spool_dir: str | Path) -> Path:
    return Path(spool_dir) / EVENTS_SUBDIR


def dumps_record(record: dict[str, Any]) -> str:
    """One spool line (without its newline); the hook serialises with this too."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=str)


class SpoolWriter:
    """Appends batches of line-item records to this process's own spool file.

    Thread-safe; fork-safe (a forked child opens a file of its own on first write).
    Each `write` is one `write(2)` of whole lines followed by a flush, so a crash can
    tear at most the last line, which the fold leaves for later.
    """

    def __init__(self, spool_dir: str | Path, *, fsync: bool = False) -> None:
        self.spool_dir = Path(spool_dir)
        self.fsync = fsync
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._pid: int | None = None
        self.path: Path | None = None

    def _open(self) -> IO[bytes]:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        path = self.spool_dir / name
        f = open(path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the writer
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._file, self._pid, self.path = f, os.getpid(), path
        return f

    def write(self, records: Iterable[dict[str, Any]]) -> int:
        data = "".join(dumps_record(r) + "\n" for r in records).encode()
        if not data:
            return 0
        with self._lock:
            f = self._file if self._pid == os.getpid() else None
            if f is None:
                f = self._open()
            f.write(data)
            if self.fsync:
                os.fsync(f.fileno())
        return len(data)

    def write_lines(self, data: bytes) -> None:
        """Append pre-serialised NDJSON (whole lines, ending in a newline)."""
        with self._lock:
            f = self._file if self._pid == os.getpid() else None
            if f is None:
                f = self._open()
            f.write(data)
            if self.fsync:
                os.fsync(f.fileno())

    def close(self) -> None:
        with self._lock:
            if self._file is not None and self._pid == os.getpid():
                self._file.close()  # releases the flock: the file may now be retired
            self._file = None


@dataclass(slots=True)
class SpoolChunk:
    """Complete lines of one spool file from byte `start` to byte `end`."""

    path: Path
    start: int
    end: int
    data: bytes
    writer_alive: bool

    @property
    def name(self) -> str:
        return self.path.name


def writer_alive(path: Path) -> bool:
    """True while the writing process still holds the file's lock."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def spool_files(spool_dir: str | Path) -> list[Path]:
    d = Path(spool_dir)
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.name.endswith(SUFFIX) and p.is_file())


def pending(spool_dir: str | Path, offsets: dict[str, int]) -> Iterator[SpoolChunk]:
    """Unfolded complete lines per file; a torn last line stays for the next read.

    `writer_alive` is sampled before reading, so a dead writer's chunk is final: nothing
    can be appended after it.
    """
    for path in spool_files(spool_dir):
        alive = writer_alive(path)
        start = offsets.get(path.name, 0)
        try:
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read()
        except FileNotFoundError:
            continue
        cut = data.rfind(b"\n") + 1
        yield SpoolChunk(path, start, start + cut, data[:cut], alive)


def parse_lines(data: bytes, source: str = "spool") -> list[dict[str, Any]]:
    """Parse NDJSON; a corrupt line is skipped rather than blocking every later fold."""
    out: list[dict[str, Any]] = []
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
