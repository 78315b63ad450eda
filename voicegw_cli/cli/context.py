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
    """This command's config. A command never runs on built-in defaults by accident: with
    no voicegw.yaml found (and no --config or $VOICEGW_CONFIG) it stops with exit 3, so a
    CI job in the wrong directory fails instead of passing on an empty store."""
    if _state["config"] is None:
        from voicegw_cli.config import CONFIG_FILENAME, find_config_path, load_config
        from voicegw_cli.errors import ConfigError

        path = find_config_path(_state["config_path"])  # type: ignore[arg-type]
        if path is None:
            raise ConfigError(
                CONFIG_FILENAME,
                "",
                "no config found in this directory or the user config dir; run "
                "`voicegw init` here, or pass --config PATH (or set VOICEGW_CONFIG)",
            )
        _state["config"] = load_config(path)
    return _state["config"]  # type: ignore[return-value]


def open_store(*, fold: bool = True) -> Store:
    """The store for this command, with the spool folded in first."""
    from voicegw_cli.cli.output import note
    from voicegw_cli.store import Store

    store = Store.open(get_config(), fold=fold, on_wait=lambda msg: note(f"[dim]{msg}[/]"))
    result = store.fold_result
    if result is not None and result.ship_error:
        note(f"[yellow]warning:[/] not folded from the fleet's bucket: {result.ship_error}")
    if result is not None and (result.bad_lines or result.torn_bytes_discarded):
        if result.bad_lines:
            note(
                f"[yellow]warning:[/] {result.bad_lines} unreadable spool line(s) moved to "
                f"{get_config().spool_dir / 'rejected'}"
            )
    return store
