"""The diff: our line items and the provider's export, joined per model (and per day).

Both sides are first brought to one tidy shape — (model key, day) x unit kind, plus cost —
and joined with pandas (an outer join: a model on one side only is a row, never dropped).
Each row then gets at most one primary cause, in this order of precedence:

* coverage  one side has usage the other does not have at all (or the export stops early:
            a page chain ending with `has_more: true`)
* timezone  the daily figures line up once ours are shifted by a whole-hour offset — all
            month (the export's days are another zone's) or across one midnight (our
            clock was off for a while: two days whose differences cancel)
* units     a unit kind differs beyond the threshold (a metering gap)
* cached    only the cached/uncached split of input differs; the input total agrees
* split     only the text/audio split differs; the totals agree
* unpriced  some of our items have no price, so our cost is incomplete
* rate      units agree, cost does not: a price differs

Units are the truth and the cheapest thing to compare, so a rate is only blamed once
every unit kind the provider reports agrees. Batch usage is its own row (`<model>
(batch)`); the long-context tier stays on its model and is shown apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from voicegw_cli.items import COST_SCALE, quantize_cost
from voicegw_cli.reconcile.base import (
    AUDIO_IN,
    AUDIO_OUT,
    AUDIO_PARTS,
    BATCH,
    CACHE_WRITE,
    CACHED,
    CACHED_AUDIO,
    CHARACTERS,
    CREDITS,
    INPUT_FAMILY,
    LEAVES,
    OUTPUT,
    SECONDS,
    UNCACHED,
    UNCACHED_AUDIO,
    UNITS,
    USAGE,
)
from voicegw_cli.reconcile.names import model_key
from voicegw_cli.reconcile.read import Export, Truncated
from voicegw_cli.reconcile.units import credit_factors, per_display

CAUSES = ("coverage", "timezone", "units", "cached", "split", "unpriced", "rate")
#: Our per-unit rates for a model on a day: rate leaf -> (USD per unit, source).
RateLookup = Callable[[str, date], dict[str, tuple[Decimal, str]] | None]

ALL_MODELS = "(all models)"
_WILDCARD = {
    None: ALL_MODELS,
    "llm": "(all LLM models)",
    "stt": "(all STT models)",
    "tts": "(all TTS models)",
    "realtime": "(all realtime models)",
}
_BATCH_SUFFIX = f" ({BATCH})"
# Whole-hour zone offsets tried when daily buckets disagree, nearest first.
_SHIFTS = [h for n in range(1, 15) for h in (n, -n) if -12 <= h <= 14]
#: How far past the period our hourly data is read, so a shifted day can be rebuilt.
PAD_HOURS = 14
_ZERO = Decimal(0)
#: rate leaf -> (pricing.overrides field, factor from USD per unit)
_OVERRIDE_FIELDS: dict[str, tuple[str, int]] = {
    UNCACHED: ("input_per_mtok", 1_000_000),
    CACHED: ("cached_input_per_mtok", 1_000_000),
    CACHE_WRITE: ("cache_write_per_mtok", 1_000_000),
    OUTPUT: ("output_per_mtok", 1_000_000),
    UNCACHED_AUDIO: ("audio_input_per_mtok", 1_000_000),
    CACHED_AUDIO: ("cached_audio_input_per_mtok", 1_000_000),
    AUDIO_OUT: ("audio_output_per_mtok", 1_000_000),
    SECONDS: ("per_minute", 60),
    CHARACTERS: ("per_1m_characters", 1_000_000),
}


@dataclass(slots=True)
class Settings:
    start: date
    end: date  # inclusive
    by: str = "model"  # or "day"
    threshold_pct: float = 1.0
    project: str | None = None

    @property
    def threshold(self) -> float:
        return self.threshold_pct / 100.0


@dataclass(slots=True)
class Reconciliation:
    provider: str
    settings: Settings
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    files: list[dict[str, str]] = field(default_factory=list)

    @property
    def flagged(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["flagged"]]

    def as_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "provider": self.provider,
            "period": {"start": s.start.isoformat(), "end": s.end.isoformat(), "timezone": "UTC"},
            "by": s.by,
            "project": s.project,
            "threshold_pct": s.threshold_pct,
            "files": self.files,
            "rows": self.rows,
            "totals": self.totals,
            "flagged_count": len(self.flagged),
            "notes": self.notes,
        }


# ----------------------------------------------------------------------------- helpers


def _dsum(values: Iterable[Any]) -> Decimal:
    return sum((v for v in values if isinstance(v, Decimal)), _ZERO)


def _num(value: Any) -> float:
    """NaN/None (a side with no figure) as 0."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if f != f else f


def _notna(value: Any) -> bool:
    import pandas as pd

    return bool(pd.notna(value))


def _agree(ours: float, theirs: float, slack: float, threshold: float) -> bool:
    return abs(ours - theirs) <= max(threshold * max(abs(ours), abs(theirs)), slack, 1e-6)


def _cost_agree(ours: Decimal, theirs: Decimal, slack: Decimal, threshold: float) -> bool:
    limit = max(Decimal(repr(threshold)) * max(abs(ours), abs(theirs)), slack, Decimal("1e-6"))
    return abs(ours - theirs) <= limit


def _rate_agree(a: Decimal, b: Decimal, threshold: float) -> bool:
    return abs(a - b) <= Decimal(repr(threshold)) * max(abs(a), abs(b))


def _pct(ours: float | Decimal, theirs: float | Decimal) -> float | None:
    """(ours - theirs) / theirs in percent; None when the provider side is 0."""
    if not theirs:
        return None
    return round(float((ours - theirs) / theirs) * 100, 3)


def _sig(value: Decimal, digits: int = 6) -> Decimal:
    """A derived per-unit price, to `digits` significant digits (no float detour)."""
    if not value:
        return _ZERO
    return value.quantize(Decimal(1).scaleb(value.adjusted() - digits + 1)).normalize()


def _unit_value(unit: str, value: float) -> int | float:
    return round(value, 3) if unit in ("audio_seconds", CREDITS) else int(round(value))


def _leaf_name(leaf: str, tier: str) -> str:
    return f"{leaf} ({tier})" if tier else leaf


# ----------------------------------------------------------------------------- frames


def _e10(value: Decimal) -> int:
    """Money as an integer of 1e-10 dollars (the store's own precision), so that pandas
    sums a hundred thousand provider lines natively and exactly."""
    return int(value.scaleb(COST_SCALE).to_integral_value(ROUND_HALF_EVEN))


