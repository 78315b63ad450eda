"""The spool: append-only NDJSON files, one per writing process, folded into the store.

Agent processes never open DuckDB (one writer per file, and a writer locks out every
reader). Each process appends complete lines to its own file and holds an exclusive
`flock` on it while alive, so a reader can tell a live file from an abandoned one: a
file whose lock is free and whose bytes are all folded can be retired.

A file whose lock is free is final: nothing is ever appended to it again. With
`set_rotation` (a fleet that ships its spool, see `voicegw_cli.fleet`) a writer also
closes its file at a size or an age and continues in a new one (the same name with the
next sequence number), so closed segments can be shipped while the process lives on.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
import uuid
import weakref
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


#: Spool subdirectories that hold no records to fold or ship (the fold's quarantine).
NOT_SEGMENTS = frozenset({"rejected"})


def host_name() -> str:
    """This host's name in spool file names and object keys ($VOICEGW_HOST wins)."""
    name = os.environ.get("VOICEGW_HOST") or socket.gethostname() or "host"
    return name.replace("/", "_")


@dataclass(slots=True)
class Rotation:
    """Close a spool file once it holds `max_bytes` or is `max_seconds` old."""

    max_bytes: int
    max_seconds: float


_rotation: Rotation | None = None
_WRITERS: weakref.WeakSet[SpoolWriter] = weakref.WeakSet()


def set_rotation(rotation: Rotation | None) -> None:
    """Process-wide: every SpoolWriter (usage, and any other record kind's) rotates."""
    global _rotation
    _rotation = rotation


def rotate_due() -> int:
    """Close every writer's file that is past its age (call on a timer, off the loop)."""
    return sum(w.rotate_if_due() for w in list(_WRITERS))


def dumps_record(record: dict[str, Any]) -> str:
    """One spool line (without its newline); the hook serialises with this too."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=str)


class SpoolWriter:
    """Appends batches of line-item records to this process's own spool file.

    Thread-safe; fork-safe (a forked child opens a file of its own on first write).
    Each `write` is one `write(2)` of whole lines followed by a flush, so a crash can
    tear at most the last line, which the fold leaves for later. Files are named
    `<host>-<pid>-<random>-<sequence>.ndjson`: no two writers, anywhere, share a name.
    """

    def __init__(self, spool_dir: str | Path, *, fsync: bool = False) -> None:
        self.spool_dir = Path(spool_dir)
        self.fsync = fsync
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._pid: int | None = None
        self._stem = ""
        self._seq = 0
        self._size = 0
        self._opened_at = 0.0
        self.path: Path | None = None
        _WRITERS.add(self)

    def _open(self) -> IO[bytes]:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        if self._pid != os.getpid():  # first file of this process (or of a forked child)
            self._stem = f"{host_name()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            self._seq = 0
        self._seq += 1
        path = self.spool_dir / f"{self._stem}-{self._seq:05d}{SUFFIX}"
        # Locked under a hidden name, then renamed into view: no reader ever sees the file
        # unlocked (it would take an empty, free file for one whose writer is gone).
        hidden = path.with_name("." + path.name)
        f = open(hidden, "ab", buffering=0)  # noqa: SIM115 - lives as long as the writer
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(hidden, path)
        self._file, self._pid, self.path = f, os.getpid(), path
        self._size, self._opened_at = 0, time.monotonic()
        return f

    def write(self, records: Iterable[dict[str, Any]]) -> int:
        data = "".join(dumps_record(r) + "\n" for r in records).encode()
        if not data:
            return 0
        self.write_lines(data)
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
            self._size += len(data)
            rot = _rotation
            if rot is not None and self._size >= rot.max_bytes:
                self._close_file()

    def rotate_if_due(self) -> bool:
        """Close the current file if it is past the rotation age; True when closed."""
        rot = _rotation
        if rot is None:
            return False
        with self._lock:
            if self._file is None or self._pid != os.getpid():
                return False
            if time.monotonic() - self._opened_at < rot.max_seconds:
                return False
            self._close_file()
            return True

    def _close_file(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()  # releases the flock: the file is final from now on
        self._file = None

    def close(self) -> None:
        with self._lock:
            self._close_file()


@dataclass(slots=True)
class SpoolChunk:
    """Complete lines of one spool file from byte `start` to byte `end`."""

    path: Path
    start: int
    end: int
    data: bytes
    writer_alive: bool
    #: The file's path relative to the spool (`x.ndjson`, or `sub/x.ndjson` for a record
    #: kind written to a subdirectory): its offset key, and its name once shipped.
    key: str = ""

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
    return sorted(
        p
        for p in d.iterdir()
        if p.name.endswith(SUFFIX) and not p.name.startswith(".") and p.is_file()
    )


def segment_files(spool_dir: str | Path) -> list[tuple[str, Path]]:
    """Every spool file with its path relative to the spool (`x.ndjson`, `sub/x.ndjson`):
    the top level and the subdirectories other record kinds write to, not the fold's
    quarantine nor hidden (dot) directories."""
    root = Path(spool_dir)
    out: list[tuple[str, Path]] = []
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".") and not (dirpath == str(root) and d in NOT_SEGMENTS)
        )
        base = Path(dirpath)
        for name in sorted(filenames):
            if name.endswith(SUFFIX) and not name.startswith("."):
                path = base / name
                out.append((path.relative_to(root).as_posix(), path))
    return out


def pending(
    spool_dir: str | Path, offsets: dict[str, int], *, subdirs: bool = False
) -> Iterator[SpoolChunk]:
    """Unfolded complete lines per file; a torn last line stays for the next read.

    `offsets` and each chunk's `key` are paths relative to the spool; `subdirs` reads the
    record kinds' subdirectories too (`segment_files`), else only the top level.
    `writer_alive` is sampled before reading, so a dead writer's chunk is final: nothing
    can be appended after it.
    """
    if subdirs:
        files = segment_files(spool_dir)
    else:
        files = [(p.name, p) for p in spool_files(spool_dir)]
    for key, path in files:
        alive = writer_alive(path)
        start = offsets.get(key, 0)
        try:
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read()
        except FileNotFoundError:
            continue
        cut = data.rfind(b"\n") + 1
        yield SpoolChunk(path, start, start + cut, data[:cut], alive, key)


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
