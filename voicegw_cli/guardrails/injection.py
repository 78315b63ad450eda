"""Attempts to override the agent's instructions, as callers say them: "ignore what you
were told and ...", "from now on you are ...", "pretend to be my grandmother", "what is
your system prompt", "enter developer mode", and the same spelled out letter by letter
("i g n o r e your rules") to slip past word filters.

Phrase patterns over the utterance's words, written to need the agent as their object
("your instructions", "you are now"), because callers say "ignore my last message" and
"forget it" all the time. They catch the common phrasings, not a determined attacker who
paraphrases: see docs/guardrails.md.
"""

from __future__ import annotations

import re

from voicegw_cli.guardrails.findings import Finding, finding
from voicegw_cli.guardrails.text import Token, WordView, has_spelled_run, word_view


def _alt(words: str) -> str:
    return "(?:" + "|".join(words.split()) + ")"


_DET = _alt(
    "all any of the your these those every previous prior above earlier original initial "
    "preceding former system developer safety current existing other"
)
_STRONG_DET = _alt(
    "your previous prior above earlier original initial preceding former system developer "
    "safety all"
)
_NOUN = _alt(
    r"instructions? rules guidelines directions directives prompts? programming guardrails "
    r"restrictions constraints polic(?:y|ies) training filters? safeguards commands"
)
_YOU_ARE = r"(?:you are|you're|you re|youre|u r)"
_MODES = r"(?:developer|dev|god|debug|admin|sudo|unrestricted|jailbreak|jailbroken|dan|maintenance)"

