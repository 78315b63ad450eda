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
def m1401_admin_keys(conn: Any) -> None:
    """Organisation-level keys for the providers' usage and cost APIs (`voicegw pull`),
    apart from `provider_keys` so that nothing an agent reads can hand out an admin key."""
    conn.execute(
        """CREATE TABLE admin_keys (
            provider VARCHAR PRIMARY KEY, ciphertext VARCHAR NOT NULL, updated_at TIMESTAMP)"""
    )


@migration
def m1001_guardrail_events(conn: Any) -> None:
    conn.execute(
        """CREATE TABLE guardrail_events (
            id VARCHAR PRIMARY KEY, ts TIMESTAMP NOT NULL, project VARCHAR NOT NULL,
            session_id VARCHAR, agent VARCHAR, kind VARCHAR NOT NULL, side VARCHAR,
            category VARCHAR, action VARCHAR, detector VARCHAR, excerpt VARCHAR,
            metadata VARCHAR)"""
    )


@migration
def m0901_gateway(conn: Any) -> None:
    """Providers and models added at runtime (`voicegw providers add`, `models register`,
    MCP). A runtime provider's API key is a `provider_keys` row with project '' (no
    project: the provider's own key), so secret rotation re-encrypts it with the rest."""
    conn.execute(
        """CREATE TABLE gateway_providers (
            id VARCHAR PRIMARY KEY, provider_type VARCHAR NOT NULL, base_url VARCHAR,
            created_at TIMESTAMP, updated_at TIMESTAMP)"""
    )
    conn.execute(
        """CREATE TABLE gateway_models (
            model_id VARCHAR PRIMARY KEY, provider VARCHAR NOT NULL, model_name VARCHAR NOT NULL,
            modality VARCHAR NOT NULL, default_voice VARCHAR, created_at TIMESTAMP)"""
    )


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


@migration
def m1201_calls(conn: Any) -> None:
    """One row per session run: the hook's call record."""
    conn.execute(
        """CREATE TABLE calls (
            session_id VARCHAR, project VARCHAR, started_at TIMESTAMP, ended_at TIMESTAMP,
            duration_seconds DOUBLE, agents VARCHAR, room VARCHAR, job_id VARCHAR,
            participant_identity VARCHAR, participant_kind VARCHAR, caller_number VARCHAR,
            end_reason VARCHAR, error VARCHAR, turns BIGINT, attributes VARCHAR,
            lk_usage VARCHAR)"""
    )


@migration
def m1202_call_usage(conn: Any) -> None:
    """Per-call totals of the line items by quarter hour, kept in step with every insert
    and reprice (`store/calls.py`) so call reports never group millions of items; filled
    from the items already stored."""
    conn.execute(
        """CREATE TABLE call_usage (
            session_id VARCHAR, bucket TIMESTAMP, project VARCHAR, agent VARCHAR,
            items BIGINT, unpriced_items BIGINT, cost_usd DECIMAL(18,10),
            cost_stt DECIMAL(18,10), cost_llm DECIMAL(18,10), cost_tts DECIMAL(18,10),
            cost_realtime DECIMAL(18,10), audio_seconds DOUBLE, input_tokens BIGINT,
            cached_input_tokens BIGINT, output_tokens BIGINT, characters BIGINT,
            first_at TIMESTAMP, last_at TIMESTAMP)"""
    )
    conn.execute(
        """INSERT INTO call_usage
        SELECT session_id, time_bucket(INTERVAL 15 MINUTE, timestamp), COALESCE(project, ''),
            COALESCE(agent, ''), count(*), count(*) FILTER (WHERE pricing_source = 'unpriced'),
            COALESCE(SUM(cost_usd), 0),
            COALESCE(SUM(cost_usd) FILTER (WHERE modality = 'stt'), 0),
            COALESCE(SUM(cost_usd) FILTER (WHERE modality = 'llm'), 0),
            COALESCE(SUM(cost_usd) FILTER (WHERE modality = 'tts'), 0),
            COALESCE(SUM(cost_usd) FILTER (WHERE modality = 'realtime'), 0),
            SUM(audio_seconds) FILTER (WHERE modality = 'stt'), SUM(input_tokens),
            SUM(cached_input_tokens), SUM(output_tokens), SUM(characters),
            min(timestamp), max(timestamp)
        FROM line_items WHERE session_id IS NOT NULL GROUP BY ALL
        ORDER BY 2"""
    )


@migration
def m1203_latency_samples(conn: Any) -> None:
    """Raw per-turn latency values, one row per metric LiveKit measured; `series` numbers
    each (metric, provider, model) in `latency_series`, so percentiles over millions of
    samples group one small integer instead of three strings (`store/latency.py`)."""
    conn.execute(
        "CREATE TABLE latency_series (series UINTEGER, metric VARCHAR, provider VARCHAR,"
        " model VARCHAR)"
    )
    conn.execute(
        """CREATE TABLE latency_samples (
            id VARCHAR, timestamp TIMESTAMP, session_id VARCHAR, project VARCHAR,
            agent VARCHAR, turn BIGINT, item_id VARCHAR, metric VARCHAR, seconds DOUBLE,
            provider VARCHAR, model VARCHAR, series UINTEGER)"""
    )


@migration
def m1204_session_errors(conn: Any) -> None:
    """Model errors LiveKit reported on sessions (for provider error rates)."""
    conn.execute(
        """CREATE TABLE session_errors (
            id VARCHAR, timestamp TIMESTAMP, session_id VARCHAR, project VARCHAR,
            agent VARCHAR, source VARCHAR, provider VARCHAR, model VARCHAR,
            error_type VARCHAR, recoverable BOOLEAN, message VARCHAR)"""
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


# ---------------------------------------------------------------- issue 12: calls, latency
# Column contracts live in `voicegw_cli.records`; the DDL is spelled out here so a released
# step never changes when the contract grows (a new column is a new step).
