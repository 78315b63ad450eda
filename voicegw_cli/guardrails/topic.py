"""Turns clearly outside the project's topic (`guardrails.topic:`, a description and
allowed keywords).

A turn is off-topic when it names none of the topic's words (its keywords, and the content
words of its description, compared by stem) and either asks for something agents are
commonly misused for ("write me a poem", "what's the weather", "help with my homework")
or says enough to judge: at least `MIN_CONTENT_WORDS` content words once greetings,
fillers, politeness, yes/no, identity and contact words ("my name is", "I live on") and
the generic words of any service call ("problem", "cancel", "help") are set aside. Short
answers, numbers and small talk are never off-topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from voicegw_cli.guardrails.findings import Finding, finding
from voicegw_cli.guardrails.text import NUMBER_WORDS, Token

MIN_CONTENT_WORDS = 4

_NEUTRAL = frozenset(
    """a an the and or but if then so because as of at by for with about against between into
    through during before after above below to from up down in out on off over under again
    further once here there when where why how all any both each few more most other some
    such no nor not only own same than too very can will just don should now i me my myself
    we our ours you your yours he him his she her hers it its they them their what which who
    whom this that these those am is are was were be been being have has had having do does
    did doing would could might must shall may i'm i've i'd i'll you're you've you'll he's
    she's it's we're they're that's there's what's where's who's let's don't doesn't didn't
    can't cannot won't isn't aren't wasn't weren't haven't hasn't hadn't wouldn't couldn't
    shouldn't um uh er erm ah oh eh hmm mm mhm okay ok yeah yes yep yup no nope nah sure
    right alright well like really actually basically literally just also still already
    hello hi hey thanks thank please sorry excuse pardon bye goodbye morning afternoon
    evening good great fine nice cool awesome perfect wait hold second minute moment sec
    hang on one thing something anything everything nothing someone anyone everyone
    want wanted need needed know knew think thought get got getting go going gone went come
    came make made take took see saw say said tell told ask asked give gave call calling
    called talk talking speak speaking hear heard understand mean meant try trying tried
    look looking looked find found put let keep kept seem seems help helping question
    questions person human agent representative operator somebody manager supervisor
    name named address street road avenue lane drive apartment zip postcode code city town
    state country live living moved email phone number numbers spell spelled spelling
    birthday born date account card problem issue issues wrong broken working work works
    worked fix fixed change changed cancel cancelled update updated check checked status
    today yesterday tomorrow week weeks month months day days year years time times hour
    hours last next ago soon later early late long back able sent send received receive
    stuff way lot little bit much many new old first second top bottom left front side
    inside outside middle corner store shop sell buy bought open close closed opening hours
    location branch technician engineer visit appointment dot com www website online
    """.split()
)
_SIGNALS = re.compile(
    r"\b(?:tell me (?:a|another) (?:joke|story|riddle)|(?:write|compose|make up|sing) (?:me )?"
    r"(?:a|an|some) (?:poem|song|story|essay|haiku|limerick|rap|joke|novel|script|code|program)|"
    r"(?:what s|whats|what is|how s|how is) the weather|weather (?:forecast|today|tomorrow)|"
    r"who won (?:the|last)|(?:football|basketball|baseball|soccer|cricket) (?:game|match|score)|"
    r"help (?:me )?with my (?:homework|essay|assignment|math|maths)|"
    r"(?:recipe|recipes) for|how do (?:i|you) (?:cook|bake|make) (?:a |an )?"
    r"(?:cake|pasta|pizza|bread|lasagna|cookies)|capital of|meaning of life|"
    r"who (?:is|was) the (?:president|prime minister|king|queen)|"
    r"(?:your|what s your|whats your) (?:favorite|favourite)|"
    r"(?:what do you think|your opinion) (?:about|of|on) (?:the )?(?:election|politics|president|"
    r"religion|war|god)|(?:stock|crypto|bitcoin) (?:tips|picks|price prediction)|"
    r"(?:buy|sell|invest in) (?:bitcoin|crypto|ethereum|stocks|shares|gold)|"
    r"(?:translate|summarize|summarise) (?:this|the following|an article|a book)|"
    r"(?:summarize|summarise) the (?:plot|book|movie|film|story|article|news)|"
    r"write (?:a |some )?(?:python|javascript|java|sql|code|program|script))\b"
)
_WORD = re.compile(r"[a-z0-9']+")


def stem(word: str) -> str:
    """A crude English stem: enough for 'bills'/'billing'/'billed' to meet 'bill'."""
    w = word.lower().strip("'")
    if w.endswith("'s"):
        w = w[:-2]
    for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            return w[: len(w) - len(suffix)] + repl
    return w


@dataclass(frozen=True, slots=True)
class TopicMatcher:
    """The project's topic, prepared once per policy."""

    stems: frozenset[str]
    phrases: tuple[tuple[str, ...], ...]

    @classmethod
    def build(cls, description: str, keywords: tuple[str, ...]) -> TopicMatcher:
        stems: set[str] = set()
        phrases: list[tuple[str, ...]] = []
        for kw in keywords:
            words = tuple(stem(w) for w in _WORD.findall(kw.lower()))
            if len(words) == 1:
                stems.add(words[0])
            elif words:
                phrases.append(words)
        for w in _WORD.findall(description.lower()):
            if len(w) >= 4 and w not in _NEUTRAL:
                stems.add(stem(w))
        return cls(frozenset(stems), tuple(phrases))

    def on_topic(self, stems: list[str]) -> bool:
        if any(s in self.stems for s in stems):
            return True
        for phrase in self.phrases:
            n = len(phrase)
            if any(tuple(stems[i : i + n]) == phrase for i in range(len(stems) - n + 1)):
                return True
        return False


def off_topic(tokens: list[Token], matcher: TopicMatcher) -> list[Finding]:
    words = [t for t in tokens if t.kind == "w"]
    if not words or any(t.kind == "d" for t in tokens):
        return []
    lows = [t.low.replace("’", "'") for t in words]
    if matcher.on_topic([stem(w) for w in lows]):
        return []
    start, end = words[0].start, words[-1].end
    signal = _SIGNALS.search(" ".join(lows).replace("'", " "))
    if signal:
        return [finding("off_topic", "off_topic.request", start, end, signal.group())]
    content = [w for w in lows if w not in _NEUTRAL and w not in NUMBER_WORDS and len(w) > 1]
    if len(content) >= MIN_CONTENT_WORDS:
        return [
            finding(
                "off_topic",
                "off_topic.no_keyword",
                start,
                end,
                f"({len(words)} words, none on the topic)",
            )
        ]
    return []
