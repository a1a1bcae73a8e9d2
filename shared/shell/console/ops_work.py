"""What the sales-ops pages do, apart from drawing them: find leads, check, try and apply a policy,
roll it back, simulate it on real or uploaded leads, manage sources, redrive dead letters.

Each function takes the runtime's ports (the store, the settings, the clock's reading) and returns
plain data; ``ops_pages`` turns it into pages. They reuse what the CLI and the API use: the policy
lab (``shared/lab``), ``apply_policy`` / ``create_source`` / ``rotate_source_key`` of the
composition root, the API's masking of chat credentials, ``redrive``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from leadrelay.services.router.views import mask_secret, masked_paths, masked_policy
from leadrelay.shared.events import LeadContact
from leadrelay.shared.identity import InvalidContact, identity_keys, normalise_email, normalise_phone
from leadrelay.shared.lab.cases import CaseResult, CasesError, load_cases, run_cases
from leadrelay.shared.lab.diff import diff_policies
from leadrelay.shared.lab.locate import LocatedProblem, locate_problems
from leadrelay.shared.lab.simulation import SimLead, SimulationReport, simulate
from leadrelay.shared.policy import Policy, PolicyError, load_policy
from leadrelay.shared.policy.facts import lead_facts
from leadrelay.shared.ports import DeadLetterRecord, LeadRecord, PolicyVersionRecord, SourceRecord, Store
from leadrelay.shared.runtime import Runtime
from leadrelay.shared.shell.bootstrap import SourceExists, create_source, rotate_source_key
from leadrelay.shared.shell.redrive import redrive

# Real leads a simulation replays at most (the newest are dropped past it): a page answers in
# seconds, not minutes. The CLI replays files of any size.
MAX_SIMULATED_LEADS = 20_000
MAX_SIMULATION_DAYS = 90
# An uploaded file is read up to this many lines: below the size at which the CLI's reader
# prepares leads in worker processes, which a web server's request must not start.
MAX_UPLOADED_LINES = 19_999
SEARCH_LIMIT = 50


# --- lead search -------------------------------------------------------------------------------


class SearchInput(ValueError):
    """What was typed can't identify anyone; ``field`` names the box."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


async def find_leads(store: Store, salt: str, *, lead_id: str = "", email: str = "", phone: str = "",
                     country: str = "") -> list[LeadRecord]:
    """The leads with this id, or of the person with this email or phone (found by identity key,
    as dedup finds them: the address is never compared in the clear), newest first. Raises
    SearchInput for an email or phone that doesn't normalise."""
    lead_id, email, phone = lead_id.strip(), email.strip(), phone.strip()
    async with store.read() as uow:
        if lead_id:
            lead = await uow.leads.get(lead_id)
            return [lead] if lead is not None else []
        if not email and not phone:
            return []
        try:
            email_norm = normalise_email(email) if email else None
        except InvalidContact as exc:
            raise SearchInput("email", exc.reason) from None
        try:
            phone_norm = normalise_phone(phone, country.strip() or None) if phone else None
        except InvalidContact as exc:
            raise SearchInput("phone", exc.reason) from None
        keys = identity_keys(email_norm, phone_norm, "", None, salt)
        people = await uow.people.ids_for_keys(keys)
        return await uow.leads.of_persons(people, limit=SEARCH_LIMIT)


