"""`Gateway`: LiveKit plugin objects built from voicegw.yaml, with the right project's keys.

    gw = Gateway(config)                       # agents: runtime state from the snapshot
    llm = gw.build("llm", "openai/gpt-4o-mini", project="support")
    stt, llm, tts = gw.stack("premium", project="support")
    tts = gw.with_fallback("tts", project="support", runtime=True)

Every object built here is remembered (weakly) with its project and model, so
`voicegw_cli.livekit.track(session)` attributes the session to that project without a
`project=` argument, and line items of a provider reached through a custom `base_url`
still carry the provider's id rather than the URL's host.

Building does no network I/O: constructors only. Bad input (an unknown stack or
provider, a model string without a provider, a chain where nothing resolves) raises one
line naming the config file and key before anything is returned.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from voicegw_cli.config import MODALITIES, resolve_project
from voicegw_cli.errors import VoicegwError
from voicegw_cli.gateway.errors import BuildError, KeyMissingError, ProviderNotFoundError
from voicegw_cli.gateway.keys import key_sources, require
from voicegw_cli.gateway.kinds import Creds, PluginMissingError, import_plugin
from voicegw_cli.gateway.registry import Registry, parse_ref
from voicegw_cli.gateway.state import RuntimeState, SnapshotState

if TYPE_CHECKING:
    from voicegw_cli.config import Config, Project
    from voicegw_cli.secrets import Keyring

log = logging.getLogger("voicegw.gateway")


class ConstructError(BuildError):
    """The plugin's constructor refused what it was given."""

    code = "CONSTRUCT_ERROR"


@dataclass(frozen=True, slots=True)
class Built:
    """What voicegw remembers about an object it built (never its key)."""

    project: str
    provider: str  # gateway provider id
    billing_provider: str  # provider id on line items
    model_id: str  # as asked for, e.g. deepgram/aura-2
    modality: str
    key_source: str


_built: WeakKeyDictionary[Any, Built] = WeakKeyDictionary()
#: LiveKit's provider string of a built object -> the billing provider, where they differ
#: (a custom base URL reports its host; an own OpenAI-compatible server its address).
_aliases: dict[str, str] = {}
_tag_lock = threading.Lock()


def built_info(obj: Any) -> Built | None:
    try:
        return _built.get(obj)
    except TypeError:  # unhashable: not ours
        return None


def billing_alias(raw_provider: str) -> str | None:
    """The billing provider for a LiveKit provider string of an object built here."""
    return _aliases.get(raw_provider)


def _remember(obj: Any, info: Built) -> None:
    from voicegw_cli.pricing import canonical_provider

    with _tag_lock:
        _built[obj] = info
        raw = getattr(obj, "provider", None)
        if isinstance(raw, str) and raw and canonical_provider(raw) != info.billing_provider:
            _aliases[raw] = info.billing_provider


def _components(obj: Any) -> Iterable[Any]:
    """The object and what it wraps: each instance of a LiveKit fallback adapter, the STT
    inside a StreamAdapter (batch STT), recursively."""
    yield obj
    inner = getattr(obj, "_stt", None)  # stt.StreamAdapter
    if inner is not None and inner is not obj:
        yield from _components(inner)
    for attr in ("_llm_instances", "_stt_instances", "_tts_instances"):
        for child in getattr(obj, attr, None) or ():
            yield from _components(child)


def session_project(session: Any) -> str | None:
    """The project of the voicegw-built models a session uses, if they agree."""
    found: set[str] = set()
    for attr in ("stt", "llm", "tts"):
        try:
            obj = getattr(session, attr, None)
        except Exception:  # a session property may raise before start
            obj = None
        if obj is None or isinstance(obj, str):
            continue
        info = built_info(obj)
        if info is None:
            infos = [built_info(c) for c in _components(obj)]
            found.update(i.project for i in infos if i is not None)
        else:
            found.add(info.project)
    if len(found) == 1:
        return found.pop()
    if found:
        log.warning(
            "voicegw: this session's models were built for several projects (%s); "
            "pass project= to track()",
            ", ".join(sorted(found)),
        )
    return None


def _reason(exc: BaseException) -> str:
    problem = getattr(exc, "problem", None)
    return problem if isinstance(problem, str) else str(exc)


def _scrub(text: str, *secrets: str | None) -> str:
    from voicegw_cli.secrets import mask

    for s in secrets:
        if s:
            text = text.replace(s, mask(s))
    return " ".join(text.split())


