"""Framework adapters that turn usage events into line items, priced and spooled off the
agent's event loop. Importable without LiveKit; only `voicegw_cli.hook.livekit` touches it
(and only through the session object it is given)."""

from voicegw_cli.hook.recorder import Recorder, flush_all, shared_recorder

__all__ = ["Recorder", "flush_all", "shared_recorder"]
