"""The oracle: true label probabilities for any customer, as-of time and horizon.

Rates are constant within calendar months, so every probability is a product of closed-form
pieces. The truth conditions on the customer's latent state at the as-of time (active or lapsed,
consent, response class, product) and integrates over everything later: lapse, consent withdrawal,
do-not-disturb contacts of the contract's (exogenous) campaign plan, and visits.

Label definitions match the dataset builder's:
- churn: no qualifying activity (purchase, service visit, points redemption) in (T, T + H];
- redemption: an offer sent at S is redeemed in (S, S + D] (and within its validity);
- abuse: the account is confirmed abusive in (T, T + H].

A customer not yet enrolled at the as-of time has no churn label: churn gives NaN for them (the
dataset builder never makes such rows; filter them out of ids of your own). Redemption and abuse
give 0: no offer reaches a customer before enrolment, and no abuse can be confirmed.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import InputError
from simulator import config as params
from simulator import rates
from simulator.population import Population
from simulator.run import config_from_manifest
from simulator.world import World, build_world

WITHDRAWAL_RATE = params.CONSENT_WITHDRAWALS_PER_YEAR / 365


@dataclass
class Truth:
    world: World
    pop: Population
    lapse_day: np.ndarray
    index: pd.Index  # customer_id -> position

    @classmethod
    def load(cls, sim_dir: str | Path) -> Truth:
        """Rebuild the world from the manifest and read the per-customer latent state."""
        sim_dir = Path(sim_dir)
        manifest_path = sim_dir / "manifest.json"
        frame_path = sim_dir / "truth" / "customers.parquet"
        if not manifest_path.exists() or not frame_path.exists():
            raise InputError(
                f"{sim_dir} holds no simulator truth (manifest.json, truth/customers.parquet)"
            )

        world = build_world(config_from_manifest(json.loads(manifest_path.read_text())))
        return cls.from_frame(world, pd.read_parquet(frame_path))

    @classmethod
    def from_frame(cls, world: World, frame: pd.DataFrame) -> Truth:
        return cls(
            world=world,
            pop=Population.from_frame(frame),
            lapse_day=frame["lapse_day"].to_numpy(),
            index=pd.Index(frame["customer_id"]),
        )

    # -- helpers ---------------------------------------------------------------------------------
    def _positions(self, customer_ids) -> np.ndarray:
        pos = self.index.get_indexer(np.asarray(customer_ids))
        if (pos < 0).any():
            missing = np.asarray(customer_ids)[pos < 0][:5]
            raise InputError(f"customers not in the simulation truth: {list(missing)}")
        return pos

    def _days(self, when, n: int) -> np.ndarray:
        stamps = pd.to_datetime(
            pd.Series(np.broadcast_to(np.asarray(when, dtype=object), (n,))), utc=True
        )
        return self.world.timestamp_to_day(stamps)

    # -- churn -----------------------------------------------------------------------------------
    def churn_probability(
        self, customer_ids, as_of, horizon_days: float, last_seen=None
    ) -> np.ndarray:
        """P(no qualifying activity in (T, T+H]); NaN where the customer had not enrolled by T
        (there is no churn label before enrolment), with or without ``last_seen``.

        Without ``last_seen`` it conditions on the latent state at T (active or lapsed). With
        ``last_seen`` (each customer's last qualifying activity before T; NaT for none) it
        conditions on what the log shows instead: active at that time, silent since. That is the
        best any model that knew the customer's parameters could do from the history.
        """
        pos = self._positions(customer_ids)
        t0 = self._days(as_of, len(pos))
        t1 = t0 + horizon_days
        pop = self.pop.take(pos)
        enrolled = pop.enroll_day <= t0
        if last_seen is not None:
            return np.where(
                enrolled, self._churn_given_history(pop, last_seen, t0, t1, enrolled), np.nan
            )
        active = enrolled & (self.lapse_day[pos] > t0)
        state = _ChurnState.start(pop, t0, active)
        self._walk(pop, state, t0, t1, active)
        out = np.where(active, state.total(), 1.0)
        return np.where(enrolled, out, np.nan)

    def _since_last_seen(self, pop: Population, last_seen, t0: np.ndarray) -> np.ndarray:
        """When each customer was last known active: last activity, else enrolment."""
        seen = pd.to_datetime(
            pd.Series(np.broadcast_to(np.asarray(last_seen, dtype=object), t0.shape)), utc=True
        )
        days = np.where(
            seen.isna(), -np.inf, self.world.timestamp_to_day(seen.fillna(self.world.cfg.start))
        )
        return np.minimum(np.maximum(days, pop.enroll_day), t0)

    def _churn_given_history(self, pop, last_seen, t0, t1, enrolled) -> np.ndarray:
        start = self._since_last_seen(pop, last_seen, t0)
        state = _ChurnState.start(pop, start, enrolled)
        self._walk(pop, state, start, t0, enrolled)
        at_as_of = state.total()
        self._walk(pop, state, t0, t1, enrolled)
        return state.total() / np.where(at_as_of > 0, at_as_of, 1.0)

    def _walk(
        self,
        pop: Population,
        state: _ChurnState,
        t0: np.ndarray,
        t1: np.ndarray,
        active: np.ndarray,
    ) -> None:
        if not active.any():
            return
        lo, hi = t0[active].min(), t1[active].max()
        jumps = self._campaign_jumps(pop)
        points = np.unique(np.r_[self.world.month_bounds, list(jumps)])
        points = points[(points > lo) & (points < hi)]
        bounds = np.r_[lo, points, hi]
        for a, b in itertools.pairwise(bounds):
            seg = np.clip(np.minimum(t1, b) - np.maximum(t0, a), 0, None) * active
            month = np.full(len(t0), self.world.month_index(np.array([a]))[0])
            lam = rates.visit_rate(self.world, pop, month)
            haz = rates.natural_hazard(self.world, pop, month) + pop.detect_rate
            state.evolve(lam, haz, seg)
            for contract, fraction in jumps.get(b, ()):
                hit = active & (pop.partner_idx == contract) & (t0 < b) & (b <= t1)
                state.contact(hit * fraction * rates.dnd_lapse_probability(pop))

    def _campaign_jumps(self, pop: Population) -> dict[float, list[tuple[int, float]]]:
        jumps: dict[float, list[tuple[int, float]]] = {}
        for row in self.world.campaigns.itertuples(index=False):
            jumps.setdefault(float(row.day), []).append(
                (int(row.contract_idx), row.target_fraction)
            )
        return jumps

    # -- offer redemption ------------------------------------------------------------------------
    def redemption_probability(
        self, customer_ids, offer_ids, sent_at, window_days: float, last_seen=None
    ) -> np.ndarray:
        """P(an offer sent at S is redeemed in (S, S+D]), given the customer's state at S; 0 where
        the customer had not enrolled by S (never NaN).

        With ``last_seen`` the active-at-S part is the posterior from the observable history (as in
        ``churn_probability``), times the chance this contact does not drive a do-not-disturb away.
        """
        pos = self._positions(customer_ids)
        offers = pd.Index(self.world.offers["offer_id"])
        offer_idx = offers.get_indexer(np.asarray(offer_ids, dtype=object))
        if (offer_idx < 0).any():
            raise InputError(
                f"offers not in the simulation: {set(np.asarray(offer_ids)[offer_idx < 0])}"
            )
        s = self._days(sent_at, len(pos))
        pop = self.pop.take(pos)
        active = (pop.enroll_day < s) & (self.lapse_day[pos] > s)
        valid = self.world.offers["valid_days"].to_numpy()[offer_idx]
        end = s + np.minimum(window_days, valid)
        rate = 1 / params.OFFER_ACCEPT_DELAY_DAYS
        done = np.zeros(len(pos))
        survival = np.ones(len(pos))
        for a, b, month in self._month_segments(s, end):
            kappa = rates.natural_hazard(self.world, pop, month) + pop.detect_rate
            span = b - a
            done += (
                survival
                * np.exp(-(a - s) * rate)
                * rate
                / (rate + kappa)
                * (1 - np.exp(-(rate + kappa) * span))
            )
            survival *= np.exp(-kappa * span)
        p = rates.accept_probability(self.world, pop, offer_idx)
        if last_seen is not None:
            active = self._active_given_history(pop, last_seen, s)
        return np.where(active, p * done, 0.0) if last_seen is None else active * p * done

    def _active_given_history(self, pop: Population, last_seen, s: np.ndarray) -> np.ndarray:
        enrolled = pop.enroll_day < s
        start = self._since_last_seen(pop, last_seen, s)
        state = _ChurnState.start(pop, start, enrolled)
        self._walk(pop, state, start, s - 1e-9, enrolled)  # the send itself is known: no jump
        total = state.total()
        alive = (state.with_consent + state.without) / np.where(total > 0, total, 1.0)
        return np.where(enrolled, alive * (1 - rates.dnd_lapse_probability(pop)), 0.0)

    def _month_segments(self, t0: np.ndarray, t1: np.ndarray):
        """Per-row pieces of (t0, t1] split at month starts: yields (start, end, month) arrays."""
        bounds = self.world.month_bounds
        month = self.world.month_index(t0)
        while True:
            a = np.maximum(t0, bounds[month])
            b = np.minimum(t1, bounds[np.minimum(month + 1, len(bounds) - 1)])
            b = np.maximum(a, b)
            if not (b > a).any():
                return
            yield a, b, month
            month = np.minimum(month + 1, len(bounds) - 2)

    # -- abuse -----------------------------------------------------------------------------------
    def abuse_probability(self, customer_ids, as_of, horizon_days: float) -> np.ndarray:
        """P(the account is confirmed abusive in (T, T+H]); 0 for honest or closed accounts and
        for customers not enrolled by T (never NaN)."""
        pos = self._positions(customer_ids)
        t0 = self._days(as_of, len(pos))
        pop = self.pop.take(pos)
        active = pop.abuser & (pop.enroll_day <= t0) & (self.lapse_day[pos] > t0)
        done = np.zeros(len(pos))
        survival = np.ones(len(pos))
        for a, b, month in self._month_segments(t0, t0 + horizon_days):
            kappa = rates.natural_hazard(self.world, pop, month) + pop.detect_rate
            span = b - a
            done += survival * pop.detect_rate / kappa * (1 - np.exp(-kappa * span))
            survival *= np.exp(-kappa * span)
        return np.where(active, done, 0.0)


@dataclass
class _ChurnState:
    """Probabilities of: active with consent, active without, lapsed; all with no visit yet."""

    with_consent: np.ndarray
    without: np.ndarray
    lapsed: np.ndarray

    @classmethod
    def start(cls, pop: Population, t0: np.ndarray, active: np.ndarray) -> _ChurnState:
        consent = pop.marketing_consent & (pop.withdraw_day > t0)
        return cls(
            np.where(active & consent, 1.0, 0.0),
            np.where(active & ~consent, 1.0, 0.0),
            np.zeros(len(t0)),
        )

    def evolve(self, lam: np.ndarray, haz: np.ndarray, span: np.ndarray) -> None:
        out = lam + haz
        e_out = np.exp(-out * span)
        e_all = e_out * np.exp(-WITHDRAWAL_RATE * span)
        alive = self.with_consent + self.without
        self.lapsed = self.lapsed + haz / out * alive * (1 - e_out)
        self.without = self.without * e_out + self.with_consent * (e_out - e_all)
        self.with_consent = self.with_consent * e_all

    def contact(self, lapse_chance: np.ndarray) -> None:
        self.lapsed = self.lapsed + self.with_consent * lapse_chance
        self.with_consent = self.with_consent * (1 - lapse_chance)

    def total(self) -> np.ndarray:
        return self.with_consent + self.without + self.lapsed
