"""Bulk pricing of a pyarrow Table of line items, with numpy integer arithmetic.

Steps, all vectorized except for a loop over distinct (provider, model) groups and over
distinct rates:

1. rows are grouped by (canonical provider, model); each group's plan is resolved once;
2. each schedule of the plan splits the group's rows into price periods by timestamp;
3. rows are reduced to a small signature (periods, batch flag, which units are non-zero)
   and each distinct signature picks its rate with the same `Plan.choose` as `price_item`;
   context-size tiers are then picked with `searchsorted` on input tokens;
4. each rate prices its rows with `Rate.form`: integer leaves times integer numerators,
   one half-to-even division, straight into a decimal128(18,10) buffer.

Sums that could overflow int64 are done on Python integers instead (exact, slower).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from voicegw_cli.items import UNPRICED
from voicegw_cli.pricing.providers import canonical_provider
from voicegw_cli.pricing.rates import Rate

if TYPE_CHECKING:
    from voicegw_cli.pricing.pricer import Pricer

_INT_COLS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "audio_input_tokens",
    "audio_output_tokens",
    "characters",
)
_MAX_UNITS = 10**18  # decimal(18,10) holds costs below 1e8 USD
_SAFE = 2**62
_CACHED_AUDIO = r'"input_cached_audio_tokens"\s*:\s*(?P<n>\d+)'
_NOT_STREAMED = r'"streamed"\s*:\s*false'


def price_table(pricer: Pricer, table: Any) -> Any:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    money = pa.decimal128(18, 10)
    n = table.num_rows
    names = table.column_names
    old_cost = table.column("cost_usd").cast(money) if "cost_usd" in names else pa.nulls(n, money)
    old_source = (
        table.column("pricing_source").cast(pa.string())
        if "pricing_source" in names
        else pa.nulls(n, pa.string())
    )
    need_mask = pc.is_null(old_cost).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(need_mask)
    if len(rows) == 0:
        return _set(table, old_cost, old_source)
    sub = table if len(rows) == n else table.take(pa.array(rows))

    units = {c: _ints(sub, c) for c in _INT_COLS}
    seconds = _floats(sub, "audio_seconds")
    ts = _timestamps(sub)
    prov_idx, prov_values = _codes(sub.column("provider"))
    model_idx, model_values = _codes(sub.column("model"))
    canon = [canonical_provider(v or "") for v in prov_values]
    lower_models = [(v or "").strip().lower() for v in model_values]
    # one code per (canonical provider, lowercased model)
    canon_codes = {c: i for i, c in enumerate(dict.fromkeys(canon))}
    model_codes = {m: i for i, m in enumerate(dict.fromkeys(lower_models))}
    prov_map = np.array([canon_codes[c] for c in canon] or [0], dtype=np.int64)
    model_map = np.array([model_codes[m] for m in lower_models] or [0], dtype=np.int64)
    group_code = prov_map[prov_idx] * (len(model_codes) + 1) + model_map[model_idx]
    groups, inverse = np.unique(group_code, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(inverse, minlength=len(groups)))])

    has_tokens = np.zeros(len(rows), dtype=bool)
    for c in (
        "input_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "output_tokens",
        "audio_input_tokens",
        "audio_output_tokens",
    ):
        has_tokens |= units[c] > 0
    has_seconds = seconds > 0
    has_chars = units["characters"] > 0
    metadata = sub.column("metadata") if "metadata" in names else None

    rates: list[Rate] = []
    rate_ids: dict[int, int] = {}
    row_rate = np.full(len(rows), -1, dtype=np.int64)

    def rid(rate: Rate) -> int:
        key = id(rate)
        if key not in rate_ids:
            rate_ids[key] = len(rates)
            rates.append(rate)
        return rate_ids[key]

    for g in range(len(groups)):
        idx = order[bounds[g] : bounds[g + 1]]
        first = idx[0]  # the group's first spelling of provider and model labels its rates
        plan = pricer.plan(prov_values[prov_idx[first]] or "", model_values[model_idx[first]] or "")
        if not plan.known:
            continue
        periods = plan.periods_array(ts[idx])
        batch = np.zeros(len(idx), dtype=bool)
        if plan.has_batch and metadata is not None:
            meta = metadata.take(pa.array(idx))
            batch = pc.fill_null(pc.match_substring_regex(meta, _NOT_STREAMED), False)
            batch = batch.to_numpy(zero_copy_only=False)
        sig = np.zeros(len(idx), dtype=np.int64)
        for slot, p in enumerate(periods):
            sig |= (p + 1) << (8 * slot)
        sig |= batch.astype(np.int64) << 32
        sig |= has_tokens[idx].astype(np.int64) << 33
        sig |= has_seconds[idx].astype(np.int64) << 34
        sig |= has_chars[idx].astype(np.int64) << 35
        uniq, inv = np.unique(sig, return_inverse=True)
        lut = np.full(len(uniq), -1, dtype=np.int64)
        for u, s in enumerate(uniq.tolist()):
            ps = tuple(((s >> (8 * slot)) & 0xFF) - 1 for slot in range(4))
            rate = plan.choose(
                ps, bool(s >> 32 & 1), bool(s >> 33 & 1), bool(s >> 34 & 1), bool(s >> 35 & 1)
            )
            if rate is not None:
                lut[u] = rid(rate)
        row_rate[idx] = lut[inv]

    # context-size tiers
    for r in [r for r in list(rates) if r.tiers]:
        sel = np.flatnonzero(row_rate == rate_ids[id(r)])
        if len(sel) == 0:
            continue
        thresholds = np.array([t for t, _ in r.tiers], dtype=np.int64)
        tier = np.searchsorted(thresholds, units["input_tokens"][sel], side="left")
        tier_ids = np.array([rid(r)] + [rid(tr) for _, tr in r.tiers], dtype=np.int64)
        row_rate[sel] = tier_ids[tier]

    cached_audio = _cached_audio(metadata, units, len(rows))
    cost = np.zeros(len(rows), dtype=np.int64)
    valid = np.zeros(len(rows), dtype=bool)
    sources = [UNPRICED]
    source_of: dict[str, int] = {UNPRICED: 0}
    row_source = np.zeros(len(rows), dtype=np.int32)
    for r_id, rate in enumerate(rates):
        sel = np.flatnonzero(row_rate == r_id)
        if len(sel) == 0:
            continue
        c, ok = _cost_units(
            rate, {k: v[sel] for k, v in units.items()}, cached_audio[sel], seconds[sel]
        )
        cost[sel] = c
        valid[sel] = ok
        s = source_of.setdefault(rate.source, len(sources))
        if s == len(sources):
            sources.append(rate.source)
        row_source[sel] = np.where(ok, s, 0)

    new_cost = _decimal_array(cost, valid, money)
    new_source = pa.DictionaryArray.from_arrays(
        pa.array(row_source, pa.int32()), pa.array(sources, pa.string())
    ).dictionary_decode()
    if len(rows) == n:
        return _set(table, new_cost, new_source)
    # scatter the priced rows back among the rows that kept their cost
    position = np.zeros(n, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    mask = pa.array(need_mask)
    cost_full = pc.if_else(mask, new_cost.take(pa.array(position)), old_cost)
    source_full = pc.if_else(mask, new_source.take(pa.array(position)), old_source)
    return _set(table, cost_full, source_full)


def _cost_units(rate: Rate, u: dict[str, Any], cached_audio: Any, seconds: Any) -> tuple[Any, Any]:
    """(cost in 1e-10 USD, valid) per row, exactly as `Rate.cost_units` computes it."""
    import numpy as np

    denominator, numerators, split_reasoning, bills_tokens = rate.form
    m = len(seconds)
    zero = np.zeros(m, dtype=np.int64)
    ok = u["characters"] >= 0
    if bills_tokens:
        reasoning = u["reasoning_tokens"] if split_reasoning else zero
        ca = cached_audio
        leaves = [
            u["input_tokens"]
            - u["cached_input_tokens"]
            - u["cache_write_tokens"]
            - u["audio_input_tokens"]
            + ca,
            u["cached_input_tokens"] - ca,
            u["cache_write_tokens"],
            u["audio_input_tokens"] - ca,
            ca,
            u["output_tokens"] - u["audio_output_tokens"] - reasoning,
            reasoning,
            u["audio_output_tokens"],
        ]
        for leaf in leaves:
            ok &= leaf >= 0
    else:
        leaves = [zero] * 8
    leaves.append(u["characters"])
    if numerators[9]:
        audio, audio_ok = _billed_us(rate, seconds)
        ok &= audio_ok
    else:
        audio = zero
    leaves.append(audio)
    terms = [(leaf, num) for leaf, num in zip(leaves, numerators, strict=True) if num]
    if not terms:
        return zero, ok
    bound = sum(int(np.max(np.where(ok, leaf, 0), initial=0)) * num for leaf, num in terms)
    if bound < _SAFE:
        total = zero.copy()
        for leaf, num in terms:
            total += np.where(ok, leaf, 0) * num
        q, r = np.divmod(total, denominator)
        up = (2 * r > denominator) | ((2 * r == denominator) & (q % 2 == 1))
        cost = q + up
    else:  # exact on Python integers
        total = np.zeros(m, dtype=object)
        for leaf, num in terms:
            total = total + np.where(ok, leaf, 0).astype(object) * num
        q = total // denominator
        r = total - q * denominator
        up = np.array(
            [
                2 * x > denominator or (2 * x == denominator and y % 2 == 1)
                for x, y in zip(r.tolist(), q.tolist(), strict=True)
            ],
            dtype=bool,
        )
        cost_obj = q + up.astype(object)
        too_big = np.array([c >= _MAX_UNITS for c in cost_obj.tolist()], dtype=bool)
        ok &= ~too_big
        cost = np.where(ok, cost_obj, 0).astype(np.int64)
    ok &= cost < _MAX_UNITS
    return np.where(ok, cost, 0), ok


def _billed_us(rate: Rate, seconds: Any) -> tuple[Any, Any]:
    import numpy as np

    finite = np.isfinite(seconds) & (seconds >= 0)
    us = np.rint(np.where(finite, seconds, 0.0) * 1_000_000).astype(np.int64)
    inc = _to_us(rate.billing_increment_seconds)
    if inc > 0:
        if rate.rounding == "nearest":
            us = np.where(us > 0, np.maximum((us + inc // 2) // inc, 1) * inc, 0)
        else:
            us = -(-us // inc) * inc
    minimum = _to_us(rate.minimum_seconds)
    if minimum > 0:
        us = np.where(us > 0, np.maximum(us, minimum), 0)
    return us, finite


def _to_us(value: Any) -> int:
    return 0 if value is None else int((value * 1_000_000).to_integral_value())


def _cached_audio(metadata: Any, units: dict[str, Any], m: int) -> Any:
    """Realtime items' cached audio tokens (metadata.input_cached_audio_tokens), read only
    for rows with both cached and audio input tokens, as `price_item` does."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    out = np.zeros(m, dtype=np.int64)
    if metadata is None:
        return out
    sel = np.flatnonzero((units["cached_input_tokens"] > 0) & (units["audio_input_tokens"] > 0))
    if len(sel) == 0:
        return out
    meta = metadata.take(pa.array(sel)).cast(pa.string())
    found = pc.struct_field(pc.extract_regex(meta, _CACHED_AUDIO), "n")
    values = pc.fill_null(pc.cast(found, pa.int64()), 0).to_numpy(zero_copy_only=False)
    out[sel] = values
    return out


