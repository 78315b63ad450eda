"""`voicegw status`: what voicegw is using and whether anything needs attention."""

from __future__ import annotations

import typer

from voicegw_cli.cli.output import Format, FormatOpt


def register(app: typer.Typer) -> None:
    @app.command()
    def status(fmt: FormatOpt = Format.table) -> None:
        """Config, store, spool backlog, projects, time zone, pricing data, missing values,
        admin keys for `voicegw pull` (masked), and where each project's provider keys come
        from (never the key)."""
        from voicegw_cli.admin_keys import masked_admin_keys
        from voicegw_cli.cli.context import get_config, open_store
        from voicegw_cli.cli.output import dumps, emit
        from voicegw_cli.config import merged_projects
        from voicegw_cli.spool import pending
        from voicegw_cli.store import queries

        cfg = get_config()
        with open_store(fold=False) as store:
            if cfg.ship is None:
                offsets = dict(
                    store.conn.execute("SELECT file, byte_offset FROM spool_offsets").fetchall()
                )
                backlog = [c for c in pending(cfg.spool_dir, offsets) if c.data]
            else:  # the local spool is the shipper's: it is all backlog until shipped
                backlog = [c for c in pending(cfg.spool_dir, {}, subdirs=True) if c.data]
            result = store.fold()
            stats = queries.store_stats(store.conn)
            projects = merged_projects(cfg, store.conn)
            admin = masked_admin_keys(cfg, store.conn)
            from voicegw_cli.reports import key_sources

            sources = key_sources(store, sorted(projects))
        info = {
            "config": cfg.source,
            "store": str(cfg.store_path),
            "store_bytes": cfg.store_path.stat().st_size if cfg.store_path.exists() else 0,
            "items": stats["items"],
            "unpriced_items": stats["unpriced_items"],
            "unpriced_models": stats["unpriced_models"],
            "newest_item": stats["newest"].isoformat() + "Z" if stats["newest"] else None,
            "spool_dir": str(cfg.spool_dir),
            "spool_backlog_files": len(backlog),
            "spool_backlog_bytes": sum(len(c.data) for c in backlog),
            "folded_now": result.items_added,
            **(_fleet_status(cfg, result) if cfg.ship is not None else {}),
            "timezone": cfg.timezone,
            "projects": sorted(projects),
            "default_project": cfg.default_project or "default",
            "missing": list(cfg.missing),
            "admin_keys": [f"{k['provider']} {k['key']} ({k['source']})" for k in admin],
            "key_sources": sources,
        }
        try:
            from voicegw_cli.pricing import pricing_versions
        except ImportError:
            pass
        else:
            info["pricing"] = pricing_versions()
        if fmt is Format.json:
            typer.echo(dumps(info))
            return
        rows = [{"setting": k, "value": v} for k, v in info.items() if k != "key_sources"]
        if fmt is Format.csv:
            import json

            rows.append({"setting": "key_sources", "value": json.dumps(sources)})
            emit(rows, fmt=fmt)
            return
        emit(
            rows, fmt=fmt, title="voicegw status", cells={"value": lambda r: _readable(r["value"])}
        )
        if sources:
            emit(
                sources,
                fmt=fmt,
                title="Provider keys by project (where each comes from; never the key)",
                columns=["project", "provider", "source", "where"],
            )
        pricing = info.get("pricing") or {}
        if pricing.get("catalog_stale") or pricing.get("catalog_unverified"):
            from voicegw_cli.cli.output import note

            note(
                f"[yellow]{pricing['catalog_stale']} catalog price(s) reviewed more than "
                f"{pricing['catalog_max_age_days']} days ago, "
                f"{pricing['catalog_unverified']} unverified:[/] see `voicegw prices check`"
            )
        if cfg.missing:
            from voicegw_cli.cli.output import note

            note(
                f"[yellow]{len(cfg.missing)} value(s) are missing because their environment "
                f"variable is unset:[/] {', '.join(cfg.missing)}"
            )


def _fleet_status(cfg, result) -> dict[str, object]:
    """Shipping from this host, and folding from the bucket (with `storage.ship_to`)."""
    from voicegw_cli.fleet.ship import backlog, ship_host
    from voicegw_cli.store.snapshot import read_snapshot

    b = backlog(cfg.spool_dir)
    fleet = (read_snapshot(cfg) or {}).get("fleet") or {}
    out: dict[str, object] = {
        "ship_to": cfg.ship.url,
        "ship_host": ship_host(cfg),
        "unshipped_files": b.files,
        "unshipped_bytes": b.bytes,
        "unshipped_closed_files": b.closed_files,
        "unshipped_oldest_seconds": round(b.oldest_seconds, 1) if b.oldest_seconds else None,
        "shipped_awaiting_seal": b.shipped_waiting,
        "last_shipped": b.last_success,
        "last_ship_error": b.last_error if b.failures else None,
        "segments_folded_now": result.segments_folded,
        "sealed_through": fleet.get("sealed_through"),
    }
    if result.ship_error:
        out["fold_error"] = result.ship_error
    return out


def _readable(value: object) -> str:
    """A status value for people: counts with separators, mappings as one line a key."""
    from rich.markup import escape

    if value in ([], None, {}):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return "\n".join(
            f"{escape(str(k)).replace('_', ' ')}: {_readable(v)}" for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return escape(", ".join(str(v) for v in value))
    return escape(str(value))
