"""Prometheus metrics, named after outcomes. Built from an injected registry so tests get a fresh one."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
TOUCH_BUCKETS = (60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400, 7 * 86400)


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
        self.conversions = Counter(
            "leadrelay_lead_outcomes_total", "Leads converted or lost", ["outcome", "source"], registry=r
        )
