"""What pricing data is in use, for `voicegw status`."""

from __future__ import annotations

from datetime import date
from typing import Any

from voicegw_cli.pricing.catalog import MAX_AGE_DAYS, catalog_health, load_catalog
from voicegw_cli.pricing.llm import genai_version


def pricing_versions(today: date | None = None, max_age_days: int = MAX_AGE_DAYS) -> dict[str, Any]:
    """genai-prices version and the catalog's review dates and health (prices in force on
    `today`, default today UTC). The stale and unverified counts come from the same
    `catalog_health` that `voicegw prices check` reports."""
    health = catalog_health(today, max_age_days)
    summary = health.summary()
    oldest = summary["oldest_review"]
    return {
        "genai_prices": genai_version(),
        "catalog_entries": len(load_catalog().entries),
        "catalog_in_force": summary["checked"],
        "catalog_checked_oldest": oldest.isoformat() if oldest else None,
        "catalog_checked_newest": (
            summary["newest_review"].isoformat() if summary["newest_review"] else None
        ),
        "catalog_oldest_age_days": (health.today - oldest).days if oldest else None,
        "catalog_max_age_days": health.max_age_days,
        "catalog_stale": summary["stale"],
        "catalog_unverified": summary["unverified"],
    }
