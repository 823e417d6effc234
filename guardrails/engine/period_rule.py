"""Decisions stay in their period: a decision reserves only in its contract's current period by
the service's clock, so no caller can spend a closed quarter's budget or a future one's."""

from __future__ import annotations

import datetime as dt

from features.errors import InvalidInputError
from guardrails.decision import utc
from guardrails.periods import open_periods, period_key
from guardrails.policy.compiled import CompiledPolicy

DEFAULT_SKEW_S = 300.0


class PeriodClosedError(InvalidInputError):
    """The decision time falls in a closed or a future period of the contract."""


def check_current_period(
    cp: CompiledPolicy, when: dt.datetime, now: dt.datetime, skew_s: float = DEFAULT_SKEW_S
) -> str:
    """The period a decision at ``when`` reserves in; PeriodClosedError unless it is the
    contract's current period by the clock ``now`` (within ``skew_s`` of a boundary, the
    neighbouring period counts as current too)."""
    kind = cp.policy.budget.period
    period = period_key(utc(when), kind)
    current = open_periods(utc(now), kind, skew_s)
    if period in current:
        return period
    state = "closed" if period < current[0] else "not open yet"
    problem = (
        f"time: {_stamp(when)} falls in {kind} {period} of contract {cp.contract_id}, which is "
        f"{state}: decisions reserve only in the current period, {period_key(utc(now), kind)} "
        f"by the service's clock ({_stamp(now)}, skew tolerance {skew_s:g} s); an operator "
        'may decide it with "mode": "backfill", which reserves nothing'
    )
    raise PeriodClosedError(f"period {period} of contract {cp.contract_id} is {state}", [problem])


def _stamp(when: dt.datetime) -> str:
    return utc(when).isoformat().replace("+00:00", "Z")
