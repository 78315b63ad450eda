"""Provider keys at rest: Fernet encryption under one operator secret.

The secret comes from `VOICEGW_SECRET_KEY` (wins) or the key file `voicegw init` writes
with mode 0600 (`Config.secret_key_path`). The store only ever holds Fernet tokens, so a
copied `usage.duckdb` leaks nothing without the secret, and a wrong secret is reported as
such instead of returning garbage (Fernet authenticates every token).

Rotation writes the new secret to `<key file>.new` first, re-encrypts every stored key in
one transaction, then renames the file into place. A crash between the commit and the
rename leaves both files; the keyring reads tokens under either, so nothing is lost, and
the next rotation re-encrypts under the pending secret and renames it (a pending secret is
never overwritten: it may already seal keys).
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicegw_cli import clock
from voicegw_cli.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from voicegw_cli.config import Config

ENV_VAR = "VOICEGW_SECRET_KEY"
PENDING_SUFFIX = ".new"


class SecretKeyError(ConfigError):
    """The secret is missing, malformed, or not the one the stored keys were sealed with."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(source, "", problem)


def generate_secret() -> str:
    """A fresh Fernet key (32 random bytes, url-safe base64)."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


def _write_private(path: Path, text: str, *, exclusive: bool) -> None:
    """Write `text` to a file created with mode 0600, so the secret is never readable by
    others even for an instant (no chmod after the fact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_key_file(path: Path) -> bool:
    """Create the key file with a new secret if it does not exist; True if created."""
    path = Path(path)
    if path.exists():
        return False
    try:
        _write_private(path, generate_secret() + "\n", exclusive=True)
    except FileExistsError:  # another process won the race; its secret stands
        return False
    return True


def _check_secret(secret: str, source: str) -> Any:
    from cryptography.fernet import Fernet

    try:
        return Fernet(secret.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise SecretKeyError(
            source,
            "not a valid secret key (expected 32 url-safe base64-encoded bytes, as "
            "`voicegw init` or Fernet.generate_key() make)",
        ) from None


def _read_key_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="ascii").strip()
    except UnicodeDecodeError:
        raise SecretKeyError(str(path), "the key file is not a secret key (not ASCII)") from None
    except OSError as exc:
        raise SecretKeyError(str(path), f"cannot read the key file: {exc.strerror}") from None
    if not text:
        raise SecretKeyError(str(path), "the key file is empty")
    return text


@dataclass(slots=True)
class Keyring:
    """The secret(s) able to open stored keys. Encrypts under the first; decrypts under any."""

    secrets: list[str]
    source: str  # where the primary came from, for messages: "$VOICEGW_SECRET_KEY" or a path

    def __post_init__(self) -> None:
        if not self.secrets:
            raise ValueError("a keyring needs at least one secret")
        for s in self.secrets:
            _check_secret(s, self.source)

    def _multi(self) -> Any:
        from cryptography.fernet import Fernet, MultiFernet

        return MultiFernet([Fernet(s.strip().encode("ascii")) for s in self.secrets])

    def encrypt(self, plaintext: str) -> str:
        return self._multi().encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str, *, what: str = "a stored provider key") -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._multi().decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise SecretKeyError(
                self.source,
                f"{what} cannot be decrypted with this secret: it was sealed under another "
                f"one (was {ENV_VAR} or the key file changed, or the store copied from another "
                "machine?). Restore the original secret; nothing was changed.",
            ) from None


def key_source(config: Config) -> tuple[str, Path | None]:
    """("env", None) when VOICEGW_SECRET_KEY is set, else ("file", key file path)."""
    if os.environ.get(ENV_VAR, "").strip():
        return "env", None
    return "file", Path(config.secret_key_path)


def load_keyring(config: Config, *, create: bool = False) -> Keyring:
    """The operator's secret: VOICEGW_SECRET_KEY, else the key file (made if `create`)."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Keyring([env], f"${ENV_VAR}")
    path = Path(config.secret_key_path)
    if not path.exists():
        if not create:
            raise SecretKeyError(
                str(path),
                f"no secret key: set {ENV_VAR} or run `voicegw init` to create this key file",
            )
        ensure_key_file(path)
    secrets = [_read_key_file(path)]
    pending = pending_path(path)
    if pending.exists():  # an interrupted rotation: tokens may be under either secret
        secrets.append(_read_key_file(pending))
    return Keyring(secrets, str(path))


def pending_path(path: Path) -> Path:
    return path.with_name(path.name + PENDING_SUFFIX)


def key_file_mode_problem(path: Path) -> str | None:
    """A warning when the key file is readable by group or others (it should be 0600)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if mode & 0o077:
        return f"{path} is mode {mode:04o}; run `chmod 600 {path}`"
    return None