def _usd(e10: Any) -> Decimal:
    return Decimal(int(e10)).scaleb(-COST_SCALE)


def _provider_frame(export: Export, s: Settings) -> tuple[Any, list[str]]:
    import pandas as pd

    recs = export.records
    src = [i for i, f in enumerate(export.files) for _ in f.records]
    notes: list[str] = []
    frame = pd.DataFrame(
        {
            "model": pd.Series([r.model for r in recs], dtype=object),
            "modality": pd.Series([r.modality for r in recs], dtype=object),
            "day": [r.day.isoformat() if r.day else "" for r in recs],
            "unit": pd.Series([r.unit for r in recs], dtype=object),
            "leaf": pd.Series([r.leaf or r.unit for r in recs], dtype=object),
            "tier": [r.tier or "" for r in recs],
            "quantity": pd.array([r.quantity for r in recs], dtype="float64"),
            "cost": pd.array([None if r.cost is None else _e10(r.cost) for r in recs], "Int64"),
            "kind": [r.kind for r in recs],
            "qtol": pd.array([r.qtol for r in recs], dtype="float64"),
            "ctol": pd.array([_e10(r.ctol) if r.ctol else 0 for r in recs], dtype="Int64"),
            "src": pd.array(src, dtype="int64"),
        }
    )
    if frame.empty:
        frame["key"] = pd.Series(dtype=object)
        return frame, notes
    named = frame["model"].notna()
    keys = {m: model_key(m) for m in frame.loc[named, "model"].unique()}
    wildcard = frame["modality"].map(_WILDCARD).fillna(_WILDCARD[None])
    base = frame["model"].map(keys).where(named, wildcard)
    batch = frame["tier"] == BATCH
    frame["key"] = base.where(~batch, base + _BATCH_SUFFIX)
    if batch.any():
        frame["model"] = frame["model"].where(~(batch & named), frame["model"] + _BATCH_SUFFIX)
        kept = ", ".join(sorted(set(frame.loc[batch, "key"])))
        notes.append(
            f"kept batch usage apart ({kept}): batch is billed at half price and is never "
            "what a live voice agent sends"
        )
    lo, hi = s.start.isoformat(), s.end.isoformat()
    dated = frame["day"] != ""
    outside = dated & ((frame["day"] < lo) | (frame["day"] > hi))
    if outside.any():
        notes.append(f"ignored {int(outside.sum())} provider figure(s) dated outside {lo}..{hi}")
        frame = frame[~outside]
    days = frame.loc[frame["day"] != "", "day"]
    if not days.empty and (days.min() > lo or days.max() < hi):
        notes.append(
            f"the export covers {days.min()}..{days.max()} only; days outside it show as "
            "ours-only coverage"
        )
    return frame, notes


def _sets(frame: Any, key: str, value: str) -> dict[str, list[str]]:
    """{key: sorted distinct values}, from the distinct pairs only (frames can be long)."""
    out: dict[str, list[str]] = {}
    for k, v in frame[[key, value]].dropna().drop_duplicates().itertuples(index=False):
        out.setdefault(k, []).append(v)
    return {k: sorted(v) for k, v in out.items()}


def _our_frame(ours: Any, provider_frame: Any, provider: str, s: Settings) -> Any:
    """Our hourly aggregate with join keys, wildcard matches and derived credits."""
    import pandas as pd

    frame = ours.to_pandas() if hasattr(ours, "to_pandas") else ours
    frame = frame.copy()
    if frame.empty:
        frame["key"] = pd.Series(dtype=object)
        frame["day"] = pd.Series(dtype=object)
        return frame
    keys = {m: model_key(m) for m in frame["model"].unique()}
    frame["key"] = frame["model"].map(keys)
    named = provider_frame["model"].notna() if not provider_frame.empty else []
    explicit = set(provider_frame.loc[named, "key"]) if len(provider_frame) else set()
    wild = set(provider_frame.loc[~named, "key"]) if len(provider_frame) else set()
    if wild:

        def assign(k: str, modality: str) -> str:
            if k in explicit:
                return k
            order = [modality, "llm" if modality == "realtime" else modality, None]
            for cand in order:
                if _WILDCARD.get(cand) in wild:
                    return _WILDCARD[cand]
            return k

        frame["key"] = [assign(k, m) for k, m in zip(frame["key"], frame["modality"], strict=True)]
    if len(provider_frame) and (provider_frame["unit"] == CREDITS).any():
        factors = {m: credit_factors(provider, m) for m in frame["model"].unique()}
        per_char = frame["model"].map(lambda m: factors[m][0])
        per_sec = frame["model"].map(lambda m: factors[m][1])
        frame[CREDITS] = frame["characters"] * per_char + frame["audio_seconds"] * per_sec
    hours = pd.to_datetime(frame["hour"])
    frame["hour"] = hours
    frame["day"] = hours.dt.strftime("%Y-%m-%d")
    start = pd.Timestamp(s.start)
    end = pd.Timestamp(s.end + timedelta(days=1))
    frame["in_period"] = (hours >= start) & (hours < end)
    return frame


LeafCosts = dict[tuple[str, str], tuple[Decimal, float | None]]


def _leaf_costs(costs: Any, index: list[str]) -> dict[tuple[str, str], LeafCosts]:
    """{(key, day or gday): {(leaf, tier): (cost, the lines' own quantity or None)}}.

    A line's own quantity is what its cost prices (OpenAI cost lines carry one); None
    when some line of the group has none (Anthropic and Deepgram bills)."""
    c = costs[costs["leaf"].notna()]
    out: dict[tuple[str, str], LeafCosts] = {}
    if c.empty:
        return out
    c = c.assign(has_q=c["quantity"].notna())
    g = c.groupby([*index, "leaf", "tier"], sort=False).agg(
        cost=("cost", "sum"), qty=("quantity", "sum"), nq=("has_q", "sum"), n=("has_q", "size")
    )
    for (a, b, leaf, tier), cost, qty, nq, n in g.itertuples(name=None):
        out.setdefault((a, b), {})[(leaf, tier)] = (_usd(cost), float(qty) if nq == n else None)
    return out


# ----------------------------------------------------------------------------- the diff


