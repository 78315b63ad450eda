"""Identifiers spoken or written as numbers: card, bank account, IBAN, routing and sort
codes, card security codes and PINs (financial); phone and social security numbers (pii);
NHS and medical record numbers (medical).

Every number run in the utterance is classified once, in a fixed order, so a span is
claimed by one detector only (a 16-digit card number also contains a valid-looking phone
number; it is reported as a card). What validates is validated: Luhn and issuer ranges for
cards, the IBAN checksum and per-country length (`python-stdnum`), ABA routing checksums,
phone numbering plans (`phonenumbers`). What cannot be validated (a US account number,
a CVV) is recognised only when the words before it say what it is.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache

from voicegw_cli.guardrails.findings import Finding, finding, mask_digits
from voicegw_cli.guardrails.text import (
    DIGIT_WORDS,
    FILLERS,
    GLUE,
    REPEAT,
    TEENS,
    TENS,
    NumberRun,
    Token,
    words_before,
)

#: What the words just before a number say it is. Two-word cues are checked first.
_CUE_PAIRS = {
    ("security", "code"): "cvv",
    ("sort", "code"): "sort",
    ("social", "security"): "ssn",
    ("digit", "code"): "cvv",
    ("medical", "record"): "mrn",
    ("patient", "id"): "mrn",
    ("health", "insurance"): "mrn",
    ("credit", "card"): "card",
    ("debit", "card"): "card",
    ("bank", "account"): "account",
    ("phone", "number"): "phone",
}
_CUES = {
    **dict.fromkeys(("card", "cards", "visa", "mastercard", "amex", "discover", "cc"), "card"),
    **dict.fromkeys(("credit", "debit", "expiring", "expires", "expiry", "exp"), "card"),
    **dict.fromkeys(("account", "accounts", "acct", "checking", "savings", "iban"), "account"),
    **dict.fromkeys(("routing", "aba", "transit"), "routing"),
    **dict.fromkeys(("cvv", "cvc", "csc", "cvv2", "cid"), "cvv"),
    **dict.fromkeys(("pin", "passcode"), "pin"),
    **dict.fromkeys(("ssn", "social"), "ssn"),
    **dict.fromkeys(
        (
            "phone",
            "cell",
            "mobile",
            "landline",
            "fax",
            "telephone",
            "call",
            "text",
            "reach",
            "contact",
            "dial",
            "whatsapp",
        ),
        "phone",
    ),
    "nhs": "nhs",
    "mrn": "mrn",
    **dict.fromkeys(
        (
            "order",
            "orders",
            "tracking",
            "confirmation",
            "reference",
            "ref",
            "invoice",
            "ticket",
            "case",
            "booking",
            "reservation",
            "serial",
            "model",
            "part",
            "policy",
            "claim",
            "member",
            "membership",
            "flight",
            "item",
            "sku",
            "receipt",
            "transaction",
            "voucher",
            "coupon",
            "promo",
            "imei",
            "meter",
            "customer",
            "employee",
            "student",
            "zip",
            "postcode",
            "postal",
            "code",
            "room",
            "apartment",
            "suite",
            "unit",
            "id",
            "year",
            "version",
            "extension",
            "ext",
            "gate",
            "seat",
            "route",
            "bus",
            "train",
            "channel",
        ),
        "neg",
    ),
}
#: A word right after the number that makes it a quantity, price, time or dose.
_AFTER_QUANTITY = frozenset(
    {
        "dollars",
        "dollar",
        "bucks",
        "cents",
        "pounds",
        "euros",
        "percent",
        "mg",
        "milligrams",
        "milligram",
        "micrograms",
        "ml",
        "milliliters",
        "units",
        "tablets",
        "pills",
        "capsules",
        "doses",
        "items",
        "minutes",
        "hours",
        "days",
        "weeks",
        "months",
        "years",
        "gb",
        "gigs",
        "gigabytes",
        "mb",
        "megabytes",
        "am",
        "pm",
        "o'clock",
        "times",
        "people",
        "miles",
        "kilometers",
        "points",
        "texts",
        "calls",
        "lines",
        "phones",
    }
)
_CURRENCY = frozenset({"$", "£", "€", "¥"})
_SSN_TYPED = re.compile(r"\d{3}[- ]\d{2}[- ]\d{4}")

NATO = {
    "alpha": "A",
    "alfa": "A",
    "bravo": "B",
    "charlie": "C",
    "delta": "D",
    "echo": "E",
    "foxtrot": "F",
    "golf": "G",
    "hotel": "H",
    "india": "I",
    "juliet": "J",
    "juliett": "J",
    "kilo": "K",
    "lima": "L",
    "mike": "M",
    "november": "N",
    "oscar": "O",
    "papa": "P",
    "quebec": "Q",
    "romeo": "R",
    "sierra": "S",
    "tango": "T",
    "uniform": "U",
    "victor": "V",
    "whiskey": "W",
    "whisky": "W",
    "xray": "X",
    "yankee": "Y",
    "zulu": "Z",
}


# ------------------------------------------------------------------ validators


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_brand(d: str) -> str | None:
    """The issuer whose ranges and lengths `d` fits, or None."""
    n = len(d)
    if n < 12 or n > 19:
        return None
    p2, p3, p4, p6 = int(d[:2]), int(d[:3]), int(d[:4]), int(d[:6])
    if d[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16:
        return "mastercard"
    if p2 in (34, 37) and n == 15:
        return "amex"
    if (p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925) and n >= 16:
        return "discover"
    if 3528 <= p4 <= 3589 and n >= 16:
        return "jcb"
    if (300 <= p3 <= 305 or p2 in (36, 38, 39)) and n >= 14:
        return "diners"
    if p2 == 62 and n >= 16:
        return "unionpay"
    if p4 in (5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763):
        return "maestro"
    return None


def is_card(d: str) -> bool:
    return card_brand(d) is not None and luhn_ok(d)


@lru_cache(maxsize=1)
def iban_lengths() -> dict[str, int]:
    """Country code -> IBAN length, from python-stdnum's registry (BBAN length + 4)."""
    from stdnum import iban

    out: dict[str, int] = {}
    for _length, low, _high, props, _children in iban._ibandb.prefixes:
        bban = props.get("bban")
        if bban:
            out[low] = sum(int(x) for x in re.findall(r"(\d+)!?[acne]", bban)) + 4
    return out


