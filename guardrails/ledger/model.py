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
    """What a budget limit applies to."""

    CONTRACT = "contract"
    PARTNER = "partner"
    CUSTOMER = "customer"
    OFFER = "offer"
    CAP = "cap"  # grants of one offer to one customer in a period (counts, not points)
    CONTACT = "contact"  # contacts of one customer on one channel on one UTC day (counts)


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


def decision_lines(
    *,
    contract_id: str,
    partner_id: str,
    customer_key: str,
    offer_id: str,
    period: str,
    amount: int,
    limits: ScopeLimits,
) -> list[Line]:
    """Every points scope one offer award draws on: contract, partner and customer per period
    and over their lifetime, the offer per period. The contract's lifetime line is there only
    when it has a limit (older ledgers keep their scope ids); the customer's lifetime line is
    always there: every reservation of a customer locks it, so count windows checked in the
    same transaction see every concurrent grant. ``customer_key`` must be pseudonymized."""
    lines = [
        Line(Scope(ScopeKind.CONTRACT, contract_id, period), amount, limits.contract),
        Line(Scope(ScopeKind.PARTNER, partner_id, period), amount, limits.partner),
        Line(Scope(ScopeKind.PARTNER, partner_id), amount, limits.partner_lifetime),
        Line(Scope(ScopeKind.CUSTOMER, customer_key, period), amount, limits.customer),
        Line(Scope(ScopeKind.CUSTOMER, customer_key), amount, limits.customer_lifetime),
        Line(Scope(ScopeKind.OFFER, offer_id, period), amount, limits.offer),
    ]
    if limits.contract_lifetime is not None:
        lines.append(Line(Scope(ScopeKind.CONTRACT, contract_id), amount, limits.contract_lifetime))
    return lines


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
