"""Plain data of the budget ledger: scopes, reservation lines, outcomes, errors and period keys.

No I/O here: the backends store these values, the decision service builds them from a contract
policy, and the pure rules below decide what a request may do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from urllib.parse import quote, unquote

from features.errors import ConflictError, LoyaltyError, NotFoundError, UnavailableError
from guardrails.periods import PERIOD_KINDS as PERIOD_KINDS  # one definition, shared
from guardrails.periods import period_key as period_key


class ScopeKind(StrEnum):
    """What a budget limit applies to, and in which unit: points, money (integer minor units of
    the contract's currency) or counts."""

    CONTRACT = "contract"
    PARTNER = "partner"
    CUSTOMER = "customer"
    OFFER = "offer"
    CAP = "cap"  # grants of one offer to one customer in a period (counts, not points)
    CONTACT = "contact"  # contacts of one customer on one channel on one UTC day (counts)
    CONTRACT_MONEY = "contract_money"
    PARTNER_MONEY = "partner_money"
    CUSTOMER_MONEY = "customer_money"
    OFFER_MONEY = "offer_money"

    @property
    def unit(self) -> str:
        """``points``, ``money`` (minor units) or ``count``."""
        if self.value.endswith("_money"):
            return "money"
        return "count" if self in (ScopeKind.CAP, ScopeKind.CONTACT) else "points"

    @property
    def owner(self) -> ScopeKind:
        """The points kind a money kind twins (a points or count kind is its own owner)."""
        return ScopeKind(self.value.removesuffix("_money"))

    @property
    def in_money(self) -> ScopeKind:
        """The money twin of a points kind."""
        return ScopeKind(f"{self.owner.value}_money")


class Status(StrEnum):
    """Life of a reservation: held until committed, released, expired, or reversed after commit."""

    HELD = "held"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"
    REVERSED = "reversed"
    REJECTED = "rejected"


class LedgerError(LoyaltyError):
    """The ledger cannot do what was asked (exit 2 on the command line)."""


class IdempotencyConflictError(LedgerError, ConflictError):
    """The idempotency key was used before with a different payload digest."""


class ReservationNotFoundError(LedgerError, NotFoundError):
    """No reservation with that id."""


class InvalidTransitionError(LedgerError, ConflictError):
    """The reservation is in a state that does not allow the operation (e.g. commit a release)."""


class LedgerUnavailableError(LedgerError, UnavailableError):
    """The database could not be reached or stayed busy past the bounded retry."""


@lru_cache(maxsize=65_536)
def _quoted(part: str) -> str:
    """A scope id part, percent-encoded; cached: contract, offer and period keys repeat in every
    decision, and a decision builds a hundred ids."""
    return quote(part, safe="")


@lru_cache(maxsize=65_536)
def _scope_id(kind: str, key: str, period: str | None) -> str:
    parts = [kind, _quoted(key)]
    if period is not None:
        parts.append(_quoted(period))
    return ":".join(parts)


@dataclass(frozen=True, order=True)
class Scope:
    """One budget bucket: a kind, the id it limits and, for periodic budgets, the period key."""

    kind: ScopeKind
    key: str
    period: str | None = None

    @property
    def id(self) -> str:
        """Stable text id (``contract:C1:2025Q3``); parts are percent-encoded so ids never clash."""
        return _scope_id(self.kind.value, self.key, self.period)

    @classmethod
    def parse(cls, scope_id: str) -> Scope:
        kind, key, *rest = scope_id.split(":")
        return cls(ScopeKind(kind), unquote(key), unquote(rest[0]) if rest else None)


@dataclass(frozen=True)
class Line:
    """The amount a reservation takes from one scope, and the scope's limit at that moment.

    ``window`` names other scopes whose use counts toward this line's limit too: a rolling
    contact window is today's bucket plus the earlier days' buckets, checked in the same
    atomic reservation (the earlier buckets are read, not changed)."""

    scope: Scope
    amount: int
    limit: int | None = None
    window: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.amount < 0:
            raise ValueError(f"amount must be >= 0, got {self.amount} for {self.scope.id}")
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"limit must be >= 0, got {self.limit} for {self.scope.id}")


@dataclass(frozen=True)
class Reservation:
    """What the ledger answered for one idempotency key; ``replayed`` marks a retried request."""

    id: str
    idempotency_key: str
    decision_id: str
    payload_digest: str
    status: Status
    lines: tuple[Line, ...]
    created_at: float
    expires_at: float
    rejected_scope: str | None = None
    reason: str | None = None
    replayed: bool = False

    @property
    def ok(self) -> bool:
        """True when the budget was granted (held, or later committed)."""
        return self.status is not Status.REJECTED


@dataclass(frozen=True)
class Balance:
    """Budget use of one scope: held reservations and committed (net of reversals) amounts."""

    scope: str
    kind: ScopeKind
    period: str | None
    limit: int | None
    reserved: int
    committed: int

    @property
    def available(self) -> int | None:
        return None if self.limit is None else self.limit - self.reserved - self.committed


@dataclass(frozen=True)
class ScopeLimits:
    """The limits a contract policy sets per scope kind (None: tracked, not limited)."""

    contract: int | None = None
    partner: int | None = None
    customer: int | None = None
    offer: int | None = None
    contract_lifetime: int | None = None
    partner_lifetime: int | None = None
    customer_lifetime: int | None = None
    offer_lifetime: int | None = None


