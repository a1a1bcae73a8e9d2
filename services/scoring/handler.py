"""The scoring consumer: merge a received lead into the person we know, score it, qualify it."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, ClassVar, Protocol

from leadrelay.services.scoring.dedup import PersonRecord, merge_person
from leadrelay.services.scoring.matching import CANDIDATES_PER_KEY, Match, blocking_keys, compare, profile
from leadrelay.services.scoring.scoring import score_lead
from leadrelay.shared.clock import Clock
from leadrelay.shared.events import Contract, Envelope, LeadQualified, LeadReceived, ScoreReason, new_id
from leadrelay.shared.metrics import Metrics
from leadrelay.shared.policy.facts import lead_facts
from leadrelay.shared.ports import (
    DuplicatePair,
    LeadRepository,
    MatchRepository,
    Outbox,
    PersonMerge,
    PersonRepository,
    PolicyRepository,
    RetryLater,
    StoredPerson,
    Transaction,
)
from leadrelay.shared.tracing import annotate

log = logging.getLogger(__name__)

_PERSON_COLUMNS = {"person_id", "owner", "lead_count", "first_seen_at", "last_seen_at"}


class NoPolicy(RetryLater):
    """No routing policy has been applied yet; leads wait (are retried) until one is."""


class ScoringWork(Transaction, Protocol):
    """What scoring touches in a unit of work."""

    leads: LeadRepository
    people: PersonRepository
    matches: MatchRepository
    policies: PolicyRepository
    outbox: Outbox


def person_from_row(row: StoredPerson, keys: tuple[str, ...]) -> PersonRecord:
    data = dict(row.data)
    return PersonRecord(
        person_id=row.person_id, identity_keys=keys, owner=row.owner, lead_count=row.lead_count,
        first_seen_at=row.first_seen_at, last_seen_at=row.last_seen_at,
        last_lead_id=data.pop("last_lead_id", ""), **{k: v for k, v in data.items() if k != "identity_keys"},
    )


def person_snapshot(person: PersonRecord) -> dict[str, Any]:
    """Everything of a person's record, as JSON: what an undone merge restores."""
    return {"data": person_data(person), "owner": person.owner, "lead_count": person.lead_count,
            "first_seen_at": person.first_seen_at.isoformat(), "last_seen_at": person.last_seen_at.isoformat()}


def person_data(person: PersonRecord) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(person).items() if k not in _PERSON_COLUMNS | {"identity_keys"}}


