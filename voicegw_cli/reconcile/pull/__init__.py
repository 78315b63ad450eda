"""`voicegw pull`: fetch a provider's usage and cost pages over its admin API and keep them.

What is fetched is exactly what the reconcile readers read, through the endpoints
docs/reconcile.md names (one small module per provider: `openai`, `anthropic`,
`deepgram`, `elevenlabs`, `cartesia`). Each module plans its calls within the API's
documented limits (bucket counts, spans); `pull` makes them with `client.Fetcher`
(timeouts, retries honouring Retry-After, one-line errors), follows every page to the
end and saves each answer byte for byte with `layout.PullWriter`, which renames the
folder into place only when the pull is complete.

`--project X` scopes the provider side through `projects.X.providers.<provider>` in
voicegw.yaml: OpenAI `project_id` (`project_ids=`), Anthropic `workspace_id`
(`workspace_ids[]=`), Deepgram `project_id` (the Deepgram project), Cartesia `api_key_id`.
ElevenLabs cannot be scoped.
"""

from __future__ import annotations

import importlib
import os
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from voicegw_cli import __version__, clock
from voicegw_cli.config import ADMIN_KEY_PROVIDERS, AdminKeySettings
from voicegw_cli.errors import ConfigError, FetchError, UsageError
from voicegw_cli.reconcile.pull.layout import (
    MANIFEST,
    PullWriter,
    page_files,
    pull_dir,
    read_manifest,
    verify,
)
from voicegw_cli.reconcile.pull.plan import Target

if TYPE_CHECKING:
    from voicegw_cli.admin_keys import AdminKey
    from voicegw_cli.config import Config
    from voicegw_cli.reconcile.pull.client import RetryPolicy

PROVIDERS: tuple[str, ...] = ADMIN_KEY_PROVIDERS
#: Overrides a provider's base URL for one run (tests, proxies): VOICEGW_OPENAI_ADMIN_URL...
URL_ENV = "VOICEGW_{}_ADMIN_URL"
MAX_PAGES = 10_000  # per call: a provider that never stops paginating is an error


def provider_module(provider: str) -> ModuleType:
    if provider not in PROVIDERS:
        raise UsageError(
            f"voicegw cannot pull from {provider!r}: no usage API it knows; pull from "
            f"{', '.join(PROVIDERS)}, or reconcile a file with --provider-usage-file "
            "(docs/reconcile.md)"
        )
    return importlib.import_module(f"voicegw_cli.reconcile.pull.{provider}")


def settings_for(config: Config, provider: str) -> AdminKeySettings:
    return config.admin_keys.get(provider) or AdminKeySettings(provider)


