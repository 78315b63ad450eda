"""voicegw.yaml: lookup, `${VAR}` interpolation, validation, and active-project resolution.

Validation names the file, the key path and the problem, because a config error is read by
someone who has to find the line. An unset `${VAR}` is not an error: the value is missing,
`status` shows it, and only the command that needs it complains.
"""

from __future__ import annotations

import contextvars
import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from voicegw_cli.errors import ConfigError

CONFIG_FILENAME = "voicegw.yaml"
DEFAULT_PROJECT = "default"
BUDGET_ACTIONS = ("warn", "throttle", "block")
GUARDRAIL_CATEGORIES = ("pii", "financial", "medical", "prompt_injection", "off_topic")
GUARDRAIL_ACTIONS = ("redact", "block", "alert", "off")
#: Providers whose usage and cost APIs `voicegw pull` reads (keys of `admin_keys:`).
ADMIN_KEY_PROVIDERS = ("openai", "anthropic", "deepgram", "elevenlabs", "cartesia")
_ADMIN_KEY_FIELDS = {"key", "base_url", "project_id", "version"}
GUARDRAIL_SIDES = ("input", "output")
#: A scalar action (`pii: redact`) applies to these sides; the rest stay `off`. Injection and
#: topic are properties of what the caller says, not of what the agent says back.
GUARDRAIL_SCALAR_SIDES = {
    "pii": GUARDRAIL_SIDES,
    "financial": GUARDRAIL_SIDES,
    "medical": GUARDRAIL_SIDES,
    "prompt_injection": ("input",),
    "off_topic": ("input",),
}
DEFAULT_BLOCK_MESSAGE = "Sorry, I can't help with that. Is there anything else I can do for you?"
_GUARDRAIL_KEYS = {"enabled", "categories", "topic", "block_message", "phone_regions", "allow"}
MODALITIES = ("stt", "llm", "tts")

_TOP_KEYS = {
    "projects",
    "stacks",
    "default_project",
    "timezone",
    "storage",
    "pricing",
    "budgets",
    "hook",
    "providers",
    "models",
    "fallbacks",
    "secret_key_file",
    "admin_keys",
}
_PROJECT_KEYS = {
    "name",
    "description",
    "daily_budget",
    "monthly_budget",
    "budget_action",
    "tags",
    "providers",
    "default_stack",
    "fallback_stack",
    "guardrails",
    "stt_model",
    "llm_model",
    "tts_model",
    "fallbacks",
}
#: Keys of a provider under the top-level `providers:` (`type` makes a new provider of a
#: known kind, e.g. an OpenAI-compatible endpoint) and under a project's `providers:`.
_PROVIDER_KEYS = {"api_key", "api_secret", "base_url", "type"}
#: A project's provider entry: its key for agents, and which provider-side project or
#: workspace `voicegw pull --project` reads (`project_id`, `workspace_id`, `api_key_id`).
_PROJECT_PROVIDER_KEYS = {
    "api_key",
    "api_secret",
    "base_url",
    "project_id",
    "workspace_id",
    "api_key_id",
}
_MODEL_KEYS = {"modality", "default_voice", "price"}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True, slots=True)
class GuardrailTopic:
    """What the project is about: `off_topic` flags turns clearly outside it."""

    description: str
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GuardrailSettings:
    """A project's `guardrails:` block, validated. `actions[side][category]` is the action."""

    enabled: bool = False
    actions: dict[str, dict[str, str]] = field(
        default_factory=lambda: {
            s: dict.fromkeys(GUARDRAIL_CATEGORIES, "off") for s in GUARDRAIL_SIDES
        }
    )
    topic: GuardrailTopic | None = None
    block_message: str = DEFAULT_BLOCK_MESSAGE
    phone_regions: tuple[str, ...] = ("US",)
    allow: tuple[str, ...] = ()

    def action(self, side: str, category: str) -> str:
        return self.actions[side][category] if self.enabled else "off"

    @property
    def active(self) -> bool:
        """True when at least one category acts on at least one side."""
        return self.enabled and any(a != "off" for s in self.actions.values() for a in s.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "categories": {
                c: {side: self.actions[side][c] for side in GUARDRAIL_SIDES}
                for c in GUARDRAIL_CATEGORIES
            },
            "topic": (
                {"description": self.topic.description, "keywords": list(self.topic.keywords)}
                if self.topic
                else None
            ),
            "block_message": self.block_message,
            "phone_regions": list(self.phone_regions),
            "allow": list(self.allow),
        }


