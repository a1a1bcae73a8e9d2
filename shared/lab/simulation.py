"""Replaying leads through a policy before rollout: who would get what, and is it fair.

:func:`simulate` is pure: leads, a policy and a start time go in; a :class:`SimulationReport`
comes out. It scores each lead with the policy's scoring rules and routes it with the same
engine the live router uses (:func:`~leadrelay.services.router.routing.route_lead`), against an
in-memory roster that moves as the live one does:

- rotation cursors and fairness credits change by each decision's ``cursor_updates`` and
  ``credit_updates``;
- an assignment adds one open lead and one lead today to its owner; "today" rolls over at
  midnight in the policy's time zone, as the live daily caps do;
- **handling model**: every assigned lead is closed ``close_after`` after it was assigned
  (default two days; ``None`` keeps every lead open), so open loads stay realistic instead
  of growing for ever;
- a returning person (same ``SimLead.person`` as an earlier lead) carries the owner the
  earlier lead got as ``known_owner``, and ``returning`` is true, as scoring sets them live;
- reps have no conversion track record, so ``performance_weighted`` weighs them all at the floor.

Time: a lead arrives at its ``received_at``; a lead without one arrives ``spacing`` after the
lead before it (the first at ``start``). Leads are replayed in the order given, and time never
runs backwards: a lead stamped earlier than the one before it is taken to arrive with it.

What the report counts, per policy:

- **received** per rep and team, and **share** of the assigned leads;
- **fair share**: every assigned lead is split equally among the reps who covered it (the
  ring of the deciding rule's pool: right team, seniority, territory, industry, language),
  whether or not they were available; a rep's fair share is the sum of those splits over the
  assigned leads. ``vs_fair`` is received / fair share (1.0 is exactly fair). A rep nobody's
  leads ever reached has a fair share of 0 and is left out of the ratios;
- **max/min ratio** of leads received among the reps with a fair share (None when one of
  them received nothing) and the **Gini coefficient** of those counts (0 equal, towards 1
  concentrated on few reps);
- **capacity breaches**: assignments to a rep already at their open or daily cap, and
  **off-hours assignments**: to a rep off shift (or paused, or away). The engine never does
  either; the counts are a safety check and should be zero;
- **SLA risk**: assigned leads whose first-touch deadline (``sla.first_touch`` for the lead's
  grade, counted from the assignment on the policy's SLA clock as the live clocks count it:
  wall time, or open time of the business calendar in the owner's zone) falls when the owner
  is off shift or away (in the minute before it): first touch is projected late unless they
  work outside their hours. A hot lead given to a rep ten minutes before their shift ends, on
  a wall clock; a rep whose own hours end before the company's, on the business clock. A rep
  on shift round the clock is never at risk, nor is one who works the company's business hours
  when the SLA runs on them;
- **unassigned** leads by queue, **rule hits** (``(no rule)``: the fallback), how the
  owner was found (``via``) and the grades;
- with ``against`` (the policy in force today): how many leads change owner and the most
  common moves, ``old -> new`` (a queue is shown as ``[queue]``).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from leadrelay.services.router.availability import (
    IDLE,
    RepLoad,
    open_until,
    profile_of,
    week_table,
    why_unavailable_of,
)
from leadrelay.services.router.business_hours import BusinessCalendar, add_business_time, next_open
from leadrelay.services.router.clocks import as_target, owner_calendar
from leadrelay.services.router.routing import RosterState, RoutingLead, route_lead
from leadrelay.shared.policy import Policy, Rep

__all__ = [
    "DEFAULT_CLOSE_AFTER",
    "OwnerChanges",
    "PolicyRun",
    "RepStats",
    "SimLead",
    "SimulationReport",
    "TeamStats",
    "gini",
    "simulate",
]

DEFAULT_CLOSE_AFTER = timedelta(days=2)
_UNSEEN: Any = object()
_NEVER = datetime.max.replace(tzinfo=UTC)
# A first touch is late when the owner is not at work in the minute before the deadline.
_LAST_MINUTE = timedelta(minutes=1)
NO_RULE = "(no rule)"
# How often the progress callback hears of the leads done: often enough for a smooth bar,
# rarely enough to cost nothing.
PROGRESS_EVERY = 2_000



def held_label(via: str) -> str:
    """Where a lead with no owner and no queue waits: held for the next shift (``after_hours:
    hold``; the simulation does not replay its routing at shift start)."""
    return "(held)" if via == "hold" else ""

@dataclass(frozen=True, slots=True)
class SimLead:
    """One lead to replay. ``facts`` are a lead's facts as intake and scoring build them
    (:func:`leadrelay.shared.policy.facts.lead_facts`: contact fields, ``source``, ``email_domain``,
    ``free_email``); ``score``, ``grade``, ``known_owner`` and ``returning`` are added by the
    simulation. ``person`` identifies the person across leads (normalised email, else phone);
    by default the facts' email, else phone."""

    facts: Mapping[str, Any]
    source: str = ""
    received_at: datetime | None = None
    lead_id: str = ""
    person: str | None = None


