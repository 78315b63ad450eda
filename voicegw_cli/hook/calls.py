"""Per-call records, per-turn latency and provider errors from an `AgentSession`.

Which LiveKit signals, and why
------------------------------
* **Latency** comes from the metrics LiveKit puts on each chat message
  (`ChatMessage.metrics`, delivered by the session's ``conversation_item_added`` event):
  the user's message carries ``transcription_delay`` and ``end_of_turn_delay`` (with the
  STT's model), the agent's reply ``llm_node_ttft``, ``tts_node_ttfb`` and ``e2e_latency``
  (with the LLM's and TTS's models). This is livekit-agents' supported per-turn latency
  API; the session's ``metrics_collected`` event is deprecated (subscribing to it logs a
  warning in the user's agent), and model-level ``metrics_collected`` events carry
  per-request figures of every model object, not the turn the caller heard.
* **Errors** come from the session's ``error`` event: one per failed model request
  (recoverable retries included), with the model that failed as its source.
* **The call record** is built at ``close``: start (the session's own start time), end,
  reason, the linked participant, the agents that ran, the caller's attributes and
  LiveKit's own usage totals.

As with usage, the handlers on the event loop append one reference to the recorder's
queue; everything here runs later in the recorder's thread.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from voicegw_cli import clock
from voicegw_cli.records import CALL, ERROR, LATENCY, LATENCY_METRICS, record

#: Runs of 6+ digits (optionally with a leading +) are phone numbers for masking.
_PHONE = re.compile(r"\+?\d[\d\s().-]{4,}\d")
_KINDS = {
    0: "standard",
    1: "ingress",
    2: "egress",
    3: "sip",
    4: "agent",
    5: "connector",
    6: "bridge",
}
_SOURCE_OF_ERROR = {
    "stt_error": "stt",
    "llm_error": "llm",
    "tts_error": "tts",
    "realtime_model_error": "realtime",
}
_MAX_MESSAGE = 300


def mask_phone(text: str | None) -> str | None:
    """Keep a phone number's first and last 4 digits: `+15551234567` -> `+1******4567`.

    Applied to every number-like run in the text, so a SIP identity such as
    `sip_+15551234567` is masked too."""
    if not text:
        return text

    def one(m: re.Match[str]) -> str:
        raw = m.group(0)
        digits = [i for i, ch in enumerate(raw) if ch.isdigit()]
        if len(digits) < 7:
            return raw
        keep = set(digits[:1] + digits[-4:])
        return "".join(ch if (not ch.isdigit() or i in keep) else "*" for i, ch in enumerate(raw))

    return _PHONE.sub(one, text)


def participant_info(participant: Any) -> dict[str, Any]:
    """Identity, kind and SIP caller number of an `rtc.Participant`, unmasked (masking
    happens when the call record is written, per `hook.mask_caller_number`)."""
    if participant is None:
        return {}
    kind = getattr(participant, "kind", None)
    attrs = dict(getattr(participant, "attributes", None) or {})
    info: dict[str, Any] = {
        "participant_identity": getattr(participant, "identity", None) or None,
        "participant_kind": _KINDS.get(kind, str(kind)) if kind is not None else None,
    }
    number = attrs.get("sip.phoneNumber")
    if number:
        info["caller_number"] = number
    return info


def _ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _provider_model(meta: Any, canonical: Callable[[str], str]) -> tuple[str, str]:
    meta = meta or {}
    raw = meta.get("model_provider") or ""
    return canonical(raw), meta.get("model_name") or "unknown"


class CallConverter:
    """Off-loop state of one tracked session's calls, latency and errors.

    `run_id()` is the session run's id (the usage converter's `session_id`), so line items,
    latency samples, errors and the call record of one run share it."""

    def __init__(
        self,
        run_id: Callable[[], str],
        *,
        canonical_provider: Callable[[str], str],
        base_metadata: dict[str, Any] | None = None,
        attributes: dict[str, Any] | None = None,
        mask_caller_number: bool = True,
        turn_detection: Callable[[], tuple[str, str]] | None = None,
    ) -> None:
        self.run_id = run_id
        self.canonical = canonical_provider
        self.base_metadata = dict(base_metadata or {})
        #: Set on the loop by `track(attributes=...)` / `SessionTracker.set_attributes`;
        #: copied at close, so later edits belong to the next run.
        self.attributes: dict[str, str] = {}
        if attributes:
            self.attributes.update({str(k): _text(v) for k, v in attributes.items()})
        self.mask = mask_caller_number
        self.turn_detection = turn_detection
        self._reset()

    def _reset(self) -> None:
        self._turn = 0
        self._agents: list[str] = []
        self._first_seen: float | None = None

    def _note(self, ts: float, agent: str | None) -> None:
        if self._first_seen is None or ts < self._first_seen:
            self._first_seen = ts
        if agent and agent not in self._agents:
            self._agents.append(agent)

    # ------------------------------------------------------------ latency

    def chat_item(self, payload: tuple[Any, float, str | None, str]) -> Iterable[dict[str, Any]]:
        """One ``conversation_item_added``: the latency LiveKit measured for that message."""
        item, ts, agent, project = payload
        self._note(ts, agent)
        role = getattr(item, "role", None)
        if role not in ("user", "assistant"):
            return ()  # handoffs, tool calls: nothing measured
        if role == "user":
            self._turn += 1
        metrics = getattr(item, "metrics", None) or {}
        if not metrics:
            return ()
        sid = self.run_id()
        out: list[dict[str, Any]] = []
        for name, want_role, key, stage in LATENCY_METRICS:
            if want_role != role:
                continue
            value = metrics.get(key)
            if value is None or value < 0:  # LiveKit uses -1 for "no token/byte came"
                continue
            provider, model = self._model_of(stage, metrics)
            out.append(
                record(
                    LATENCY,
                    id=f"{sid}:{item.id}:{name}",
                    timestamp=_ts(ts),
                    session_id=sid,
                    project=project,
                    agent=agent,
                    turn=self._turn,
                    item_id=item.id,
                    metric=name,
                    seconds=float(value),
                    provider=provider,
                    model=model,
                )
            )
        return out

    def _model_of(self, stage: str, metrics: dict[str, Any]) -> tuple[str, str]:
        if stage == "turn_detection":
            if self.turn_detection is not None:
                try:
                    return self.turn_detection()
                except Exception:  # introspection only
                    pass
            return "livekit", "unknown"
        return _provider_model(metrics.get(f"{stage}_metadata"), self.canonical)

    # ------------------------------------------------------------ errors

    def error(self, payload: tuple[Any, float, str | None, str]) -> Iterable[dict[str, Any]]:
        """One session ``error`` event: which model failed, how, and whether LiveKit retries."""
        ev, ts, agent, project = payload
        self._note(ts, agent)
        err = getattr(ev, "error", None)
        source = getattr(ev, "source", None)
        etype = getattr(err, "type", None) or type(err).__name__
        raw_provider = str(getattr(source, "provider", "") or "")
        model = str(getattr(source, "model", "") or "") or "unknown"
        inner = getattr(err, "error", err)
        message = (str(inner) or type(inner).__name__).splitlines()[0][:_MAX_MESSAGE]
        return [
            record(
                ERROR,
                id=uuid.uuid4().hex,
                timestamp=_ts(ts),
                session_id=self.run_id(),
                project=project,
                agent=agent,
                source=_SOURCE_OF_ERROR.get(etype, "other"),
                provider=self.canonical(raw_provider),
                model=model,
                error_type=etype,
                recoverable=bool(getattr(err, "recoverable", False)),
                message=message,
            )
        ]

    # ------------------------------------------------------------ the call record

    def close(self, payload: dict[str, Any]) -> Iterable[dict[str, Any]]:
        """The session closed: one call record for this run, then start the next run fresh.

        Must run before the usage converter's close (which moves to the next run id); the
        tracker queues them in that order."""
        ended = payload["ended_at"]
        agent = payload.get("agent")
        self._note(ended, agent)
        started = payload.get("started_at") or self._first_seen or ended
        info = dict(payload.get("participant") or {})
        if self.mask:
            info["caller_number"] = mask_phone(info.get("caller_number"))
            if info.get("participant_kind") == "sip":  # a SIP identity holds the number
                info["participant_identity"] = mask_phone(info.get("participant_identity"))
        rec = record(
            CALL,
            session_id=self.run_id(),
            project=payload["project"],
            started_at=_ts(started),
            ended_at=_ts(ended),
            duration_seconds=round(max(0.0, ended - started), 3),
            agents=list(self._agents),
            room=self.base_metadata.get("room"),
            job_id=self.base_metadata.get("job_id"),
            end_reason=payload.get("reason"),
            error=payload.get("error"),
            turns=self._turn,
            attributes=dict(payload.get("attributes") or {}),
            lk_usage=[_usage_dict(u) for u in payload.get("usage") or ()],
            **info,
        )
        self._reset()
        return [rec]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _usage_dict(usage: Any) -> dict[str, Any]:
    """A LiveKit ModelUsage as a small dict: its type, provider, model and non-zero units."""
    try:
        data = usage.model_dump()
    except AttributeError:
        data = dict(vars(usage))
    return {k: v for k, v in data.items() if v not in (0, 0.0, None, "")}


class CallTracker:
    """The event-loop half for one session: queues chat items and errors for the
    `CallConverter`, and the call record at close. `SessionTracker` owns one and calls
    `attach`/`detach`/`on_close`; each handler is one deque append (plus, until the
    participant is known, one look at the room's linked participant per user turn)."""

    def __init__(
        self,
        session: Any,
        recorder: Any,
        converter: CallConverter,
        *,
        fast_callback: Callable[[Callable[[Any], None]], Callable[[Any], None]],
        context: Callable[[], tuple[str | None, str]],
        participant: Any = None,
    ) -> None:
        self.session = session
        self.recorder = recorder
        self.converter = converter
        #: (agent label, project) now; the tracker's, so both halves agree.
        self._context = context
        self._participant: dict[str, Any] | None = (
            participant_info(participant) if participant is not None else None
        )
        self._item_cb = fast_callback(self._on_item)
        self._error_cb = fast_callback(self._on_error)
        converter.turn_detection = self._turn_detection_model

    # ------------------------------------------------------------ wiring

    def attach(self) -> None:
        self.session.on("conversation_item_added", self._item_cb)
        self.session.on("error", self._error_cb)
        if self._participant is None:
            self._participant = self._linked()
        # Attached after start(): the turns already taken are in the history; queue them.
        agent, project = self._context()
        for item in list(getattr(self.session.history, "items", ()) or ()):
            if getattr(item, "role", None) in ("user", "assistant"):
                created = getattr(item, "created_at", None)
                when = clock.from_wall(created) if created else clock.time()
                self.recorder.submit(self.converter.chat_item, (item, when, agent, project))

    def detach(self) -> None:
        self.session.off("conversation_item_added", self._item_cb)
        self.session.off("error", self._error_cb)

    @property
    def attributes(self) -> dict[str, str]:
        return self.converter.attributes

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        """Add or replace attributes of this call (they are read when it closes)."""
        self.converter.attributes.update({str(k): _text(v) for k, v in attributes.items()})

    def set_participant(self, participant: Any) -> None:
        """Name the caller explicitly (else: the room's linked participant)."""
        self._participant = participant_info(participant)

    def _linked(self) -> dict[str, Any] | None:
        """The room's linked participant; None while there is none yet (look again later),
        {} when the session has no room (console, tests): nobody to look for."""
        try:
            room_io = self.session.room_io
        except RuntimeError:  # not started, or started without a room
            return {} if getattr(self.session, "_started", False) else None
        return participant_info(getattr(room_io, "linked_participant", None)) or None

    def _turn_detection_model(self) -> tuple[str, str]:
        """Who decides end of turn (off the loop): the agent's or the session's turn
        detection; a turn detector model names itself, a mode is `livekit/<mode>`."""
        mode: Any = None
        try:
            mode = self.session.current_agent.turn_detection
        except RuntimeError:
            pass
        if mode is None or type(mode).__name__ == "NotGiven":
            mode = self.session.turn_detection
        if mode is None:
            return "livekit", "default"
        if isinstance(mode, str):
            return "livekit", mode
        provider = str(getattr(mode, "provider", "") or "livekit")
        return self.converter.canonical(provider), str(getattr(mode, "model", "") or "unknown")

    # ------------------------------------------------------------ on the event loop

    def _on_item(self, ev: Any) -> None:
        try:
            item = ev.item
            if self._participant is None and getattr(item, "role", None) == "user":
                self._participant = self._linked()
            agent, project = self._context()
            self.recorder.submit(self.converter.chat_item, (item, clock.time(), agent, project))
        except Exception:  # pragma: no cover - defensive: never break LiveKit's emit
            import logging

            logging.getLogger("voicegw.hook").exception("voicegw: could not queue a chat item")

    def _on_error(self, ev: Any) -> None:
        try:
            agent, project = self._context()
            self.recorder.submit(self.converter.error, (ev, clock.time(), agent, project))
        except Exception:  # pragma: no cover - defensive
            import logging

            logging.getLogger("voicegw.hook").exception("voicegw: could not queue an error")

    def on_close(self, ev: Any, usage: list[Any]) -> None:
        """Queue this run's call record (before the usage converter's close)."""
        if not self._participant:
            self._participant = self._linked()
        agent, project = self._context()
        error = getattr(ev, "error", None)
        reason = getattr(ev, "reason", None)
        started = getattr(self.session, "_started_at", None)  # LiveKit's own start stamp
        self.recorder.submit(
            self.converter.close,
            {
                "ended_at": clock.time(),
                "started_at": clock.from_wall(started) if started else None,
                "reason": getattr(reason, "value", reason),
                "error": None if error is None else f"{error.type}: {getattr(error, 'error', '')}",
                "agent": agent,
                "project": project,
                "participant": self._participant,
                "attributes": dict(self.converter.attributes),
                "usage": usage,
            },
        )
