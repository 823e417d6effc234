"""Money as the ledger keeps it: integer minor units of the contract's currency (cents for EUR,
yen for JPY), so sums never drift and a limit is reached exactly. Amounts in policies are
decimal numbers in major units; they are converted here once, rounding half up."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

# ISO 4217 currencies whose minor unit is not the hundredth (every other code has 2 decimals).
_DECIMALS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"), 0),
    **dict.fromkeys(("RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


def decimals(currency: str) -> int:
    """Digits after the decimal point of the currency's minor unit."""
    return _DECIMALS.get(currency, 2)


@lru_cache(maxsize=4096)
def _decimal(amount: float) -> Decimal:
    return Decimal(repr(amount))  # the number as written in the policy, not its binary value


def to_minor(amount: float | Decimal, currency: str) -> int:
    """Major units (``12.5`` EUR) to minor units (``1250``), half up."""
    value = amount if isinstance(amount, Decimal) else _decimal(float(amount))
    scaled = value.scaleb(decimals(currency))
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def award_minor(points: int, cost_per_point: float, money_value: float, currency: str) -> int:
    """What an award costs in minor units: its points times the cost per point, plus the money
    the offer pays besides points (a voucher's cash part), rounded once."""
    return to_minor(points * _decimal(cost_per_point) + _decimal(money_value), currency)


def format_minor(minor: int, currency: str) -> str:
    """``1250`` EUR as ``12.50 EUR`` (thousands separated)."""
    digits = decimals(currency)
    return f"{Decimal(minor).scaleb(-digits):,.{digits}f} {currency}"