@dataclass(frozen=True)
class RepStats:
    rep: str
    team: str
    received: int
    share: float  # of the assigned leads
    fair_share: float  # of the assigned leads
    vs_fair: float | None  # received / fair; None when the fair share is 0
    capacity_breaches: int
    off_hours: int
    sla_at_risk: int


@dataclass(frozen=True)
class TeamStats:
    team: str
    received: int
    share: float
    fair_share: float


@dataclass(frozen=True)
class PolicyRun:
    """What one policy did with the leads."""

    leads: int
    assigned: int
    reps: list[RepStats]
    teams: list[TeamStats]
    unassigned: dict[str, int]  # queue -> leads
    rule_hits: dict[str, int]  # rule (or NO_RULE) -> leads
    via: dict[str, int]  # strategy | credit | backup | queue -> leads
    grades: dict[str, int]
    max_min_ratio: float | None
    gini: float
    capacity_breaches: int
    off_hours_assignments: int
    sla_at_risk: int

    @property
    def unassigned_total(self) -> int:
        return sum(self.unassigned.values())


@dataclass(frozen=True)
class OwnerChanges:
    """How the simulated policy's owners differ from those of the policy ``against``."""

    changed: int
    moves: list[tuple[str, str, int]]  # (old owner or [queue], new owner or [queue], leads), most first


