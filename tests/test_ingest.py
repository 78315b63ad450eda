"""ingest: formats, round trips, idempotency, and whole-file rejection."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from voicegw_cli.cli.app import app
from voicegw_cli.errors import InputError
from voicegw_cli.ingest import ingest_files
from voicegw_cli.store import Store

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "items"


def _rows(config) -> list[tuple]:
    with Store.open(config) as store:
        return store.conn.execute(
            "SELECT id, timestamp, project, modality, provider, model, input_tokens,"
            " cached_input_tokens, output_tokens, audio_seconds, characters, cost_usd,"
            " pricing_source FROM line_items ORDER BY id"
        ).fetchall()


def _ingest(config, *paths) -> int:
    with Store.open(config) as store:
        return ingest_files(store, list(paths)).added


def test_native_csv_exact_values_and_idempotent(config) -> None:
    src = FIXTURES / "line-items.csv"
    assert _ingest(config, src) == 5
    rows = {r[0]: r for r in _rows(config)}
    li2 = rows["li-002"]
    assert li2[6:9] == (1800, 1024, 120)
    assert li2[11] == Decimal("0.0001872000") and li2[12] == "genai-prices@0.2.3"
    assert rows["li-001"][9] == 12.5
    assert rows["li-003"][10] == 310
    assert str(rows["li-004"][1]) == "2026-11-10 00:30:00"  # stored as naive UTC
    assert _ingest(config, src) == 0  # importing again adds nothing
    assert len(_rows(config)) == 5


@pytest.mark.parametrize("fmt", ["ndjson", "json", "parquet"])
def test_other_formats_round_trip_to_same_rows(config, tmp_path: Path, fmt: str) -> None:
    table = pcsv.read_csv(
        FIXTURES / "line-items.csv",
        convert_options=pcsv.ConvertOptions(
            column_types={"cost_usd": pa.string(), "metadata": pa.string()}
        ),
    )
    records = table.to_pylist()
    out = tmp_path / f"items.{fmt}"
    if fmt == "ndjson":
        out.write_text("".join(json.dumps(r, default=str) + "\n" for r in records))
    elif fmt == "json":
        out.write_text(json.dumps({"rows": records}, default=str))
    else:
        pq.write_table(table, out)
    assert _ingest(config, out) == 5
    csv_only = tmp_path / "again.csv"
    shutil.copy(FIXTURES / "line-items.csv", csv_only)
    assert _ingest(config, csv_only) == 0  # same ids, same store rows
    assert len(_rows(config)) == 5


def test_voicegateway_csv(config) -> None:
    assert _ingest(config, FIXTURES / "voicegateway-export.csv") == 4
    rows = _rows(config)
    by_modality = {r[3]: r for r in rows if r[12] == "voice-prices@0.11.0" and r[11]}
    stt, llm, tts = by_modality["stt"], by_modality["llm"], by_modality["tts"]
    assert (stt[4], stt[5], stt[9]) == ("deepgram", "nova-3", 90.0)  # 1.5 minutes
    assert stt[11] == Decimal("0.0072000000")
    assert (llm[5], llm[6], llm[8]) == ("gpt-4o-mini", 1200, 150)
    assert (tts[5], tts[10]) == ("sonic-3", 412)
    assert all(r[0].startswith("c") for r in rows)  # content ids
    assert _ingest(config, FIXTURES / "voicegateway-export.csv") == 0


def _bad_copy(tmp_path: Path, line_no: int, old: str, new: str) -> Path:
    lines = (FIXTURES / "line-items.csv").read_text().splitlines(keepends=True)
    assert old in lines[line_no - 1]
    lines[line_no - 1] = lines[line_no - 1].replace(old, new, 1)
    out = tmp_path / "bad.csv"
    out.write_text("".join(lines))
    return out


@pytest.mark.parametrize(
    ("line", "old", "new", "message"),
    [
        (3, ",1800,", ",-5,", "input_tokens -5 is negative"),
        (4, "2026-11-09T23:30:02+00:00", "yesterday", "timestamp yesterday is not an ISO"),
        (5, ",llm,", ",video,", "modality video is not one of"),
        (6, "0.004625", "lots", "cost_usd lots is not a decimal number"),
        (2, ",12.5,", ",12.5x,", "audio_seconds 12.5x is not a number"),
    ],
)
def test_one_bad_row_rejects_everything(config, tmp_path, line, old, new, message) -> None:
    good = tmp_path / "good.csv"
    good.write_text((FIXTURES / "voicegateway-export.csv").read_text())
    bad = _bad_copy(tmp_path, line, old, new)
    assert _ingest(config, FIXTURES / "line-items.csv") == 5
    before = _rows(config)
    with pytest.raises(InputError) as err:
        _ingest(config, good, bad)  # the good file must not land either
    assert str(err.value) == f"{bad}:{line}: {message}" or str(err.value).startswith(
        f"{bad}:{line}: {message}"
    )
    assert _rows(config) == before


def test_structural_errors(config, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("when,project,modality,provider,model\n2026-11-01,a,llm,openai,x\n")
    with pytest.raises(InputError, match=r"wrong.csv:1: unknown column\(s\): when"):
        _ingest(config, wrong)
    latin = tmp_path / "latin.csv"
    latin.write_bytes((FIXTURES / "line-items.csv").read_bytes().replace(b"frontdesk", b"r\xe9cep"))
    with pytest.raises(InputError, match=r"latin.csv:2: not UTF-8 text"):
        _ingest(config, latin)
    truncated = tmp_path / "cut.json"
    truncated.write_text('[{"timestamp": "2026-11-01T00:00:00Z", "modality": "llm"')
    with pytest.raises(InputError, match=r"cut.json:line 1 column \d+: invalid JSON"):
        _ingest(config, truncated)
    nd = tmp_path / "bad.ndjson"
    nd.write_text(
        '{"timestamp":"2026-11-01T00:00:00Z","modality":"llm","provider":"o","model":"m"}\n{oops\n'
    )
    with pytest.raises(InputError, match=r"bad.ndjson:2: invalid JSON"):
        _ingest(config, nd)


def test_cli_ingest_exit_codes_and_output(config, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "--config",
            str(config.path),
            "ingest",
            str(FIXTURES / "line-items.csv"),
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert body[0]["rows"] == 5 and body[0]["added"] == 5
    bad = _bad_copy(tmp_path, 3, ",1800,", ",-5,")
    res = runner.invoke(app, ["--config", str(config.path), "ingest", str(bad)])
    assert res.exit_code == 3
    assert res.stderr.strip() == f"Error: {bad}:3: input_tokens -5 is negative"