def iban_ok(value: str) -> bool:
    """Checksum, the country's length and its BBAN structure. The national check digits
    some countries add are not checked: stdnum imports a module per country for them on
    first use, tens of milliseconds on the agent's loop, for little extra certainty."""
    from stdnum import iban

    return iban.is_valid(value, check_country=False)


def routing_ok(d: str) -> bool:
    from stdnum.us import rtn

    return rtn.is_valid(d)


def ssn_ok(d: str) -> bool:
    from stdnum.us import ssn

    return ssn.is_valid(d)


class PhoneCheck:
    """Is a digit string a valid phone number in one of the regions, or internationally?"""

    def __init__(self, regions: tuple[str, ...]) -> None:
        import phonenumbers

        self._pn = phonenumbers
        self.regions = regions

    def warm(self) -> None:
        """Load the numbering plans of the regions now (the first parse per region does)."""
        pn = self._pn
        types = [v for k, v in vars(pn.PhoneNumberType).items() if k.isupper()]
        # every region sharing a calling code with ours (+1: the US, Canada and the
        # Caribbean; +44: GB, Guernsey, Jersey, the Isle of Man) is consulted to validate
        # one number, and each type's patterns compile on first use
        regions = {
            r
            for region in self.regions
            for r in pn.region_codes_for_country_code(pn.country_code_for_region(region))
        }
        for region in sorted(regions):
            for kind in types:
                example = pn.example_number_for_type(region, kind)
                if example is not None:
                    pn.is_valid_number(example)
        self.valid("2025550123", False)  # the national parsing paths
        self.valid("07911123456", False)

    def valid(self, digits: str, plus: bool) -> bool:
        pn = self._pn
        candidates: list[tuple[str, str | None]]
        if plus:
            candidates = [("+" + digits, None)]
        elif digits.startswith("00"):
            candidates = [("+" + digits[2:], None)]
        elif digits.startswith("011"):
            candidates = [("+" + digits[3:], None)]
        else:
            candidates = [(digits, r) for r in self.regions]
        for number, region in candidates:
            try:
                parsed = pn.parse(number, region)
            except pn.NumberParseException:
                continue
            if pn.is_valid_number(parsed):
                return True
        return False


