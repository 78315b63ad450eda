"""Reading transcripts: tokens with their character spans, and spoken numbers as digits.

Speech-to-text output does not look like typed text: "four two four two, four two four
two", "oh seven nine one one", "double five", "forty two forty two", digits split by
pauses into separate segments ("4242." "4242."), fillers in the middle ("four two uh four
two"). Every detector works on one token list per utterance, and every number-like
detector on the same `NumberRun`s, so an utterance is tokenised once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

#: Words, digit groups, and single punctuation marks (a letter-digit mix like GB82 splits).
_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|\d+|[^\w\s]|_")


@dataclass(slots=True)
class Token:
    text: str
    low: str
    start: int
    end: int
    kind: str  # "w" word, "d" digits, "p" punctuation

    @property
    def is_word(self) -> bool:
        return self.kind == "w"


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    for m in _TOKEN.finditer(text):
        t = m.group()
        c = t[0]
        kind = "d" if c.isdigit() else ("w" if c.isalpha() else "p")
        out.append(Token(t, t.lower(), m.start(), m.end(), kind))
    return out


DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "nought": "0",
    "naught": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
TEENS = {
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
}
TENS = {
    "twenty": "2",
    "thirty": "3",
    "forty": "4",
    "fourty": "4",
    "fifty": "5",
    "sixty": "6",
    "seventy": "7",
    "eighty": "8",
    "ninety": "9",
}
REPEAT = {"double": 2, "triple": 3, "treble": 3}
#: Hesitations STT keeps; inside a number they are skipped, not a break.
FILLERS = frozenset({"uh", "um", "umm", "uhm", "uhh", "er", "erm", "ah", "eh", "hmm", "mm", "mhm"})
#: Punctuation and words that may sit between the digits of one number.
_JOINERS = frozenset({",", ".", "-", "–", "—", ":", "(", ")", "dash", "hyphen", "space"})
#: "oh" and "o" are digits only next to other digits ("oh I see" is not a number).
_ZERO_WORDS = frozenset({"oh", "o"})
NUMBER_WORDS = frozenset(DIGIT_WORDS) | frozenset(TEENS) | frozenset(TENS) | {"hundred"}


def number_word(low: str) -> bool:
    return low in NUMBER_WORDS or low in REPEAT


@dataclass(slots=True)
class Piece:
    """The digits one token (or a spoken group like "forty two") contributes."""

    digits: str
    start: int
    end: int
    first_token: int
    last_token: int


@dataclass(slots=True)
class NumberRun:
    """One spoken or written number: digits in order with the source span of each piece."""

    pieces: list[Piece] = field(default_factory=list)
    plus: bool = False
    start: int = 0

    @property
    def digits(self) -> str:
        return "".join(p.digits for p in self.pieces)

    @property
    def end(self) -> int:
        return self.pieces[-1].end

    @property
    def first_token(self) -> int:
        return self.pieces[0].first_token

    @property
    def last_token(self) -> int:
        return self.pieces[-1].last_token

    def span(self, a: int, b: int) -> tuple[int, int]:
        """Source span of pieces a..b-1 (the plus sign belongs to piece 0)."""
        start = self.start if a == 0 else self.pieces[a].start
        return start, self.pieces[b - 1].end

    def boundaries(self) -> list[int]:
        """Digit offsets where a piece starts, plus the total length."""
        out = [0]
        n = 0
        for p in self.pieces:
            n += len(p.digits)
            out.append(n)
        return out


def number_runs(tokens: list[Token]) -> list[NumberRun]:
    """Every maximal number in the utterance, spoken or written, fillers and pauses skipped."""
    runs: list[NumberRun] = []
    cur: NumberRun | None = None
    pending_plus: int | None = None  # char start of a "+"/"plus" that may open a number
    i = 0
    n = len(tokens)

    def close() -> None:
        nonlocal cur
        if cur is not None and cur.pieces:
            # "oh" alone (an interjection) is not a number
            if any(
                p.digits != "0" or tokens[p.first_token].low not in _ZERO_WORDS for p in cur.pieces
            ):
                runs.append(cur)
        cur = None

    while i < n:
        tok = tokens[i]
        low = tok.low
        piece: Piece | None = None
        step = 1
        if tok.kind == "d":
            piece = Piece(tok.text, tok.start, tok.end, i, i)
        elif low in DIGIT_WORDS:
            piece = Piece(DIGIT_WORDS[low], tok.start, tok.end, i, i)
            # "eight hundred" -> 800; "four hundred and twenty" -> 420
            if i + 1 < n and tokens[i + 1].low == "hundred" and low not in _ZERO_WORDS:
                j = i + 2
                tail = "00"
                k = j + 1 if j < n and tokens[j].low == "and" else j
                if k < n and tokens[k].low in TEENS:
                    tail, j = TEENS[tokens[k].low], k + 1
                elif k < n and tokens[k].low in TENS:
                    tail, j = TENS[tokens[k].low] + "0", k + 1
                    if j < n and tokens[j].low in DIGIT_WORDS and tokens[j].low not in _ZERO_WORDS:
                        tail, j = tail[0] + DIGIT_WORDS[tokens[j].low], j + 1
                piece = Piece(piece.digits + tail, tok.start, tokens[j - 1].end, i, j - 1)
                step = j - i
        elif low in TEENS:
            piece = Piece(TEENS[low], tok.start, tok.end, i, i)
        elif low in TENS:
            if (
                i + 1 < n
                and tokens[i + 1].low in DIGIT_WORDS
                and tokens[i + 1].low not in _ZERO_WORDS
            ):
                nxt = tokens[i + 1]
                piece = Piece(TENS[low] + DIGIT_WORDS[nxt.low], tok.start, nxt.end, i, i + 1)
                step = 2
            else:
                piece = Piece(TENS[low] + "0", tok.start, tok.end, i, i)
        elif low == "hundred":
            piece = Piece("100", tok.start, tok.end, i, i)
        elif low in REPEAT and i + 1 < n:
            nxt = tokens[i + 1]
            d = DIGIT_WORDS.get(nxt.low) or (
                nxt.text if nxt.kind == "d" and len(nxt.text) == 1 else None
            )
            if d is not None:
                piece = Piece(d * REPEAT[low], tok.start, nxt.end, i, i + 1)
                step = 2
        if piece is not None:
            if cur is None:
                cur = NumberRun(start=piece.start)
                if pending_plus is not None:
                    cur.plus, cur.start = True, pending_plus
            cur.pieces.append(piece)
            pending_plus = None
            i += step
            continue
        if low in ("+", "plus"):
            close()
            pending_plus = tok.start
            i += 1
            continue
        pending_plus = None
        if cur is not None and (low in FILLERS or low in _JOINERS):
            i += 1
            continue
        close()
        i += 1
    close()
    return runs


# ------------------------------------------------------------------ context around a span

#: Words skipped when looking back from a number for what it is ("my card number is ...").
GLUE = frozenset(
    {
        "my",
        "the",
        "a",
        "an",
        "is",
        "it's",
        "its",
        "it",
        "was",
        "are",
        "be",
        "number",
        "numbers",
        "no",
        "num",
        "digits",
        "that",
        "this",
        "so",
        "and",
        "okay",
        "ok",
        "yeah",
        "yes",
        "sure",
        "of",
        "on",
        "for",
        "with",
        "to",
        "at",
        "me",
        "i",
        "i'm",
        "im",
        "here's",
        "heres",
        "here",
        "goes",
        "ready",
        "got",
        "please",
        "again",
        "just",
        "like",
        "well",
        "right",
        "um",
        "uh",
        "er",
        "erm",
        "ah",
        "hmm",
        "oh",
    }
)


def words_before(tokens: list[Token], index: int, limit: int = 4) -> list[str]:
    """Up to `limit` non-glue words before token `index`, nearest first."""
    out: list[str] = []
    j = index - 1
    while j >= 0 and len(out) < limit and index - j <= 10:
        t = tokens[j]
        if t.kind == "w" and t.low not in GLUE:
            out.append(t.low)
        j -= 1
    return out


@dataclass(slots=True)
class WordView:
    """The utterance as lower-case words joined by single spaces (what phrase patterns
    read), with the source span of each word so a match maps back to the text."""

    text: str
    offsets: list[int]  # char offset of each word in `text`
    spans: list[tuple[int, int]]  # its span in the source

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        from bisect import bisect_right

        first = max(0, bisect_right(self.offsets, start) - 1)
        last = max(first, bisect_right(self.offsets, max(start, end - 1)) - 1)
        return self.spans[first][0], self.spans[last][1]


def word_view(tokens: list[Token], *, spelled: Callable[[str], str] | None = None) -> WordView:
    """Words of the utterance; with `spelled`, runs of 3+ single letters ("i g n o r e",
    "i-g-n-o-r-e") are joined and passed through it (e.g. to split "ignoreyour" into
    words), so spelled-out text cannot hide from phrase patterns."""
    words: list[str] = []
    spans: list[tuple[int, int]] = []
    letters: list[Token] = []

    def flush_letters() -> None:
        if not letters:
            return
        if spelled is not None and len(letters) >= 3:
            joined = spelled("".join(t.low for t in letters))
            span = (letters[0].start, letters[-1].end)
            for w in joined.split():
                words.append(w)
                spans.append(span)
        else:
            for t in letters:
                words.append(t.low)
                spans.append((t.start, t.end))
        letters.clear()

    for t in tokens:
        if t.kind == "w" and len(t.low) == 1:
            letters.append(t)
            continue
        if t.kind == "p":
            if letters and t.low in ("-", "."):
                continue
            flush_letters()
            continue
        flush_letters()
        words.append(t.low.replace("’", "'"))
        spans.append((t.start, t.end))
    flush_letters()
    offsets: list[int] = []
    pos = 0
    for w in words:
        offsets.append(pos)
        pos += len(w) + 1
    return WordView(" ".join(words), offsets, spans)


def has_spelled_run(tokens: list[Token], length: int = 3) -> bool:
    run = 0
    for t in tokens:
        if t.kind == "w" and len(t.low) == 1:
            run += 1
            if run >= length:
                return True
        elif not (t.kind == "p" and t.low in ("-", ".")):
            run = 0
    return False
