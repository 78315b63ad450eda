"""The machine-readable form every face shares (`--format json`, the HTTP API).

Money stays an exact decimal string (never a float, never exponent notation), dates and
times are ISO-8601. The CLI's JSON and the API's JSON are built by these two functions,
so one query gives the same document on both.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def jsonable(value: Any) -> Any:
    """`value` with Decimals as exact strings and dates/times as ISO-8601 text."""
    if isinstance(value, Decimal):
        return format(value, "f")  # never exponent notation ("0E-10")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def dumps(payload: Any, *, indent: int | None = 2) -> str:
    """JSON with money as exact decimal strings."""
    return json.dumps(jsonable(payload), indent=indent, ensure_ascii=False)
