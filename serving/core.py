"""The service's state and I/O edges, independent of the HTTP framework: models, policies, the
online feature store, the event state and the guardrail stores, opened once per worker.

``DecisionCore`` is what the BentoML class delegates to, and what tests call directly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from features.consent import consent_record
from features.errors import InvalidInputError, NotFoundError, UnavailableError
from features.online_store import FeatureStoreUnavailableError
from guardrails.ledger.home import import_legacy_files
from guardrails.policy.controls import ContractControls
from guardrails.policy.store import PolicyStore, compile_active
from serving import decide
from serving.clock import check_allowed, pinned, pinned_start
from serving.environment import apply_defaults
from serving.feature_store import open_store
from serving.inputs import check_overrides
from serving.metrics import Metrics
from serving.model_set import ModelSet, aliases_unchanged, load_models
from serving.settings import ServiceSettings, open_guardrail_stores
from serving.state import OnlineState

log = logging.getLogger("loyalty.serving")


class DecisionCore:
    """Everything one worker holds; swapped atomically on refresh (a reference assignment)."""

    def __init__(
        self, settings: ServiceSettings | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        apply_defaults()
        self.settings = settings or ServiceSettings()
        s = self.settings
        check_allowed(s.clock_at, s.allow_test_clock)
        self.models: ModelSet = self._load_models()
        self.stores = open_guardrail_stores(s, write=True)
        # Policies and intake state share the ledger database: every host sees the same ones.
        import_legacy_files(self.stores.ledger.db, Path(s.home))
        self.policy_store = PolicyStore(self.stores.ledger.db)
        self.policies = self._compile_policies()
        self.features = self._open_features()
        if s.clock_at:
            as_of = self.features.as_of if self.features is not None else None
            clock = pinned(pinned_start(s.clock_at, as_of), clock, s.clock_anchor)
            log.info("the service's clock is pinned: it read %s at start", s.clock_at)
        self.clock = clock
        self.state = OnlineState(self.stores.ledger.db, clock)
        self.controls = ContractControls(self.stores.ledger.db, self.stores.audit, clock)
        self.metrics = Metrics()
        self.metrics.models(self.models)
        self._refresh_lock = threading.Lock()

    # -- loading and refreshing -------------------------------------------------------------
    def _load_models(self) -> ModelSet:
        s = self.settings
        names = {k: s.model_name(k) for k in ("churn", "propensity", "risk")}
        return load_models(s.tracking_uri, names, s.model_cache_dir, shadow=s.shadow)

    def _aliases_unchanged(self) -> bool:
        s = self.settings
        names = {k: s.model_name(k) for k in ("churn", "propensity", "risk")}
        return aliases_unchanged(self.models, s.tracking_uri, names, s.shadow)

    def _compile_policies(self):
        return compile_active(self.policy_store)

    def _open_features(self):
        """The configured online store (embedded file or Redis); None until materialised."""
        try:
            return open_store(self.settings)
        except (FileNotFoundError, FeatureStoreUnavailableError) as exc:
            log.warning("%s", exc)
            return None

    def sweep_expired(self, now: float | None = None) -> tuple[int, int]:
        """Release holds past their TTL and expire overdue reviews (as ``loyalty ledger expire``),
        so budget held by a crashed caller returns without an operator; returns the counts."""
        reviews = self.stores.reviews.expire(now)
        holds = self.stores.ledger.expire(now)
        if reviews or holds:
            log.info("expired %d review(s) and %d other hold(s)", reviews, holds)
        return reviews, holds

    def refresh(self) -> bool:
        """Pick up alias moves, policy activations and a new feature snapshot; True on a change."""
        if not self._refresh_lock.acquire(blocking=False):
            return False
        try:
            changed = False
            as_of = self.features.as_of.timestamp() if self.features else None
            now = self.clock()
            try:  # the intake state and the policies live in the ledger database
                intake = self.state.freshness(now)
            except UnavailableError as exc:  # an outage: report no intake, try again next round
                log.warning("intake freshness unavailable: %s", exc)
                intake = {}
            self.metrics.freshness(now, as_of, intake, self.known_partners())
            try:
                fresh = self.models if self._aliases_unchanged() else self._load_models()
            except Exception as exc:  # keep serving what we have
                log.warning("model refresh failed, keeping the current models: %s", exc)
                fresh = self.models
            if fresh.key() != self.models.key() or fresh.source != self.models.source:
                log.info("models now %s (shadow %s)", fresh.versions(), fresh.shadow_versions())
                self.models, changed = fresh, True
                self.metrics.models(fresh)
            try:
                policies = self._compile_policies()
            except UnavailableError as exc:
                log.warning("policy refresh failed, keeping the active policies: %s", exc)
                policies = self.policies
            if {k: p.version for k, p in policies.items()} != {
                k: p.version for k, p in self.policies.items()
            }:
                self.policies, changed = policies, True
            if self.features is None or self.features.current_token() != self.features.token:
                snapshot = self._open_features()  # None: keep serving the one we have
                if snapshot is not None:
                    self.features, changed = snapshot, True
            return changed
        finally:
            self._refresh_lock.release()

    def known_partners(self) -> frozenset[str]:
        """Partners the active policies name (their own and data-sharing partners): the only
        values a metric label may take; anything else is counted as ``unknown``."""
        return frozenset(p for cp in self.policies.values() for p in cp.policy.data_partners)

    # -- readiness ----------------------------------------------------------------------------
    def readiness(self) -> tuple[bool, dict]:
        """Ready when models are loaded and the ledger answers; says where models came from."""
        checks: dict[str, Any] = {
            "models": self.models.versions(),
            "shadow": self.models.shadow_versions(),
            "models_source": self.models.source,
            "model_problems": list(self.models.problems),
            "policies": {k: p.version for k, p in self.policies.items()},
            "feature_snapshot": self.features.as_of.isoformat() if self.features else None,
        }
        try:
            self.stores.ledger.db.ping()
            checks["ledger"] = "ok"
        except Exception as exc:
            checks["ledger"] = f"unreachable: {exc}"
        ok = len(checks["models"]) == 3 and checks["ledger"] == "ok"
        return ok, checks

    # -- features -----------------------------------------------------------------------------
    def customer_rows(self, ids: list[str], overrides: list[dict | None]) -> list[dict]:
        """Typed feature rows (plain dicts) for the customers, stored values overridden by sent
        ones, each checked against the feature contract."""
        store = self._checked(ids, overrides)
        try:
            stored = store.lookup(ids)
        except FeatureStoreUnavailableError as exc:
            raise UnavailableError(f"online feature store unavailable: {exc}") from exc
        names = store.contract.names
        for cid, extra in zip(ids, overrides, strict=True):
            if cid not in stored and not set(names) <= set(extra or {}):
                raise NotFoundError(f"unknown customer {cid!r}: no materialized features")
        return decide.customer_rows(stored, ids, overrides, names)

    def consent_records(self, ids: list[str], overrides: list[dict | None]) -> list[dict]:
        """Each customer's consent record (``features.consent.CONSENT_FIELDS``) and nothing
        else, sent values over stored ones: read before any feature, so that a customer whose
        consent does not allow the use of their data has no feature read at all."""
        store = self._checked(ids, overrides)
        try:
            stored = store.consent(ids)
        except FeatureStoreUnavailableError as exc:
            raise UnavailableError(f"online feature store unavailable: {exc}") from exc
        out, names = [], set(store.contract.names)
        for cid, extra in zip(ids, overrides, strict=True):
            if cid not in stored and not names <= set(extra or {}):
                raise NotFoundError(f"unknown customer {cid!r}: no materialized features")
            record = consent_record(stored.get(cid) or {})
            record.update({k: v for k, v in (extra or {}).items() if k in record})
            out.append(record)
        return out

    def _checked(self, ids: list[str], overrides: list[dict | None]):
        """The feature store, once the sent features keep to its contract (InvalidInputError
        naming each one that does not)."""
        store = self.features
        if store is None:
            raise UnavailableError("no online feature store: run `loyalty features materialize`")
        problems = []
        for i, extra in enumerate(overrides):
            for p in check_overrides(extra or {}, store.contract.features):
                problems.append(f"customers[{i}].{p}" if len(ids) > 1 else p)
        if problems:
            raise InvalidInputError("features break the feature contract", problems)
        return store

    def close(self) -> None:
        self.stores.close()
        self.state.close()
