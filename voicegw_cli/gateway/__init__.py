"""Building provider plugins from config: keys by project, stacks, fallback chains, and the
provider/model registry (built-in, voicegw.yaml, runtime additions in the store).

Importing this package loads no LiveKit module; a build imports the plugin it needs.
`voicegw_cli.livekit` is the agent-facing door (`stt()`, `llm()`, `tts()`, `stack()`,
`*_with_fallback()`); the CLI and MCP server use `registry`, `manage` and `probe`.
"""

from voicegw_cli.gateway.build import Built, Gateway, billing_alias, built_info, session_project
from voicegw_cli.gateway.kinds import KINDS, Kind, PluginMissingError
from voicegw_cli.gateway.registry import ModelInfo, Provider, Registry, parse_ref
from voicegw_cli.gateway.state import RuntimeState

__all__ = [
    "KINDS",
    "Built",
    "Gateway",
    "Kind",
    "ModelInfo",
    "PluginMissingError",
    "Provider",
    "Registry",
    "RuntimeState",
    "billing_alias",
    "built_info",
    "parse_ref",
    "session_project",
]
