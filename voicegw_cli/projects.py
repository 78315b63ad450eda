"""Runtime projects: create, update and delete projects in the store, their provider keys,
and the audit log of every change.

The CLI and the MCP server both call these functions, so a rule (a stack and explicit models
together are refused, YAML projects are read-only, ...) is enforced once. Every failure is a
`VoicegwError` carrying an MCP error `code`, so the CLI gets its exit code and the MCP
server its error payload from the same exception.

Runtime projects are merged with `voicegw.yaml` by `config.merged_projects`; YAML wins on a
conflicting id. Deleting a project removes its configuration and provider keys, never its
line items: spend already recorded stays attributable.
"""

from __future__ import annotations

import difflib
import getpass
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from voicegw_cli import clock
from voicegw_cli.errors import NotFoundError, UsageError, VoicegwError

if TYPE_CHECKING:
    from voicegw_cli.config import Config, Project
    from voicegw_cli.secrets import Keyring

BUDGET_ACTIONS = ("warn", "throttle", "block")
MODEL_FIELDS = ("stt_model", "llm_model", "tts_model")
#: Fields `update_project` may change.
EDITABLE = (
    "name",
    "description",
    "daily_budget",
    "monthly_budget",
    "budget_action",
    "tags",
    "default_stack",
    *MODEL_FIELDS,
)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_KEBAB = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_PROVIDER = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
#: Audit values under these keys are replaced, whatever a caller passes in.
_SECRET_KEYS = re.compile(r"(api_?key|secret|token|password|ciphertext|credential)", re.I)
_COLUMNS = (
    "id, name, description, daily_budget, monthly_budget, budget_action, tags, "
    "default_stack, stt_model, llm_model, tts_model, created_at, updated_at"
)


# ------------------------------------------------------------------ errors


class _Coded:
    """An error with the MCP error code and structured details the seeds specify."""

    code = ""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)  # type: ignore[call-arg]
        self.details = details


class ProjectNotFoundError(_Coded, NotFoundError):
    code = "PROJECT_NOT_FOUND"


class ProjectExistsError(_Coded, VoicegwError):
    """The id is taken (in voicegw.yaml or the store). Exit 1: the request was sound but
    the state refuses it."""

    exit_code = 1
    code = "PROJECT_ALREADY_EXISTS"


class ProjectValidationError(_Coded, UsageError):
    code = "VALIDATION_ERROR"


class ModelNotFoundError(_Coded, UsageError):
    code = "MODEL_NOT_FOUND"


class ReadOnlyProjectError(_Coded, UsageError):
    code = "READ_ONLY_RESOURCE"


# ------------------------------------------------------------------ helpers


def _now() -> datetime:
    return clock.utcnow_naive()


def _plain(value: Decimal) -> Decimal:
    """5.000000 -> 5, 2.500000 -> 2.5 (DECIMAL(18,6) pads; people should not see that)."""
    return value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()


def default_actor(channel: str = "cli") -> str:
    """Who made a change, for the audit log: the channel and the OS user."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name (containers without a passwd entry)
        user = "unknown"
    return f"{channel}:{user}"


def closest(word: str, known: Iterable[str]) -> list[str]:
    return difflib.get_close_matches(word, sorted(known), n=3, cutoff=0.5)


def _hint(word: str, known: Iterable[str]) -> str:
    known = sorted(known)
    close = closest(word, known)
    if close:
        return f"; did you mean {', '.join(close)}?"
    return f" (known: {', '.join(known)})" if known else ""


def is_kebab_case(project_id: str) -> bool:
    return bool(_KEBAB.fullmatch(project_id))


def project_record(p: Project) -> dict[str, Any]:
    """The project's configuration as plain data (no provider keys): for output and audit."""
    return {
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "daily_budget": p.daily_budget,
        "monthly_budget": p.monthly_budget,
        "budget_action": p.budget_action,
        "tags": list(p.tags),
        "default_stack": p.default_stack,
        "stt_model": p.stt_model,
        "llm_model": p.llm_model,
        "tts_model": p.tts_model,
        "source": p.source,
    }


# ------------------------------------------------------------------ reading