PATTERNS: tuple[tuple[str, str], ...] = (
    (
        "override",
        rf"\b(?:ignore|disregard|forget|override|bypass|skip|drop|abandon|discard|throw out)"
        rf"(?: {_DET}){{0,5}} {_STRONG_DET}(?: {_DET}){{0,3}} {_NOUN}\b",
    ),
    (
        "override",
        r"\b(?:ignore|disregard|forget) (?:what|everything|anything|all that) you "
        r"(?:were|have been|ve been|got) (?:told|taught|instructed|programmed|trained|given)\b",
    ),
    (
        "override",
        r"\b(?:ignore|disregard|forget) (?:everything|all) (?:above|before this|said before|"
        r"in your prompt|you know about your)\b",
    ),
    (
        "override",
        r"\b(?:override|bypass|disable|turn off|switch off) (?:your|the) (?:safety|content )?"
        r"(?:filters?|safeguards|guardrails|restrictions|rules|protocols|safety)\b",
    ),
    (
        "role_play",
        r"\bpretend (?:to be|you are|you're|you re|that you are|that you're|that you re|"
        r"like you are|you have no)\b",
    ),
    (
        "role_play",
        r"\b(?:want|need|like|ask|asking|told|tell|telling) (?:you|u) to (?:act|behave|respond|"
        r"answer|talk|speak|roleplay|pretend) (?:as|like)\b",
    ),
    (
        "role_play",
        r"\b(?:you will|you must|you should|you shall|you'll|you ll|you're going to|"
        r"you are going to) (?:act|behave|respond|answer|talk|speak) (?:as|like)\b",
    ),
    ("role_play", r"\bact (?:as if|as though|like) you (?:are|were|re|'re)\b"),
    ("role_play", r"\brole ?play(?:ing)? (?:as|that|a|an|with me as)\b"),
    ("role_play", r"\b(?:play|start) a game (?:where|in which) you\b"),
    (
        "role_play",
        rf"\b{_YOU_ARE} (?:now|no longer) (?:a|an|called|named|dan|free|unrestricted|unfiltered|"
        r"uncensored|evil|jailbroken|not|bound|restricted|limited|my (?:personal )?(?:assistant|ai|"
        r"slave|servant|friend|girlfriend|boyfriend|lawyer|therapist|grandmother|grandma|god))\b"
        r"(?! (?:connected|speaking|talking|through|on hold|transferred|with|going to be|"
        r"in the queue|being transferred|recording|muted)\b)",
    ),
    (
        "role_play",
        r"\bfrom now on (?:you|u) (?:are|will be|must|shall|will act|will pretend|will respond as|"
        r"will answer as|have no|can ignore|should ignore|no longer|will only|will always)\b",
    ),
    (
        "role_play",
        r"\bact as (?:an? )?(?:unrestricted|unfiltered|uncensored|evil|rogue|different|new) "
        r"(?:ai|assistant|model|bot|chatbot|agent)\b",
    ),
    (
        "reveal",
        r"\b(?:reveal|show|tell|give|print|repeat|read|output|display|recite|share|list|dump|"
        r"what (?:are|were|is)|what's|whats)(?: me| us| out| back)?(?: all)? your "
        r"(?:(?:full|entire|exact|original|initial|hidden|secret|internal|real|system) )*"
        r"(?:instructions|prompt|system prompt|system message|programming|initial instructions)\b",
    ),
    (
        "reveal",
        r"\b(?:reveal|show|tell|give|print|repeat|read|output|display|recite|share|dump|"
        r"what (?:are|were|is)|what's|whats)(?: me| us| out| back)? the "
        r"(?:system|hidden|secret|internal|initial|original|developer) "
        r"(?:prompt|instructions|message|rules)\b",
    ),
    (
        "reveal",
        r"\b(?:repeat|print|output|recite) (?:the|all the|everything) (?:text|words|instructions) "
        r"(?:above|before this|you were given)\b",
    ),
    ("system", r"\b(?:system prompt|jailbreak|jail break|jailbroken|do anything now|dan mode)\b"),
    (
        "system",
        rf"\b(?:{_YOU_ARE} (?:now )?in|enter|enable|activate|switch to|switch into|go into|"
        rf"turn on) {_MODES} mode\b(?! on (?:my|the|your) (?:phone|device|android|iphone|"
        r"computer|laptop|tablet|router|tv))",
    ),
    (
        "new_instructions",
        r"\b(?:your|these are your|here are your|follow these|follow my|obey my|obey these) "
        r"(?:new|real|actual|updated|true|secret|hidden|only) (?:instructions|rules|orders|"
        r"directives|commands|programming)\b",
    ),
    ("new_instructions", r"\bnew (?:system )?(?:instructions|directive) (?:for you|you must)\b"),
    (
        "no_rules",
        rf"\b(?:you (?:have|ve got|got) no (?:rules|restrictions|limits|limitations|guidelines|"
        rf"filters|boundaries)|{_YOU_ARE} not bound by|{_YOU_ARE} free from (?:all |your )?"
        rf"(?:rules|restrictions|guidelines))\b",
    ),
    (
        "say",
        r"\b(?:repeat after me|say exactly|respond only with|reply only with|answer only with|"
        r"say the words|say verbatim)\b",
    ),
)
_COMPILED = tuple((name, re.compile(p)) for name, p in PATTERNS)
#: Words the patterns use: a spelled-out run is split on them ("ignoreyour" -> "ignore your").
_VOCAB = sorted(
    set(
        """ignore disregard forget override bypass skip all any your the previous prior above
        earlier original instructions instruction rules rule prompt system you are now act as
        pretend to be developer mode jailbreak reveal print say repeat new from on what were
        told everything safety filters guidelines programming no longer free""".split()
    ),
    key=len,
    reverse=True,
)
_SPLIT = re.compile("|".join(_VOCAB))
#: Longest pattern in words, so a stream keeps that many words back.
MAX_PATTERN_WORDS = 12


def _split_spelled(joined: str) -> str:
    return _SPLIT.sub(lambda m: f" {m.group()} ", joined)


def _scan(view: WordView, detector_suffix: str) -> list[Finding]:
    out: list[Finding] = []
    for name, rx in _COMPILED:
        for m in rx.finditer(view.text):
            s, e = view.source_span(m.start(), m.end())
            out.append(
                finding(
                    "prompt_injection", f"prompt_injection.{name}{detector_suffix}", s, e, m.group()
                )
            )
    return out


def injections(tokens: list[Token]) -> list[Finding]:
    found = _scan(word_view(tokens), "")
    if has_spelled_run(tokens):
        seen = {(f.start, f.end) for f in found}
        for f in _scan(word_view(tokens, spelled=_split_spelled), ".spelled"):
            if not any(f.start < e and s < f.end for s, e in seen):
                found.append(f)
    return found
