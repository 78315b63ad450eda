"""Personal data that is not a number run: e-mail addresses, typed or spelled out
("j dot smith at gmail dot com", "j o h n underscore d at yahoo dot co dot uk"), and dates
of birth (a date is personal only when the words before it say it is a birth date).
Phone and social security numbers live in `numbers`, with the other number runs."""

from __future__ import annotations

from voicegw_cli.guardrails.findings import Finding, finding, mask_email
from voicegw_cli.guardrails.text import DIGIT_WORDS, TEENS, TENS, Token

TLDS = frozenset(
    """com net org edu gov mil io co uk us ca de fr es it nl be ch at se no dk fi ie pl pt
    in au nz za br mx ar jp cn kr sg hk info biz me ai app dev tv xyz online site tech""".split()
)
#: Single words that come before "at" in speech without being an address ("look at",
#: "arrive at", "meet us at"): never a local part on their own.
_NOT_LOCAL = frozenset(
    """i me you he she it we they us him her them this that these those here there what
    where who look looking looked arrive arrived arriving be been being is are am was were
    stay staying meet meeting shop shopping bought buy order ordered ordering find found
    check checking checked go went going visit visiting online site website page sign signed
    log logged available located based store office home work school anyone someone us
    email emailed mail write wrote reach contact find call number address and or but not
    just only even also back up down out over get got good great nice hi hello thanks""".split()
)
_JOIN = {
    ".": ".",
    "dot": ".",
    "period": ".",
    "_": "_",
    "underscore": "_",
    "-": "-",
    "dash": "-",
    "hyphen": "-",
    "+": "+",
    "plus": "+",
}
_AT = frozenset({"at", "@"})
_DOT = frozenset({".", "dot"})


def _numeric(t: Token) -> bool:
    low = t.low
    return (
        t.kind == "d"
        or (low in DIGIT_WORDS and low not in ("o", "oh"))
        or low in TEENS
        or low in TENS
    )


def _digits(tokens: list[Token]) -> str:
    out: list[str] = []
    for i, t in enumerate(tokens):
        low = t.low
        if t.kind == "d":
            out.append(t.text)
        elif low in TEENS:
            out.append(TEENS[low])
        elif low in TENS:
            nxt = tokens[i + 1].low if i + 1 < len(tokens) else ""
            out.append(TENS[low] + ("" if nxt in DIGIT_WORDS else "0"))
        else:
            out.append(DIGIT_WORDS[low])
    return "".join(out)


def _segment(tokens: list[Token], j: int) -> tuple[int, str] | None:
    """One piece of a local part that ends at token j, read backwards: a word, a spelled
    chain ("j o h n"), or a word with spoken digits after it ("smith eighty two")."""
    t = tokens[j]
    if t.kind not in ("w", "d") or t.low in _AT:
        return None
    k = j
    if _numeric(t):
        while k - 1 >= 0 and _numeric(tokens[k - 1]):
            k -= 1
        text = _digits(tokens[k : j + 1])
        prev = tokens[k - 1] if k else None
        if prev is not None and prev.kind == "w" and len(prev.low) > 1 and prev.low not in _AT:
            if prev.low not in _NOT_LOCAL:
                k -= 1
                text = prev.low + text
        return k, text
    if len(t.low) == 1:
        while k - 1 >= 0 and tokens[k - 1].kind == "w" and len(tokens[k - 1].low) == 1:
            k -= 1
        return k, "".join(x.low for x in tokens[k : j + 1])
    return j, t.low


def _local_part(tokens: list[Token], at: int) -> tuple[int, str] | None:
    """(first token index, local part) ending just before token `at`."""
    if at == 0:
        return None
    seg = _segment(tokens, at - 1)
    if seg is None:
        return None
    first, text = seg
    parts = [text]
    j = first - 1
    while j >= 1 and tokens[j].low in _JOIN:
        more = _segment(tokens, j - 1)
        if more is None:
            break
        parts[:0] = [more[1], _JOIN[tokens[j].low]]
        first = more[0]
        j = first - 1
    if len(parts) == 1 and (text in _NOT_LOCAL or len(text) == 1):
        return None
    return first, "".join(parts)


def _domain(tokens: list[Token], at: int) -> tuple[int, str] | None:
    """(last token index, domain) starting just after token `at`."""
    n = len(tokens)
    j = at + 1
    labels: list[str] = []
    first: list[str] = []
    while (
        j < n
        and len(first) < 3
        and tokens[j].kind in ("w", "d")
        and tokens[j].low not in _DOT
        and tokens[j].low not in _AT
    ):
        first.append(tokens[j].low)
        j += 1
        if j < n and tokens[j].low in ("-", "dash", "hyphen"):
            first.append("-")
            j += 1
    if not first:
        return None
    labels.append("".join(first))
    last = j - 1
    while j + 1 < n and tokens[j].low in _DOT and tokens[j + 1].kind in ("w", "d"):
        labels.append(tokens[j + 1].low)
        last = j + 1
        j += 2
    if len(labels) < 2 or labels[-1] not in TLDS:
        return None
    # a first label of several words must still end in the TLD chain we just read
    return last, ".".join(labels)


def emails(tokens: list[Token]) -> list[Finding]:
    out: list[Finding] = []
    last_end = -1
    for i, t in enumerate(tokens):
        if t.low not in _AT or t.start < last_end:
            continue
        dom = _domain(tokens, i)
        if dom is None:
            continue
        loc = _local_part(tokens, i)
        if loc is None:
            continue
        first, local = loc
        last, domain = dom
        kind = "email.typed" if t.text == "@" else "email.spoken"
        start, end = tokens[first].start, tokens[last].end
        address = f"{local}@{domain}"
        out.append(finding("pii", kind, start, end, mask_email(local, domain), address))
        last_end = end
    return out


# ------------------------------------------------------------------ dates of birth

_MONTHS = frozenset(
    """january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec""".split()
)
_ORDINALS = frozenset(
    """first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth
    thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth
    thirtieth st nd rd th""".split()
)
_DATE_GLUE = frozenset({"of", "the", "/", "-", ",", ".", "and", "thousand", "hundred"})
_DOB_CUES = (
    ("date", "of", "birth"),
    ("birth", "date"),
    ("birthdate",),
    ("birthday",),
    ("born", "on"),
    ("born", "in"),
    ("dob",),
    ("d", "o", "b"),
)
_DOB_FIRST = frozenset(c[0] for c in _DOB_CUES)
_DOB_SKIP = frozenset({"is", "it's", "its", "was", "my", "the", ":", ",", "um", "uh", "er", "oh"})


def _date_token(t: Token) -> bool:
    low = t.low
    return (
        t.kind == "d"
        or low in _MONTHS
        or low in _ORDINALS
        or low in DIGIT_WORDS
        or low in TEENS
        or low in TENS
    )


def dates_of_birth(tokens: list[Token]) -> list[Finding]:
    out: list[Finding] = []
    n = len(tokens)
    for i in range(n):
        if tokens[i].low not in _DOB_FIRST:
            continue
        for cue in _DOB_CUES:
            if tuple(t.low for t in tokens[i : i + len(cue)]) != cue:
                continue
            j = i + len(cue)
            while j < n and tokens[j].low in _DOB_SKIP:
                j += 1
            first = j
            last = -1
            dated = 0
            while j < n and (_date_token(tokens[j]) or tokens[j].low in _DATE_GLUE):
                if _date_token(tokens[j]):
                    dated += 1
                    last = j
                j += 1
            if dated >= 2:
                out.append(finding("pii", "dob", tokens[first].start, tokens[last].end, "[date]"))
            break
    return out