# ------------------------------------------------------------------ context


def cue(tokens: list[Token], index: int) -> str | None:
    """What the nearest meaningful words before token `index` say the number is."""
    words = words_before(tokens, index, limit=4)
    for i, w in enumerate(words):
        if i + 1 < len(words):
            pair = _CUE_PAIRS.get((words[i + 1], w))
            if pair:
                return pair
        found = _CUES.get(w)
        if found:
            return found
    return None


def cue_after(tokens: list[Token], index: int) -> str | None:
    """The same, from the words just after token `index` ("4242 ... that's my visa",
    "5551234567 is my order number"): used when nothing before says."""
    seen = 0
    j = index + 1
    while j < len(tokens) and j - index <= 6 and seen < 3:
        t = tokens[j]
        if t.kind == "w" and t.low not in GLUE:
            seen += 1
            nxt = tokens[j + 1].low if j + 1 < len(tokens) else ""
            pair = _CUE_PAIRS.get((t.low, nxt))
            found = pair or _CUES.get(t.low)
            if found:
                return found
        j += 1
    return None


def _word_after(tokens: list[Token], index: int) -> str | None:
    j = index + 1
    while j < len(tokens) and (tokens[j].kind == "p" or tokens[j].low in FILLERS):
        if tokens[j].low in _CURRENCY:
            return None
        j += 1
    return tokens[j].low if j < len(tokens) else None


def _is_quantity(tokens: list[Token], run: NumberRun) -> bool:
    i = run.first_token
    if i > 0 and tokens[i - 1].low in _CURRENCY:
        return True
    return _word_after(tokens, run.last_token) in _AFTER_QUANTITY


# ------------------------------------------------------------------ IBAN


