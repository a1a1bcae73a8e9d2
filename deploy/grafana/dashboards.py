"""Leadrelay's Grafana dashboards as code: one for SREs, one for sales managers.

    python deploy/grafana/dashboards.py           # writes deploy/grafana/dashboards/*.json
    python deploy/grafana/dashboards.py --check   # exits 1 (with a diff) if the checked-in JSON differs

The checked-in JSON is what Grafana loads (deploy/grafana/provisioning/, docker-compose.yml), so
edit this file, never the JSON, and regenerate. Built with grafana-foundation-sdk, Grafana Labs'
generated builders; its version is pinned exactly in pyproject.toml (a new release may change the
emitted JSON, and tests/ops/test_dashboards.py compares it byte for byte).

Every query reads the Prometheus data source chosen in the `datasource` variable and only metric
names that shared/metrics.py defines, or recording rules in deploy/prometheus/rules/ (the test
checks both). Operational panels use `$__rate_interval`; the sales dashboard's totals use
`$__range`, so they answer "over the period on screen".
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from grafana_foundation_sdk.builders.bargauge import Panel as BarGauge
from grafana_foundation_sdk.builders.common import (
    GraphThresholdsStyleConfig,
    ReduceDataOptions,
    StackingConfig,
    VizLegendOptions,
)
from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DashboardLink,
    DatasourceVariable,
    Row,
    ThresholdsConfig,
)
from grafana_foundation_sdk.builders.piechart import Panel as PieChart
from grafana_foundation_sdk.builders.piechart import PieChartLegendOptions
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as TimeSeries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BarGaugeDisplayMode,
    BigValueGraphMode,
    GraphThresholdsStyleMode,
    LegendDisplayMode,
    LegendPlacement,
    StackingMode,
    VizOrientation,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    Threshold,
    ThresholdsMode,
)
from grafana_foundation_sdk.models.piechart import PieChartType

OUT_DIR = Path(__file__).resolve().parent / "dashboards"

# Every panel and query reads the data source picked in this variable, so one JSON file works
# with whatever the Prometheus data source is called in a given Grafana.
DATASOURCE_VARIABLE = "datasource"
DS = DataSourceRef(type_val="prometheus", uid="${" + DATASOURCE_VARIABLE + "}")
TAG = "leadrelay"

PanelBuilder = TimeSeries | Stat | BarGauge | PieChart
P = TypeVar("P", TimeSeries, Stat, BarGauge, PieChart)


# --- building blocks ------------------------------------------------------------------------------


def q(expr: str, legend: str = "__auto", *, instant: bool = False) -> Dataquery:
    """One PromQL target; instant targets are for totals over the range on screen."""
    target = Dataquery().expr(expr).legend_format(legend).datasource(DS)
    return target.instant() if instant else target.range()


def thresholds(*steps: tuple[float | None, str]) -> ThresholdsConfig:
    """Absolute thresholds: the first step (value None) is the base colour."""
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(
        [Threshold(value=value, color=color) for value, color in steps]
    )


OK_ONLY = thresholds((None, "green"))


def with_targets(panel: P, targets: Sequence[Dataquery]) -> P:
    """Adds the targets with refIds A, B, C, … (Grafana needs them distinct within a panel)."""
    for index, target in enumerate(targets):
        panel = panel.with_target(target.ref_id(chr(ord("A") + index)))
    return panel


def timeseries(title: str, description: str, unit: str, *targets: Dataquery, w: int = 12, h: int = 8,
               stacked: bool = False, limits: ThresholdsConfig | None = None, min_interval: str | None = None,
               ) -> TimeSeries:
    panel = (
        TimeSeries().title(title).description(description).datasource(DS).unit(unit).span(w).height(h)
        .min(0).fill_opacity(10).line_width(1)
        .legend(VizLegendOptions().display_mode(LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM)
                .show_legend(True))
        .thresholds(limits or OK_ONLY)
    )
    if limits is not None:  # draw the limit (an SLO threshold, an alert's) as a dashed line
        panel = panel.thresholds_style(GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED))
    if stacked:
        panel = panel.stacking(StackingConfig().mode(StackingMode.NORMAL)).fill_opacity(40)
    if min_interval:
        panel = panel.interval(min_interval)
    return with_targets(panel, targets)


def stat(title: str, description: str, unit: str, *targets: Dataquery, w: int = 6, h: int = 5,
         limits: ThresholdsConfig | None = None, decimals: int | None = None) -> Stat:
    panel = (
        Stat().title(title).description(description).datasource(DS).unit(unit).span(w).height(h)
        .graph_mode(BigValueGraphMode.NONE)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(limits or OK_ONLY)
    )
    if decimals is not None:
        panel = panel.decimals(decimals)
    return with_targets(panel, targets)


def bars(title: str, description: str, unit: str, *targets: Dataquery, w: int = 8, h: int = 9,
         max_value: float | None = None) -> BarGauge:
    panel = (
        BarGauge().title(title).description(description).datasource(DS).unit(unit).span(w).height(h).min(0)
        .orientation(VizOrientation.HORIZONTAL).display_mode(BarGaugeDisplayMode.GRADIENT)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(OK_ONLY)
    )
    if max_value is not None:
        panel = panel.max(max_value)
    return with_targets(panel, targets)


def pie(title: str, description: str, unit: str, *targets: Dataquery, w: int = 8, h: int = 9) -> PieChart:
    panel = (
        PieChart().title(title).description(description).datasource(DS).unit(unit).span(w).height(h)
        .pie_type(PieChartType.DONUT)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .legend(PieChartLegendOptions().display_mode(LegendDisplayMode.TABLE).placement(LegendPlacement.RIGHT)
                .show_legend(True).values(["value", "percent"]))
    )
    return with_targets(panel, targets)


def dashboard(uid: str, title: str, description: str, *, time_from: str, refresh: str,
              sections: Sequence[tuple[str, Sequence[PanelBuilder]]]) -> Dashboard:
    """A dashboard of titled rows. Panel ids are assigned in order (Grafana keeps them in URLs)."""
    board = (
        Dashboard(title).uid(uid).description(description).tags([TAG, "generated"])
        .readonly().timezone("browser").time(time_from, "now").refresh(refresh)
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .with_variable(
            DatasourceVariable(DATASOURCE_VARIABLE).label("Data source").type("prometheus")
            .description("The Prometheus that scrapes Leadrelay (provisioned as the default).")
        )
        .link(DashboardLink("Leadrelay").type(DashboardLinkType.DASHBOARDS).tags([TAG]).as_dropdown(True)
              .include_vars(True).keep_time(True))
    )
    panel_id = 0
    for row_title, panels in sections:
        panel_id += 1
        board = board.with_row(Row(row_title).id(panel_id))
        for panel in panels:
            panel_id += 1
            board = board.with_panel(panel.id(panel_id))
    return board


# --- PromQL helpers -------------------------------------------------------------------------------

RATE = "$__rate_interval"
RANGE = "$__range"


def quantile(phi: float, histogram: str, by: str = "", window: str = RATE) -> str:
    labels = f"{by}, le" if by else "le"
    return f"histogram_quantile({phi}, sum by ({labels}) (rate({histogram}_bucket[{window}])))"


def total(inner: str, by: str = "") -> str:
    return f"sum by ({by}) ({inner})" if by else f"sum({inner})"


def per_second(counter: str, by: str = "", selector: str = "") -> str:
    return total(f"rate({counter}{selector}[{RATE}])", by)


def in_range(counter: str, by: str = "", selector: str = "", *, sort: bool = False) -> str:
    expr = total(f"increase({counter}{selector}[{RANGE}])", by)
    return f"sort_desc({expr})" if sort else expr


# --- SRE ------------------------------------------------------------------------------------------

# The SLOs of docs/operations.md, as deploy/prometheus/rules/leadrelay.rules.yml records them
# (`slo:objective:ratio{slo=…}`; tests/ops/test_dashboards.py checks the two agree). The stats
# colour at the objective; the burn-rate panels read the rules' recorded error ratios.
SLO_OBJECTIVES = {
    "speed_to_lead": 0.99,
    "intake_to_assigned": 0.995,
    "intake_availability": 0.999,
    "sla_scheduler_lag": 0.99,
}
# The `le` bucket bounds at the latency SLOs' thresholds, spelled as the Python client exposes them.
SPEED_TO_LEAD_LE = "5.0"
ASSIGNED_LE = "1.0"
# The requests intake availability counts: lead posts and the ad platforms' webhooks.
LEAD_POSTS = 'method="POST", route=~"/v1/leads|/v1/sources/.+/webhook"'
HTTP_5XX = 'status=~"5.."'
# Burn-rate factors of the multi-window alerts (leadrelay.alerts.yml): 14.4 over 1 h spends 2% of
# a 30-day budget in that hour (page); 6 over 6 h spends 5% (page); 1 just lasts the 30 days.
FAST_BURN, SLOW_BURN = 14.4, 6


def within(histogram: str, le: str) -> str:
    """Share of a histogram's observations at or under the bucket `le`, over the range on screen."""
    return (f'sum(increase({histogram}_bucket{{le="{le}"}}[{RANGE}]))'
            f" / sum(increase({histogram}_count[{RANGE}]))")


