"""Voice guardrails: a project's `guardrails:` policy applied to what callers say (input,
before the LLM) and what the agent says back (output, before TTS).

Pure library: no LiveKit here (the wiring is `voicegw_cli.hook.guardrails`), and nothing
heavy at import time; `phonenumbers` and `python-stdnum` load when a `Policy` is built.

    from voicegw_cli.guardrails import check
    verdict = check(config, "support", "my card is four two four two ...")
    verdict.verdict, verdict.text        # "redact", "my card is [card number]"
"""

from __future__ import annotations

from typing import Any

__all__ = ["Hit", "Policy", "StreamGuard", "Verdict", "check", "policy_for"]

_EXPORTS = {
    "Hit": "voicegw_cli.guardrails.policy",
    "Policy": "voicegw_cli.guardrails.policy",
    "Verdict": "voicegw_cli.guardrails.policy",
    "check": "voicegw_cli.guardrails.policy",
    "policy_for": "voicegw_cli.guardrails.policy",
    "StreamGuard": "voicegw_cli.guardrails.stream",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'voicegw_cli.guardrails' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
