"""Pricing: LLM tokens from genai-prices, STT/TTS from our dated catalog, negotiated
overrides on top, and the provider-name mapping.

    from voicegw_cli.pricing import Pricer
    pricer = Pricer(config.pricing_overrides)
    pricer.price_item(item)            # one item, in place (the runtime hook)
    table = pricer.price_table(table)  # a pyarrow Table, in bulk (ingest, reprice, demo)

Every priced item names its `pricing_source`: `genai-prices@<version>`,
`catalog@<date checked>`, `override`, or `unpriced` (cost None, never a silent $0).
Importing this package loads neither genai-prices, numpy, pyarrow nor pandas.
"""

from voicegw_cli.pricing.catalog import (
    MAX_AGE_DAYS,
    CatalogEntry,
    CatalogHealth,
    catalog_entries,
    catalog_health,
    stale_entries,
)
from voicegw_cli.pricing.overrides import parse_overrides
from voicegw_cli.pricing.pricer import Pricer
from voicegw_cli.pricing.providers import canonical_provider, split_model_id
from voicegw_cli.pricing.rates import InvalidUnits, Rate, format_rate
from voicegw_cli.pricing.versions import pricing_versions

__all__ = [
    "MAX_AGE_DAYS",
    "CatalogEntry",
    "CatalogHealth",
    "InvalidUnits",
    "Pricer",
    "Rate",
    "canonical_provider",
    "catalog_entries",
    "catalog_health",
    "format_rate",
    "parse_overrides",
    "pricing_versions",
    "split_model_id",
    "stale_entries",
]