def objective(slo: str) -> ThresholdsConfig:
    return thresholds((None, "red"), (SLO_OBJECTIVES[slo], "green"))


def burn_rate(window: str) -> Dataquery:
    return q(f"slo:sli_error:ratio_rate{window} / on (slo) slo:error_budget:ratio", "{{slo}}")


def sre() -> Dashboard:
    intake_to_notified = "leadrelay_intake_to_notified_seconds"
    slo = [
        stat(
            "Speed to lead: in the rep's chat within 5 s",
            "Share of leads whose chat message the platform confirmed within 5 s of intake's 202, over the "
            "range on screen. Objective: 99%.",
            "percentunit",
            q(within(intake_to_notified, SPEED_TO_LEAD_LE), "within 5 s", instant=True),
            limits=objective("speed_to_lead"), decimals=2,
        ),
        stat(
            "Assigned within 1 s",
            "Share of leads whose routing decision was committed within 1 s of intake's 202, over the range "
            "on screen. Objective: 99.5%.",
            "percentunit",
            q(within("leadrelay_intake_to_assigned_seconds", ASSIGNED_LE), "within 1 s", instant=True),
            limits=objective("intake_to_assigned"), decimals=2,
        ),
        stat(
            "Intake availability",
            "Share of lead posts (POST /v1/leads and the ad platforms' webhooks) answered without a 5xx, over "
            "the range on screen; a 4xx is the caller's mistake and counts as served. Objective: 99.9%.",
            "percentunit",
            q(f"1 - ((sum(increase(leadrelay_http_requests_total{{{LEAD_POSTS}, {HTTP_5XX}}}[{RANGE}])) or vector(0))"
              f" / sum(increase(leadrelay_http_requests_total{{{LEAD_POSTS}}}[{RANGE}])))", "available",
              instant=True),
            limits=objective("intake_availability"), decimals=3,
        ),
        stat(
            "SLA scheduler on time",
            "Share of the time on screen during which the oldest due SLA step was less than 1 s overdue. "
            "Objective: 99%.",
            "percentunit",
            q(f'1 - avg_over_time(slo:sli_error:ratio{{slo="sla_scheduler_lag"}}[{RANGE}])', "on time",
              instant=True),
            limits=objective("sla_scheduler_lag"), decimals=2,
        ),
        timeseries(
            "SLO burn rate over 1 h",
            "How fast each SLO spends its error budget: the share of bad events over the last hour divided by "
            "the budget (1 minus the objective). 1 spends the budget exactly over 30 days; above 14.4 (red), "
            "2% of the month's budget went in that hour and the fast-burn alert pages.",
            "none",
            burn_rate("1h"),
            limits=thresholds((None, "green"), (1, "yellow"), (FAST_BURN, "red")),
        ),
        timeseries(
            "SLO burn rate over 6 h",
            "The same over the last six hours: above 6 (red), 5% of the month's budget went in those hours and "
            "the slow-burn alert pages. Between 1 and 6 the budget will not last the month if it goes on.",
            "none",
            burn_rate("6h"),
            limits=thresholds((None, "green"), (1, "yellow"), (SLOW_BURN, "red")),
        ),
    ]

    throughput = [
        timeseries(
            "Leads accepted by source",
            "Leads intake answered 202 (durably stored), per second, by lead source. A source dropping to zero "
            "usually means its form or ad integration broke, not that demand stopped.",
            "reqps",
            q(per_second("leadrelay_leads_accepted_total", "source"), "{{source}}"),
            stacked=True,
        ),
        timeseries(
            "Leads refused by intake",
            "Leads intake refused, per second, by source and reason. reason=\"unavailable\" are 503s: the event "
            "log (Kafka) did not acknowledge in time and the sources will retry.",
            "reqps",
            q(per_second("leadrelay_leads_rejected_total", "source, reason"), "{{source}} {{reason}}"),
        ),
        timeseries(
            "Events processed by consumer",
            "Events each consumer (scoring, router, notifier) handled and committed, per second. In a healthy "
            "pipeline the three lines follow the accepted-leads line.",
            "ops",
            q(per_second("leadrelay_events_processed_total", "consumer"), "{{consumer}}"),
        ),
        timeseries(
            "Redelivered events skipped",
            "Events a consumer had already handled and skipped (exactly-once effects), per second. Bursts are "
            "normal after restarts and rebalances; a steady rate means offsets are not being committed.",
            "ops",
            q(per_second("leadrelay_consumer_duplicates_skipped_total", "consumer"), "{{consumer}}"),
        ),
    ]

    latency = [
        timeseries(
            "Intake → assigned latency",
            "Time from intake's 202 to the routing decision's commit: speed to lead inside Leadrelay. "
            "p50, p90 and p99; the SLO wants 99.5% within 1 s.",
            "s",
            *(q(quantile(phi, "leadrelay_intake_to_assigned_seconds"), f"p{round(phi * 100)}")
              for phi in (0.5, 0.9, 0.99)),
            w=8, limits=thresholds((None, "green"), (1, "red")),
        ),
        timeseries(
            "Intake → notified latency",
            "Time from intake's 202 to the chat platform's OK for the rep's message: what the speed-to-lead "
            "SLO measures (99% within 5 s). p50, p90 and p99.",
            "s",
            *(q(quantile(phi, intake_to_notified), f"p{round(phi * 100)}") for phi in (0.5, 0.9, 0.99)),
            w=8, limits=thresholds((None, "green"), (5, "red")),
        ),
        timeseries(
            "Handler time by consumer",
            "Time one consumer takes to handle one event, its database commit included, p50 and p99 per "
            "consumer. A rising p99 with flat traffic points at the database.",
            "s",
            q(quantile(0.5, "leadrelay_handler_seconds", "consumer"), "{{consumer}} p50"),
            q(quantile(0.99, "leadrelay_handler_seconds", "consumer"), "{{consumer}} p99"),
            w=8,
        ),
    ]

    backlog = [
        timeseries(
            "Consumer lag by group and partition",
            "Events written to a topic but not yet processed by the consumer group, per partition. Lag that "
            "keeps growing means the group is down, stuck or too slow (add replicas up to the partition "
            "count); lag on one partition only is usually one slow or poison event being retried.",
            "short",
            q("sum by (group, partition) (leadrelay_consumer_lag)", "{{group}} [{{partition}}]"),
        ),
        timeseries(
            "Outbox: oldest unpublished row",
            "Age of the oldest outbox row not yet published to Kafka, at the last relay pass. Milliseconds are "
            "normal; seconds mean no relay can publish (Kafka down, or `serve relay` not running).",
            "s",
            q("max(leadrelay_outbox_lag_seconds)", "oldest row"),
            w=6, limits=thresholds((None, "green"), (5, "red")),
        ),
        timeseries(
            "Outbox backlog",
            "Outbox rows committed in the database and not yet published to Kafka. Should hover near zero.",
            "short",
            q("max(leadrelay_outbox_backlog)", "unpublished rows"),
            w=6,
        ),
        timeseries(
            "SLA scheduler lag",
            "Now minus the oldest due, unfired SLA step (reminders, escalations, reassignments). Above a "
            "second the scheduler is behind or not running, and reps get their reminders late.",
            "s",
            q("max(leadrelay_sla_scheduler_lag_seconds)", "lag"),
            w=8, limits=thresholds((None, "green"), (1, "red")),
        ),
        timeseries(
            "SLA clock steps waiting",
            "SLA clock steps scheduled and not yet fired: leads whose first-touch clock is still running.",
            "short",
            q("max(leadrelay_sla_open_clocks)", "open steps"),
            w=8,
        ),
        stat(
            "Routing policy version",
            "Version of the routing policy in force, as the router's SLA scheduler last read it (the other "
            "processes export 0, hence the max). 0 means no policy is applied: scoring refuses every lead.",
            "none",
            q("max(leadrelay_policy_version)", "version", instant=True),
            w=8, h=8, limits=thresholds((None, "red"), (1, "green")), decimals=0,
        ),
    ]

    failures = [
        timeseries(
            "Dead-lettered events",
            "Poison events a consumer gave up on after its retries, per consumer, counted per interval. Each "
            "one is a lead that stopped moving: see `leadrelay dlq list`, fix the cause, `leadrelay dlq "
            "redrive`.",
            "short",
            q(f"sum by (consumer) (increase(leadrelay_events_dead_lettered_total[{RATE}]))", "{{consumer}}"),
            w=8, limits=thresholds((None, "green"), (1, "red")),
        ),
        timeseries(
            "Chat messages delivered by platform",
            "Messages the chat platform (Slack, Teams, Feishu/Lark, DingTalk, WeCom) confirmed, per second.",
            "ops",
            q(per_second("leadrelay_notifications_sent_total", "platform"), "{{platform}}"),
            w=8,
        ),
        timeseries(
            "Chat delivery failures by platform",
            "Failed delivery attempts per second, by platform and outcome: retry (will be tried again with "
            "back-off) or permanent (given up). A steady rate on one platform is usually a revoked webhook "
            "or a rate limit.",
            "ops",
            q(per_second("leadrelay_notification_failures_total", "platform, outcome"), "{{platform}} {{outcome}}"),
            w=8,
        ),
    ]

    http = [
        timeseries(
            "HTTP error ratio by route",
            "Share of HTTP requests answered 5xx, per route. Intake availability's SLO counts these.",
            "percentunit",
            q(f"sum by (route) (rate(leadrelay_http_requests_total{{{HTTP_5XX}}}[{RATE}]))"
              f" / sum by (route) (rate(leadrelay_http_requests_total[{RATE}]))", "{{route}}"),
            w=8, limits=thresholds((None, "green"), (round(1 - SLO_OBJECTIVES["intake_availability"], 6), "red")),
        ),
        timeseries(
            "HTTP requests by status",
            "HTTP requests per second by status code. 4xx are callers' mistakes (bad key, invalid lead); "
            "5xx are ours.",
            "reqps",
            q(per_second("leadrelay_http_requests_total", "status"), "{{status}}"),
            w=8, stacked=True,
        ),
        timeseries(
            "HTTP latency by route, p99",
            "Time to answer an HTTP request, p99 per route and method. POST /v1/leads waits for Kafka's "
            "acknowledgement, so its latency follows the broker's.",
            "s",
            q(quantile(0.99, "leadrelay_http_request_duration_seconds", "route, method"), "{{method}} {{route}}"),
            w=8,
        ),
    ]

    return dashboard(
        "leadrelay-sre", "Leadrelay / SRE",
        "Is every accepted lead reaching a rep, fast? Throughput, latency per hop, lag, dead letters, chat "
        "delivery and the SLOs. Generated by deploy/grafana/dashboards.py; edit that, not this JSON.",
        time_from="now-6h", refresh="30s",
        sections=[
            ("Service level objectives", slo),
            ("Throughput", throughput),
            ("Latency per hop", latency),
            ("Lag and backlog", backlog),
            ("Failures", failures),
            ("HTTP", http),
        ],
    )


