"""The event contracts: the one definition of every message that crosses a service boundary.

Every message travels in an :class:`Envelope` shaped like a CloudEvent. ``key`` is the lead's
identity key (normalised email, else phone, else source + external id): the bus partitions by
it, so every event about one person is handled in order by one consumer.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from leadrelay.shared import topics


def new_id() -> str:
    return str(uuid.uuid4())


class Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LeadContact(Contract):
    """What a person told us about themselves. Email and phone are PII: never logged."""

    email: str | None = Field(default=None, repr=False)
    phone: str | None = Field(default=None, repr=False)
    name: str | None = Field(default=None, repr=False)
    company: str | None = None
    title: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    industry: str | None = None
    employees: int | None = None
    language: str | None = None
    website: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    consent: bool | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class LeadReceived(Contract):
    """A lead accepted by intake (answered 202). ``source`` is the lead source's name."""

    type: ClassVar[str] = "lead.received.v1"
    topic: ClassVar[str] = topics.LEAD_RECEIVED
    schema_version: Literal[1] = 1
    lead_id: str
    source: str
    source_kind: str = "api"
    external_id: str | None = None
    received_at: datetime
    contact: LeadContact
    # Salted HMACs of the normalised email, phone and external id, strongest first; the first is
    # the partition key. Computed once, by intake (the only service that needs the salt).
    identity_keys: list[str] = Field(min_length=1)


class ScoreReason(Contract):
    rule: str
    points: int


class LeadQualified(Contract):
    """A lead scored and merged with the person we already know."""

    type: ClassVar[str] = "lead.qualified.v1"
    topic: ClassVar[str] = topics.LEAD_QUALIFIED
    schema_version: Literal[1] = 1
    lead_id: str
    person_id: str
    source: str
    received_at: datetime
    contact: LeadContact
    score: int
    grade: Literal["hot", "warm", "cold"]
    reasons: list[ScoreReason]
    duplicate_of: str | None = None
    known_owner: str | None = None
    policy_version: int


class LeadSummary(Contract):
    """The lead as a message about it shows it: carried by the router's events, so the notifier
    (or any other consumer) needs no other service's table."""

    source: str
    contact: LeadContact
    score: int | None = None
    grade: str | None = None
    reasons: list[ScoreReason] = Field(default_factory=list)
    queue: str | None = None


class LeadAssigned(Contract):
    """A lead given to a rep (or parked in a queue when no rep could take it)."""

    type: ClassVar[str] = "lead.assigned.v1"
    topic: ClassVar[str] = topics.LEAD_ASSIGNED
    schema_version: Literal[1] = 1
    lead_id: str
    received_at: datetime
    assigned_at: datetime
    owner: str | None
    queue: str | None = None
    rule: str | None
    policy_version: int
    grade: str
    score: int
    # "held": nobody covering was on shift; the lead is routed at ``held_until`` (no owner yet).
    reason: Literal["routed", "reassigned", "claimed", "fallback", "held"] = "routed"
    previous_owner: str | None = None
    notify: list[str] = Field(default_factory=list)
    # The owner's first-touch deadline (UTC) and the target it comes from, planned like the SLA
    # clocks; None when nobody owns the lead or its grade has no first-touch clock.
    first_touch_due_at: datetime | None = None
    first_touch_target: timedelta | None = None
    backup_for: str | None = None  # the owner stands in for this rep (their backup)
    # The lead was held for the next shift until this instant (UTC): on a "held" event, when it
    # will be routed; on the routing that ends the hold, when it was.
    held_until: datetime | None = None
    lead: LeadSummary


class SlaEvent(Contract):
    """A step of an SLA clock fired: reminder, escalation, reassignment, recycle, breach."""

    type: ClassVar[str] = "lead.sla.v1"
    topic: ClassVar[str] = topics.LEAD_SLA
    schema_version: Literal[1] = 1
    lead_id: str
    clock: str
    step: Literal["remind", "escalate", "reassign", "recycle", "breach", "offer_expired"]
    owner: str | None
    notify: list[str] = Field(default_factory=list)
    due_at: datetime
    fired_at: datetime
    detail: str = ""
    lead: LeadSummary