# --- the policy --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyCheck:
    policy: Policy | None
    problems: list[LocatedProblem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.policy is not None


def check_policy(text: str) -> PolicyCheck:
    """The policy, or every problem at its line."""
    try:
        return PolicyCheck(load_policy(text))
    except PolicyError as exc:
        return PolicyCheck(None, locate_problems(text, exc.problems))
    except RecursionError:  # the YAML parser recurses: a document nested thousands of levels deep
        return PolicyCheck(None, [LocatedProblem(None, "", "the document is nested too deeply")])


@dataclass(frozen=True)
class PolicyOverview:
    version: int | None
    masked_text: str  # the document as the editor shows it: chat credentials masked, as the API does
    policy: Policy | None
    versions: list[PolicyVersionRecord]


async def policy_overview(store: Store) -> PolicyOverview:
    async with store.read() as uow:
        current = await uow.policies.document()
        policy = await uow.policies.get(current[0]) if current is not None else None
        versions = await uow.policies.versions()
    if current is None or policy is None:
        return PolicyOverview(None, "", None, versions)
    return PolicyOverview(current[0], masked_policy(current[1], policy), policy, versions)


async def masked_version(store: Store, version: int) -> str | None:
    """A stored version's document, chat credentials masked; None when there is no such version."""
    async with store.read() as uow:
        found = await uow.policies.document(version)
        if found is None:
            return None
        return masked_policy(found[1], await uow.policies.get(version))


async def current_policy(store: Store) -> tuple[int, Policy] | None:
    async with store.read() as uow:
        return await uow.policies.current()


def _credentials(policy: Policy) -> dict[tuple[str, str, str], str]:
    """(section, person id, key) → value of every chat credential of the policy."""
    found = {}
    for section, people in (("reps", policy.reps), ("managers", policy.managers)):
        for person in people:
            if person.chat is None:
                continue
            found[(section, person.id, "webhook")] = person.chat.webhook
            if person.chat.secret:
                found[(section, person.id, "secret")] = person.chat.secret
    return found


def restore_masked(text: str, current: Policy | None) -> str:
    """The edited document with every credential still masked as the editor showed it put back
    to the value in force for that same person: the editor never holds a credential, and a
    person whose chat line was left alone keeps it. A masked value on someone else, or a
    new one, stays as typed (and ``apply`` refuses it)."""
    if current is None:
        return text
    real = _credentials(current)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return text
    if not isinstance(root, yaml.MappingNode):
        return text
    spans: dict[int, tuple[int, str]] = {}
    for section_key, section in root.value:
        if not (isinstance(section_key, yaml.ScalarNode) and section_key.value in ("reps", "managers")
                and isinstance(section, yaml.SequenceNode)):
            continue
        for person in section.value:
            if not isinstance(person, yaml.MappingNode):
                continue
            entries = {k.value: v for k, v in person.value if isinstance(k, yaml.ScalarNode)}
            person_id = entries.get("id")
            chat = entries.get("chat")
            if not isinstance(person_id, yaml.ScalarNode) or not isinstance(chat, yaml.MappingNode):
                continue
            for key, value in chat.value:
                if not (isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.ScalarNode)):
                    continue
                known = real.get((section_key.value, person_id.value, key.value))
                if known is not None and value.value == mask_secret(known) and value.value != known:
                    block = value.style in ("|", ">")
                    # A JSON string is a YAML double-quoted scalar.
                    spans[value.start_mark.index] = (value.end_mark.index,
                                                     json.dumps(known, ensure_ascii=False) + ("\n" if block else ""))
    for start in sorted(spans, reverse=True):
        end, replacement = spans[start]
        text = text[:start] + replacement + text[end:]
    return text


@dataclass(frozen=True)
class Applied:
    version: int | None = None
    created: bool = False
    problems: list[LocatedProblem] = field(default_factory=list)


async def apply_policy_text(runtime: Runtime, text: str, actor: str) -> Applied:
    """Stores the edited document as a new version (credentials restored as
    :func:`restore_masked` does), or says what is wrong with it at its line."""
    current = await current_policy(runtime.store)
    text = restore_masked(text, current[1] if current else None)
    check = check_policy(text)
    if check.policy is None:
        return Applied(problems=check.problems)
    if masked := masked_paths(check.policy, current[1] if current else None):
        return Applied(problems=locate_problems(text, [f"{path}: masked value: type the real one" for path in masked]))
    async with runtime.store.transaction() as uow:
        version, created = await uow.policies.store(text, actor)
    return Applied(version, created)


async def roll_back(runtime: Runtime, version: int, actor: str) -> Applied | None:
    """Applies an earlier version's document as a new version (so the history only grows);
    None when there is no such version."""
    async with runtime.store.transaction() as uow:
        found = await uow.policies.document(version)
        if found is None:
            return None
        new_version, created = await uow.policies.store(found[1], f"{actor} (rollback to v{version})")
    return Applied(new_version, created)


def policy_changes(current: Policy | None, proposed: Policy) -> list[str]:
    """What changes from the policy in force to the proposed one, in words."""
    return diff_policies(current, proposed) if current is not None else []


@dataclass(frozen=True)
class CasesRun:
    results: list[CaseResult] = field(default_factory=list)
    problems: list[LocatedProblem] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(result.passed for result in self.results)