@dataclass(slots=True)
class Project:
    id: str
    name: str
    description: str = ""
    daily_budget: Decimal = Decimal(0)
    monthly_budget: Decimal = Decimal(0)
    budget_action: str = "warn"
    tags: list[str] = field(default_factory=list)
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_stack: str | None = None
    fallback_stack: str | None = None
    guardrails: GuardrailSettings = field(default_factory=GuardrailSettings)
    stt_model: str | None = None
    llm_model: str | None = None
    tts_model: str | None = None
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    source: str = "yaml"


@dataclass(slots=True)
class ModelEntry:
    """A model declared under `models:` (or registered at runtime): what it is for, its
    default voice, and an optional price (merged into `Config.pricing_overrides`)."""

    id: str  # provider/model, as written
    provider: str  # the part before the first slash, lowercased
    model: str  # the rest (may hold more slashes: livekit/openai/gpt-4.1-mini)
    modality: str
    default_voice: str | None = None
    price: dict[str, Any] | None = None
    source: str = "yaml"


@dataclass(slots=True)
class BudgetSettings:
    throttle_delay_seconds: float = 2.0
    fail_closed: bool = False
    refresh_seconds: float = 5.0


@dataclass(slots=True)
class HookSettings:
    flush_interval_seconds: float = 1.0
    #: Mask SIP caller numbers in call records (keep first and last 4 digits).
    mask_caller_number: bool = True


@dataclass(slots=True)
class AdminKeySettings:
    """How `voicegw pull` reaches one provider's admin API (`admin_keys.<provider>`).

    `key` is None when it was not given or its `${VAR}` is unset; `key_path` names where
    it came from, for messages (never the key itself)."""

    provider: str
    key: str | None = None
    key_path: str = ""
    base_url: str | None = None
    project_id: str | None = None  # Deepgram: the project whose usage is read
    version: str | None = None  # anthropic-version / Cartesia-Version header


#: `storage.ship_to` schemes: an S3-compatible bucket or a shared directory.
SHIP_SCHEMES = ("s3", "file")
SHIP_COMPACTION = ("parquet", "delete")


@dataclass(slots=True)
class ShipSettings:
    """Where and how agent hosts ship closed spool segments (`storage.ship_to` and friends).

    `url` is `s3://bucket/prefix` (endpoint, region and credentials from the usual AWS
    environment and config files, or `endpoint_url`/`region` here) or `file:///dir`.
    """

    url: str
    endpoint_url: str | None = None
    region: str | None = None
    #: A spool file is closed (and shipped) at this size or age, whichever comes first.
    segment_max_bytes: int = 8 << 20
    segment_max_seconds: float = 30.0
    #: How long after a five-minute window ends the central fold still expects objects in
    #: it (clock skew plus an upload's duration); then the window is sealed.
    grace_seconds: float = 120.0
    #: Unshipped spool past this size: the hook warns and stops appending (keeps usage in
    #: memory up to its own bound) until the backlog drains.
    max_backlog_bytes: int = 1 << 30
    #: Folded segments older than this many days are compacted or deleted.
    retention_days: float = 7.0
    compaction: str = "parquet"
    #: This host's name in object keys (default: $VOICEGW_HOST, else the host name).
    host: str | None = None
    #: Only read the bucket (a CLI elsewhere with read-only credentials): fold from it into
    #: this store, but never publish the snapshot nor compact or delete segments.
    read_only: bool = False