def _row_to_project(row: tuple[Any, ...]) -> Project:
    from voicegw_cli.config import Project

    try:
        tags = json.loads(row[6]) if row[6] else []
    except ValueError:
        tags = []
    return Project(
        id=row[0],
        name=row[1],
        description=row[2] or "",
        daily_budget=_plain(Decimal(row[3] or 0)),
        monthly_budget=_plain(Decimal(row[4] or 0)),
        budget_action=row[5] or "warn",
        tags=[str(t) for t in tags] if isinstance(tags, list) else [],
        default_stack=row[7] or None,
        stt_model=row[8] or None,
        llm_model=row[9] or None,
        tts_model=row[10] or None,
        source="db",
    )


def load_db_projects(conn: Any) -> list[Project]:
    """Every runtime project in the store, by id (for `config.merged_projects`)."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM projects ORDER BY id").fetchall()
    return [_row_to_project(r) for r in rows]


def db_project_times(conn: Any, project_id: str) -> tuple[datetime, datetime] | None:
    """(created_at, updated_at) as aware UTC, or None when not a runtime project."""
    rows = conn.execute(
        "SELECT created_at, updated_at FROM projects WHERE id = ?", [project_id]
    ).fetchall()
    if not rows:
        return None
    created, updated = rows[0]
    return created.replace(tzinfo=UTC), (updated or created).replace(tzinfo=UTC)


def all_projects(config: Config, conn: Any) -> dict[str, Project]:
    from voicegw_cli.config import merged_projects

    return merged_projects(config, conn)


def get_project(config: Config, conn: Any, project_id: str) -> Project:
    """A configured project (YAML or runtime); ProjectNotFoundError names close ids."""
    projects = all_projects(config, conn)
    p = projects.get(project_id)
    if p is not None:
        return p
    msg = f"no project {project_id!r}{_hint(project_id, projects)}"
    used = conn.execute(
        "SELECT count(*) FROM line_items WHERE project = ?", [project_id]
    ).fetchall()[0][0]
    if used:
        msg += (
            f" ({used} line item(s) carry this id, but no project is configured for it;"
            " create it to give it a budget)"
        )
    raise ProjectNotFoundError(
        msg, project_id=project_id, suggestions=closest(project_id, projects)
    )


# ------------------------------------------------------------------ validation


def _money(value: Any, field: str) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, bool):
        raise ProjectValidationError(f"{field} must be a number of US dollars", field=field)
    try:
        amount = Decimal(str(value).strip().lstrip("$"))
    except InvalidOperation:
        raise ProjectValidationError(
            f"{field} must be a number of US dollars, got {value!r}", field=field
        ) from None
    if not amount.is_finite() or amount < 0:
        raise ProjectValidationError(f"{field} must be >= 0, got {value}", field=field)
    if amount >= Decimal(10) ** 12:
        raise ProjectValidationError(f"{field} is too large: {value}", field=field)
    if amount != amount.quantize(Decimal("0.000001")):
        raise ProjectValidationError(
            f"{field} has more than 6 decimal places: {value}", field=field
        )
    return _plain(amount)


def _action(value: Any) -> str:
    action = "warn" if value in (None, "") else str(value).strip().lower()
    if action not in BUDGET_ACTIONS:
        raise ProjectValidationError(
            f"budget_action must be one of {', '.join(BUDGET_ACTIONS)}, got {value!r}",
            field="budget_action",
        )
    return action


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        raise ProjectValidationError("tags must be a list of strings", field="tags")
    out: list[str] = []
    for tag in value:
        if not isinstance(tag, str):
            raise ProjectValidationError("tags must be a list of strings", field="tags")
        tag = tag.strip()
        if tag and tag not in out:
            out.append(tag)
    return out


def _text(value: Any, field: str, *, required: bool = False, limit: int = 2000) -> str:
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise ProjectValidationError(f"{field} is required and must not be empty", field=field)
    if len(text) > limit:
        raise ProjectValidationError(f"{field} is longer than {limit} characters", field=field)
    return text


def validate_project_id(project_id: str) -> str:
    if not isinstance(project_id, str) or not _ID.fullmatch(project_id):
        raise ProjectValidationError(
            f"invalid project id {project_id!r}: use letters, digits, '-', '_' or '.', "
            "starting with a letter or digit, at most 64 characters (kebab-case like "
            "'customer-support' is recommended)",
            field="project_id",
        )
    return project_id


def split_model_id(model_id: str) -> tuple[str, str]:
    provider, sep, model = model_id.strip().partition("/")
    if not sep or not provider or not model:
        raise ModelNotFoundError(
            f"model id {model_id!r} must be provider/model, like deepgram/nova-3",
            model=model_id,
        )
    return provider, model


def model_known(config: Config, model_id: str, when: datetime | None = None) -> bool:
    """True when pricing can price this provider/model (an override or a price list), or
    voicegw.yaml declares it under `models:`."""
    provider, model = split_model_id(model_id)
    overrides = {str(k).lower() for k in (config.pricing_overrides or {})}
    if model_id.lower() in overrides:
        return True
    if model_id.strip().lower() in {m.lower() for m in getattr(config, "models", {})}:
        return True
    try:
        from voicegw_cli.pricing import Pricer, canonical_provider
    except ImportError:  # pragma: no cover - pricing room missing: nothing is known
        return False
    provider = canonical_provider(provider)
    if f"{provider}/{model}".lower() in overrides:
        return True
    pricer = Pricer(config.pricing_overrides or None)
    try:
        return pricer.rate_for(provider, model, when or clock.now()) is not None
    except (LookupError, ValueError):  # an unknown provider may raise rather than say None
        return False


def _check_routing(config: Config, values: Mapping[str, Any]) -> None:
    stack = values.get("default_stack")
    models = {f: values.get(f) for f in MODEL_FIELDS if values.get(f)}
    if stack and models:
        raise ProjectValidationError(
            "set either default_stack or stt_model/llm_model/tts_model, not both",
            field="default_stack",
        )
    if stack and stack not in config.stacks:
        known = ", ".join(sorted(config.stacks)) or "none defined in voicegw.yaml"
        close = closest(stack, config.stacks)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ProjectValidationError(
            f"stack {stack!r} is not in stacks: ({known}){hint}",
            field="default_stack",
            suggestions=closest(stack, config.stacks),
        )
    for field, model_id in models.items():
        if not model_known(config, model_id):
            raise ModelNotFoundError(
                f"{field} {model_id!r} is not a model pricing knows (add a "
                "pricing.overrides entry in voicegw.yaml for a negotiated or custom model)",
                field=field,
                model=model_id,
            )


def _clean(config: Config, values: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise and validate configuration values (only the keys given)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "name":
            out[key] = _text(value, "name", required=True, limit=200)
        elif key == "description":
            out[key] = _text(value, "description")
        elif key in ("daily_budget", "monthly_budget"):
            out[key] = _money(value, key)
        elif key == "budget_action":
            out[key] = _action(value)
        elif key == "tags":
            out[key] = _tags(value)
        elif key == "default_stack" or key in MODEL_FIELDS:
            out[key] = _text(value, key, limit=200) or None
        else:
            raise ProjectValidationError(f"unknown project field {key!r}", field=key)
    return out


# ------------------------------------------------------------------ audit


def _scrub(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: ("***" if _SECRET_KEYS.search(str(k)) else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def record_audit(
    conn: Any,
    action: str,
    target: str | None,
    old: Any,
    new: Any,
    actor: str,
    *,
    now: datetime | None = None,
) -> None:
    """Append one change to the audit log. Values under secret-looking keys are dropped
    here, whatever the caller passed, so the log can be shared."""
    conn.execute(
        "INSERT INTO audit_log (ts, action, target, old_value, new_value, actor) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            now or _now(),
            action,
            target,
            None if old is None else json.dumps(_scrub(old)),
            None if new is None else json.dumps(_scrub(new)),
            actor,
        ],
    )


def audit_entries(
    conn: Any,
    *,
    limit: int = 50,
    target: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    after: tuple[datetime, int] | None = None,
) -> list[dict[str, Any]]:
    """Newest first. `target` matches a project id, also as `project/provider`; `after` =
    (ts, id) of the last entry of the previous page."""
    clauses, params = [], []
    if target:
        clauses.append("(target = ? OR target LIKE ? ESCAPE '\\')")
        params += [target, target.replace("%", r"\%").replace("_", r"\_") + "/%"]
    if action:
        clauses.append("action LIKE ? ESCAPE '\\'")
        params.append(action.replace("%", r"\%").replace("_", r"\_") + "%")
    if since is not None:
        clauses.append("ts >= ?")
        params.append(since)
    if after is not None:
        ts, rid = after
        ts = ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts
        clauses.append("(ts < ? OR (ts = ? AND id < ?))")
        params += [ts, ts, rid]
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(
        f"SELECT id, ts, action, target, old_value, new_value, actor FROM audit_log {where} "
        f"ORDER BY ts DESC, id DESC LIMIT {max(1, int(limit))}",
        params,
    ).fetchall()
    out = []
    for rid, ts, act, tgt, old, new, actor in rows:
        out.append(
            {
                "id": rid,
                "ts": ts.replace(tzinfo=UTC),
                "action": act,
                "target": tgt,
                "old_value": json.loads(old) if old else None,
                "new_value": json.loads(new) if new else None,
                "actor": actor,
            }
        )
    return out


def describe_change(entry: Mapping[str, Any]) -> str:
    """One line for people: `daily_budget: 5 -> 10; tags: [] -> [prod]`."""
    old, new = entry.get("old_value"), entry.get("new_value")
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        keys = [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]
        return "; ".join(f"{k}: {_short(old.get(k))} -> {_short(new.get(k))}" for k in keys)
    data = new if new is not None else old
    if isinstance(data, Mapping):
        return ", ".join(f"{k}={_short(v)}" for k, v in data.items() if v not in (None, "", []))
    return "" if data is None else _short(data)


def _short(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


# ------------------------------------------------------------------ changes


def _require_db_project(config: Config, conn: Any, project_id: str, verb: str) -> Project:
    p = get_project(config, conn, project_id)
    if p.source != "db":
        where = config.path or "voicegw.yaml"
        raise ReadOnlyProjectError(
            f"project {project_id!r} is defined in {where}; {verb} it by editing that file",
            project_id=project_id,
            source=p.source,
        )
    return p


def create_project(
    config: Config,
    conn: Any,
    project_id: str,
    *,
    name: str,
    description: str | None = "",
    daily_budget: Any = 0,
    monthly_budget: Any = 0,
    budget_action: str | None = "warn",
    tags: Any = None,
    default_stack: str | None = None,
    stt_model: str | None = None,
    llm_model: str | None = None,
    tts_model: str | None = None,
    actor: str | None = None,
    now: datetime | None = None,
) -> Project:
    """Create a runtime project. Checks, in order: id format, id free, field values, then
    routing (stack xor models; the stack exists; each model is priced)."""
    validate_project_id(project_id)
    existing = all_projects(config, conn).get(project_id)
    if existing is not None:
        raise ProjectExistsError(
            f"project {project_id!r} already exists (source: {existing.source})",
            project_id=project_id,
            source=existing.source,
        )
    values = _clean(
        config,
        {
            "name": name,
            "description": description,
            "daily_budget": daily_budget,
            "monthly_budget": monthly_budget,
            "budget_action": budget_action,
            "tags": tags,
            "default_stack": default_stack,
            "stt_model": stt_model,
            "llm_model": llm_model,
            "tts_model": tts_model,
        },
    )
    _check_routing(config, values)
    ts = now or _now()
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            f"INSERT INTO projects ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                project_id,
                values["name"],
                values["description"],
                values["daily_budget"],
                values["monthly_budget"],
                values["budget_action"],
                json.dumps(values["tags"]),
                values["default_stack"],
                values["stt_model"],
                values["llm_model"],
                values["tts_model"],
                ts,
                ts,
            ],
        )
        project = _row_to_project(
            conn.execute(f"SELECT {_COLUMNS} FROM projects WHERE id = ?", [project_id]).fetchall()[
                0
            ]
        )
        record_audit(
            conn,
            "project.create",
            project_id,
            None,
            project_record(project),
            actor or default_actor(),
            now=ts,
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return project


@dataclass(slots=True)
class UpdatePlan:
    """What `update_project` changes: each field's value before and after."""

    project_id: str
    before: dict[str, Any]
    after: dict[str, Any]
    changed: list[str]

    def as_rows(self) -> list[dict[str, Any]]:
        return [{"field": k, "old": self.before[k], "new": self.after[k]} for k in self.changed]


