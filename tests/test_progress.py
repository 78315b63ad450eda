"""Progress for the other long commands: export-costs to a file, reprice, reconcile and
demo report phases that only grow and end at their totals, and draw a bar only on a
terminal (never with --quiet, never while the export itself goes to stdout)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from voicegw_cli.export import export_costs
from voicegw_cli.ingest import ingest_files
from voicegw_cli.pricing import Pricer
from voicegw_cli.reconcile.read import read_exports
from voicegw_cli.reprice import reprice
from voicegw_cli.store import Store
from voicegw_cli.synthetic import write_voicegateway_csv

from .test_ingest_stream import Recorder, _on_a_terminal

PROVIDERS = Path(__file__).resolve().parent.parent / "fixtures" / "providers"
START, END = datetime(2025, 11, 1), datetime(2026, 11, 1)
ROWS = 30_000


@pytest.fixture
def loaded(config, tmp_path: Path):
    src = tmp_path / "vg.csv"
    write_voicegateway_csv(src, ROWS)
    with Store.open(config) as store:
        assert ingest_files(store, [src]).added == ROWS
    return config


def _grows_to(counts: list[int], total: int) -> None:
    assert counts and counts == sorted(counts) and len(set(counts)) == len(counts)
    assert counts[-1] == total


def test_export_to_a_file_reports_rows(loaded, tmp_path: Path) -> None:
    rec = Recorder()
    with Store.open(loaded) as store:
        rows = export_costs(store.conn, START, END, fmt="csv", out=tmp_path / "x.csv", progress=rec)
    assert rows == ROWS
    ((label, total, unit, counts),) = rec.phases
    assert (label, total, unit) == ("export", ROWS, "rows")
    _grows_to(counts, ROWS)


def test_reprice_reports_items_priced_then_written(loaded) -> None:
    rec = Recorder()
    overrides = {"deepgram/nova-3": {"per_minute": "0.0100"}}
    with Store.open(loaded) as store:
        result = reprice(
            store.conn, Pricer(overrides), START, END, provider="deepgram", apply=True,
            progress=rec,
        )  # fmt: skip
    assert result.applied and result.changed > 0
    (priced, p_total, _, p_counts), (written, w_total, _, w_counts) = rec.phases
    assert priced == "reprice" and p_total == sum(m.items for m in result.models)
    _grows_to(p_counts, p_total)
    assert (written, w_total) == ("write", result.changed)
    _grows_to(w_counts, w_total)


def test_reconcile_reports_bytes_read() -> None:
    files = [PROVIDERS / n for n in ("openai_costs.json", "openai_usage_audio_speeches.json")]
    rec = Recorder()
    read_exports(files, "openai", progress=rec)
    ((label, total, unit, counts),) = rec.phases
    assert (label, unit) == ("read exports", "bytes")
    assert total == sum(f.stat().st_size for f in files)
    _grows_to(counts, total)


def test_bars_on_a_terminal_only_when_asked(loaded, tmp_path: Path) -> None:
    out = tmp_path / "export.csv"
    args = ["export-costs", "--utc", "--start", "2025-11-01", "--end", "2026-10-31"]
    shown = _on_a_terminal(loaded, *args, "-o", str(out))
    assert "export" in shown and "ETA" in shown and "rows" in shown
    assert "ETA" not in _on_a_terminal(loaded, "--quiet", *args, "-o", str(out))
    assert "ETA" not in _on_a_terminal(loaded, *args)  # stdout is the export: no bar
    shown = _on_a_terminal(loaded, "reprice", "--utc", "--start", "2025-11-01",
                           "--end", "2026-10-31")  # fmt: skip
    assert "reprice" in shown and "ETA" in shown
    demo = _on_a_terminal(loaded, "demo", "--dir", str(tmp_path / "demo"), "--days", "2")
    assert "write the spool" in demo
