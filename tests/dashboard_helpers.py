"""A demo store for the dashboard tests, built once per test process and copied per module
(the tests that write get their own copy). The config's zone is the suite's `--tz`, so the
pages' days and months follow the zone each pinned run asks for."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from voicegw_cli import clock

from . import conftest

_BUILT: dict[str, Path] = {}


def demo_copy(dest: Path, days: int = 35) -> Path:
    """A copy of the demo (config + store) under `dest`; the config path."""
    if "demo" not in _BUILT:
        import tempfile

        from voicegw_cli.cli.app import app

        root = Path(tempfile.mkdtemp(prefix="voicegw-dash-demo-"))
        clock.set_now(conftest.NOW)
        try:
            result = CliRunner().invoke(
                app, ["demo", "--dir", str(root / "demo"), "--days", str(days)]
            )
        finally:
            clock.set_now(None)
        assert result.exit_code == 0, result.output
        cfg = root / "demo" / "voicegw.yaml"
        cfg.write_text(cfg.read_text().replace("timezone: UTC", f"timezone: {conftest.TEST_TZ}"))
        _BUILT["demo"] = root / "demo"
    target = dest / "demo"
    shutil.copytree(_BUILT["demo"], target)
    return target / "voicegw.yaml"
