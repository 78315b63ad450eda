"""What the store knows that the gateway needs: runtime projects' routing, stored keys
(Fernet tokens), runtime providers and models.

CLI commands and the MCP server read it from the open store; agent processes read the
snapshot the store writes beside itself (`store/gateway_snapshot.py`), because agents
never open DuckDB. Both give the same `RuntimeState`.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voicegw_cli.config import Config


@dataclass(slots=True)
class RuntimeState:
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, dict[str, str]] = field(default_factory=dict)  # project -> provider -> token
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    origin: str = "none"  # where it came from, for messages

    @classmethod
    def from_rows(cls, rows: dict[str, Any], origin: str) -> RuntimeState:
        return cls(
            projects=dict(rows.get("projects") or {}),
            keys={p: dict(v) for p, v in (rows.get("keys") or {}).items()},
            providers=dict(rows.get("providers") or {}),
            models=dict(rows.get("models") or {}),
            origin=origin,
        )

    @classmethod
    def from_conn(cls, conn: Any, config: Config) -> RuntimeState:
        from voicegw_cli.store.gateway_snapshot import gateway_rows

        return cls.from_rows(gateway_rows(conn), f"the store {config.store_path}")

    def token(self, project: str, provider: str) -> str | None:
        return self.keys.get(project, {}).get(provider)


class SnapshotState:
    """The snapshot, re-read only when the file changes (one `stat` per build)."""

    def __init__(self, config: Config) -> None:
        from voicegw_cli.store.gateway_snapshot import gateway_snapshot_path

        self.path = gateway_snapshot_path(config)
        self._sig: tuple[int, int] | None = None
        self._state = RuntimeState(origin=f"{self.path} (not written yet)")
        self._lock = threading.Lock()

    def get(self) -> RuntimeState:
        try:
            st = os.stat(self.path)
            sig: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            sig = None
        if sig == self._sig:
            return self._state
        with self._lock:
            if sig != self._sig:
                import json

                rows: dict[str, Any] = {}
                if sig is not None:
                    try:
                        rows = json.loads(self.path.read_text())
                    except (OSError, ValueError):
                        rows = {}
                self._state = RuntimeState.from_rows(rows, str(self.path))
                self._sig = sig
            return self._state
