"""The diff: our line items and the provider's export, joined per model (and per day).

Both sides are first brought to one tidy shape — (model key, day) x unit kind, plus cost —
and joined with pandas (an outer join: a model on one side only is a row, never dropped).
Each row then gets at most one primary cause, in this order of precedence:

* coverage  one side has usage the other does not have at all
* timezone  the daily figures line up once ours are shifted by a whole-hour zone offset
* units     a unit kind differs beyond the threshold (a metering gap)
* cached    only the cached/uncached split of input differs; the input total agrees
* unpriced  some of our items have no price, so our cost is incomplete
* rate      units agree, cost does not: a price differs

Units are the truth and the cheapest thing to compare, so a rate is only blamed once
every unit kind the provider reports agrees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from voicegw_cli.items import COST_SCALE, quantize_cost
from voicegw_cli.reconcile.base import CREDITS, INPUT_FAMILY, UNITS, USAGE
from voicegw_cli.reconcile.names import model_key
from voicegw_cli.reconcile.read import Export
from voicegw_cli.reconcile.units import credit_factors, per_display

CAUSES = ("coverage", "timezone", "units", "cached", "unpriced", "rate")
#: Our per-unit rates for a model on a day: unit kind -> (USD per unit, source).
RateLookup = Callable[[str, date], dict[str, tuple[Decimal, str]] | None]

_WILDCARD = {
    None: "(all models)",
    "llm": "(all LLM models)",
    "stt": "(all STT models)",
    "tts": "(all TTS models)",
    "realtime": "(all realtime models)",
}
# Whole-hour zone offsets tried when daily buckets disagree, nearest first.
_SHIFTS = [h for n in range(1, 15) for h in (n, -n) if -12 <= h <= 14]
#: How far past the period our hourly data is read, so a shifted day can be rebuilt.
PAD_HOURS = 14
_ZERO = Decimal(0)


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
    notes: list[str] = []
    frame = pd.DataFrame(
        {
            "model": pd.Series([r.model for r in recs], dtype=object),
            "modality": pd.Series([r.modality for r in recs], dtype=object),
            "day": [r.day.isoformat() if r.day else "" for r in recs],
            "unit": pd.Series([r.unit for r in recs], dtype=object),
            "quantity": pd.array([r.quantity for r in recs], dtype="float64"),
            "cost": pd.array([None if r.cost is None else _e10(r.cost) for r in recs], "Int64"),
            "kind": [r.kind for r in recs],
            "qtol": pd.array([r.qtol for r in recs], dtype="float64"),
            "ctol": pd.array([_e10(r.ctol) if r.ctol else 0 for r in recs], dtype="Int64"),
        }
    )
    if frame.empty:
        frame["key"] = pd.Series(dtype=object)
        return frame, notes
    named = frame["model"].notna()
    keys = {m: model_key(m) for m in frame.loc[named, "model"].unique()}
    wildcard = frame["modality"].map(_WILDCARD).fillna(_WILDCARD[None])
    frame["key"] = frame["model"].map(keys).where(named, wildcard)
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
        unit_costs = costs[costs["unit"].notna()]
        p_unit_cost: dict[tuple[str, str], dict[str, Decimal]] = {}
        for (k, d, u), v in unit_costs.groupby(["key", "gday", "unit"])["cost"].sum().items():
            p_unit_cost.setdefault((k, d), {})[u] = _usd(v)
        provider_side = p_units.join(p_slack, how="outer").join(p_cost, how="outer")
        p_names = _sets(pf, "key", "model")
        p_daily = qty[qty["day"] != ""].pivot_table(
            index=["key", "day"], columns="unit", values="quantity", aggfunc="sum"
        )
    else:
        compared, p_unit_cost, p_names = {}, {}, {}
        provider_side = pd.DataFrame(index=pd.MultiIndex.from_tuples([], names=["key", "gday"]))
        p_daily = pd.DataFrame()

    # -- our side, inside the period
    unit_cols = [u for u in UNITS if u in of.columns]
    if len(of):
        inside = of[of["in_period"]]
        inside = inside.assign(gday=gday(inside))
        aggs = {f"o:{u}": (u, "sum") for u in unit_cols}
        our_side = inside.groupby(["key", "gday"]).agg(
            items=("items", "sum"),
            unpriced=("unpriced_items", "sum"),
            o_cost=("cost_usd", _dsum),
            sources=("pricing_source", lambda x: sorted(set(x.dropna()))),
            **aggs,
        )
        o_names = _sets(of, "key", "model")
    else:
        our_side = pd.DataFrame(index=pd.MultiIndex.from_tuples([], names=["key", "gday"]))
        o_names = {}

    joined = our_side.join(provider_side, how="outer").sort_index()

    # -- first pass: per-row comparisons
    rows: list[dict[str, Any]] = []
    for (key, day), r in joined.iterrows():
        kinds = compared.get(key, set())
        row = _compare(key, day, r, kinds, unit_cols, p_unit_cost.get((key, day), {}), s)
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

    def lookup(key: str, day: str, model: str, when: date) -> dict[str, tuple[Decimal, str]]:
        """Our rates as applied to the stored items, else as the price list has them."""
        hours = inside[(inside["key"] == key) & (inside["gday"] == day)] if len(of) else None
        fitted = _fit_rates(hours, unit_cols)
        listed = {
            u: (_sig(p), src)
            for u, (p, src) in ((rates(model, when) if rates else None) or {}).items()
        }
        return {**listed, **fitted}

    out_rows = [_finish(r, shifts, o_names, p_names, lookup, s) for r in rows]
    out_rows.sort(key=lambda r: (r["model"], r.get("day") or ""))
    totals = _totals(out_rows, provider_has_cost=bool(len(pf) and pf["cost"].notna().any()))
    files = [{"path": f.path, "format": f.fmt} for f in export.files]
    return Reconciliation(export.provider, s, out_rows, totals, notes, files)


def _compare(
    key: str,
    day: str,
    r: Any,
    kinds: set[str],
    unit_cols: list[str],
    unit_costs: dict[str, Decimal],
    s: Settings,
) -> dict[str, Any] | None:
    """One joined row's comparisons: presence, unit kinds beyond the threshold, cost."""
    items = int(_num(r.get("items")))
    unpriced = int(_num(r.get("unpriced")))
    o_cost = r.get("o_cost") if isinstance(r.get("o_cost"), Decimal) else _ZERO
    p_cost = _usd(r["p_cost"]) if "p_cost" in r and _notna(r["p_cost"]) else None
    p_ctol = _usd(r["p_ctol"]) if "p_ctol" in r and _notna(r["p_ctol"]) else _ZERO
    ours_all = {u: _num(r.get(f"o:{u}")) for u in unit_cols}
    ordered = sorted(kinds, key=UNITS.index)
    ours = {u: ours_all.get(u, 0.0) for u in ordered}
    theirs = {u: _num(r.get(f"p:{u}")) for u in ordered}
    slack = {u: _num(r.get(f"t:{u}")) for u in ordered}

    ours_present = items > 0 and (any(ours_all.values()) or o_cost != 0 or unpriced > 0)
    theirs_present = any(theirs.values()) or (p_cost is not None and p_cost != 0)
    if not ours_present and not theirs_present:
        return None
    bad = [u for u in ordered if not _agree(ours[u], theirs[u], slack[u], s.threshold)]
    cached_only = False
    if bad and all(u in INPUT_FAMILY for u in bad):
        o_in = sum(ours_all.get(u, 0.0) for u in INPUT_FAMILY)
        t_in = sum(theirs.get(u, 0.0) for u in INPUT_FAMILY)
        cached_only = _agree(o_in, t_in, sum(slack.get(u, 0.0) for u in INPUT_FAMILY), s.threshold)
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
        "_cached_only": cached_only,
        "_cost_ok": cost_ok,
        "_coverage": coverage,
        "_day_bad": bool(bad) or coverage is not None,
        "_unit_costs": unit_costs,
        "_kinds": ordered,
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
    values = ours[kinds]
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


