"""A policy's own unit tests: cases written by sales ops, run before a policy is applied.

A cases file is YAML::

    defaults:                        # optional; every case starts from these
      at: 2026-06-03T10:00           # naive times are in the policy's time zone
    cases:
      - name: a hot lead from Shanghai in manufacturing goes to the enterprise team, never to rep-x
        lead: {email: ceo@acme-example.cn, title: CEO, country: CN, region: Shanghai,
               industry: manufacturing, employees: 2000, source: web}
        expect: {team: enterprise, not_owner: [rep-x]}
      - name: on a holiday it waits in the fallback queue
        at: 2026-10-01T10:00
        lead: {email: li@example.cn, country: CN, region: Shanghai, source: web}
        roster: {rep-chen: {open: 300}}          # loads per rep: open, today, conversion_rate
        expect: {queue: smb-pool}

``lead`` takes the fields of the ``POST /v1/leads`` body, normalised as intake normalises
them, plus ``source`` (default ``web``), ``known_owner`` and ``returning`` (what dedup would
have learned about the person), and ``score`` / ``grade`` to override scoring. ``expect``
takes any of ``owner`` (``null``: nobody), ``owner_in``, ``not_owner``, ``queue``, ``rule``
(``null``: no rule applied), ``team`` (the owner's), ``grade``, ``score`` and ``via``;
every one given must hold. Pauses and absences come from the policy itself.

:func:`load_cases` parses the text (raising :class:`CasesError` with each problem's path);
:func:`run_cases` runs them. Pure: no I/O, no clock; a case without ``at`` runs at
:data:`DEFAULT_AT` in the policy's time zone, a Wednesday morning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from leadrelay.services.router.availability import RepLoad
from leadrelay.services.router.routing import RosterState, RoutingDecision, RoutingLead, decide_route
from leadrelay.services.scoring.scoring import ScoreResult, score_lead
from leadrelay.shared.events import LeadContact
from leadrelay.shared.identity import InvalidContact, country_code, normalise_email, normalise_phone
from leadrelay.shared.policy import Grade, Policy
from leadrelay.shared.policy.facts import lead_facts

__all__ = ["DEFAULT_AT", "Case", "CaseResult", "CasesError", "CasesFile", "load_cases", "run_cases"]

# A Wednesday in June, mid-morning: no holiday in China, the US, Japan or Europe.
DEFAULT_AT = "2026-06-03T10:00"


class CasesError(ValueError):
    """The cases file is invalid; ``problems`` holds one ``path: message`` line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CaseLead(LeadContact):
    """The lead of a case: the API body's fields, its source, and what scoring would know."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    source: str = "web"
    known_owner: str | None = None  # the rep dedup found owning this person already
    returning: bool | None = None  # default: true when known_owner is given
    score: int | None = None  # overrides scoring
    grade: Grade | None = None  # overrides the grade (default: the score's)


class CaseLoad(_Strict):
    open: int = Field(default=0, ge=0)
    today: int = Field(default=0, ge=0)
    conversion_rate: float | None = Field(default=None, ge=0, le=1)


class Expect(_Strict):
    owner: str | None = None
    owner_in: tuple[str, ...] = ()
    not_owner: tuple[str, ...] = ()
    queue: str | None = None
    rule: str | None = None
    team: str | None = None
    grade: Grade | None = None
    score: int | None = None
    via: Literal["strategy", "credit", "backup", "queue", "hold", "pool"] | None = None
    held_until: datetime | None = None  # held for the next shift until then (naive: the policy's zone)

    @field_validator("owner_in", "not_owner", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value


class Case(_Strict):
    name: str = Field(min_length=1)
    lead: CaseLead
    at: datetime | None = None  # naive: the policy's time zone
    roster: dict[str, CaseLoad] = Field(default_factory=dict)
    cursors: dict[str, int] = Field(default_factory=dict)
    credits: dict[str, int] = Field(default_factory=dict)
    expect: Expect


class Defaults(_Strict):
    at: datetime | None = None
    roster: dict[str, CaseLoad] = Field(default_factory=dict)


class CasesFile(_Strict):
    defaults: Defaults = Defaults()
    cases: tuple[Case, ...]


@dataclass(frozen=True)
class CaseResult:
    name: str
    passed: bool
    failures: list[str]  # one readable line per expectation that did not hold
    decision: RoutingDecision | None = None
    score: ScoreResult | None = None
    problems: list[str] = field(default_factory=list)  # the case could not run (a bad email, say)

    @property
    def explanation(self) -> str:
        """The decision as a manager reads it, with the score's reasons first."""
        lines = []
        if self.score is not None:
            reasons = ", ".join(f"{rule} {points:+d}" for rule, points in self.score.reasons) or "no scoring rule"
            lines.append(f"Score {self.score.score} ({self.score.grade}): {reasons}.")
        if self.decision is not None:
            lines.append(self.decision.explain())
        return "\n".join(lines)


