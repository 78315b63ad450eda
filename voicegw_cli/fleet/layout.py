"""Where things live under `storage.ship_to`, and the five-minute windows that keep the
central fold's listing cheap however large the bucket grows.

    segments/<YYYY-MM-DD>/<HHMM>/<host>/<spool path>   one object per closed spool segment
    spend/snapshot.json                                the spend snapshot of the last fold
    compacted/day=<YYYY-MM-DD>/segments.parquet        folded segments past retention

A segment's window is the UTC five-minute window in which its upload *started*, by the
shipper's clock: a segment that waited out an outage lands in a current window, never in
one the fold has sealed. The fold seals a window once it has listed it after the window's
end plus `ship_grace_seconds`; the shipper, for its part, re-ships a segment whose upload
finished later than half the grace after its window's end. So with clocks within half the
grace of each other, no object lands in a sealed window, and the fold lists only the
windows (and days) not yet sealed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

WINDOW = timedelta(minutes=5)
SEGMENTS = "segments"
SNAPSHOT_KEY = "spend/snapshot.json"
COMPACTED = "compacted"


def window_of(ts: datetime) -> datetime:
    """The start of the five-minute window holding `ts` (aware UTC)."""
    ts = ts.astimezone(UTC)
    return ts.replace(minute=ts.minute - ts.minute % 5, second=0, microsecond=0)


def window_name(start: datetime) -> str:
    """`2026-11-10/1405`: the window's day and start, as they appear in object keys."""
    start = start.astimezone(UTC)
    return f"{start:%Y-%m-%d}/{start:%H%M}"


def parse_window(name: str) -> datetime:
    return datetime.strptime(name, "%Y-%m-%d/%H%M").replace(tzinfo=UTC)


def object_key(window: datetime, host: str, rel: str) -> str:
    """Segment object key: unique per writer and sequence (`rel` names host, pid, random
    and sequence), prefixed by day, window and host."""
    return f"{SEGMENTS}/{window_name(window)}/{host}/{rel}"


def parse_key(key: str) -> tuple[str, str, str] | None:
    """(window name, host, spool path) of a segment key, or None for anything else."""
    parts = key.split("/")
    if len(parts) < 5 or parts[0] != SEGMENTS or not parts[-1].endswith(".ndjson"):
        return None
    try:
        parse_window(f"{parts[1]}/{parts[2]}")
    except ValueError:
        return None
    return f"{parts[1]}/{parts[2]}", parts[3], "/".join(parts[4:])


def segment_id(host: str, rel: str) -> str:
    """A segment's identity, whichever window it was (re)shipped into."""
    return f"{host}/{rel}"
