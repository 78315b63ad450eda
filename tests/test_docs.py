"""Docs stay true: every `voicegw ...` command they show exists, and CI runs the README's
test command."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from voicegw_cli.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND = re.compile(
    r"(?:^|&& |\$ |/)voicegw(?: (?:-c|--config) \S+)? ([a-z][a-z-]+)(?: ([a-z][a-z-]+))?"
)


def shell_lines(text: str):
    """Lines inside fenced bash/console/sh blocks."""
    fenced = shell = False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
            shell = fenced and line.strip()[3:] in ("bash", "console", "sh", "shell", "")
            continue
        if shell:
            yield line.strip()


def test_documented_commands_exist() -> None:
    runner = CliRunner()
    seen = set()
    for doc in DOCS:
        for line in shell_lines(doc.read_text()):
            for cmd, sub in COMMAND.findall(line):
                seen.add((doc.name, cmd, sub))
    assert seen
    for doc, cmd, sub in sorted(seen):
        res = runner.invoke(app, [cmd, "--help"])
        assert res.exit_code == 0, f"{doc}: voicegw {cmd} is not a command"
        if sub and "No such command" not in res.output:
            res2 = runner.invoke(app, [cmd, sub, "--help"])
            group = "Commands" in res.output
            assert not group or res2.exit_code == 0, f"{doc}: voicegw {cmd} {sub}"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = next(line for line in readme.splitlines() if "pytest" in line and "venv" in line)
    assert test_cmd.strip() in ci
