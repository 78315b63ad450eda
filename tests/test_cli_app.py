"""The CLI shell: help stays light, exit codes are documented."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from voicegw_cli.cli.app import app

HEAVY = (
    "pandas",
    "duckdb",
    "genai_prices",
    "livekit",
    "pyarrow",
    "mcp",
    "cryptography",
    "numpy",
    "httpx",
)


def test_help_imports_no_heavy_packages() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from voicegw_cli.cli.app import app\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_lists_commands_and_exit_codes() -> None:
    res = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert res.exit_code == 0
    for command in ("init", "status", "projects", "project", "costs", "logs", "ingest"):
        assert command in res.stdout
    assert "Exit codes" in res.stdout and "3 unreadable input" in res.stdout


def test_unknown_command_is_usage_error() -> None:
    assert CliRunner().invoke(app, ["frobnicate"]).exit_code == 2
