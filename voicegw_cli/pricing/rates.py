"""A rate: the unit prices in force for one provider/model over one price period.

How a line item's units become money
------------------------------------
`input_tokens` includes cached reads, cache writes and audio input; `output_tokens`
includes audio output (and reasoning). The units are split into disjoint *leaves*, each
priced at its own rate, the way genai-prices decomposes usage:

    text input      = input - cached - cache_write - (audio_input - cached_audio)
    cached text     = cached - cached_audio            at cached_input (else input)
    cache writes    = cache_write                      at cache_write (else input)
    audio input     = audio_input - cached_audio       at audio_input (else input)
    cached audio    = cached_audio                     at cached_audio_input (else audio_input)
    text output     = output - audio_output [- reasoning, only when reasoning has a price]
    audio output    = audio_output                     at audio_output (else output)
    characters      = characters                       at per_character
    audio seconds   = audio seconds after the billing increment and minimum

A negative leaf (say cached > input) means the units contradict each other: the item is
not priced rather than priced wrong. `cached_audio` comes from realtime items'
`metadata.input_cached_audio_tokens` (0 when absent).

Exactness: every price becomes an exact fraction of 1e-10 USD per base unit (token,
character, microsecond of audio), the item's leaves are multiplied out in integers and the
sum is rounded once, half to even, to 10 decimal places (`items.COST_SCALE`). The bulk path
(`table.py`) runs the very same integer arithmetic on numpy arrays, so per-item and bulk
pricing agree to the last digit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any, overload

#: Seconds in each audio billing unit.
AUDIO_UNITS: dict[str, int] = {"second": 1, "minute": 60, "hour": 3600}
ROUNDINGS = ("up", "nearest")
#: Money scale of line items: costs are whole multiples of 1e-10 USD.
SCALE = 10
_TEN_POW_SCALE = 10**SCALE
_US = 1_000_000  # microseconds per second
_MAX_UNITS = 10**18  # DECIMAL(18,10) holds costs below 1e8 USD

#: Leaf order of `Rate.form` numerators.
LEAVES = (
    "text_in",
    "cached_text",
    "cache_write",
    "audio_in",
    "cached_audio",
    "text_out",
    "reasoning",
    "audio_out",
    "characters",
    "audio_us",
)
#: Token price fields (USD per 1M tokens), in display order.
TOKEN_FIELDS = (
    "input",
    "cached_input",
    "cache_write",
    "output",
    "reasoning",
    "audio_input",
    "cached_audio_input",
    "audio_output",
)


@overload
def format_rate(value: Decimal) -> str: ...
@overload
def format_rate(value: None) -> None: ...
def format_rate(value: Decimal | None) -> str | None:
    """A rate as a plain decimal string: never exponent notation, no trailing zeros
    (`Decimal("5E+1")` -> `"50"`, `Decimal("0.00480")` -> `"0.0048"`, 5e-8 ->
    `"0.00000005"`). Every place that shows a rate (prices show/check, status, JSON and
    CSV) uses this, so one price has one spelling. None stays None."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


class InvalidUnits(ValueError):
    """The item's units contradict each other (e.g. more cached than input tokens)."""


