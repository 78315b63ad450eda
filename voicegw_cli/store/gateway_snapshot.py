"""The gateway snapshot: runtime projects' routing, stored provider keys (still
Fernet-encrypted), and providers and models added at runtime, written beside the store.

Agent processes build plugins from this file, never from DuckDB (a CLI may hold the store,
and the hook's rule is that agents never open it). Keys stay ciphertext on disk; the
gateway decrypts one in memory when it builds a plugin. The file is mode 0600 all the
same, like the secret key file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicegw_cli import clock

if TYPE_CHECKING:
    from voicegw_cli.config import Config

#: The project value of `provider_keys` rows that belong to a runtime provider itself.
PROVIDER_SCOPE = ""


def gateway_snapshot_path(config: Config) -> Path:
    return config.store_path.with_name(config.store_path.name + ".gateway.json")


def gateway_rows(conn: Any) -> dict[str, Any]:
    """Everything the gateway needs from the store, as plain JSON-ready data."""
    projects = {
        pid: {"default_stack": stack, "stt_model": stt, "llm_model": llm, "tts_model": tts}
        for pid, stack, stt, llm, tts in conn.execute(
            "SELECT id, default_stack, stt_model, llm_model, tts_model FROM projects ORDER BY id"
        ).fetchall()
    }
    keys: dict[str, dict[str, str]] = {}
    for project, provider, token in conn.execute(
        "SELECT project, provider, ciphertext FROM provider_keys ORDER BY project, provider"
    ).fetchall():
        keys.setdefault(project, {})[provider] = token
    providers = {
        pid: {"provider_type": ptype, "base_url": base_url}
        for pid, ptype, base_url in conn.execute(
            "SELECT id, provider_type, base_url FROM gateway_providers ORDER BY id"
        ).fetchall()
    }
    models = {
        mid: {
            "provider": provider,
            "model_name": name,
            "modality": modality,
            "default_voice": voice,
        }
        for mid, provider, name, modality, voice in conn.execute(
            "SELECT model_id, provider, model_name, modality, default_voice FROM gateway_models "
            "ORDER BY model_id"
        ).fetchall()
    }
    return {"projects": projects, "keys": keys, "providers": providers, "models": models}


def read_gateway_snapshot(config: Config) -> dict[str, Any] | None:
    try:
        return json.loads(gateway_snapshot_path(config).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def refresh_gateway_snapshot(conn: Any, config: Config) -> bool:
    """Rewrite the snapshot when the store's gateway rows differ from it; True if written."""
    rows = gateway_rows(conn)
    current = read_gateway_snapshot(config)
    if current is not None and {k: current.get(k) for k in rows} == rows:
        return False
    path = gateway_snapshot_path(config)
    payload = {"written_at": clock.now().isoformat(), **rows}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, json.dumps(payload, separators=(",", ":")).encode("utf-8"))
    finally:
        os.close(fd)
    os.rename(tmp, path)  # atomic replace on POSIX (the store's file locks are POSIX too)
    return True
