"""`voicegw fold`: fold now, or keep folding on an interval (the fleet's one folder).

Each round opens the store, folds (the local spool, or with `storage.ship_to` every new
shipped segment), writes and publishes the spend snapshot, and closes the store again,
so the DuckDB lock is held only while folding and every other voicegw command, waiting a
moment for the lock as always, runs alongside. The budget guards of the fleet are as
current as this loop: one round per `--interval`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from voicegw_cli import clock

if TYPE_CHECKING:
    from voicegw_cli.config import Config


@dataclass(slots=True)
class FoldReport:
    """One round of folding."""

    folded_at: str
    seconds: float
    source: str
    segments_folded: int
    items_added: int
    lines_read: int
    bad_lines: int
    windows_sealed: int
    list_requests: int
    error: str | None

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def fold_now(config: Config, *, timeout: float | None = None) -> FoldReport:
    """Open the store (folding), publish the snapshot, close it; report what was done."""
    from voicegw_cli.store import Store

    started = time.monotonic()
    stamp = clock.now().isoformat()
    with Store.open(config, timeout=timeout) as store:
        r = store.fold_result
        assert r is not None
    return FoldReport(
        folded_at=stamp,
        seconds=round(time.monotonic() - started, 3),
        source=config.ship.url if config.ship else str(config.spool_dir),
        segments_folded=r.segments_folded,
        items_added=r.items_added,
        lines_read=r.lines_read,
        bad_lines=r.bad_lines,
        windows_sealed=r.windows_sealed,
        list_requests=r.list_requests,
        error=r.ship_error,
    )


def watch(
    config: Config,
    *,
    interval: float,
    rounds: int | None = None,
    on_round: Callable[[FoldReport | None, BaseException | None], None] | None = None,
    sleep: Callable[[float], Any] = time.sleep,
) -> int:
    """Fold every `interval` seconds (measured start to start) for `rounds` rounds, or
    until interrupted. A busy store or an unreachable bucket skips a round, never the
    loop. Returns the number of rounds run."""
    from voicegw_cli.errors import VoicegwError

    done = 0
    while rounds is None or done < rounds:
        started = time.monotonic()
        try:
            report = fold_now(config)
        except VoicegwError as exc:  # store busy past the wait, unusable store
            if on_round:
                on_round(None, exc)
        else:
            if on_round:
                on_round(report, None)
        done += 1
        if rounds is not None and done >= rounds:
            break
        sleep(max(0.0, interval - (time.monotonic() - started)))
    return done
