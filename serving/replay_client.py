"""The reference orchestrator client: what an integrator copies to drive the decision service.

It takes a replay plan (plain data: slices of canonical events to forward and decision points to
ask about, see ``serving.replay_plan``) and, slice by slice:

1. forwards the slice's events to ``POST /events`` (batches of at most 1000; the intake is
   idempotent by ``event_id`` and only counts an event from its own time on, so sending a slice's
   events before its decisions changes nothing that a decision earlier in the slice sees);
2. asks ``POST /decide`` for every decision point of the slice, at most ``concurrency`` at a time,
   each with a deterministic idempotency key (``replay-<event_id>``);
3. settles each decision as the simulated partner would: an approved offer that the customer
   redeemed in the log within ``redeem_window`` after the decision is committed
   (``/decisions/{id}/commit``), any other approved offer is cancelled (the hold is released);
   a decision pending review is left to the reviewers.

Every call is retried on connection errors, timeouts, 5xx and 429 with exponential backoff and
jitter (``Retry-After`` honoured), with the same idempotency key and body: a retried ``/decide``
returns the recorded decision and reserves nothing more; commit and cancel are idempotent.
When a call still fails to connect after the last attempt the replay stops with
``ServiceUnreachableError``, and so it does when ``FAIL_STREAK`` decisions in a row still get a
5xx after their retries (a broken service is not worth hammering); a 401/403 stops it with
``AccessRefusedError``. Any other refusal (404 unknown customer, 422, ...) is counted and the
replay goes on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

EVENT_BATCH = 1000
FAIL_STREAK = 10  # decisions in a row that still got a 5xx after their retries: stop
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class ReplayError(Exception):
    """The replay cannot go on (the command exits 2 with this message)."""


class ServiceUnreachableError(ReplayError):
    pass


class AccessRefusedError(ReplayError):
    pass


@dataclass(frozen=True)
class DecisionPoint:
    """One question the orchestrator asks, and what the log says the customer redeemed after."""

    body: dict  # the /decide request
    redeemed: frozenset[tuple[str, float]] = frozenset()  # (offer_id, epoch seconds)

    @property
    def key(self) -> str:
        return self.body["idempotency_key"]

    @property
    def at(self) -> float:
        return dt.datetime.fromisoformat(self.body["time"]).timestamp()


@dataclass(frozen=True)
class Slice:
    events: list[dict]
    decisions: list[DecisionPoint]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # the first try and five retries
    base_s: float = 0.2
    cap_s: float = 5.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after and retry_after.replace(".", "", 1).isdigit():
            return min(float(retry_after), self.cap_s)
        return min(self.cap_s, self.base_s * 2**attempt) * (0.5 + random.random() / 2)


def settle_action(point: DecisionPoint, response: dict, redeem_window_s: float) -> str | None:
    """What the simulated partner does with a decision: commit, cancel or nothing."""
    if response["status"] != "approved" or not response.get("reservation_id"):
        return None
    start = point.at
    for offer_id, at in point.redeemed:
        if offer_id == response["offer_id"] and start <= at <= start + redeem_window_s:
            return "commit"
    return "cancel"


@dataclass
class Tally:
    """Everything the replay saw, summed as it goes; ``summary()`` is the JSON report."""

    outcomes: Counter = field(default_factory=Counter)  # (status, reason) -> n
    latencies: list[float] = field(default_factory=list)  # seconds per /decide, retries incl.
    retries: Counter = field(default_factory=Counter)  # route -> retries
    budget: dict = field(default_factory=lambda: defaultdict(Counter))  # contract -> figures
    actions: Counter = field(default_factory=Counter)
    events: Counter = field(default_factory=Counter)
    decisions: dict[str, dict] = field(default_factory=dict)  # decision id -> short record

    def decided(self, response: dict, seconds: float) -> None:
        reason = response["reasons"][0]["code"] if response["reasons"] else "none"
        self.outcomes[(response["status"], reason)] += 1
        self.latencies.append(seconds)
        b = self.budget[response["contract_id"]]
        b["decisions"] += 1
        b[response["status"]] += 1
        b["replayed"] += int(bool(response.get("replayed")))
        if response.get("reservation_id"):
            b["points_reserved"] += response["points"]
        self.decisions[response["decision_id"]] = {
            "status": response["status"],
            "contract_id": response["contract_id"],
            "points": response["points"] if response.get("reservation_id") else 0,
            "reservation_id": response.get("reservation_id"),
            "action": None,
        }

    def failed(self, status: int, contract_id: str) -> None:
        self.outcomes[("error", f"http_{status}")] += 1
        self.budget[contract_id]["errors"] += 1

    def settled(self, response: dict, action: str | None, status_code: int) -> None:
        if action is None:
            review = bool(response.get("review_id"))
            self.actions["left for review" if review else "none"] += 1
            if review and response.get("reservation_id"):
                self.budget[response["contract_id"]]["points_held"] += response["points"]
            return
        if status_code != 200:
            self.actions[f"{action} failed (http {status_code})"] += 1
            return
        self.actions["committed" if action == "commit" else "cancelled"] += 1
        figure = "points_committed" if action == "commit" else "points_released"
        self.budget[response["contract_id"]][figure] += response["points"]
        self.decisions[response["decision_id"]]["action"] = action

    def summary(self) -> dict:
        return {
            "decisions": sum(self.outcomes.values()),
            "outcomes": [
                {"status": s, "reason": r, "count": n}
                for (s, r), n in sorted(self.outcomes.items())
            ],
            "latency_ms": latency_ms(self.latencies),
            "retries": dict(self.retries),
            "actions": dict(self.actions),
            "events": dict(self.events),
            "budget": {c: dict(v) for c, v in sorted(self.budget.items())},
        }


def latency_ms(seconds: Sequence[float]) -> dict:
    """p50/p95/p99/max in milliseconds (nearest rank), None when nothing was measured."""
    if not seconds:
        return {"p50": None, "p95": None, "p99": None, "max": None, "n": 0}
    ordered = sorted(seconds)

    def rank(q: float) -> float:
        return round(
            1000 * ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))], 1
        )

    return {
        "p50": rank(0.5),
        "p95": rank(0.95),
        "p99": rank(0.99),
        "max": rank(1.0),
        "n": len(ordered),
    }


class ReplayClient:
    """One HTTP client with a bearer token, bounded concurrency and retries."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        concurrency: int = 4,
        retry: RetryPolicy | None = None,
        redeem_window_s: float = 30 * 86_400.0,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.url, self.token = url.rstrip("/"), token
        self.concurrency = concurrency
        self.retry = retry or RetryPolicy()
        self.redeem_window_s = redeem_window_s
        self.transport, self.timeout_s = transport, timeout_s
        self.tally = Tally()
        self._streak = 0  # consecutive decisions that ended in a 5xx

    async def run(self, slices: Sequence[Slice], progress: Callable[[int], None] = lambda n: None):
        """Replay every slice in order; returns the tally (also kept on ``self.tally``)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        limits = httpx.Limits(max_connections=self.concurrency + 1)
        async with httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            transport=self.transport,
            timeout=self.timeout_s,
            limits=limits,
        ) as client:
            gate = asyncio.Semaphore(self.concurrency)
            for piece in slices:
                await self._events(client, piece.events)
                tasks = [self._one(client, gate, p) for p in piece.decisions]
                await asyncio.gather(*tasks)
                progress(len(piece.decisions))
        return self.tally

    async def ready(self) -> dict:
        """``GET /readyz`` (public), retried like any call; ServiceUnreachableError when down."""
        async with httpx.AsyncClient(
            base_url=self.url, transport=self.transport, timeout=self.timeout_s
        ) as client:
            r = await self.call(client, "GET", "/readyz")
        return {"status": r.status_code, "ready": r.status_code == 200}

    async def call(self, client: httpx.AsyncClient, method: str, path: str, body=None):
        """One request, retried with backoff on connection errors, timeouts, 5xx and 429."""
        route = path.split("/")[1] if path.count("/") < 2 else path.rsplit("/", 1)[-1]
        for attempt in range(self.retry.attempts):
            last = attempt == self.retry.attempts - 1
            try:
                r = await client.request(method, path, json=body)
            except httpx.TransportError as exc:
                if last:
                    raise ServiceUnreachableError(
                        f"{self.url}{path}: {type(exc).__name__} after "
                        f"{self.retry.attempts} attempts ({exc or 'no detail'})"
                    ) from exc
                self.tally.retries[route] += 1
                await asyncio.sleep(self.retry.delay(attempt))
                continue
            if r.status_code in (401, 403):
                raise AccessRefusedError(f"{method} {path}: {r.status_code} {r.text[:200]}")
            if r.status_code not in RETRY_STATUS or last:
                return r
            self.tally.retries[route] += 1
            await asyncio.sleep(self.retry.delay(attempt, r.headers.get("retry-after")))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _events(self, client: httpx.AsyncClient, events: list[dict]) -> None:
        for i in range(0, len(events), EVENT_BATCH):
            batch = events[i : i + EVENT_BATCH]
            r = await self.call(client, "POST", "/events", {"events": batch})
            if r.status_code != 200:
                self.tally.events[f"refused (http {r.status_code})"] += len(batch)
                continue
            body = r.json()
            self.tally.events["accepted"] += body["accepted"]
            self.tally.events["duplicates"] += body["duplicates"]

    async def _one(self, client, gate: asyncio.Semaphore, point: DecisionPoint) -> None:
        async with gate:
            started = time.perf_counter()
            r = await self.call(client, "POST", "/decide", point.body)
            seconds = time.perf_counter() - started
            if r.status_code != 200:
                self.tally.failed(r.status_code, point.body["contract_id"])
                self._streak = self._streak + 1 if r.status_code >= 500 else 0
                if self._streak >= FAIL_STREAK:
                    raise ServiceUnreachableError(
                        f"{self._streak} decisions in a row failed with http {r.status_code} "
                        f"after retries: {r.text[:300]}"
                    )
                return
            self._streak = 0
            response = r.json()
            self.tally.decided(response, seconds)
            action = settle_action(point, response, self.redeem_window_s)
            code = 200
            if action is not None:
                path = f"/decisions/{response['decision_id']}/{action}"
                body = None if action == "commit" else {"reason": "not redeemed by the customer"}
                code = (await self.call(client, "POST", path, body)).status_code
            self.tally.settled(response, action, code)
