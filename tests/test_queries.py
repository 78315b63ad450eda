"""Read paths that take shortcuts must give the answers of the plain query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from voicegw_cli.spool import SpoolWriter
from voicegw_cli.store import Store, queries

from .conftest import item


def plain(conn, limit: int, since=None, until=None, **filters):
    clauses, params = [], []
    for k, v in filters.items():
        clauses.append(f"{k} = ?")
        params.append(v)
    if since:
        clauses.append("timestamp >= ?")
        params.append(since)
    if until:
        clauses.append("timestamp < ?")
        params.append(until)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return [
        r[0]
        for r in conn.execute(
            f"SELECT id FROM line_items {where} ORDER BY timestamp DESC, id LIMIT {limit}", params
        ).fetchall()
    ]


def test_recent_items_widen_their_window_until_they_have_enough(config) -> None:
    start = datetime(2025, 11, 1, tzinfo=UTC)
    items = [
        item(
            id=f"i{n:04d}",
            timestamp=start + timedelta(hours=7 * n),
            project="sales" if n % 97 == 0 else "support",
        )
        for n in range(1300)  # about a year, sales only every 97th
    ]
    w = SpoolWriter(config.spool_dir)
    w.write([i.to_record() for i in items])
    w.close()
    with Store.open(config) as store:
        c = store.conn
        for limit, kw in [
            (5, {}),
            (20, {"project": "sales"}),  # beyond the first windows
            (500, {"project": "support"}),
            (3, {"since": datetime(2026, 6, 1)}),
            (50, {"project": "sales", "since": datetime(2026, 1, 1)}),
            (4, {"until": datetime(2026, 3, 1)}),
            (10, {"project": "nobody"}),
        ]:
            got = [r["id"] for r in queries.recent_items(c, limit=limit, **kw)]
            assert got == plain(c, limit, **kw), (limit, kw)
