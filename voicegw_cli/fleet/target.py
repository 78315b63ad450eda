"""Object I/O for `storage.ship_to`: an S3-compatible bucket or a shared directory.

Both go through `pyarrow.fs` (already a dependency): S3 signing, retries, credentials from
the usual AWS environment and config files (`AWS_ACCESS_KEY_ID`, `AWS_PROFILE`,
`~/.aws/credentials`, instance and pod roles) are the AWS SDK's, never ours. Every object
is written whole (one PUT on S3; a temporary name renamed into place on a directory), so a
reader never sees half an object, and a killed writer leaves nothing a reader lists.
"""

from __future__ import annotations

import os
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from voicegw_cli.errors import VoicegwError

#: Seconds before an S3 request gives up: the shipper retries later, the loop never waits.
CONNECT_TIMEOUT = 3.0
REQUEST_TIMEOUT = 20.0


class TargetError(VoicegwError):
    """The bucket or shared directory cannot be reached or read (one line, exit 3)."""

    exit_code = 3


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object: `key` relative to the target's root."""

    key: str
    size: int
    mtime: datetime | None = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


class Target:
    """A root (`s3://bucket/prefix` or `file:///dir`) to put, get, list and delete under.

    Thread-safe. Fork-safe: a child process makes its own filesystem client on first use
    (the AWS SDK's connections must not cross a fork).
    """

    def __init__(
        self, url: str, *, endpoint_url: str | None = None, region: str | None = None
    ) -> None:
        scheme, _, rest = url.partition("://")
        if scheme not in ("s3", "file") or not rest.strip("/"):
            raise TargetError(f"{url}: expected s3://bucket/prefix or file:///dir")
        self.url = url.rstrip("/")
        self.scheme = scheme
        self.root = rest.strip("/") if scheme == "s3" else "/" + rest.strip("/")
        self.endpoint_url = endpoint_url or (
            os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            if scheme == "s3"
            else None
        )
        self.region = region
        self._fs: Any = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ plumbing

    @property
    def fs(self) -> Any:
        if self._fs is None or self._pid != os.getpid():
            with self._lock:
                if self._fs is None or self._pid != os.getpid():
                    self._fs, self._pid = self._make_fs(), os.getpid()
        return self._fs

    def _make_fs(self) -> Any:
        import pyarrow.fs as pfs

        if self.scheme == "file":
            return pfs.LocalFileSystem()
        kw: dict[str, Any] = dict(
            connect_timeout=CONNECT_TIMEOUT,
            request_timeout=REQUEST_TIMEOUT,
            # One PUT for a small object instead of a three-request multipart upload.
            allow_delayed_open=True,
            background_writes=False,
            retry_strategy=pfs.AwsStandardS3RetryStrategy(max_attempts=2),
        )
        if self.region:
            kw["region"] = self.region
        if self.endpoint_url:
            scheme, sep, host = self.endpoint_url.partition("://")
            kw["endpoint_override"] = host.rstrip("/") if sep else scheme
            kw["scheme"] = scheme if sep else "https"
            kw.setdefault("region", os.environ.get("AWS_REGION") or "us-east-1")
        try:
            return pfs.S3FileSystem(**kw)
        except Exception as exc:
            raise TargetError(f"{self.url}: cannot set up S3 access: {_first_line(exc)}") from None

    def path(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def _key(self, path: str) -> str:
        return path[len(self.root) + 1 :] if path.startswith(self.root + "/") else path

    def _fail(self, what: str, key: str, exc: BaseException) -> TargetError:
        return TargetError(f"{self.url}/{key}: cannot {what}: {_first_line(exc)}")

    def _check_root(self, what: str, key: str) -> None:
        """A shared directory's root must exist: it is never created, because a missing
        root means the share is not mounted, and writing under the bare mount point would
        put usage on this host's own disk."""
        if self.scheme == "file" and not os.path.isdir(self.root):
            raise TargetError(
                f"{self.url}/{key}: cannot {what}: {self.root} is not a directory "
                "(is the shared volume mounted?)"
            )

    # ------------------------------------------------------------ operations

    def put(self, key: str, data: bytes) -> None:
        """Write one whole object (replacing any object of that key)."""
        fs, path = self.fs, self.path(key)
        self._check_root("write", key)
        try:
            if self.scheme == "file":
                parent = path.rsplit("/", 1)[0]
                fs.create_dir(parent, recursive=True)
                tmp = f"{parent}/.{path.rsplit('/', 1)[1]}.{uuid.uuid4().hex[:8]}.tmp"
                with fs.open_output_stream(tmp) as f:
                    f.write(data)
                os.replace(tmp, path)  # atomic: a reader sees the old object or the new
            else:
                with fs.open_output_stream(path) as f:
                    f.write(data)
        except Exception as exc:
            raise self._fail("write", key, exc) from None

    def put_file(self, key: str, local: str | os.PathLike[str]) -> None:
        """Write one whole object from a local file, streamed."""
        fs, path = self.fs, self.path(key)
        dest = path
        self._check_root("write", key)
        try:
            if self.scheme == "file":
                parent = path.rsplit("/", 1)[0]
                fs.create_dir(parent, recursive=True)
                dest = f"{parent}/.{path.rsplit('/', 1)[1]}.{uuid.uuid4().hex[:8]}.tmp"
            with open(local, "rb") as src, fs.open_output_stream(dest) as out:
                while block := src.read(8 << 20):
                    out.write(block)
            if dest != path:
                os.replace(dest, path)
        except Exception as exc:
            raise self._fail("write", key, exc) from None

    def get(self, key: str) -> bytes:
        """The object's bytes; FileNotFoundError when there is none."""
        self._check_root("read", key)
        try:
            with self.fs.open_input_stream(self.path(key)) as f:
                return f.read()
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise self._fail("read", key, exc) from None

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object under `prefix` (recursively), temporary names left out."""
        import pyarrow.fs as pfs

        self._check_root("list", prefix)
        try:
            infos = self.fs.get_file_info(
                pfs.FileSelector(self.path(prefix), recursive=True, allow_not_found=True)
            )
        except Exception as exc:
            raise self._fail("list", prefix, exc) from None
        out = []
        for info in infos:
            if info.type != pfs.FileType.File or info.base_name.startswith("."):
                continue
            out.append(ObjectInfo(self._key(info.path), int(info.size or 0), info.mtime))
        return out

    def dirs(self, prefix: str) -> list[str]:
        """Names of the "directories" directly under `prefix` (one listing request)."""
        import pyarrow.fs as pfs

        self._check_root("list", prefix)
        try:
            infos = self.fs.get_file_info(
                pfs.FileSelector(self.path(prefix), recursive=False, allow_not_found=True)
            )
        except Exception as exc:
            raise self._fail("list", prefix, exc) from None
        return sorted(i.base_name for i in infos if i.type == pfs.FileType.Directory)

    def delete(self, key: str) -> None:
        """Delete one object; a missing one is fine."""
        try:
            self.fs.delete_file(self.path(key))
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise self._fail("delete", key, exc) from None

    def delete_dir(self, prefix: str) -> None:
        """Delete everything under `prefix`; a missing prefix is fine."""
        try:
            self.fs.delete_dir(self.path(prefix))
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise self._fail("delete", prefix, exc) from None


_TARGETS: dict[tuple[str, str | None, str | None], Target] = {}
_targets_lock = threading.Lock()


def target_for(where: str, settings: Any = None) -> Target:
    """A Target for `s3://...`, `file://...` or a local directory path; an S3 URL uses
    `storage.endpoint_url`/`region` when `settings` (ShipSettings) has them."""
    if where.startswith("s3://"):
        return Target(
            where,
            endpoint_url=getattr(settings, "endpoint_url", None),
            region=getattr(settings, "region", None),
        )
    if where.startswith("file://"):
        return Target(where)
    from pathlib import Path

    return Target("file://" + str(Path(where).expanduser().resolve()))


def open_target(settings: Any) -> Target:
    """The process's Target for a `ShipSettings` (one client per target, reused)."""
    key = (settings.url, settings.endpoint_url, settings.region)
    with _targets_lock:
        t = _TARGETS.get(key)
        if t is None:
            t = _TARGETS[key] = Target(
                settings.url, endpoint_url=settings.endpoint_url, region=settings.region
            )
        return t