def _fit_rates(hours: Any, unit_cols: list[str]) -> dict[str, tuple[Decimal, str]]:
    """Per-unit prices recovered from our stored costs: cost = sum(rate x units) per hour.

    Costs are linear in units, so a least-squares fit over a group's hourly sums gives
    back the rates that priced them exactly — or nothing, when the fit is not exact
    (a price that changed inside the group, a tiered price) or there are too few hours."""
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
    return {u: (_sig(Decimal(repr(float(c)))), source) for u, c in zip(cols, coef, strict=True)}


def _finish(
    r: dict[str, Any],
    shifts: dict[str, int],
    o_names: dict[str, list[str]],
    p_names: dict[str, list[str]],
    lookup: Callable[[str, str, str, date], dict[str, tuple[Decimal, str]]],
    s: Settings,
) -> dict[str, Any]:
    key, day = r["_key"], r["_day"]
    ours_names, their_names = o_names.get(key, []), p_names.get(key, [])
    if key in _WILDCARD.values():
        label = key
    elif len(ours_names) == 1:
        label = ours_names[0]
    elif not ours_names and len(their_names) == 1:
        label = their_names[0]
    else:
        label = key
    causes: list[str] = []
    if key in shifts and (r["_bad"] or r["_coverage"]):
        causes.append("timezone")
    elif r["_coverage"]:
        causes.append("coverage")
    elif r["_bad"]:
        causes.append("cached" if r["_cached_only"] else "units")
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
    rate_lines = []
    if {"rate", "unpriced"} & set(causes):
        model_for_rate = ours_names[0] if ours_names else label
        when = date.fromisoformat(day) if day else s.start
        rate_lines = _rates(r, lookup(key, day, model_for_rate, when), s)
        row["rates"] = rate_lines
    if "timezone" in causes:
        row["shift_hours"] = shifts[key]
    row["detail"], row["check"] = _explain(row, r, causes, rate_lines, shifts.get(key), s)
    for x in rate_lines:  # per-unit prices as plain decimal strings, never `1E-7`
        for k in ("ours_usd_per_unit", "invoice_usd_per_unit"):
            if x[k] is not None:
                x[k] = format(x[k], "f")
    return row


