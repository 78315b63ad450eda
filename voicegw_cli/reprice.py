"""reprice: recompute stored costs from stored units, after a rate was fixed.

Units are the truth and cost is derived, so after an override lands (or a catalog price
is corrected) the period's items can be priced again. The selection is read in Arrow
batches, each batch's costs are nulled and handed to the same `Pricer.price_table` that
ingest and the fold use, and only rows whose cost or source changed are written back —
all of them in one transaction, with an audit entry. Without `apply` nothing is written.
Correction items (metadata.correction = true) keep the cost a person gave them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from voicegw_cli.progress import Progress
from voicegw_cli.store.aggregates import apply_costs, reprice_reader

_ZERO = Decimal(0)


@dataclass(slots=True)
class ModelChange:
    provider: str
    model: str
    items: int = 0
    changed: int = 0
    before: Decimal = _ZERO
    after: Decimal = _ZERO
    unpriced_before: int = 0
    unpriced_after: int = 0
    sources_after: set[str] = field(default_factory=set)

    def as_row(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "items": self.items,
            "changed_items": self.changed,
            "before_usd": self.before,
            "after_usd": self.after,
            "change_usd": self.after - self.before,
            "unpriced_before": self.unpriced_before,
            "unpriced_after": self.unpriced_after,
            "pricing_sources": sorted(self.sources_after),
        }


@dataclass(slots=True)
class RepriceResult:
    models: list[ModelChange]
    applied: bool

    @property
    def before(self) -> Decimal:
        return sum((m.before for m in self.models), _ZERO)

    @property
    def after(self) -> Decimal:
        return sum((m.after for m in self.models), _ZERO)

    @property
    def changed(self) -> int:
        return sum(m.changed for m in self.models)


def reprice(
    conn: Any,
    pricer: Any,
    start: datetime,
    end: datetime,
    *,
    provider: str | None = None,
    model: str | None = None,
    apply: bool = False,
    actor: str = "cli",
    progress: Progress | None = None,
) -> RepriceResult:
    """Price the items with start <= timestamp < end again; write changes only if `apply`.
    `progress` hears the items priced, then the write."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from voicegw_cli.progress import phase
    from voicegw_cli.store.rollup import count_items

    total = 0
    if progress is not None:
        total = count_items(conn, start, end, provider=provider, model=model)
    priced = phase(progress, "reprice", total)

    per_model: dict[tuple[str, str], ModelChange] = {}
    changes: list[Any] = []
    money = pa.decimal128(18, 10)
    for batch in reprice_reader(conn, start, end, provider=provider, model=model):
        priced.update(priced.done + batch.num_rows)
        old = pa.Table.from_batches([batch])
        col = old.schema.get_field_index("cost_usd")
        new = pricer.price_table(old.set_column(col, "cost_usd", pa.nulls(len(old), money)))
        before = old.column("cost_usd").cast(money)
        after = new.column("cost_usd").cast(money)
        same_cost = pc.if_else(
            pc.is_null(pc.equal(before, after)),
            pc.and_(pc.is_null(before), pc.is_null(after)),
            pc.equal(before, after),
        )
        same_source = pc.fill_null(
            pc.equal(old.column("pricing_source"), new.column("pricing_source")), False
        )
        changed = pc.invert(pc.and_(same_cost, same_source))
        view = pa.table(
            {
                "provider": old.column("provider"),
                "model": old.column("model"),
                "before": before,
                "after": after,
                "changed": changed.cast(pa.int64()),
                "unpriced_before": pc.is_null(before).cast(pa.int64()),
                "unpriced_after": pc.is_null(after).cast(pa.int64()),
                "source": new.column("pricing_source"),
            }
        )
        groups = view.group_by(["provider", "model"]).aggregate(
            [
                ("before", "sum"),
                ("after", "sum"),
                ("changed", "sum"),
                ("unpriced_before", "sum"),
                ("unpriced_after", "sum"),
                ("source", "distinct"),
                ("provider", "count"),
            ]
        )
        for g in groups.to_pylist():
            key = (g["provider"], g["model"])
            m = per_model.get(key) or per_model.setdefault(key, ModelChange(*key))
            m.items += g["provider_count"]
            m.changed += g["changed_sum"]
            m.before += g["before_sum"] or _ZERO
            m.after += g["after_sum"] or _ZERO
            m.unpriced_before += g["unpriced_before_sum"]
            m.unpriced_after += g["unpriced_after_sum"]
            m.sources_after.update(str(x) for x in g["source_distinct"])
        if pc.any(changed).as_py():
            picked = pa.table(
                {
                    "id": old.column("id"),
                    "cost_usd": after,
                    "pricing_source": new.column("pricing_source"),
                }
            ).filter(changed)
            changes.append(picked)
    priced.finish()
    models = sorted(per_model.values(), key=lambda m: (m.provider, m.model))
    result = RepriceResult(models, applied=False)
    if apply and changes:
        table = pa.concat_tables(changes)
        writing = phase(progress, "write", table.num_rows)
        _write(conn, table, result, start, end, provider, model, actor)
        writing.finish()
        result.applied = True
    return result


def _write(
    conn: Any,
    changes: Any,
    result: RepriceResult,
    start: datetime,
    end: datetime,
    provider: str | None,
    model: str | None,
    actor: str,
) -> None:
    from voicegw_cli.projects import record_audit

    target = f"{provider or '*'}/{model or '*'}"
    last = end - timedelta(days=1)
    conn.execute("BEGIN TRANSACTION")
    try:
        apply_costs(conn, changes)
        record_audit(
            conn,
            "reprice",
            f"{target} {start:%Y-%m-%d}..{last:%Y-%m-%d}",
            {"cost_usd": str(result.before)},
            {"cost_usd": str(result.after), "items_changed": result.changed},
            actor,
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