def plan_update(
    config: Config, conn: Any, project_id: str, changes: Mapping[str, Any]
) -> tuple[Project, UpdatePlan]:
    """Check an update and say what it would change, writing nothing.

    Giving `default_stack` switches routing to that stack (explicit models are cleared).
    Giving a model switches to explicit models: the stack's other models are kept as
    explicit ones (changing the STT of a `premium` project keeps premium's LLM and TTS).
    Giving both is refused. An empty string clears a text field."""
    current = _require_db_project(config, conn, project_id, "change")
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise ProjectValidationError(
            f"cannot change {', '.join(unknown)}; editable: {', '.join(EDITABLE)}",
            field=unknown[0],
        )
    if not changes:
        raise ProjectValidationError("nothing to change: give at least one field")
    values = _clean(config, changes)
    stack_given = values.get("default_stack")
    models_given = [f for f in MODEL_FIELDS if values.get(f)]
    if stack_given and models_given:
        raise ProjectValidationError(
            "set either default_stack or stt_model/llm_model/tts_model, not both",
            field="default_stack",
        )
    before = project_record(current)
    after = {**before, **values}
    if stack_given:
        after.update({f: None for f in MODEL_FIELDS})
    if models_given:
        stack = config.stacks.get(before.get("default_stack") or "", {})
        for f in MODEL_FIELDS:  # keep the rest of the stack the project was on
            if f not in values and not after.get(f):
                after[f] = stack.get(f.removesuffix("_model"))
        after["default_stack"] = None
    if any(k in values for k in ("default_stack", *MODEL_FIELDS)):  # routing is changing
        _check_routing(config, {k: after[k] for k in ("default_stack", *MODEL_FIELDS)})
    changed = [k for k in EDITABLE if before[k] != after[k]]
    return current, UpdatePlan(project_id, before, after, changed)


