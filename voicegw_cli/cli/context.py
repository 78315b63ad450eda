"""Per-invocation state: the `--config` path, the lazily loaded Config, the store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voicegw_cli.config import Config
    from voicegw_cli.store import Store

_state: dict[str, object] = {"config_path": None, "config": None}


def set_config_path(path: Path | None) -> None:
    _state["config_path"] = path
    _state["config"] = None


def get_config() -> Config:
    if _state["config"] is None:
        from voicegw_cli.config import load_config

        _state["config"] = load_config(_state["config_path"])  # type: ignore[arg-type]
    return _state["config"]  # type: ignore[return-value]


def open_store(*, fold: bool = True) -> Store:
    """The store for this command, with the spool folded in first."""
    from voicegw_cli.store import Store

    store = Store.open(get_config(), fold=fold)
    result = store.fold_result
    if result is not None and (result.bad_lines or result.torn_bytes_discarded):
        from voicegw_cli.cli.output import note

        if result.bad_lines:
            note(
                f"[yellow]warning:[/] {result.bad_lines} unreadable spool line(s) moved to "
                f"{get_config().spool_dir / 'rejected'}"
            )
    return store