def _iban_at(tokens: list[Token], i: int) -> tuple[int, int, str] | None:
    """An IBAN starting at token i ("GB82...", "g b eight two...", "golf bravo ..."):
    (start, end, value) when its checksum and length validate."""
    lengths = iban_lengths()
    tok = tokens[i]
    code = ""
    k = i
    if tok.kind == "w" and len(tok.text) == 2:
        code, k = tok.text.upper(), i + 1
    elif tok.kind == "w" and i + 1 < len(tokens):
        a = NATO.get(tok.low) or (tok.text.upper() if len(tok.text) == 1 else "")
        nxt = tokens[i + 1]
        b = NATO.get(nxt.low) or (
            nxt.text.upper() if nxt.kind == "w" and len(nxt.text) == 1 else ""
        )
        if a and b:
            code, k = a + b, i + 2
    if code not in lengths or k >= len(tokens):
        return None
    nxt = tokens[k]
    if not (nxt.kind == "d" or nxt.low in DIGIT_WORDS or nxt.low in TENS or nxt.low in REPEAT):
        return None
    want = lengths[code]
    chars: list[str] = list(code)
    ends: list[int] = [tokens[k - 1].end] * 2
    ambiguous: list[int] = []  # positions of a spoken "o": zero, or the letter O
    n = len(tokens)
    while k < n and len(chars) < want:
        t = tokens[k]
        low = t.low
        if t.kind == "d":
            chars.extend(t.text)
            ends.extend([t.end] * len(t.text))
        elif low in ("o", "oh"):
            ambiguous.append(len(chars))
            chars.append("0")
            ends.append(t.end)
        elif low in DIGIT_WORDS:
            chars.append(DIGIT_WORDS[low])
            ends.append(t.end)
        elif low in TEENS:
            chars.extend(TEENS[low])
            ends.extend([t.end] * 2)
        elif low in TENS:
            nxt_low = tokens[k + 1].low if k + 1 < n else ""
            if nxt_low in DIGIT_WORDS and nxt_low not in ("o", "oh", "zero"):
                chars.extend(TENS[low] + DIGIT_WORDS[nxt_low])
                ends.extend([tokens[k + 1].end] * 2)
                k += 1
            else:
                chars.extend(TENS[low] + "0")
                ends.extend([t.end] * 2)
        elif low in REPEAT and k + 1 < n and tokens[k + 1].low in DIGIT_WORDS:
            chars.extend(DIGIT_WORDS[tokens[k + 1].low] * REPEAT[low])
            ends.extend([tokens[k + 1].end] * REPEAT[low])
            k += 1
        elif t.kind == "w" and len(t.text) == 1:
            chars.append(t.text.upper())
            ends.append(t.end)
        elif t.kind == "w" and low in NATO:
            chars.append(NATO[low])
            ends.append(t.end)
        elif t.kind == "w" and t.text.isupper() and len(t.text) <= 4:
            chars.extend(t.text)
            ends.extend([t.end] * len(t.text))
        elif not (t.kind == "p" or low in FILLERS or low in ("dash", "space")):
            break
        k += 1
    if len(chars) < want:
        return None
    value = "".join(chars[:want])
    if iban_ok(value):
        return tok.start, ends[want - 1], value
    if ambiguous:
        alt = list(value)
        for pos in ambiguous:
            if pos < want:
                alt[pos] = "O"
        if iban_ok("".join(alt)):
            return tok.start, ends[want - 1], "".join(alt)
    return None


def ibans(tokens: list[Token]) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    i = 0
    while i < len(tokens):
        found = _iban_at(tokens, i) if tokens[i].kind == "w" else None
        if found:
            out.append(found)
            while i < len(tokens) and tokens[i].start < found[1]:
                i += 1
            continue
        i += 1
    return out


# ------------------------------------------------------------------ runs


def _windows(run: NumberRun, lo: int, hi: int) -> list[tuple[int, int]]:
    """(first piece, end piece) pairs whose digits number lo..hi: the whole run first, then
    prefixes and suffixes (a leading "oh" that was an interjection, digits said after)."""
    bounds = run.boundaries()
    total = bounds[-1]
    last = len(bounds) - 1
    out: list[tuple[int, int]] = []
    if lo <= total <= hi:
        out.append((0, last))
    for b in range(last - 1, 0, -1):
        if lo <= bounds[b] <= hi:
            out.append((0, b))
    for a in range(1, last):
        if lo <= total - bounds[a] <= hi:
            out.append((a, last))
    return out


def _sub(run: NumberRun, a: int, b: int) -> str:
    return "".join(p.digits for p in run.pieces[a:b])


def classify_runs(
    text: str,
    tokens: list[Token],
    runs: list[NumberRun],
    phones: PhoneCheck,
    claimed: list[tuple[int, int]],
) -> list[Finding]:
    """Findings for every identifier among `runs` (spans in `claimed` are skipped)."""
    out: list[Finding] = []
    for run in runs:
        if any(run.start < e and s < run.end for s, e in claimed):
            continue
        d = run.digits
        n = len(d)
        if n < 3:
            continue
        kind = cue(tokens, run.first_token) or cue_after(tokens, run.last_token)
        if kind == "neg" or _is_quantity(tokens, run):
            continue

        def add(
            category: str, detector: str, excerpt: str | None = None, run: NumberRun = run
        ) -> None:
            d = run.digits
            out.append(
                finding(category, detector, run.start, run.end, excerpt or mask_digits(d), d)
            )

        if kind == "card" and 12 <= n <= 19:
            add("financial", "card.luhn" if is_card(d) else "card.context")
            continue
        if kind in ("cvv", "pin") and 3 <= n <= 6:
            add("financial", f"security_code.{kind}", "•" * n)
            continue
        if kind == "routing" and n == 9:
            add("financial", "account.routing" if routing_ok(d) else "account.routing_context")
            continue
        if kind == "sort" and n == 6:
            add("financial", "account.sort_code")
            continue
        if kind == "account" and 6 <= n <= 19:
            add("financial", "card.luhn" if is_card(d) else "account.number")
            continue
        if kind == "ssn" and n == 9:
            add("pii", "ssn.context", "•" * 9)
            continue
        if kind == "nhs" and n == 10:
            add("medical", "medical_id.nhs")
            continue
        if kind == "mrn" and 5 <= n <= 15:
            add("medical", "medical_id.record")
            continue
        if n < 7:
            continue
        hits = _unlabelled(text, run, phones, kind)
        out.extend(hits)
    return out


