"""The output side: the agent's reply checked as it streams, before TTS speaks it.

A reply arrives a few characters at a time. `StreamGuard.push` releases everything a
detector can no longer change and holds back only the tail that could still turn into a
finding: a number still being read out (and the letters of an IBAN), an e-mail address
around a trailing "at"/"dot", the last few words when a phrase category is on, and a word
cut in half by the chunking. A sentence with nothing number-like in it goes straight
through, a word or two behind the LLM.

Detection runs on the released tail (for context such as "card number is") plus what is
held, so a finding whose words arrived in separate chunks is still found; a finding is
final once it ends before the held tail starts. Off-topic is judged on the whole reply at
the end and can only alert (config refuses anything else for the output side).
"""

from __future__ import annotations

from collections.abc import Callable

from voicegw_cli.guardrails.numbers import NATO
from voicegw_cli.guardrails.pii import TLDS
from voicegw_cli.guardrails.policy import Hit, Policy, apply
from voicegw_cli.guardrails.text import FILLERS, NUMBER_WORDS, REPEAT, Token, tokenize

#: Released text kept as context for the next detection.
CONTEXT_CHARS = 200
#: Past this much held text, release anyway (a never-ending number is not a card).
MAX_HOLD_CHARS = 400
_NUMBERISH = (
    NUMBER_WORDS
    | frozenset(REPEAT)
    | FILLERS
    | frozenset(NATO)
    | frozenset(
        """plus dash hyphen space january february march april may june july august september
        october november december jan feb mar apr jun jul aug sep sept oct nov dec first second
        third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth
        fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth thirtieth
        st nd rd th of""".split()
    )
)
_EMAILISH = frozenset({"at", "@", "dot", "underscore", "_", "dash", "hyphen"})
_PHRASE_WORDS = {"medical": 8, "prompt_injection": 12}


def _numberish(t: Token) -> bool:
    if t.kind == "d":
        return True
    if t.kind == "p":
        return t.low in "+,.-–—:()"
    return t.low in _NUMBERISH or len(t.low) == 1 or (t.text.isupper() and len(t.text) <= 4)


class StreamGuard:
    """Checks one reply as it streams. `push(chunk)` returns what may be spoken now;
    `flush()` returns the rest at the end. After a `block`, `blocked` is true and nothing
    more is released: the caller says the policy's `block_message` instead."""

    def __init__(
        self,
        policy: Policy,
        side: str = "output",
        *,
        on_hit: Callable[[Hit], None] | None = None,
    ) -> None:
        self.policy = policy
        self.side = side
        self.on_hit = on_hit
        cats = policy.categories(side)
        self.numbers = bool(cats & {"pii", "financial", "medical"})
        self.emails = "pii" in cats
        self.phrase_words = max((n for c, n in _PHRASE_WORDS.items() if c in cats), default=0)
        self.topic = "off_topic" in cats
        self.active = bool(cats)
        self.hits: list[Hit] = []
        self.blocked = False
        self.held_max = 0  # the most characters ever held back, for the bench
        self._held = ""
        self._ctx = ""
        self._released: list[str] = []

    @property
    def released(self) -> str:
        return "".join(self._released)

    # ------------------------------------------------------------ holding back

    def _open_tail(self, held: str, tokens: list[Token]) -> int:
        """Where the part of `held` that a detector may still be reading begins."""
        if not tokens:
            return len(held)
        cut = len(held)
        last = tokens[-1]
        i = len(tokens)
        if last.end == len(held) and last.kind != "p":  # a word or number cut by chunking
            cut = last.start
            i -= 1  # (it may be the next digit: look at the number before it)
        if self.numbers:
            while i > 0 and _numberish(tokens[i - 1]):
                i -= 1
            if i < len(tokens):
                cut = min(cut, tokens[i].start)
        if self.emails:
            window = tokens[-10:]
            for k, t in enumerate(window):
                joiner = t.low in _EMAILISH or (
                    t.low == "." and t.end < len(held) and held[t.end].isalnum()
                )
                if joiner:
                    first = max(0, len(tokens) - len(window) + k - 3)
                    cut = min(cut, tokens[first].start)
                    break
            if last.low in TLDS and len(tokens) > 1 and tokens[-2].low in ("dot", "."):
                # "dot co" may go on "dot uk"
                cut = min(cut, tokens[max(0, len(tokens) - 4)].start)
        if self.phrase_words:
            words = [t for t in tokens if t.kind != "p"]
            if words:
                cut = min(cut, words[max(0, len(words) - self.phrase_words)].start)
        return cut

    # ------------------------------------------------------------ the stream

    def push(self, chunk: str) -> str:
        if self.blocked:
            return ""
        if not self.active:
            self._released.append(chunk)
            return chunk
        self._held += chunk
        self.held_max = max(self.held_max, len(self._held))
        return self._release(final=len(self._held) > MAX_HOLD_CHARS)

    def flush(self) -> str:
        """The end of the reply: release what is held and judge the whole reply's topic."""
        if self.blocked:
            return ""
        out = self._release(final=True) if self.active else ""
        if self.topic and not self.blocked:
            reply = self.released
            for f in self.policy.detect(reply, self.side):
                if f.category == "off_topic":
                    self._record(self.policy.hit(f, self.side))
        return out

    def _record(self, hit: Hit) -> None:
        self.hits.append(hit)
        if self.on_hit is not None:
            self.on_hit(hit)

    def _release(self, *, final: bool) -> str:
        held = self._held
        if not held:
            return ""
        ctx = self._ctx
        cut = len(held) if final else self._open_tail(held, tokenize(held))
        if cut == 0:
            return ""
        base = len(ctx)
        findings = [
            f
            for f in self.policy.detect(ctx + held, self.side, exclude=frozenset({"off_topic"}))
            if f.end > base  # the rest were decided when they were released
        ]
        moved = not final
        while moved:  # a finding still growing past the cut is held back whole
            moved = False
            for f in findings:
                if f.start - base < cut < f.end - base:
                    cut, moved = max(0, f.start - base), cut > 0
        if cut == 0 and not final:
            return ""
        final_hits = [self.policy.hit(f, self.side, base) for f in findings if f.end - base <= cut]
        for h in final_hits:
            self._record(h)
        if any(h.action == "block" for h in final_hits):
            self.blocked = True
            self._held = ""
            return ""
        out = apply(held[:cut], [h for h in final_hits if h.action == "redact"])
        self._held = held[cut:]
        self._ctx = (ctx + out)[-CONTEXT_CHARS:]
        self._released.append(out)
        return out
