"""Precision and recall of the detectors on the labelled transcripts in fixtures/guardrails/.

Two sets, scored with fixtures/guardrails/voicegw.yaml (every category on):

* `utterances.jsonl` (386 utterances): the development set the rules were written against.
* `heldout.jsonl` (137 utterances): written after the rules were frozen and never tuned on;
  its figures are the honest estimate of how the rules do on phrasings they have not seen.

Targets (a run below any of them fails), stated in `TARGETS` below:

* dev set: recall >= 0.95 for card, account, phone, pii and financial, >= 0.9 for medical
  and injection, >= 0.85 for off_topic; precision >= 0.98 for pii, financial, medical and
  injection, >= 0.95 for off_topic; >= 98% of each category's hard negatives pass clean.
* held-out set: recall >= 0.85 card, >= 0.9 account and phone, >= 0.9 medical, >= 0.8
  injection, >= 0.6 off_topic; precision >= 0.95 financial, medical and injection, >= 0.9
  pii, >= 0.7 off_topic; >= 98% of each category's hard negatives pass clean.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from voicegw_cli.config import GUARDRAIL_CATEGORIES, load_config
from voicegw_cli.guardrails.evaluate import ENTITY_CATEGORY, Labelled, Score, load, score
from voicegw_cli.guardrails.policy import Policy, policy_for
from voicegw_cli.guardrails.text import number_runs, tokenize

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "guardrails"

TARGETS = {
    "utterances.jsonl": {
        "recall": {
            "card": 0.95,
            "account": 0.95,
            "phone": 0.95,
            "pii": 0.95,
            "financial": 0.95,
            "medical": 0.9,
            "prompt_injection": 0.9,
            "off_topic": 0.85,
        },
        "precision": {
            "pii": 0.98,
            "financial": 0.98,
            "medical": 0.98,
            "prompt_injection": 0.98,
            "off_topic": 0.95,
        },
        "negatives_clean": dict.fromkeys(GUARDRAIL_CATEGORIES, 0.98),
    },
    "heldout.jsonl": {
        "recall": {
            "card": 0.85,
            "account": 0.9,
            "phone": 0.9,
            "medical": 0.9,
            "prompt_injection": 0.8,
            "off_topic": 0.6,
        },
        "precision": {
            "pii": 0.9,
            "financial": 0.95,
            "medical": 0.95,
            "prompt_injection": 0.95,
            "off_topic": 0.7,
        },
        "negatives_clean": dict.fromkeys(GUARDRAIL_CATEGORIES, 0.98),
    },
}


@pytest.fixture(scope="module")
def policy() -> Policy:
    cfg = load_config(FIXTURES / "voicegw.yaml")
    return policy_for(cfg.projects["eval"].guardrails)


def table(name: str, scores: dict[str, Score]) -> str:
    lines = [
        f"guardrails on {name}:",
        f"  {'':18}{'n':>5}{'precision':>11}{'recall':>8}{'hard neg':>10}{'clean':>7}",
    ]
    for s in scores.values():
        lines.append(
            f"  {s.name:18}{s.positives:>5}{s.precision:>11.3f}{s.recall:>8.3f}"
            f"{s.hard_negatives:>10}{s.negatives_clean:>7.3f}"
        )
    return "\n".join(lines)


def test_the_sets_are_large_and_cover_every_category() -> None:
    dev, held = load(FIXTURES / "utterances.jsonl"), load(FIXTURES / "heldout.jsonl")
    assert len(dev) >= 300 and len(held) >= 100
    assert len({i.id for i in dev + held}) == len(dev) + len(held)
    assert not {i.text for i in dev} & {i.text for i in held}
    for items in (dev, held):
        for cat in GUARDRAIL_CATEGORIES:
            assert sum(cat in i.categories for i in items) >= 10, cat
            assert sum(i.hard_negative_for == cat for i in items) >= 6, cat
        assert set(ENTITY_CATEGORY) >= {e for i in items for e in i.labels}


@pytest.mark.parametrize("name", list(TARGETS))
def test_precision_and_recall_meet_the_targets(name, policy, capsys) -> None:
    items = load(FIXTURES / name)
    scores = score(policy, items)
    report = table(name, scores)
    with capsys.disabled():
        print("\n" + report)
    by_id = {i.id: i.text for i in items}
    below = []
    for metric, floors in TARGETS[name].items():
        for key, floor in floors.items():
            got = getattr(scores[key], metric)
            if got < floor:
                s = scores[key]
                examples = [by_id[x] for x in (s.misses if metric == "recall" else s.false_alarms)]
                below.append(f"{key} {metric} {got:.3f} < {floor}: {examples[:5]}")
    assert not below, report + "\n" + "\n".join(below)


def _long_runs(text: str) -> list[str]:
    return [r.digits for r in number_runs(tokenize(text)) if len(r.digits) >= 7]


@pytest.mark.parametrize("name", list(TARGETS))
def test_a_found_number_leaves_no_long_digit_run_behind(name, policy) -> None:
    """Whatever is redacted is redacted whole: no seven or more digits of a card, account
    or phone number stay in the text that goes on (spoken or written)."""
    numeric = {"card", "account", "phone", "ssn"}
    leaks = []
    for item in load(FIXTURES / name):
        if not item.labels & numeric:
            continue
        v = policy.check(item.text, "input")
        if v.hits and _long_runs(v.masked):
            leaks.append((item.id, v.masked))
    assert leaks == []


def test_labels_are_validated(tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "text": "hi", "labels": ["credit_card"]}\n')
    with pytest.raises(ValueError, match="unknown label"):
        load(bad)
    assert Labelled("a", "b", frozenset({"card"})).categories == {"financial"}
