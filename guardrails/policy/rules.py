"""The contract's rules as pure functions: each returns the Reason that binds, or None.

Contract-level rules (dates, blackouts, consent, eligibility, suppression) run once per decision;
offer rules once per offer. The customer's features reach CEL only after consent allows their use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from guardrails.decision import Consent, ContactState, Reason
from guardrails.policy.compiled import CompiledOffer, CompiledPolicy


def _reason(cp: CompiledPolicy, code: str, clause: str, text: str, offer: str | None = None):
    return Reason(code, clause, text, cp.version, offer)


def in_force(cp: CompiledPolicy, today: dt.date) -> Reason | None:
    """The contract runs from valid_from (inclusive) to valid_to (exclusive), UTC dates."""
    policy = cp.policy
    if today < policy.valid_from:
        text = f"Contract {policy.contract_id} starts on {policy.valid_from}; no offers before it."
        return _reason(cp, "contract_dates", "valid_from", text)
    if today >= policy.valid_to:
        text = f"Contract {policy.contract_id} ended on {policy.valid_to}; no offers after it."
        return _reason(cp, "contract_dates", "valid_to", text)
    return None


def blackout(cp: CompiledPolicy, today: dt.date) -> Reason | None:
    for i, window in enumerate(cp.policy.blackouts):
        if window.starts <= today <= window.ends:
            why = f" ({window.reason})" if window.reason else ""
            text = f"{today} falls in the blackout {window.starts} to {window.ends}{why}."
            return _reason(cp, "blackout", f"blackouts[{i}]", text)
    return None


def consent_blockers(cp: CompiledPolicy, partner: str, consent: Consent) -> list[Reason]:
    """Data use needs both the contract's terms and the customer's consent; marketing needs its
    own consent when the contract says so."""
    out = data_use_blockers(cp, partner, consent)
    if cp.policy.consent.require_marketing_consent and not consent.marketing:
        record = _on_record(consent)
        text = f"The customer has not given marketing consent, which the contract requires.{record}"
        out.append(_reason(cp, "consent_marketing", "consent.require_marketing_consent", text))
    return out


def data_use_blockers(cp: CompiledPolicy, partner: str, consent: Consent) -> list[Reason]:
    """May ``partner`` use the customer's data under this contract at all (features, scores)?
    The contract's terms and the customer's consent must both allow it."""
    policy = cp.policy
    out = []
    if partner not in policy.data_partners:
        allowed = ", ".join(sorted(policy.data_partners))
        text = (
            f"Contract {policy.contract_id} does not let partner {partner} use its customers' "
            f"data (allowed: {allowed}); no offer."
        )
        out.append(_reason(cp, "contract_data_sharing", "consent.data_sharing_partners", text))
    if partner not in consent.data_partners:
        text = (
            f"The customer has not consented to partner {partner} using their data; no offer."
            f"{_on_record(consent)}"
        )
        out.append(_reason(cp, "consent_data_use", "consent", text))
    return out


def _on_record(consent: Consent | None) -> str:
    """The consent on record and what it rests on, as a sentence (empty when not known)."""
    if consent is None or not consent.basis:
        return ""
    return f" On record: {'; '.join(consent.basis)}."


def consent_basis(cp: CompiledPolicy, partner: str, consent: Consent | None = None) -> Reason:
    policy = cp.policy
    role = (
        "the contract's own partner"
        if partner == policy.partner_id
        else "named in the contract's data-sharing terms"
    )
    marketing = (
        " and has given marketing consent" if policy.consent.require_marketing_consent else ""
    )
    text = (
        f"Partner {partner} ({role}) may use this customer's data: "
        f"the customer consented{marketing}.{_on_record(consent)}"
    )
    clause = "partner_id" if partner == policy.partner_id else "consent.data_sharing_partners"
    return _reason(cp, "consent_basis", clause, text)


def eligibility(cp: CompiledPolicy, context: Any) -> Reason | None:
    if cp.eligibility is None:
        return None
    ok, why = cp.eligibility.evaluate(context)
    if ok:
        return None
    detail = f": the rule {why}" if why else ""
    text = (
        f"The customer does not meet the contract's eligibility rule "
        f"`{cp.eligibility.source}`{detail}."
    )
    return _reason(cp, "eligibility", "eligibility", text)


def suppression(cp: CompiledPolicy, declines: Sequence[dt.datetime], now: dt.datetime):
    """Quiet for N days after K declines: at least K declines within the last N days."""
    rule = cp.policy.contact_policy.suppress_after_declines
    if rule is None:
        return None
    recent = _count_within(declines, now, rule.days)
    if recent < rule.declines:
        return None
    text = (
        f"The customer declined {recent} offer(s) in the last {rule.days} days; the contract "
        f"suppresses offers for {rule.days} days after {rule.declines} declines."
    )
    return _reason(cp, "suppression", "contact_policy.suppress_after_declines", text)


def _count_within(times: Sequence[dt.datetime], now: dt.datetime, days: int) -> int:
    start = now - dt.timedelta(days=days)
    return sum(1 for t in times if start < _aware(t) <= now)


def _aware(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def contact_limit(
    cp: CompiledPolicy,
    channel: str,
    contacts: Mapping[str, Sequence[dt.datetime]],
    now,
    own: Mapping[str, int] | None = None,
) -> Reason | None:
    """Contacts by the channel in its rolling window, reported ones and the service's own
    grants (``own``, counted by day), against the window's limit."""
    clause, window = cp.window(channel)
    reported = _count_within(contacts.get(channel, ()), now, window.window_days)
    mine = (own or {}).get(channel, 0)
    recent = reported + mine
    if recent < window.count:
        return None
    counted = f" ({mine} granted by this service)" if mine else ""
    text = (
        f"{recent} contact(s) by {channel} in the last {window.window_days} days{counted} "
        f"reach the limit of {window.count}."
    )
    return _reason(cp, "contact_limit", clause, text)


def offer_expressions(cp: CompiledPolicy, co: CompiledOffer, context: Any) -> Reason | None:
    """Applicability, then suitability; the context's ``offer`` must be this offer's."""
    for code, expression in (("applicability", co.applicability), ("suitability", co.suitability)):
        if expression is None:
            continue
        ok, why = expression.evaluate(context)
        if not ok:
            detail = f" (the rule {why})" if why else ""
            text = f"Offer {co.offer.offer_id} fails its {code} rule `{expression.source}`{detail}."
            return _reason(cp, code, expression.path, text, co.offer.offer_id)
    return None


def cap(cp: CompiledPolicy, co: CompiledOffer, state: ContactState, period: str):
    granted = state.grants.get(co.offer.offer_id, 0)
    limit = co.offer.cap_per_customer_per_period
    if granted < limit:
        return None
    text = (
        f"Offer {co.offer.offer_id} was already granted {granted} time(s) in {period}; "
        f"the cap is {limit} per customer per {cp.policy.budget.period}."
    )
    return _reason(cp, "cap", f"{co.clause}.cap_per_customer_per_period", text, co.offer.offer_id)