def reconcile(
    export: Export,
    ours: Any,
    settings: Settings,
    *,
    rates: RateLookup | None = None,
) -> Reconciliation:
    """Compare `export` (the provider's) with `ours` (aggregates.usage_by_hour)."""
    import pandas as pd

    s = settings
    pf, notes = _provider_frame(export, s)
    of = _our_frame(ours, pf, export.provider, s)
    notes = export.notes + notes

    undated = set(pf.loc[pf["day"] == "", "key"]) if len(pf) else set()
    if undated and s.by == "day":
        notes.append(
            "the export has no daily split for "
            + ", ".join(sorted(undated))
            + "; compared over the whole period"
        )

    def gday(frame: Any) -> Any:
        if s.by != "day":
            return pd.Series("", index=frame.index, dtype=object)
        return frame["day"].where(~frame["key"].isin(undated), "")

    # -- provider side: quantities (usage files win over a cost file's quantities), costs
    if len(pf):
        pf = pf.assign(gday=gday(pf))
        qty = pf[pf["quantity"].notna() & pf["unit"].notna()]
        pair = qty["key"] + "\x1f" + qty["unit"]
        is_usage = qty["kind"] == USAGE
        qty = qty[is_usage | ~pair.isin(set(pair[is_usage]))]
        compared = {k: set(v) for k, v in _sets(qty, "key", "unit").items()}
        p_units = qty.pivot_table(
            index=["key", "gday"], columns="unit", values="quantity", aggfunc="sum"
        ).add_prefix("p:")
        p_slack = qty.pivot_table(
            index=["key", "gday"], columns="unit", values="qtol", aggfunc="sum"
        ).add_prefix("t:")
        costs = pf[pf["cost"].notna()]
        p_cost = costs.groupby(["key", "gday"]).agg(p_cost=("cost", "sum"), p_ctol=("ctol", "sum"))
        p_leaf = _leaf_costs(costs, ["key", "gday"])
        p_leaf_daily = _leaf_costs(costs[costs["day"] != ""], ["key", "day"])
        provider_side = p_units.join(p_slack, how="outer").join(p_cost, how="outer")
        p_names = _sets(pf, "key", "model")
        p_daily = qty[qty["day"] != ""].pivot_table(
            index=["key", "day"], columns="unit", values="quantity", aggfunc="sum"
        )
        p_tiers = _tier_figures(qty, costs)
        # costs not split by model (OpenAI grouped by project only): one all-model total
        total_costs = (
            ALL_MODELS in set(pf["key"])
            and pf.loc[pf["key"] == ALL_MODELS, "unit"].isna().all()
            and bool(pf["model"].notna().any())
        )
    else:
        compared, p_leaf, p_leaf_daily, p_names, p_tiers = {}, {}, {}, {}, {}
        provider_side = pd.DataFrame(index=pd.MultiIndex.from_tuples([], names=["key", "gday"]))
        p_daily = pd.DataFrame()
        total_costs = False

    # -- our side, inside the period
    unit_cols = [u for u in UNITS if u in of.columns]
    if len(of):
        inside = of[of["in_period"]]
        inside = inside.assign(gday=gday(inside))
        aggs = {f"o:{u}": (u, "sum") for u in unit_cols}
        our_aggs = dict(
            items=("items", "sum"),
            unpriced=("unpriced_items", "sum"),
            o_cost=("cost_usd", _dsum),
            sources=("pricing_source", lambda x: sorted(set(x.dropna()))),
        )
        our_side = inside.groupby(["key", "gday"]).agg(**our_aggs, **aggs)
        o_names = _sets(of, "key", "model")
        if total_costs:  # the total covers every model of ours, named in the export or not
            whole = "" if s.by != "day" or ALL_MODELS in undated else None
            g_all = inside["gday"] if whole is None else pd.Series(whole, index=inside.index)
            every = inside.assign(key=ALL_MODELS, gday=g_all).groupby(["key", "gday"])
            our_side = pd.concat(
                [
                    our_side.drop(index=ALL_MODELS, level="key", errors="ignore"),
                    every.agg(**our_aggs),
                ]
            )
            o_names[ALL_MODELS] = sorted(set(of["model"]))
    else:
        inside = of
        our_side = pd.DataFrame(index=pd.MultiIndex.from_tuples([], names=["key", "gday"]))
        o_names = {}

    joined = our_side.join(provider_side, how="outer").sort_index()

    # -- first pass: per-row comparisons
    rows: list[dict[str, Any]] = []
    for (key, day), r in joined.iterrows():
        kinds = compared.get(key, set())
        row = _compare(key, day, r, kinds, unit_cols, s)
        if row is not None:
            rows.append(row)

    # -- time zones: a key whose days disagree but line up under a shift
    shifts: dict[str, int] = {}
    suspects = {r["_key"] for r in rows if r["_day_bad"] and r["_key"] not in undated}
    for key in sorted(suspects):
        kinds = sorted(compared.get(key, set()), key=UNITS.index)
        if not kinds or key not in o_names or p_daily.empty:
            continue
        h = _detect_shift(of[of["key"] == key], p_daily, key, kinds, s)
        if h is not None:
            shifts[key] = h
    clock = _detect_clock(rows, of, shifts, s) if s.by == "day" else {}
    truncation = _truncation(export, pf, of, o_names)

    def lookup(key: str, day: str, model: str, when: date) -> dict[str, tuple[Decimal, str]]:
        """Our rates as applied to the stored items, else as the price list has them —
        but only a listed rate from the price list our items were priced by."""
        hours = inside[(inside["key"] == key) & (inside["gday"] == day)] if len(of) else None
        fitted = _fit_rates(hours, unit_cols)
        sources = set(hours["pricing_source"].dropna()) if hours is not None else set()
        listed = {
            u: (_sig(p), src)
            for u, (p, src) in ((rates(model, when) if rates else None) or {}).items()
            if src in sources
        }
        return {**listed, **fitted}

    periods: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}

    def rate_periods(key: str) -> dict[tuple[str, str], dict[str, Any]]:
        if key not in periods:
            daily = {d: lc for (k, d), lc in p_leaf_daily.items() if k == key}
            usage = p_daily.loc[key] if not p_daily.empty and key in p_daily.index else None
            periods[key] = _rate_periods(daily, usage, s)
        return periods[key]

    ctx = _Context(
        s,
        export.provider,
        shifts,
        clock,
        truncation,
        o_names,
        p_names,
        p_leaf,
        p_tiers,
        total_costs,
    )
    out_rows = [_finish(r, ctx, lookup, rate_periods) for r in rows]
    out_rows.sort(key=lambda r: (r["model"], r.get("day") or ""))
    totals = _totals(out_rows, inside, provider_has_cost=bool(len(pf) and pf["cost"].notna().any()))
    files = [{"path": f.path, "format": f.fmt} for f in export.files]
    return Reconciliation(export.provider, s, out_rows, totals, notes, files)


