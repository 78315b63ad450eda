"""The LiveKit wiring for guardrails: one `guard(session)` call enforces the project's
`guardrails:` policy on every agent the session runs.

Where it hooks in, and why
--------------------------
LiveKit's supported places to change what reaches the LLM and what the agent says are the
`Agent` pipeline methods. The guard wraps two of them on each agent the session runs (the
first one, and every agent handed off to: the session announces a handoff with an
`agent_handoff` conversation item *before* the new agent starts, so even its `on_enter`
reply is guarded). The agent's own overrides keep working: the wrappers call them.

* `on_user_turn_completed` (spoken turns, before the LLM): the caller's transcript is
  checked once, with the end of the previous turn as context, so a card number split by a
  pause long enough to end a turn is still found. `redact` edits the message in place:
  the LLM, the conversation history, the agent's own hook and LiveKit's traces after it
  see placeholders. `block` masks the message and marks it.
* `llm_node` (every generation, spoken or typed, `generate_reply(user_input=...)`,
  `session.run(...)`): user messages since the agent last spoke that were not checked yet
  are checked here; a blocked turn yields the project's `block_message` as the reply
  **without calling the LLM**. Otherwise the LLM's stream passes through a `StreamGuard`,
  which holds back only the tail a detector may still be reading (a number being read
  out, an address around "at ... dot") and redacts or stops the reply before TTS, the
  transcript and the history get it. Tool calls and usage pass untouched.

Nothing here blocks the loop: detection is pure Python (~0.2 ms for a typical utterance,
see `bench/bench_guardrails.py`) and an event is one deque append; the recorder's thread
writes events to the spool beside usage. Realtime (speech-to-speech) models have no text
before the model and are not guarded; the guard logs that once.
"""

from __future__ import annotations

import inspect
import logging
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from voicegw_cli import clock
from voicegw_cli.guardrails.events import bypass_event, hit_event
from voicegw_cli.guardrails.policy import Hit, Policy, Verdict
from voicegw_cli.guardrails.stream import StreamGuard, _numberish
from voicegw_cli.guardrails.text import tokenize

if TYPE_CHECKING:
    from livekit.agents import Agent, AgentSession

    from voicegw_cli.config import Config
    from voicegw_cli.hook.recorder import Recorder

log = logging.getLogger("voicegw.guardrails")

#: `ChatMessage.extra` key marking a checked user message with its verdict.
MARK = "voicegw_guardrails"
#: The end of a turn kept as context for the next one, at most this long.
CARRY_CHARS = 80

_guards: weakref.WeakKeyDictionary[Any, SessionGuard] = weakref.WeakKeyDictionary()


def _text_of(msg: Any) -> str:
    return "\n".join(c for c in msg.content if isinstance(c, str))


def _set_text(msg: Any, text: str) -> None:
    """Replace the message's text parts with `text`, keeping images and audio."""
    out: list[Any] = []
    placed = False
    for c in msg.content:
        if isinstance(c, str):
            if not placed:
                out.append(text)
                placed = True
        else:
            out.append(c)
    msg.content = out if placed else [text, *out]


def _number_tail(text: str) -> int | None:
    """Where the number the text ends with begins, if it ends with one."""
    tokens = tokenize(text)
    i = len(tokens)
    while i > 0 and _numberish(tokens[i - 1]):
        i -= 1
    if i == len(tokens) or not any(t.kind == "d" or t.is_word for t in tokens[i:]):
        return None
    start = tokens[i].start
    return start if len(text) - start <= CARRY_CHARS else len(text) - CARRY_CHARS


