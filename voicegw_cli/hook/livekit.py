"""The LiveKit adapter: turns an `AgentSession`'s usage into voicegw line items.

Which LiveKit signal, and why
-----------------------------
We subscribe to the session's ``session_usage_updated`` event, not to ``metrics_collected``:

* The session's ``metrics_collected`` is deprecated in livekit-agents 1.x and subscribing to
  it logs a deprecation warning in the user's agent. ``session_usage_updated`` is the
  supported usage API.
* It is emitted once right after *every* metric the session collects, from every model the
  session uses: components set on the session and on each ``Agent`` (handoffs included),
  realtime sessions created internally, fallback adapters. Listening to model objects
  ourselves would mean chasing each of those.
* It carries running totals per (kind, provider, model). We keep the last totals we saw
  and record the *difference*, so request ids play no part in counting: streaming STT
  that reuses one request id every ~5 s, and the connection-setup metric with an empty id
  and zero usage, are neither merged nor dropped; a zero difference records nothing.
  Summing our items telescopes back to the session's own totals.
* LiveKit builds the totals for this event whether or not anyone listens, so the loop cost
  we add is one deque append of a reference to them; the subtraction happens in the
  flusher thread (`voicegw_cli.hook.recorder`).

Totals reset on every ``session.start()``. The session only restarts after ``close``, and
``close`` is emitted after the activity is torn down (no usage event can follow it), so at
``close`` we compare what we recorded with ``session.usage`` - writing any difference as a
line item with ``metadata.correction = true`` - and start the next run from zero.

Interruption and end-of-turn model usage (request counts, no tokens or seconds) is not a
billing unit voicegw prices, so it is not recorded.

Per-call records, per-turn latency and provider errors are the `CallTracker`'s
(`voicegw_cli.hook.calls`); the tracker here owns one and hands it the close first.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from voicegw_cli import clock
from voicegw_cli.hook.calls import CallConverter, CallTracker
from voicegw_cli.items import LineItem

if TYPE_CHECKING:
    from livekit.agents import AgentSession

    from voicegw_cli.hook.recorder import Recorder

log = logging.getLogger("voicegw.hook")

#: LLM fields that only realtime (speech-to-speech) models report.
_REALTIME_FIELDS = (
    "input_audio_tokens",
    "output_audio_tokens",
    "input_text_tokens",
    "output_text_tokens",
    "input_cached_audio_tokens",
    "input_cached_text_tokens",
    "input_image_tokens",
    "input_cached_image_tokens",
    "session_duration",
)
_REALTIME_ONLY = frozenset(_REALTIME_FIELDS)
#: Unit fields read from each LiveKit ModelUsage type, in a fixed order.
_FIELDS: dict[str, tuple[str, ...]] = {
    "llm_usage": (
        "input_tokens",
        "input_cached_tokens",
        "input_cache_creation_tokens",
        "output_tokens",
        "output_reasoning_tokens",
        *_REALTIME_FIELDS,
    ),
    "stt_usage": ("audio_duration", "input_tokens", "input_audio_tokens", "output_tokens"),
    "tts_usage": ("characters_count", "audio_duration", "input_tokens", "output_tokens"),
}
#: Float units (seconds) are compared and rounded with this precision.
_SECONDS_DIGITS = 6
_SECONDS_EPS = 10.0**-_SECONDS_DIGITS

_Key = tuple[str, str, str]  # (usage type, raw provider, raw model)
_Units = dict[str, float]


def _fallback_canonical(raw: str) -> str:
    """`api.openai.com` -> `openai`, `Deepgram` -> `deepgram` (used only without pricing)."""
    s = raw.strip().lower()
    host = s.split("//")[-1].split("/")[0]
    parts = host.split(".")
    return parts[-2] if len(parts) >= 2 else s


_canon: Any = None


def canonical_provider(raw: str) -> str:
    """LiveKit's provider string to voicegw's billing provider id."""
    global _canon
    if not raw:
        return "unknown"
    if _canon is None:  # resolved once per process: a failed import is slow to repeat
        try:
            from voicegw_cli.pricing import canonical_provider as found
        except ImportError:  # pragma: no cover - pricing ships with the package
            found = _fallback_canonical
        _canon = found
    return _canon(raw)


def _units(usage: Any, fields: tuple[str, ...]) -> _Units:
    return {f: getattr(usage, f, 0) or 0 for f in fields}


def _diff(cur: _Units, prev: _Units | None) -> _Units:
    if prev is None:
        return dict(cur)
    out: _Units = {}
    for f, v in cur.items():
        d = v - prev.get(f, 0)
        if isinstance(d, float):
            d = round(d, _SECONDS_DIGITS)
        out[f] = d
    return out


def _nonzero(units: _Units) -> bool:
    return any(abs(v) > _SECONDS_EPS if isinstance(v, float) else v for v in units.values())


class UsageConverter:
    """Off-loop state of one tracked session: last totals seen, per model."""

    def __init__(self, *, base_metadata: dict[str, Any] | None = None) -> None:
        self.base_metadata = dict(base_metadata or {})
        self.session_id = uuid.uuid4().hex
        self._last: dict[_Key, _Units] = {}
        self._keys: dict[_Key, tuple[str, str, dict[str, Any]]] = {}
        self.realtime_keys: set[tuple[str, str]] = set()
        #: (raw provider, raw model) -> does that STT stream? None when unknown. Batch STT
        #: (LiveKit wraps it in a StreamAdapter) has its own price; the pricer reads
        #: `metadata.streamed = false`.
        self.stt_streaming: Callable[[str, str], bool | None] | None = None
        #: LiveKit provider string -> billing provider, for models built by voicegw's
        #: gateway whose string is not their provider (a custom base_url reports its host).
        self.provider_alias: Callable[[str], str | None] | None = None

    # ------------------------------------------------------------ helpers

    def _identity(self, key: _Key) -> tuple[str, str, dict[str, Any]]:
        ident = self._keys.get(key)
        if ident is None:
            kind, raw_provider, raw_model = key
            provider = canonical_provider(raw_provider)
            if self.provider_alias is not None and raw_provider:
                provider = self.provider_alias(raw_provider) or provider
            model = raw_model or "unknown"
            extra: dict[str, Any] = {}
            if raw_provider and raw_provider.lower() != provider:
                extra["lk_provider"] = raw_provider
            if kind == "stt_usage" and self.stt_streaming is not None:
                try:
                    if self.stt_streaming(raw_provider, raw_model) is False:
                        extra["streamed"] = False
                except Exception:  # introspection only; the list price still applies
                    log.debug("voicegw: cannot tell whether %s streams", key, exc_info=True)
            if provider == "livekit" and "/" in model:
                # LiveKit Inference bills as LiveKit; the model it routes to stays visible.
                up, _, um = model.partition("/")
                extra["underlying_provider"], extra["underlying_model"] = up, um
            ident = self._keys[key] = (provider, model, extra)
        return ident

    def _item(
        self,
        key: _Key,
        units: _Units,
        ts: datetime,
        project: str,
        agent: str | None,
        extra_meta: dict[str, Any] | None = None,
    ) -> LineItem:
        kind, raw_provider, raw_model = key
        provider, model, ident_meta = self._identity(key)
        meta: dict[str, Any] = {**self.base_metadata, **ident_meta}
        common = dict(
            timestamp=ts,
            project=project,
            provider=provider,
            model=model,
            session_id=self.session_id,
            agent=agent,
        )
        if kind == "stt_usage":
            item = LineItem(
                modality="stt",
                audio_seconds=float(units["audio_duration"]),
                input_tokens=int(units["input_tokens"]),
                audio_input_tokens=int(units["input_audio_tokens"]),
                output_tokens=int(units["output_tokens"]),
                **common,
            )
        elif kind == "tts_usage":
            item = LineItem(
                modality="tts",
                characters=int(units["characters_count"]),
                audio_seconds=float(units["audio_duration"]),
                input_tokens=int(units["input_tokens"]),
                output_tokens=int(units["output_tokens"]),
                **common,
            )
        else:
            realtime = (raw_provider, raw_model) in self.realtime_keys or any(
                units[f] for f in _REALTIME_ONLY
            )
            if realtime:
                for f in (
                    "input_text_tokens",
                    "output_text_tokens",
                    "input_cached_audio_tokens",
                    "input_cached_text_tokens",
                    "input_image_tokens",
                    "input_cached_image_tokens",
                ):
                    if units[f]:
                        meta[f] = int(units[f])
                if units["session_duration"]:
                    meta["session_seconds"] = float(units["session_duration"])
            item = LineItem(
                modality="realtime" if realtime else "llm",
                input_tokens=int(units["input_tokens"]),
                cached_input_tokens=int(units["input_cached_tokens"]),
                cache_write_tokens=int(units["input_cache_creation_tokens"]),
                output_tokens=int(units["output_tokens"]),
                reasoning_tokens=int(units["output_reasoning_tokens"]),
                audio_input_tokens=int(units["input_audio_tokens"]),
                audio_output_tokens=int(units["output_audio_tokens"]),
                **common,
            )
        if extra_meta:
            meta.update(extra_meta)
        item.metadata = meta
        return item

    # ------------------------------------------------------------ converters (off-loop)

    def usage(self, payload: tuple[list[Any], float, str | None, str]) -> Iterable[LineItem]:
        """One ``session_usage_updated``: the change since the previous totals."""
        model_usage, created_at, agent, project = payload
        ts = datetime.fromtimestamp(created_at, UTC)
        items: list[LineItem] = []
        for u in model_usage:
            fields = _FIELDS.get(u.type)
            if fields is None:
                continue
            key = (u.type, u.provider or "", u.model or "")
            cur = _units(u, fields)
            prev = self._last.get(key)
            delta = _diff(cur, prev)
            if prev is not None and any(v < -_SECONDS_EPS for v in delta.values()):
                # Totals went down: the collector was reset without a close we saw.
                log.debug("voicegw: usage totals reset for %s; counting from zero", key)
                delta = dict(cur)
            self._last[key] = cur
            if _nonzero(delta):
                items.append(self._item(key, delta, ts, project, agent))
        return items

    def close(self, payload: tuple[list[Any], float, str | None, str]) -> Iterable[LineItem]:
        """Session closed: record any gap to the session's own totals, then reset."""
        model_usage, created_at, agent, project = payload
        ts = datetime.fromtimestamp(created_at, UTC)
        items: list[LineItem] = []
        seen: set[_Key] = set()
        for u in model_usage:
            fields = _FIELDS.get(u.type)
            if fields is None:
                continue
            key = (u.type, u.provider or "", u.model or "")
            seen.add(key)
            delta = _diff(_units(u, fields), self._last.get(key))
            if _nonzero(delta):
                items.append(self._correction(key, delta, ts, project, agent))
        for key, prev in self._last.items():
            if key not in seen and _nonzero(prev):  # recorded, yet absent from the totals
                items.append(
                    self._correction(key, {f: -v for f, v in prev.items()}, ts, project, agent)
                )
        if items:
            log.warning(
                "voicegw: session %s: %d correction item(s) written at close",
                self.session_id,
                len(items),
            )
        self._last = {}
        self.session_id = uuid.uuid4().hex  # a restarted session is a new run
        return items

    def _correction(
        self, key: _Key, delta: _Units, ts: datetime, project: str, agent: str | None
    ) -> LineItem:
        return self._item(
            key,
            delta,
            ts,
            project,
            agent,
            {"correction": True, "reason": "session usage totals at close"},
        )


