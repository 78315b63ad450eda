"""A complete LiveKit voice agent with voicegw cost tracking and budget enforcement.

Copy this file, then:

    pip install "voicegw[livekit]"
    export LIVEKIT_URL=... LIVEKIT_API_KEY=... LIVEKIT_API_SECRET=...
    export DEEPGRAM_API_KEY=... OPENAI_API_KEY=... CARTESIA_API_KEY=...
    python livekit_agent.py dev          # or: start (production)

What voicegw does here:

* `prewarm` loads voicegw.yaml and the price tables when the worker starts a process,
  so no call waits for them.
* `job_request_filter` rejects jobs of projects whose `budget_action: block` budget is
  spent, before a process is even assigned.
* In the entrypoint, `set_project` tags this job's usage (this job's context only),
  `budget_guard().admit()` applies warn / throttle / block, and a throttled project gets
  its `fallback_stack` from voicegw.yaml to build a cheaper pipeline.
* `track(session)` records every unit of usage (STT seconds, LLM tokens, TTS characters)
  and writes it off the event loop; `voicegw costs` and `voicegw budget check` read it.

A voicegw.yaml to go with it:

    timezone: Europe/Berlin
    projects:
      support: {name: Support line, daily_budget: 25, budget_action: throttle,
                fallback_stack: economy}
      sales:   {name: Sales line, daily_budget: 10, budget_action: block}
    stacks:
      economy: {stt: deepgram/nova-3, llm: openai/gpt-4.1-nano, tts: cartesia/sonic-turbo}
"""

from __future__ import annotations

import json
import logging

from livekit.agents import (
    Agent,
    AgentServer,
    AgentSession,
    JobContext,
    JobRequest,
    cli,
)
from livekit.plugins import cartesia, deepgram, openai

import voicegw_cli.livekit as voicegw

logger = logging.getLogger("support-agent")

DEFAULT_PROJECT = "support"


def project_for(room_name: str, metadata: str | None) -> str:
    """Which voicegw project a call belongs to: job metadata `{"project": ...}` if the
    dispatcher set it, else the room-name prefix (`sales-1234` -> `sales`)."""
    if metadata:
        try:
            project = json.loads(metadata).get("project")
            if project:
                return str(project)
        except (ValueError, AttributeError):
            pass
    prefix = room_name.split("-", 1)[0]
    return prefix or DEFAULT_PROJECT


def project_of_request(req: JobRequest) -> str:
    """For the job-request hook (module level, so LiveKit can pickle it)."""
    return project_for(req.room.name, req.job.metadata)


class Receptionist(Agent):
    def __init__(self) -> None:
        super().__init__(
            instructions=(
                "You are a friendly receptionist on a phone line. Keep answers short, "
                "ask one question at a time, and never read out long lists."
            )
        )

    async def on_enter(self) -> None:
        self.session.generate_reply(instructions="Greet the caller and ask how you can help.")


def build_session(fallback: dict[str, str] | None) -> AgentSession:
    """The usual premium pipeline, or the project's cheaper stack when throttled.

    Stack entries are "provider/model" ids, which LiveKit Inference accepts as they are
    (voicegw records those as provider `livekit`, with the underlying model visible).
    """
    if fallback:
        return AgentSession(stt=fallback["stt"], llm=fallback["llm"], tts=fallback["tts"])
    return AgentSession(
        stt=deepgram.STT(model="nova-3"),
        llm=openai.LLM(model="gpt-4o-mini"),
        tts=cartesia.TTS(model="sonic-3"),
    )


server = AgentServer(setup_fnc=voicegw.prewarm)


@server.rtc_session(on_request=voicegw.job_request_filter(project_of_request))
async def entrypoint(ctx: JobContext) -> None:
    project = project_for(ctx.room.name, ctx.job.metadata)
    voicegw.set_project(project)  # affects this job only

    try:
        admission = await voicegw.budget_guard().admit()
    except voicegw.BudgetExceededError as exc:
        # `block`: refuse the call; calls already in progress elsewhere finish normally.
        logger.warning("refusing call: %s", exc)
        ctx.shutdown(reason="budget exceeded")
        return
    if admission.throttled:
        logger.info(
            "project %s is over budget; using stack %s",
            project,
            admission.fallback_stack or "(default, delayed)",
        )

    session = build_session(admission.fallback)
    voicegw.track(session, agent="receptionist")  # before or after start(); either works
    await session.start(agent=Receptionist(), room=ctx.room)


if __name__ == "__main__":
    cli.run_app(server)