class Gateway:
    """Builds plugins for one config. Without `state`, runtime projects, stored keys and
    runtime providers come from the store's gateway snapshot (agents never open DuckDB);
    CLI and MCP pass `RuntimeState.from_conn(store.conn, config)`."""

    def __init__(
        self,
        config: Config,
        state: RuntimeState | None = None,
        *,
        keyring: Keyring | None = None,
    ) -> None:
        self.config = config
        self._state = state
        self._snapshot = None if state is not None else SnapshotState(config)
        self._keyring = keyring
        self._registry: tuple[RuntimeState, Registry] | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ state

    def registry(self) -> Registry:
        state = self._state if self._state is not None else self._snapshot.get()  # type: ignore[union-attr]
        cached = self._registry
        if cached is None or cached[0] is not state:
            cached = self._registry = (state, Registry(self.config, state))
        return cached[1]

    def keyring(self) -> Keyring:
        """The operator's secret, loaded once (only when a stored key is used)."""
        if self._keyring is None:
            from voicegw_cli.secrets import load_keyring

            with self._lock:
                if self._keyring is None:
                    self._keyring = load_keyring(self.config)
        return self._keyring

    # ------------------------------------------------------------------ building

    def build(self, modality: str, model: str, project: str | None = None, **kwargs: Any) -> Any:
        """One plugin object; `kwargs` pass through to the plugin's constructor."""
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {', '.join(MODALITIES)}")
        pid = resolve_project(project, self.config)
        return self._build(modality, model, pid, kwargs, None)

    def _build(
        self,
        modality: str,
        text: Any,
        project: str,
        kwargs: dict[str, Any],
        key: str | None,
        file: str | None = None,
    ) -> Any:
        reg = self.registry()
        file = file or reg.file
        ref = parse_ref(text, modality, file, key or f"{modality}()")
        try:
            provider = reg.provider(ref.provider, text=ref.text)
        except ProviderNotFoundError as exc:
            raise BuildError(file, key or "providers", str(exc)) from None
        kind = provider.kind
        if modality not in kind.builders:
            raise BuildError(
                file,
                key or f"{modality}()",
                f"{ref.text}: {provider.id} has no {modality.upper()} "
                f"(it offers {', '.join(m.upper() for m in kind.modalities)})",
            )
        mod = import_plugin(kind, ref.text)
        kwargs = dict(kwargs)
        if "api_key" in kwargs:
            api_key, source = kwargs.pop("api_key"), "explicit"
        else:
            api_key, ks = require(reg, provider, project, ref.text, keyring=self.keyring)
            source = ks.source
        api_secret = None
        if kind.needs_secret:
            if "api_secret" in kwargs:
                api_secret = kwargs.pop("api_secret")
            else:
                api_secret, _ = require(
                    reg, provider, project, ref.text, "api_secret", keyring=self.keyring
                )
        base_url = kwargs.pop("base_url", None) or self._base_url(reg, provider.id, project)
        voice = ref.voice
        if voice is None and modality == "tts":
            info = reg.model(ref.model_id)
            voice = info.default_voice if info is not None else None
        try:
            obj = kind.builders[modality](
                mod, ref.model, voice, Creds(api_key, api_secret, base_url), kwargs
            )
        except Exception as exc:  # any constructor failure: the chain may try the next
            raise ConstructError(
                file,
                key or f"{modality}()",
                f"{ref.text}: the {kind.display} plugin could not be built: "
                f"{_scrub(f'{type(exc).__name__}: {exc}', api_key, api_secret)}",
            ) from None
        _remember(
            obj,
            Built(project, provider.id, provider.billing_provider, ref.model_id, modality, source),
        )
        return obj

    def _base_url(self, reg: Registry, provider_id: str, project: str) -> str | None:
        p = reg.config.projects.get(project)
        if p is not None and p.providers.get(provider_id, {}).get("base_url"):
            return p.providers[provider_id]["base_url"]
        return reg.providers()[provider_id].base_url

    # ------------------------------------------------------------------ stacks

    def _project(self, reg: Registry, pid: str) -> tuple[Project | None, str]:
        p = reg.project(pid)
        file = reg.file if p is None or p.source == "yaml" else str(self.config.store_path)
        return p, file

    def stack(self, name: str | None = None, project: str | None = None) -> tuple[Any, Any, Any]:
        """(stt, llm, tts) from `stacks:`; without a name, the project's `default_stack`
        or its explicit `stt_model`/`llm_model`/`tts_model`. A modality the stack leaves
        out is None (AgentSession accepts None)."""
        pid = resolve_project(project, self.config)
        reg = self.registry()
        file = reg.file
        entries: dict[str, tuple[str, str]] = {}
        origin = "stacks"
        if name is None:
            p, file = self._project(reg, pid)
            if p is None:
                raise BuildError(
                    reg.file,
                    f"projects.{pid}",
                    "no such project, so no default stack: pass a stack name, "
                    "e.g. stack('premium')",
                )
            if p.default_stack:
                name, origin = p.default_stack, f"projects.{pid}.default_stack"
            else:
                for m in MODALITIES:
                    model = getattr(p, f"{m}_model")
                    if model:
                        entries[m] = (model, f"projects.{pid}.{m}_model")
                if not entries:
                    raise BuildError(
                        file,
                        f"projects.{pid}",
                        "has neither default_stack nor stt_model/llm_model/tts_model: "
                        "set one, or pass a stack name",
                    )
        if name is not None:
            body = self.config.stacks.get(name)
            if body is None:
                from voicegw_cli.gateway.registry import _hint

                known = sorted(self.config.stacks)
                hint = _hint(name, known) if known else " (no stacks are defined)"
                raise BuildError(file, origin, f"no stack {name!r} in stacks:{hint}")
            file = reg.file
            entries = {m: (body[m], f"stacks.{name}.{m}") for m in MODALITIES if body.get(m)}
        built = {m: self._build(m, text, pid, {}, key, file) for m, (text, key) in entries.items()}
        return built.get("stt"), built.get("llm"), built.get("tts")

    # ------------------------------------------------------------------ fallbacks

    def chain(self, modality: str, project: str) -> tuple[list[str], str]:
        """The fallback chain that applies to `project`, and its key path."""
        reg = self.registry()
        p = reg.project(project)
        if p is not None and p.fallbacks.get(modality):
            return list(p.fallbacks[modality]), f"projects.{project}.fallbacks.{modality}"
        if self.config.fallbacks.get(modality):
            return list(self.config.fallbacks[modality]), f"fallbacks.{modality}"
        raise BuildError(
            reg.file,
            f"fallbacks.{modality}",
            f"no {modality} fallback chain: add fallbacks.{modality} (top level, or under "
            f"projects.{project})",
        )

    def with_fallback(
        self,
        modality: str,
        models: Sequence[str] | None = None,
        project: str | None = None,
        *,
        runtime: bool = False,
        **adapter_kwargs: Any,
    ) -> Any:
        """The first model of the chain that builds (key present, plugin installed,
        constructor succeeds), logging why each earlier one was skipped. With
        `runtime=True`, every model that builds, in order, inside LiveKit's own
        `FallbackAdapter` (extra keyword arguments go to the adapter)."""
        from voicegw_cli.secrets import SecretKeyError

        pid = resolve_project(project, self.config)
        reg = self.registry()
        if models is None:
            chain, key = self.chain(modality, pid)
        else:
            chain, key = list(models), f"{modality}_with_fallback(models)"
        built: list[Any] = []
        skipped: list[str] = []
        for i, text in enumerate(chain):
            where = f"{key}[{i}]"
            try:
                obj = self._build(modality, text, pid, {}, where)
            except (KeyMissingError, ConstructError, PluginMissingError, SecretKeyError) as exc:
                reason = _reason(exc)
                log.warning("voicegw: %s: skipping %s: %s", where, text, reason)
                skipped.append(f"{text}: {reason}")
                continue
            except BuildError:
                raise
            except Exception as exc:  # e.g. a plugin imported off the main thread
                reason = _reason(exc)
                log.warning("voicegw: %s: skipping %s: %s", where, text, reason)
                skipped.append(f"{text}: {reason}")
                continue
            built.append(obj)
            if not runtime:
                break
        if not built:
            raise BuildError(reg.file, key, "nothing in the chain resolved: " + "; ".join(skipped))
        if skipped:
            names = [i.model_id for i in map(built_info, built) if i is not None]
            log.info("voicegw: %s: using %s", key, ", ".join(names))
        if not runtime:
            return built[0]
        adapter = _adapter(modality, built, adapter_kwargs, reg.file, key)
        first = built_info(built[0])
        _remember(
            adapter,
            Built(
                pid,
                "fallback",
                first.billing_provider if first else "fallback",
                ",".join(chain),
                modality,
                "chain",
            ),
        )
        return adapter

    # ------------------------------------------------------------------ reporting

    def providers_used(self, project: str) -> list[str]:
        """Providers whose key matters for `project`: those its routing names and those
        with a key in any layer."""
        import os

        reg = self.registry()
        ids: set[str] = set()

        def add(text: Any) -> None:
            if isinstance(text, str) and "/" in text:
                ids.add(text.split("/", 1)[0].strip().lower())

        p = reg.project(project)
        if p is not None:
            for stack in (p.default_stack, p.fallback_stack):
                for m in (self.config.stacks.get(stack) or {}).values() if stack else ():
                    add(m)
            for m in MODALITIES:
                add(getattr(p, f"{m}_model"))
            ids.update(p.providers)
        for chain in (*(p.fallbacks.values() if p else ()), *self.config.fallbacks.values()):
            for m in chain:
                add(m)
        ids.update(reg.state.keys.get(project, {}))
        for provider in reg.providers().values():
            if provider.settings or reg.state.token("", provider.id):
                ids.add(provider.id)
            elif any(os.environ.get(e) for e in provider.env_keys):
                ids.add(provider.id)
        return sorted(i for i in ids if i in reg.providers())

    def key_sources(self, project: str) -> list[dict[str, str]]:
        """Where each relevant provider key of `project` comes from (never the key)."""
        return key_sources(self.registry(), project, self.providers_used(project))

    def warm(self) -> list[str]:
        """Import the plugin modules the config names (LiveKit registers plugins on the
        main thread, on import) and load the snapshot and secret, so no build in a job
        waits for an import or a file read. Returns the modules imported. A config the
        gateway cannot use is logged, not raised: agents that only track usage keep
        working, and builds report the problem with its file and key."""
        try:
            return self._warm()
        except VoicegwError as exc:
            log.warning("voicegw: cannot prepare plugins: %s", exc)
            return []

    def _warm(self) -> list[str]:
        reg = self.registry()
        ids: set[str] = set()
        for body in self.config.stacks.values():
            ids.update(str(m).split("/", 1)[0].lower() for m in body.values() if m)
        chains = [*self.config.fallbacks.values()]
        for pid in reg.project_ids():
            p = reg.project(pid)
            if p is None:
                continue
            chains.extend(p.fallbacks.values())
            ids.update(
                str(getattr(p, f"{m}_model")).split("/", 1)[0].lower()
                for m in MODALITIES
                if getattr(p, f"{m}_model")
            )
        for chain in chains:
            ids.update(m.split("/", 1)[0].lower() for m in chain)
        modules: list[str] = []
        providers = reg.providers()
        for pid in sorted(ids):
            provider = providers.get(pid)
            if provider is None or not provider.kind.installed():
                continue
            try:
                import_plugin(provider.kind, pid)
            except Exception:  # reported at build time, with the model that needs it
                log.debug("voicegw: could not import %s", provider.kind.module, exc_info=True)
                continue
            if provider.kind.module not in modules:
                modules.append(provider.kind.module)
        if any(
            p.kind.module == "livekit.plugins.openai" or p.kind.id == "anthropic"
            for p in (providers.get(i) for i in ids)
            if p is not None
        ):
            from voicegw_cli.gateway.kinds import shared_tls_context

            shared_tls_context()  # the CA bundle, loaded once, before any job
        if reg.state.keys:
            try:
                self.keyring()
            except Exception:  # reported when a stored key is needed
                log.debug("voicegw: no usable secret for stored keys", exc_info=True)
        return modules


def _adapter(modality: str, built: list[Any], kwargs: dict[str, Any], file: str, key: str) -> Any:
    if modality == "llm":
        from livekit.agents.llm import FallbackAdapter
    elif modality == "stt":
        from livekit.agents.stt import FallbackAdapter  # type: ignore[assignment]
    else:
        from livekit.agents.tts import FallbackAdapter  # type: ignore[assignment]
    try:
        return FallbackAdapter(built, **kwargs)
    except (TypeError, ValueError) as exc:
        raise BuildError(file, key, f"LiveKit's FallbackAdapter refused the chain: {exc}") from None