def update_project(
    config: Config,
    conn: Any,
    project_id: str,
    changes: Mapping[str, Any],
    *,
    actor: str | None = None,
    now: datetime | None = None,
) -> Project:
    """Change fields of a runtime project (see `plan_update` for the rules), in one
    transaction with its audit entry."""
    current, plan = plan_update(config, conn, project_id, changes)
    before, after, changed = plan.before, plan.after, plan.changed
    if not changed:
        return current
    ts = now or _now()
    sets = ", ".join(f"{k} = ?" for k in changed)
    params = [json.dumps(after[k]) if k == "tags" else after[k] for k in changed]
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            f"UPDATE projects SET {sets}, updated_at = ? WHERE id = ?", [*params, ts, project_id]
        )
        record_audit(
            conn,
            "project.update",
            project_id,
            {k: before[k] for k in changed},
            {k: after[k] for k in changed},
            actor or default_actor(),
            now=ts,
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return get_project(config, conn, project_id)


@dataclass(slots=True)
class DeletePreview:
    """What deleting a project touches. Line items stay; spend remains attributable."""

    project_id: str
    name: str
    total_spend_usd: Decimal
    total_items: int
    last_activity: datetime | None  # aware UTC
    provider_keys: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "name": self.name,
            "total_spend_usd": self.total_spend_usd,
            "total_items": self.total_items,
            "last_activity": self.last_activity,
            "provider_keys": self.provider_keys,
        }