def mask(secret: str | None) -> str:
    """Enough of a key to recognise it, never enough to use it."""
    if not secret:
        return "(missing)"
    if len(secret) <= 12:
        return "••••"
    return f"{secret[:3]}…{secret[-4:]}"


# ------------------------------------------------------------------ rotation


@dataclass(slots=True)
class Rotation:
    keys: int  # stored keys re-encrypted
    source: str  # "env" or "file"
    key_file: Path | None  # rewritten file (file source)


def rotate(
    conn: Any,
    config: Config,
    new_secret: str | None = None,
    *,
    actor: str = "cli",
    audit: Any = None,
) -> Rotation:
    """Re-encrypt every stored provider key (and admin key) under a new secret.

    With the key file as source, a new secret is generated (unless given) and the file is
    replaced. With VOICEGW_SECRET_KEY as source the new secret must be given, because only
    the operator can change the environment; every key is checked to open under the
    current secret before anything is written.
    """
    source, path = key_source(config)
    old = load_keyring(config)
    if source == "env" and not new_secret:
        raise UsageError(
            f"the secret comes from {ENV_VAR}, which voicegw cannot change: pass the new "
            "secret on stdin (--new-secret-stdin), then set it in the environment"
        )
    resumed = path is not None and pending_path(path).exists()
    if resumed:
        # An interrupted rotation: its secret may already seal some keys, so it must not
        # be overwritten. Finish that rotation instead of starting another.
        unfinished = _read_key_file(pending_path(path))  # type: ignore[arg-type]
        if new_secret and new_secret.strip() != unfinished:
            raise UsageError(
                f"an interrupted rotation left {pending_path(path)}; run `voicegw "
                "rotate-secret` without a new secret first to finish it"
            )
        new_secret = unfinished
    new_secret = (new_secret or generate_secret()).strip()
    new = Keyring([new_secret], "the new secret")
    if any(new_secret == s.strip() for s in old.secrets[:1]):
        raise UsageError("the new secret is the same as the current one")

    rows = _sealed(conn)
    plain = [(p, prov, old.decrypt(tok, what=_what(p, prov))) for p, prov, tok in rows]

    if path is not None and not resumed:
        _write_private(pending_path(path), new_secret + "\n", exclusive=False)
    conn.execute("BEGIN TRANSACTION")
    try:
        for project, provider, text in plain:
            if project is None:  # an admin key (organisation-level, no project)
                conn.execute(
                    "UPDATE admin_keys SET ciphertext = ?, updated_at = ? WHERE provider = ?",
                    [new.encrypt(text), clock.utcnow_naive(), provider],
                )
                continue
            conn.execute(
                "UPDATE provider_keys SET ciphertext = ?, updated_at = ? "
                "WHERE project = ? AND provider = ?",
                [new.encrypt(text), clock.utcnow_naive(), project, provider],
            )
        if audit is not None:
            audit(conn, "secret.rotate", None, None, {"keys": len(plain), "source": source}, actor)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        if path is not None and not resumed:
            with contextlib.suppress(OSError):
                pending_path(path).unlink()
        raise
    if path is not None:
        os.replace(pending_path(path), path)
    return Rotation(keys=len(plain), source=source, key_file=path)


def verify_all(conn: Any, keyring: Keyring) -> int:
    """How many stored keys there are, after checking each opens under `keyring`."""
    rows = _sealed(conn)
    for project, provider, token in rows:
        keyring.decrypt(token, what=_what(project, provider))
    return len(rows)


def _sealed(conn: Any) -> list[tuple[str | None, str, str]]:
    """Every encrypted key in the store: project keys, then admin keys (project None)."""
    rows = conn.execute(
        "SELECT project, provider, ciphertext FROM provider_keys ORDER BY project, provider"
    ).fetchall()
    rows += conn.execute(
        "SELECT NULL, provider, ciphertext FROM admin_keys ORDER BY provider"
    ).fetchall()
    return rows


def _what(project: str | None, provider: str) -> str:
    return f"the {provider} admin key" if project is None else f"the {provider} key of {project!r}"
