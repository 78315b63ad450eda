"""Per-invocation state: the `--config` path and the lazily loaded Config."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voicegw_cli.config import Config

_state: dict[str, object] = {"config_path": None, "config": None}


def set_config_path(path: Path | None) -> None:
    _state["config_path"] = path
    _state["config"] = None


def get_config() -> Config:
    if _state["config"] is None:
        from voicegw_cli.config import load_config

        _state["config"] = load_config(_state["config_path"])  # type: ignore[arg-type]
    return _state["config"]  # type: ignore[return-value]