@dataclass(frozen=True)
class SimulationReport:
    leads: int
    first_at: datetime | None
    last_at: datetime | None
    close_after: timedelta | None
    run: PolicyRun
    baseline: PolicyRun | None = None  # the ``against`` policy's run
    changes: OwnerChanges | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (datetimes as ISO 8601, durations in seconds)."""
        data = asdict(self)
        data["first_at"] = self.first_at.isoformat() if self.first_at else None
        data["last_at"] = self.last_at.isoformat() if self.last_at else None
        data["close_after"] = self.close_after.total_seconds() if self.close_after else None
        for run in ("run", "baseline"):
            if data[run] is not None:
                data[run]["unassigned_total"] = getattr(self, run).unassigned_total
        if self.changes is not None:
            data["changes"]["moves"] = [
                {"from": old, "to": new, "leads": count} for old, new, count in self.changes.moves
            ]
        return data


def gini(values: Iterable[float]) -> float:
    """The Gini coefficient of non-negative values: 0 when all are equal, towards 1 when one
    holds everything; 0 for no values or an all-zero list."""
    ordered = sorted(values)
    total = sum(ordered)
    count = len(ordered)
    if count == 0 or total <= 0:
        return 0.0
    weighted = sum((position + 1) * value for position, value in enumerate(ordered))
    return (2 * weighted) / (count * total) - (count + 1) / count


def simulate(
    policy: Policy,
    leads: Iterable[SimLead],
    *,
    start: datetime | None = None,
    spacing: timedelta = timedelta(minutes=1),
    against: Policy | None = None,
    close_after: timedelta | None = DEFAULT_CLOSE_AFTER,
    top: int = 10,
    progress: Callable[[int], None] | None = None,
) -> SimulationReport:
    """Replays ``leads`` through ``policy`` (and ``against``, when given, on its own roster).
    Returns the report. Raises ValueError when a lead has no ``received_at`` and no
    ``start`` is given, or ``start`` is naive. ``progress`` is told the number of leads done
    every few thousand leads and at the end."""
    if start is not None and (start.tzinfo is None or start.utcoffset() is None):
        raise ValueError("start must be timezone-aware")
    replay = _Replay(policy, close_after)
    baseline = _Replay(against, close_after) if against is not None else None
    moves: Counter[tuple[str, str]] = Counter()
    now: datetime | None = None
    first_at: datetime | None = None
    count = 0
    for lead in leads:
        at = lead.received_at
        if at is None:
            if now is None:
                if start is None:
                    raise ValueError("a lead has no received_at: give a start time")
                at = start.astimezone(UTC)
            else:
                at = now + spacing
        elif at.tzinfo is not UTC:
            if at.tzinfo is None or at.utcoffset() is None:
                raise ValueError(f"lead {lead.lead_id or count + 1}: received_at must be timezone-aware")
            # One zone for every instant: datetimes sharing a tzinfo compare without asking it
            # for offsets, and the replay compares instants many times per lead.
            at = at.astimezone(UTC)
        if now is not None and at < now:
            at = now
        now = at
        if first_at is None:
            first_at = at
        count += 1
        lead_id = lead.lead_id  # only an explanation would show it, and none is written
        person = lead.person
        if person is None:
            person = lead.facts.get("email") or lead.facts.get("phone") or None
        new = replay.route(lead, lead_id, person, at)
        if baseline is not None:
            old = baseline.route(lead, lead_id, person, at)
            if old != new:
                moves[(old, new)] += 1
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
    if progress is not None:
        progress(count)
    changes = None
    if baseline is not None:
        changes = OwnerChanges(
            changed=sum(moves.values()),
            moves=[(old, new, leads) for (old, new), leads in moves.most_common(top)],
        )
    return SimulationReport(
        leads=count,
        first_at=first_at,
        last_at=now,
        close_after=close_after,
        run=replay.report(),
        baseline=baseline.report() if baseline is not None else None,
        changes=changes,
    )


class _Replay:
    """One policy's roster and tallies over the replay."""

    def __init__(self, policy: Policy, close_after: timedelta | None) -> None:
        self.policy = policy
        self.scoring = policy.scoring
        # Scoring as score_lead does it, without its reasons: (points, compiled check) per rule.
        self.score_rules = tuple((rule.points, rule.when.matches) for rule in policy.scoring.rules)
        self.hot = policy.scoring.grades.hot
        self.warm = policy.scoring.grades.warm
        self.first_touch = {grade: policy.sla.first_touch_for(grade) for grade in ("hot", "warm", "cold")}
        self.reps: dict[str, Rep] = {rep.id: rep for rep in policy.reps}
        self.close_after = close_after
        self.tz = ZoneInfo(policy.timezone)
        self.loads: dict[str, RepLoad] = {}
        self.cursors: dict[str, int] = {}
        self.credits: dict[str, int] = {}
        # The engine reads the roster through these very dicts, which change as we go.
        self.roster = RosterState(loads=self.loads, cursors=self.cursors, credits=self.credits)
        self.closing: deque[tuple[datetime, str]] = deque()  # (closes at, rep), in time order
        self.next_midnight = datetime.min.replace(tzinfo=UTC)  # the first lead starts the first day
        self.owners: dict[str, str | None] = {}  # person -> owner of their latest lead
        self.clocks: dict[tuple[str, str], Any] = {}  # (rep, grade) -> _clock(), worked out once
        self.profiles: dict[str, Any] = {}  # rep -> availability profile, worked out once
        self.shapes: dict[str, tuple[bool, bool]] = {}  # rep -> _shape(), worked out once
        # rep -> (valid until, this opening's start and end, the next opening's start and end)
        self.openings: dict[str, tuple[datetime, datetime, datetime, datetime, datetime]] = {}
        # One tally per kind of outcome, (rule, via, grade, owner, queue): one count per lead,
        # and every breakdown of the report is summed from it at the end.
        self.outcomes: Counter[tuple[str | None, str, str, str | None, str | None]] = Counter()
        self.fair: dict[str, float] = {rep_id: 0.0 for rep_id in self.reps}
        self.breaches: Counter[str] = Counter()
        self.off_hours: Counter[str] = Counter()
        self.at_risk: Counter[str] = Counter()

    def route(self, lead: SimLead, lead_id: str, person: str | None, now: datetime) -> str:
        """Scores and routes one lead at ``now`` and applies the decision. Returns the owner,
        or the queue as ``[queue]``."""
        closing = self.closing
        if (closing and closing[0][0] <= now) or now >= self.next_midnight:
            self._advance(now)
        facts = dict(lead.facts)
        owners = self.owners
        if person is not None:
            known = owners.get(person, _UNSEEN)
            if known is _UNSEEN:
                facts["returning"] = False
                facts["known_owner"] = None
            else:
                facts["returning"] = True
                facts["known_owner"] = known
        else:
            facts["returning"] = False
            facts["known_owner"] = None
        score = 0
        for points, check in self.score_rules:
            if check(facts):
                score += points
        facts["score"] = score
        facts["grade"] = grade = "hot" if score >= self.hot else "warm" if score >= self.warm else "cold"
        outcome = route_lead(RoutingLead(lead_id, facts), self.policy, self.roster, now)

        owner = outcome.owner
        self.outcomes[(outcome.rule, outcome.via, grade, owner, outcome.queue)] += 1
        cursor_updates = outcome.cursor_updates
        if cursor_updates:
            self.cursors.update(cursor_updates)
        credit_updates = outcome.credit_updates
        if credit_updates:
            credits = self.credits
            for rep_id, delta in credit_updates.items():
                credits[rep_id] = credits.get(rep_id, 0) + delta
        if person is not None and (owner is not None or known is _UNSEEN):
            # Live, a person keeps the owner they had when a later lead of theirs is queued.
            owners[person] = owner
        if owner is None:
            return f"[{outcome.queue or held_label(outcome.via)}]"
        self._assign(owner, outcome.eligible, grade, now)
        return owner

    def _assign(self, owner: str, eligible: tuple[str, ...], grade: str, now: datetime) -> None:
        rep = self.reps[owner]
        load = self.loads.get(owner)
        if load is None:
            load = RepLoad()
        cap = rep.capacity
        if (cap.open is not None and load.open >= cap.open) or (
            cap.per_day is not None and load.assigned_today >= cap.per_day
        ):
            self.breaches[owner] += 1
        self.loads[owner] = RepLoad(load.open + 1, load.assigned_today + 1, None, now)
        if self.close_after is not None:
            self.closing.append((now + self.close_after, owner))
        if eligible:
            split = 1.0 / len(eligible)
            fair = self.fair
            for rep_id in eligible:
                fair[rep_id] += split
        always_on, on_calendar = self._shape(rep)
        if always_on:
            return  # on shift round the clock: never off hours, never late for want of hours
        profile = self.profiles.get(owner)
        if profile is None:
            profile = self.profiles[owner] = profile_of(rep, self.policy)
        if why_unavailable_of(profile, IDLE, now) is not None:
            self.off_hours[owner] += 1  # the engine never does this: a safety check
        clock = self.clocks.get((owner, grade), _UNSEEN)
        if clock is _UNSEEN:
            clock = self.clocks[(owner, grade)] = self._clock(rep, grade)
        if clock is None or (on_calendar and clock[0] is not None):
            # No clock; or a business clock on the very calendar the owner works to, so its
            # deadlines fall in the owner's hours.
            return
        due = self._first_touch_due(rep, now, *clock)
        if why_unavailable_of(profile, IDLE, due - _LAST_MINUTE) is not None:
            self.at_risk[owner] += 1

    def _shape(self, rep: Rep) -> tuple[bool, bool]:
        """(the rep is on shift round the clock, the rep works the company's business hours),
        both with no absences; worked out once per rep."""
        shape = self.shapes.get(rep.id)
        if shape is None:
            plain = not rep.out_of_office and not rep.paused
            hours = rep.working_hours
            always = plain and hours is not None and all(week_table(hours))
            shape = self.shapes[rep.id] = (always, plain and hours is None)
        return shape

    def _clock(self, rep: Rep, grade: str) -> tuple[BusinessCalendar | None, timedelta] | None:
        """The owner's first-touch clock for a grade: (business calendar or None for the wall
        clock, target as open time); None when the grade has no first-touch clock."""
        target = self.first_touch[grade]
        if target is None:
            return None
        calendar = owner_calendar(self.policy, rep)
        return calendar, as_target(target, calendar)

    def _first_touch_due(
        self, rep: Rep, now: datetime, calendar: BusinessCalendar | None, target: timedelta
    ) -> datetime:
        """When the first-touch clock of a lead assigned now falls due, as the live SLA clocks
        count it: wall time, or open time of the business calendar in the owner's zone (whole
        days there being business days)."""
        if calendar is None:
            return now + target
        opening = self.openings.get(rep.id)
        if opening is None or not now < opening[0]:
            opening = self.openings[rep.id] = _opening(calendar, now)
        _, opens, closes, next_opens, next_closes = opening
        # The clock counts open time from the first open instant at or after ``now`` (which
        # is ``opens``); within one opening, open time is wall time.
        start = max(now, opens)
        if start + target <= closes:
            return start + target
        left = target - (closes - start)
        if left <= next_closes - next_opens:
            return next_opens + left
        return add_business_time(calendar, now, target)

    def _advance(self, now: datetime) -> None:
        """Closes the leads due by ``now`` and starts a new day at the policy's midnight."""
        closing = self.closing
        loads = self.loads
        while closing and closing[0][0] <= now:
            _, rep_id = closing.popleft()
            load = loads[rep_id]
            loads[rep_id] = RepLoad(load.open - 1, load.assigned_today, None, load.last_assigned_at)
        if now >= self.next_midnight:
            today = now.astimezone(self.tz).date()
            tomorrow = today + timedelta(days=1)
            self.next_midnight = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=self.tz).astimezone(UTC)
            for rep_id, load in list(loads.items()):
                if load.assigned_today:
                    loads[rep_id] = RepLoad(load.open, 0, None, load.last_assigned_at)

    def report(self) -> PolicyRun:
        received: Counter[str] = Counter()
        unassigned: Counter[str] = Counter()
        rule_hits: Counter[str] = Counter()
        via: Counter[str] = Counter()
        grades: Counter[str] = Counter()
        for (rule, how, grade, owner, queue), leads in self.outcomes.items():
            rule_hits[rule or NO_RULE] += leads
            via[how] += leads
            grades[grade] += leads
            if owner is None:
                unassigned[queue or held_label(how)] += leads
            else:
                received[owner] += leads
        assigned = sum(received.values())
        reps = []
        for rep_id in sorted(self.reps):
            received_by_rep = received[rep_id]
            fair = self.fair[rep_id]
            reps.append(
                RepStats(
                    rep=rep_id,
                    team=self.reps[rep_id].team,
                    received=received_by_rep,
                    share=received_by_rep / assigned if assigned else 0.0,
                    fair_share=fair / assigned if assigned else 0.0,
                    vs_fair=round(received_by_rep / fair, 4) if fair > 0 else None,
                    capacity_breaches=self.breaches[rep_id],
                    off_hours=self.off_hours[rep_id],
                    sla_at_risk=self.at_risk[rep_id],
                )
            )
        teams = []
        for team in sorted({rep.team for rep in self.reps.values()}):
            members = [stats for stats in reps if stats.team == team]
            teams.append(
                TeamStats(
                    team=team,
                    received=sum(stats.received for stats in members),
                    share=sum(stats.share for stats in members),
                    fair_share=sum(stats.fair_share for stats in members),
                )
            )
        counted = [stats.received for stats in reps if stats.fair_share > 0]
        ratio = None
        if counted and min(counted) > 0:
            ratio = round(max(counted) / min(counted), 4)
        return PolicyRun(
            leads=sum(self.outcomes.values()),
            assigned=assigned,
            reps=reps,
            teams=teams,
            unassigned=dict(unassigned.most_common()),
            rule_hits=dict(rule_hits.most_common()),
            via=dict(via.most_common()),
            grades=dict(grades.most_common()),
            max_min_ratio=ratio,
            gini=round(gini(counted), 4),
            capacity_breaches=sum(self.breaches.values()),
            off_hours_assignments=sum(self.off_hours.values()),
            sla_at_risk=sum(self.at_risk.values()),
        )


def _opening(calendar: BusinessCalendar, now: datetime) -> tuple[datetime, datetime, datetime, datetime, datetime]:
    """The business calendar around ``now``: (the instant this answer stops holding, the
    current or next opening's start and end, the following opening's start and end), UTC.
    A calendar open for over a week counts as never closing."""
    opens = next_open(calendar, now)
    closes = open_until(calendar, opens) or _NEVER
    if closes is _NEVER:
        return _NEVER, opens, _NEVER, _NEVER, _NEVER
    following = next_open(calendar, closes)
    following_closes = open_until(calendar, following) or _NEVER
    # While closed, the answer holds until the opening; while open, until the closing.
    until = opens if now < opens else closes
    return until, opens, closes.astimezone(UTC), following, following_closes.astimezone(UTC)