def _unlabelled(text: str, run: NumberRun, phones: PhoneCheck, kind: str | None) -> list[Finding]:
    """A long number with no words saying what it is: a card if Luhn and the issuer ranges
    say so, an SSN if written 123-45-6789 and valid, else a phone number if a numbering plan
    accepts it (several numbers in one run are found one after another)."""
    d = run.digits
    if len(d) >= 12:
        for a, b in _windows(run, 12, 19):
            sub = _sub(run, a, b)
            if is_card(sub):
                s, e = run.span(a, b)
                return [finding("financial", "card.luhn", s, e, mask_digits(sub), sub)]
        if len(d) in (15, 16) and card_brand(d) is not None and kind is None:
            # an issuer's range and length, but not its check digit: a card number with
            # one digit misheard, as speech-to-text does
            return [finding("financial", "card.unverified", run.start, run.end, mask_digits(d), d)]
    raw = text[run.start : run.end]
    if len(d) == 9 and _SSN_TYPED.fullmatch(raw.strip()) and ssn_ok(d):
        return [finding("pii", "ssn.format", run.start, run.end, "•" * 9, d)]
    intl = run.plus or d.startswith("00") or d.startswith("011")
    if len(d) > (18 if intl else 13):
        return []  # longer than any phone number (E.164 has at most 15 digits)
    out: list[Finding] = []
    first = 0
    pieces = run.pieces
    while first < len(pieces):
        part = NumberRun(pieces=pieces[first:], plus=run.plus and first == 0, start=run.start)
        if first:
            part.start = pieces[first].start
        if len(part.digits) < 7:
            break
        hit = None
        for a, b in _windows(part, 7, 15)[:12]:
            sub = _sub(part, a, b)
            if phones.valid(sub, part.plus and a == 0):
                hit = (a, b, sub)
                break
        if hit is None:
            break
        a, b, sub = hit
        s, e = part.span(a, b)
        out.append(finding("pii", "phone", s, e, mask_digits(sub), sub))
        first += b
    if out:
        # Digits of the same run around the numbers found are covered too: redacting ten
        # digits of sixteen would leave six in the clear.
        edges = [run.start] + [f.start for f in out[1:]]
        ends = [f.start for f in out[1:]] + [run.end]
        out = [
            replace(f, start=min(f.start, s0), end=max(f.end, e0))
            for f, s0, e0 in zip(out, edges, ends, strict=True)
        ]
    if not out and kind == "phone" and 7 <= len(d) <= 15:
        out.append(finding("pii", "phone.context", run.start, run.end, mask_digits(d), d))
    return out


def find_identifiers(
    text: str, tokens: list[Token], runs: list[NumberRun], phones: PhoneCheck
) -> list[Finding]:
    found: list[Finding] = []
    for s, e, value in ibans(tokens):
        masked = value[:2] + mask_digits(value[2:])
        found.append(finding("financial", "account.iban", s, e, masked, value))
    claimed = [(f.start, f.end) for f in found]
    found.extend(classify_runs(text, tokens, runs, phones, claimed))
    return found