@dataclass(slots=True)
class Config:
    path: Path | None
    root: Path
    projects: dict[str, Project]
    stacks: dict[str, dict[str, str]]
    default_project: str | None
    timezone: str
    tz: ZoneInfo
    store_path: Path
    spool_dir: Path
    secret_key_path: Path
    pricing_overrides: dict[str, Any]
    budgets: BudgetSettings
    hook: HookSettings
    providers: dict[str, dict[str, Any]]
    missing: list[str]
    raw: dict[str, Any]
    admin_keys: dict[str, AdminKeySettings] = field(default_factory=dict)
    models: dict[str, ModelEntry] = field(default_factory=dict)
    fallbacks: dict[str, list[str]] = field(default_factory=dict)

    #: Fleet shipping (`storage.ship_to`); None for a single host.
    ship: ShipSettings | None = None

    @property
    def source(self) -> str:
        return str(self.path) if self.path else "built-in defaults (no voicegw.yaml found)"


# ---------------------------------------------------------------- lookup


def user_config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "voicegw"


def find_config_path(explicit: str | Path | None = None) -> Path | None:
    """--config, then $VOICEGW_CONFIG, then ./voicegw.yaml, then the user config dir."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(path, "", "config file not found")
        return path.resolve()
    env = os.environ.get("VOICEGW_CONFIG")
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ConfigError(path, "", "config file named by VOICEGW_CONFIG not found")
        return path.resolve()
    for candidate in (Path.cwd() / CONFIG_FILENAME, user_config_dir() / CONFIG_FILENAME):
        if candidate.is_file():
            return candidate.resolve()
    return None


def load_config(path: str | Path | None = None) -> Config:
    found = find_config_path(path)
    if found is None:
        return parse_config({}, path=None, root=Path.cwd())
    import yaml

    try:
        text = found.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(found, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(found, "", f"cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(found, where, f"invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(found, "", "the top level must be a mapping of keys")
    return parse_config(data, path=found, root=found.parent)


# ---------------------------------------------------------------- interpolation


def interpolate(value: Any, key_path: str, missing: list[str]) -> Any:
    """Replace ${VAR} and ${VAR:-default}; an unset VAR makes the whole value None."""
    if isinstance(value, str):
        unset = False

        def sub(m: re.Match[str]) -> str:
            nonlocal unset
            val = os.environ.get(m.group(1))
            if val is None or (val == "" and m.group(2) is not None):
                if m.group(2) is not None:
                    return m.group(2)
                unset = True
                return ""
            return val

        result = _VAR.sub(sub, value)
        if unset:
            missing.append(key_path)
            return None
        return result
    if isinstance(value, dict):
        return {
            k: interpolate(v, f"{key_path}.{k}" if key_path else str(k), missing)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [interpolate(v, f"{key_path}[{i}]", missing) for i, v in enumerate(value)]
    return value


# ---------------------------------------------------------------- validation helpers


class _V:
    """Validation with the file and key path in every message."""

    def __init__(self, file: Path | None) -> None:
        self.file = file

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.file or "<built-in defaults>", key, problem)

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a mapping, got {type(value).__name__}")
        return value

    def known(self, data: Mapping[str, Any], allowed: set[str], key: str) -> None:
        for k in data:
            if k not in allowed:
                close = difflib.get_close_matches(str(k), sorted(allowed), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.fail(f"{key}.{k}" if key else str(k), f"unknown key{hint}")

    def string(self, value: Any, key: str, *, required: bool = False) -> str | None:
        if value is None:
            if required:
                raise self.fail(key, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(key, f"must be a string, got {type(value).__name__}")
        text = str(value)
        if required and not text.strip():
            raise self.fail(key, "must not be empty")
        return text

    def money(self, value: Any, key: str) -> Decimal:
        if value is None:
            return Decimal(0)
        if isinstance(value, bool):
            raise self.fail(key, "must be a number of US dollars, got a boolean")
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise self.fail(key, f"must be a number of US dollars, got {value!r}") from None
        if not amount.is_finite() or amount < 0:
            raise self.fail(key, f"must be >= 0, got {value}")
        return amount

    def number(self, value: Any, key: str, default: float, *, positive: bool = False) -> float:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number, got {value!r}")
        if value < 0 or (positive and value == 0):
            raise self.fail(key, f"must be {'> 0' if positive else '>= 0'}, got {value}")
        return float(value)

    def boolean(self, value: Any, key: str, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def choice(self, value: Any, key: str, choices: tuple[str, ...], default: str) -> str:
        if value is None:
            return default
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def str_list(self, value: Any, key: str) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "must be a list of strings")
        return list(value)


def _parse_providers(
    v: _V, value: Any, key: str, allowed: set[str] = _PROVIDER_KEYS
) -> dict[str, dict[str, Any]]:
    """Provider id (lowercased) -> its settings; every value a string (None when unset)."""
    out: dict[str, dict[str, Any]] = {}
    for name, body in v.mapping(value, key).items():
        pkey = f"{key}.{name}"
        pid = str(name).strip().lower()
        if not pid or "/" in pid:
            raise v.fail(pkey, "a provider id must be a non-empty name without '/'")
        data = v.mapping(body, pkey)
        v.known(data, allowed, pkey)
        out[pid] = {k: v.string(val, f"{pkey}.{k}") for k, val in data.items()}
    return out


def _model_id(v: _V, text: str, key: str) -> tuple[str, str]:
    provider, sep, model = text.strip().partition("/")
    if not sep or not provider.strip() or not model.strip():
        raise v.fail(
            key, f"{text!r} has no provider: write provider/model, like openai/gpt-4o-mini"
        )
    return provider.strip().lower(), model.strip()


def _parse_fallbacks(v: _V, value: Any, key: str) -> dict[str, list[str]]:
    """`{stt|llm|tts: [model, ...]}`: each chain is tried in order at build time."""
    data = v.mapping(value, key)
    v.known(data, set(MODALITIES), key)
    out: dict[str, list[str]] = {}
    for modality, chain in data.items():
        ckey = f"{key}.{modality}"
        models = v.str_list(chain, ckey)
        if not models:
            raise v.fail(ckey, "an empty fallback chain builds nothing")
        for i, m in enumerate(models):
            _model_id(v, m, f"{ckey}[{i}]")
        out[modality] = [m.strip() for m in models]
    return out


def _parse_models(v: _V, value: Any, key: str) -> dict[str, ModelEntry]:
    out: dict[str, ModelEntry] = {}
    for mid, body in v.mapping(value, key).items():
        mkey = f"{key}.{mid}"
        provider, model = _model_id(v, str(mid), mkey)
        data = v.mapping(body, mkey)
        v.known(data, _MODEL_KEYS, mkey)
        modality = data.get("modality")
        if modality is None:
            raise v.fail(f"{mkey}.modality", f"is required: one of {', '.join(MODALITIES)}")
        price = data.get("price")
        if price is not None and not isinstance(price, dict | list):
            raise v.fail(f"{mkey}.price", "must be a mapping of prices, as in pricing.overrides")
        entry = ModelEntry(
            id=f"{provider}/{model}",
            provider=provider,
            model=model,
            modality=v.choice(modality, f"{mkey}.modality", MODALITIES, "llm"),
            default_voice=v.string(data.get("default_voice"), f"{mkey}.default_voice") or None,
            price=price,
        )
        if entry.id.lower() in {k.lower() for k in out}:
            raise v.fail(mkey, f"model {entry.id} is declared twice")
        out[entry.id] = entry
    return out


def _merge_model_prices(
    v: _V, models: Mapping[str, ModelEntry], overrides: dict[str, Any]
) -> dict[str, Any]:
    """`models.<id>.price` joins `pricing.overrides` (one schema, one Pricer input); the same
    model priced in both places is refused rather than silently picking one."""
    priced = {m.id: m for m in models.values() if m.price is not None}
    if not priced:
        return overrides
    from voicegw_cli.pricing import canonical_provider, parse_overrides

    source = str(v.file or "<built-in defaults>")

    def norm(key: str) -> str:
        prov, _, model = key.strip().partition("/")
        return f"{canonical_provider(prov)}/{model.strip().lower()}"

    taken = {norm(str(k)): str(k) for k in overrides}
    merged = dict(overrides)
    for mid, m in priced.items():
        if norm(mid) in taken:
            raise v.fail(
                f"models.{mid}.price",
                f"pricing.overrides.{taken[norm(mid)]} prices this model too; keep one",
            )
        try:
            parse_overrides({mid: m.price}, source=source)
        except ConfigError as exc:
            where = exc.key_path.replace(f"pricing.overrides.{mid}", f"models.{mid}.price", 1)
            raise ConfigError(exc.file, where, exc.problem) from None
        merged[mid] = m.price
    return merged


def _parse_guardrails(v: _V, value: Any, key: str) -> GuardrailSettings:
    data = v.mapping(value, key)
    v.known(data, _GUARDRAIL_KEYS, key)
    cats = v.mapping(data.get("categories"), f"{key}.categories")
    v.known(cats, set(GUARDRAIL_CATEGORIES), f"{key}.categories")
    actions: dict[str, dict[str, str]] = {s: {} for s in GUARDRAIL_SIDES}
    for c in GUARDRAIL_CATEGORIES:
        ckey = f"{key}.categories.{c}"
        raw = cats.get(c)
        if isinstance(raw, dict):  # per side: {input: block, output: redact}
            v.known(raw, set(GUARDRAIL_SIDES), ckey)
            for side in GUARDRAIL_SIDES:
                actions[side][c] = v.choice(
                    raw.get(side), f"{ckey}.{side}", GUARDRAIL_ACTIONS, "off"
                )
        else:
            action = v.choice(raw, ckey, GUARDRAIL_ACTIONS, "off")
            for side in GUARDRAIL_SIDES:
                actions[side][c] = action if side in GUARDRAIL_SCALAR_SIDES[c] else "off"
    if actions["output"]["off_topic"] not in ("off", "alert"):
        raise v.fail(
            f"{key}.categories.off_topic.output",
            "must be alert or off: judging a whole reply off-topic would hold all of it back",
        )
    topic: GuardrailTopic | None = None
    if data.get("topic") is not None:
        tkey = f"{key}.topic"
        raw_topic = v.mapping(data.get("topic"), tkey)
        v.known(raw_topic, {"description", "keywords"}, tkey)
        description = v.string(raw_topic.get("description"), f"{tkey}.description", required=True)
        keywords = v.str_list(raw_topic.get("keywords"), f"{tkey}.keywords")
        topic = GuardrailTopic(
            description=(description or "").strip(),
            keywords=tuple(k.strip().lower() for k in keywords if k.strip()),
        )
    if topic is None and any(actions[s]["off_topic"] != "off" for s in GUARDRAIL_SIDES):
        raise v.fail(
            f"{key}.topic",
            "is required when categories.off_topic is not off (a description and keywords)",
        )
    message = v.string(data.get("block_message"), f"{key}.block_message")
    if message is not None and not message.strip():
        raise v.fail(f"{key}.block_message", "must not be empty (it is what the agent says)")
    regions = [
        r.strip().upper() for r in v.str_list(data.get("phone_regions"), f"{key}.phone_regions")
    ]
    for i, region in enumerate(regions):
        if not re.fullmatch(r"[A-Z]{2}", region):
            raise v.fail(
                f"{key}.phone_regions[{i}]", f"must be a two-letter region code, got {region!r}"
            )
    return GuardrailSettings(
        enabled=v.boolean(data.get("enabled"), f"{key}.enabled", bool(data)),
        actions=actions,
        topic=topic,
        block_message=(message or DEFAULT_BLOCK_MESSAGE).strip(),
        phone_regions=tuple(regions) or ("US",),
        allow=tuple(v.str_list(data.get("allow"), f"{key}.allow")),
    )


def parse_project(
    v: _V, pid: str, body: Any, stacks: Mapping[str, Any], *, source: str = "yaml"
) -> Project:
    key = f"projects.{pid}"
    data = v.mapping(body, key)
    v.known(data, _PROJECT_KEYS, key)
    project = Project(
        id=pid,
        name=v.string(data.get("name"), f"{key}.name", required=True) or pid,
        description=v.string(data.get("description"), f"{key}.description") or "",
        daily_budget=v.money(data.get("daily_budget"), f"{key}.daily_budget"),
        monthly_budget=v.money(data.get("monthly_budget"), f"{key}.monthly_budget"),
        budget_action=v.choice(
            data.get("budget_action"), f"{key}.budget_action", BUDGET_ACTIONS, "warn"
        ),
        tags=v.str_list(data.get("tags"), f"{key}.tags"),
        providers=_parse_providers(
            v, data.get("providers"), f"{key}.providers", _PROJECT_PROVIDER_KEYS
        ),
        default_stack=v.string(data.get("default_stack"), f"{key}.default_stack") or None,
        fallback_stack=v.string(data.get("fallback_stack"), f"{key}.fallback_stack") or None,
        guardrails=_parse_guardrails(v, data.get("guardrails"), f"{key}.guardrails"),
        stt_model=v.string(data.get("stt_model"), f"{key}.stt_model"),
        llm_model=v.string(data.get("llm_model"), f"{key}.llm_model"),
        tts_model=v.string(data.get("tts_model"), f"{key}.tts_model"),
        fallbacks=_parse_fallbacks(v, data.get("fallbacks"), f"{key}.fallbacks"),
        source=source,
    )
    for attr in ("default_stack", "fallback_stack"):
        stack = getattr(project, attr)
        if stack and stack not in stacks:
            known = ", ".join(sorted(stacks)) or "none defined"
            raise v.fail(f"{key}.{attr}", f"stack {stack!r} is not in stacks: ({known})")
    if project.default_stack and (project.stt_model or project.llm_model or project.tts_model):
        raise v.fail(key, "set either default_stack or stt_model/llm_model/tts_model, not both")
    return project


def _parse_admin_keys(v: _V, value: Any) -> dict[str, AdminKeySettings]:
    """`admin_keys: {openai: "${OPENAI_ADMIN_KEY}"}`, or per provider a mapping with
    `key` and the optional `base_url`, `project_id` (Deepgram) and `version` (header)."""
    out: dict[str, AdminKeySettings] = {}
    for name, body in v.mapping(value, "admin_keys").items():
        provider = str(name)
        key = f"admin_keys.{provider}"
        if provider not in ADMIN_KEY_PROVIDERS:
            close = difflib.get_close_matches(provider, ADMIN_KEY_PROVIDERS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise v.fail(key, f"unknown provider{hint}; known: {', '.join(ADMIN_KEY_PROVIDERS)}")
        if body is None or isinstance(body, str):
            out[provider] = AdminKeySettings(provider, body or None, key)
            continue
        if not isinstance(body, dict):
            raise v.fail(key, "must be the key (a string) or a mapping with `key`")
        v.known(body, _ADMIN_KEY_FIELDS, key)
        base_url = v.string(body.get("base_url"), f"{key}.base_url") or None
        if base_url and not re.match(r"https?://[^/\s]+", base_url):
            raise v.fail(f"{key}.base_url", f"must be an http(s) URL, got {base_url!r}")
        out[provider] = AdminKeySettings(
            provider,
            v.string(body.get("key"), f"{key}.key") or None,
            f"{key}.key",
            base_url,
            v.string(body.get("project_id"), f"{key}.project_id") or None,
            v.string(body.get("version"), f"{key}.version") or None,
        )
    return out


_SHIP_KEYS = {
    "ship_to",
    "endpoint_url",
    "region",
    "segment_max_bytes",
    "segment_max_seconds",
    "ship_grace_seconds",
    "max_backlog_bytes",
    "ship_retention_days",
    "ship_compaction",
    "ship_read_only",
    "host",
}


def _parse_ship(v: _V, storage: dict[str, Any]) -> ShipSettings | None:
    extra = sorted(k for k in storage if k in _SHIP_KEYS and k != "ship_to")
    url = v.string(storage.get("ship_to"), "storage.ship_to")
    if not url:
        if extra:
            raise v.fail(f"storage.{extra[0]}", "only applies with storage.ship_to")
        return None
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SHIP_SCHEMES or not rest.strip("/"):
        raise v.fail(
            "storage.ship_to",
            f"must be s3://bucket/prefix or file:///absolute/dir, got {url!r}",
        )
    if scheme == "file" and not rest.startswith("/"):
        raise v.fail("storage.ship_to", f"a file:// target needs an absolute path, got {url!r}")

    def whole(key: str, default: int) -> int:
        n = v.number(storage.get(key), f"storage.{key}", default, positive=True)
        if n != int(n):
            raise v.fail(f"storage.{key}", f"must be a whole number of bytes, got {n}")
        return int(n)

    return ShipSettings(
        url=url.rstrip("/"),
        endpoint_url=v.string(storage.get("endpoint_url"), "storage.endpoint_url") or None,
        region=v.string(storage.get("region"), "storage.region") or None,
        segment_max_bytes=whole("segment_max_bytes", 8 << 20),
        segment_max_seconds=v.number(
            storage.get("segment_max_seconds"), "storage.segment_max_seconds", 30.0, positive=True
        ),
        grace_seconds=v.number(
            storage.get("ship_grace_seconds"), "storage.ship_grace_seconds", 120.0, positive=True
        ),
        max_backlog_bytes=whole("max_backlog_bytes", 1 << 30),
        retention_days=v.number(
            storage.get("ship_retention_days"), "storage.ship_retention_days", 7.0, positive=True
        ),
        compaction=v.choice(
            storage.get("ship_compaction"), "storage.ship_compaction", SHIP_COMPACTION, "parquet"
        ),
        host=v.string(storage.get("host"), "storage.host") or None,
        read_only=v.boolean(storage.get("ship_read_only"), "storage.ship_read_only", False),
    )


def default_project_entry() -> Project:
    return Project(id=DEFAULT_PROJECT, name="Default", description="Usage with no project set")


def parse_config(data: dict[str, Any], *, path: Path | None, root: Path) -> Config:
    v = _V(path)
    missing: list[str] = []
    v.known(data, _TOP_KEYS, "")
    data = interpolate(data, "", missing)

    stacks: dict[str, dict[str, str]] = {}
    for name, body in v.mapping(data.get("stacks"), "stacks").items():
        body = v.mapping(body, f"stacks.{name}")
        v.known(body, {"stt", "llm", "tts"}, f"stacks.{name}")
        stacks[str(name)] = {
            k: v.string(body.get(k), f"stacks.{name}.{k}")
            for k in ("stt", "llm", "tts")
            if body.get(k) is not None
        }  # type: ignore[misc]

    projects: dict[str, Project] = {}
    for pid, body in v.mapping(data.get("projects"), "projects").items():
        pid = str(pid)
        if not pid.strip():
            raise v.fail("projects", "a project id must not be empty")
        projects[pid] = parse_project(v, pid, body, stacks)
    projects.setdefault(DEFAULT_PROJECT, default_project_entry())

    default_project = v.string(data.get("default_project"), "default_project")
    if default_project and default_project not in projects:
        close = difflib.get_close_matches(default_project, list(projects), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise v.fail("default_project", f"no project {default_project!r} is defined{hint}")

    tz_name = v.string(data.get("timezone"), "timezone") or "UTC"
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise v.fail("timezone", f"unknown IANA time zone {tz_name!r}") from None

    storage = v.mapping(data.get("storage"), "storage")
    v.known(storage, {"store", "spool", *_SHIP_KEYS}, "storage")

    def rel(value: Any, key: str, default: str) -> Path:
        text = v.string(value, key) or default
        p = Path(text).expanduser()
        return p if p.is_absolute() else (root / p)

    pricing = v.mapping(data.get("pricing"), "pricing")
    v.known(pricing, {"overrides"}, "pricing")
    overrides = v.mapping(pricing.get("overrides"), "pricing.overrides")
    models = _parse_models(v, data.get("models"), "models")

    budgets_raw = v.mapping(data.get("budgets"), "budgets")
    v.known(budgets_raw, {"throttle_delay_seconds", "fail_closed", "refresh_seconds"}, "budgets")
    budgets = BudgetSettings(
        throttle_delay_seconds=v.number(
            budgets_raw.get("throttle_delay_seconds"), "budgets.throttle_delay_seconds", 2.0
        ),
        fail_closed=v.boolean(budgets_raw.get("fail_closed"), "budgets.fail_closed", False),
        refresh_seconds=v.number(
            budgets_raw.get("refresh_seconds"), "budgets.refresh_seconds", 5.0, positive=True
        ),
    )
    hook_raw = v.mapping(data.get("hook"), "hook")
    v.known(hook_raw, {"flush_interval_seconds", "mask_caller_number"}, "hook")
    hook = HookSettings(
        flush_interval_seconds=v.number(
            hook_raw.get("flush_interval_seconds"),
            "hook.flush_interval_seconds",
            1.0,
            positive=True,
        ),
        mask_caller_number=v.boolean(
            hook_raw.get("mask_caller_number"), "hook.mask_caller_number", True
        ),
    )

    config = Config(
        path=path,
        root=root,
        projects=projects,
        stacks=stacks,
        default_project=default_project or None,
        timezone=tz_name,
        tz=tz,
        store_path=rel(storage.get("store"), "storage.store", ".voicegw/usage.duckdb"),
        spool_dir=rel(storage.get("spool"), "storage.spool", ".voicegw/spool"),
        secret_key_path=rel(data.get("secret_key_file"), "secret_key_file", ".voicegw/secret.key"),
        pricing_overrides=dict(overrides),  # models' prices are merged in below
        budgets=budgets,
        hook=hook,
        providers=_parse_providers(v, data.get("providers"), "providers"),
        missing=missing,
        raw=data,
        admin_keys=_parse_admin_keys(v, data.get("admin_keys")),
        models=models,
        fallbacks=_parse_fallbacks(v, data.get("fallbacks"), "fallbacks"),
        ship=_parse_ship(v, storage),
    )
    if overrides:
        from voicegw_cli.pricing import parse_overrides

        parse_overrides(overrides, source=str(path or "<built-in defaults>"))
    config.pricing_overrides = _merge_model_prices(v, models, config.pricing_overrides)
    return config


def merged_projects(config: Config, conn: Any) -> dict[str, Project]:
    """YAML projects plus runtime (db) projects; YAML wins on a conflicting id."""
    from voicegw_cli.projects import load_db_projects

    merged = dict(config.projects)
    for project in load_db_projects(conn):
        if project.id not in merged:
            merged[project.id] = replace(project, source="db")
    return merged


# ---------------------------------------------------------------- active project

_active: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "voicegw_active_project", default=None
)


def set_project(name: str | None) -> contextvars.Token[str | None]:
    """Set the project for this asyncio context only; sibling tasks keep their own."""
    return _active.set(name)


def reset_project(token: contextvars.Token[str | None]) -> None:
    _active.reset(token)


def current_project() -> str | None:
    return _active.get()


def resolve_project(explicit: str | None = None, config: Config | None = None) -> str:
    """Explicit, then set_project(), then $VOICEGW_ACTIVE_PROJECT, then default_project,
    then the literal "default"."""
    if explicit:
        return explicit
    ctx = _active.get()
    if ctx:
        return ctx
    env = os.environ.get("VOICEGW_ACTIVE_PROJECT")
    if env:
        return env
    if config is not None and config.default_project:
        return config.default_project
    return DEFAULT_PROJECT
