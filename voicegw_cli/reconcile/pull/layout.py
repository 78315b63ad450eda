"""Where a pull lives on disk, and how it becomes complete.

`DIR/<provider>/<start>_<end>/` (`..._<project>` for a `--project` pull) holds every page
as the provider sent it (`<kind>-001.json`, ...) and `manifest.yaml`. A pull is written
into a hidden sibling (`.<name>.partial-<pid>-<random>`) whose manifest says
`complete: false`; only when every page is saved is the manifest rewritten with
`complete: true` and the folder renamed into place. A crash, a kill or a refused request
therefore never leaves a complete-looking pull: the final folder is either the earlier
complete pull or absent. The manifest has no `.json` suffix so that the folder can be
handed to `voicegw reconcile --provider-usage-file` as it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

MANIFEST = "manifest.yaml"
FORMAT = "voicegw-pull/1"
_HEADER = (
    "# voicegw pull: every page listed here is saved exactly as the provider sent it.\n"
    "# `complete: true` only once every page was fetched; URLs carry no credentials.\n"
)


def pull_name(start: date, end: date, project: str | None) -> str:
    name = f"{start.isoformat()}_{end.isoformat()}"
    return f"{name}_{project}" if project else name


def pull_dir(root: Path, provider: str, start: date, end: date, project: str | None) -> Path:
    return Path(root) / provider / pull_name(start, end, project)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def overall_hash(pages: list[dict[str, Any]]) -> str:
    """One hash for the whole pull: over each page's file name and hash, in order."""
    text = "".join(f"{p['file']} {p['sha256']}\n" for p in pages)
    return sha256(text.encode())


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write `manifest.yaml` atomically (a torn manifest would not parse)."""
    import yaml

    tmp = folder / f".{MANIFEST}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(_HEADER)
        yaml.safe_dump(manifest, fh, sort_keys=False, allow_unicode=True, width=1000)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, folder / MANIFEST)


def read_manifest(folder: Path) -> dict[str, Any] | None:
    import yaml

    try:
        data = yaml.safe_load((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def verify(folder: Path, manifest: dict[str, Any]) -> str | None:
    """None when the folder is a complete pull whose pages are all there, unchanged;
    else what is wrong with it."""
    if manifest.get("format") != FORMAT:
        return f"{folder / MANIFEST} is not a voicegw pull manifest ({FORMAT})"
    if manifest.get("complete") is not True:
        return f"{folder} is an incomplete pull"
    pages = manifest.get("pages")
    if not isinstance(pages, list) or len(pages) != manifest.get("page_count"):
        return f"{folder / MANIFEST} lists {manifest.get('page_count')} pages inconsistently"
    for page in pages:
        path = folder / str(page.get("file"))
        try:
            data = path.read_bytes()
        except OSError:
            return f"{path} is missing"
        if sha256(data) != page.get("sha256"):
            return f"{path} changed since it was pulled"
    if overall_hash(pages) != manifest.get("sha256"):
        return f"{folder / MANIFEST} hash does not match its pages"
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clear_stale(final: Path) -> list[Path]:
    """Remove partial (and replaced) folders of `final` left by processes that are gone:
    a killed pull's leftovers, never a running one's."""
    removed: list[Path] = []
    if not final.parent.is_dir():
        return removed
    for p in final.parent.iterdir():
        for prefix in (f".{final.name}.partial-", f".{final.name}.old-"):
            if not p.name.startswith(prefix):
                continue
            pid = p.name[len(prefix) :].split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed


@dataclass
class PullWriter:
    """Pages into a hidden partial folder; `commit` makes it the complete pull."""

    final: Path
    manifest: dict[str, Any]
    tmp: Path = field(init=False)
    pages: list[dict[str, Any]] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.final.parent.mkdir(parents=True, exist_ok=True)
        clear_stale(self.final)
        self.tmp = self.final.parent / (
            f".{self.final.name}.partial-{os.getpid()}-{secrets.token_hex(3)}"
        )
        self.tmp.mkdir()
        self.manifest = {"format": FORMAT, "complete": False, **self.manifest, "pages": []}
        write_manifest(self.tmp, self.manifest)

    def save(self, kind: str, content: bytes, **meta: Any) -> dict[str, Any]:
        """Write one page exactly as received; returns its manifest entry."""
        n = self._counts[kind] = self._counts.get(kind, 0) + 1
        name = f"{kind}-{n:03d}.json"
        with open(self.tmp / name, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        entry = {"file": name, "kind": kind, **meta, "bytes": len(content)}
        entry["sha256"] = sha256(content)
        self.pages.append(entry)
        return entry

    def commit(self, **final_fields: Any) -> Path:
        """Mark complete and move into place, replacing an earlier pull of the same name."""
        head = {k: v for k, v in self.manifest.items() if k != "pages"}
        self.manifest = {
            **head,
            **final_fields,
            "complete": True,
            "page_count": len(self.pages),
            "sha256": overall_hash(self.pages),
            "pages": self.pages,
        }
        write_manifest(self.tmp, self.manifest)
        _fsync_dir(self.tmp)
        old = None
        if self.final.exists():
            old = self.final.parent / f".{self.final.name}.old-{os.getpid()}-{secrets.token_hex(3)}"
            os.rename(self.final, old)
        os.rename(self.tmp, self.final)
        _fsync_dir(self.final.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.final

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def page_files(folder: Path, manifest: dict[str, Any]) -> Iterator[Path]:
    """The pages worth handing to the readers: all but those holding no data at all."""
    for page in manifest.get("pages") or []:
        if not page.get("empty"):
            yield folder / str(page["file"])
