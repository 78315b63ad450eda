"""A LiveKit voice agent whose whole pipeline comes from voicegw.yaml via `voicegw.stack()`.

No plugin imports and no keys in code: each project names its stack, and voicegw builds
LiveKit's own plugin objects with that project's provider keys. Copy this file, then:

    pip install "voicegw[livekit]"
    export LIVEKIT_URL=... LIVEKIT_API_KEY=... LIVEKIT_API_SECRET=...
    export DEEPGRAM_API_KEY=... OPENAI_API_KEY=... CARTESIA_API_KEY=...
    python stack_agent.py dev          # or: start (production)

A voicegw.yaml to go with it:

    default_project: support
    projects:
      support:
        name: Support line
        default_stack: premium
        daily_budget: 25
        budget_action: throttle
        fallback_stack: economy
        providers:                           # support's own OpenAI account
          openai: {api_key: "${SUPPORT_OPENAI_KEY}"}
    stacks:
      premium: {stt: deepgram/nova-3, llm: openai/gpt-4o-mini, tts: "cartesia/sonic-3"}
      economy: {stt: deepgram/nova-3, llm: groq/llama-3.1-8b-instant, tts: deepgram/aura-2}

Runtime projects work the same way: `voicegw projects create acme --name Acme
--default-stack premium`, then `voicegw projects set-key acme openai` stores Acme's key
encrypted, and a job whose metadata says `{"project": "acme"}` runs on Acme's account.
Usage is recorded under the project the models were built for: `track(session)` needs no
`project=`.
"""

from __future__ import annotations

import json
import logging

from livekit.agents import Agent, AgentServer, AgentSession, JobContext, cli

import voicegw_cli.livekit as voicegw

logger = logging.getLogger("stack-agent")


def project_for(metadata: str | None) -> str | None:
    """The job's project from dispatch metadata (`{"project": "acme"}`); None means
    voicegw's usual resolution (`default_project` in voicegw.yaml)."""
    try:
        return str(json.loads(metadata or "{}").get("project") or "") or None
    except (ValueError, AttributeError):
        return None


class Assistant(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You are a helpful voice assistant. Keep answers short.")

    async def on_enter(self) -> None:
        self.session.generate_reply(instructions="Greet the caller.")


async def build_session(project: str | None) -> AgentSession:
    """The project's default stack, or its cheaper fallback stack when its budget says
    throttle. Raises BudgetExceededError when the project is blocked."""
    voicegw.set_project(project)  # this job only
    admission = await voicegw.budget_guard().admit()
    stack = admission.fallback_stack if admission.throttled else None
    stt, llm, tts = voicegw.stack(stack)  # None: the project's default_stack
    return AgentSession(stt=stt, llm=llm, tts=tts)


server = AgentServer(setup_fnc=voicegw.prewarm)  # loads config, imports the stack's plugins


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    try:
        session = await build_session(project_for(ctx.job.metadata))
    except voicegw.BudgetExceededError as exc:
        logger.warning("refusing call: %s", exc)
        ctx.shutdown(reason="budget exceeded")
        return
    voicegw.track(session)  # attributed to the stack's project
    await session.start(agent=Assistant(), room=ctx.room)


if __name__ == "__main__":
    cli.run_app(server)