# --- Sales managers -------------------------------------------------------------------------------

FIRST_TOUCH = "leadrelay_time_to_first_touch_seconds"
FIRST_TOUCH_GOAL = "3600.0"  # the `le` bucket (one hour) of FIRST_TOUCH, as exposed
HOURLY = "1h"  # sales volumes are low: finer points would be mostly empty


def sales() -> Dashboard:
    speed = [
        stat(
            "Time to first touch, median",
            "Half the leads first contacted in the period were contacted within this time of being "
            "assigned (on the rep's business hours when the policy says so).",
            "s",
            q(quantile(0.5, FIRST_TOUCH, window=RANGE), "p50", instant=True),
        ),
        stat(
            "Time to first touch, p90",
            "Nine leads in ten first contacted in the period were contacted within this time of being "
            "assigned.",
            "s",
            q(quantile(0.9, FIRST_TOUCH, window=RANGE), "p90", instant=True),
        ),
        stat(
            "First touched within an hour",
            "Share of leads first contacted in the period whose first contact came within one hour of "
            "assignment.",
            "percentunit",
            q(f'sum(increase({FIRST_TOUCH}_bucket{{le="{FIRST_TOUCH_GOAL}"}}[{RANGE}]))'
              f" / sum(increase({FIRST_TOUCH}_count[{RANGE}]))", "within 1 h", instant=True),
            limits=thresholds((None, "red"), (0.5, "yellow"), (0.8, "green")), decimals=1,
        ),
        stat(
            "Leads received",
            "Leads accepted from every source in the period.",
            "short",
            q(in_range("leadrelay_leads_accepted_total"), "received", instant=True),
            decimals=0,
        ),
        timeseries(
            "Time to first touch over time",
            "p50 and p90 of the time from assignment to the rep's first contact, hour by hour.",
            "s",
            q(quantile(0.5, FIRST_TOUCH), "p50"),
            q(quantile(0.9, FIRST_TOUCH), "p90"),
            w=24, min_interval=HOURLY,
        ),
    ]

    sla = [
        bars(
            "SLA breaches by team",
            "SLA clocks that reached their deadline in the period (the escalation step), by the owning rep's "
            "team. \"-\" is leads without a team.",
            "short",
            q(in_range("leadrelay_sla_breaches_total", "team", sort=True), "{{team}}", instant=True),
        ),
        bars(
            "SLA breaches by clock",
            "The same breaches by clock: first touch, follow-up and the other clocks the policy defines.",
            "short",
            q(in_range("leadrelay_sla_breaches_total", "clock", sort=True), "{{clock}}", instant=True),
        ),
        timeseries(
            "SLA steps fired",
            "Reminders, escalations and reassignments the SLA ladder fired, hour by hour. Many reassignments "
            "mean reps are not picking leads up in time.",
            "short",
            q(f"sum by (step) (increase(leadrelay_sla_steps_total[{RATE}]))", "{{step}}"),
            w=8, h=9, stacked=True, min_interval=HOURLY,
        ),
    ]

    assignments = [
        bars(
            "Assignments by rep",
            "Leads assigned to each rep in the period, most first. Compare with the rep's share in the "
            "policy to check fairness.",
            "short",
            q(in_range("leadrelay_assignments_total", "rep", sort=True), "{{rep}}", instant=True),
            h=12,
        ),
        bars(
            "Assignments by rule",
            "Leads assigned in the period by the routing rule that matched. A rule that never matches may be "
            "shadowed by one above it.",
            "short",
            q(in_range("leadrelay_assignments_total", "rule", sort=True), "{{rule}}", instant=True),
            h=12,
        ),
        bars(
            "Leads left unassigned by queue",
            "Leads no rule could give to a rep in the period, parked in a fallback queue or the pool. They "
            "wait for someone to claim them: a growing number means a gap in the policy.",
            "short",
            q(in_range("leadrelay_leads_unassigned_total", "queue", sort=True), "{{queue}}", instant=True),
            h=12,
        ),
    ]

    def stage(action: str) -> str:
        return in_range("leadrelay_lead_activities_total", selector=f'{{action="{action}"}}')

    converted = in_range("leadrelay_lead_outcomes_total", "source", '{outcome="converted"}')
    closed = in_range("leadrelay_lead_outcomes_total", "source")
    funnel = [
        bars(
            "Funnel",
            "Leads through each stage in the period: received by intake, scored, assigned to a rep, "
            "accepted, contacted, then converted or lost by the rep. Counts events in the period, so a "
            "lead received last week and converted today counts only as converted.",
            "short",
            q(in_range("leadrelay_leads_accepted_total"), "received", instant=True),
            q(in_range("leadrelay_leads_qualified_total"), "scored", instant=True),
            q(in_range("leadrelay_assignments_total"), "assigned", instant=True),
            *(q(stage(action), action, instant=True) for action in ("accepted", "contacted", "converted", "lost")),
            w=12, h=10,
        ),
        pie(
            "Grade mix",
            "Leads scored in the period by grade (hot, warm, cold, …): is marketing sending the leads sales "
            "wants?",
            "short",
            q(in_range("leadrelay_leads_qualified_total", "grade", sort=True), "{{grade}}", instant=True),
            w=12, h=10,
        ),
        bars(
            "Leads received by source",
            "Leads accepted from each source in the period, most first.",
            "short",
            q(in_range("leadrelay_leads_accepted_total", "source", sort=True), "{{source}}", instant=True),
        ),
        bars(
            "Outcomes by source",
            "Leads the reps marked converted or lost in the period, by the source they came from.",
            "short",
            q(in_range("leadrelay_lead_outcomes_total", "source, outcome", sort=True), "{{source}} {{outcome}}",
              instant=True),
        ),
        bars(
            "Conversion rate by source",
            "Of the leads closed in the period, the share converted, by source: converted / (converted + "
            "lost).",
            "percentunit",
            q(f"sort_desc({converted} / {closed})", "{{source}}", instant=True),
            max_value=1,
        ),
        timeseries(
            "Rep actions over time",
            "What reps did with their leads, hour by hour: accepted, contacted, converted, lost, and managers' "
            "reassignments.",
            "short",
            q(f"sum by (action) (increase(leadrelay_lead_activities_total[{RATE}]))", "{{action}}"),
            w=24, stacked=True, min_interval=HOURLY,
        ),
    ]

    return dashboard(
        "leadrelay-sales", "Leadrelay / Sales managers",
        "Are leads reaching reps and being worked? Speed to lead, SLA breaches, who gets what, and the funnel "
        "from received to converted. Totals cover the period chosen at the top right. Generated by "
        "deploy/grafana/dashboards.py; edit that, not this JSON.",
        time_from="now-7d", refresh="5m",
        sections=[
            ("Speed to lead", speed),
            ("SLA breaches", sla),
            ("Assignments", assignments),
            ("Funnel", funnel),
        ],
    )