@dataclass(slots=True)
class _Context:
    """What `_finish` needs beyond the row: the run's findings per key."""

    s: Settings
    provider: str
    shifts: dict[str, int]
    clock: dict[tuple[str, str], dict[str, Any]]
    truncation: dict[str, Truncated]
    o_names: dict[str, list[str]]
    p_names: dict[str, list[str]]
    p_leaf: dict[tuple[str, str], LeafCosts]
    p_tiers: dict[tuple[str, str], dict[str, Any]]
    total_costs: bool


def _tier_figures(qty: Any, costs: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """{(key, gday): {tier: {"units": {...}, "cost_usd": ...}}} for the tiers a model's
    row carries besides the standard one (long context, priority...; batch has its own
    row). The row's units and cost include them; this says how much was which."""
    out: dict[tuple[str, str], dict[str, Any]] = {}

    def slot(k: str, d: str, t: str) -> dict[str, Any]:
        return out.setdefault((k, d), {}).setdefault(t, {"units": {}, "cost_usd": None})

    q = qty[(qty["tier"] != "") & (qty["tier"] != BATCH)]
    for (k, d, t, u), v in q.groupby(["key", "gday", "tier", "unit"])["quantity"].sum().items():
        slot(k, d, t)["units"][u] = _unit_value(u, v)
    c = costs[(costs["tier"] != "") & (costs["tier"] != BATCH)]
    for (k, d, t), v in c.groupby(["key", "gday", "tier"])["cost"].sum().items():
        slot(k, d, t)["cost_usd"] = _usd(v)
    return out


def _compare(
    key: str,
    day: str,
    r: Any,
    kinds: set[str],
    unit_cols: list[str],
    s: Settings,
) -> dict[str, Any] | None:
    """One joined row's comparisons: presence, unit kinds beyond the threshold, cost."""
    items = int(_num(r.get("items")))
    unpriced = int(_num(r.get("unpriced")))
    o_cost = r.get("o_cost") if isinstance(r.get("o_cost"), Decimal) else _ZERO
    p_cost = _usd(r["p_cost"]) if "p_cost" in r and _notna(r["p_cost"]) else None
    p_ctol = _usd(r["p_ctol"]) if "p_ctol" in r and _notna(r["p_ctol"]) else _ZERO
    ours_all = {u: _num(r.get(f"o:{u}")) for u in unit_cols}
    theirs = {u: _num(r.get(f"p:{u}")) for u in kinds}
    # audio parts are compared only where either side has audio
    ordered = [
        u
        for u in sorted(kinds, key=UNITS.index)
        if u not in AUDIO_PARTS or ours_all.get(u) or theirs[u]
    ]
    ours = {u: ours_all.get(u, 0.0) for u in ordered}
    theirs = {u: theirs[u] for u in ordered}
    slack = {u: _num(r.get(f"t:{u}")) for u in ordered}

    ours_present = items > 0 and (any(ours_all.values()) or o_cost != 0 or unpriced > 0)
    theirs_present = any(theirs.values()) or (p_cost is not None and p_cost != 0)
    if not ours_present and not theirs_present:
        return None
    bad = [u for u in ordered if not _agree(ours[u], theirs[u], slack[u], s.threshold)]
    split = None
    if bad and all(u in INPUT_FAMILY or u in AUDIO_PARTS for u in bad):
        family = [u for u in ordered if u in INPUT_FAMILY]
        if any(u in INPUT_FAMILY for u in bad):
            o_in = sum(ours_all.get(u, 0.0) for u in family)
            t_in = sum(theirs.get(u, 0.0) for u in family)
            if _agree(o_in, t_in, sum(slack[u] for u in family), s.threshold):
                split = "cached"
        else:
            split = "split"  # the totals agree (they are compared): only the audio part moved
    cost_ok = p_cost is None or _cost_agree(o_cost, p_cost, p_ctol, s.threshold)
    coverage = None
    if ours_present and not theirs_present:
        coverage = "ours"
    elif theirs_present and not ours_present:
        coverage = "provider"
    return {
        "_key": key,
        "_day": day,
        "_bad": bad,
        "_split": split,
        "_cost_ok": cost_ok,
        "_coverage": coverage,
        "_day_bad": bool(bad) or coverage is not None,
        "_kinds": ordered,
        "_slack": slack,
        "items": items,
        "unpriced_items": unpriced,
        "sources": list(r.get("sources")) if isinstance(r.get("sources"), list) else [],
        "ours_units": ours,
        "provider_units": theirs,
        "ours_cost": o_cost if items else None,
        "provider_cost": p_cost,
    }


def _detect_shift(ours: Any, p_daily: Any, key: str, kinds: list[str], s: Settings) -> int | None:
    """The whole-hour offset under which our hourly usage rebuilds the provider's days."""
    import pandas as pd

    try:
        theirs = p_daily.loc[key]
    except KeyError:
        return None
    days = pd.date_range(s.start, s.end, freq="D").strftime("%Y-%m-%d")
    theirs = theirs.reindex(days).reindex(columns=kinds).fillna(0.0)
    hours = ours["hour"]
    values = ours.reindex(columns=kinds).fillna(0.0)
    for h in _SHIFTS:
        shifted = (hours + pd.Timedelta(hours=h)).dt.strftime("%Y-%m-%d")
        mine = values.groupby(shifted.to_numpy()).sum().reindex(days).fillna(0.0)
        if all(
            _agree(a, b, 0.0, s.threshold)
            for u in kinds
            for a, b in zip(mine[u].to_numpy(), theirs[u].to_numpy(), strict=True)
        ):
            return h
    return None


def _detect_clock(
    rows: list[dict[str, Any]], of: Any, shifts: dict[str, int], s: Settings
) -> dict[tuple[str, str], dict[str, Any]]:
    """Two adjacent days whose unit gaps cancel, explained by an hour shift at midnight.

    When our clock runs h hours ahead around midnight, the last hours of day D land on
    D+1: D is short by exactly what D+1 has too much, and our first h hours of D+1 hold at
    least that much (behind: the other way round). The smallest such h is the shift."""
    import pandas as pd

    bad = {
        (r["_key"], r["_day"]): r
        for r in rows
        if r["_bad"] and not r["_coverage"] and r["_key"] not in shifts and r["_day"]
    }
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for (key, day), a in sorted(bad.items()):
        nxt = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
        b = bad.get((key, nxt))
        if b is None or (key, day) in out or a["_kinds"] != b["_kinds"]:
            continue
        kinds = a["_kinds"]
        da = {u: a["ours_units"][u] - a["provider_units"][u] for u in kinds}
        db = {u: b["ours_units"][u] - b["provider_units"][u] for u in kinds}
        slack = {u: a["_slack"][u] + b["_slack"][u] for u in kinds}
        moved = {u: da[u] for u in kinds if abs(da[u]) > max(slack[u], 1e-6)}
        cancel = all(
            abs(da[u] + db[u]) <= max(s.threshold * abs(da[u]), slack[u], 1e-6) for u in kinds
        )
        signs = {x > 0 for x in moved.values()}
        if not moved or not cancel or len(signs) != 1:
            continue
        ahead = signs == {False}  # D short, D+1 over: our stamps were late
        mine = of[(of["key"] == key) & of["day"].isin([day, nxt])]
        hour_of = mine["hour"].dt.hour.to_numpy()
        on_next = (mine["day"] == nxt).to_numpy()
        for h in range(1, 15):
            window = (on_next & (hour_of < h)) if ahead else (~on_next & (hour_of >= 24 - h))
            held = mine.loc[window, list(moved)].sum() if window.any() else pd.Series(dtype=float)
            if all(
                held.get(u, 0.0) >= abs(x) * (1 - s.threshold) - slack[u] for u, x in moved.items()
            ):
                info = {"shift": -h if ahead else h, "days": (day, nxt), "moved": moved}
                out[(key, day)] = out[(key, nxt)] = info
                break
    return out


def _truncation(
    export: Export, pf: Any, of: Any, o_names: dict[str, list[str]]
) -> dict[str, Truncated]:
    """{key: the cut-short page chain that explains it} — the keys the cut file reports,
    and keys only we have whose modality the cut file covers."""
    out: dict[str, Truncated] = {}
    if not export.truncated or not len(pf):
        return out
    paths = [f.path for f in export.files]
    provider_keys = set(pf["key"])
    o_mods = _sets(of, "key", "modality") if len(of) else {}
    for t in export.truncated:
        mods = set(t.modalities)
        if mods & {"llm", "realtime"}:
            mods |= {"llm", "realtime"}
        for key in set(pf.loc[pf["src"] == paths.index(t.path), "key"]):
            out.setdefault(key, t)
        for key, m in o_mods.items():
            if key not in provider_keys and (None in mods or mods & set(m)):
                out.setdefault(key, t)
    return out


def _fit_rates(hours: Any, unit_cols: list[str]) -> dict[str, tuple[Decimal, str]]:
    """Per-leaf prices recovered from our stored costs: cost = sum(rate x units) per hour.

    Costs are linear in units, so a least-squares fit over a group's hourly sums gives
    back the rates that priced them exactly — or nothing, when the fit is not exact
    (a price that changed inside the group, a tiered price, cached audio priced apart)
    or there are too few hours. Audio kinds are parts of their totals, so their
    coefficient is the premium over text: the audio leaf's price is the sum."""
    import numpy as np

    if hours is None:
        return {}
    priced = hours[(hours["unpriced_items"] == 0) & hours["cost_usd"].notna()]
    cols = [u for u in unit_cols if u != CREDITS and priced[u].abs().sum() > 0]
    if not cols or len(priced) < len(cols):
        return {}
    x = priced[cols].to_numpy(dtype=float)
    y = np.array([float(c) for c in priced["cost_usd"]])
    coef, _, rank, _ = np.linalg.lstsq(x, y, rcond=None)
    if rank < len(cols) or np.max(np.abs(x @ coef - y)) > 1e-7 + 1e-6 * np.max(np.abs(y)):
        return {}
    source = ", ".join(sorted(set(priced["pricing_source"].dropna()))) or "stored costs"
    c = dict(zip(cols, (float(v) for v in coef), strict=True))
    leaves = {u: v for u, v in c.items() if u not in AUDIO_PARTS}
    if AUDIO_IN in c:
        leaves[UNCACHED_AUDIO] = c.get(UNCACHED, 0.0) + c[AUDIO_IN]
    if AUDIO_OUT in c:
        leaves[AUDIO_OUT] = c.get(OUTPUT, 0.0) + c[AUDIO_OUT]
    return {u: (_sig(Decimal(repr(v))), source) for u, v in leaves.items()}


def _rate_periods(
    daily: dict[str, LeafCosts], usage: Any, s: Settings
) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (leaf, tier): the invoice's daily rate — constant, changed once (the day and
    the rates before and after), or varying.

    A day's rate is its cost over the quantity that cost prices: the lines' own, else the
    usage export's for that unit kind (only for the standard tier of a key without
    lines of other tiers: its usage counts every tier)."""
    by_leaf: dict[tuple[str, str], list[tuple[str, Decimal, Decimal]]] = {}
    tiered = any(t for lc in daily.values() for _, t in lc)
    for day, lc in sorted(daily.items()):
        for (leaf, tier), (cost, qty) in lc.items():
            if qty is None and not tier and not tiered and usage is not None:
                try:
                    qty = float(usage.at[day, leaf])
                except (KeyError, ValueError):
                    qty = None
            if qty and qty == qty:
                by_leaf.setdefault((leaf, tier), []).append((day, cost, Decimal(repr(qty))))
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for lt, points in by_leaf.items():
        rates = [c / q for _, c, q in points]
        if len(points) < 2 or _rate_agree(min(rates), max(rates), s.threshold):
            continue
        for k in range(1, len(points)):
            before, after = rates[:k], rates[k:]
            if (
                _rate_agree(min(before), max(before), s.threshold)
                and _rate_agree(min(after), max(after), s.threshold)
                and not _rate_agree(before[-1], after[0], s.threshold)
            ):
                out[lt] = {
                    "changed_on": points[k][0],
                    "before": _sig(
                        sum(c for _, c, _ in points[:k]) / sum(q for *_, q in points[:k])
                    ),
                    "after": _sig(
                        sum(c for _, c, _ in points[k:]) / sum(q for *_, q in points[k:])
                    ),
                }
                break
        else:
            out[lt] = {"varies": (_sig(min(rates)), _sig(max(rates)))}
    return out


def _finish(
    r: dict[str, Any],
    ctx: _Context,
    lookup: Callable[[str, str, str, date], dict[str, tuple[Decimal, str]]],
    rate_periods: Callable[[str], dict[tuple[str, str], dict[str, Any]]],
) -> dict[str, Any]:
    s = ctx.s
    key, day = r["_key"], r["_day"]
    ours_names, their_names = ctx.o_names.get(key, []), ctx.p_names.get(key, [])
    if key in _WILDCARD.values():
        label = key
    elif len(ours_names) == 1:
        label = ours_names[0]
    elif not ours_names and len(their_names) == 1:
        label = their_names[0]
    else:
        label = key
    clock = ctx.clock.get((key, day))
    cut = ctx.truncation.get(key)
    if cut is not None and (r["_bad"] or r["_coverage"]):
        ends = cut.ends.strftime("%Y-%m-%d")
        if day and day < ends:
            cut = None
    else:
        cut = None
    causes: list[str] = []
    if cut is not None:
        causes.append("coverage")
    elif key in ctx.shifts and (r["_bad"] or r["_coverage"]):
        causes.append("timezone")
    elif r["_coverage"]:
        causes.append("coverage")
    elif clock is not None:
        causes.append("timezone")
    elif r["_bad"]:
        causes.append(r["_split"] or "units")
    if r["unpriced_items"]:
        causes.append("unpriced")
    if not causes and not r["_cost_ok"]:
        causes.append("rate")
    causes.sort(key=CAUSES.index)
    o_cost = r["ours_cost"]
    p_cost = quantize_cost(r["provider_cost"]) if r["provider_cost"] is not None else None
    row: dict[str, Any] = {"model": label}
    if s.by == "day":
        row["day"] = day or None
    row.update(
        {
            "flagged": bool(causes),
            "cause": causes[0] if causes else None,
            "causes": causes,
            "ours_units": {u: _unit_value(u, v) for u, v in r["ours_units"].items()},
            "provider_units": {u: _unit_value(u, v) for u, v in r["provider_units"].items()},
            "unit_diff_pct": {
                u: _pct(r["ours_units"][u], r["provider_units"][u]) for u in r["_kinds"]
            },
            "ours_cost_usd": o_cost,
            "provider_cost_usd": p_cost,
            "cost_diff_usd": (o_cost or _ZERO) - p_cost if p_cost is not None else None,
            "cost_diff_pct": _pct(o_cost or _ZERO, p_cost) if p_cost is not None else None,
            "ours_items": r["items"],
            "unpriced_items": r["unpriced_items"],
            "pricing_sources": r["sources"],
            "names": sorted(set(ours_names) | set(their_names)),
        }
    )
    if key == ALL_MODELS and ctx.total_costs:
        row["all_models"] = True
    tiers = ctx.p_tiers.get((key, day))
    if tiers:
        row["tiers"] = tiers
    rate_lines: list[dict[str, Any]] = []
    suggestion = None
    if {"rate", "unpriced"} & set(causes):
        model_for_rate = ours_names[0] if ours_names else label
        when = date.fromisoformat(day) if day else s.start
        rate_lines = _rates(
            r,
            lookup(key, day, model_for_rate, when),
            ctx.p_leaf.get((key, day), {}),
            rate_periods(key),
            s,
        )
        row["rates"] = rate_lines
        if "rate" in causes and ours_names:
            suggestion = _suggest(ctx.provider, ours_names[0], rate_lines, day, s)
            if suggestion:
                row["suggested_override"] = suggestion
    if causes and causes[0] == "timezone":
        row["shift_hours"] = clock["shift"] if clock and key not in ctx.shifts else ctx.shifts[key]
    if cut is not None:
        row["truncated_file"] = cut.path
    row["detail"], row["check"] = _explain(row, r, causes, rate_lines, ctx, clock, cut, suggestion)
    for x in rate_lines:  # per-unit prices as plain decimal strings, never `1E-7`
        for k in list(x):
            if k.endswith("usd_per_unit") and isinstance(x[k], Decimal):
                x[k] = format(x[k], "f")
    return row


def _rates(
    r: dict[str, Any],
    ours_rates: dict[str, tuple[Decimal, str]],
    leaf_costs: LeafCosts,
    periods: dict[tuple[str, str], dict[str, Any]],
    s: Settings,
) -> list[dict[str, Any]]:
    """Per rate leaf (and tier): our rate and its source, and the rate the invoice
    implies — never a blend: where the invoice's rate changed within the row, the day it
    changed and the rates before and after instead."""
    kinds = r["_kinds"]
    theirs_units = r["provider_units"]
    tiered = any(t for _, t in leaf_costs)
    leaves = [(u, "") for u in kinds if u not in AUDIO_PARTS]
    leaves += [lt for lt in leaf_costs if lt not in leaves]
    leaves.sort(key=lambda lt: (lt[1], LEAVES.index(lt[0]) if lt[0] in LEAVES else 99))
    whole = None
    if not leaf_costs and len(kinds) == 1 and r["provider_cost"] is not None:
        whole = r["provider_cost"]
    out = []
    for leaf, tier in leaves:
        implied = None
        if (leaf, tier) in leaf_costs:
            cost, qty = leaf_costs[(leaf, tier)]
            if qty is None and not tier and not tiered:
                qty = theirs_units.get(leaf)
            if qty:
                implied = _sig(cost / Decimal(repr(qty)))
        elif whole is not None and theirs_units.get(leaf):
            implied = _sig(whole / Decimal(repr(theirs_units[leaf])))
        mine, source = None, ", ".join(r["sources"]) or None
        name = f"{leaf}@{tier}" if tier else leaf
        if name in ours_rates:
            mine, source = ours_rates[name]
        elif tier and leaf in ours_rates:  # our prices have no such tier: the standard one
            mine, source = ours_rates[leaf][0], f"{ours_rates[leaf][1]}, no {tier} price"
        elif len(kinds) == 1 and not tier and r["ours_units"].get(leaf) and r["ours_cost"]:
            if not r["unpriced_items"]:
                mine = _sig(r["ours_cost"] / Decimal(repr(r["ours_units"][leaf])))
        period = periods.get((leaf, tier), {})
        if implied is None and mine is None:
            continue
        line: dict[str, Any] = {
            "unit": leaf,
            "tier": tier or None,
            "ours_usd_per_unit": mine,
            "ours_source": source,
            "invoice_usd_per_unit": implied,
        }
        invoice = [implied] if implied is not None else []
        if "changed_on" in period:
            line["invoice_changed_on"] = period["changed_on"]
            line["invoice_before_usd_per_unit"] = period["before"]
            line["invoice_after_usd_per_unit"] = period["after"]
            if not r["_day"]:  # over the whole period the implied rate is a blend
                line["invoice_usd_per_unit"] = None
                invoice = [period["before"], period["after"]]
        elif "varies" in period and not r["_day"]:
            line["invoice_usd_per_unit"] = None
            line["invoice_min_usd_per_unit"], line["invoice_max_usd_per_unit"] = period["varies"]
            invoice = list(period["varies"])
        line["differs"] = mine is not None and any(
            not _rate_agree(mine, x, s.threshold) for x in invoice
        )
        out.append(line)
    return out


def _price_text(value: Decimal) -> str:
    """A price for voicegw.yaml: 4 significant digits, at least 2 decimals (`5.50`)."""
    d = _sig(value, 4)
    text = format(d, "f")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def _suggest(
    provider: str, model: str, lines: list[dict[str, Any]], day: str, s: Settings
) -> dict[str, str] | None:
    """The `pricing.overrides` entry that would price this row as the invoice does:
    the invoice's rate where it differs (from the day it changed, when it did), ours
    elsewhere. None when a needed rate is unknown or only a context tier differs (an
    override has no tier field)."""
    std = [x for x in lines if not x["tier"] and x["unit"] in _OVERRIDE_FIELDS]
    if not any(x["differs"] for x in std):
        return None
    changed = sorted(
        {x["invoice_changed_on"] for x in std if x["differs"] and "invoice_changed_on" in x}
    )
    if len(changed) > 1 or any(
        x["differs"] and x["invoice_usd_per_unit"] is None and "invoice_changed_on" not in x
        for x in std
    ):
        return None
    for x in std:  # ours was right after the change, wrong before: not one dated entry
        after = x.get("invoice_after_usd_per_unit")
        if x["differs"] and after is not None and x["ours_usd_per_unit"] is not None:
            if _rate_agree(Decimal(x["ours_usd_per_unit"]), Decimal(after), s.threshold):
                return None
    out: dict[str, str] = {"model": f"{provider}/{model}"}
    for x in std:
        if x["differs"]:
            price = x.get("invoice_after_usd_per_unit") or x["invoice_usd_per_unit"]
        else:
            price = (
                x["ours_usd_per_unit"]
                if x["ours_usd_per_unit"] is not None
                else x["invoice_usd_per_unit"]
            )
        if price is None:
            return None
        name, factor = _OVERRIDE_FIELDS[x["unit"]]
        out[name] = _price_text(Decimal(price) * factor)
    tokens = [k for k in out if k.endswith("_per_mtok")]
    if tokens and not {"input_per_mtok", "output_per_mtok"} <= set(tokens):
        return None
    if changed:
        out["effective_from"] = changed[0]
    return out


def _override_text(sug: dict[str, str]) -> str:
    fields = ", ".join(
        f"{k}: {v}" if k == "effective_from" else f'{k}: "{v}"'
        for k, v in sug.items()
        if k != "model"
    )
    return f"{sug['model']}: {{{fields}}}"


def _explain(
    row: dict[str, Any],
    r: dict[str, Any],
    causes: list[str],
    rate_lines: list[dict[str, Any]],
    ctx: _Context,
    clock: dict[str, Any] | None,
    cut: Truncated | None,
    suggestion: dict[str, str] | None,
) -> tuple[str, str]:
    """A one-line finding and what to check, for the primary cause."""
    s = ctx.s
    if not causes:
        return "agrees", ""
    cause = causes[0]
    ours, theirs = r["ours_units"], r["provider_units"]
    key = r["_key"]
    if cut is not None:
        token = f" (next_page {cut.next_page})" if cut.next_page else ""
        return (
            f"no provider figures after {cut.ends:%Y-%m-%d %H:%M} UTC: {cut.path} ended "
            f"with has_more: true{token} and no later page was given",
            "The export is incomplete: fetch the remaining pages (pass page=<next_page> "
            "until has_more is false), save them with the first and run reconcile again.",
        )
    if cause == "coverage" and r["_coverage"] == "provider":
        cost = f" (${row['provider_cost_usd']:,.4f})" if row["provider_cost_usd"] else ""
        if key.endswith(_BATCH_SUFFIX):
            return (
                f"billed as batch{cost}, no line items of ours: batch is billed at half "
                "price and is never what a live voice agent sends",
                "Another app or script runs batch jobs with this key or project: export with "
                "a project or key filter to leave them out, or account for them apart.",
            )
        return (
            f"billed by the provider{cost}, no line items of ours",
            "Find what else uses this key or project (another app, a script, a "
            "worker without the voicegw hook) or an agent whose provider/model is logged "
            "under another name.",
        )
    if cause == "coverage":
        return (
            f"{r['items']:,} line items of ours, nothing in the export",
            "Check the export covers this key/project and period, that the model "
            "is billed under this provider (not via LiveKit Inference or a proxy), and "
            "whether the provider's usage lags behind (OpenAI TTS usage can).",
        )
    if cause == "timezone" and clock is not None and key not in ctx.shifts:
        d1, d2 = clock["days"]
        h = clock["shift"]
        moved = "; ".join(
            f"{u} {_unit_value(u, x):+,} / {_unit_value(u, -x):+,}"
            for u, x in clock["moved"].items()
        )
        way = "ahead" if h < 0 else "behind"
        edge = (
            f"items of {d1}'s last hours stamped on {d2}"
            if h < 0
            else f"items of {d2}'s first hours stamped on {d1}"
        )
        return (
            f"{d1} and {d2} differ by amounts that cancel (ours minus provider: {moved}): "
            f"matches our clock running {abs(h)} h {way} around midnight ({edge})",
            "Check the clock (NTP) and time zone of the agent hosts that logged these items; "
            "the month total is not affected.",
        )
    if cause == "timezone":
        shift = ctx.shifts[key]
        sign = "+" if shift > 0 else "-"
        zone = f"UTC{sign}{abs(shift):02d}:00"
        return (
            f"daily buckets match ours shifted by {shift:+d} h (days in {zone})",
            f"The export's days are {zone} days, ours are UTC: export it in UTC. "
            + (
                "Over the whole period (--by model) only the hours at its edges differ."
                if s.by == "day"
                else "What differs are the hours at the period's edges, which the export "
                "puts on days outside it."
            ),
        )
    if cause in ("units", "cached", "split"):
        parts = []
        for u in r["_bad"]:
            pct = _pct(ours[u], theirs[u])
            pct_s = f" ({pct:+.2f}%)" if pct is not None else ""
            parts.append(
                f"{u}: ours {_unit_value(u, ours[u]):,} vs provider "
                f"{_unit_value(u, theirs[u]):,}{pct_s}"
            )
        finding = "; ".join(parts)
        if cause == "cached":
            return (
                "input total agrees, cached/uncached split differs: " + finding,
                "Check how the hook maps cached tokens (prompt_cached_tokens, "
                "cache_read/cache_creation) for this model; the bill uses the provider's "
                "split, so cost follows theirs.",
            )
        if cause == "split":
            return (
                "totals agree, text/audio split differs: " + finding,
                "Check how the hook maps realtime audio tokens (input_audio_tokens, "
                "output_audio_tokens of the session usage) for this model; audio is priced "
                "apart from text and the bill uses the provider's split, so cost follows "
                "theirs.",
            )
        missing = any(ours[u] < theirs[u] for u in r["_bad"])
        return (
            finding,
            (
                "The provider metered more than we logged: look for agent processes that "
                "ran without the hook, spool files never folded (`voicegw status`), or "
                "another app on the same key."
                if missing
                else "We logged more than the provider metered: look for duplicate line "
                "items, retries counted twice, or usage billed under another key."
            ),
        )
    if cause == "unpriced":
        implied = [
            f"{x['unit']} {per_display(x['unit'], x['invoice_usd_per_unit'])}"
            for x in rate_lines
            if x["invoice_usd_per_unit"] is not None
        ]
        hint = f"; the invoice implies {', '.join(implied)}" if implied else ""
        return (
            f"{r['unpriced_items']:,} of {r['items']:,} items have no price{hint}",
            f"Add a rate under pricing.overrides in voicegw.yaml for "
            f"{row['model']}, then "
            f"`voicegw reprice --utc --start {s.start} --end {s.end} --apply`.",
        )
    # rate
    return _explain_rate(row, r, rate_lines, ctx, suggestion)


def _explain_rate(
    row: dict[str, Any],
    r: dict[str, Any],
    rate_lines: list[dict[str, Any]],
    ctx: _Context,
    suggestion: dict[str, str] | None,
) -> tuple[str, str]:
    s = ctx.s
    off = [x for x in rate_lines if x["differs"]]
    if off:
        parts = []
        for x in off:
            u, name = x["unit"], _leaf_name(x["unit"], x["tier"] or "")
            src = x["ours_source"] or "unknown source"
            ours = f"ours {per_display(u, x['ours_usd_per_unit'])} ({src})"
            if x["invoice_usd_per_unit"] is not None:
                since = f" since {x['invoice_changed_on']}" if "invoice_changed_on" in x else ""
                parts.append(
                    f"{name}: {ours}, invoice implies "
                    f"{per_display(u, x['invoice_usd_per_unit'])}{since}"
                )
            elif "invoice_changed_on" in x:
                parts.append(
                    f"{name}: {ours}; the invoice's rate changed on {x['invoice_changed_on']}: "
                    f"{per_display(u, x['invoice_before_usd_per_unit'])} before, "
                    f"{per_display(u, x['invoice_after_usd_per_unit'])} from then on"
                )
            else:
                parts.append(
                    f"{name}: {ours}; the invoice's rate is not constant across days "
                    f"({per_display(u, x['invoice_min_usd_per_unit'])} to "
                    f"{per_display(u, x['invoice_max_usd_per_unit'])}; see --by day)"
                )
        finding = "units agree, cost differs " + _cost_pct(row) + ": " + "; ".join(parts)
    else:
        known = [x for x in rate_lines if x["ours_usd_per_unit"] is not None]
        src = ", ".join(sorted({x["ours_source"] for x in known if x["ours_source"]}))
        src = src or ", ".join(row["pricing_sources"]) or "unknown source"
        basis = "units agree" if r["_kinds"] else "the export has no units to compare"
        finding = f"{basis}, cost differs {_cost_pct(row)} (our prices from {src})"
    if row.get("all_models"):
        finding += "; the export's costs are not split by model: one total over all our models"
    reprice = f"--end {s.end} --provider {ctx.provider} --apply`"
    if suggestion and "effective_from" in suggestion:
        start = suggestion["effective_from"]
        check = (
            f"The invoice's price changed on {start}: add a dated override to "
            f"voicegw.yaml, pricing.overrides: {_override_text(suggestion)}, then "
            f"`voicegw reprice --utc --start {start} {reprice}."
        )
    elif suggestion:
        check = (
            "The price we used is not what was billed all period (a negotiated rate?): add "
            f"pricing.overrides: {_override_text(suggestion)} to voicegw.yaml, then "
            f"`voicegw reprice --utc --start {s.start} {reprice}."
        )
    elif off and all(x["tier"] for x in off):
        tiers = " and ".join(sorted({x["tier"] for x in off}))
        check = (
            f"Part of this usage is billed at its {tiers} price, which our prices do not "
            f"have for it: check the model's {tiers} price in the price list or catalog "
            "(pricing.overrides has no tier field), or account for the difference."
        )
    else:
        check = (
            "The price we used is not what was billed: check for a price change, a "
            "negotiated rate, batch/priority tiers or a long-context surcharge; set "
            "pricing.overrides, then `voicegw reprice` this period."
        )
    return finding, check


def _cost_pct(row: dict[str, Any]) -> str:
    pct = row.get("cost_diff_pct")
    diff = row.get("cost_diff_usd")
    if diff is None:
        return ""
    return f"by {'-' if diff < 0 else '+'}${abs(diff):,.4f}" + (
        f" ({pct:+.2f}%)" if pct is not None else ""
    )


def _totals(rows: list[dict[str, Any]], inside: Any, *, provider_has_cost: bool) -> dict[str, Any]:
    """Ours straight from our items (an all-model total row overlaps the model rows),
    the provider's from the rows (every provider figure is on exactly one row)."""
    if len(inside):
        ours = _dsum(inside["cost_usd"])
        items = int(inside["items"].sum())
        unpriced = int(inside["unpriced_items"].sum())
    else:
        ours, items, unpriced = _ZERO, 0, 0
    theirs = _dsum(r["provider_cost_usd"] for r in rows) if provider_has_cost else None
    return {
        "ours_cost_usd": ours,
        "provider_cost_usd": theirs,
        "cost_diff_usd": ours - theirs if theirs is not None else None,
        "ours_items": items,
        "unpriced_items": unpriced,
        "rows": len(rows),
        "flagged": sum(1 for r in rows if r["flagged"]),
    }
