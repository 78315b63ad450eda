"""voicegw for LiveKit agents: plugins built from voicegw.yaml, one call to record usage,
one guard to enforce budgets.

    import voicegw_cli.livekit as voicegw

    async def entrypoint(ctx: JobContext):
        voicegw.set_project("support")              # this job's context only
        admission = await voicegw.budget_guard().admit()   # raises if blocked
        stt, llm, tts = voicegw.stack()             # the project's default_stack, its keys
        session = AgentSession(stt=stt, llm=llm, tts=tts)
        voicegw.track(session)                      # before or after session.start()
        voicegw.guard(session)                      # the project's guardrails: policy
        await session.start(agent=MyAgent(), room=ctx.room)

`stt()`, `llm()`, `tts()`, `stack()` and `*_with_fallback()` return LiveKit's own plugin
objects, built with the project's provider key (see `voicegw_cli.gateway`); `track()`
attributes a session using them to that project without `project=`.

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
from voicegw_cli.hook.guardrails import SessionGuard, guard, warm_guardrails
from voicegw_cli.hook.recorder import Recorder, flush_all, shared_recorder

if TYPE_CHECKING:
    from collections.abc import Sequence

    from livekit.agents import AgentSession, JobRequest

    from voicegw_cli.gateway import Gateway
    from voicegw_cli.hook.livekit import SessionTracker

__all__ = [
    "Admission",
    "BudgetExceededError",
    "BudgetGuard",
    "BudgetUnavailableError",
    "JobRequestFilter",
    "SessionGuard",
    "aflush",
    "budget_guard",
    "configure",
    "current_project",
    "flush",
    "guard",
    "gateway",
    "job_request_filter",
    "llm",
    "llm_with_fallback",
    "prewarm",
    "set_project",
    "stack",
    "stt",
    "stt_with_fallback",
    "track",
    "tts",
    "tts_with_fallback",
]

log = logging.getLogger("voicegw.hook")

_lock = threading.Lock()
_config: Config | None = None
_guards: dict[int, BudgetGuard] = {}
_gateways: dict[int, tuple[Config, Gateway]] = {}
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
        _gateways.clear()
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
    warm_guardrails(cfg)
    gateway(cfg).warm()


async def _flush_on_job_shutdown() -> None:
    await aflush()


def track(
    session: AgentSession,
    project: str | None = None,
    agent: str | None = None,
    *,
    config: Config | None = None,
    attributes: dict[str, Any] | None = None,
    participant: Any = None,
) -> SessionTracker:
    """Record every unit of usage `session` reports, for `project`, plus one call record
    per session and the latency LiveKit measures per turn.

    The project is resolved now: explicit, then the project the session's models were
    built for by `stt()`/`llm()`/`tts()`/`stack()`, then `set_project()` in this context,
    then `$VOICEGW_ACTIVE_PROJECT`, then `default_project`, then "default" (assign
    `tracker.project` to change it later). `agent` names the agent on each line item
    (default: the running Agent's label). `attributes` (e.g. `{"customer": "acme"}`) are
    written with the call record (`voicegw calls --by customer`); `participant` names the
    caller when the room's linked participant is not the one. Calling it twice for one
    session returns the same tracker (new attributes are added), so nothing is counted
    twice.
    """
    from voicegw_cli.gateway.build import billing_alias, session_project
    from voicegw_cli.hook.livekit import SessionTracker

    cfg = config or get_config()
    pid = resolve_project(project or session_project(session), cfg)
    existing = _trackers.get(session)
    if existing is not None:
        if project is not None:
            existing.project = pid
        if agent is not None:
            existing.agent = agent
        if attributes:
            existing.set_attributes(**attributes)
        if participant is not None:
            existing.set_participant(participant)
        return existing
    meta, job_ctx = _job_metadata()
    tracker = SessionTracker(
        session,
        project=pid,
        agent=agent,
        recorder=recorder(cfg),
        base_metadata=meta,
        attributes=attributes,
        participant=participant,
        mask_caller_number=cfg.hook.mask_caller_number,
    )
    tracker.converter.provider_alias = billing_alias
    tracker.attach()
    _trackers[session] = tracker
    if job_ctx is not None and meta["job_id"] not in _shutdown_hooked:
        _shutdown_hooked.add(meta["job_id"])
        job_ctx.add_shutdown_callback(_flush_on_job_shutdown)
    return tracker


# ------------------------------------------------------------------ plugins from config


def gateway(config: Config | None = None) -> Gateway:
    """This process's plugin builder for `config` (runtime keys from the store's snapshot)."""
    from voicegw_cli.gateway import Gateway

    cfg = config or get_config()
    with _lock:
        entry = _gateways.get(id(cfg))
        if entry is None or entry[0] is not cfg:
            entry = _gateways[id(cfg)] = (cfg, Gateway(cfg))
        return entry[1]


def stt(model: str, project: str | None = None, *, config: Config | None = None, **kwargs: Any):
    """LiveKit's STT plugin object for `model` (`deepgram/nova-3`), with the project's key.
    Extra keyword arguments go to the plugin's constructor."""
    return gateway(config).build("stt", model, project, **kwargs)


def llm(model: str, project: str | None = None, *, config: Config | None = None, **kwargs: Any):
    """LiveKit's LLM plugin object for `model` (`openai/gpt-4o-mini`,
    `livekit/openai/gpt-4.1-mini` for LiveKit Inference), with the project's key."""
    return gateway(config).build("llm", model, project, **kwargs)


def tts(model: str, project: str | None = None, *, config: Config | None = None, **kwargs: Any):
    """LiveKit's TTS plugin object for `model` (`cartesia/sonic-3:<voice id>`)."""
    return gateway(config).build("tts", model, project, **kwargs)


def stack(
    name: str | None = None, project: str | None = None, *, config: Config | None = None
) -> tuple[Any, Any, Any]:
    """(stt, llm, tts) for a stack in `stacks:`, or, without a name, the project's
    `default_stack` (or its explicit stt_model/llm_model/tts_model)."""
    return gateway(config).stack(name, project)


def _with_fallback(
    modality: str,
    models: Sequence[str] | None,
    project: str | None,
    runtime: bool,
    config: Config | None,
    adapter_kwargs: dict[str, Any],
) -> Any:
    return gateway(config).with_fallback(
        modality, models, project, runtime=runtime, **adapter_kwargs
    )


def stt_with_fallback(
    models: Sequence[str] | None = None,
    project: str | None = None,
    *,
    runtime: bool = False,
    config: Config | None = None,
    **adapter_kwargs: Any,
) -> Any:
    """The first STT of `fallbacks.stt` (the project's, else top level) that builds;
    `runtime=True` wraps all that build in LiveKit's `stt.FallbackAdapter`."""
    return _with_fallback("stt", models, project, runtime, config, adapter_kwargs)


def llm_with_fallback(
    models: Sequence[str] | None = None,
    project: str | None = None,
    *,
    runtime: bool = False,
    config: Config | None = None,
    **adapter_kwargs: Any,
) -> Any:
    """The first LLM of `fallbacks.llm` that builds; `runtime=True`: `llm.FallbackAdapter`."""
    return _with_fallback("llm", models, project, runtime, config, adapter_kwargs)


def tts_with_fallback(
    models: Sequence[str] | None = None,
    project: str | None = None,
    *,
    runtime: bool = False,
    config: Config | None = None,
    **adapter_kwargs: Any,
) -> Any:
    """The first TTS of `fallbacks.tts` that builds; `runtime=True`: `tts.FallbackAdapter`."""
    return _with_fallback("tts", models, project, runtime, config, adapter_kwargs)


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