def base_url(config: Config, provider: str) -> str:
    """$VOICEGW_<P>_ADMIN_URL, else admin_keys.<p>.base_url, else the provider's own.

    A trailing `/v1` is accepted (SDK-style base URLs) where every path starts with it."""
    module = provider_module(provider)
    env = os.environ.get(URL_ENV.format(provider.upper()), "").strip()
    url = (env or settings_for(config, provider).base_url or module.BASE_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        source = URL_ENV.format(provider.upper()) if env else f"admin_keys.{provider}.base_url"
        raise ConfigError(config.path, source, f"must be an http(s) URL, got {url!r}")
    if module.V1 and url.endswith("/v1"):
        url = url[: -len("/v1")]
    return url


def project_scope(config: Config, provider: str, project: str | None) -> dict[str, str]:
    """The provider-side filter for `--project`, from voicegw.yaml; {} without a project."""
    if not project:
        return {}
    module = provider_module(provider)
    if module.SCOPE_FIELD is None:
        raise UsageError(
            f"the {provider} usage API cannot be limited to one project; pull without --project"
        )
    key = f"projects.{project}.providers.{provider}.{module.SCOPE_FIELD}"
    p = config.projects.get(project)
    value = (p.providers.get(provider) or {}).get(module.SCOPE_FIELD) if p else None
    if not value:
        where = "is not in voicegw.yaml" if p is None else "has none"
        raise ConfigError(
            config.path or "<built-in defaults>",
            key,
            f"not set (project {project!r} {where}): set it to the {provider} "
            f"{module.SCOPE_FIELD} whose usage is this project's, or pull without --project",
        )
    return {module.SCOPE_FIELD: str(value)}


def default_root(config: Config) -> Path:
    """Pulls live beside the store unless `-o DIR` says otherwise."""
    return config.store_path.parent / "pulls"


@dataclass
class PullResult:
    """A complete pull on disk (just fetched, or an earlier one reused)."""

    provider: str
    start: date
    end: date
    project: str | None
    directory: Path
    manifest: dict[str, Any]
    reused: bool = False
    key: AdminKey | None = field(default=None, repr=False)

    @property
    def pages(self) -> list[dict[str, Any]]:
        return list(self.manifest.get("pages") or [])

    @property
    def notes(self) -> list[str]:
        return list(self.manifest.get("notes") or [])

    def export_files(self) -> list[Path]:
        """The saved pages for `read_exports` (pages without any data are left out)."""
        return list(page_files(self.directory, self.manifest))

    def by_kind(self) -> list[dict[str, Any]]:
        """One row per endpoint: pages, empty pages, bytes."""
        rows: dict[str, dict[str, Any]] = {}
        for p in self.pages:
            row = rows.setdefault(
                p["kind"], {"kind": p["kind"], "pages": 0, "empty_pages": 0, "bytes": 0}
            )
            row["pages"] += 1
            row["empty_pages"] += 1 if p.get("empty") else 0
            row["bytes"] += int(p.get("bytes") or 0)
        return list(rows.values())

    def as_dict(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "provider": self.provider,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "project": self.project,
            "scope": m.get("scope") or {},
            "directory": str(self.directory),
            "manifest": str(self.directory / MANIFEST),
            "complete": m.get("complete") is True,
            "reused": self.reused,
            "base_url": m.get("base_url"),
            "fetched_at": m.get("fetched_at"),
            "key": self.key.masked if self.key else None,
            "key_source": m.get("key_source"),
            "requests": m.get("requests"),
            "retries": m.get("retries"),
            "page_count": m.get("page_count"),
            "sha256": m.get("sha256"),
            "kinds": self.by_kind(),
            "pages": self.pages,
            "notes": self.notes,
        }


def _check_range(start: date, end: date) -> None:
    if start > end:
        raise UsageError(f"--start {start} is after --end {end}")


def pull(
    config: Config,
    provider: str,
    start: date,
    end: date,
    *,
    project: str | None = None,
    root: Path | None = None,
    key: AdminKey | None = None,
    policy: RetryPolicy | None = None,
    sleep: Any = time.sleep,
) -> PullResult:
    """Fetch every page `provider`'s readers need for the inclusive UTC days start..end
    and save them under `root/<provider>/<start>_<end>[_<project>]/`.

    Raises FetchError (exit 3) for a refused key, a network failure or an unusable answer;
    then nothing new is left in place (an earlier complete pull of the range stays)."""
    from voicegw_cli.admin_keys import key_problem, resolve_admin_key
    from voicegw_cli.reconcile.pull.client import Fetcher

    _check_range(start, end)
    module = provider_module(provider)
    scope = project_scope(config, provider, project)
    url = base_url(config, provider)
    key = key or resolve_admin_key(config, provider)
    problem = key_problem(provider, key.key)
    if problem:
        raise FetchError(f"{provider}: the key {key.masked} from {key.source}: {problem}")
    settings = settings_for(config, provider)
    target = Target(
        provider, start, end, scope, project_id=settings.project_id, version=settings.version
    )
    root = Path(root) if root is not None else default_root(config)
    final = pull_dir(root, provider, start, end, project)
    from voicegw_cli.reconcile.pull.client import public_url

    manifest: dict[str, Any] = {
        "provider": provider,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "days": "inclusive UTC days",
        "project": project,
        "scope": scope,
        "base_url": public_url(url),
        "key_source": key.source,
        "voicegw": __version__,
        "started_at": clock.now().isoformat(timespec="seconds"),
    }
    notes: list[str] = []
    today = clock.now().date()
    if end >= today:
        notes.append(
            f"pulled on {today} (UTC), before the period ended: the provider's figures for "
            f"{max(start, today)}..{end} are still growing"
        )
    with Fetcher(provider, url, module.headers(key.key, target), key, policy, sleep=sleep) as f:
        writer = PullWriter(final, manifest)
        try:
            if hasattr(module, "prepare"):
                target = module.prepare(target, f.get_json)
                if target.project_id:
                    writer.manifest["provider_project_id"] = target.project_id
            if hasattr(module, "notes"):
                notes.extend(module.notes(target))
            for call in module.calls(target):
                n = 0
                while call is not None:
                    n += 1
                    if n > MAX_PAGES:
                        raise FetchError(
                            f"{provider}: GET {call.path} went on for more than {MAX_PAGES} "
                            "pages; stopped"
                        )
                    page = f.get(call.path, call.params)
                    problem = module.problem(call, page.body)
                    if problem:
                        raise FetchError(f"{provider}: GET {page.url}: {problem}")
                    writer.save(
                        call.kind,
                        page.content,
                        url=page.url,
                        status=page.status,
                        fetched_at=page.fetched_at,
                        empty=bool(module.empty(call, page.body)),
                    )
                    call = module.next_call(call, page.body) if call.paginated else None
            directory = writer.commit(
                fetched_at=clock.now().isoformat(timespec="seconds"),
                requests=f.requests,
                retries=f.retries,
                notes=notes,
            )
        except BaseException:
            writer.abort()
            raise
    return PullResult(provider, start, end, project, directory, writer.manifest, key=key)


def find_complete(
    config: Config,
    provider: str,
    start: date,
    end: date,
    *,
    project: str | None = None,
    root: Path | None = None,
) -> tuple[PullResult | None, str]:
    """An earlier complete pull of exactly this range, scope and base URL, made after the
    range ended (earlier figures were still growing), every page checked against its
    hash; else (None, why not)."""
    _check_range(start, end)
    provider_module(provider)
    root = Path(root) if root is not None else default_root(config)
    folder = pull_dir(root, provider, start, end, project)
    manifest = read_manifest(folder)
    if manifest is None:
        return None, f"no earlier pull in {folder}"
    problem = verify(folder, manifest)
    if problem:
        return None, problem
    from voicegw_cli.reconcile.pull.client import public_url

    want = {
        "provider": provider,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "project": project,
        "scope": project_scope(config, provider, project),
        "base_url": public_url(base_url(config, provider)),
    }
    for k, v in want.items():
        if (manifest.get(k) or None) != (v or None):
            return None, f"the pull in {folder} has {k} {manifest.get(k)!r}, not {v!r}"
    started = str(manifest.get("started_at") or "")[:10]
    if started <= end.isoformat():
        return None, (
            f"the pull in {folder} was made on {started or 'an unknown day'}, before the "
            "period ended, so its figures were still growing"
        )
    return PullResult(provider, start, end, project, folder, manifest, reused=True), ""


def pull_or_reuse(
    config: Config,
    provider: str,
    start: date,
    end: date,
    *,
    cached: bool = False,
    project: str | None = None,
    root: Path | None = None,
    **kw: Any,
) -> tuple[PullResult, str]:
    """With `cached`, an earlier complete pull of the range if there is one; else a fresh
    pull. Returns the pull and, when a cached one could not be used, why."""
    why = ""
    if cached:
        found, why = find_complete(config, provider, start, end, project=project, root=root)
        if found is not None:
            return found, ""
    return pull(config, provider, start, end, project=project, root=root, **kw), why
