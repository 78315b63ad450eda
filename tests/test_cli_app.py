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


def test_usage_errors_are_one_line_with_exit_2(config) -> None:
    for args in (
        ["budget", "check", "--period", "week"],
        ["costs", "--by", "colour"],
        ["frobnicate"],
        ["costs", "--period", "fortnight"],
    ):
        res = CliRunner().invoke(app, ["-c", str(config.path), *args])
        assert res.exit_code == 2, (args, res.output)
        assert res.stderr.startswith("Error: ") and res.stderr.count("\n") == 1, res.stderr
        assert "╭" not in res.stderr


def test_config_option_after_the_command(config) -> None:
    res = CliRunner().invoke(app, ["costs", "-f", "json", "-c", str(config.path)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["status", f"--config={config.path}", "-f", "json"])
    assert res.exit_code == 0 and str(config.path) in res.stdout


def test_closed_pipe_is_not_an_error(config) -> None:
    """`voicegw logs | head -1` exits 0 and prints no traceback, in every format."""
    from pathlib import Path

    from voicegw_cli.spool import SpoolWriter

    from .conftest import item

    w = SpoolWriter(config.spool_dir)
    w.write([item(id=f"i{n}").to_record() for n in range(3000)])
    w.close()
    voicegw = Path(sys.executable).parent / "voicegw"
    for fmt in ("table", "csv", "json"):
        proc = subprocess.run(
            f"{voicegw} -c {config.path} logs -n 3000 -f {fmt} | head -1; exit ${{PIPESTATUS[0]}}",
            shell=True,
            capture_output=True,
            text=True,
            executable="/bin/bash",
        )
        assert proc.returncode == 0, (fmt, proc.stderr)
        assert "Traceback" not in proc.stderr and "Error" not in proc.stderr, proc.stderr
        assert proc.stdout.strip()


def test_waiting_for_the_store_says_so(config) -> None:
    from voicegw_cli.store import Store

    Store.open(config).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(config.store_path)!r}); "
            "print('held', flush=True); time.sleep(1.5)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    env = {"VOICEGW_LOCK_TIMEOUT": "20"}
    res = CliRunner(env=env).invoke(app, ["-c", str(config.path), "costs", "-f", "json"])
    holder.wait()
    assert res.exit_code == 0, res.output
    assert "waiting up to 20s" in res.stderr and f"process {holder.pid}" in res.stderr


def test_no_help_imports_rich() -> None:
    """Help is plain text everywhere: Rich's help renderer alone costs ~0.1 s a run."""
    for args in (["--help"], ["costs", "--help"], ["budget", "check", "--help"]):
        code = (
            "import sys\n"
            "from voicegw_cli.cli.app import main\n"
            f"sys.argv = ['voicegw', *{args!r}]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "print(','.join(m for m in sys.modules if m == 'rich' or m.startswith('rich.')),"
            " file=sys.stderr)\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stderr.strip() == "", (args, out.stderr)