class ProtectionCollision(BaseModel):
    """Another rep would have had a protected person's lead (保护期 / 防撞单): the rules chose them
    (``routing``; the lead went to the protecting rep) or they tried to claim it (``claim``;
    refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["routing", "claim"]
    protected_by: str
    protected_until: datetime
    last_touch: str  # what set the period's end: assigned, accepted, contacted, converted
    last_touch_at: datetime
    rule: str | None = None  # the rule that would have given it away (routing)


class LeadActivity(Contract):
    """A rep's action on a lead. ``not_mine``: the rep handed it back to the team's pool.
    ``collision``: ``actor`` (a rep) would have had a lead of a person protected for ``to_rep``
    (``collision`` says how); both reps' managers hear of it.
    ``via``: where they acted: the HTTP API, a Slack button, or a signed one-click link;
    ``crm``: in a CRM, told us by a signed integration (``POST /v1/integrations/activity``)."""

    type: ClassVar[str] = "lead.activity.v1"
    topic: ClassVar[str] = topics.LEAD_ACTIVITY
    schema_version: Literal[1] = 1
    lead_id: str
    actor: str
    action: Literal["accepted", "contacted", "converted", "lost", "reassign", "claimed", "not_mine", "collision"]
    reason: str | None = None
    to_rep: str | None = None
    at: datetime
    via: Literal["api", "slack", "link", "console", "crm"] = "api"
    # The lead as a message about the action shows it (the manager hears of a "not mine").
    lead: LeadSummary | None = None
    collision: ProtectionCollision | None = None


class PersonErased(Contract):
    """A person's personal data was erased (PIPL, GDPR): their leads' contacts, history and events
    are tombstoned. Keyed by the person id (their identity keys are gone). Downstream systems (a
    CRM, a webhook subscriber) erase what they copied of ``lead_ids``."""

    type: ClassVar[str] = "person.erased.v1"
    topic: ClassVar[str] = topics.PERSON_ERASED
    schema_version: Literal[1] = 1
    person_id: str
    lead_ids: list[str]
    erased_at: datetime
    by: str


EVENT_TYPES: dict[str, type[Contract]] = {
    cls.type: cls for cls in (LeadReceived, LeadQualified, LeadAssigned, SlaEvent, LeadActivity, PersonErased)
}


class Envelope(Contract):
    """CloudEvents-shaped wrapper. ``id`` is unique per event and is what consumers dedup on."""

    id: str = Field(default_factory=new_id)
    type: str
    source: str
    time: datetime  # from the emitting service's clock, like every time we store
    subject: str
    key: str
    correlation_id: str
    data: dict[str, Any]
    # The W3C trace context of the span that emitted it (the CloudEvents distributed-tracing
    # extension), so one lead is one trace across services; absent when traces are off.
    traceparent: str | None = None
    tracestate: str | None = None

    @classmethod
    def wrap(
        cls,
        payload: Contract,
        *,
        source: str,
        subject: str,
        key: str,
        correlation_id: str,
        time: datetime,
        id: str | None = None,
    ) -> Envelope:
        return cls(
            id=id or new_id(),
            type=payload.type,  # type: ignore[attr-defined]
            source=source,
            time=time,
            subject=subject,
            key=key,
            correlation_id=correlation_id,
            data=payload.model_dump(mode="json"),
        )

    @property
    def topic(self) -> str:
        return EVENT_TYPES[self.type].topic  # type: ignore[attr-defined]

    def payload(self) -> Contract:
        """Returns the typed event; raises pydantic.ValidationError for a malformed one."""
        return EVENT_TYPES[self.type].model_validate(self.data)

    def to_bytes(self) -> bytes:
        # Without a trace context the JSON is what it was before traces: no null fields.
        unset = {name for name in ("traceparent", "tracestate") if getattr(self, name) is None}
        return self.model_dump_json(exclude=unset or None).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        return cls.model_validate_json(raw)