# --- loading -----------------------------------------------------------------------------------


class _CasesLoader(yaml.SafeLoader):
    """YAML 1.1 reads ``NO`` (Norway) and ``off`` as booleans: only true/false are here."""


_CasesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_CasesLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_cases(text: str) -> CasesFile:
    """Parses a cases file. Returns it; raises CasesError listing every problem with its path."""
    try:
        data = yaml.load(text, Loader=_CasesLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise CasesError([f"{where}{getattr(exc, 'problem', None) or exc}"]) from None
    if isinstance(data, list):
        data = {"cases": data}
    if not isinstance(data, Mapping):
        raise CasesError(["a cases file is a mapping with a 'cases' list (or just the list)"])
    try:
        loaded = CasesFile.model_validate(data)
    except ValidationError as exc:
        raise CasesError([_problem(error) for error in exc.errors(include_url=False)]) from None
    if not loaded.cases:
        raise CasesError(["cases: the file has no cases"])
    return loaded


def _problem(error: Mapping[str, Any]) -> str:
    path = ""
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
    return f"{path or '(file)'}: {message}"


# --- running -----------------------------------------------------------------------------------


def run_cases(policy: Policy, cases: CasesFile | Sequence[Case]) -> list[CaseResult]:
    """Runs every case against ``policy``; one result per case, in order."""
    defaults = cases.defaults if isinstance(cases, CasesFile) else Defaults()
    listed = cases.cases if isinstance(cases, CasesFile) else cases
    return [run_case(policy, case, defaults) for case in listed]


def run_case(policy: Policy, case: Case, defaults: Defaults = Defaults()) -> CaseResult:  # noqa: B008 - frozen
    problems = _unknown_names(policy, case, defaults)
    try:
        facts = _facts(case.lead)
    except InvalidContact as exc:
        problems.append(f"lead.{exc.field}: {exc.reason}")
    if problems:
        return CaseResult(case.name, False, [f"the case cannot run: {problem}" for problem in problems], problems=problems)

    scored = score_lead(facts, policy.scoring)
    if case.lead.score is not None:
        scored = ScoreResult(case.lead.score, policy.scoring.grades.grade_for(case.lead.score), [])
    if case.lead.grade is not None:
        scored = ScoreResult(scored.score, case.lead.grade, scored.reasons)
    facts.update(score=scored.score, grade=scored.grade)

    at = _moment(case.at or defaults.at, policy)
    roster = RosterState(
        loads={
            rep: RepLoad(open=load.open, assigned_today=load.today, conversion_rate=load.conversion_rate)
            for rep, load in {**defaults.roster, **case.roster}.items()
        },
        cursors=case.cursors,
        credits=case.credits,
    )
    decision = decide_route(RoutingLead(f"case-{_slug(case.name)}", facts), policy, roster, at)
    failures = _failures(case.expect, decision, scored, policy)
    return CaseResult(case.name, not failures, failures, decision=decision, score=scored)


def _facts(lead: CaseLead) -> dict[str, Any]:
    """The lead's facts as intake, dedup and scoring would build them."""
    country = country_code(lead.country) if lead.country else None
    contact = LeadContact(
        email=normalise_email(lead.email) if lead.email else None,
        phone=normalise_phone(lead.phone, country) if lead.phone else None,
        country=country or lead.country,
        **lead.model_dump(
            include={
                "name", "company", "title", "region", "city", "industry", "employees", "language", "website",
                "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "consent", "attributes",
            }
        ),
    )
    returning = lead.returning if lead.returning is not None else lead.known_owner is not None
    return lead_facts(contact, lead.source, known_owner=lead.known_owner, returning=returning)


def _moment(at: datetime | None, policy: Policy) -> datetime:
    moment = at or datetime.fromisoformat(DEFAULT_AT)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo(policy.timezone))


