"""The policy: a project's `guardrails:` settings applied to one utterance.

`Policy.check(text, side)` is the one call: the runtime hook uses it on every user turn
(input) and on the agent's reply as it streams (output, through `StreamGuard`), and
`voicegw guardrails check` prints what it returns. It detects what the side's enabled
categories look for, gives each finding the configured action, and returns a `Verdict`:

* `pass`: nothing found (or only categories set to `off`);
* `alert`: findings whose action is `alert`; the text goes on unchanged;
* `redact`: spans with `redact` replaced by typed placeholders (`[card number]`);
* `block`: the turn stops; the agent says `block_message` instead and the LLM is not called.

The strongest action found wins: block > redact > alert.

Detectors by category (the `detector` names events carry):

* `pii`: `phone`, `phone.context`, `email.spoken`, `email.typed`, `ssn.context`,
  `ssn.format`, `dob`
* `financial`: `card.luhn`, `card.context`, `card.unverified`, `account.iban`, `account.routing`,
  `account.routing_context`, `account.sort_code`, `account.number`, `security_code.cvv`,
  `security_code.pin`
* `medical`: `medical.condition`, `medical.medication`, `medical.diagnosis`,
  `medical_id.nhs`, `medical_id.record`
* `prompt_injection`: `prompt_injection.<kind>` and `prompt_injection.<kind>.spelled`,
  kind one of override, role_play, reveal, system, new_instructions, no_rules, say
* `off_topic`: `off_topic.request`, `off_topic.no_keyword`
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voicegw_cli.config import GUARDRAIL_SIDES
from voicegw_cli.guardrails.findings import Finding

if TYPE_CHECKING:
    from voicegw_cli.config import Config, GuardrailSettings

VERDICTS = ("pass", "alert", "redact", "block")
_RANK = {"off": 0, "alert": 1, "redact": 2, "block": 3}
_NUMBER_CATEGORIES = frozenset({"pii", "financial", "medical"})


@dataclass(frozen=True, slots=True)
class Hit:
    """A finding with the action the policy gives it. `start`/`end` index the checked text."""

    category: str
    action: str
    start: int
    end: int
    detector: str
    excerpt: str
    placeholder: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "action": self.action,
            "start": self.start,
            "end": self.end,
            "detector": self.detector,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """What happens to one utterance: the verdict, what was found, and the text that goes
    on (redacted; on `block`, the line the agent says instead)."""

    verdict: str
    side: str
    hits: tuple[Hit, ...]
    text: str
    #: The checked text with every hit replaced, whatever its action: what a conversation
    #: history keeps of a blocked turn.
    masked: str

    @property
    def blocked(self) -> bool:
        return self.verdict == "block"

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "categories": [h.as_dict() for h in self.hits],
            "text": self.text,
        }


def apply(text: str, hits: list[Hit] | tuple[Hit, ...]) -> str:
    """`text` with each hit's span replaced by its placeholder (overlaps merged)."""
    if not hits:
        return text
    for h in hits:
        if h.category == "off_topic":
            return h.placeholder
    spans = sorted(hits, key=lambda h: (h.start, -h.end))
    out: list[str] = []
    pos = 0
    cur_end = -1
    for h in spans:
        if h.start < cur_end:  # inside the previous replacement
            cur_end = max(cur_end, h.end)
            pos = cur_end
            continue
        out.append(text[pos : h.start])
        out.append(h.placeholder)
        pos = cur_end = h.end
    out.append(text[pos:])
    return "".join(out)


def _allow_key(value: str) -> str:
    value = value.strip().lower()
    if "@" in value:
        return value
    digits = re.sub(r"\D", "", value)
    return digits if len(digits) >= 6 else value


