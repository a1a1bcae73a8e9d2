"""POST /v1/leads: every bad input gets problem+json naming the field; nothing half-stored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from leadrelay.shared.adapters.sql import schema

LEAD = {"email": "Jane.Doe+ads@Example.com", "name": "Jane Doe", "company": "ACME", "country": "CN",
        "phone": "138 0013 8000", "title": "CTO", "employees": 800}


async def outbox_rows(embedded) -> int:
    async with embedded.runtime.store.read() as uow:
        return (await uow.tx.conn.execute(select(func.count()).select_from(schema.outbox))).scalar_one()


def assert_problem(response, status: int, field: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert field in [e["field"] for e in body.get("errors", [])], body
    return body


async def test_a_valid_lead_is_accepted_with_its_id(embedded):
    response = await embedded.post_lead(LEAD)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "accepted" and body["lead_id"]
    assert response.headers["location"] == f"/v1/leads/{body['lead_id']}"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": 12345}, "email"),
        ({"email": "a@example.com", "employees": "many"}, "employees"),
        ({"email": "a@example.com", "employees": -3}, "employees"),
        ({"email": "a@example.com", "consent": "perhaps"}, "consent"),
        ({"name": "No Contact"}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "someone@"}, "email"),
        ({"phone": "12"}, "phone"),
        ({"phone": "+1 555"}, "phone"),
        ({"email": "a@example.com", "favourite_colour": "blue"}, "favourite_colour"),
        ({"email": "a@example.com", "attributes": "nope"}, "attributes"),
    ],
)
async def test_a_bad_field_is_named_in_a_problem_and_nothing_is_stored(embedded, body, field):
    before = await outbox_rows(embedded)
    assert_problem(await embedded.post_lead(body), 422, field)
    assert await outbox_rows(embedded) == before


async def test_a_problem_never_echoes_the_submitted_email(embedded):
    response = await embedded.post_lead({"email": "secret-person@@example.com"})
    assert response.status_code == 422
    assert "secret-person" not in response.text


async def test_invalid_json_is_a_400_problem(embedded):
    response = await embedded.client.post(
        "/v1/leads", content=b'{"email": "a@example.com",', headers={
            "Authorization": f"Bearer {embedded.source_key}", "Content-Type": "application/json"})
    assert_problem(response, 400, "body")


async def test_a_json_array_is_not_a_lead(embedded):
    assert_problem(await embedded.post_lead([{"email": "a@example.com"}]), 422, "body")


async def test_an_unknown_content_type_is_a_415_problem(embedded):
    response = await embedded.client.post(
        "/v1/leads", content=b"email=a@example.com",
        headers={"Authorization": f"Bearer {embedded.source_key}", "Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(response, 415, "Content-Type")


async def test_an_oversized_body_is_a_413_problem(embedded):
    body = {"email": "a@example.com", "attributes": {"blob": "x" * (embedded.runtime.settings.max_body_bytes + 10)}}
    before = await outbox_rows(embedded)
    assert_problem(await embedded.post_lead(body), 413, "body")
    assert await outbox_rows(embedded) == before


async def test_a_missing_key_is_401_and_a_wrong_key_is_401(embedded):
    response = await embedded.client.post("/v1/leads", json=LEAD)
    assert_problem(response, 401, "Authorization")
    assert_problem(await embedded.post_lead(LEAD, key="lrs_not-a-real-key"), 401, "Authorization")


async def test_an_admin_token_cannot_post_leads(embedded):
    admin = await embedded.token("admin")
    response = await embedded.post_lead(LEAD, key=admin)
    assert response.status_code == 403


async def test_the_same_idempotency_key_and_body_returns_the_first_answer(embedded):
    first = await embedded.post_lead(LEAD, **{"Idempotency-Key": "form-42"})
    second = await embedded.post_lead(LEAD, **{"Idempotency-Key": "form-42"})
    assert first.status_code == second.status_code == 202
    assert first.json()["lead_id"] == second.json()["lead_id"]
    assert second.headers.get("idempotent-replayed") == "true"
    await embedded.wait_for(first.json()["lead_id"])
    async with embedded.runtime.store.read() as uow:
        count = (await uow.tx.conn.execute(select(func.count()).select_from(schema.leads))).scalar_one()
    assert count == 1


async def test_the_same_idempotency_key_with_another_body_is_a_409(embedded):
    await embedded.post_lead(LEAD, **{"Idempotency-Key": "form-43"})
    other = dict(LEAD, name="Someone Else")
    assert_problem(await embedded.post_lead(other, **{"Idempotency-Key": "form-43"}), 409, "Idempotency-Key")


async def test_the_email_is_normalised_and_the_phone_is_e164(embedded):
    response = await embedded.post_lead(LEAD)
    lead = await embedded.wait_for(response.json()["lead_id"])
    assert lead["contact"]["email"] == "jane.doe@example.com"
    assert lead["contact"]["phone"] == "+8613800138000"


async def test_a_source_reads_its_own_leads_but_not_another_sources(embedded):
    from leadrelay.shared.shell.bootstrap import create_source

    lead_id = (await embedded.post_lead(LEAD)).json()["lead_id"]
    await embedded.wait_for(lead_id)
    own = await embedded.client.get(f"/v1/leads/{lead_id}", headers={"Authorization": f"Bearer {embedded.source_key}"})
    assert own.status_code == 200
    other_key = await create_source(embedded.runtime, "partner")
    other = await embedded.client.get(f"/v1/leads/{lead_id}", headers={"Authorization": f"Bearer {other_key}"})
    assert other.status_code == 404
    rep = await embedded.token("rep", "rep-nobody")
    assert (await embedded.client.get(f"/v1/leads/{lead_id}", headers={"Authorization": f"Bearer {rep}"})).status_code == 404