def delete_preview(config: Config, conn: Any, project_id: str) -> DeletePreview:
    """All-time spend, line items and last activity of a deletable (runtime) project."""
    from voicegw_cli.store.queries import project_stats

    p = _require_db_project(config, conn, project_id, "delete")
    stats = project_stats(conn, project_id)
    last = stats["last_activity"]
    keys = conn.execute(
        "SELECT count(*) FROM provider_keys WHERE project = ?", [project_id]
    ).fetchall()[0][0]
    return DeletePreview(
        project_id=project_id,
        name=p.name,
        total_spend_usd=_plain(Decimal(stats["spend"])),
        total_items=int(stats["items"]),
        last_activity=last.replace(tzinfo=UTC) if last is not None else None,
        provider_keys=int(keys),
    )


def delete_project(
    config: Config,
    conn: Any,
    project_id: str,
    *,
    actor: str | None = None,
    now: datetime | None = None,
) -> DeletePreview:
    """Remove a runtime project's configuration and provider keys; keep its line items."""
    preview = delete_preview(config, conn, project_id)
    project = get_project(config, conn, project_id)
    ts = now or _now()
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute("DELETE FROM provider_keys WHERE project = ?", [project_id])
        conn.execute("DELETE FROM projects WHERE id = ?", [project_id])
        old = project_record(project)
        old.update(
            provider_keys=preview.provider_keys,
            total_spend_usd=preview.total_spend_usd,
            total_items=preview.total_items,
        )
        record_audit(
            conn, "project.delete", project_id, old, None, actor or default_actor(), now=ts
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return preview


# ------------------------------------------------------------------ provider keys


def validate_provider(provider: str) -> str:
    name = (provider or "").strip().lower()
    if not _PROVIDER.fullmatch(name):
        raise ProjectValidationError(
            f"invalid provider name {provider!r}: use lowercase letters, digits, '-', '_' or '.'",
            field="provider",
        )
    return name


def known_providers(config: Config) -> list[str]:
    """Provider ids a key can be stored for: every provider voicegw knows how to bill, plus
    any named under `providers:` in voicegw.yaml (top level or a project's)."""
    from voicegw_cli.pricing.providers import billing_providers

    names = set(billing_providers()) | set(config.providers)
    for p in config.projects.values():
        names.update(p.providers)
    return sorted(names)


def check_key_target(config: Config, conn: Any, project_id: str, provider: str) -> str:
    """Fail before anyone types a key: the project must be a runtime project and the
    provider one voicegw knows (a typo like `opnai` would store a key nothing uses)."""
    _require_db_project(config, conn, project_id, "set provider keys for")
    name = validate_provider(provider)
    known = known_providers(config)
    if name not in known:
        close = difflib.get_close_matches(name, known, n=2, cutoff=0.6)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise ProjectValidationError(
            f"unknown provider {provider!r}{hint}; known: {', '.join(known)} "
            "(add others under providers: in voicegw.yaml)",
            field="provider",
        )
    return name


def set_provider_key(
    config: Config,
    conn: Any,
    project_id: str,
    provider: str,
    key: str,
    *,
    keyring: Keyring | None = None,
    actor: str | None = None,
    now: datetime | None = None,
) -> str:
    """Store (or replace) a project's provider key, encrypted; returns it masked."""
    from voicegw_cli.secrets import load_keyring, mask

    provider = check_key_target(config, conn, project_id, provider)
    key = (key or "").strip()
    if not key:
        raise ProjectValidationError("the key is empty", field="key")
    if any(c in key for c in "\r\n\t ") or not key.isprintable():
        raise ProjectValidationError(
            "the key contains whitespace or control characters", field="key"
        )
    keyring = keyring or load_keyring(config, create=True)
    token = keyring.encrypt(key)
    ts = now or _now()
    existed = bool(
        conn.execute(
            "SELECT count(*) FROM provider_keys WHERE project = ? AND provider = ?",
            [project_id, provider],
        ).fetchall()[0][0]
    )
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            "INSERT OR REPLACE INTO provider_keys (project, provider, ciphertext, updated_at) "
            "VALUES (?, ?, ?, ?)",
            [project_id, provider, token, ts],
        )
        record_audit(
            conn,
            "provider_key.set",
            f"{project_id}/{provider}",
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


def get_provider_key(
    config: Config, conn: Any, project: str, provider: str, keyring: Keyring | None = None
) -> str | None:
    """The decrypted key, for code that calls the provider; None when none is stored."""
    from voicegw_cli.secrets import load_keyring

    rows = conn.execute(
        "SELECT ciphertext FROM provider_keys WHERE project = ? AND provider = ?",
        [project, validate_provider(provider)],
    ).fetchall()
    if not rows:
        return None
    keyring = keyring or load_keyring(config)
    return keyring.decrypt(rows[0][0], what=f"the {provider} key of {project!r}")


def masked_provider_keys(config: Config, conn: Any, project: str) -> list[dict[str, Any]]:
    """Stored keys of a project, masked. Without a usable secret the key shows as
    `(encrypted)` or `(unreadable: ...)` rather than failing the whole listing."""
    from voicegw_cli.secrets import SecretKeyError, load_keyring, mask

    rows = conn.execute(
        "SELECT provider, ciphertext, updated_at FROM provider_keys WHERE project = ? "
        "ORDER BY provider",
        [project],
    ).fetchall()
    if not rows:
        return []
    try:
        keyring: Keyring | None = load_keyring(config)
    except SecretKeyError:
        keyring = None
    out = []
    for provider, token, updated in rows:
        if keyring is None:
            shown = "(encrypted)"
        else:
            try:
                shown = mask(keyring.decrypt(token))
            except SecretKeyError:
                shown = "(unreadable with this secret)"
        out.append(
            {
                "provider": provider,
                "key": shown,
                "source": "db",
                "updated_at": updated.replace(tzinfo=UTC) if updated else None,
            }
        )
    return out
