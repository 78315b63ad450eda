"""Admin keys: the organisation-level keys `voicegw pull` reads providers' usage and cost
APIs with.

They are kept apart from the keys agents use. Agent keys live per project in
`provider_keys`; admin keys live in their own `admin_keys` table (or in the `admin_keys:`
block of voicegw.yaml, usually as `${ENV}`), so nothing that builds an agent's plugins can
hand out a key that reads the whole organisation's bill. Both are Fernet-encrypted under
the same operator secret (`voicegw_cli.secrets`), rotate together, and are only ever shown
masked; neither appears in a pull's manifest, a log or the audit log.

Lookup for a provider: `admin_keys.<provider>` in voicegw.yaml when its value is set,
then the store (`voicegw projects set-key --admin <provider>`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from voicegw_cli import clock
from voicegw_cli.config import ADMIN_KEY_PROVIDERS
from voicegw_cli.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from voicegw_cli.config import Config
    from voicegw_cli.secrets import Keyring

STORE_SOURCE = "the store (voicegw projects set-key --admin)"


@dataclass(frozen=True, slots=True)
class KeyRule:
    """What a provider's admin key looks like, for early and one-line refusals."""

    looks_like: str  # shown in "admin key required: ..."
    admin_prefix: str | None  # admin keys start with this
    family_prefix: str | None  # this provider's other keys: start with this, not the above
    where: str  # where an operator makes one


RULES: dict[str, KeyRule] = {
    "openai": KeyRule(
        "sk-admin-...",
        "sk-admin-",
        "sk-",
        "platform.openai.com > Settings > Organization > Admin keys",
    ),
    "anthropic": KeyRule(
        "sk-ant-admin...",
        "sk-ant-admin",
        "sk-ant-",
        "console.anthropic.com > Settings > Admin keys; organisations only",
    ),
    "cartesia": KeyRule(
        "sk_car_admin_...", "sk_car_admin_", "sk_car_", "play.cartesia.ai/keys/admin"
    ),
    "deepgram": KeyRule(
        "a Deepgram key with the usage:read scope",
        None,
        None,
        "console.deepgram.com > API keys; Member role or above",
    ),
    "elevenlabs": KeyRule(
        "an ElevenLabs workspace key allowed to read usage",
        None,
        None,
        "elevenlabs.io > Developers > API keys",
    ),
}


def required(provider: str) -> str:
    """`admin key required: sk-admin-... (from where one is made)`."""
    rule = RULES[provider]
    return f"admin key required: {rule.looks_like} (from {rule.where})"


def key_problem(provider: str, key: str) -> str | None:
    """Why `key` is certainly not this provider's admin key, or None when it may be one.

    Only a key of the provider's own family without the admin prefix is refused (a
    project key `sk-proj-...` for OpenAI); keys in any other form (a proxy's token, a
    test key) are left to the provider to judge."""
    rule = RULES.get(provider)
    if rule is None or rule.admin_prefix is None or rule.family_prefix is None:
        return None
    if key.startswith(rule.family_prefix) and not key.startswith(rule.admin_prefix):
        return f"not an admin key (an ordinary {provider} API key); {required(provider)}"
    return None


@dataclass(frozen=True, slots=True)
class AdminKey:
    """A resolved key and where it came from. Its repr is masked, so a stray log line or
    traceback cannot print it."""

    provider: str
    key: str = field(repr=False)
    source: str

    @property
    def masked(self) -> str:
        from voicegw_cli.secrets import mask

        return mask(self.key)

    def __repr__(self) -> str:
        return f"AdminKey({self.provider}, {self.masked}, {self.source})"


def validate_provider(provider: str) -> str:
    name = (provider or "").strip().lower()
    if name not in ADMIN_KEY_PROVIDERS:
        raise UsageError(
            f"no admin API voicegw can pull from for {provider!r}; "
            f"known: {', '.join(ADMIN_KEY_PROVIDERS)}"
        )
    return name


def _clean_key(provider: str, key: str) -> str:
    key = (key or "").strip()
    if not key:
        raise UsageError("the key is empty")
    if any(c in key for c in "\r\n\t ") or not key.isprintable():
        raise UsageError("the key contains whitespace or control characters")
    problem = key_problem(provider, key)
    if problem:
        raise UsageError(problem)
    return key