@dataclass(frozen=True, slots=True)
class Rate:
    """Prices in force for `provider`/`model` from `valid_from` (inclusive) to `valid_to`
    (exclusive), both UTC dates or None for open ends. Token prices are USD per 1M tokens;
    `audio_price` is USD per `audio_unit` of audio; `per_character` is USD per character.
    A price left None is not billed by this rate (token kinds fall back as documented in
    the module docstring)."""

    provider: str
    model: str
    source: str
    input: Decimal | None = None
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    output: Decimal | None = None
    reasoning: Decimal | None = None
    audio_input: Decimal | None = None
    cached_audio_input: Decimal | None = None
    audio_output: Decimal | None = None
    audio_price: Decimal | None = None
    audio_unit: str = "second"
    per_character: Decimal | None = None
    billing_increment_seconds: Decimal | None = None
    minimum_seconds: Decimal | None = None
    rounding: str = "up"
    valid_from: date | None = None
    valid_to: date | None = None
    condition: str | None = None
    #: (input-token threshold, rate): the rate for items with input_tokens > threshold.
    tiers: tuple[tuple[int, Rate], ...] = ()
    #: Price-list keys this rate does not apply (no such unit on line items).
    not_applied: tuple[str, ...] = ()
    #: The price list's own id for the model when it differs (snapshot, alias).
    matched_model: str | None = None
    note: str | None = None
    _form: tuple[Any, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.audio_unit not in AUDIO_UNITS:
            raise ValueError(f"audio_unit must be one of {', '.join(AUDIO_UNITS)}")
        if self.rounding not in ROUNDINGS:
            raise ValueError(f"rounding must be one of {', '.join(ROUNDINGS)}")
        object.__setattr__(self, "_form", _linear_form(self))

    # ----------------------------------------------------------------- what it bills

    @property
    def bills_tokens(self) -> bool:
        return any(getattr(self, f) is not None for f in TOKEN_FIELDS)

    @property
    def bills_seconds(self) -> bool:
        return self.audio_price is not None

    @property
    def bills_characters(self) -> bool:
        return self.per_character is not None

    @property
    def per_second(self) -> Decimal | None:
        """USD per second of audio (display; costs use the exact fraction)."""
        return self._per_audio(1)

    @property
    def per_minute(self) -> Decimal | None:
        return self._per_audio(60)

    @property
    def per_hour(self) -> Decimal | None:
        return self._per_audio(3600)

    def _per_audio(self, seconds: int) -> Decimal | None:
        if self.audio_price is None:
            return None
        with localcontext() as ctx:
            ctx.prec = 28
            value = self.audio_price * seconds / AUDIO_UNITS[self.audio_unit]
        return value.normalize() if value == value.to_integral_value() else value

    def for_input_tokens(self, input_tokens: int) -> Rate:
        """The tier in force for an item with this many input tokens (genai-prices'
        threshold model: crossing a tier prices all tokens at the tier's rate)."""
        chosen = self
        for threshold, rate in self.tiers:
            if input_tokens > threshold:
                chosen = rate
        return chosen

    def with_labels(self, **changes: Any) -> Rate:
        return replace(self, **changes)

    # ----------------------------------------------------------------------- costing

    @property
    def form(self) -> tuple[int, tuple[int, ...], bool, bool]:
        """(denominator, numerators per leaf in `LEAVES` order, reasoning is split, bills
        tokens): the cost in 1e-10 USD is round_half_even(sum(leaf * numerator) /
        denominator). Token leaves are only formed (and checked) when it bills tokens."""
        return self._form

    def billed_microseconds(self, audio_seconds: float) -> int:
        """Audio after this rate's billing increment and per-item minimum, in µs."""
        return billed_us(
            seconds_to_us(audio_seconds),
            _to_us(self.billing_increment_seconds),
            _to_us(self.minimum_seconds),
            self.rounding,
        )

    def cost_units(
        self,
        *,
        input_tokens: int = 0,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
        output_tokens: int = 0,
        reasoning_tokens: int = 0,
        audio_input_tokens: int = 0,
        audio_output_tokens: int = 0,
        cached_audio_input_tokens: int = 0,
        audio_seconds: float = 0.0,
        characters: int = 0,
    ) -> int:
        """The cost in whole 1e-10 USD. Raises InvalidUnits on contradictory units."""
        denominator, numerators, split_reasoning, bills_tokens = self._form
        leaves: tuple[int, ...] = (0,) * 8
        if bills_tokens:
            leaves = token_leaves(
                input_tokens,
                cached_input_tokens,
                cache_write_tokens,
                output_tokens,
                reasoning_tokens if split_reasoning else 0,
                audio_input_tokens,
                audio_output_tokens,
                cached_audio_input_tokens,
            )
        if characters < 0:
            raise InvalidUnits("characters must not be negative")
        audio = self.billed_microseconds(audio_seconds) if numerators[9] else 0
        total = sum(n * v for n, v in zip(numerators, (*leaves, characters, audio), strict=True))
        cost = round_half_even_div(total, denominator)
        if cost >= _MAX_UNITS:
            raise InvalidUnits("cost out of range (1e8 USD or more for one item)")
        return cost

    def cost(self, **units: Any) -> Decimal:
        """The cost of one item's units (see `cost_units`) as an exact Decimal."""
        return Decimal(self.cost_units(**units)).scaleb(-SCALE)


def token_leaves(
    input_tokens: int,
    cached: int,
    cache_write: int,
    output_tokens: int,
    reasoning: int,
    audio_in: int,
    audio_out: int,
    cached_audio: int,
) -> tuple[int, int, int, int, int, int, int, int]:
    """Disjoint token leaves (see module docstring); raises InvalidUnits when negative."""
    leaves = (
        input_tokens - cached - cache_write - audio_in + cached_audio,
        cached - cached_audio,
        cache_write,
        audio_in - cached_audio,
        cached_audio,
        output_tokens - audio_out - reasoning,
        reasoning,
        audio_out,
    )
    if min(leaves) < 0:
        raise InvalidUnits(
            "token counts contradict each other: input_tokens must include cached, "
            "cache-write and audio input tokens, output_tokens audio output tokens"
        )
    return leaves


def seconds_to_us(seconds: float) -> int:
    """Audio seconds to whole microseconds (half to even), the unit billing works in."""
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidUnits(f"audio_seconds must be a finite, non-negative number: {seconds!r}")
    return round(seconds * _US)


def billed_us(us: int, increment_us: int, minimum_us: int, rounding: str) -> int:
    """Apply a billing increment (round up, or to nearest) and a per-item minimum."""
    if us <= 0:
        return 0
    if increment_us > 0:
        if rounding == "nearest":
            us = max((us + increment_us // 2) // increment_us, 1) * increment_us
        else:
            us = -(-us // increment_us) * increment_us
    return max(us, minimum_us)


def round_half_even_div(numerator: int, denominator: int) -> int:
    q, r = divmod(numerator, denominator)
    twice = 2 * r
    if twice > denominator or (twice == denominator and q % 2 == 1):
        q += 1
    return q


def _to_us(seconds: Decimal | None) -> int:
    if seconds is None:
        return 0
    return int((seconds * _US).to_integral_value())


def _linear_form(rate: Rate) -> tuple[int, tuple[int, ...], bool, bool]:
    """Exact per-base-unit prices in 1e-10 USD as integer numerators over one denominator."""
    inp = rate.input
    out = rate.output
    audio_in = rate.audio_input if rate.audio_input is not None else inp
    cached_audio = rate.cached_audio_input
    if cached_audio is None:
        cached_audio = rate.audio_input if rate.audio_input is not None else rate.cached_input
        if cached_audio is None:
            cached_audio = inp
    per_token = (
        inp,
        rate.cached_input if rate.cached_input is not None else inp,
        rate.cache_write if rate.cache_write is not None else inp,
        audio_in,
        cached_audio,
        out,
        rate.reasoning if rate.reasoning is not None else out,
        rate.audio_output if rate.audio_output is not None else out,
    )
    fractions = [
        Fraction(p) * _TEN_POW_SCALE / 1_000_000 if p is not None else Fraction(0)
        for p in per_token
    ]
    fractions.append(
        Fraction(rate.per_character) * _TEN_POW_SCALE
        if rate.per_character is not None
        else Fraction(0)
    )
    fractions.append(
        Fraction(rate.audio_price) * _TEN_POW_SCALE / (AUDIO_UNITS[rate.audio_unit] * _US)
        if rate.audio_price is not None
        else Fraction(0)
    )
    for f in fractions:
        if f < 0:
            raise ValueError("prices must not be negative")
    denominator = math.lcm(*(f.denominator for f in fractions))
    numerators = tuple(int(f * denominator) for f in fractions)
    return denominator, numerators, rate.reasoning is not None, rate.bills_tokens
