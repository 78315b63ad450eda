"""Ordered, named schema steps recorded in `_migrations`, so an old store upgrades itself.

Append new steps at the end; never edit or reorder a released one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from voicegw_cli import clock
from voicegw_cli.items import COLUMNS

Migration = Callable[[Any], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_line_items(conn: Any) -> None:
    cols = ",\n  ".join(f"{name} {typ}" for name, typ in COLUMNS)
    conn.execute(f"CREATE TABLE line_items (\n  {cols}\n)")


@migration
def m002_spool_offsets(conn: Any) -> None:
    conn.execute(
        "CREATE TABLE spool_offsets (file VARCHAR PRIMARY KEY, byte_offset BIGINT NOT NULL,"
        " retired BOOLEAN NOT NULL DEFAULT false, updated_at TIMESTAMP NOT NULL)"
    )


@migration
def m003_projects(conn: Any) -> None:
    conn.execute(
        """CREATE TABLE projects (
            id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, description VARCHAR,
            daily_budget DECIMAL(18,6), monthly_budget DECIMAL(18,6), budget_action VARCHAR,
            tags VARCHAR, default_stack VARCHAR, stt_model VARCHAR, llm_model VARCHAR,
            tts_model VARCHAR, created_at TIMESTAMP, updated_at TIMESTAMP)"""
    )


@migration
def m004_provider_keys(conn: Any) -> None:
    conn.execute(
        """CREATE TABLE provider_keys (
            project VARCHAR, provider VARCHAR, ciphertext VARCHAR NOT NULL,
            updated_at TIMESTAMP, PRIMARY KEY (project, provider))"""
    )


@migration
def m005_audit_log(conn: Any) -> None:
    conn.execute("CREATE SEQUENCE audit_log_seq START 1")
    conn.execute(
        """CREATE TABLE audit_log (
            id BIGINT DEFAULT nextval('audit_log_seq'), ts TIMESTAMP NOT NULL,
            action VARCHAR NOT NULL, target VARCHAR, old_value VARCHAR, new_value VARCHAR,
            actor VARCHAR)"""
    )


@migration
def m006_ingested_files(conn: Any) -> None:
    conn.execute(
        """CREATE TABLE ingested_files (
            path VARCHAR, sha256 VARCHAR, rows_read BIGINT, rows_added BIGINT,
            ingested_at TIMESTAMP)"""
    )


@migration
def m0801_rollup(conn: Any) -> None:
    from voicegw_cli.store import rollup

    rollup.create(conn)
    rollup.rebuild(conn)


@migration
def m1301_fleet(conn: Any) -> None:
    """Shipped segments folded from `storage.ship_to` (by segment identity), the windows
    and days sealed, folded spend of windows still open per host (for the snapshot), the
    fold's progress, and what partitioned exports have written."""
    conn.execute(
        """CREATE TABLE fleet_segments (
            segment VARCHAR NOT NULL, win TIMESTAMP NOT NULL, object_key VARCHAR NOT NULL,
            bytes BIGINT NOT NULL, folded_at TIMESTAMP NOT NULL)"""
    )
    conn.execute(
        """CREATE TABLE fleet_windows (
            win TIMESTAMP PRIMARY KEY, sealed BOOLEAN NOT NULL, segments BIGINT NOT NULL,
            updated_at TIMESTAMP NOT NULL)"""
    )
    conn.execute(
        """CREATE TABLE fleet_days (
            day DATE PRIMARY KEY, sealed BOOLEAN NOT NULL, compacted BOOLEAN NOT NULL,
            updated_at TIMESTAMP NOT NULL)"""
    )
    conn.execute(
        """CREATE TABLE fleet_open_spend (
            win TIMESTAMP NOT NULL, host VARCHAR NOT NULL, project VARCHAR NOT NULL,
            day DATE NOT NULL, cost_usd DECIMAL(38,10) NOT NULL)"""
    )
    conn.execute(
        """CREATE TABLE fleet_progress (
            id INTEGER PRIMARY KEY, listed_at TIMESTAMP, sealed_through TIMESTAMP)"""
    )
    conn.execute(
        """CREATE TABLE export_marks (
            target VARCHAR NOT NULL, day DATE NOT NULL, fingerprint VARCHAR NOT NULL,
            rows BIGINT NOT NULL, exported_at TIMESTAMP NOT NULL, PRIMARY KEY (target, day))"""
    )


def migrate(conn: Any) -> list[str]:
    """Apply pending steps, each in its own transaction with its record."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMP)"
    )
    done = {r[0] for r in conn.execute("SELECT name FROM _migrations").fetchall()}
    applied: list[str] = []
    for step in MIGRATIONS:
        if step.__name__ in done:
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            step(conn)
            conn.execute(
                "INSERT INTO _migrations VALUES (?, ?)", [step.__name__, clock.utcnow_naive()]
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(step.__name__)
    return applied
