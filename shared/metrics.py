"""Prometheus metrics, named after outcomes. Built from an injected registry so tests get a fresh one."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# The SLO thresholds (docs/operations.md, "Service level objectives") must be bucket boundaries,
# or the good-event count the rules read (``le="1.0"``, ``le="5.0"``) would not exist: 1 s for
# intake→assigned, 5 s for speed to lead (and intake's 5 s Kafka timeout). tests/ops checks it.
ASSIGNED_SLO_S = 1
SPEED_TO_LEAD_SLO_S = 5
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, ASSIGNED_SLO_S, 2.5, SPEED_TO_LEAD_SLO_S, 10, 30, 60, 300)
TOUCH_BUCKETS = (60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400, 7 * 86400)
# A subscriber that is down for hours is the case the lag must show, not only the fast path.
WEBHOOK_LAG_BUCKETS = (0.1, 0.5, 1, 5, 30, 60, 300, 1800, 3600, 6 * 3600, 86400)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.leads_accepted = Counter(
            "leadrelay_leads_accepted_total", "Leads answered 202 by intake", ["source"], registry=r
        )
        self.leads_rejected = Counter(
            "leadrelay_leads_rejected_total", "Leads refused by intake", ["source", "reason"], registry=r
        )
        self.leads_qualified = Counter(
            "leadrelay_leads_qualified_total", "Leads scored", ["grade"], registry=r
        )
        self.duplicates_merged = Counter(
            "leadrelay_duplicates_merged_total", "Leads merged into a person we already knew", registry=r
        )
        self.assignments = Counter(
            "leadrelay_assignments_total", "Leads assigned", ["rule", "rep"], registry=r
        )
        self.unassigned = Counter(
            "leadrelay_leads_unassigned_total", "Leads parked in a fallback queue", ["queue"], registry=r
        )
        self.leads_held = Counter(
            "leadrelay_leads_held_total", "Leads held for the next shift (nobody covering was on shift)",
            ["rule"], registry=r,
        )
        self.intake_to_assigned = Histogram(
            "leadrelay_intake_to_assigned_seconds", "From intake's 202 to the assignment commit",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.intake_to_notified = Histogram(
            "leadrelay_intake_to_notified_seconds", "From intake's 202 to the chat platform's OK",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.notifications_sent = Counter(
            "leadrelay_notifications_sent_total", "Chat messages delivered", ["platform", "kind"], registry=r
        )
        self.notification_failures = Counter(
            "leadrelay_notification_failures_total", "Chat delivery attempts that failed",
            ["platform", "outcome"], registry=r,
        )
        self.events_processed = Counter(
            "leadrelay_events_processed_total", "Events handled by a consumer", ["consumer"], registry=r
        )
        self.duplicates_skipped = Counter(
            "leadrelay_consumer_duplicates_skipped_total", "Redelivered events that changed nothing",
            ["consumer"], registry=r,
        )
        self.dead_lettered = Counter(
            "leadrelay_events_dead_lettered_total", "Poison events sent to a dead-letter topic",
            ["consumer"], registry=r,
        )
        self.handler_seconds = Histogram(
            "leadrelay_handler_seconds", "Time to handle one event, commit included",
            ["consumer"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.outbox_lag = Gauge(
            "leadrelay_outbox_lag_seconds", "Age of the oldest unpublished outbox row", registry=r
        )
        self.sla_breaches = Counter(
            "leadrelay_sla_breaches_total", "SLA clocks that reached their deadline", ["clock", "team"], registry=r
        )
        self.sla_steps = Counter(
            "leadrelay_sla_steps_total", "SLA ladder steps fired", ["clock", "step"], registry=r
        )
        self.open_clocks = Gauge("leadrelay_sla_open_clocks", "SLA clock steps waiting to fire", registry=r)
        self.scheduler_lag = Gauge(
            "leadrelay_sla_scheduler_lag_seconds", "now minus the oldest due, unfired clock step", registry=r
        )
        self.time_to_first_touch = Histogram(
            "leadrelay_time_to_first_touch_seconds", "From assignment to the rep's first contact",
            buckets=TOUCH_BUCKETS, registry=r,
        )
        self.activities = Counter(
            "leadrelay_lead_activities_total", "Rep actions on leads", ["action"], registry=r
        )
        # Where reps act from chat, and what was refused there: ``outcome`` is done, refused (the
        # lead moved on, or is not theirs), or what was wrong with the request (forged, stale,
        # replayed, unknown_user for Slack; tampered, expired, reused for links). A rise in the
        # latter is someone trying links or replaying clicks.
        self.chat_actions = Counter(
            "leadrelay_chat_actions_total", "Actions from chat (Slack buttons, one-click links), by outcome",
            ["via", "action", "outcome"], registry=r,
        )
        self.conversions = Counter(
            "leadrelay_lead_outcomes_total", "Leads converted or lost", ["outcome", "source"], registry=r
        )
        # ``route`` is the route's template (``/v1/leads/{lead_id}``), never the raw path, so a
        # scan of random URLs cannot grow the label set; unmatched paths count as ``unmatched``.
        self.http_requests = Counter(
            "leadrelay_http_requests_total", "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"], registry=r,
        )
        self.http_request_seconds = Histogram(
            "leadrelay_http_request_duration_seconds", "Time to answer an HTTP request",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=r,
        )
        # 0 until the SLA scheduler (in the router's process) has read the current version: the
        # other processes export 0, so alert on the max over processes.
        self.policy_version = Gauge(
            "leadrelay_policy_version", "Version of the routing policy in force; 0 while none is applied",
            registry=r,
        )
        # Pipeline depth. Lag is what a consumer group has not yet consumed, measured by the
        # consumer itself every second (so a consumer stuck on one event still reports it
        # growing); a consumer that is down reports nothing, which is what `up` is for.
        self.consumer_lag = Gauge(
            "leadrelay_consumer_lag",
            "Events a consumer group has not consumed yet: Kafka's log end offset minus the group's position, "
            "per partition, summed over the group's topics; in embedded mode the events of its topics after "
            "its position in the event log, partition 0",
            ["group", "partition"], registry=r,
        )
        self.outbox_backlog = Gauge(
            "leadrelay_outbox_backlog",
            "Outbox rows not yet published to Kafka, counted by every distributed process running a relay; "
            "always 0 in embedded mode, where the outbox is the event log and nothing is relayed",
            registry=r,
        )
        # Webhook subscriptions and CRM connectors, by subscription id (a handful per install, so
        # the label set stays small). ``outcome``: delivered; failed (an attempt failed and will be
        # retried); dead_lettered (out of attempts or refused for good: it waits for a redrive).
        self.webhook_deliveries = Counter(
            "leadrelay_webhook_deliveries_total", "Webhook delivery attempts, by subscription and outcome",
            ["subscription", "outcome"], registry=r,
        )
        self.webhook_lag = Histogram(
            "leadrelay_webhook_delivery_lag_seconds", "From the event to the subscriber's 2xx",
            ["subscription"], buckets=WEBHOOK_LAG_BUCKETS, registry=r,
        )
        # What a CRM told us (``POST /v1/crm/hubspot/webhook``), by what came of each change: recorded,
        # nothing_new (our own write coming back, a lead already past it), unknown (not a record we
        # wrote), refused (the lead's state does not allow it); and refused requests: forged, stale,
        # replayed (a steady rate of those is someone probing the route).
        self.crm_changes = Counter(
            "leadrelay_crm_changes_total", "Changes a CRM reported, and requests refused, by outcome",
            ["crm", "outcome"], registry=r,
        )
