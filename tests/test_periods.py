"""The one period parser: every word, in a zone where the UTC date differs."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from voicegw_cli import periods
from voicegw_cli.errors import UsageError

KOLKATA = ZoneInfo("Asia/Kolkata")
#: 00:30 on Dec 1 in Kolkata is still Nov 30 in UTC.
AT = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("word", "start", "end"),
    [
        ("today", "2026-12-01", "2026-12-01"),
        ("yesterday", "2026-11-30", "2026-11-30"),
        ("week", "2026-11-30", "2026-12-06"),
        ("last-week", "2026-11-23", "2026-11-29"),
        ("month", "2026-12-01", "2026-12-31"),
        ("last-month", "2026-11-01", "2026-11-30"),
        ("2026-02", "2026-02-01", "2026-02-28"),
        ("2028-02", "2028-02-01", "2028-02-29"),
        ("2026-11-05", "2026-11-05", "2026-11-05"),
        ("Last_Month", "2026-11-01", "2026-11-30"),
    ],
)
def test_words_in_the_configured_zone(word: str, start: str, end: str) -> None:
    p = periods.resolve(KOLKATA, period=word, now=AT)
    assert (p.start.isoformat(), p.end.isoformat()) == (start, end)
    assert p.tz is KOLKATA


def test_utc_reads_the_same_words_in_utc() -> None:
    p = periods.resolve(KOLKATA, period="today", utc=True, now=AT)
    assert p.start.isoformat() == "2026-11-30" and p.tz.key == "UTC"
    assert p.as_dict()["start_utc"] == "2026-11-30T00:00:00+00:00"


def test_bounds_are_local_midnights_in_utc() -> None:
    p = periods.resolve(KOLKATA, period="2026-11", now=AT)
    assert p.as_dict()["start_utc"] == "2026-10-31T18:30:00+00:00"
    assert p.as_dict()["end_utc_exclusive"] == "2026-11-30T18:30:00+00:00"


def test_aliases_start_end_and_conflicts() -> None:
    assert periods.resolve(KOLKATA, aliases={"--month": True}, now=AT).label == "month 2026-12"
    p = periods.resolve(KOLKATA, start="2026-11-10", end="2026-11-20")
    assert (p.start.day, p.end.day) == (10, 20)
    with pytest.raises(UsageError, match="choose one period"):
        periods.resolve(KOLKATA, period="month", aliases={"--today": True})
    with pytest.raises(UsageError, match="choose one period"):
        periods.resolve(KOLKATA, period="month", start="2026-11-01", end="2026-11-02")
    with pytest.raises(UsageError, match="go together"):
        periods.resolve(KOLKATA, start="2026-11-01")
    with pytest.raises(UsageError, match="is after"):
        periods.resolve(KOLKATA, start="2026-11-05", end="2026-11-01")
    with pytest.raises(UsageError, match="--period: expected"):
        periods.resolve(KOLKATA, period="fortnight")
    with pytest.raises(UsageError, match="say which period"):
        periods.resolve(KOLKATA, default=None)


def test_default_follows_the_library_clock() -> None:
    from voicegw_cli import clock

    with clock.pinned(datetime(2027, 3, 1, 0, 30, tzinfo=KOLKATA)):
        assert periods.resolve(KOLKATA).start.isoformat() == "2027-03-01"
        assert periods.resolve(KOLKATA, period="last-month").end.isoformat() == "2027-02-28"


def test_since_is_local_like_every_other_period_word() -> None:
    assert periods.parse_since("2026-12-01", KOLKATA) == datetime(2026, 11, 30, 18, 30)
    assert periods.parse_since("2026-12-01T09:00", KOLKATA) == datetime(2026, 12, 1, 3, 30)
    assert periods.parse_since("2026-12-01T09:00+00:00", KOLKATA) == datetime(2026, 12, 1, 9)
    assert periods.parse_since("2h", KOLKATA, now=AT) == datetime(2026, 11, 30, 17, 0)
    with pytest.raises(UsageError, match="--since: expected"):
        periods.parse_since("last tuesday", KOLKATA)


def test_logs_take_a_period(config) -> None:
    import json

    from typer.testing import CliRunner

    from voicegw_cli.cli.app import app
    from voicegw_cli.spool import SpoolWriter

    from .conftest import item

    w = SpoolWriter(config.spool_dir)
    w.write(
        [
            item(id="a", timestamp=datetime(2026, 11, 9, 12, tzinfo=UTC)).to_record(),
            item(id="b", timestamp=datetime(2026, 11, 10, 12, tzinfo=UTC)).to_record(),
        ]
    )
    w.close()

    def ids(*args: str) -> list[str]:
        res = CliRunner().invoke(app, ["-c", str(config.path), "logs", "-f", "json", *args])
        assert res.exit_code == 0, res.output
        return [r["id"] for r in json.loads(res.stdout)]

    assert ids("--period", "2026-11-10") == ["b"]
    assert ids("--start", "2026-11-09", "--end", "2026-11-10") == ["b", "a"]
    assert ids("--since", "2026-11-10T00:00:00+00:00") == ["b"]
    res = CliRunner().invoke(
        app, ["-c", str(config.path), "logs", "--since", "1h", "--period", "today"]
    )
    assert res.exit_code == 2
