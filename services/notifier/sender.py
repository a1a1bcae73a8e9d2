"""The chat sender: claims due delivery rows, posts them, and reschedules what must wait.

A delivery is leased (state ``sending`` with a deadline) before the HTTP call, outside any
transaction; a process that dies mid-call leaves a lease that expires and the row is sent
again. Chat platforms have no idempotency keys, so that rare case is a duplicate message,
never a lost one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer

from leadrelay.services.notifier.messages import message_from_json
from leadrelay.services.notifier.passes import run_passes
from leadrelay.services.notifier.platforms import (
    ChatDestination,
    DeliveryResult,
    build_request,
    interpret_response,
    interpret_transport_error,
)
from leadrelay.shared.clock import as_utc
from leadrelay.shared.group_commit import GroupCommit
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.policy import Policy
from leadrelay.shared.ports import Store, UnitOfWork
from leadrelay.shared.tracing import NO_TRACER, TRACE_CONTEXT_KEY, annotate, context_from, fail, span

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_BACKOFF_S = 300.0
BATCH = 20
# Messages posted at once. Also the most a crash can send twice: those whose platform answer was
# in flight, or known but not yet recorded, when the process died (chat webhooks take no
# idempotency key, so the lease's expiry sends them again).
CONCURRENCY = 8


def backoff_seconds(attempt: int) -> float:
    """Exponential with jitter (so a platform that recovers is not hit by a thundering herd)."""
    return min(MAX_BACKOFF_S, 2.0 ** attempt) * random.uniform(0.8, 1.2)


def resolve_secret(secret: str | None) -> str | None:
    if secret and secret.startswith("env:"):
        return os.environ.get(secret[4:])
    return secret


def destination(policy: Policy | None, recipient: str) -> ChatDestination | None:
    chat = policy.chat_for(recipient) if policy else None
    if chat is None:
        return None
    return ChatDestination(platform=chat.platform, webhook=chat.webhook, secret=resolve_secret(chat.secret))


class ChatSender:
    def __init__(self, store: Store, metrics: Metrics, clock: Callable[[], datetime], *,
                 timeout_s: float = 10.0, max_attempts: int = 8, concurrency: int = CONCURRENCY,
                 tracer: Tracer = NO_TRACER) -> None:
        self.store = store
        self.tracer = tracer
        self.metrics = metrics
        self.clock = clock
        self.max_attempts = max_attempts
        self.wakeup = asyncio.Event()
        self.http = httpx.AsyncClient(timeout=timeout_s)
        self.limit = asyncio.Semaphore(concurrency)
        # Each message's outcome is written as soon as it is known (the shorter the time between
        # the platform's 200 and our record of it, the fewer messages a crash can send twice),
        # and the outcomes known together commit together.
        self.results = GroupCommit(store)
        # A webhook that said "slow down" gets nothing until then, whichever row is next.
        self.not_before: dict[str, datetime] = {}

    def wake(self) -> None:
        self.wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        await run_passes(self.send_due, self.wakeup, stop, self.http, "chat sender")

    async def send_due(self) -> int:
        now = self.clock()
        async with self.store.read() as uow:  # a cheap read first: most passes find nothing due
            if not await uow.deliveries.any_due(now):
                return 0
        async with self.store.transaction() as uow:
            rows = await uow.deliveries.due(now, BATCH)
            for row in rows:
                await uow.deliveries.update(row.id, state="sending", next_attempt_at=now + LEASE)
            current = await uow.policies.current() if rows else None
        policy = current[1] if current else None
        await asyncio.gather(*(self._deliver(row, policy) for row in rows))
        return len(rows)

    async def _deliver(self, row: Any, policy: Policy | None) -> None:
        async with self.limit:
            # A child of the notifier's span that queued it: the last hop of the lead's trace.
            queued_in = row.message.get(TRACE_CONTEXT_KEY) if isinstance(row.message, dict) else None
            with span(self.tracer, "notifier.send", kind=SpanKind.CLIENT,
                      context=context_from(queued_in if isinstance(queued_in, dict) else {}),
                      lead_id=row.lead_id, rep_id=row.recipient, message_kind=row.kind, attempt=row.attempts + 1):
                await self._send(row, policy)

    async def _send(self, row: Any, policy: Policy | None) -> None:
        dest = destination(policy, row.recipient)
        if dest is None:
            await self._finish(row, DeliveryResult(False, None, True, f"no chat destination for {row.recipient}"))
            return
        annotate(platform=dest.platform)
        waiting_until = self.not_before.get(dest.webhook)
        now = self.clock()
        if waiting_until and waiting_until > now:
            await self._reschedule(row, waiting_until, "waiting for the platform's rate limit")
            return
        try:
            request = build_request(message_from_json(row.message), dest, now)
        except (KeyError, TypeError, ValueError) as exc:  # a stored message we can no longer build
            await self._finish(row, DeliveryResult(False, None, True, f"unbuildable message: {exc}"))
            return
        try:
            response = await self.http.post(request.url, content=request.body, headers=request.headers)
            result = interpret_response(dest.platform, response.status_code, response.headers, response.content)
            trace.get_current_span().set_attribute("http.response.status_code", response.status_code)
        except httpx.HTTPError as exc:
            result = interpret_transport_error(dest.platform, exc)
        if result.retry_after is not None and not result.ok:
            self.not_before[dest.webhook] = self.clock() + timedelta(seconds=result.retry_after)
        await self._finish(row, result, dest.platform)

    async def _finish(self, row: Any, result: DeliveryResult, platform: str = "none") -> None:
        now = self.clock()
        attempts = row.attempts + 1
        if result.ok:
            annotate(outcome="sent")

            async def sent(uow: UnitOfWork) -> None:
                await uow.deliveries.update(row.id, state="sent", attempts=attempts, sent_at=now, last_error=None)
                # "message", not "kind": the history entry's kind is "notified" (the webhook stays out).
                await uow.leads.add_history(row.lead_id, "notified", {"recipient": row.recipient, "platform": platform,
                                                                "message": row.kind, "attempts": attempts})

            await self.results.write(sent)
            self.metrics.notifications_sent.labels(platform, row.kind).inc()
            received_at = as_utc(row.received_at)
            if received_at is not None:
                self.metrics.intake_to_notified.observe(max(0.0, (now - received_at).total_seconds()))
            return
        # Out of attempts is as final as a permanent error: an alert on "permanent" must see it.
        outcome = "permanent" if result.permanent or attempts >= self.max_attempts else "retry"
        self.metrics.notification_failures.labels(platform, outcome).inc()
        annotate(outcome=outcome)
        fail(trace.get_current_span(), f"delivery failed ({outcome})")
        log.warning("chat delivery failed", extra={"lead_id": row.lead_id, "recipient": row.recipient,
                                                   "platform": platform, "detail": result.detail,
                                                   "attempt": attempts})
        if result.permanent or attempts >= self.max_attempts:
            async def failed(uow: UnitOfWork) -> None:
                await uow.deliveries.update(row.id, state="failed", attempts=attempts, last_error=result.detail)
                await uow.leads.add_history(row.lead_id, "notification_failed", {
                    "recipient": row.recipient, "platform": platform, "error": result.detail, "attempts": attempts})

            await self.results.write(failed)
            return
        wait = max(result.retry_after or 0.0, backoff_seconds(attempts))
        await self._reschedule(row, now + timedelta(seconds=wait), result.detail, attempts=attempts)

    async def _reschedule(self, row: Any, at: datetime, detail: str, *, attempts: int | None = None) -> None:
        annotate(rescheduled=True)

        async def rescheduled(uow: UnitOfWork) -> None:
            await uow.deliveries.update(row.id, state="pending", next_attempt_at=at, last_error=detail,
                                        attempts=attempts if attempts is not None else row.attempts)

        await self.results.write(rescheduled)
