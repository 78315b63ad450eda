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
    "secret_key_file",
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
}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


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
    guardrails: dict[str, Any] = field(default_factory=dict)
    stt_model: str | None = None
    llm_model: str | None = None
    tts_model: str | None = None
    source: str = "yaml"


@dataclass(slots=True)
class BudgetSettings:
    throttle_delay_seconds: float = 2.0
    fail_closed: bool = False
    refresh_seconds: float = 5.0


@dataclass(slots=True)
class HookSettings:
    flush_interval_seconds: float = 1.0


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


def _parse_providers(v: _V, value: Any, key: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, body in v.mapping(value, key).items():
        out[str(name)] = dict(v.mapping(body, f"{key}.{name}"))
    return out


def _parse_guardrails(v: _V, value: Any, key: str) -> dict[str, Any]:
    data = v.mapping(value, key)
    v.known(data, {"enabled", "categories"}, key)
    cats = v.mapping(data.get("categories"), f"{key}.categories")
    v.known(cats, set(GUARDRAIL_CATEGORIES), f"{key}.categories")
    categories = {
        c: v.choice(cats.get(c), f"{key}.categories.{c}", GUARDRAIL_ACTIONS, "off")
        for c in GUARDRAIL_CATEGORIES
    }
    return {
        "enabled": v.boolean(data.get("enabled"), f"{key}.enabled", bool(data)),
        "categories": categories,
    }


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
        providers=_parse_providers(v, data.get("providers"), f"{key}.providers"),
        default_stack=v.string(data.get("default_stack"), f"{key}.default_stack") or None,
        fallback_stack=v.string(data.get("fallback_stack"), f"{key}.fallback_stack") or None,
        guardrails=_parse_guardrails(v, data.get("guardrails"), f"{key}.guardrails"),
        stt_model=v.string(data.get("stt_model"), f"{key}.stt_model"),
        llm_model=v.string(data.get("llm_model"), f"{key}.llm_model"),
        tts_model=v.string(data.get("tts_model"), f"{key}.tts_model"),
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
    v.known(hook_raw, {"flush_interval_seconds"}, "hook")
    hook = HookSettings(
        flush_interval_seconds=v.number(
            hook_raw.get("flush_interval_seconds"),
            "hook.flush_interval_seconds",
            1.0,
            positive=True,
        )
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
        pricing_overrides=dict(overrides),
        budgets=budgets,
        hook=hook,
        providers=_parse_providers(v, data.get("providers"), "providers"),
        missing=missing,
        raw=data,
        ship=_parse_ship(v, storage),
    )
    if overrides:
        from voicegw_cli.pricing import parse_overrides

        parse_overrides(overrides, source=str(path or "<built-in defaults>"))
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
