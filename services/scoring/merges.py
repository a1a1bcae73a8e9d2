"""Merging people by hand, keeping them apart, and undoing a merge: the use cases behind the
duplicates review list (``api.py`` routes to them; the console can call them too).

Guarantees:
- Each use case is one transaction: keys, leads and both people records move together or not at
  all, and the merge record says exactly what moved, so an undo puts it back.
- A pair is decided once (of two concurrent decisions, the second is refused with 409), a merge
  is undone once.
- An undo restores the kept person's record as it was before the merge when no lead has come to
  them since; otherwise it keeps their newer record and only takes back what the merge brought
  (its keys, its leads and their count).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from leadrelay.services.scoring.dedup import CONTACT_FIELDS
from leadrelay.services.scoring.matching import blocking_keys, profile
from leadrelay.shared.clock import Clock
from leadrelay.shared.erasure import is_erased
from leadrelay.shared.events import new_id
from leadrelay.shared.ports import (
    DuplicatePair,
    LeadRepository,
    MatchRepository,
    PersonMerge,
    PersonRepository,
    Store,
    StoredPerson,
    Transaction,
)
from leadrelay.shared.problems import Conflict, NotFound


class MergeWork(Transaction, Protocol):
    people: PersonRepository
    matches: MatchRepository
    leads: LeadRepository


@dataclass(frozen=True)
class PairDecided:
    pair: DuplicatePair
    merge: PersonMerge | None  # the merge a "merge" decision made


def snapshot(person: StoredPerson) -> dict[str, Any]:
    return {"data": person.data, "owner": person.owner, "lead_count": person.lead_count,
            "first_seen_at": person.first_seen_at.isoformat(), "last_seen_at": person.last_seen_at.isoformat()}


async def _open_pair(uow: MergeWork, pair_id: str) -> DuplicatePair:
    pair = await uow.matches.pair(pair_id)
    if pair is None:
        raise NotFound(f"No duplicate pair {pair_id}.")
    if pair.state != "open":
        raise Conflict(f"This pair was decided already ({pair.state}).",
                       errors=[{"field": "pair_id", "reason": f"already {pair.state}"}])
    return pair


async def keep_apart(store: Store, clock: Clock, pair_id: str, by: str) -> PairDecided:
    async with store.transaction() as uow:
        pair = await _open_pair(uow, pair_id)
        if not await uow.matches.decide(pair_id, "kept_apart", clock(), by):
            raise Conflict("This pair was decided meanwhile.", errors=[{"field": "pair_id", "reason": "decided"}])
        return PairDecided(await uow.matches.pair(pair_id) or pair, None)


async def merge_pair(store: Store, clock: Clock, pair_id: str, by: str) -> PairDecided:
    """Merges the pair's newer person into the one known before: their keys, their leads, their
    fields where the kept person has none, their counts and first/last seen."""
    async with store.transaction() as uow:
        pair = await _open_pair(uow, pair_id)
        now = clock()
        kept_id, gone_id = pair.person_id, pair.other_person_id
        # Locked in id order, like every other multi-person write: two merges never deadlock.
        rows = {pid: await uow.people.get(pid, lock=True) for pid in sorted((kept_id, gone_id))}
        kept, gone = rows[kept_id], rows[gone_id]
        if kept is None or gone is None:
            raise Conflict("One of the two people is no longer there (merged or erased).",
                           errors=[{"field": "pair_id", "reason": "person gone"}])
        if not await uow.matches.decide(pair_id, "merged", now, by):
            raise Conflict("This pair was decided meanwhile.", errors=[{"field": "pair_id", "reason": "decided"}])
        moved_keys = await uow.people.keys_of(gone_id)
        moved_leads = [lead.lead_id for lead in await uow.leads.of_persons([gone_id], limit=10_000)]
        data = dict(kept.data)
        for name in CONTACT_FIELDS:
            if data.get(name) in (None, "") and gone.data.get(name) not in (None, ""):
                data[name] = gone.data[name]
        if gone.last_seen_at > kept.last_seen_at:
            data["last_lead_id"] = gone.data.get("last_lead_id", data.get("last_lead_id"))
        await uow.people.save(kept_id, data, kept.owner or gone.owner, kept.lead_count + gone.lead_count,
                              min(kept.first_seen_at, gone.first_seen_at), max(kept.last_seen_at, gone.last_seen_at),
                              [], new=False)
        await uow.people.move_keys(moved_keys, kept_id)
        for lead_id in moved_leads:
            await uow.leads.update(lead_id, person_id=kept_id)
            await uow.leads.add_history(lead_id, "person_merged", {"into": kept_id, "from": gone_id, "by": by}, now)
        await uow.matches.unlink(gone_id)
        await uow.matches.link(kept_id, blocking_keys(profile(gone.data.get("name"), gone.data.get("company"))), now)
        await uow.people.delete(gone_id)
        merge = PersonMerge(merge_id=new_id(), person_id=kept_id, from_person_id=gone_id, lead_ids=moved_leads,
                            identity_keys=moved_keys, person_before={"kept": snapshot(kept), "merged": snapshot(gone)},
                            kind="review", score=pair.score, reasons=list(pair.reasons), merged_at=now, merged_by=by)
        await uow.matches.record_merge(merge)
        return PairDecided(await uow.matches.pair(pair_id) or pair, merge)


async def undo_merge(store: Store, clock: Clock, merge_id: str, by: str) -> PersonMerge:
    """Takes back what a merge moved: the merged person comes back (a new lead's own person, for an
    automatic merge) with their keys and leads; the kept person is restored (see the module)."""
    async with store.transaction() as uow:
        merge = await uow.matches.merge(merge_id)
        if merge is None:
            raise NotFound(f"No merge {merge_id}.")
        if merge.undone_at is not None:
            raise Conflict("This merge was undone already.", errors=[{"field": "merge_id", "reason": "undone"}])
        now = clock()
        kept = await uow.people.get(merge.person_id, lock=True)
        if kept is None or is_erased(kept.data):
            raise Conflict("The person this merge kept is no longer there (erased).",
                           errors=[{"field": "merge_id", "reason": "person gone"}])
        before = merge.person_before or {}
        back_id = merge.from_person_id or new_id()
        back = before.get("merged") or await _person_of_leads(uow, merge.lead_ids)
        await uow.people.save(back_id, back["data"], back.get("owner"), back["lead_count"],
                              _time(back["first_seen_at"]), _time(back["last_seen_at"]), [], new=True)
        await uow.people.move_keys(merge.identity_keys, back_id)
        for lead_id in merge.lead_ids:
            await uow.leads.update(lead_id, person_id=back_id)
            await uow.leads.add_history(lead_id, "person_split", {"from": merge.person_id, "into": back_id,
                                                                  "merge_id": merge_id, "by": by}, now)
        kept_before = before.get("kept")
        if kept_before and kept.data.get("last_lead_id") == _last_lead(kept_before, merge):
            await uow.people.save(merge.person_id, kept_before["data"], kept.owner, kept_before["lead_count"],
                                  _time(kept_before["first_seen_at"]), _time(kept_before["last_seen_at"]), [],
                                  new=False)
        else:  # leads came to the kept person since: keep their record, take back only the counts
            await uow.people.save(merge.person_id, kept.data, kept.owner, max(1, kept.lead_count - back["lead_count"]),
                                  kept.first_seen_at, kept.last_seen_at, [], new=False)
        await uow.matches.link(back_id, blocking_keys(profile(back["data"].get("name"), back["data"].get("company"))),
                               now)
        if not await uow.matches.mark_undone(merge_id, now, by):
            raise Conflict("This merge was undone meanwhile.", errors=[{"field": "merge_id", "reason": "undone"}])
        # Whoever undoes a merge has said these are two people: the next lead must not merge them again.
        await uow.matches.add_pair(DuplicatePair(
            pair_id=new_id(), person_id=merge.person_id, other_person_id=back_id, lead_id=merge.lead_ids[0],
            score=merge.score or 0.0, reasons=[*merge.reasons, "merge undone"], state="kept_apart", created_at=now,
            decided_at=now, decided_by=by))
        return await uow.matches.merge(merge_id) or merge


def _last_lead(kept_before: dict[str, Any], merge: PersonMerge) -> str | None:
    """The kept person's last lead right after the merge: the merge's own (an automatic merge's lead
    became their newest), or the newer of the two people's."""
    if merge.kind == "auto":
        return merge.lead_ids[-1]
    merged = (merge.person_before or {}).get("merged") or {}
    newer = merged if merged.get("last_seen_at", "") > kept_before["last_seen_at"] else kept_before
    return newer["data"].get("last_lead_id")


async def _person_of_leads(uow: MergeWork, lead_ids: list[str]) -> dict[str, Any]:
    """The person an automatically merged lead would have been on its own: its contact fields."""
    leads = await uow.leads.by_ids(lead_ids)
    ordered = sorted(leads.values(), key=lambda lead: lead.received_at)
    data: dict[str, Any] = {}
    for lead in ordered:
        for name in CONTACT_FIELDS:
            value = lead.contact.get(name)
            if value not in (None, "") and data.get(name) is None:
                data[name] = value
    data["last_lead_id"] = ordered[-1].lead_id if ordered else ""
    first = ordered[0].received_at if ordered else datetime.min
    last = ordered[-1].received_at if ordered else datetime.min
    return {"data": data, "owner": None, "lead_count": len(ordered), "first_seen_at": first.isoformat(),
            "last_seen_at": last.isoformat()}


def _time(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
