"""The program's world: partners, contracts, offer catalogues, campaigns and monthly rate factors.

Everything here is small and rebuilt deterministically from the SimConfig, so the truth functions
can reconstruct the exact world a log was generated in. Time is measured in days (float) since the
start of the history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator import config as params

DAY_US = 86_400_000_000

_PARTNERS = (
    # id, name, kind, dealers, share of enrolments
    ("P01", "Aurora Motors", "oem", 40, 0.40),
    ("P02", "Brightway Automotive", "oem", 25, 0.30),
    ("P03", "Cobalt Trucks", "oem", 12, 0.18),
    ("P04", "ServiceOne Network", "service_network", 60, 0.12),
    ("P05", "Delta EV", "oem", 10, 0.0),  # joins only in the partner_onboarding scenario
)
SERVICE_NETWORK = 3  # index of P04: OEM customers service there sometimes
ONBOARDING_PARTNER = 4
ONBOARDING_ENROLMENT_SHARE = 0.35
SHARING = {"P01": "P04", "P02": "P04", "P03": "", "P04": "P01;P02", "P05": ""}

# offer templates: suffix, type, points cost, money value, valid days, cap per quarter, channel
_OFFERS = (
    ("SV25", "service_voucher", 2_500, 25.0, 30, 1, "email"),
    ("AD40", "accessory_discount", 4_000, 40.0, 21, 1, "app"),
    ("BP500", "bonus_points", 500, 5.0, 14, 2, "sms"),
    ("UP500", "upgrade_incentive", 50_000, 500.0, 30, 1, "mail"),
)
_SERVICE_NETWORK_OFFERS = ("SV25", "BP500")

REGIONS = ("north", "south", "east", "west", "central")
ACQUISITION = ("dealer", "online", "referral", "fleet")
PRODUCTS = ("compact", "sedan", "suv", "van", "pickup")
NEW_PRODUCT = "ev_crossover"


@dataclass(frozen=True)
class World:
    cfg: params.SimConfig
    month_bounds: np.ndarray  # days since start of each month boundary, len n_months_ext + 1
    month_of_year: np.ndarray  # 0..11 per month
    calendar_year: np.ndarray  # calendar year per month
    partners: pd.DataFrame
    contracts: pd.DataFrame
    offers: pd.DataFrame
    campaigns: pd.DataFrame  # contract_idx, day, offer_idx, target_fraction
    season: np.ndarray  # visit factor per month
    visit_factor: np.ndarray  # (partners, months)
    hazard_factor: np.ndarray  # (partners, months)
    earn_rate: np.ndarray  # points per money unit, (partners, months)
    launch_month: int  # -1 when the product_launch scenario is off
    onboarding_day: float  # inf when partner_onboarding is off

    @property
    def horizon_days(self) -> float:
        """Length of the simulated history in days."""
        return float(self.month_bounds[self.cfg.months])

    def day_to_timestamp_us(self, days: np.ndarray) -> np.ndarray:
        """Days since start -> microseconds since the epoch (int64), for the event log."""
        return self.cfg.start.value // 1000 + np.round(days * DAY_US).astype(np.int64)

    def timestamp_to_day(self, ts: pd.Series | pd.DatetimeIndex | pd.Timestamp) -> np.ndarray:
        """UTC timestamps -> days since start (float); a scalar gives a 0-d array."""
        scalar = isinstance(ts, pd.Timestamp | str)
        values = pd.DatetimeIndex(pd.to_datetime([ts] if scalar else ts, utc=True)).as_unit("us")
        days = (values.asi8 - self.cfg.start.value // 1000) / DAY_US
        return days[0] if scalar else days

    def month_index(self, days: np.ndarray) -> np.ndarray:
        """Month of the rate grid containing each day (clipped to the grid)."""
        idx = np.searchsorted(self.month_bounds, days, side="right") - 1
        return np.clip(idx, 0, len(self.month_bounds) - 2)

    def scenario_start(self, name: str) -> pd.Timestamp | None:
        return next((s.starts for s in self.cfg.scenarios if s.name == name), None)


def _month_grid(cfg: params.SimConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = cfg.months + params.TRUTH_EXTRA_MONTHS
    starts = pd.date_range(cfg.start, periods=n + 1, freq="MS")
    bounds = np.asarray((starts - cfg.start) / pd.Timedelta(days=1), dtype=np.float64)
    return bounds, np.asarray(starts.month[:-1] - 1), np.asarray(starts.year[:-1])


def _month_of(world_bounds: np.ndarray, cfg: params.SimConfig, ts: pd.Timestamp | None) -> int:
    if ts is None:
        return -1
    day = (ts - cfg.start) / pd.Timedelta(days=1)
    return int(np.searchsorted(world_bounds, day, side="right") - 1)


def _partners(cfg: params.SimConfig, onboarding_ts: pd.Timestamp | None) -> pd.DataFrame:
    rows = []
    for idx, (pid, name, kind, dealers, share) in enumerate(_PARTNERS):
        if idx == ONBOARDING_PARTNER and onboarding_ts is None:
            continue
        joined = onboarding_ts if idx == ONBOARDING_PARTNER else cfg.start - pd.DateOffset(years=1)
        rows.append((idx, pid, name, kind, joined, dealers, share))
    cols = ["partner_idx", "partner_id", "name", "kind", "joined_at", "n_dealers", "home_share"]
    return pd.DataFrame(rows, columns=cols)


def _contracts(cfg: params.SimConfig, partners: pd.DataFrame) -> pd.DataFrame:
    expected = cfg.customers * partners["home_share"].clip(lower=0.1)
    out = pd.DataFrame(
        {
            "contract_idx": partners["partner_idx"],
            "contract_id": "C-" + partners["partner_id"],
            "partner_id": partners["partner_id"],
            "starts_at": partners["joined_at"],
            "ends_at": partners["joined_at"] + pd.DateOffset(years=6),
            "budget_period": "quarter",
            # about 120 points a customer a quarter: campaigns exhaust it in busy quarters
            # and at least twice the dearest offer, so a small ecosystem can grant every offer
            "budget_points_per_period": np.maximum(
                np.ceil(expected * 120 / 1000) * 1000, 2 * max(o[2] for o in _OFFERS)
            ).astype("int64"),
            "cost_per_point": 0.01,
            "currency": "EUR",
            "data_sharing_partners": partners["partner_id"].map(SHARING),
        }
    )
    return out.reset_index(drop=True)


def _offers(contracts: pd.DataFrame, partners: pd.DataFrame) -> pd.DataFrame:
    kinds = dict(zip(partners["partner_idx"], partners["kind"], strict=True))
    rows = []
    for cidx, cid in zip(contracts["contract_idx"], contracts["contract_id"], strict=True):
        for suffix, otype, cost, value, valid, cap, channel in _OFFERS:
            if kinds[cidx] == "service_network" and suffix not in _SERVICE_NETWORK_OFFERS:
                continue
            oid = f"{cid[2:]}-{suffix}"
            rows.append((cidx, cid, oid, otype, cost, value, valid, cap, channel))
    cols = [
        "contract_idx",
        "contract_id",
        "offer_id",
        "offer_type",
        "points_cost",
        "value",
        "valid_days",
        "cap_per_customer_per_period",
        "channel",
    ]
    offers = pd.DataFrame(rows, columns=cols)
    offers.insert(0, "offer_idx", np.arange(len(offers)))
    return offers


def _campaigns(
    cfg: params.SimConfig,
    contracts: pd.DataFrame,
    offers: pd.DataFrame,
    bounds: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    end = bounds[cfg.months]
    rows = []
    for cidx, starts_at in zip(contracts["contract_idx"], contracts["starts_at"], strict=True):
        first = max(0.0, (starts_at - cfg.start) / pd.Timedelta(days=1))
        day = first + rng.uniform(5, 30)
        catalogue = offers.loc[offers["contract_idx"] == cidx, "offer_idx"].to_numpy()
        while day < end - 1:
            offer = rng.choice(catalogue, p=_campaign_mix(offers, catalogue))
            # campaigns go out during the working day, at a whole minute
            when = np.floor(day) + np.round(rng.uniform(8 / 24, 18 / 24) * 1440) / 1440
            rows.append((cidx, when, int(offer), rng.uniform(*params.CAMPAIGN_TARGET_FRACTION)))
            day += rng.integers(params.CAMPAIGN_GAP_DAYS[0], params.CAMPAIGN_GAP_DAYS[1] + 1)
    out = pd.DataFrame(rows, columns=["contract_idx", "day", "offer_idx", "target_fraction"])
    out.insert(0, "campaign_idx", np.arange(len(out)))
    return out


def _campaign_mix(offers: pd.DataFrame, catalogue: np.ndarray) -> np.ndarray:
    weights = np.where(offers.loc[catalogue, "offer_type"].eq("upgrade_incentive"), 0.4, 1.0)
    return weights / weights.sum()


def _factors(
    cfg: params.SimConfig, n_partners: int, moy: np.ndarray, launch: int, accrual: int, swing: int
) -> tuple[np.ndarray, ...]:
    n = len(moy)
    season = np.asarray(params.SEASON)[moy]
    if swing >= 0:
        season[swing:] = 1 + params.SEASONAL_SWING_GAIN * (season[swing:] - 1)
    visit = np.ones((n_partners, n))
    hazard = np.ones((n_partners, n))
    earn = np.ones((n_partners, n))
    if accrual >= 0:  # the largest OEM cuts its earn rate
        earn[0, accrual:] = params.ACCRUAL_CHANGE_EARN_RATE
        hazard[0, accrual:] = params.ACCRUAL_CHANGE_HAZARD_FACTOR
        visit[0, accrual:] = params.ACCRUAL_CHANGE_VISIT_FACTOR
    return season, visit, hazard, earn


def build_world(cfg: params.SimConfig) -> World:
    """The deterministic world of a configuration (same seed, same world)."""
    rng = np.random.default_rng([cfg.seed, 0xC0FFEE])
    bounds, moy, years = _month_grid(cfg)
    onboarding_ts = next((s.starts for s in cfg.scenarios if s.name == "partner_onboarding"), None)
    partners = _partners(cfg, onboarding_ts)
    contracts = _contracts(cfg, partners)
    offers = _offers(contracts, partners)
    campaigns = _campaigns(cfg, contracts, offers, bounds, rng)
    month = {s.name: _month_of(bounds, cfg, s.starts) for s in cfg.scenarios}
    season, visit, hazard, earn = _factors(
        cfg,
        len(_PARTNERS),
        moy,
        month.get("product_launch", -1),
        month.get("accrual_change", -1),
        month.get("seasonal_swing", -1),
    )
    onboarding_day = (
        float((onboarding_ts - cfg.start) / pd.Timedelta(days=1)) if onboarding_ts else np.inf
    )
    return World(
        cfg=cfg,
        month_bounds=bounds,
        month_of_year=moy,
        calendar_year=years,
        partners=partners,
        contracts=contracts,
        offers=offers,
        campaigns=campaigns,
        season=season,
        visit_factor=visit,
        hazard_factor=hazard,
        earn_rate=earn,
        launch_month=month.get("product_launch", -1),
        onboarding_day=onboarding_day,
    )
