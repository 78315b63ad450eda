"""Provider keys at rest: the secret's sources, encryption, masking and rotation.

The store file is read as raw bytes to prove no key is ever in it in clear, and rotation
is checked to leave every key readable under the new secret only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voicegw_cli import projects as P
from voicegw_cli import secrets as S
from voicegw_cli.cli.app import app
from voicegw_cli.errors import UsageError
from voicegw_cli.store import Store

runner = CliRunner()
KEYS = {
    ("alpha", "openai"): "sk-proj-ALPHA-0123456789abcdefXYZ",
    ("alpha", "deepgram"): "dg_live_ALPHA_9876543210fedcba",
    ("beta", "openai"): "sk-proj-BETA-zyxwvutsrqponm4321",
}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def with_keys(config):
    """Two runtime projects with three stored keys, under the key file."""
    with Store.open(config) as store:
        for pid in ("alpha", "beta"):
            P.create_project(config, store.conn, pid, name=pid.title())
        for (pid, provider), key in KEYS.items():
            P.set_provider_key(config, store.conn, pid, provider, key)
    return config


def _read_all(config) -> dict[tuple[str, str], str]:
    with Store.open(config) as store:
        return {
            (pid, prov): P.get_provider_key(config, store.conn, pid, prov)  # type: ignore[misc]
            for pid, prov in KEYS
        }


def _raw_store(config) -> bytes:
    data = config.store_path.read_bytes()
    wal = config.store_path.with_name(config.store_path.name + ".wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


# ------------------------------------------------------------------ the secret


def test_key_file_is_created_0600_once(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "secret.key"
    assert S.ensure_key_file(path) is True
    assert _mode(path) == 0o600
    first = path.read_text()
    assert S.ensure_key_file(path) is False
    assert path.read_text() == first  # never overwritten
    S.Keyring([first], str(path))  # a valid Fernet key


def test_init_writes_the_key_file_0600(tmp_path: Path) -> None:
    res = runner.invoke(app, ["init", str(tmp_path / "voicegw.yaml")])
    assert res.exit_code == 0, res.output
    key_file = tmp_path / ".voicegw" / "secret.key"
    assert key_file.exists() and _mode(key_file) == 0o600
    assert "secret key" in res.output


def test_env_secret_wins_over_key_file(config, monkeypatch) -> None:
    S.ensure_key_file(config.secret_key_path)
    env_secret = S.generate_secret()
    monkeypatch.setenv(S.ENV_VAR, env_secret)
    ring = S.load_keyring(config)
    assert ring.secrets == [env_secret] and ring.source == "$VOICEGW_SECRET_KEY"


def test_missing_secret_is_a_clear_config_error(config) -> None:
    with pytest.raises(S.SecretKeyError) as err:
        S.load_keyring(config)
    assert err.value.exit_code == 3
    assert "VOICEGW_SECRET_KEY" in str(err.value) and "voicegw init" in str(err.value)


def test_malformed_secret_is_refused(config, monkeypatch) -> None:
    monkeypatch.setenv(S.ENV_VAR, "hunter2")
    with pytest.raises(S.SecretKeyError, match="not a valid secret key"):
        S.load_keyring(config)


def test_round_trip_and_tokens_differ() -> None:
    ring = S.Keyring([S.generate_secret()], "test")
    a, b = ring.encrypt("sk-abc"), ring.encrypt("sk-abc")
    assert a != b and "sk-abc" not in a
    assert ring.decrypt(a) == ring.decrypt(b) == "sk-abc"


def test_wrong_secret_gives_a_clear_error_not_garbage(with_keys, monkeypatch) -> None:
    monkeypatch.setenv(S.ENV_VAR, S.generate_secret())
    with Store.open(with_keys) as store:
        with pytest.raises(S.SecretKeyError) as err:
            P.get_provider_key(with_keys, store.conn, "alpha", "openai")
    msg = str(err.value)
    assert "cannot be decrypted with this secret" in msg and "openai" in msg
    assert err.value.exit_code == 3


@pytest.mark.parametrize(
    "key,shown",
    [("sk-proj-abcdefghijklmnop", "sk-…mnop"), ("short", "••••"), ("", "(missing)")],
)
def test_mask(key: str, shown: str) -> None:
    assert S.mask(key) == shown


# ------------------------------------------------------------------ at rest


def test_store_file_never_holds_a_key_in_clear(with_keys) -> None:
    raw = _raw_store(with_keys)
    for key in KEYS.values():
        assert key.encode() not in raw
        assert key[-12:].encode() not in raw  # not even a recognisable tail
    assert _read_all(with_keys) == KEYS


def test_keys_are_masked_in_listing_and_absent_from_audit(with_keys) -> None:
    with Store.open(with_keys) as store:
        shown = P.masked_provider_keys(with_keys, store.conn, "alpha")
        audit = store.conn.execute("SELECT * FROM audit_log").fetchall()
    assert [r["key"] for r in shown] == ["dg_…dcba", "sk-…fXYZ"]
    text = repr(audit)
    for key in KEYS.values():
        assert key not in text and key[-8:] not in text


def test_masked_listing_survives_a_missing_secret(with_keys, monkeypatch) -> None:
    with_keys.secret_key_path.unlink()
    with Store.open(with_keys) as store:
        shown = P.masked_provider_keys(with_keys, store.conn, "alpha")
    assert {r["key"] for r in shown} == {"(encrypted)"}


def test_audit_scrubs_secret_looking_fields(config) -> None:
    with Store.open(config) as store:
        P.record_audit(store.conn, "x", "t", {"api_key": "sk-LEAK"}, {"nested": {"token": 1}}, "a")
        row = store.conn.execute("SELECT old_value, new_value FROM audit_log").fetchall()[0]
    assert "sk-LEAK" not in row[0] and '"***"' in row[0] and '"***"' in row[1]


# ------------------------------------------------------------------ set-key (CLI)


def test_set_key_reads_stdin_never_argv(config) -> None:
    with Store.open(config) as store:
        P.create_project(config, store.conn, "gamma", name="Gamma")
    key = "sk-live-FROMSTDIN-abcdef123456"
    res = runner.invoke(
        app, ["--config", str(config.path), "projects", "set-key", "gamma", "OpenAI"], input=key
    )
    assert res.exit_code == 0, res.output
    assert key not in res.output and "sk-…3456" in res.output
    assert key.encode() not in _raw_store(config)
    with Store.open(config) as store:
        assert P.get_provider_key(config, store.conn, "gamma", "openai") == key
    # there is no way to pass the key as an argument
    extra = runner.invoke(
        app, ["--config", str(config.path), "projects", "set-key", "gamma", "openai", key]
    )
    assert extra.exit_code == 2


def test_set_key_refuses_yaml_projects_and_empty_keys(config) -> None:
    res = runner.invoke(
        app, ["--config", str(config.path), "projects", "set-key", "support", "openai"], input="k"
    )
    assert res.exit_code == 2 and "voicegw.yaml" in res.output
    with Store.open(config) as store:
        P.create_project(config, store.conn, "gamma", name="Gamma")
    res = runner.invoke(
        app, ["--config", str(config.path), "projects", "set-key", "gamma", "openai"], input="\n"
    )
    assert res.exit_code == 2 and "no key" in res.output


# ------------------------------------------------------------------ rotation


def test_rotation_keeps_every_key_readable_under_the_new_secret_only(with_keys) -> None:
    old_secret = with_keys.secret_key_path.read_text().strip()
    with Store.open(with_keys) as store:
        before = dict(
            store.conn.execute(
                "SELECT project || '/' || provider, ciphertext FROM provider_keys"
            ).fetchall()
        )
    res = runner.invoke(app, ["--config", str(with_keys.path), "rotate-secret"])
    assert res.exit_code == 0, res.output
    assert "Re-encrypted 3 provider key(s)" in res.output
    new_secret = with_keys.secret_key_path.read_text().strip()
    assert new_secret != old_secret and _mode(with_keys.secret_key_path) == 0o600
    assert not S.pending_path(with_keys.secret_key_path).exists()
    assert _read_all(with_keys) == KEYS

    with Store.open(with_keys) as store:
        after = dict(
            store.conn.execute(
                "SELECT project || '/' || provider, ciphertext FROM provider_keys"
            ).fetchall()
        )
        old_ring = S.Keyring([old_secret], "old")
        with pytest.raises(S.SecretKeyError):
            old_ring.decrypt(after["alpha/openai"])
        audit = P.audit_entries(store.conn, action="secret.rotate")
    assert set(before) == set(after) and all(before[k] != after[k] for k in before)
    assert audit and audit[0]["new_value"] == {"keys": 3, "source": "file"}
    for key in KEYS.values():
        assert key.encode() not in _raw_store(with_keys)


def test_rotation_under_env_secret_needs_the_new_one_on_stdin(with_keys, monkeypatch) -> None:
    # move the secret into the environment
    monkeypatch.setenv(S.ENV_VAR, with_keys.secret_key_path.read_text().strip())
    with_keys.secret_key_path.unlink()
    res = runner.invoke(app, ["--config", str(with_keys.path), "rotate-secret"])
    assert res.exit_code == 2 and "--new-secret-stdin" in res.output
    new = S.generate_secret()
    res = runner.invoke(
        app, ["--config", str(with_keys.path), "rotate-secret", "--new-secret-stdin"], input=new
    )
    assert res.exit_code == 0, res.output
    assert "Set VOICEGW_SECRET_KEY" in res.output
    assert not with_keys.secret_key_path.exists()  # nothing written for an env secret
    monkeypatch.setenv(S.ENV_VAR, new)
    assert _read_all(with_keys) == KEYS


def test_rotation_with_a_wrong_current_secret_changes_nothing(with_keys, monkeypatch) -> None:
    with Store.open(with_keys) as store:
        before = store.conn.execute("SELECT ciphertext FROM provider_keys ORDER BY 1").fetchall()
    monkeypatch.setenv(S.ENV_VAR, S.generate_secret())
    res = runner.invoke(
        app,
        ["--config", str(with_keys.path), "rotate-secret", "--new-secret-stdin"],
        input=S.generate_secret(),
    )
    assert res.exit_code == 3 and "cannot be decrypted" in res.output
    with Store.open(with_keys) as store:
        after = store.conn.execute("SELECT ciphertext FROM provider_keys ORDER BY 1").fetchall()
    assert before == after
    monkeypatch.delenv(S.ENV_VAR)
    assert _read_all(with_keys) == KEYS


def test_rotation_refuses_the_same_secret(with_keys) -> None:
    same = with_keys.secret_key_path.read_text().strip()
    with Store.open(with_keys) as store, pytest.raises(UsageError, match="same"):
        S.rotate(store.conn, with_keys, same)


def test_interrupted_rotation_leaves_keys_readable(with_keys, monkeypatch) -> None:
    """Crash after the commit, before the key file is renamed: both files remain."""

    def crash(src, dst):  # the rename never happens
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with Store.open(with_keys) as store, pytest.raises(KeyboardInterrupt):
        S.rotate(store.conn, with_keys)
    monkeypatch.undo()
    assert S.pending_path(with_keys.secret_key_path).exists()
    assert _read_all(with_keys) == KEYS  # keyring reads under either secret
    with Store.open(with_keys) as store:  # and the next rotation finishes the job
        S.rotate(store.conn, with_keys)
    assert not S.pending_path(with_keys.secret_key_path).exists()
    assert _read_all(with_keys) == KEYS


def test_interrupted_rotation_is_finished_not_overwritten(with_keys, monkeypatch) -> None:
    pending = S.pending_path(with_keys.secret_key_path)
    monkeypatch.setattr(os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError("crash")))
    with Store.open(with_keys) as store, pytest.raises(OSError):
        S.rotate(store.conn, with_keys)
    monkeypatch.undo()
    sealed_under = pending.read_text()
    with Store.open(with_keys) as store, pytest.raises(UsageError, match="interrupted"):
        S.rotate(store.conn, with_keys, S.generate_secret())
    assert pending.read_text() == sealed_under
