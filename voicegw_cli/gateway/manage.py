"""The registry as records, and runtime changes to it: add and remove providers, register
and remove models, each in one transaction with its audit-log entry.

The CLI (`voicegw providers`, `voicegw models`) and the MCP tools call these functions and
show the same field names. YAML and built-in entries are read-only here; a runtime
provider's key is stored Fernet-encrypted and only ever shown masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from voicegw_cli import clock
from voicegw_cli.config import MODALITIES
from voicegw_cli.gateway.errors import (
    GatewayModelNotFoundError,
    GatewayValidationError,
    KeyMissingError,
    ModelExistsError,
    ProviderExistsError,
    ProviderNotFoundError,
    ReadOnlyResourceError,
)
from voicegw_cli.gateway.keys import resolve
from voicegw_cli.gateway.kinds import KINDS
from voicegw_cli.gateway.registry import SOURCES, ModelInfo, Provider, Registry
from voicegw_cli.gateway.state import RuntimeState
from voicegw_cli.projects import default_actor, record_audit, validate_provider
from voicegw_cli.store.gateway_snapshot import PROVIDER_SCOPE

if TYPE_CHECKING:
    from voicegw_cli.config import Config
    from voicegw_cli.secrets import Keyring

_URL_SCHEMES = ("http://", "https://", "ws://", "wss://")


def registry(config: Config, conn: Any) -> Registry:
    return Registry(config, RuntimeState.from_conn(conn, config))


# ------------------------------------------------------------------ records


def _masked(reg: Registry, provider: Provider, keyring: Keyring | None) -> tuple[str | None, str]:
    """(masked provider-level key or None, its source) - no project layers."""
    from voicegw_cli.secrets import SecretKeyError, mask

    try:
        value, source = resolve(reg, provider, None)
    except KeyMissingError:
        return None, "missing"
    if source.source == "provider_store":
        if keyring is None:
            return "(encrypted)", source.source
        try:
            value, _ = resolve(reg, provider, None, keyring=lambda: keyring)
        except SecretKeyError:
            return "(unreadable with this secret)", source.source
    return (mask(value) if value else None), source.source


def _keyring(config: Config) -> Keyring | None:
    from voicegw_cli.secrets import SecretKeyError, load_keyring

    try:
        return load_keyring(config)
    except SecretKeyError:
        return None


def provider_record(
    reg: Registry, provider: Provider, keyring: Keyring | None = None
) -> dict[str, Any]:
    masked, key_source = _masked(reg, provider, keyring)
    kind = provider.kind
    return {
        "provider_id": provider.id,
        "provider_type": kind.id,
        "display_name": kind.display if not provider.custom else provider.id,
        "source": provider.source,
        "type": kind.type,
        "modalities": list(kind.modalities),
        "enabled": key_source not in ("missing",),
        "key_source": key_source,
        "api_key_masked": masked,
        "base_url": provider.base_url,
        "billing_provider": provider.billing_provider,
        "plugin_package": kind.package,
        "plugin_installed": kind.installed(),
    }


def list_providers(config: Config, conn: Any) -> list[dict[str, Any]]:
    """Every provider: built-in kinds, voicegw.yaml, runtime additions."""
    reg = registry(config, conn)
    keyring = _keyring(config) if reg.state.keys.get(PROVIDER_SCOPE) else None
    return [provider_record(reg, p, keyring) for p in reg.providers().values()]


def _references(
    reg: Registry, *, provider: str | None = None, model: str | None = None
) -> list[str]:
    """Config and project keys that name the provider (or the model)."""

    def hit(text: Any) -> bool:
        if not isinstance(text, str) or "/" not in text:
            return False
        if model is not None:
            return text.split(":", 1)[0].strip().lower() == model.lower() or text == model
        return text.split("/", 1)[0].strip().lower() == provider

    refs: list[str] = []
    for name, body in reg.config.stacks.items():
        refs += [f"stacks.{name}.{m}" for m, text in body.items() if hit(text)]
    for m, chain in reg.config.fallbacks.items():
        refs += [f"fallbacks.{m}[{i}]" for i, text in enumerate(chain) if hit(text)]
    for pid in reg.project_ids():
        p = reg.project(pid)
        if p is None:
            continue
        refs += [f"projects.{pid}.{m}_model" for m in MODALITIES if hit(getattr(p, f"{m}_model"))]
        for m, chain in p.fallbacks.items():
            refs += [f"projects.{pid}.fallbacks.{m}[{i}]" for i, t in enumerate(chain) if hit(t)]
    return refs


def get_provider(config: Config, conn: Any, provider_id: str) -> dict[str, Any]:
    """One provider with its models, environment variables and where config uses it."""
    reg = registry(config, conn)
    provider = reg.provider(provider_id)
    record = provider_record(reg, provider, _keyring(config))
    models = sorted(m.model_id for m in reg.models().values() if m.provider == provider.id)
    record.update(
        model_count=len(models),
        models=models,
        env_vars=list(provider.env_keys + provider.env_secrets),
        referenced_by=_references(reg, provider=provider.id),
    )
    return record


def _check_url(base_url: str | None) -> str | None:
    url = (base_url or "").strip() or None
    if url is not None and not url.lower().startswith(_URL_SCHEMES):
        raise GatewayValidationError(
            f"base_url must start with http://, https://, ws:// or wss://, got {base_url!r}",
            field="base_url",
        )
    return url


def add_provider(
    config: Config,
    conn: Any,
    provider_id: str,
    *,
    provider_type: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    keyring: Keyring | None = None,
    actor: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Add a provider at runtime: a built-in one with its own key (or base URL), or a new
    one of a known type (`provider_type="openai"` + `base_url` for any OpenAI-compatible
    API). The key is stored encrypted; the record shows it masked."""
    pid = validate_provider(provider_id)
    reg = registry(config, conn)
    existing = reg.providers().get(pid)
    if existing is not None and existing.source != "builtin":
        raise ProviderExistsError(
            f"provider {pid!r} already exists (source: {existing.source})",
            provider_id=pid,
            source=existing.source,
        )
    ptype = (provider_type or "").strip().lower() or (pid if pid in KINDS else "")
    if not ptype:
        raise GatewayValidationError(
            f"{pid!r} is not a built-in provider: give its provider_type, one of "
            f"{', '.join(sorted(KINDS))} (openai for any OpenAI-compatible API)",
            field="provider_type",
        )
    if ptype not in KINDS or (pid in KINDS and ptype != pid):
        raise GatewayValidationError(
            f"provider_type must be {pid!r} for the built-in provider {pid!r}"
            if pid in KINDS
            else f"unknown provider_type {ptype!r}; one of {', '.join(sorted(KINDS))}",
            field="provider_type",
        )
    url = _check_url(base_url)
    key = (api_key or "").strip() or None
    if key is not None and (any(c in key for c in "\r\n\t ") or not key.isprintable()):
        raise GatewayValidationError(
            "the key contains whitespace or control characters", field="api_key"
        )
    token = None
    if key is not None:
        from voicegw_cli.secrets import load_keyring

        token = (keyring or load_keyring(config, create=True)).encrypt(key)
    ts = now or clock.utcnow_naive()
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            "INSERT INTO gateway_providers (id, provider_type, base_url, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [pid, ptype, url, ts, ts],
        )
        if token is not None:
            conn.execute(
                "INSERT OR REPLACE INTO provider_keys (project, provider, ciphertext, updated_at) "
                "VALUES (?, ?, ?, ?)",
                [PROVIDER_SCOPE, pid, token, ts],
            )
        record_audit(
            conn,
            "provider.add",
            pid,
            None,
            {"provider_type": ptype, "base_url": url, "key_stored": token is not None},
            actor or default_actor(),
            now=ts,
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    reg = registry(config, conn)
    return provider_record(reg, reg.provider(pid), keyring)


@dataclass(slots=True)
class ProviderRemoval:
    provider_id: str
    provider_type: str
    models: list[str]  # runtime models removed with it
    key_stored: bool
    referenced_by: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider_id": self.provider_id,
            "provider_type": self.provider_type,
            "model_count": len(self.models),
            "models": list(self.models),
            "key_stored": self.key_stored,
            "referenced_by": list(self.referenced_by),
        }


