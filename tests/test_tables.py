"""Tables a person can read: at any width, no money value, count or id is ever cut."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from voicegw_cli import clock
from voicegw_cli.cli.app import COMMAND_MODULES, app, load_commands
from voicegw_cli.cli.output import money
from voicegw_cli.config import load_config
from voicegw_cli.pricing import Pricer
from voicegw_cli.store import Store
from voicegw_cli.synthetic import demo_config_text, generate


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Two weeks of synthetic usage for the demo's three projects, ending today."""
    root = tmp_path_factory.mktemp("tables")
    (root / "voicegw.yaml").write_text(demo_config_text())
    cfg = load_config(root / "voicegw.yaml")
    today = clock.today(cfg.tz)
    table = generate(today - timedelta(days=13), 14, target_items=3000)
    table = Pricer(cfg.pricing_overrides).price_table(table)
    with Store.open(cfg) as store:
        store.insert_items(table)
    return cfg


def run(cfg, width: int, *args: str):
    res = CliRunner(env={"COLUMNS": str(width)}).invoke(app, ["-c", str(cfg.path), *args])
    assert res.exit_code == 0, res.output
    return res


def test_money_has_one_spelling_for_negatives() -> None:
    assert money(Decimal("-1.23"), 2) == "-$1.23"
    assert money(Decimal("1234.5"), 2) == "$1,234.50"
    assert money(None) == "—"


@pytest.mark.parametrize("width", [200, 80, 60])
@pytest.mark.parametrize("by", ["model", "project", "provider", "day"])
def test_costs_never_cut_money_counts_or_ids(demo, width: int, by: str) -> None:
    body = json.loads(run(demo, 200, "costs", "--period", "month", "--by", by, "-f", "json").stdout)
    out = run(demo, width, "costs", "--period", "month", "--by", by).stdout
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= width
    assert body["rows"], "the demo month has usage"
    for row in body["rows"]:
        assert row[by] in out
        assert money(Decimal(row["cost_usd"])) in out
        assert f"{row['items']:,}" in out
        for unit in ("input_tokens", "output_tokens", "characters"):
            if row[unit]:
                assert f"{row[unit]:,}" in out
    # the total row is the exact total rounded once, not a sum of rounded rows
    assert money(Decimal(body["total_cost_usd"])) in out
    assert money(Decimal(body["totals"]["cost_usd"])) == money(Decimal(body["total_cost_usd"]))


@pytest.mark.parametrize("width", [200, 80, 60])
def test_projects_and_logs_never_cut(demo, width: int) -> None:
    rows = json.loads(run(demo, 200, "projects", "-f", "json").stdout)
    out = run(demo, width, "projects").stdout
    assert "…" not in out
    for row in rows:
        assert row["id"] in out and money(Decimal(row["today_spend"])) in out
        assert f"{row['today_items']:,}" in out
    items = json.loads(run(demo, 200, "logs", "-n", "5", "-f", "json").stdout)
    out = run(demo, width, "logs", "-n", "5").stdout
    assert "…" not in out
    for item in items:
        assert item["model"] in out and item["project"] in out
        assert money(Decimal(item["cost_usd"]), 6) in out


def test_narrow_costs_fold_units_into_one_column(demo) -> None:
    wide = run(demo, 200, "costs", "--period", "month", "--by", "project").stdout
    narrow = run(demo, 80, "costs", "--period", "month", "--by", "project").stdout
    assert "cached input tokens" in wide and "units" not in wide
    assert re.search(r"\d[\d,]* cached in", narrow) and "units" in narrow


def test_status_pricing_is_readable_lines(demo) -> None:
    out = run(demo, 100, "status").stdout
    assert "{" not in out and "genai prices:" in out


def test_help_has_no_bool_placeholders() -> None:
    res = CliRunner().invoke(app, ["costs", "--help"], terminal_width=120)
    assert res.exit_code == 0 and "<bool>" not in res.stdout and "--week" in res.stdout


def test_a_command_imports_only_what_it_uses(demo) -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from voicegw_cli.cli.app import app\n"
        f"r = CliRunner().invoke(app, ['-c', {str(demo.path)!r}, 'costs'])\n"
        "assert r.exit_code == 0, r.output\n"
        "mods = ('pydantic', 'pandas', 'mcp', 'voicegw_cli.cli.reconcile', 'genai_prices')\n"
        "print(','.join(m for m in mods if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("module", list(COMMAND_MODULES))
def test_command_map_matches_what_each_module_registers(module: str) -> None:
    assert sorted(load_commands(module)) == sorted(COMMAND_MODULES[module])
