"""The one ledger interface the decision service, the CLI and the reliability suite call."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from guardrails.ledger.db import Database
from guardrails.ledger.model import Balance, Line, Reservation, ScopeKind


class Ledger(ABC):
    """Atomic budget reservations over every applicable scope, with idempotency keys.

    ``reserve`` checks and takes every line's amount in one transaction or takes nothing;
    ``commit`` makes a hold final, ``release`` returns it, ``expire`` returns overdue holds and
    ``reverse`` returns a committed amount through a new entry (nothing is ever deleted).
    Times are epoch seconds; ``now`` defaults to the ledger's clock.
    """

    db: Database

    @abstractmethod
    def reserve(
        self,
        idempotency_key: str,
        decision_id: str,
        payload_digest: str,
        lines: Sequence[Line],
        ttl_s: float,
        now: float | None = None,
    ) -> Reservation:
        """Hold every line or none; a retry returns the first outcome (``replayed=True``).

        Raises IdempotencyConflictError when the key was used with another digest."""

    @abstractmethod
    def commit(self, reservation_id: str, now: float | None = None) -> Reservation:
        """Make a hold final; an overdue hold is expired instead (InvalidTransitionError)."""

    @abstractmethod
    def release(
        self, reservation_id: str, reason: str | None = None, now: float | None = None
    ) -> Reservation:
        """Return a held amount (a repeat is a no-op)."""

    @abstractmethod
    def reverse(self, reservation_id: str, reason: str, now: float | None = None) -> Reservation:
        """Return a committed amount to its scopes (its own period) through a reversal entry."""

    @abstractmethod
    def cancel(self, reservation_id: str, reason: str, now: float | None = None) -> Reservation:
        """Undo a decision's budget whatever its state: release a hold, reverse a commit."""

    @abstractmethod
    def extend(
        self, reservation_id: str, expires_at: float, now: float | None = None
    ) -> Reservation:
        """Move a live hold's expiry (a review holds the budget for its own TTL)."""

    @abstractmethod
    def expire(self, now: float | None = None, batch: int = 500) -> int:
        """Release holds whose TTL has passed; returns how many."""

    @abstractmethod
    def get(self, reservation_id: str) -> Reservation:
        """One reservation (ReservationNotFoundError when unknown)."""

    @abstractmethod
    def find(self, idempotency_key: str) -> Reservation | None:
        """The reservation made under a key, if any."""

    @abstractmethod
    def balances(
        self, kind: ScopeKind | None = None, period: str | None = None, prefix: str | None = None
    ) -> list[Balance]:
        """Budget use per scope, optionally filtered."""

    @abstractmethod
    def balances_of(self, scopes: Sequence[str]) -> dict[str, Balance]:
        """Balances of the given scope ids, in one read; a scope never used is absent."""

    @abstractmethod
    def reconcile(self) -> list[str]:
        """Problems found when balances are recomputed from entries and reservations (none: [])."""

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
