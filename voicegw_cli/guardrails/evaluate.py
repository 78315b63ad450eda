"""Scoring a policy against labelled utterances: precision and recall per category and per
entity (card, account, phone...), and how many hard negatives pass clean.

The labelled set is NDJSON, one utterance a line: `{"id", "text", "labels": [entity...],
"hard_negative_for": category}` (see `fixtures/guardrails/utterances.jsonl`). Labels name
entities; each entity belongs to a category (`ENTITY_CATEGORY`). An utterance counts for a
category or entity when any finding of it is reported, wherever in the text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicegw_cli.config import GUARDRAIL_CATEGORIES

if TYPE_CHECKING:
    from voicegw_cli.guardrails.policy import Policy

ENTITY_CATEGORY = {
    "card": "financial",
    "account": "financial",
    "security_code": "financial",
    "phone": "pii",
    "email": "pii",
    "ssn": "pii",
    "dob": "pii",
    "medical": "medical",
    "medical_id": "medical",
    "prompt_injection": "prompt_injection",
    "off_topic": "off_topic",
}
#: Entities scored on their own rows, besides the five categories.
ENTITIES = ("card", "account", "security_code", "phone", "email", "ssn", "dob")


@dataclass(frozen=True, slots=True)
class Labelled:
    id: str
    text: str
    labels: frozenset[str]
    hard_negative_for: str | None = None

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(ENTITY_CATEGORY[e] for e in self.labels)


def load(path: str | Path) -> list[Labelled]:
    out: list[Labelled] = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        rec = json.loads(line)
        labels = frozenset(rec.get("labels") or ())
        unknown = labels - set(ENTITY_CATEGORY)
        if unknown:
            raise ValueError(f"{path}:{n}: unknown label(s) {sorted(unknown)}")
        out.append(Labelled(rec["id"], rec["text"], labels, rec.get("hard_negative_for")))
    return out


@dataclass(slots=True)
class Score:
    name: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    hard_negatives: int = 0
    hard_negatives_flagged: int = 0
    misses: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)

    @property
    def positives(self) -> int:
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / self.positives if self.positives else 1.0

    @property
    def negatives_clean(self) -> float:
        """Share of this category's hard negatives with no finding of the category."""
        if not self.hard_negatives:
            return 1.0
        return 1 - self.hard_negatives_flagged / self.hard_negatives

    def as_row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "positives": self.positives,
            "tp": self.tp,
            "fn": self.fn,
            "fp": self.fp,
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "hard_negatives": self.hard_negatives,
            "negatives_clean": round(self.negatives_clean, 3),
        }


def score(policy: Policy, items: list[Labelled], side: str = "input") -> dict[str, Score]:
    """Scores per category and per entity (names as in `ENTITIES`)."""
    scores = {n: Score(n) for n in (*GUARDRAIL_CATEGORIES, *ENTITIES)}
    for item in items:
        found = policy.detect(item.text, side)
        got_entities = {f.entity for f in found}
        got = {"categories": {f.category for f in found}, "entities": got_entities}
        want = {"categories": item.categories, "entities": item.labels}
        for name, s in scores.items():
            kind = "entities" if name in ENTITIES else "categories"
            predicted, labelled = name in got[kind], name in want[kind]
            if predicted and labelled:
                s.tp += 1
            elif predicted:
                s.fp += 1
                s.false_alarms.append(item.id)
            elif labelled:
                s.fn += 1
                s.misses.append(item.id)
            if kind == "categories" and item.hard_negative_for == name:
                s.hard_negatives += 1
                s.hard_negatives_flagged += predicted
    return scores
