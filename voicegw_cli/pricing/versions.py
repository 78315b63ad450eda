"""What pricing data is in use, for `voicegw status`."""

from __future__ import annotations

from datetime import date
from typing import Any

from voicegw_cli import clock
from voicegw_cli.pricing.catalog import load_catalog
from voicegw_cli.pricing.llm import genai_version


def pricing_versions(today: date | None = None, max_age_days: int = 60) -> dict[str, Any]:
    """genai-prices version and the catalog's check dates (current entries only)."""
    today = today or clock.now().date()
    catalog = load_catalog()
    current = catalog.current(today)
    dates = [e.pricing_source_date for e in current]
    oldest = min(dates) if dates else None
    return {
        "genai_prices": genai_version(),
        "catalog_entries": len(catalog.entries),
        "catalog_checked_oldest": oldest.isoformat() if oldest else None,
        "catalog_checked_newest": max(dates).isoformat() if dates else None,
        "catalog_oldest_age_days": (today - oldest).days if oldest else None,
        f"catalog_older_than_{max_age_days}_days": sum(
            1 for d in dates if (today - d).days > max_age_days
        ),
    }