def _db_provider(reg: Registry, provider_id: str) -> Provider:
    provider = reg.provider(provider_id)
    if provider.source != "db":
        where = reg.config.path or "voicegw.yaml"
        raise ReadOnlyResourceError(
            f"provider {provider.id!r} is built in; there is nothing to remove"
            if provider.source == "builtin"
            else f"provider {provider.id!r} is defined in {where}; remove it by editing that file",
            provider_id=provider.id,
            source=provider.source,
        )
    return provider


def remove_provider_preview(config: Config, conn: Any, provider_id: str) -> ProviderRemoval:
    """What removing a runtime provider takes with it (its key; its runtime models when
    the provider is not a built-in one) and which config keys still name it."""
    reg = registry(config, conn)
    provider = _db_provider(reg, provider_id)
    models = (
        sorted(mid for mid, m in reg.state.models.items() if m["provider"] == provider.id)
        if provider.custom
        else []
    )
    return ProviderRemoval(
        provider_id=provider.id,
        provider_type=provider.kind.id,
        models=models,
        key_stored=reg.state.token(PROVIDER_SCOPE, provider.id) is not None,
        referenced_by=_references(reg, provider=provider.id),
    )


def remove_provider(
    config: Config, conn: Any, provider_id: str, *, actor: str | None = None
) -> ProviderRemoval:
    preview = remove_provider_preview(config, conn, provider_id)
    pid = preview.provider_id
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute("DELETE FROM gateway_providers WHERE id = ?", [pid])
        conn.execute(
            "DELETE FROM provider_keys WHERE project = ? AND provider = ?", [PROVIDER_SCOPE, pid]
        )
        for mid in preview.models:
            conn.execute("DELETE FROM gateway_models WHERE model_id = ?", [mid])
        record_audit(
            conn, "provider.remove", pid, preview.as_dict(), None, actor or default_actor()
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return preview


# ------------------------------------------------------------------ models


def model_record(reg: Registry, m: ModelInfo, pricer: Any, when: datetime) -> dict[str, Any]:
    provider = reg.providers().get(m.provider)
    billing = provider.billing_provider if provider is not None else m.provider
    rate = None
    if pricer is not None:
        try:
            rate = pricer.rate_for(billing, m.model_name, when, m.modality)
        except (LookupError, ValueError):
            rate = None
    return {
        "model_id": m.model_id,
        "modality": m.modality,
        "provider_id": m.provider,
        "model_name": m.model_name,
        "default_voice": m.default_voice,
        "source": m.source,
        "pricing": rate.source if rate is not None else None,
    }


def list_models(
    config: Config,
    conn: Any,
    *,
    provider: str | None = None,
    modality: str | None = None,
    source: str | None = None,
) -> list[dict[str, Any]]:
    """Models voicegw knows, with what prices them now (`pricing` = a pricing_source, or
    None when nothing does)."""
    if modality is not None and modality not in MODALITIES:
        raise GatewayValidationError(
            f"modality must be one of {', '.join(MODALITIES)}, got {modality!r}", field="modality"
        )
    if source is not None and source not in SOURCES:
        raise GatewayValidationError(
            f"source must be one of {', '.join(SOURCES)}, got {source!r}", field="source"
        )
    reg = registry(config, conn)
    if provider is not None:
        provider = reg.provider(provider).id
    from voicegw_cli.pricing import Pricer

    pricer = Pricer(config.pricing_overrides or None)
    when = clock.now()
    rows = [
        model_record(reg, m, pricer, when)
        for m in sorted(reg.models().values(), key=lambda m: (m.provider, m.modality, m.model_id))
        if (provider is None or m.provider == provider)
        and (modality is None or m.modality == modality)
        and (source is None or m.source == source)
    ]
    return rows


def register_model(
    config: Config,
    conn: Any,
    model_id: str,
    *,
    modality: str,
    default_voice: str | None = None,
    actor: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Register a model at runtime (what it is for and, for TTS, its default voice). A
    price belongs in voicegw.yaml (`models.<id>.price`), where every process reads it."""
    text = (model_id or "").strip()
    prov, sep, name = text.partition("/")
    if not sep or not prov.strip() or not name.strip():
        raise GatewayValidationError(
            f"model id {model_id!r} must be provider/model, like deepgram/nova-3", field="model_id"
        )
    mid = f"{prov.strip().lower()}/{name.strip()}"
    if modality not in MODALITIES:
        raise GatewayValidationError(
            f"modality must be one of {', '.join(MODALITIES)}, got {modality!r}", field="modality"
        )
    reg = registry(config, conn)
    provider = reg.provider(prov)
    if modality not in provider.kind.modalities:
        raise GatewayValidationError(
            f"{provider.id} has no {modality.upper()} (it offers "
            f"{', '.join(m.upper() for m in provider.kind.modalities)})",
            field="modality",
        )
    voice = (default_voice or "").strip() or None
    if voice is not None and modality != "tts":
        raise GatewayValidationError(
            "default_voice applies to TTS models only", field="default_voice"
        )
    known = reg.model(mid)
    if known is not None and known.source != "builtin":
        raise ModelExistsError(
            f"model {mid!r} is already registered (source: {known.source})",
            model_id=mid,
            source=known.source,
        )
    ts = now or clock.utcnow_naive()
    row = {"provider": provider.id, "model_name": name.strip(), "modality": modality}
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            "INSERT INTO gateway_models (model_id, provider, model_name, modality, default_voice,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [mid, provider.id, row["model_name"], modality, voice, ts],
        )
        record_audit(
            conn,
            "model.register",
            mid,
            None,
            {**row, "default_voice": voice},
            actor or default_actor(),
            now=ts,
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    from voicegw_cli.pricing import Pricer

    reg = registry(config, conn)
    record = model_record(
        reg, reg.models()[mid], Pricer(config.pricing_overrides or None), clock.now()
    )
    return record


def remove_model_preview(config: Config, conn: Any, model_id: str) -> dict[str, Any]:
    reg = registry(config, conn)
    m = reg.model((model_id or "").strip())
    if m is None:
        from voicegw_cli.gateway.registry import _hint

        raise GatewayModelNotFoundError(
            f"no model {model_id!r}{_hint(model_id, sorted(reg.models()))}", model_id=model_id
        )
    if m.source != "db":
        raise ReadOnlyResourceError(
            f"model {m.model_id!r} is built in; there is nothing to remove"
            if m.source == "builtin"
            else f"model {m.model_id!r} is declared in {config.path or 'voicegw.yaml'}; "
            "remove it by editing that file",
            model_id=m.model_id,
            source=m.source,
        )
    return {
        "model_id": m.model_id,
        "modality": m.modality,
        "provider_id": m.provider,
        "referenced_by": _references(reg, model=m.model_id),
    }


def remove_model(
    config: Config, conn: Any, model_id: str, *, actor: str | None = None
) -> dict[str, Any]:
    preview = remove_model_preview(config, conn, model_id)
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute("DELETE FROM gateway_models WHERE model_id = ?", [preview["model_id"]])
        record_audit(
            conn, "model.remove", preview["model_id"], preview, None, actor or default_actor()
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return preview


__all__ = [
    "ProviderNotFoundError",
    "ProviderRemoval",
    "add_provider",
    "get_provider",
    "list_models",
    "list_providers",
    "register_model",
    "remove_model",
    "remove_model_preview",
    "remove_provider",
    "remove_provider_preview",
]