def _decimal_array(units: Any, valid: Any, money: Any) -> Any:
    """int64 multiples of 1e-10 straight into a decimal128(18,10) array."""
    import numpy as np
    import pyarrow as pa

    words = np.empty((len(units), 2), dtype=np.int64)
    words[:, 0] = units
    words[:, 1] = units >> 63  # sign extension (costs are never negative)
    validity = pa.array(valid, pa.bool_()).buffers()[1]
    return pa.Array.from_buffers(money, len(units), [validity, pa.py_buffer(words.tobytes())])


def _set(table: Any, cost: Any, source: Any) -> Any:
    import pyarrow as pa

    for name, col, typ in (
        ("cost_usd", cost, pa.decimal128(18, 10)),
        ("pricing_source", source, pa.string()),
    ):
        col = col.cast(typ)
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, col) if i >= 0 else table.append_column(name, col)
    return table


def _ints(table: Any, name: str) -> Any:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if name not in table.column_names:
        return np.zeros(table.num_rows, dtype=np.int64)
    col = pc.fill_null(table.column(name).cast(pa.int64()), 0)
    return col.to_numpy()


def _floats(table: Any, name: str) -> Any:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if name not in table.column_names:
        return np.zeros(table.num_rows, dtype=np.float64)
    return pc.fill_null(table.column(name).cast(pa.float64()), 0.0).to_numpy()


def _timestamps(table: Any) -> Any:
    """UTC microseconds since the epoch (naive timestamps are UTC)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = table.column("timestamp")
    typ = col.type
    if not pa.types.is_timestamp(typ):
        col = pc.cast(col, pa.timestamp("us", tz="UTC"))
        typ = col.type
    col = col.cast(pa.timestamp("us", tz=typ.tz), safe=False)
    return pc.fill_null(col.cast(pa.int64()), 0).to_numpy()


def _codes(column: Any) -> tuple[Any, list[Any]]:
    """Dictionary codes (numpy) and the distinct values of a string column."""
    import numpy as np
    import pyarrow as pa

    col = column.cast(pa.string()).combine_chunks().dictionary_encode()
    values = [*col.dictionary.to_pylist(), None]  # the last value stands for null
    indices = col.indices.fill_null(len(values) - 1)
    return indices.to_numpy(zero_copy_only=False).astype(np.int64), values