class SessionGuard:
    """Guardrails for one `AgentSession`. Build it with `voicegw.guard(session)`."""

    def __init__(
        self,
        session: AgentSession,
        policy: Policy,
        *,
        project: str,
        recorder: Recorder,
        base_metadata: dict[str, Any] | None = None,
        session_id: Callable[[], str | None] | None = None,
    ) -> None:
        self.session = session
        self.policy = policy
        self.project = project
        self.recorder = recorder
        self.base_metadata = dict(base_metadata or {})
        self._own_session_id = uuid.uuid4().hex
        self._session_id = session_id
        self._bypass = False
        self._bypass_reason: str | None = None
        self._patched: list[tuple[weakref.ref[Any], dict[str, Any]]] = []
        self._attached = False
        # The caller's previous turn, when it ended in a number: (message, where it begins).
        self._carry: tuple[weakref.ref[Any] | None, str, int] | None = None
        self._last: tuple[str, dict[str, Any]] | None = None
        self._warned_realtime = False

        def on_item(ev: Any) -> None:
            self._on_item(ev)

        on_item.__signature__ = inspect.signature(on_item)  # type: ignore[attr-defined]
        self._item_cb = on_item

    # ------------------------------------------------------------ attach / detach

    def attach(self) -> SessionGuard:
        if not self._attached:
            self.session.on("conversation_item_added", self._item_cb)
            self._attached = True
            try:
                agent = self.session.current_agent
            except RuntimeError:  # not started yet: the first handoff brings the agent
                agent = None
            if agent is not None:
                self._patch(agent)
        return self

    def detach(self) -> None:
        if self._attached:
            self.session.off("conversation_item_added", self._item_cb)
            self._attached = False
        for ref, saved in self._patched:
            agent = ref()
            if agent is None or agent.__dict__.get("_voicegw_guard") is not self:
                continue
            for name, value in saved.items():
                if value is None:
                    agent.__dict__.pop(name, None)
                else:
                    agent.__dict__[name] = value
            agent.__dict__.pop("_voicegw_guard", None)
        self._patched.clear()

    def _on_item(self, ev: Any) -> None:
        item = getattr(ev, "item", None)
        if getattr(item, "type", None) != "agent_handoff":
            return
        try:
            self._patch(self.session.current_agent)
        except Exception:  # pragma: no cover - never break LiveKit's handoff
            log.exception("voicegw: could not guard the new agent")

    def _patch(self, agent: Agent) -> None:
        if agent.__dict__.get("_voicegw_guard") is self:
            return
        self._note_realtime(agent)
        saved = {name: agent.__dict__.get(name) for name in ("llm_node", "on_user_turn_completed")}
        agent.__dict__["llm_node"] = self._llm_node(agent.llm_node)
        agent.__dict__["on_user_turn_completed"] = self._turn_hook(agent.on_user_turn_completed)
        agent.__dict__["_voicegw_guard"] = self
        self._patched.append((weakref.ref(agent), saved))

    def _note_realtime(self, agent: Agent) -> None:
        if self._warned_realtime or not self.policy.active("input"):
            return
        try:
            from livekit.agents import llm as lk_llm

            model = agent.llm if agent.llm else self.session.llm
            if isinstance(model, lk_llm.RealtimeModel):
                self._warned_realtime = True
                log.warning(
                    "voicegw: project %r uses a realtime model; its speech is not guarded "
                    "(guardrails need text before the model)",
                    self.project,
                )
        except Exception:  # pragma: no cover - introspection only
            pass

    # ------------------------------------------------------------ bypass

    @property
    def bypass(self) -> bool:
        return self._bypass

    @bypass.setter
    def bypass(self, on: bool) -> None:
        self.set_bypass(on)

    def set_bypass(self, on: bool, reason: str | None = None) -> None:
        """Turn enforcement off (or back on) for this session. Each switch is an event."""
        on = bool(on)
        if on == self._bypass:
            return
        self._bypass = on
        self._bypass_reason = reason
        log.warning(
            "voicegw: guardrails %s for a session of project %r%s",
            "bypassed" if on else "enforced again",
            self.project,
            f" ({reason})" if reason else "",
        )
        self.recorder.submit_event(
            bypass_event(
                on,
                ts=clock.now(),
                project=self.project,
                reason=reason,
                session_id=self.session_id,
                agent=self._agent_label(),
                metadata=self.base_metadata,
            ).to_record()
        )

    # ------------------------------------------------------------ events

    @property
    def session_id(self) -> str:
        sid = self._session_id() if self._session_id is not None else None
        return sid or self._own_session_id

    def _agent_label(self) -> str | None:
        try:
            return self.session.current_agent.label
        except RuntimeError:
            return None

    def _record(self, hits: tuple[Hit, ...] | list[Hit], side: str) -> None:
        if not hits:
            return
        ts = clock.now()
        sid, agent = self.session_id, self._agent_label()
        for h in hits:
            self.recorder.submit_event(
                hit_event(
                    h,
                    ts=ts,
                    project=self.project,
                    side=side,
                    session_id=sid,
                    agent=agent,
                    metadata=self.base_metadata,
                ).to_record()
            )

    # ------------------------------------------------------------ input side

    def check_message(self, msg: Any) -> dict[str, Any]:
        """Check one user message in place (once); returns its mark."""
        mark = msg.extra.get(MARK)
        if mark is not None:
            return mark
        text = _text_of(msg)
        if self._last is not None and self._last[0] == text:  # the same words again
            mark = dict(self._last[1])  # (a preemptive generation, then the final turn)
            if mark.get("text") is not None:
                _set_text(msg, mark["text"])
            msg.extra[MARK] = {k: v for k, v in mark.items() if k != "text"}
            return msg.extra[MARK]
        carry_msg, prefix, carry_start = self._carry or (None, "", 0)
        verdict = self.policy.check(text, "input", prefix=prefix) if text else None
        self._record(verdict.hits if verdict else (), "input")
        new_text: str | None = None
        if verdict is not None and verdict.verdict in ("redact", "block"):
            new_text = verdict.text if verdict.verdict == "redact" else verdict.masked
            _set_text(msg, new_text)
            self._redact_carry(verdict, carry_msg, carry_start)
        mark = {
            "verdict": verdict.verdict if verdict else "pass",
            "categories": sorted({h.category for h in verdict.hits}) if verdict else [],
        }
        msg.extra[MARK] = mark
        self._last = (text, {**mark, "text": new_text})
        tail = _number_tail(text) if text else None
        self._carry = (weakref.ref(msg), text[tail:], tail) if tail is not None else None
        return mark

    def _redact_carry(self, verdict: Verdict, carry_msg: Any, carry_start: int) -> None:
        """A finding that began in the previous turn: mask that turn's number too, so the
        history keeps no half of it."""
        prev = carry_msg() if carry_msg is not None else None
        if prev is None:
            return
        reaching = [h for h in verdict.hits if h.start == 0 and h.action in ("redact", "block")]
        if not reaching:
            return
        text = _text_of(prev)
        _set_text(prev, text[:carry_start] + reaching[0].placeholder)

    def _pending_verdict(self, chat_ctx: Any) -> dict[str, Any] | None:
        """Check the user messages since the agent last spoke; a block among them wins."""
        pending: list[Any] = []
        for item in reversed(chat_ctx.items):
            if getattr(item, "type", None) != "message":
                continue
            if item.role == "assistant":
                break
            if item.role == "user":
                pending.append(item)
        blocked: dict[str, Any] | None = None
        for msg in reversed(pending):
            mark = self.check_message(msg)
            if mark["verdict"] == "block" and not mark.get("answered"):
                blocked = mark
        return blocked

    def _turn_hook(self, original: Callable[..., Any]) -> Callable[..., Any]:
        async def on_user_turn_completed(turn_ctx: Any, new_message: Any) -> None:
            if not self._bypass:
                try:
                    mark = self.check_message(new_message)
                except Exception:  # a detector bug must not drop the caller's turn
                    log.exception("voicegw: guardrails check failed; the turn goes on")
                    mark = {"verdict": "pass"}
                if mark["verdict"] == "block":
                    return  # llm_node says the block line; the agent's hook is skipped
            result = original(turn_ctx, new_message)
            if inspect.isawaitable(result):
                await result

        return on_user_turn_completed

    # ------------------------------------------------------------ both sides, per generation

    def _llm_node(self, original: Callable[..., Any]) -> Callable[..., Any]:
        guard = self

        async def llm_node(chat_ctx: Any, tools: Any, model_settings: Any) -> AsyncIterator[Any]:
            if guard._bypass:
                async for chunk in _stream(original(chat_ctx, tools, model_settings)):
                    yield chunk
                return
            blocked = guard._pending_verdict(chat_ctx)
            if blocked is not None:
                blocked["answered"] = True
                yield guard.policy.block_message  # the LLM is never called
                return
            async for chunk in guard._guard_output(original(chat_ctx, tools, model_settings)):
                yield chunk

        return llm_node

    async def _guard_output(self, source: Any) -> AsyncIterator[Any]:
        from livekit.agents import llm as lk_llm

        if inspect.isawaitable(source):
            source = await source
        if source is None:
            return
        if isinstance(source, str):
            verdict = self.policy.check(source, "output")
            self._record(verdict.hits, "output")
            yield verdict.text
            return
        if isinstance(source, lk_llm.ChatChunk):
            source = _one(source)
        stream = StreamGuard(self.policy, "output", on_hit=lambda h: self._record([h], "output"))
        try:
            async for chunk in source:
                if isinstance(chunk, str):
                    text, is_chunk = chunk, False
                elif isinstance(chunk, lk_llm.ChatChunk):
                    text = chunk.delta.content if chunk.delta is not None else None
                    is_chunk = True
                else:  # FlushSentinel: a segment ends; release what is held first
                    rest = stream.flush() if stream.active else ""
                    stream = StreamGuard(
                        self.policy, "output", on_hit=lambda h: self._record([h], "output")
                    )
                    if rest:
                        yield rest
                    yield chunk
                    continue
                if not text:
                    yield chunk
                    continue
                out = stream.push(text)
                if stream.blocked:
                    yield (" " if stream.released else "") + self.policy.block_message
                    return
                if not is_chunk:
                    if out:
                        yield out
                elif out or chunk.delta.tool_calls or chunk.usage is not None:
                    delta = chunk.delta.model_copy(update={"content": out or None})
                    yield chunk.model_copy(update={"delta": delta})
            rest = stream.flush()
            if stream.blocked:
                yield (" " if stream.released else "") + self.policy.block_message
            elif rest:
                yield rest
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()


