"""The webhook sender: claims due webhook deliveries, posts them to their target, and reschedules
or dead-letters what failed. All the I/O of the delivery line is here; targets are pure.

- At least once: a delivery is leased (state ``sending`` with a deadline) before the call, outside
  any transaction; a process that dies mid-call leaves a lease that expires and the row is sent
  again, with the same ``webhook-id`` (the event id), which is what a receiver dedupes on.
- In order per subscription and lead: the store never hands out a delivery while an earlier one of
  the same subscription and lead is waiting; a delivery leaves the way only delivered, skipped,
  dead-lettered or cancelled.
- Retries back off exponentially with jitter; a receiver's ``Retry-After`` holds every delivery to
  that subscription until then; after ``max_attempts`` (or a permanent refusal) a delivery is
  dead-lettered and waits for a redrive (``leadrelay webhooks redrive ID``).
- Tokens (for CRM targets that want one) are fetched here, cached per subscription, refreshed a
  minute before they expire or when the target says the one it was given was refused.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import httpx

from leadrelay.services.notifier.passes import run_passes
from leadrelay.services.notifier.targets import (
    TARGETS,
    AccessToken,
    Delivered,
    DeliveryTarget,
    HttpRequest,
    HttpResponse,
    Outcome,
    OutgoingEvent,
    Permanent,
    Reauth,
    RetryAfter,
    Skipped,
    TargetConfig,
)
from leadrelay.services.notifier.targets.crm import with_policy_owners
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.policy import Policy
from leadrelay.shared.ports import Store, SubscriptionRecord, WebhookDeliveryRecord
from leadrelay.shared.secret_box import SecretBox, SecretUnreadable

log = logging.getLogger(__name__)

# Longer than a token call plus the delivery call (two timeouts), so a live attempt keeps its
# lease; a pass claims no more rows than it runs at once, so none waits for a slot past it.
LEASE = timedelta(seconds=60)
MAX_BACKOFF_S = 3600.0  # a receiver down for a day is retried hourly, not hammered
# The old secret keeps signing (beside the new one) this long after a rotation, so receivers can
# switch to the new one without losing a delivery.
ROTATION_GRACE = timedelta(hours=24)
TOKEN_REFRESH_AHEAD = timedelta(seconds=60)


def backoff_seconds(attempt: int) -> float:
    """Exponential with jitter (a receiver that recovers is not hit by a thundering herd)."""
    return min(MAX_BACKOFF_S, 2.0 ** attempt) * random.uniform(0.8, 1.2)


class WebhookSender:
    def __init__(self, store: Store, metrics: Metrics, clock: Callable[[], datetime], box: SecretBox, *,
                 timeout_s: float = 15.0, max_attempts: int = 8, concurrency: int = 8,
                 targets: Mapping[str, DeliveryTarget] = TARGETS) -> None:
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.box = box
        self.max_attempts = max_attempts
        self.targets = targets
        self.wakeup = asyncio.Event()
        # Redirects are failures (the Standard Webhooks spec): never followed.
        self.http = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        self.batch = concurrency
        self.lease = max(LEASE, timedelta(seconds=2 * timeout_s + 10))
        self.limit = asyncio.Semaphore(concurrency)
        self.not_before: dict[str, datetime] = {}  # a subscription that said "slow down", until when
        self.tokens: dict[str, AccessToken] = {}
        self.policy: Policy | None = None  # the current policy, read with each batch (CRM owners)

    def wake(self) -> None:
        self.wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        await run_passes(self.send_due, self.wakeup, stop, self.http, "webhook sender")

    async def send_due(self) -> int:
        """One pass: leases what is due and delivers it; returns how many were attempted."""
        now = self.clock()
        async with self.store.read() as uow:  # a cheap read first: most passes find nothing due
            if not await uow.webhook_deliveries.any_due(now):
                return 0
        async with self.store.transaction() as uow:
            rows = await uow.webhook_deliveries.due(now, self.batch)
            for row in rows:
                await uow.webhook_deliveries.update(row.id, state="sending", next_attempt_at=now + self.lease)
            subscriptions = {s: await uow.subscriptions.get(s) for s in {row.subscription_id for row in rows}}
            # CRM connectors: who each rep is in the CRM comes from the current policy.
            current = await uow.policies.current() if rows else None
            self.policy = current[1] if current is not None else self.policy
        await asyncio.gather(*(self._deliver(row, subscriptions[row.subscription_id]) for row in rows))
        return len(rows)

    async def _deliver(self, row: WebhookDeliveryRecord, subscription: SubscriptionRecord | None) -> None:
        async with self.limit:
            if subscription is None or not subscription.active:
                await self._settle(row, "cancelled", "the subscription was removed")
                return
            now = self.clock()
            held_until = self.not_before.get(subscription.id)
            if held_until is not None and held_until > now:
                await self._reschedule(row, held_until, "waiting for the receiver's Retry-After", row.attempts)
                return
            target = self.targets.get(subscription.target)
            if target is None:
                await self._finish(row, subscription, Permanent(f"no target {subscription.target!r} in this version"))
                return
            try:
                config = self._config(subscription, now)
            except SecretUnreadable as exc:
                await self._finish(row, subscription, Permanent(str(exc)))
                return
            event = OutgoingEvent(id=row.event_id, type=row.event_type, lead_id=row.lead_id,
                                  occurred_at=row.occurred_at, data=row.payload)
            await self._finish(row, subscription, await self._attempt(target, config, event))

    async def _attempt(self, target: DeliveryTarget, config: TargetConfig, event: OutgoingEvent) -> Outcome | Skipped:
        """One attempt: a token if the target wants one, the request, the answer. A refused token
        is replaced once at once; a second refusal is a failure like any other."""
        for fresh_token in (False, True):
            now = self.clock()
            try:
                token = await self._token(target, config, now, fresh=fresh_token)
                request = target.build(event, config, token, now)
            except ValueError as exc:
                return Permanent(f"cannot build the request: {exc}")
            except (httpx.HTTPError, TokenRefused) as exc:
                return RetryAfter(None, f"token: {exc}")
            if isinstance(request, Skipped):
                return request
            try:
                outcome = target.interpret(await self._call(request))
            except httpx.HTTPError as exc:
                return RetryAfter(None, f"connection failed: {type(exc).__name__}")
            if not isinstance(outcome, Reauth):
                return outcome
            self.tokens.pop(config.subscription_id, None)
        return RetryAfter(None, "the new token was refused too")

    async def _token(self, target: DeliveryTarget, config: TargetConfig, now: datetime, *,
                     fresh: bool) -> AccessToken | None:
        cached = self.tokens.get(config.subscription_id)
        if cached is not None and not fresh and (cached.expires_at is None
                                                 or cached.expires_at - TOKEN_REFRESH_AHEAD > now):
            return cached
        request = target.token_request(config, now)
        if request is None:
            return None
        response = await self._call(request)
        try:
            token = target.read_token(response, now)
        except ValueError as exc:
            raise TokenRefused(str(exc)) from None
        self.tokens[config.subscription_id] = token
        return token

    async def _call(self, request: HttpRequest) -> HttpResponse:
        response = await self.http.request(request.method, request.url, content=request.body, headers=request.headers)
        return HttpResponse(response.status_code, response.headers, response.content)

    def _config(self, subscription: SubscriptionRecord, now: datetime) -> TargetConfig:
        extra: tuple[str, ...] = ()
        rotated_at = subscription.secret_rotated_at
        if subscription.previous_secret and rotated_at is not None and now - rotated_at < ROTATION_GRACE:
            extra = (self.box.open(subscription.previous_secret),)
        return TargetConfig(subscription_id=subscription.id, kind=subscription.target, url=subscription.url,
                            secret=self.box.open(subscription.secret),
                            config=with_policy_owners(subscription.target, subscription.config, self.policy),
                            extra_secrets=extra)

    async def _finish(self, row: WebhookDeliveryRecord, subscription: SubscriptionRecord,
                      outcome: Outcome | Skipped) -> None:
        now = self.clock()
        attempts = row.attempts + 1
        labels = self.metrics.webhook_deliveries
        if isinstance(outcome, Skipped):
            await self._settle(row, "skipped", outcome.detail)
            return
        if isinstance(outcome, Delivered):
            async with self.store.transaction() as uow:
                await uow.webhook_deliveries.update(row.id, state="delivered", attempts=attempts, delivered_at=now,
                                                    last_error=None)
                if outcome.record_id:  # CRM connectors: the record written stands for this lead
                    await uow.crm_links.link(subscription.target, outcome.record_id, row.lead_id)
                await uow.leads.add_history(row.lead_id, "webhook_delivered", {
                    "subscription": subscription.id, "event": row.event_type, "attempts": attempts})
            labels.labels(subscription.id, "delivered").inc()
            self.metrics.webhook_lag.labels(subscription.id).observe(max(0.0, (now - row.occurred_at).total_seconds()))
            return
        detail = outcome.detail or type(outcome).__name__
        log.warning("webhook delivery failed", extra={"lead_id": row.lead_id, "subscription": subscription.id,
                                                      "event_id": row.event_id, "detail": detail,
                                                      "attempt": attempts})
        if isinstance(outcome, Permanent) or attempts >= self.max_attempts:
            async with self.store.transaction() as uow:
                await uow.webhook_deliveries.update(row.id, state="dead", attempts=attempts, last_error=detail)
                await uow.leads.add_history(row.lead_id, "webhook_dead_lettered", {
                    "subscription": subscription.id, "event": row.event_type, "attempts": attempts, "error": detail})
            labels.labels(subscription.id, "dead_lettered").inc()
            return
        labels.labels(subscription.id, "failed").inc()
        wait = backoff_seconds(attempts)
        if isinstance(outcome, RetryAfter) and outcome.seconds is not None:
            self.not_before[subscription.id] = now + timedelta(seconds=outcome.seconds)
            wait = max(wait, outcome.seconds)
        await self._reschedule(row, now + timedelta(seconds=wait), detail, attempts)

    async def _settle(self, row: WebhookDeliveryRecord, state: str, detail: str) -> None:
        async with self.store.transaction() as uow:
            await uow.webhook_deliveries.update(row.id, state=state, last_error=detail or None)

    async def _reschedule(self, row: WebhookDeliveryRecord, at: datetime, detail: str, attempts: int) -> None:
        async with self.store.transaction() as uow:
            await uow.webhook_deliveries.update(row.id, state="pending", next_attempt_at=at, last_error=detail,
                                                attempts=attempts)


class TokenRefused(Exception):
    """The token endpoint did not give a token (the target's ``read_token`` said why)."""
