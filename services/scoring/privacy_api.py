"""Access and erasure requests over HTTP (admins only): find a person without putting their email
or phone in a URL, export what we hold on them, erase them. Thin: who asks, then a use case
(``privacy``). Answers that carry personal data are never stored by a cache (``no-store``)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from leadrelay.services.scoring.privacy import erase_person, export_person, find_people, person_summary
from leadrelay.shared.problems import Forbidden
from leadrelay.shared.security import Principal
from leadrelay.shared.web.content_types import JsonBodyRoute
from leadrelay.shared.web.deps import ClockDep, PrincipalDep, SettingsDep, StoreDep

NO_STORE = {"Cache-Control": "no-store"}
NO_STORE_HEADER = {"Cache-Control": {"description": "Always `no-store`: the answer holds personal data.",
                                     "schema": {"type": "string", "const": "no-store"}}}
SEARCH_ANSWER = {"type": "object", "required": ["people"], "properties": {"people": {"type": "array", "items": {
    "type": "object", "required": ["person_id", "erased", "lead_count"]}}}}
EXPORT_ANSWER = {"type": "object", "required": ["person_id", "erased", "person", "consent", "leads", "merges"]}
# A person id is a UUID, and the path says so: ``/v1/people/duplicates`` and ``/v1/people/search``
# are other resources, never a person this route would answer 405 for.
PersonId = Annotated[UUID, Path(description="The person's id (from a lead, or a search).")]


class PeopleSearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=320, repr=False, examples=["wang.lei@example.com"],
                              description="An email address of the person, as they wrote it or normalised.")
    phone: str | None = Field(default=None, max_length=50, repr=False, examples=["+86 138 0013 8000"],
                              description="A phone number of the person: international form, or with `country`.")
    country: str | None = Field(default=None, max_length=60, examples=["CN"],
                                description="The country a phone number without `+` is dialled in.")


def require_admin(principal: Principal) -> str:
    if principal.role != "admin":
        raise Forbidden("Access and erasure requests need an admin token.",
                        errors=[{"field": "Authorization", "reason": f"role {principal.role} not allowed"}])
    return principal.rep_id or principal.name or "admin"


def privacy_router() -> APIRouter:
    router = APIRouter(tags=["people"], route_class=JsonBodyRoute)

    @router.post("/v1/people/search", responses={200: {
        "description": "The people found (none is an empty list).", "headers": NO_STORE_HEADER,
        "content": {"application/json": {"schema": SEARCH_ANSWER}}}})
    async def search_people(body: PeopleSearchIn, store: StoreDep, settings: SettingsDep,
                            principal: PrincipalDep) -> JSONResponse:
        """Find a person's id by email or phone, sent in the body so it stays out of URLs and logs.
        Matched through the salted identity keys, as intake matches leads; an erased person is
        not found (their keys are gone)."""
        require_admin(principal)
        people = await find_people(store, settings.identity_salt, email=body.email, phone=body.phone,
                                   country=body.country)
        return JSONResponse({"people": [person_summary(person) for person in people]}, headers=NO_STORE)

    @router.get("/v1/people/{person_id:uuid}/export", responses={200: {
        "description": "Everything held on the person, as JSON.", "headers": NO_STORE_HEADER,
        "content": {"application/json": {"schema": EXPORT_ANSWER}}}})
    async def export(person_id: PersonId, store: StoreDep, clock: ClockDep, principal: PrincipalDep) -> JSONResponse:
        """Everything we hold on a person (an access request): their record and consent, each lead
        with its contact, history, routing decisions, the messages and webhooks sent about it, and
        the merges they took part in. Never cached, never logged."""
        require_admin(principal)
        return JSONResponse(await export_person(store, clock, str(person_id)), headers=NO_STORE)

    @router.delete("/v1/people/{person_id:uuid}")
    async def erase(person_id: PersonId, store: StoreDep, clock: ClockDep, principal: PrincipalDep) -> dict[str, Any]:
        """Erase a person's personal data (an erasure request): every lead's contact, history,
        decisions, messages and webhook payloads, their events in the embedded log (tombstoned),
        their identity keys. The leads stay, anonymised, in reports. Emits `person.erased`.
        Erasing an erased person again answers the same and changes nothing."""
        by = require_admin(principal)
        erasure = await erase_person(store, clock, str(person_id), by)
        return {"person_id": erasure.person_id, "erased_at": erasure.erased_at, "lead_ids": erasure.lead_ids,
                "events_tombstoned": erasure.events, "already_erased": erasure.already}

    return router
