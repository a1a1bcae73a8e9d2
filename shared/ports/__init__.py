"""The ports the services depend on; adapters implement them, services never import an adapter.

One module per concept: the bus, the store and its unit of work, and one repository per kind of
stored thing, each returning the typed records of ``records``. Import from this package.
"""

from leadrelay.shared.ports.access import SourceRepository, TokenRepository
from leadrelay.shared.ports.bus import Bus, BusUnavailable, Delivery, Subscription
from leadrelay.shared.ports.clocks import ClockRepository, PlannedStep
from leadrelay.shared.ports.consumer import EventHandler
from leadrelay.shared.ports.crm_links import CrmLinkRecord, CrmLinkRepository
from leadrelay.shared.ports.deliveries import DeliveryChanges, DeliveryRepository, NewDelivery
from leadrelay.shared.ports.idempotency import IdempotencyRepository
from leadrelay.shared.ports.inbox import Inbox
from leadrelay.shared.ports.leads import HistoryRow, LeadChanges, LeadRepository, NewLead
from leadrelay.shared.ports.matches import MatchRepository
from leadrelay.shared.ports.outbox import Outbox
from leadrelay.shared.ports.people import PersonRepository
from leadrelay.shared.ports.policies import PolicyRepository
from leadrelay.shared.ports.privacy import PrivacyRepository
from leadrelay.shared.ports.records import (
    ClockRecord,
    DeadLetterRecord,
    DecisionRecord,
    DeliveryRecord,
    DuplicatePair,
    HistoryEntry,
    IdempotencyRecord,
    LeadJourney,
    LeadRecord,
    LedgerEntry,
    Milestone,
    PersonMerge,
    PolicyVersionRecord,
    RepLoadRecord,
    SourceRecord,
    StoredPerson,
    SubscriptionRecord,
    TokenRecord,
    WebhookDeliveryRecord,
)
from leadrelay.shared.ports.reports import ReportRepository
from leadrelay.shared.ports.roster import RosterRepository
from leadrelay.shared.ports.sessions import ConsoleSessionRecord, ConsoleSessionRepository
from leadrelay.shared.ports.store import RetryLater, Store, StoreUnavailable, Transaction, UnitOfWork
from leadrelay.shared.ports.webhooks import (
    NewSubscription,
    NewWebhookDelivery,
    SubscriptionRepository,
    WebhookDeliveryChanges,
    WebhookDeliveryRepository,
)

__all__ = [
    "Bus", "BusUnavailable", "ClockRecord", "ConsoleSessionRecord", "ConsoleSessionRepository", "ClockRepository", "DeadLetterRecord", "DecisionRecord", "Delivery",
    "DeliveryChanges", "DeliveryRecord", "DeliveryRepository", "EventHandler", "HistoryEntry", "HistoryRow", "IdempotencyRecord",
    "IdempotencyRepository", "Inbox", "LeadChanges", "LeadRecord", "LeadRepository", "LedgerEntry", "NewDelivery",
    "NewLead", "Outbox", "StoredPerson", "PersonRepository", "PlannedStep", "PolicyRepository", "PolicyVersionRecord",
    "RepLoadRecord",
    "RetryLater", "RosterRepository", "SourceRecord", "SourceRepository", "Store", "StoreUnavailable",
    "Subscription", "TokenRecord", "LeadJourney", "Milestone", "ReportRepository", "TokenRepository", "Transaction", "UnitOfWork",
    "NewSubscription", "NewWebhookDelivery", "SubscriptionRecord", "SubscriptionRepository",
    "WebhookDeliveryChanges", "WebhookDeliveryRecord", "WebhookDeliveryRepository",
    "CrmLinkRecord", "CrmLinkRepository",
    "DuplicatePair", "MatchRepository", "PersonMerge",
    "PrivacyRepository",
]