class ScoringHandler:
    name: ClassVar[str] = "scoring"
    events: ClassVar[tuple[type[Contract], ...]] = (LeadReceived,)

    def __init__(self, metrics: Metrics, clock: Clock) -> None:
        self.metrics = metrics
        self.clock = clock

    async def __call__(self, lead: LeadReceived, envelope: Envelope, uow: ScoringWork) -> None:
        if await uow.leads.get(lead.lead_id) is not None:
            return  # the same lead under a new event id (a re-published idempotent post)
        current = await uow.policies.current()
        if current is None:
            raise NoPolicy("no policy applied")
        version, policy = current
        now = self.clock()
        contact = lead.contact
        # Every key, not just the partition key: a returning person with the same phone but a
        # new email must still be found.
        keys = tuple(lead.identity_keys)
        existing = await self._known_person(uow, keys)
        lead_profile = profile(contact.name, contact.company)
        match_keys = blocking_keys(lead_profile)
        fuzzy: tuple[PersonRecord, Match] | None = None
        if existing is None and match_keys:
            fuzzy = await self._likely_person(uow, lead_profile, match_keys, keys)
            if fuzzy is not None and fuzzy[1].verdict == "merge":
                existing = fuzzy[0]
        merged = merge_person(existing, contact, lead_id=lead.lead_id, keys=keys, person_id_if_new=new_id(),
                              at=lead.received_at)
        person = merged.person
        await uow.people.save(
            person.person_id, person_data(person), person.owner, person.lead_count, person.first_seen_at,
            person.last_seen_at, person.identity_keys, new=merged.is_new,
        )
        await uow.matches.link(person.person_id, match_keys, lead.received_at)
        matched = await self._record_match(uow, fuzzy, person.person_id, lead.lead_id, keys, now)
        known_owner = None if merged.is_new else person.owner
        facts = lead_facts(contact, lead.source, known_owner=known_owner, returning=not merged.is_new)
        result = score_lead(facts, policy.scoring)
        reasons = [ScoreReason(rule=name, points=points) for name, points in result.reasons]
        duplicate_of = None if merged.is_new else (existing.last_lead_id if existing else None)
        await uow.leads.insert(
            lead_id=lead.lead_id, person_id=person.person_id, source=lead.source, identity_key=envelope.key,
            correlation_id=envelope.correlation_id, received_at=lead.received_at,
            contact=contact.model_dump(mode="json"), score=result.score, grade=result.grade,
            reasons=[r.model_dump() for r in reasons], duplicate_of=duplicate_of, state="qualified",
            policy_version=version,
        )
        await uow.leads.add_history_many([
            {"lead_id": lead.lead_id, "at": lead.received_at, "kind": "received", "detail": {"source": lead.source}},
            {"lead_id": lead.lead_id, "at": now, "kind": "scored", "detail": {
                "score": result.score, "grade": result.grade, "reasons": [r.model_dump() for r in reasons],
                "policy_version": version, "merged_into_person": not merged.is_new,
                "changed_fields": list(merged.changed_fields), **({"match": matched} if matched else {})}},
        ])
        qualified = LeadQualified(
            lead_id=lead.lead_id, person_id=person.person_id, source=lead.source, received_at=lead.received_at,
            contact=contact, score=result.score, grade=result.grade, reasons=reasons, duplicate_of=duplicate_of,
            known_owner=known_owner, policy_version=version,
        )
        await uow.outbox.emit(Envelope.wrap(qualified, source="leadrelay/scoring", subject=lead.lead_id,
                                     key=envelope.key, correlation_id=envelope.correlation_id, time=now))
        grade = result.grade
        annotate(source=lead.source, grade=grade, score=result.score, policy_version=version,
                 merged=not merged.is_new)
        uow.after_commit(lambda: self._observe(grade, not merged.is_new))

    def _observe(self, grade: str, merged: bool) -> None:
        self.metrics.leads_qualified.labels(grade).inc()
        if merged:
            self.metrics.duplicates_merged.inc()

    async def _likely_person(self, uow: ScoringWork, lead_profile: Any, match_keys: tuple[str, ...],
                             keys: tuple[str, ...]) -> tuple[PersonRecord, Match] | None:
        """The known person this lead most likely is (by name and company), with how sure we are;
        None when nobody is alike enough even to review."""
        best: tuple[PersonRecord, Match] | None = None
        candidates = await uow.matches.candidates(match_keys, CANDIDATES_PER_KEY)
        rows = await uow.people.get_many(candidates)
        keys_of = await uow.people.keys_of_many(candidates)
        for person_id in candidates:
            if person_id not in rows:
                continue
            known = person_from_row(rows[person_id], tuple(keys_of.get(person_id, ())))
            match = compare(profile(known.name, known.company), known.identity_keys, lead_profile, keys)
            if match.verdict != "apart" and (best is None or match.score > best[1].score):
                best = (known, match)
        if best is not None and best[1].verdict == "merge":
            row = await uow.people.get(best[0].person_id, lock=True)  # merged into: locked like an exact match
            if row is None:
                return None
            best = (person_from_row(row, best[0].identity_keys), best[1])
        return best

    async def _record_match(self, uow: ScoringWork, fuzzy: tuple[PersonRecord, Match] | None, person_id: str,
                            lead_id: str, keys: tuple[str, ...], now: Any) -> dict[str, Any] | None:
        """Writes down what fuzzy matching did: a merge (undoable: what moved and the person before)
        or a pair for a person to review. Returns it for the lead's history."""
        if fuzzy is None:
            return None
        known, match = fuzzy
        if match.verdict == "merge":
            merge_id = new_id()
            await uow.matches.record_merge(PersonMerge(
                merge_id=merge_id, person_id=person_id, from_person_id=None, lead_ids=[lead_id],
                identity_keys=[key for key in keys if key not in known.identity_keys],
                person_before={"kept": person_snapshot(known)}, kind="auto", score=match.score,
                reasons=list(match.reasons), merged_at=now, merged_by="scoring"))
            return {"verdict": "merge", "merge_id": merge_id, "person_id": known.person_id, "score": match.score,
                    "reasons": list(match.reasons)}
        pair_id = new_id()
        await uow.matches.add_pair(DuplicatePair(
            pair_id=pair_id, person_id=known.person_id, other_person_id=person_id, lead_id=lead_id,
            score=match.score, reasons=list(match.reasons), state="open", created_at=now))
        return {"verdict": "review", "pair_id": pair_id, "person_id": known.person_id, "score": match.score,
                "reasons": list(match.reasons)}

    async def _known_person(self, uow: ScoringWork, keys: tuple[str, ...]) -> PersonRecord | None:
        person_ids = await uow.people.ids_for_keys(keys)
        if not person_ids:
            return None
        # Two people already known (one by email, one by phone) and this lead links them: we
        # merge into the oldest id and leave the other record in place; a merge of the two
        # records is an operator's decision, not an automatic one.
        row = await uow.people.get(person_ids[0], lock=True)
        return person_from_row(row, tuple(keys)) if row else None

