"""What a detector reports, the placeholder a redaction leaves, and the masked excerpt an
event keeps. The raw matched text never leaves this module except as the redacted text
that goes on to the LLM or the speaker."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Detector (the part before the first dot) -> the typed placeholder a redaction leaves.
PLACEHOLDERS = {
    "card": "[card number]",
    "account": "[account number]",
    "security_code": "[security code]",
    "phone": "[phone number]",
    "email": "[email address]",
    "ssn": "[social security number]",
    "dob": "[date of birth]",
    "medical": "[medical information]",
    "medical_id": "[medical record number]",
    "prompt_injection": "[instruction removed]",
    "off_topic": "[off-topic request]",
}
#: Detectors whose matched words are an attack pattern, not someone's data: the event may
#: keep the phrase itself (shortened).
_PHRASE_DETECTORS = frozenset({"prompt_injection"})


@dataclass(frozen=True, slots=True)
class Finding:
    """One span of an utterance that a detector recognised."""

    category: str
    detector: str
    start: int
    end: int
    excerpt: str
    #: The recognised value in canonical form (digits, address), only to compare with
    #: `guardrails.allow`; never written anywhere.
    key: str = field(default="", repr=False, compare=False)

    @property
    def entity(self) -> str:
        return self.detector.split(".", 1)[0]

    @property
    def placeholder(self) -> str:
        return PLACEHOLDERS.get(self.entity, f"[{self.category}]")

    def shifted(self, offset: int) -> Finding:
        return Finding(
            self.category,
            self.detector,
            self.start + offset,
            self.end + offset,
            self.excerpt,
            self.key,
        )


def mask_digits(value: str, keep: int = 2) -> str:
    """'4242424242424242' -> '••••••••••••••42': the length and the last `keep` only."""
    keep = min(keep, max(0, len(value) - 4))
    return "•" * (len(value) - keep) + value[len(value) - keep :] if value else ""


def mask_email(local: str, domain: str) -> str:
    """'j.smith', 'gmail.com' -> 'j•••@g•••.com'."""
    head, _, tld = domain.rpartition(".")
    return f"{local[:1]}•••@{head[:1]}•••.{tld}" if head else f"{local[:1]}•••@•••"


def mask_word(value: str) -> str:
    """'diabetes' -> 'd•••••••': enough to tell terms apart in a report, not to read them."""
    return "".join(c if i == 0 or not c.isalnum() else "•" for i, c in enumerate(value))


def finding(
    category: str, detector: str, start: int, end: int, excerpt: str, key: str = ""
) -> Finding:
    if detector.split(".", 1)[0] in _PHRASE_DETECTORS and len(excerpt) > 60:
        excerpt = excerpt[:59] + "…"
    return Finding(category, detector, start, end, excerpt, key)