def _unknown_names(policy: Policy, case: Case, defaults: Defaults) -> list[str]:
    """Rep and team names the case uses that the policy does not know: a typo would otherwise
    make ``not_owner`` pass for ever."""
    problems = []
    reps = set(policy.rep_ids)
    teams = {team.name for team in policy.teams}
    named = [("roster", rep) for rep in {**defaults.roster, **case.roster}]
    expect = case.expect
    named += [("expect.owner", expect.owner)] if expect.owner else []
    named += [("expect.owner_in", rep) for rep in expect.owner_in] + [("expect.not_owner", rep) for rep in expect.not_owner]
    for where, rep in named:
        if rep not in reps:
            problems.append(f"{where}: the policy has no rep {rep!r}")
    if expect.team is not None and expect.team not in teams:
        problems.append(f"expect.team: the policy has no team {expect.team!r}")
    rules = {rule.name for rule in policy.rules}
    if expect.rule is not None and expect.rule not in rules:
        problems.append(f"expect.rule: the policy has no rule {expect.rule!r}")
    return problems


def _failures(expect: Expect, decision: RoutingDecision, scored: ScoreResult, policy: Policy) -> list[str]:
    got_owner = decision.owner
    where = got_owner or f"queue {decision.queue!r}"
    failures = []
    given = expect.model_fields_set
    if "owner" in given and got_owner != expect.owner:
        wanted = expect.owner or "nobody (a queue)"
        failures.append(f"owner: expected {wanted}, got {where}")
    if expect.owner_in and got_owner not in expect.owner_in:
        failures.append(f"owner: expected one of {', '.join(expect.owner_in)}, got {where}")
    if got_owner is not None and got_owner in expect.not_owner:
        failures.append(f"owner: expected anyone but {', '.join(expect.not_owner)}, got {got_owner}")
    if expect.queue is not None and decision.queue != expect.queue:
        failures.append(f"queue: expected {expect.queue!r}, got {where}")
    if "rule" in given and decision.rule != expect.rule:
        failures.append(f"rule: expected {expect.rule or 'no rule'}, got {decision.rule or 'no rule (fallback)'}")
    if expect.team is not None:
        team = policy.rep(got_owner).team if got_owner else None
        if team != expect.team:
            got = f"{got_owner} of team {team}" if got_owner else where
            failures.append(f"team: expected an owner in {expect.team}, got {got}")
    if expect.grade is not None and scored.grade != expect.grade:
        failures.append(f"grade: expected {expect.grade}, got {scored.grade} (score {scored.score})")
    if expect.score is not None and scored.score != expect.score:
        failures.append(f"score: expected {expect.score}, got {scored.score}")
    if expect.via is not None and decision.via != expect.via:
        failures.append(f"via: expected {expect.via}, got {decision.via}")
    if expect.held_until is not None:
        wanted = _moment(expect.held_until, policy)
        if decision.held_until != wanted:
            got = decision.held_until.astimezone(wanted.tzinfo).isoformat() if decision.held_until else "not held"
            failures.append(f"held_until: expected {wanted.isoformat()}, got {got}")
    return failures


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")[:40] or "case"
