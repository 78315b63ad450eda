"""The central half of a fleet: folding the segments agent hosts ship to `storage.ship_to`.

Shipped segments go through the same fold as local spool files (`fold.fold_source`):
each object becomes a `Chunk` keyed by the spool path it had on its host, so every
record kind the fold knows (and any it learns) is read the same way. What was folded is
recorded by segment identity (host and spool path, not object key: a segment re-shipped
into a later window is still one segment) in `fleet_segments`, inside the fold's
transaction: a fold killed midway redoes its work, a segment uploaded twice adds nothing.

Listing stays cheap however large the bucket grows: one listing of the day names, then
only the days and five-minute windows not yet sealed (`fleet.layout` explains sealing).
After `ship_retention_days`, a sealed day's segments are compacted into one Parquet file
(`compacted/day=YYYY-MM-DD/segments.parquet`, every line kept as text) or deleted.

The fold also keeps, per host, the spend it folded from windows still open
(`fleet_open_spend`); the snapshot publishes it so each host's guard can swap in its own
exact copy of those windows and count nothing twice (see `budget.SpendReader`).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from voicegw_cli import clock
from voicegw_cli.fleet.layout import (
    COMPACTED,
    SEGMENTS,
    WINDOW,
    parse_key,
    parse_window,
    segment_id,
    window_name,
)
from voicegw_cli.fleet.target import ObjectInfo, Target, TargetError, open_target
from voicegw_cli.store.fold import Chunk, FoldResult, fold_source
from voicegw_cli.store.queries import local_day

if TYPE_CHECKING:
    from voicegw_cli.config import Config

log = logging.getLogger("voicegw.store")

#: Parallel GETs while fetching segments (S3 latency, not bandwidth, is the limit).
FETCH_WORKERS = 16
#: One fold transaction takes at most this many segments or bytes; the rest follow.
MAX_SEGMENTS = 5000
MAX_BYTES = 256 << 20


def _naive(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(tzinfo=None)


def _aware(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


@dataclass(slots=True)
class _Seg:
    window: datetime
    host: str
    rel: str
    sid: str
    obj: ObjectInfo


class ShippedSegments:
    """Shipped segments as a fold source (one transaction's worth; `more` says whether
    another fold should follow)."""

    def __init__(
        self,
        config: Config,
        target: Target,
        *,
        max_segments: int = MAX_SEGMENTS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        assert config.ship is not None
        self.config = config
        self.target = target
        self.grace = timedelta(seconds=config.ship.grace_seconds)
        self.max_segments = max_segments
        self.max_bytes = max_bytes
        self.dirty = True  # progress is recorded every time
        self.more = False
        self.list_requests = 0
        self.objects_listed = 0
        self._segs: dict[str, _Seg] = {}
        self._seal: list[datetime] = []
        self._open: set[datetime] = set()
        self._seal_days: list[date] = []
        self._listed_at = clock.now()
        self._sealed_through = self._listed_at
        self._folded = 0

    # ------------------------------------------------------------ listing

    def _list(self, conn: Any) -> tuple[dict[datetime, list[_Seg]], list[date]]:
        sealed_windows = {
            _aware(w)
            for (w,) in conn.execute("SELECT win FROM fleet_windows WHERE sealed").fetchall()
        }
        sealed_days = {
            d for (d,) in conn.execute("SELECT day FROM fleet_days WHERE sealed").fetchall()
        }
        windows: dict[datetime, list[_Seg]] = {}
        days: list[date] = []
        self.list_requests += 1
        for day_name in self.target.dirs(SEGMENTS):
            try:
                day = date.fromisoformat(day_name)
            except ValueError:
                continue
            if day in sealed_days:
                continue
            days.append(day)
            self.list_requests += 1
            for win_name in self.target.dirs(f"{SEGMENTS}/{day_name}"):
                try:
                    start = parse_window(f"{day_name}/{win_name}")
                except ValueError:
                    continue
                if start in sealed_windows:
                    continue
                self.list_requests += 1
                segs = windows.setdefault(start, [])
                for obj in self.target.list(f"{SEGMENTS}/{day_name}/{win_name}"):
                    parsed = parse_key(obj.key)
                    if parsed is None:
                        continue
                    _w, host, rel = parsed
                    segs.append(_Seg(start, host, rel, segment_id(host, rel), obj))
        return windows, days

    def _known(self, conn: Any, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        rows = conn.execute(  # a list parameter: no Arrow (nor pandas) for a quiet fold
            "SELECT DISTINCT segment FROM fleet_segments WHERE segment IN (SELECT unnest(?))",
            [ids],
        ).fetchall()
        return {r[0] for r in rows}

    def read(self, conn: Any, result: FoldResult) -> list[Chunk]:
        self._listed_at = listed_at = clock.now()
        windows, days = self._list(conn)
        every = [
            s for start in sorted(windows) for s in sorted(windows[start], key=lambda s: s.obj.key)
        ]
        self.objects_listed = len(every)
        known = self._known(conn, [s.sid for s in every])
        new: list[_Seg] = []
        for s in every:  # the earliest copy of a segment shipped twice wins
            if s.sid not in known:
                known.add(s.sid)
                new.append(s)
        take: list[_Seg] = []
        size = 0
        for s in new:
            if take and (len(take) >= self.max_segments or size + s.obj.size > self.max_bytes):
                break
            take.append(s)
            size += s.obj.size
        self.more = len(take) < len(new)
        left = {s.window for s in new[len(take) :]}
        self._seal = sorted(
            w for w in windows if w + WINDOW + self.grace <= listed_at and w not in left
        )
        self._open = set(windows) - set(self._seal)
        self._seal_days = [
            d
            for d in days
            if datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(days=1) + self.grace
            <= listed_at
            and not any(w.date() == d for w in self._open)
        ]
        boundary = listed_at - self.grace
        boundary = boundary.replace(
            minute=boundary.minute - boundary.minute % 5, second=0, microsecond=0
        )
        self._sealed_through = min([boundary, *self._open])
        chunks = self._fetch(take)
        result.files_seen += len(chunks)
        self._folded = len(chunks)
        return chunks

    def _fetch(self, segs: list[_Seg]) -> list[Chunk]:
        if not segs:
            return []

        def get(s: _Seg) -> Chunk | None:
            try:
                data = self.target.get(s.obj.key)
            except FileNotFoundError:  # compacted or deleted meanwhile
                return None
            cut = data.rfind(b"\n") + 1
            return Chunk(s.rel, data[:cut], s)

        with ThreadPoolExecutor(min(FETCH_WORKERS, len(segs))) as pool:
            return [c for c in pool.map(get, segs) if c is not None]

    # ------------------------------------------------------------ recording

    def commit(self, conn: Any, chunks: list[Chunk], stamp: Any) -> None:
        import pyarrow as pa

        if chunks:
            segs = [c.ref for c in chunks]
            conn.register(
                "_folded",
                pa.table(
                    {
                        "segment": [s.sid for s in segs],
                        "win": pa.array([_naive(s.window) for s in segs], pa.timestamp("us")),
                        "object_key": [s.obj.key for s in segs],
                        "bytes": pa.array([len(c.data) for c in chunks], pa.int64()),
                    }
                ),
            )
            try:
                conn.execute(
                    "INSERT INTO fleet_segments SELECT segment, win, object_key, bytes, ? "
                    "FROM _folded",
                    [stamp],
                )
            finally:
                conn.unregister("_folded")
            self._record_open_spend(conn, chunks)
        for w in self._seal:
            conn.execute(
                "INSERT OR REPLACE INTO fleet_windows VALUES (?, true, "
                "(SELECT count(*) FROM fleet_segments WHERE win = ?), ?)",
                [_naive(w), _naive(w), stamp],
            )
            conn.execute("DELETE FROM fleet_open_spend WHERE win = ?", [_naive(w)])
        for d in self._seal_days:
            conn.execute("INSERT OR REPLACE INTO fleet_days VALUES (?, true, false, ?)", [d, stamp])
            conn.execute("DELETE FROM fleet_windows WHERE CAST(win AS DATE) = ?", [d])
        conn.execute(
            "INSERT OR REPLACE INTO fleet_progress VALUES (1, ?, ?)",
            [_naive(self._listed_at), _naive(self._sealed_through)],
        )
        # Segment identities are kept as long as their objects: a re-shipped copy past
        # that is still caught by the records' own ids.
        conn.execute(
            "DELETE FROM fleet_segments WHERE folded_at < ?::TIMESTAMP - to_days(?)",
            [stamp, int(self.config.ship.retention_days) + 1],
        )

    def _record_open_spend(self, conn: Any, chunks: list[Chunk]) -> None:
        import pyarrow as pa

        parts = []
        for c in chunks:
            s: _Seg = c.ref
            if s.window not in self._open or c.items is None or c.items.num_rows == 0:
                continue
            t = c.items.select(["project", "timestamp", "cost_usd"])
            n = t.num_rows
            parts.append(
                t.append_column(
                    "win", pa.array([_naive(s.window)] * n, pa.timestamp("us"))
                ).append_column("host", pa.array([s.host] * n, pa.string()))
            )
        if not parts:
            return
        conn.register("_open_items", pa.concat_tables(parts))
        try:
            ts = "CAST(CAST(timestamp AS TIMESTAMPTZ) AS TIMESTAMP)"
            conn.execute(
                f"""INSERT INTO fleet_open_spend
                SELECT win, host, COALESCE(project, 'default'), {local_day(ts, "?")},
                       SUM(CAST(cost_usd AS DECIMAL(38,10)))
                FROM _open_items WHERE cost_usd IS NOT NULL AND timestamp IS NOT NULL
                GROUP BY ALL""",
                [self.config.timezone],
            )
        finally:
            conn.unregister("_open_items")

    def after_commit(self, result: FoldResult) -> None:
        result.segments_folded += self._folded
        result.windows_sealed += len(self._seal)


def fold_shipped(conn: Any, config: Config, *, target: Target | None = None) -> FoldResult:
    """Fold every new shipped segment (in transactions of bounded size), then compact or
    delete a day past retention. A target that cannot be reached is reported in
    `ship_error`, not raised: the store still answers from what it has."""
    assert config.ship is not None
    total = FoldResult()
    try:
        target = target or open_target(config.ship)
        while True:
            source = ShippedSegments(config, target)
            r = fold_source(conn, source, config.spool_dir)
            total.files_seen += r.files_seen
            total.items_added += r.items_added
            total.lines_read += r.lines_read
            total.bad_lines += r.bad_lines
            total.segments_folded += r.segments_folded
            total.windows_sealed += r.windows_sealed
            total.list_requests += source.list_requests
            total.objects_listed += source.objects_listed
            if not source.more:
                break
        if not config.ship.read_only:
            try:
                compact_expired(conn, config, target)
            except TargetError as exc:  # folding went fine; compaction retries next time
                log.warning("voicegw: cannot compact old segments: %s", exc)
    except TargetError as exc:
        total.ship_error = str(exc)
        log.warning("voicegw: cannot fold from %s: %s", config.ship.url, exc)
    return total


# ------------------------------------------------------------------ retention


def compact_expired(conn: Any, config: Config, target: Target, *, limit: int = 1) -> list[date]:
    """Compact (or delete) up to `limit` sealed days older than `ship_retention_days`."""
    assert config.ship is not None
    cutoff = (clock.now() - timedelta(days=config.ship.retention_days)).date()
    days = [
        d
        for (d,) in conn.execute(
            "SELECT day FROM fleet_days WHERE sealed AND NOT compacted AND day < ? "
            "ORDER BY day LIMIT ?",
            [cutoff, limit],
        ).fetchall()
    ]
    for day in days:
        prefix = f"{SEGMENTS}/{day.isoformat()}"
        if config.ship.compaction == "parquet":
            _compact_day(target, day, target.list(prefix))
        target.delete_dir(prefix)
        conn.execute(
            "UPDATE fleet_days SET compacted = true, updated_at = ? WHERE day = ?",
            [clock.utcnow_naive(), day],
        )
    return days


def _compact_day(target: Target, day: date, objects: list[ObjectInfo]) -> None:
    """All of a day's segments as one Parquet file: host, window, spool path, line."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    cols: dict[str, list[str]] = {"host": [], "window": [], "segment": [], "line": []}
    with ThreadPoolExecutor(FETCH_WORKERS) as pool:
        blobs = list(pool.map(lambda o: target.get(o.key), objects))
    for obj, data in zip(objects, blobs, strict=True):
        parsed = parse_key(obj.key)
        if parsed is None:
            continue
        win, host, rel = parsed
        for line in data.splitlines():
            if line.strip():
                cols["host"].append(host)
                cols["window"].append(win)
                cols["segment"].append(rel)
                cols["line"].append(line.decode("utf-8", "replace"))
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf, compression="zstd")
    target.put(f"{COMPACTED}/day={day.isoformat()}/segments.parquet", buf.getvalue())


# ------------------------------------------------------------------ for the snapshot


def fleet_snapshot_part(conn: Any) -> dict[str, Any]:
    """What hosts need beside the spend totals: up to when every window is sealed, and
    the spend folded from each still-open window, per host."""
    rows = conn.execute("SELECT listed_at, sealed_through FROM fleet_progress").fetchall()
    listed_at, sealed = rows[0] if rows else (None, None)
    open_part: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
    for win, host, project, day, total in conn.execute(
        "SELECT win, host, project, day, SUM(cost_usd) FROM fleet_open_spend GROUP BY ALL"
    ).fetchall():
        open_part.setdefault(window_name(_aware(win)), {}).setdefault(host, {}).setdefault(
            project, {}
        )[day.isoformat()] = str(total)
    return {
        "listed_at": _aware(listed_at).isoformat() if listed_at else None,
        "sealed_through": _aware(sealed).isoformat() if sealed else None,
        "open": open_part,
    }
