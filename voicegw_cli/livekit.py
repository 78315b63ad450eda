"""voicegw for LiveKit agents: one call to record usage, one guard to enforce budgets.

    import voicegw_cli.livekit as voicegw

    async def entrypoint(ctx: JobContext):
        voicegw.set_project("support")              # this job's context only
        admission = await voicegw.budget_guard().admit()   # raises if blocked
        session = AgentSession(stt=..., llm=..., tts=...)
        voicegw.track(session)                      # before or after session.start()
        await session.start(agent=MyAgent(), room=ctx.room)

Usage is queued on the event loop (one deque append per event) and priced and written to
this process's spool file by a background thread every `hook.flush_interval_seconds`, at
session close, at job shutdown and at process exit. See `voicegw_cli.hook.livekit` for how
usage is counted.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from voicegw_cli.budget import Admission, BudgetGuard, BudgetUnavailableError
from voicegw_cli.config import Config, current_project, load_config, resolve_project, set_project
from voicegw_cli.errors import BudgetExceededError
from voicegw_cli.hook.recorder import Recorder, flush_all, shared_recorder

if TYPE_CHECKING:
    from livekit.agents import AgentSession, JobRequest

    from voicegw_cli.hook.livekit import SessionTracker

__all__ = [
    "Admission",
    "BudgetExceededError",
    "BudgetGuard",
    "BudgetUnavailableError",
    "JobRequestFilter",
    "aflush",
    "budget_guard",
    "configure",
    "current_project",
    "flush",
    "job_request_filter",
    "prewarm",
    "set_project",
    "track",
]

log = logging.getLogger("voicegw.hook")

_lock = threading.Lock()
_config: Config | None = None
_guards: dict[int, BudgetGuard] = {}
_trackers: WeakKeyDictionary[Any, SessionTracker] = WeakKeyDictionary()
_shutdown_hooked: set[str] = set()


def configure(config: Config | str | Path | None = None) -> Config:
    """Set (or load) the config this process's hook and guard use; returns it.

    Without a call, the first `track`/`budget_guard` loads it the usual way
    (`$VOICEGW_CONFIG`, `./voicegw.yaml`, user config dir). Call it in the worker's
    prewarm/setup function to keep file reads out of the job's event loop.
    """
    global _config
    cfg = config if isinstance(config, Config) else load_config(config)
    with _lock:
        _config = cfg
        _guards.clear()
    return cfg


def get_config() -> Config:
    global _config
    with _lock:
        if _config is None:
            _config = load_config()
        return _config


def recorder(config: Config | None = None) -> Recorder:
    cfg = config or get_config()
    return shared_recorder(
        cfg.spool_dir,
        flush_interval=cfg.hook.flush_interval_seconds,
        pricing_overrides=cfg.pricing_overrides,
        ship_config=cfg if cfg.ship else None,
    )


def _job_metadata() -> tuple[dict[str, Any], Any]:
    try:
        from livekit.agents import get_job_context

        ctx = get_job_context(required=False)
    except Exception:  # pragma: no cover - older/newer livekit without the helper
        return {}, None
    if ctx is None:
        return {}, None
    meta: dict[str, Any] = {"job_id": ctx.job.id}
    room = getattr(ctx.job.room, "name", None)
    if room:
        meta["room"] = room
    return meta, ctx


def prewarm(proc: Any = None) -> None:
    """Load config and price tables and start the flusher before any job runs.

    Use as the worker's setup function (`AgentServer(setup_fnc=voicegw.prewarm)`) or call
    it from yours, so no job's event loop ever waits for a file read or a price load.
    """
    cfg = get_config()
    recorder(cfg).warm()
    budget_guard(cfg)


async def _flush_on_job_shutdown() -> None:
    await aflush()


def track(
    session: AgentSession,
    project: str | None = None,
    agent: str | None = None,
    *,
    config: Config | None = None,
) -> SessionTracker:
    """Record every unit of usage `session` reports, for `project`.

    The project is resolved now: explicit, then `set_project()` in this context, then
    `$VOICEGW_ACTIVE_PROJECT`, then `default_project`, then "default" (assign
    `tracker.project` to change it later). `agent` names the agent on each line item
    (default: the running Agent's label). Calling it twice for one session returns the
    same tracker, so nothing is counted twice.
    """
    from voicegw_cli.hook.livekit import SessionTracker

    cfg = config or get_config()
    pid = resolve_project(project, cfg)
    existing = _trackers.get(session)
    if existing is not None:
        if project is not None:
            existing.project = pid
        if agent is not None:
            existing.agent = agent
        return existing
    meta, job_ctx = _job_metadata()
    tracker = SessionTracker(
        session, project=pid, agent=agent, recorder=recorder(cfg), base_metadata=meta
    ).attach()
    _trackers[session] = tracker
    if job_ctx is not None and meta["job_id"] not in _shutdown_hooked:
        _shutdown_hooked.add(meta["job_id"])
        job_ctx.add_shutdown_callback(_flush_on_job_shutdown)
    return tracker


def flush() -> int:
    """Write everything queued in this process now (blocking; not on the event loop)."""
    return flush_all()


async def aflush() -> int:
    """Write everything queued in this process now, without blocking the loop."""
    import asyncio

    return await asyncio.to_thread(flush_all)


def budget_guard(config: Config | None = None) -> BudgetGuard:
    """This process's guard for `config` (shared, so its spend cache is shared)."""
    cfg = config or get_config()
    with _lock:
        guard = _guards.get(id(cfg))
        if guard is None:
            guard = _guards[id(cfg)] = BudgetGuard(cfg)
        return guard


ProjectOf = Callable[["JobRequest"], "str | None | Awaitable[str | None]"]


class JobRequestFilter:
    """A LiveKit `request_fnc`/`on_request` that rejects jobs of blocked projects.

    `project_of(job_request)` maps a job to its project (sync or async; None means the
    usual resolution). Accepted jobs are passed to `accept(job_request)` when given, else
    `job_request.accept()`. Picklable when `project_of` is (LiveKit pickles server options).
    """

    def __init__(
        self,
        project_of: ProjectOf,
        *,
        config: Config | None = None,
        accept: Callable[[JobRequest], Awaitable[None]] | None = None,
    ) -> None:
        self.project_of = project_of
        self.config = config
        self.accept = accept
        self._guard: BudgetGuard | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_guard"] = None
        return state

    @property
    def guard(self) -> BudgetGuard:
        if self._guard is None:
            self._guard = budget_guard(self.config)
        return self._guard

    async def __call__(self, req: JobRequest) -> None:
        project = self.project_of(req)
        if inspect.isawaitable(project):
            project = await project
        if await self.guard.is_blocked(project):
            pid = resolve_project(project, self.guard.config)
            log.warning("voicegw: rejecting job %s: project %r is over budget (block)", req.id, pid)
            await req.reject()
            return
        if self.accept is not None:
            await self.accept(req)
        else:
            await req.accept()


def job_request_filter(
    project_of: ProjectOf,
    *,
    config: Config | None = None,
    accept: Callable[[JobRequest], Awaitable[None]] | None = None,
) -> JobRequestFilter:
    """A ready `request_fnc` for `AgentServer.rtc_session(on_request=...)` or
    `WorkerOptions(request_fnc=...)` that rejects jobs of projects blocked by budget."""
    return JobRequestFilter(project_of, config=config, accept=accept)
