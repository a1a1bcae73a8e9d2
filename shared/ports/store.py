"""The store port: units of work, each one database transaction over every repository."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from leadrelay.shared.ports.access import SourceRepository, TokenRepository
from leadrelay.shared.ports.clocks import ClockRepository
from leadrelay.shared.ports.crm_links import CrmLinkRepository
from leadrelay.shared.ports.deliveries import DeliveryRepository
from leadrelay.shared.ports.idempotency import IdempotencyRepository
from leadrelay.shared.ports.inbox import Inbox
from leadrelay.shared.ports.leads import LeadRepository
from leadrelay.shared.ports.matches import MatchRepository
from leadrelay.shared.ports.outbox import Outbox
from leadrelay.shared.ports.people import PersonRepository
from leadrelay.shared.ports.policies import PolicyRepository
from leadrelay.shared.ports.privacy import PrivacyRepository
from leadrelay.shared.ports.reports import ReportRepository
from leadrelay.shared.ports.roster import RosterRepository
from leadrelay.shared.ports.sessions import ConsoleSessionRepository
from leadrelay.shared.ports.webhooks import SubscriptionRepository, WebhookDeliveryRepository


class RetryLater(Exception):
    """The event is fine but cannot be handled yet (e.g. no policy applied): wait, never dead-letter."""


class StoreUnavailable(Exception):
    """The database is unreachable (down, restarting, connection lost), as opposed to a problem
    with what was asked of it. Callers wait and retry (consumers) or answer 503 (HTTP); the
    store adapter translates its driver's errors into this, so nothing above it knows a driver."""


class Transaction(Protocol):
    def after_commit(self, callback: Callable[[], None]) -> None:
        """Runs ``callback`` only if and after this transaction commits (metrics, wake-ups)."""
        ...


class UnitOfWork(Transaction, Protocol):
    """One database transaction: a handler's effects, its outgoing events (the outbox) and the
    record that it consumed its event commit together or not at all. A service declares the
    narrower protocol of the repositories it uses; this one has them all."""

    outbox: Outbox
    inbox: Inbox
    policies: PolicyRepository
    sources: SourceRepository
    tokens: TokenRepository
    idempotency: IdempotencyRepository
    people: PersonRepository
    matches: MatchRepository
    leads: LeadRepository
    roster: RosterRepository
    clocks: ClockRepository
    deliveries: DeliveryRepository
    subscriptions: SubscriptionRepository
    webhook_deliveries: WebhookDeliveryRepository
    reports: ReportRepository
    console_sessions: ConsoleSessionRepository
    crm_links: CrmLinkRepository
    privacy: PrivacyRepository


class Store(Protocol):
    """Hands out units of work: ``transaction()`` for writes, ``read()`` for queries. Both raise
    StoreUnavailable when the database is away."""

    url: str

    def transaction(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """Commits when the block ends without an exception; rolls back otherwise."""
        ...

    def read(self) -> AbstractAsyncContextManager[UnitOfWork]: ...

    async def dispose(self) -> None: ...