# --- files ----------------------------------------------------------------------------------------

DASHBOARDS = {"leadrelay-sre.json": sre, "leadrelay-sales.json": sales}


def render() -> dict[str, str]:
    """File name -> JSON text, exactly as checked in (sorted keys, two-space indent, final newline)."""
    encoder = JSONEncoder(sort_keys=True, indent=2, ensure_ascii=False)
    return {name: encoder.encode(build().build()) + "\n" for name, build in DASHBOARDS.items()}


def check(out_dir: Path = OUT_DIR) -> list[str]:
    """Differences between the generated and the checked-in dashboards, as unified diffs; empty if none."""
    problems = []
    expected = render()
    for name, text in expected.items():
        path = out_dir / name
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            problems.append("".join(difflib.unified_diff(
                current.splitlines(keepends=True), text.splitlines(keepends=True),
                fromfile=f"{path} (checked in)", tofile=f"{path} (generated)",
            )) or f"{path}: missing\n")
    for stale in sorted(set(p.name for p in out_dir.glob("*.json")) - expected.keys()):
        problems.append(f"{out_dir / stale}: not generated by {Path(__file__).name}; delete it\n")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the checked-in JSON differs")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        sys.stdout.write("".join(problems))
        if problems:
            print("dashboards are stale: run python deploy/grafana/dashboards.py", file=sys.stderr)
        return 1 if problems else 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (OUT_DIR / name).write_text(text, encoding="utf-8")
        print(OUT_DIR / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
