"""The spool's other record kinds: one call record per session, latency samples per turn,
provider errors. The column contract the hook writes, the fold reads and queries use.

Line items (`voicegw_cli.items`) carry no `kind`; every other spool record starts with
`"kind": "<call|latency|error>"`, so old spool files and the budget guard (which sums
`cost_usd` and skips records without one) are unaffected. Nested values (attributes, the
agents list, LiveKit's usage totals) travel as JSON text, as line-item metadata does.
"""

from __future__ import annotations

import json
from typing import Any

CALL = "call"
LATENCY = "latency"
ERROR = "error"
KINDS = (CALL, LATENCY, ERROR)

#: One row per session run, written when the session closes.
CALL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("session_id", "VARCHAR"),  # = line_items.session_id
    ("project", "VARCHAR"),
    ("started_at", "TIMESTAMP"),  # naive UTC inside the store
    ("ended_at", "TIMESTAMP"),
    ("duration_seconds", "DOUBLE"),
    ("agents", "VARCHAR"),  # JSON list of agent labels, in order of appearance
    ("room", "VARCHAR"),
    ("job_id", "VARCHAR"),
    ("participant_identity", "VARCHAR"),  # SIP numbers masked unless configured otherwise
    ("participant_kind", "VARCHAR"),  # standard, sip, agent, ingress, egress, connector
    ("caller_number", "VARCHAR"),  # SIP `sip.phoneNumber`, masked by default
    ("end_reason", "VARCHAR"),  # LiveKit's CloseReason: participant_disconnected, ...
    ("error", "VARCHAR"),  # the close error, if the session closed on one
    ("turns", "BIGINT"),  # user turns
    ("attributes", "VARCHAR"),  # JSON object of str -> str, from track(attributes=...)
    ("lk_usage", "VARCHAR"),  # JSON list: LiveKit's own session usage totals at close
)

#: One row per measured value: what LiveKit put on a chat message's `metrics`.
LATENCY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "VARCHAR"),  # <session_id>:<chat item id>:<metric>, so a replay adds nothing
    ("timestamp", "TIMESTAMP"),  # when the chat message was created
    ("session_id", "VARCHAR"),
    ("project", "VARCHAR"),
    ("agent", "VARCHAR"),
    ("turn", "BIGINT"),  # 0 = before the user's first turn (a greeting), then 1, 2, ...
    ("item_id", "VARCHAR"),  # LiveKit's ChatMessage.id
    ("metric", "VARCHAR"),
    ("seconds", "DOUBLE"),
    ("provider", "VARCHAR"),  # of the model that produced the value (canonical id)
    ("model", "VARCHAR"),
)

#: One row per `error` event LiveKit emitted on the session (retries included).
ERROR_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "VARCHAR"),
    ("timestamp", "TIMESTAMP"),
    ("session_id", "VARCHAR"),
    ("project", "VARCHAR"),
    ("agent", "VARCHAR"),
    ("source", "VARCHAR"),  # stt, llm, tts, realtime or other
    ("provider", "VARCHAR"),
    ("model", "VARCHAR"),
    ("error_type", "VARCHAR"),  # LiveKit's error type: llm_error, stt_error, ...
    ("recoverable", "BOOLEAN"),
    ("message", "VARCHAR"),
)

#: export-costs writes each call attribute as a column `attr_<name>` after the line-item
#: columns (names sorted); ingest reads past them.
ATTRIBUTE_PREFIX = "attr_"

COLUMNS_BY_KIND: dict[str, tuple[tuple[str, str], ...]] = {
    CALL: CALL_COLUMNS,
    LATENCY: LATENCY_COLUMNS,
    ERROR: ERROR_COLUMNS,
}
#: The column that makes a record unique (a replayed spool line adds nothing).
KEY_BY_KIND = {CALL: "session_id", LATENCY: "id", ERROR: "id"}
#: The time column each kind's duplicate check is narrowed to.
TIME_BY_KIND = {CALL: "ended_at", LATENCY: "timestamp", ERROR: "timestamp"}

#: Latency metrics, in pipeline order: (name, chat role, LiveKit MetricsReport key, stage
#: whose model produced it). e2e is filed under the reply's LLM: it spans the whole turn.
LATENCY_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("transcription_delay", "user", "transcription_delay", "stt"),
    ("end_of_turn_delay", "user", "end_of_turn_delay", "turn_detection"),
    ("llm_ttft", "assistant", "llm_node_ttft", "llm"),
    ("tts_ttfb", "assistant", "tts_node_ttfb", "tts"),
    ("e2e_latency", "assistant", "e2e_latency", "llm"),
)
METRIC_NAMES: tuple[str, ...] = tuple(m[0] for m in LATENCY_METRICS)
METRIC_HELP = {
    "transcription_delay": "end of user speech to final transcript (STT)",
    "end_of_turn_delay": "end of user speech to the decision that the turn ended",
    "llm_ttft": "LLM time to first token",
    "tts_ttfb": "TTS time to first audio byte",
    "e2e_latency": "end of user speech to the agent starting to speak",
}


def record(kind: str, **fields: Any) -> dict[str, Any]:
    """A spool record of `kind` with exactly its columns, `kind` first (what the fold and
    the budget guard look for). Dicts and lists become JSON text."""
    rec: dict[str, Any] = {"kind": kind}
    for name, _typ in COLUMNS_BY_KIND[kind]:
        value = fields.get(name)
        if isinstance(value, dict | list):
            value = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        rec[name] = value
    return rec
