"""The fleet's spend snapshot: published by the central fold, read by every host.

The central store writes the snapshot (`store.snapshot`) after each fold and puts a copy
at `spend/snapshot.json` under `storage.ship_to`. Each agent process's budget guard reads
it at most every `budgets.refresh_seconds`, through a per-host cache file in the spool
directory, so twenty processes on a host cost the bucket one GET per refresh, not twenty.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicegw_cli import clock
from voicegw_cli.fleet.layout import SNAPSHOT_KEY
from voicegw_cli.fleet.target import Target, TargetError, open_target

if TYPE_CHECKING:
    from voicegw_cli.config import Config

CACHE_NAME = ".fleet-snapshot.json"


def publish(target: Target, payload: dict[str, Any]) -> None:
    """Put the snapshot (one small object, replaced whole)."""
    target.put(SNAPSHOT_KEY, json.dumps(payload, separators=(",", ":")).encode())


def _cache_path(config: Config) -> Path:
    return config.spool_dir / CACHE_NAME


def fetch(config: Config, *, max_age: float, target: Target | None = None) -> dict[str, Any] | None:
    """The latest published snapshot (None before any fold published one).

    Served from this host's cache when it is younger than `max_age` seconds. Raises
    TargetError when the bucket cannot be read, or the object is not a snapshot.
    """
    cache = _cache_path(config)
    now = clock.time()
    try:
        cached = json.loads(cache.read_text())
        if 0 <= now - float(cached["fetched_at"]) < max_age:
            return cached["snapshot"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    assert config.ship is not None
    target = target or open_target(config.ship)
    try:
        raw = target.get(SNAPSHOT_KEY)
    except FileNotFoundError:
        snap = None
    else:
        try:
            snap = json.loads(raw)
            if not isinstance(snap, dict) or not isinstance(snap.get("spend", {}), dict):
                raise ValueError("not a spend snapshot")
        except ValueError as exc:
            raise TargetError(f"{target.url}/{SNAPSHOT_KEY}: unreadable snapshot: {exc}") from None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"fetched_at": now, "snapshot": snap}, separators=(",", ":")))
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only spool only costs more GETs
    return snap