def decision_lines(
    *,
    contract_id: str,
    partner_id: str,
    customer_key: str,
    offer_id: str,
    period: str,
    amount: int,
    limits: ScopeLimits,
    money: int = 0,
    money_limits: ScopeLimits | None = None,
) -> list[Line]:
    """Every scope one offer award draws on. In points: contract, partner and customer per
    period and over their lifetime, the offer per period (its lifetime and the contract's only
    when limited: older ledgers keep their scope ids); the customer's lifetime line is always
    there: every reservation of a customer locks it, so count windows checked in the same
    transaction see every concurrent grant. In money (``money`` minor units, when
    ``money_limits`` is given): the contract's period always, so finance reads money spent per
    period, every other scope where a money limit is set. ``customer_key`` must be pseudonymized."""
    scopes = _award_scopes(contract_id, partner_id, customer_key, offer_id, period)
    lines = [
        Line(Scope(kind, key, at), amount, limit)
        for kind, key, at, limit in _with_limits(scopes, limits)
        if limit is not None or (kind, at) not in _OPTIONAL_POINTS
    ]
    if money_limits is None:
        return lines
    money_lines = [
        Line(Scope(kind.in_money, key, at), money, limit)
        for kind, key, at, limit in _with_limits(scopes, money_limits)
        if limit is not None or (kind is ScopeKind.CONTRACT and at is not None)
    ]
    return lines + money_lines


_LIFETIME = None
_OPTIONAL_POINTS = {(ScopeKind.CONTRACT, _LIFETIME), (ScopeKind.OFFER, _LIFETIME)}


def _award_scopes(
    contract_id: str, partner_id: str, customer_key: str, offer_id: str, period: str
) -> list[tuple[ScopeKind, str, str | None, str]]:
    """(kind, key, period or None for the lifetime, name of the limit field) of one award."""
    return [
        (ScopeKind.CONTRACT, contract_id, period, "contract"),
        (ScopeKind.PARTNER, partner_id, period, "partner"),
        (ScopeKind.PARTNER, partner_id, _LIFETIME, "partner_lifetime"),
        (ScopeKind.CUSTOMER, customer_key, period, "customer"),
        (ScopeKind.CUSTOMER, customer_key, _LIFETIME, "customer_lifetime"),
        (ScopeKind.OFFER, offer_id, period, "offer"),
        (ScopeKind.CONTRACT, contract_id, _LIFETIME, "contract_lifetime"),
        (ScopeKind.OFFER, offer_id, _LIFETIME, "offer_lifetime"),
    ]


def _with_limits(scopes, limits: ScopeLimits):
    return [(kind, key, at, getattr(limits, field)) for kind, key, at, field in scopes]


def normalize_lines(lines: Sequence[Line]) -> tuple[Line, ...]:
    """Lines sorted by scope id (the lock order) with duplicates refused: one line per scope."""
    ordered = tuple(sorted(lines, key=lambda line: line.scope.id))
    ids = [line.scope.id for line in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError(f"a reservation names a scope twice: {ids}")
    if not ordered:
        raise ValueError("a reservation needs at least one scope line")
    return ordered


def first_over_limit(lines: Sequence[Line], used: Mapping[str, int]) -> str | None:
    """The first scope whose limit the lines would break, given reserved + committed per scope
    (a line's window scopes count toward its limit)."""
    for line in lines:
        if line.limit is None:
            continue
        taken = used.get(line.scope.id, 0) + sum(used.get(w, 0) for w in line.window)
        if taken + line.amount > line.limit:
            return line.scope.id
    return None


def window_ids(lines: Sequence[Line]) -> list[str]:
    """The scopes the lines' windows read (besides the lines' own scopes)."""
    return sorted({w for line in lines for w in line.window})


# Allowed transitions: (from status, operation) -> new status. A same-state repeat is a no-op.
TRANSITIONS: dict[tuple[Status, str], Status] = {
    (Status.HELD, "commit"): Status.COMMITTED,
    (Status.HELD, "release"): Status.RELEASED,
    (Status.HELD, "expire"): Status.EXPIRED,
    (Status.COMMITTED, "reverse"): Status.REVERSED,
}
NO_OPS: dict[str, frozenset[Status]] = {
    "commit": frozenset({Status.COMMITTED}),
    "release": frozenset({Status.RELEASED, Status.EXPIRED}),
    "expire": frozenset({Status.RELEASED, Status.EXPIRED, Status.COMMITTED, Status.REVERSED}),
    "reverse": frozenset({Status.REVERSED}),
}


def transition(status: Status, operation: str) -> Status | None:
    """The next status, None for an idempotent repeat; InvalidTransitionError otherwise."""
    if (status, operation) in TRANSITIONS:
        return TRANSITIONS[(status, operation)]
    if status in NO_OPS.get(operation, frozenset()):
        return None
    hint = {"release": "use reverse for a committed one", "reverse": "use release while held"}
    extra = f" ({hint[operation]})" if operation in hint else ""
    raise InvalidTransitionError(f"cannot {operation} a reservation that is {status}{extra}")


def balance_deltas(operation: str, amount: int) -> tuple[int, int]:
    """(reserved delta, committed delta) one operation applies to each scope of a reservation."""
    return {
        "reserve": (amount, 0),
        "commit": (-amount, amount),
        "release": (-amount, 0),
        "expire": (-amount, 0),
        "reverse": (0, -amount),
    }[operation]
