"""Which API key a provider gets for a project, most specific first:

1. `project_store`: the project's key stored with `voicegw projects set-key` (Fernet,
   decrypted in memory when a plugin is built, never logged or cached);
2. `project_yaml`: the project's `providers:` in voicegw.yaml;
3. `provider_yaml`: the top-level `providers:` block;
4. `provider_store`: the key given to `voicegw providers add` / MCP `add_provider`;
5. `env`: the provider's usual environment variable (`OPENAI_API_KEY`, ...).

A layer that is configured but empty (its `${VAR}` is unset) stops the walk with an error
instead of silently falling through to a broader key, which would bill another account.
LiveKit needs a key and a secret; a stored LiveKit key may be `API_KEY:API_SECRET`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voicegw_cli.gateway.errors import KeyMissingError
from voicegw_cli.store.gateway_snapshot import PROVIDER_SCOPE

if TYPE_CHECKING:
    from voicegw_cli.gateway.registry import Provider, Registry
    from voicegw_cli.secrets import Keyring

LAYERS = ("project_store", "project_yaml", "provider_yaml", "provider_store", "env")


@dataclass(frozen=True, slots=True)
class KeySource:
    """Where a key comes from (never the key)."""

    provider: str
    field: str  # api_key | api_secret
    source: str  # one of LAYERS, or not_needed | missing
    where: str

    def as_dict(self) -> dict[str, str]:
        return {"provider": self.provider, "source": self.source, "where": self.where}


def _split(stored: str, field: str, kind_needs_secret: bool) -> str | None:
    if not kind_needs_secret:
        return stored if field == "api_key" else None
    key, sep, secret = stored.partition(":")
    if field == "api_key":
        return key
    return secret if sep else None


def resolve(
    reg: Registry,
    provider: Provider,
    project: str | None,
    field: str = "api_key",
    *,
    keyring: Callable[[], Keyring] | None = None,
) -> tuple[str | None, KeySource]:
    """The value of `field` for `provider` in `project`, and where it came from.

    Without `keyring` nothing is decrypted: a stored key is reported by its presence only
    (for `voicegw status`). `project=None` looks at the provider's own layers only.
    Raises KeyMissingError for a configured but unset value."""
    pid = provider.id
    secret_kind = provider.kind.needs_secret

    def src(source: str, where: str) -> KeySource:
        return KeySource(pid, field, source, where)

    def stored(scope: str, source: str, where: str) -> tuple[str | None, KeySource] | None:
        token = reg.state.token(scope, pid)
        if token is None:
            return None
        if keyring is None:
            return None if field != "api_key" else (None, src(source, where))
        from voicegw_cli.secrets import SecretKeyError

        try:
            plain = keyring().decrypt(token, what=f"the {pid} key {where}")
        except SecretKeyError as exc:
            if exc.problem.startswith(f"the {pid} key"):
                raise
            problem = f"cannot open the {pid} key {where}: {exc.problem}"
            raise SecretKeyError(exc.file, problem) from None
        value = _split(plain, field, secret_kind)
        return None if value is None else (value, src(source, where))

    found = None
    if project is not None:
        where = f"stored for project {project!r} (projects set-key)"
        found = stored(project, "project_store", where)
    if found:
        return found
    yaml_project = reg.config.projects.get(project) if project is not None else None
    if yaml_project is not None and field in yaml_project.providers.get(pid, {}):
        key = f"projects.{project}.providers.{pid}.{field}"
        return _configured(reg, yaml_project.providers[pid][field], key, src("project_yaml", key))
    if field in provider.settings:
        key = f"providers.{pid}.{field}"
        return _configured(reg, provider.settings[field], key, src("provider_yaml", key))
    found = stored(PROVIDER_SCOPE, "provider_store", f"stored for provider {pid!r} (providers add)")
    if found:
        return found
    for name in provider.env_secrets if field == "api_secret" else provider.env_keys:
        value = os.environ.get(name, "").strip()
        if value:
            return value, src("env", f"${name}")
    if field == "api_key" and not provider.kind.needs_key:
        return None, src("not_needed", f"{provider.kind.display} needs no key")
    env = provider.env_secrets if field == "api_secret" else provider.env_keys
    unset = " or ".join(f"${e}" for e in env)
    return None, src("missing", f"no key ({unset} unset)" if unset else "no key")


def _configured(
    reg: Registry, value: Any, key: str, source: KeySource
) -> tuple[str | None, KeySource]:
    if value is None or not str(value).strip():
        raise KeyMissingError(
            reg.file,
            key,
            "is configured but empty (its ${VAR} is unset); set the variable or remove the "
            "entry, so voicegw does not fall back to a broader key",
        )
    return str(value).strip(), source


def _nowhere(provider: Provider, project: str, field: str, runtime: bool) -> str:
    env = provider.env_secrets if field == "api_secret" else provider.env_keys
    options = [
        f"`voicegw projects set-key {project} {provider.id}`" if runtime else None,
        None if runtime else f"projects.{project}.providers.{provider.id}.{field}",
        f"providers.{provider.id}.{field} in voicegw.yaml",
        " or ".join(f"${e}" for e in env) or None,
    ]
    return "none found: use " + ", ".join(o for o in options if o)


def require(
    reg: Registry,
    provider: Provider,
    project: str,
    model_id: str,
    field: str = "api_key",
    *,
    keyring: Callable[[], Keyring],
) -> tuple[str | None, KeySource]:
    """Like `resolve`, but a needed key that is missing everywhere is an error."""
    value, source = resolve(reg, provider, project, field, keyring=keyring)
    needed = provider.kind.needs_key if field == "api_key" else provider.kind.needs_secret
    if value is None and needed:
        what = "API key" if field == "api_key" else "API secret"
        runtime = project in reg.state.projects and project not in reg.config.projects
        raise KeyMissingError(
            reg.file,
            f"providers.{provider.id}.{field}",
            f"no {provider.kind.display} {what} for project {project!r} ({model_id}); "
            f"{_nowhere(provider, project, field, runtime)}",
        )
    return value, source


def key_sources(reg: Registry, project: str, providers: list[str]) -> list[dict[str, str]]:
    """Where each provider's key would come from for `project`, without decrypting."""
    out = []
    for pid in providers:
        provider = reg.providers().get(pid)
        if provider is None:
            continue
        try:
            _, source = resolve(reg, provider, project)
        except KeyMissingError as exc:
            source = KeySource(pid, "api_key", "missing", f"{exc.key_path} is set but empty")
        out.append(source.as_dict())
    return out