def try_cases(policy: Policy, cases_text: str) -> CasesRun:
    """Runs the cases file against the policy, or says what is wrong with the file at its line."""
    try:
        cases = load_cases(cases_text)
    except CasesError as exc:
        return CasesRun(problems=locate_problems(cases_text, exc.problems))
    except RecursionError:
        return CasesRun(problems=[LocatedProblem(None, "", "the document is nested too deeply")])
    return CasesRun(results=run_cases(policy, cases))


# --- simulation --------------------------------------------------------------------------------


def sim_lead_of(lead: LeadRecord) -> SimLead | None:
    """A stored lead as the simulation replays it: its facts as intake built them, its time,
    its person. None for a stored contact that no longer reads as one."""
    try:
        contact = LeadContact.model_validate(lead.contact)
    except ValueError:
        return None
    return SimLead(facts=lead_facts(contact, lead.source), source=lead.source, received_at=lead.received_at,
                   lead_id=lead.lead_id, person=lead.person_id or lead.identity_key)


async def recent_leads(store: Store, now: datetime, days: int) -> tuple[list[SimLead], bool]:
    """The leads received in the last ``days`` days, oldest first, and whether there were more
    than :data:`MAX_SIMULATED_LEADS` (then only the oldest that many are replayed)."""
    async with store.read() as uow:
        records = await uow.leads.received_between(now - timedelta(days=days), now, MAX_SIMULATED_LEADS + 1)
    leads = [lead for lead in map(sim_lead_of, records[:MAX_SIMULATED_LEADS]) if lead is not None]
    return leads, len(records) > MAX_SIMULATED_LEADS


def uploaded_leads(data: bytes, filename: str, policy: Policy
                   ) -> tuple[list[SimLead], list[tuple[int, str]], bool]:
    """The leads of an uploaded .csv or .jsonl file, validated as intake would (a naive
    ``received_at`` is in the policy's time zone); the rows intake would refuse, with their line;
    whether the file was cut at :data:`MAX_UPLOADED_LINES` lines. CPU work: run it off the event loop."""
    from leadrelay.shared.shell.cli.simulation_io import count_lines, prepared_leads

    lines = data.split(b"\n", MAX_UPLOADED_LINES)
    truncated = len(lines) > MAX_UPLOADED_LINES and any(part.strip() for part in lines[MAX_UPLOADED_LINES:])
    if truncated:
        data = b"\n".join(lines[:MAX_UPLOADED_LINES]) + b"\n"
    suffix = ".csv" if filename.lower().endswith(".csv") else ".jsonl"
    rejected: list[tuple[int, str]] = []
    with tempfile.TemporaryDirectory(prefix="leadrelay-sim-") as folder:
        path = Path(folder) / f"leads{suffix}"
        path.write_bytes(data)
        leads = list(prepared_leads(path, count_lines(path), rejected, ZoneInfo(policy.timezone)))
    return leads, rejected, truncated


def run_simulation(proposed: Policy, current: Policy | None, leads: Sequence[SimLead],
                   start: datetime) -> SimulationReport:
    """The proposed policy replayed side by side with the one in force, on the same leads."""
    return simulate(proposed, leads, start=start, against=current, top=10)


# --- sources -----------------------------------------------------------------------------------


async def list_sources(store: Store) -> list[SourceRecord]:
    async with store.read() as uow:
        return await uow.sources.list()


async def add_source(runtime: Runtime, name: str, kind: str = "api") -> str | None:
    """A new source's key (shown once), or None when an active source has the name already."""
    try:
        return await create_source(runtime, name, kind)
    except SourceExists:
        return None


async def new_source_key(runtime: Runtime, name: str) -> str | None:
    return await rotate_source_key(runtime, name)


async def revoke_source(store: Store, name: str) -> bool:
    async with store.transaction() as uow:
        return await uow.sources.revoke(name)


# --- dead letters ------------------------------------------------------------------------------


async def dead_letters(store: Store, include_redriven: bool = False) -> list[DeadLetterRecord]:
    async with store.read() as uow:
        return await uow.inbox.dead_letters(include_redriven=include_redriven)


async def redrive_letters(store: Any, ids: Sequence[int] | None) -> int:
    """Sends the dead letters (all waiting ones when ``ids`` is None) back to their topic."""
    return await redrive(store, ids)