def set_admin_key(
    config: Config,
    conn: Any,
    provider: str,
    key: str,
    *,
    keyring: Keyring | None = None,
    actor: str | None = None,
    now: datetime | None = None,
) -> str:
    """Store (or replace) a provider's admin key, encrypted; returns it masked. The audit
    log records that a key was set, never the key."""
    from voicegw_cli.projects import default_actor, record_audit
    from voicegw_cli.secrets import load_keyring, mask

    provider = validate_provider(provider)
    key = _clean_key(provider, key)
    keyring = keyring or load_keyring(config, create=True)
    token = keyring.encrypt(key)
    ts = now or clock.utcnow_naive()
    existed = bool(
        conn.execute("SELECT count(*) FROM admin_keys WHERE provider = ?", [provider]).fetchall()[
            0
        ][0]
    )
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            "INSERT OR REPLACE INTO admin_keys (provider, ciphertext, updated_at) VALUES (?, ?, ?)",
            [provider, token, ts],
        )
        record_audit(
            conn,
            "admin_key.set",
            f"admin/{provider}",
            {"provider": provider, "stored": True} if existed else None,
            {"provider": provider, "stored": True, "encrypted": True},
            actor or default_actor(),
            now=ts,
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return mask(key)


def stored_admin_key(
    config: Config, conn: Any, provider: str, keyring: Keyring | None = None
) -> str | None:
    """The decrypted stored admin key, or None when none is stored."""
    from voicegw_cli.secrets import load_keyring

    rows = conn.execute(
        "SELECT ciphertext FROM admin_keys WHERE provider = ?", [validate_provider(provider)]
    ).fetchall()
    if not rows:
        return None
    keyring = keyring or load_keyring(config)
    return keyring.decrypt(rows[0][0], what=f"the {provider} admin key")


def masked_admin_keys(config: Config, conn: Any | None = None) -> list[dict[str, Any]]:
    """Every admin key voicegw would use, masked, with its source (config, then store)."""
    from voicegw_cli.secrets import SecretKeyError, load_keyring, mask

    out: list[dict[str, Any]] = []
    for provider, s in config.admin_keys.items():
        if s.key:
            out.append({"provider": provider, "key": mask(s.key), "source": s.key_path})
    if conn is None:
        return out
    seen = {r["provider"] for r in out}
    rows = conn.execute(
        "SELECT provider, ciphertext, updated_at FROM admin_keys ORDER BY provider"
    ).fetchall()
    try:
        keyring: Keyring | None = load_keyring(config) if rows else None
    except SecretKeyError:
        keyring = None
    for provider, token, updated in rows:
        try:
            shown = mask(keyring.decrypt(token)) if keyring else "(encrypted)"
        except SecretKeyError:
            shown = "(unreadable with this secret)"
        out.append(
            {
                "provider": provider,
                "key": shown,
                "source": "store" + (" (overridden by voicegw.yaml)" if provider in seen else ""),
                "updated_at": updated.replace(tzinfo=UTC) if updated else None,
            }
        )
    return out


def resolve_admin_key(config: Config, provider: str) -> AdminKey:
    """The admin key `voicegw pull` uses for `provider`: voicegw.yaml's `admin_keys`, then
    the store. Missing everywhere is a one-line ConfigError saying how to add one."""
    provider = validate_provider(provider)
    settings = config.admin_keys.get(provider)
    where = config.path.name if config.path else "voicegw.yaml"
    if settings is not None and settings.key:
        return AdminKey(provider, settings.key, f"{settings.key_path} in {where}")
    if config.store_path.exists():
        from voicegw_cli.store import Store

        with Store.open(config, fold=False) as store:
            key = stored_admin_key(config, store.conn, provider)
        if key:
            return AdminKey(provider, key, STORE_SOURCE)
    unset = settings is not None and settings.key_path in config.missing
    problem = (
        f"its environment variable is unset, and no {provider} admin key is stored"
        if unset
        else f"no {provider} admin key: add `admin_keys: {{{provider}: ${{...}}}}` to "
        f"{where} or run `voicegw projects set-key --admin {provider}`"
    )
    raise ConfigError(
        config.path or "<built-in defaults>",
        settings.key_path if settings is not None else f"admin_keys.{provider}",
        f"{problem}; {required(provider)}",
    )