def _fast_callback(method: Callable[[Any], None]) -> Callable[[Any], None]:
    """A plain function with a precomputed `__signature__` wrapping `method`.

    LiveKit's EventEmitter calls `inspect.signature(callback)` on every emit to decide how
    many arguments to pass: ~7.5 µs of loop time for a bound method, ~0.8 µs for a
    function that carries its signature. This keeps our per-event cost to about 1 µs.
    """

    def callback(ev: Any) -> None:
        method(ev)

    callback.__signature__ = inspect.signature(callback)  # type: ignore[attr-defined]
    return callback


class SessionTracker:
    """Attaches to one `AgentSession`; the handlers here run on the agent's event loop and
    only queue references for the recorder's thread."""

    def __init__(
        self,
        session: AgentSession,
        *,
        project: str,
        agent: str | None,
        recorder: Recorder,
        base_metadata: dict[str, Any] | None = None,
        attributes: dict[str, Any] | None = None,
        participant: Any = None,
        mask_caller_number: bool = True,
    ) -> None:
        self.session = session
        self.project = project
        self.agent = agent
        self.recorder = recorder
        self.converter = UsageConverter(base_metadata=base_metadata)
        self.converter.stt_streaming = self._stt_streaming
        self._note_realtime(getattr(session, "llm", None))
        self._attached = False
        self._usage_cb = _fast_callback(self._on_usage)
        self._close_cb = _fast_callback(self._on_close)
        self.calls = CallTracker(
            session,
            recorder,
            CallConverter(
                lambda: self.converter.session_id,
                canonical_provider=canonical_provider,
                base_metadata=base_metadata,
                attributes=attributes,
                mask_caller_number=mask_caller_number,
            ),
            fast_callback=_fast_callback,
            context=lambda: (self._agent_label(), self.project),
            participant=participant,
        )

    @property
    def session_id(self) -> str:
        """The current run's id: `session_id` of its line items, latency and call record."""
        return self.converter.session_id

    @property
    def attributes(self) -> dict[str, str]:
        """This call's attributes (`customer`, `plan`, ...): `voicegw calls --by <name>`."""
        return self.calls.attributes

    def set_attributes(self, **attributes: Any) -> None:
        """Add or change attributes mid-call (e.g. once the caller is identified)."""
        self.calls.set_attributes(attributes)

    def set_participant(self, participant: Any) -> None:
        """Name the caller (an `rtc.Participant`) when voicegw cannot see the room's."""
        self.calls.set_participant(participant)

    def _note_realtime(self, model: Any) -> None:
        try:
            from livekit.agents import llm as lk_llm

            if isinstance(model, lk_llm.RealtimeModel):
                self.converter.realtime_keys.add((model.provider, model.model))
        except Exception:  # pragma: no cover - introspection only
            pass

    def attach(self) -> SessionTracker:
        if not self._attached:
            self.session.on("session_usage_updated", self._usage_cb)
            self.session.on("close", self._close_cb)
            self.calls.attach()
            self._attached = True
            # Attached after start(): usage already counted by the session is recorded now.
            existing = self.session.usage.model_usage
            if existing:
                self.recorder.submit(
                    self.converter.usage,
                    (existing, clock.time(), self._agent_label(), self.project),
                )
        return self

    def detach(self) -> None:
        if self._attached:
            self.session.off("session_usage_updated", self._usage_cb)
            self.session.off("close", self._close_cb)
            self.calls.detach()
            self._attached = False

    def _stt_streaming(self, provider: str, model: str) -> bool | None:
        """Off the loop, once per STT model: is the STT that reports as provider/model a
        streaming one? Looks at the session's and the running agent's STT, inside
        fallback adapters; an STT behind a StreamAdapter is batch (recognize per turn)."""
        from livekit.agents import stt as lk_stt

        candidates: list[tuple[Any, bool]] = []

        def add(obj: Any, wrapped: bool = False) -> None:
            if not isinstance(obj, lk_stt.STT):
                return
            if isinstance(obj, lk_stt.StreamAdapter):
                add(getattr(obj, "_stt", None), True)
            elif isinstance(obj, lk_stt.FallbackAdapter):
                for child in getattr(obj, "_stt_instances", ()):
                    add(child, wrapped)
            else:
                candidates.append((obj, wrapped))

        add(self.session.stt)
        try:
            add(self.session.current_agent.stt)
        except RuntimeError:
            pass
        for obj, wrapped in candidates:
            if obj.provider == provider and obj.model == model:
                return (not wrapped) and bool(obj.capabilities.streaming)
        return None

    def _agent_label(self) -> str | None:
        if self.agent is not None:
            return self.agent
        try:
            return self.session.current_agent.label
        except RuntimeError:  # no agent running (before start / after close)
            return None

    # ------------------------------------------------------------ on the event loop

    # Exceptions must not escape into LiveKit's metric path (it would cut the session's
    # own bookkeeping short); a `try` costs nothing until something raises.

    def _on_usage(self, ev: Any) -> None:
        try:
            self.recorder.submit(
                self.converter.usage,
                (ev.usage.model_usage, clock.time(), self._agent_label(), self.project),
            )
        except Exception:  # pragma: no cover - defensive
            log.exception("voicegw: could not queue a usage event")

    def _on_close(self, ev: Any) -> None:
        try:
            usage = self.session.usage.model_usage
            # The call record first: it is written under this run's id, which the usage
            # converter's close moves on (the queue is FIFO).
            self.calls.on_close(ev, usage)
            self.recorder.submit(
                self.converter.close, (usage, clock.time(), self._agent_label(), self.project)
            )
            self.recorder.wake()
        except Exception:  # pragma: no cover - defensive
            log.exception("voicegw: could not queue the session's close")