def _rates(
    r: dict[str, Any], ours_rates: dict[str, tuple[Decimal, str]], s: Settings
) -> list[dict[str, Any]]:
    """Per unit kind: our rate and its source, and the rate the invoice implies."""
    kinds = r["_kinds"]
    theirs_units = r["provider_units"]
    unit_costs = dict(r["_unit_costs"])
    if not unit_costs and len(kinds) == 1 and r["provider_cost"] is not None:
        unit_costs = {kinds[0]: r["provider_cost"]}
    out = []
    for u in kinds:
        implied = None
        if u in unit_costs and theirs_units.get(u):
            implied = _sig(unit_costs[u] / Decimal(repr(theirs_units[u])))
        mine, source = None, ", ".join(r["sources"]) or None
        if ours_rates and u in ours_rates:
            mine, source = ours_rates[u]
        elif len(kinds) == 1 and r["ours_units"].get(u) and r["ours_cost"] is not None:
            if not r["unpriced_items"]:
                mine = _sig(r["ours_cost"] / Decimal(repr(r["ours_units"][u])))
        if implied is None and mine is None:
            continue
        differs = (
            mine is not None
            and implied is not None
            and abs(mine - implied) > Decimal(repr(s.threshold)) * max(abs(mine), abs(implied))
        )
        out.append(
            {
                "unit": u,
                "ours_usd_per_unit": mine,
                "ours_source": source,
                "invoice_usd_per_unit": implied,
                "differs": differs,
            }
        )
    return out


def _explain(
    row: dict[str, Any],
    r: dict[str, Any],
    causes: list[str],
    rate_lines: list[dict[str, Any]],
    shift: int | None,
    s: Settings,
) -> tuple[str, str]:
    """A one-line finding and what to check, for the primary cause."""
    if not causes:
        return "agrees", ""
    cause = causes[0]
    ours, theirs = r["ours_units"], r["provider_units"]
    if cause == "coverage" and r["_coverage"] == "provider":
        cost = f" (${row['provider_cost_usd']:,.4f})" if row["provider_cost_usd"] else ""
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
    if cause == "timezone":
        sign = "+" if shift and shift > 0 else "-"
        zone = f"UTC{sign}{abs(shift or 0):02d}:00"
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
    if cause in ("units", "cached"):
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
            f"{row['model']}, then `voicegw reprice --start {s.start} --end {s.end} --apply`.",
        )
    # rate
    off = [x for x in rate_lines if x["differs"]]
    if off:
        parts = [
            f"{x['unit']}: ours {per_display(x['unit'], x['ours_usd_per_unit'])} "
            f"({x['ours_source'] or 'unknown source'}), invoice implies "
            f"{per_display(x['unit'], x['invoice_usd_per_unit'])}"
            for x in off
        ]
        finding = "units agree, cost differs " + _cost_pct(row) + ": " + "; ".join(parts)
    else:
        known = [x for x in rate_lines if x["ours_usd_per_unit"] is not None]
        src = ", ".join(sorted({x["ours_source"] for x in known if x["ours_source"]}))
        src = src or ", ".join(row["pricing_sources"]) or "unknown source"
        basis = "units agree" if r["_kinds"] else "the export has no units to compare"
        finding = f"{basis}, cost differs {_cost_pct(row)} (our prices from {src})"
    return (
        finding,
        "The price we used is not what was billed: check for a price change, a "
        "negotiated rate, batch/priority tiers or a long-context surcharge; set "
        "pricing.overrides, then `voicegw reprice` this period.",
    )


def _cost_pct(row: dict[str, Any]) -> str:
    pct = row.get("cost_diff_pct")
    diff = row.get("cost_diff_usd")
    if diff is None:
        return ""
    return f"by {'-' if diff < 0 else '+'}${abs(diff):,.4f}" + (
        f" ({pct:+.2f}%)" if pct is not None else ""
    )


def _totals(rows: list[dict[str, Any]], *, provider_has_cost: bool) -> dict[str, Any]:
    ours = _dsum(r["ours_cost_usd"] for r in rows)
    theirs = _dsum(r["provider_cost_usd"] for r in rows) if provider_has_cost else None
    return {
        "ours_cost_usd": ours,
        "provider_cost_usd": theirs,
        "cost_diff_usd": ours - theirs if theirs is not None else None,
        "ours_items": sum(r["ours_items"] for r in rows),
        "unpriced_items": sum(r["unpriced_items"] for r in rows),
        "rows": len(rows),
        "flagged": sum(1 for r in rows if r["flagged"]),
    }
