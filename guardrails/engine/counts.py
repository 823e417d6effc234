"""The counts of a contract period as ledger scopes: each grant is one toward its offer's cap for
the customer in the period and one contact on its channel that day. Pure: scope ids, what the
books say the service has granted, and the count lines of one grant."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from guardrails.decision import utc
from guardrails.engine.records import History
from guardrails.ledger.model import Line, Scope, ScopeKind
from guardrails.periods import period_key
from guardrails.policy.compiled import CompiledPolicy


def grants_in_period(sends: Sequence[tuple[str, Any]], kind: str, period: str) -> dict[str, int]:
    """Offers sent per offer id in the decision's period (what caps count)."""
    grants: dict[str, int] = {}
    for offer_id, at in sends:
        if period_key(at, kind) == period:
            grants[offer_id] = grants.get(offer_id, 0) + 1
    return grants


def day_key(when: dt.datetime) -> str:
    """The UTC day a time falls in, as contact buckets key it (``2025-02-03``)."""
    return utc(when).date().isoformat()


def window_days(when: dt.datetime, days: int) -> list[str]:
    """The day keys a rolling window of ``days`` days ending at ``when`` counts own grants on:
    the decision's day and the ``days`` days before it (a day more than the exact window, so
    counting by day never lets a customer over the limit)."""
    return list(_days_back(utc(when).date(), days))


@lru_cache(maxsize=256)
def _days_back(today: dt.date, days: int) -> tuple[str, ...]:
    return tuple((today - dt.timedelta(days=n)).isoformat() for n in range(days + 1))


def cap_scope(customer_key: str, offer_id: str, period: str) -> Scope:
    """Grants of one offer to one customer in a period: what its cap counts."""
    return Scope(ScopeKind.CAP, f"{customer_key}/{offer_id}", period)


def contact_scope(customer_key: str, channel: str, day: str) -> Scope:
    """Contacts of one customer by one channel on one day: what rolling windows sum."""
    return Scope(ScopeKind.CONTACT, f"{customer_key}/{channel}", day)


def contact_ids(customer_key: str, channel: str, days: Sequence[str]) -> list[str]:
    """``contact_scope(...).id`` for each day, built from one quoted prefix (a day key needs no
    quoting): a decision reads a whole window of them for every channel."""
    prefix = contact_scope(customer_key, channel, "").id  # "contact:<key>:"
    return [prefix + day for day in days]


def channels(cp: CompiledPolicy) -> list[str]:
    """The channels the contract's offers use, in catalogue order, once each."""
    return list(dict.fromkeys(str(co.static["channel"]) for co in cp.offers))


def contact_windows(cp: CompiledPolicy, customer_key: str, now: dt.datetime):
    """Per channel of the contract's offers, the contact scope ids of its window (today first)."""
    return _windows(customer_key, _window_spec(cp), utc(now).date())


def _window_spec(cp: CompiledPolicy) -> tuple[tuple[str, int], ...]:
    return tuple((channel, cp.window(channel)[1].window_days) for channel in channels(cp))


@lru_cache(maxsize=4096)
def _windows(customer_key: str, spec: tuple[tuple[str, int], ...], today: dt.date):
    return {
        channel: contact_ids(customer_key, channel, _days_back(today, days))
        for channel, days in spec
    }


def count_scope_ids(cp: CompiledPolicy, customer_key: str, period: str, now: dt.datetime):
    """The count scopes a decision reads: each offer's cap, each channel's window buckets."""
    caps = [cap_scope(customer_key, co.offer.offer_id, period).id for co in cp.offers]
    windows = contact_windows(cp, customer_key, now).values()
    return [*caps, *(sid for ids in windows for sid in ids)]


def own_grants(cp: CompiledPolicy, customer_key: str, period: str, used: Mapping[str, int]):
    """The service's own grants per offer in the period (held or committed), from the books."""
    counts = {
        co.offer.offer_id: used.get(cap_scope(customer_key, co.offer.offer_id, period).id, 0)
        for co in cp.offers
    }
    return {offer_id: n for offer_id, n in counts.items() if n}


def own_contacts(cp: CompiledPolicy, customer_key: str, now: dt.datetime, used: Mapping[str, int]):
    """The service's own grants per channel inside each channel's rolling window."""
    counts = {
        channel: sum(used.get(sid, 0) for sid in ids)
        for channel, ids in contact_windows(cp, customer_key, now).items()
    }
    return {channel: n for channel, n in counts.items() if n}


def count_lines(
    cp: CompiledPolicy, customer_key: str, offer_id: str, period: str, now: dt.datetime,
    history: History,
) -> list[Line]:  # fmt: skip
    """The grant as counts: one toward the offer's cap for the customer in the period, one
    contact on the offer's channel today, checked with the window's earlier days. Each limit
    is the rule's, less what other systems reported (the history)."""
    offer = cp.policy.offer(offer_id)
    sent = grants_in_period(history.sends, cp.policy.budget.period, period).get(offer_id, 0)
    cap = Line(
        cap_scope(customer_key, offer_id, period),
        1,
        max(offer.cap_per_customer_per_period - sent, 0),
    )
    channel = str(offer.channel)
    _, window = cp.window(channel)
    days = window_days(now, window.window_days)
    reported = contacts_within(history.contacts.get(channel, ()), now, window.window_days)
    contact = Line(
        contact_scope(customer_key, channel, days[0]),
        1,
        max(window.count - reported, 0),
        tuple(contact_ids(customer_key, channel, days[1:])),
    )
    return [cap, contact]


def contacts_within(times: Sequence[dt.datetime], now: dt.datetime, days: int) -> int:
    """Contacts in the rolling window (now - days, now], as the contact rule counts them."""
    start = utc(now) - dt.timedelta(days=days)
    return sum(1 for t in times if start < utc(t) <= utc(now))
