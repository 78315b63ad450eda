"""The spend snapshot: per-project daily spend written beside the store after each change.

The budget guard runs inside agent processes and must never open DuckDB (a CLI may hold
it). It reads this small JSON file plus the spool bytes past `offsets`.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicegw_cli import clock
from voicegw_cli.store.queries import local_day
from voicegw_cli.store.rollup import floor

if TYPE_CHECKING:
    from voicegw_cli.config import Config

#: Local days kept: enough for today and the whole current and previous month.
SNAPSHOT_DAYS = 64


def snapshot_path(config: Config) -> Path:
    return config.store_path.with_name(config.store_path.name + ".spend.json")


def db_project_budgets(conn: Any) -> dict[str, dict[str, str | None]]:
    """Budgets of runtime (db) projects, so guards in agent processes enforce them too."""
    from voicegw_cli.projects import load_db_projects

    return {
        p.id: {
            "daily_budget": str(p.daily_budget),
            "monthly_budget": str(p.monthly_budget),
            "budget_action": p.budget_action,
            "fallback_stack": p.fallback_stack,
        }
        for p in load_db_projects(conn)
    }


def projects_changed(conn: Any, config: Config) -> bool:
    snap = read_snapshot(config)
    return snap is None or snap.get("projects", {}) != db_project_budgets(conn)


def write_snapshot(conn: Any, config: Config) -> dict[str, Any]:
    """Write the snapshot beside the store; returns it (a fleet's store publishes it)."""
    since = floor(clock.utcnow_naive() - timedelta(days=SNAPSHOT_DAYS))
    rows = conn.execute(
        f"""SELECT project, {local_day("bucket", "?")} AS day, SUM(cost_usd), SUM(items)
            FROM rollup_15m WHERE bucket >= ? AND cost_usd IS NOT NULL
            GROUP BY ALL""",
        [config.timezone, since],
    ).fetchall()
    spend: dict[str, dict[str, str]] = {}
    for project, day, total, _n in rows:
        spend.setdefault(project, {})[day.isoformat()] = str(total)
    offsets = dict(
        conn.execute("SELECT file, byte_offset FROM spool_offsets WHERE NOT retired").fetchall()
    )
    payload = {
        "written_at": clock.now().isoformat(),
        "timezone": config.timezone,
        "spend": spend,
        "offsets": offsets,
        "projects": db_project_budgets(conn),
    }
    if config.ship is not None:
        from voicegw_cli.store.shipped import fleet_snapshot_part

        payload["fleet"] = fleet_snapshot_part(conn)
    path = snapshot_path(config)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, separators=(",", ":")))
    os.replace(tmp, path)
    return payload


def read_snapshot(config: Config) -> dict[str, Any] | None:
    try:
        return json.loads(snapshot_path(config).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