async def _stream(source: Any) -> AsyncIterator[Any]:
    if inspect.isawaitable(source):
        source = await source
    if source is None:
        return
    if isinstance(source, str) or not hasattr(source, "__aiter__"):
        yield source
        return
    async for chunk in source:
        yield chunk


async def _one(chunk: Any) -> AsyncIterator[Any]:
    yield chunk


def guard(
    session: AgentSession,
    project: str | None = None,
    *,
    config: Config | None = None,
    bypass: bool = False,
    reason: str | None = None,
) -> SessionGuard:
    """Enforce `project`'s guardrails on `session` (before or after `session.start()`).

    The project resolves like `track()`'s. `bypass=True` starts the session with
    enforcement off (for internal testing); the switch is recorded as an event, as is
    every later `guard.set_bypass(...)`. Calling it twice returns the same guard.
    """
    import voicegw_cli.livekit as vg
    from voicegw_cli.config import GuardrailSettings, resolve_project
    from voicegw_cli.guardrails.policy import policy_for

    cfg = config or vg.get_config()
    pid = resolve_project(project, cfg)
    existing = _guards.get(session)
    if existing is not None:
        if bypass:
            existing.set_bypass(True, reason)
        return existing
    p = cfg.projects.get(pid)
    settings = p.guardrails if p is not None else GuardrailSettings()
    if not settings.active:
        log.info("voicegw: project %r has no guardrails on; only a bypass is recorded", pid)
    meta, _ = vg._job_metadata()

    def session_id() -> str | None:
        tracker = vg._trackers.get(session)
        return tracker.converter.session_id if tracker is not None else None

    g = SessionGuard(
        session,
        policy_for(settings),
        project=pid,
        recorder=vg.recorder(cfg),
        base_metadata=meta,
        session_id=session_id,
    ).attach()
    _guards[session] = g
    if bypass:
        g.set_bypass(True, reason)
    return g


def warm_guardrails(config: Config) -> int:
    """Build the policy of every project with guardrails on (loads numbering plans and the
    IBAN registry), so no call's first turn pays for it. Returns how many were built."""
    from voicegw_cli.guardrails.policy import policy_for

    built = 0
    for p in config.projects.values():
        if p.guardrails.active:
            try:
                policy_for(p.guardrails)
            except ImportError as exc:
                log.warning(
                    "voicegw: guardrails need %s: pip install 'voicegw[guardrails]'", exc.name
                )
                return built
            built += 1
    return built
