"""Scoring's HTTP routes: the people fuzzy matching could not be sure about, for an admin to merge
or keep apart, and the merges it made, each undoable. Thin: who asks, then a use case (``merges``)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query

from leadrelay.services.scoring.matching import MERGE_AT, REVIEW_AT
from leadrelay.services.scoring.merges import keep_apart, merge_pair, undo_merge
from leadrelay.shared.ports import DuplicatePair, PersonMerge, StoredPerson
from leadrelay.shared.problems import Forbidden
from leadrelay.shared.security import Principal
from leadrelay.shared.web.deps import ClockDep, PrincipalDep, StoreDep
from leadrelay.shared.web.openapi import problems


def require_admin(principal: Principal) -> str:
    if principal.role != "admin":
        raise Forbidden("Merging people needs an admin token.",
                        errors=[{"field": "Authorization", "reason": f"role {principal.role} not allowed"}])
    return principal.name or "admin"


def person_view(person_id: str, person: StoredPerson | None) -> dict[str, Any]:
    """Who the person is, as the review list shows them: name, company, title, counts. No email or
    phone: those stay on the leads, for those allowed to open them."""
    if person is None:
        return {"person_id": person_id, "gone": True}
    data = person.data
    return {"person_id": person_id, "name": data.get("name"), "company": data.get("company"),
            "title": data.get("title"), "owner": person.owner, "lead_count": person.lead_count,
            "last_seen_at": person.last_seen_at.isoformat()}


def pair_view(pair: DuplicatePair, people: dict[str, StoredPerson | None]) -> dict[str, Any]:
    return {"pair_id": pair.pair_id, "state": pair.state, "score": pair.score, "reasons": pair.reasons,
            "lead_id": pair.lead_id, "created_at": pair.created_at.isoformat(),
            "decided_at": pair.decided_at.isoformat() if pair.decided_at else None, "decided_by": pair.decided_by,
            "person": person_view(pair.person_id, people.get(pair.person_id)),
            "other_person": person_view(pair.other_person_id, people.get(pair.other_person_id))}


def merge_view(merge: PersonMerge) -> dict[str, Any]:
    return {"merge_id": merge.merge_id, "kind": merge.kind, "person_id": merge.person_id,
            "from_person_id": merge.from_person_id, "lead_ids": merge.lead_ids, "score": merge.score,
            "reasons": merge.reasons, "merged_at": merge.merged_at.isoformat(), "merged_by": merge.merged_by,
            "undone_at": merge.undone_at.isoformat() if merge.undone_at else None, "undone_by": merge.undone_by}


def people_router() -> APIRouter:
    router = APIRouter(tags=["people"])

    @router.get("/v1/people/duplicates")
    async def list_duplicates(store: StoreDep, principal: PrincipalDep,
                              state: Literal["open", "merged", "kept_apart", "all"] = "open",
                              limit: int = Query(default=100, ge=1, le=1000)) -> dict[str, Any]:
        """People who may be one person: fuzzy matching scored them at or above the review threshold
        but could not merge them on its own (below the merge threshold, or a different email or phone)."""
        require_admin(principal)
        async with store.read() as uow:
            pairs = await uow.matches.pairs(None if state == "all" else state, limit)
            ids = sorted({pid for pair in pairs for pid in (pair.person_id, pair.other_person_id)})
            people = {pid: await uow.people.get(pid) for pid in ids}
        return {"thresholds": {"merge": MERGE_AT, "review": REVIEW_AT},
                "pairs": [pair_view(pair, people) for pair in pairs]}

    @router.post("/v1/people/duplicates/{pair_id}/merge", responses=problems(
        409, s409="The pair was decided already, or one of the two people is gone."))
    async def merge_duplicate(pair_id: str, store: StoreDep, clock: ClockDep,
                              principal: PrincipalDep) -> dict[str, Any]:
        """Merge the pair into the person known first (keys, leads, missing fields); undoable."""
        decided = await merge_pair(store, clock, pair_id, require_admin(principal))
        return {"pair_id": pair_id, "state": decided.pair.state,
                "merge": merge_view(decided.merge) if decided.merge else None}

    @router.post("/v1/people/duplicates/{pair_id}/keep-apart", responses=problems(
        409, s409="The pair was decided already."))
    async def keep_duplicate_apart(pair_id: str, store: StoreDep, clock: ClockDep,
                                   principal: PrincipalDep) -> dict[str, Any]:
        """Two people after all: the pair leaves the list and fuzzy matching won't propose it again."""
        decided = await keep_apart(store, clock, pair_id, require_admin(principal))
        return {"pair_id": pair_id, "state": decided.pair.state}

    @router.get("/v1/people/merges")
    async def list_merges(store: StoreDep, principal: PrincipalDep,
                          limit: int = Query(default=100, ge=1, le=1000)) -> dict[str, Any]:
        """Every merge of people, automatic and reviewed, newest first."""
        require_admin(principal)
        async with store.read() as uow:
            return {"merges": [merge_view(merge) for merge in await uow.matches.merges(limit)]}

    @router.post("/v1/people/merges/{merge_id}/undo", responses=problems(
        409, s409="The merge was undone already, or the person it kept is gone."))
    async def undo(merge_id: str, store: StoreDep, clock: ClockDep, principal: PrincipalDep) -> dict[str, Any]:
        """Split what a merge joined: the other person comes back with their keys and leads."""
        return {"merge": merge_view(await undo_merge(store, clock, merge_id, require_admin(principal)))}

    return router
