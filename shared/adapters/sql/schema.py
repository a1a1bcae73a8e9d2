"""The database schema (SQLAlchemy Core), one definition for SQLite and PostgreSQL.

Alembic migrations under shared/adapters/sql/migrations are the way PostgreSQL gets it; the embedded
SQLite file is created from these tables directly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

metadata = MetaData()



class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC. SQLite keeps a datetime's wall-clock digits and drops its
    offset, so ``10:00+08:00`` would come back as 10:00 UTC; converting on the way in and
    marking UTC on the way out makes both databases agree."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


TS = UtcDateTime()
# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
SEQ = BigInteger().with_variant(Integer(), "sqlite")

# Outgoing events. A handler writes here in the same transaction as its effect (the outbox).
# In distributed mode a relay publishes unpublished rows to Kafka; in embedded mode this table
# *is* the durable event log that consumers read by seq.
outbox = Table(
    "outbox",
    metadata,
    Column("seq", SEQ, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("topic", String(200), nullable=False),
    Column("key", String(200), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("published_at", TS),
)
Index("ix_outbox_unpublished", outbox.c.seq, postgresql_where=outbox.c.published_at.is_(None))
Index("ix_outbox_topic_seq", outbox.c.topic, outbox.c.seq)

consumer_offsets = Table(
    "consumer_offsets",
    metadata,
    Column("group_name", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

# Exactly-once effect: a consumer records each event id it handled in the effect's transaction.
processed_events = Table(
    "processed_events",
    metadata,
    Column("consumer", String(100), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("processed_at", TS, nullable=False),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", SEQ, primary_key=True, autoincrement=True),
    Column("consumer", String(100), nullable=False),
    Column("topic", String(200), nullable=False),
    Column("event_id", String(64)),
    Column("payload", LargeBinary, nullable=False),
    Column("error", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("redriven_at", TS),
)

sources = Table(
    "sources",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("kind", String(30), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_prefix", String(16), nullable=False),
    Column("config", JSON, nullable=False, default=dict),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS),
)

tokens = Table(
    "tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("key_prefix", String(16), nullable=False),
    Column("role", String(20), nullable=False),
    Column("rep_id", String(100)),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS),
)

# Single-use credentials, once spent: the nonces of one-click action links and the signatures of
# Slack's button clicks (a replay within Slack's 5-minute window finds its signature here).
# A row is kept until its credential would be refused anyway (``expires_at``).
spent_nonces = Table(
    "spent_nonces",
    metadata,
    Column("nonce", String(100), primary_key=True),
    Column("expires_at", TS, nullable=False, index=True),
    Column("spent_at", TS, nullable=False),
)

# The web console's sign-in sessions (shared/ports/sessions.py): the cookie's hash, the token's.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("token_hash", String(64), nullable=False, index=True),
    Column("lang", String(8)),
    Column("created_at", TS, nullable=False),
    Column("last_seen_at", TS, nullable=False, index=True),
)

# Which lead a CRM record stands for (shared/ports/crm_links.py), from the connectors' writes.
crm_links = Table(
    "crm_links",
    metadata,
    Column("crm", String(40), primary_key=True),
    Column("record_id", String(100), primary_key=True),
    Column("lead_id", String(64), nullable=False),
    Column("linked_at", TS, nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("body_hash", String(64), nullable=False),
    Column("lead_id", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("answered_at", TS),  # null: reserved, its event not yet known to be in the log
)

policies = Table(
    "policies",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("document", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("created_by", String(100)),
)

persons = Table(
    "persons",
    metadata,
    Column("person_id", String(64), primary_key=True),
    Column("data", JSON, nullable=False),
    Column("owner", String(100)),
    Column("lead_count", Integer, nullable=False, default=0),
    Column("first_seen_at", TS, nullable=False),
    Column("last_seen_at", TS, nullable=False),
)

person_keys = Table(
    "person_keys",
    metadata,
    Column("identity_key", String(100), primary_key=True),
    Column("person_id", String(64), nullable=False, index=True),
)

leads = Table(
    "leads",
    metadata,
    Column("lead_id", String(64), primary_key=True),
    Column("person_id", String(64), index=True),
    Column("source", String(100), nullable=False, index=True),
    Column("identity_key", String(100), nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("received_at", TS, nullable=False),
    Column("contact", JSON, nullable=False),
    Column("score", Integer),
    Column("grade", String(10)),
    Column("reasons", JSON),
    Column("duplicate_of", String(64)),
    Column("state", String(20), nullable=False),
    Column("owner", String(100), index=True),
    Column("team", String(100)),
    Column("queue", String(100)),
    Column("policy_version", Integer),
    Column("assigned_at", TS),
    Column("accepted_at", TS),
    Column("contacted_at", TS),
    Column("closed_at", TS),
    Column("previous_owner", String(100)),
    Column("recycled_at", TS),
    Column("updated_at", TS, nullable=False),
)
Index("ix_leads_state", leads.c.state)
Index("ix_leads_received_at", leads.c.received_at)  # the funnel report reads a received_at window

pool_claims = Table(
    "pool_claims",
    metadata,
    Column("id", SEQ, primary_key=True, autoincrement=True),
    Column("rep_id", String(100), nullable=False, index=True),
    Column("lead_id", String(64), nullable=False),
    Column("at", TS, nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", SEQ, primary_key=True, autoincrement=True),
    Column("lead_id", String(64), nullable=False, index=True),
    Column("decided_at", TS, nullable=False),
    Column("policy_version", Integer, nullable=False),
    Column("rule", String(200)),
    Column("strategy", String(50)),
    Column("owner", String(100)),
    Column("queue", String(100)),
    Column("explanation", JSON, nullable=False),
)

lead_history = Table(
    "lead_history",
    metadata,
    Column("id", SEQ, primary_key=True, autoincrement=True),
    Column("lead_id", String(64), nullable=False, index=True),
    Column("at", TS, nullable=False),
    Column("kind", String(50), nullable=False),
    Column("detail", JSON, nullable=False),
)

# Fairness state lives here under row locks, never in a process's memory.
rep_loads = Table(
    "rep_loads",
    metadata,
    Column("rep_id", String(100), primary_key=True),
    Column("open_leads", Integer, nullable=False, default=0),
    Column("day", Date),
    Column("assigned_today", Integer, nullable=False, default=0),
    Column("assigned_total", Integer, nullable=False, default=0),
    Column("converted_total", Integer, nullable=False, default=0),
    Column("lost_total", Integer, nullable=False, default=0),
    Column("last_assigned_at", TS),
)

routing_cursors = Table(
    "routing_cursors",
    metadata,
    Column("cursor_key", String(200), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

# The fairness ledger: every credit granted or taken, so a decision can cite it.
fairness_ledger = Table(
    "fairness_ledger",
    metadata,
    Column("id", SEQ, primary_key=True, autoincrement=True),
    Column("rep_id", String(100), nullable=False, index=True),
    Column("delta", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("by", String(100)),
    Column("lead_id", String(64)),
    Column("at", TS, nullable=False),
)

# Chat deliveries: an HTTP outbox. The notifier consumer inserts rows in its transaction; a
# sender claims due rows, posts them and reschedules on rate limits or transient errors.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", SEQ, primary_key=True, autoincrement=True),
    Column("dedup_key", String(200), nullable=False, unique=True),
    Column("lead_id", String(64), nullable=False, index=True),
    Column("recipient", String(100), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("platform", String(20), nullable=False),
    Column("message", JSON, nullable=False),
    Column("received_at", TS),
    Column("state", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", TS, nullable=False),
    Column("last_error", Text),
    Column("created_at", TS, nullable=False),
    Column("sent_at", TS),
)
Index("ix_deliveries_due", deliveries.c.state, deliveries.c.next_attempt_at)

# Webhook subscriptions and CRM connectors (``target``): secrets sealed (shared/secret_box.py).
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("url", Text, nullable=False),
    Column("target", String(30), nullable=False),
    Column("secret", Text, nullable=False),
    Column("previous_secret", Text),
    Column("secret_rotated_at", TS),
    Column("event_types", JSON, nullable=False),
    Column("config", JSON, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("removed_at", TS),
)

# Webhook deliveries: the same leased, retrying HTTP outbox as chat deliveries, one row per event
# and subscription; a lead's rows for one subscription are sent in ``id`` order.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", SEQ, primary_key=True, autoincrement=True),
    Column("dedup_key", String(200), nullable=False, unique=True),
    Column("subscription_id", String(40), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(40), nullable=False),
    Column("lead_id", String(64), nullable=False, index=True),
    Column("occurred_at", TS, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", TS, nullable=False),
    Column("last_error", Text),
    Column("created_at", TS, nullable=False),
    Column("delivered_at", TS),
)
Index("ix_webhook_deliveries_due", webhook_deliveries.c.state, webhook_deliveries.c.next_attempt_at)
Index("ix_webhook_deliveries_order", webhook_deliveries.c.subscription_id, webhook_deliveries.c.lead_id,
      webhook_deliveries.c.id)

# Durable SLA clocks: one row per ladder step; any router replica claims due rows.
sla_clocks = Table(
    "sla_clocks",
    metadata,
    # "<lead>:<assignment n>:<clock>:<step>": a reassignment plans a new set of clocks.
    Column("timer_id", String(200), primary_key=True),
    Column("lead_id", String(64), nullable=False, index=True),
    Column("clock", String(30), nullable=False),
    Column("step", String(30), nullable=False),
    Column("owner", String(100)),
    Column("due_at", TS, nullable=False),
    Column("state", String(20), nullable=False),
    Column("fired_at", TS),
)
Index("ix_sla_due", sla_clocks.c.state, sla_clocks.c.due_at)

# Fuzzy matching (services/scoring/matching.py): blocking keys that find a person by name (and
# company), every merge with what it moved (so it can be undone), and the pairs a person reviews.
person_match_keys = Table(
    "person_match_keys",
    metadata,
    Column("match_key", String(40), primary_key=True),
    Column("person_id", String(64), primary_key=True),
    Column("seen_at", TS, nullable=False),
)
Index("ix_person_match_keys_person", person_match_keys.c.person_id)

person_merges = Table(
    "person_merges",
    metadata,
    Column("merge_id", String(64), primary_key=True),
    Column("person_id", String(64), nullable=False, index=True),  # the person kept
    Column("from_person_id", String(64)),  # the person merged into it (None: a new lead's own keys)
    Column("lead_ids", JSON, nullable=False),  # the leads that moved to person_id
    Column("identity_keys", JSON, nullable=False),  # the keys that moved to person_id
    Column("person_before", JSON),  # person_id's record before (restored on undo when nothing came after)
    Column("kind", String(20), nullable=False),  # auto | review
    Column("score", JSON),
    Column("reasons", JSON, nullable=False),
    Column("merged_at", TS, nullable=False),
    Column("merged_by", String(100), nullable=False),
    Column("undone_at", TS),
    Column("undone_by", String(100)),
)

duplicate_pairs = Table(
    "duplicate_pairs",
    metadata,
    Column("pair_id", String(64), primary_key=True),
    Column("person_id", String(64), nullable=False, index=True),  # known before
    Column("other_person_id", String(64), nullable=False, index=True),  # the new lead's person
    Column("lead_id", String(64), nullable=False),
    Column("score", JSON, nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("state", String(20), nullable=False),  # open | merged | kept_apart
    Column("created_at", TS, nullable=False),
    Column("decided_at", TS),
    Column("decided_by", String(100)),
)
Index("ix_duplicate_pairs_state", duplicate_pairs.c.state, duplicate_pairs.c.created_at)