class Policy:
    """A project's guardrails, ready to check utterances (build once per project)."""

    def __init__(self, settings: GuardrailSettings) -> None:
        from voicegw_cli.guardrails.numbers import PhoneCheck, iban_lengths
        from voicegw_cli.guardrails.topic import TopicMatcher

        self.settings = settings
        self.block_message = settings.block_message
        # Load what detection needs now (modules, numbering plans, the IBAN registry), so the
        # first call does not pay ~0.1 s for it in the middle of a conversation.
        from voicegw_cli.guardrails import injection, medical, pii  # noqa: F401

        self._phones = PhoneCheck(settings.phone_regions)
        self._phones.warm()
        iban_lengths()
        topic = settings.topic
        self._topic = TopicMatcher.build(topic.description, topic.keywords) if topic else None
        self._allow = frozenset(_allow_key(a) for a in settings.allow)
        self._categories = {
            side: frozenset(
                c for c, a in settings.actions[side].items() if a != "off" and settings.enabled
            )
            for side in GUARDRAIL_SIDES
        }

    def categories(self, side: str) -> frozenset[str]:
        """Categories that act on `side`."""
        return self._categories[side]

    def active(self, side: str) -> bool:
        return bool(self._categories[side])

    def action(self, side: str, category: str) -> str:
        return self.settings.action(side, category)

    # ------------------------------------------------------------ detection

    def detect(
        self, text: str, side: str, *, exclude: frozenset[str] = frozenset()
    ) -> list[Finding]:
        """Every finding of the categories enabled on `side`, in text order."""
        from voicegw_cli.guardrails import injection, medical, numbers, pii, topic
        from voicegw_cli.guardrails.text import number_runs, tokenize

        cats = self._categories[side] - exclude
        if not cats or not text:
            return []
        tokens = tokenize(text)
        found: list[Finding] = []
        if cats & _NUMBER_CATEGORIES:
            runs = number_runs(tokens)
            found.extend(numbers.find_identifiers(text, tokens, runs, self._phones))
        if "pii" in cats:
            found.extend(pii.emails(tokens))
            found.extend(pii.dates_of_birth(tokens))
        if "medical" in cats:
            found.extend(medical.medical_terms(tokens))
        if "prompt_injection" in cats:
            found.extend(injection.injections(tokens))
        # an utterance with something else in it (details, an injection) is judged on that
        if "off_topic" in cats and self._topic is not None and not found:
            found.extend(topic.off_topic(tokens, self._topic))
        found = [f for f in found if f.category in cats and not self._allowed(f)]
        found.sort(key=lambda f: (f.start, f.end))
        return found

    def _allowed(self, f: Finding) -> bool:
        if not self._allow or not f.key:
            return False
        key = _allow_key(f.key)
        if key in self._allow:
            return True
        return (
            key.isdigit()
            and len(key) >= 10
            and any(a.isdigit() and len(a) >= 10 and a[-10:] == key[-10:] for a in self._allow)
        )

    # ------------------------------------------------------------ the verdict

    def check(self, text: str, side: str = "input", *, prefix: str = "") -> Verdict:
        """The verdict on `text`. `prefix` is text already passed on (the end of the
        caller's previous turn): findings that reach back into it (a card number split by
        a pause) count, clipped to `text`; findings wholly inside it do not."""
        if side not in GUARDRAIL_SIDES:
            raise ValueError(f"side must be one of {', '.join(GUARDRAIL_SIDES)}: {side!r}")
        if not self._categories[side]:
            return Verdict("pass", side, (), text, text)
        offset = len(prefix) + 1 if prefix else 0
        full = f"{prefix} {text}" if prefix else text
        hits = [self.hit(f, side, offset) for f in self.detect(full, side) if f.end > offset]
        return self.verdict(text, side, hits)

    def hit(self, f: Finding, side: str, offset: int = 0) -> Hit:
        """`f` with this side's action, its span moved back by `offset` (clipped at 0)."""
        return Hit(
            category=f.category,
            action=self.settings.actions[side][f.category],
            start=max(f.start - offset, 0),
            end=f.end - offset,
            detector=f.detector,
            excerpt=f.excerpt,
            placeholder=f.placeholder,
        )

    def verdict(self, text: str, side: str, hits: list[Hit]) -> Verdict:
        top = max((_RANK[h.action] for h in hits), default=0)
        verdict = VERDICTS[top]
        masked = apply(text, hits)
        if verdict == "block":
            out = self.block_message
        elif verdict == "redact":
            out = apply(text, [h for h in hits if h.action == "redact"])
        else:
            out = text
        return Verdict(verdict, side, tuple(hits), out, masked)


_policies: dict[int, tuple[GuardrailSettings, Policy]] = {}
_policies_lock = threading.Lock()


def policy_for(settings: GuardrailSettings) -> Policy:
    """The (cached) policy for a project's settings."""
    with _policies_lock:
        entry = _policies.get(id(settings))
        if entry is None or entry[0] is not settings:
            entry = _policies[id(settings)] = (settings, Policy(settings))
        return entry[1]


def check(config: Config, project: str, text: str, *, side: str = "input") -> Verdict:
    """`voicegw guardrails check`: the verdict a configured project gives `text`."""
    from voicegw_cli.errors import NotFoundError

    p = config.projects.get(project)
    if p is None:
        import difflib

        close = difflib.get_close_matches(project, list(config.projects), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        known = ", ".join(sorted(config.projects))
        raise NotFoundError(f"no project {project!r} in {config.source}{hint} (known: {known})")
    return policy_for(p.guardrails).check(text, side)
