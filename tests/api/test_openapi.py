"""/openapi.json describes POST /v1/leads: the body it reads itself, the 202, and every problem."""

from __future__ import annotations

import re

import pytest

from leadrelay.services.intake.validation import LeadIn, parse_lead, to_contact
from leadrelay.shared.problems import PROBLEM_JSON
from leadrelay.shared.web.openapi import ProblemDetails, inline_schema

CONTACT_FIELDS = {
    "email": "string", "phone": "string", "name": "string", "company": "string", "title": "string",
    "country": "string", "region": "string", "city": "string", "industry": "string", "employees": "integer",
    "language": "string", "website": "string", "utm_source": "string", "utm_medium": "string",
    "utm_campaign": "string", "utm_term": "string", "utm_content": "string", "consent": "boolean",
    "external_id": "string", "attributes": "object",
}
PROBLEM_STATUSES = ("400", "401", "403", "409", "413", "415", "422", "503")


@pytest.fixture
async def post_lead_operation(embedded) -> tuple[dict, dict]:
    response = await embedded.client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    return document, document["paths"]["/v1/leads"]["post"]


def types_of(schema: dict) -> set[str]:
    """The JSON types a property allows, other than null."""
    variants = schema.get("anyOf", [schema])
    return {variant["type"] for variant in variants if variant.get("type") != "null"}


async def test_the_request_body_is_a_required_json_lead_with_every_contact_field(post_lead_operation):
    _, operation = post_lead_operation
    body = operation["requestBody"]
    assert body["required"] is True
    assert list(body["content"]) == ["application/json"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(LeadIn.model_fields) == set(CONTACT_FIELDS)
    for field, json_type in CONTACT_FIELDS.items():
        prop = schema["properties"][field]
        assert types_of(prop) == {json_type}, field
        assert prop["description"] and prop["examples"], field
    assert schema.get("required", []) == []
    assert schema["properties"]["employees"]["anyOf"][0]["minimum"] == 0
    assert schema["properties"]["email"]["anyOf"][0]["maxLength"] == 320


async def test_the_documented_body_example_is_a_lead_intake_accepts(post_lead_operation, embedded):
    _, operation = post_lead_operation
    [example] = operation["requestBody"]["content"]["application/json"]["schema"]["examples"]
    assert to_contact(parse_lead(example)).email == example["email"]
    assert (await embedded.post_lead(example)).status_code == 202


async def test_the_202_names_the_lead_and_its_location(post_lead_operation):
    document, operation = post_lead_operation
    accepted = operation["responses"]["202"]
    assert accepted["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/LeadAccepted"}
    schema = document["components"]["schemas"]["LeadAccepted"]
    assert schema["required"] == ["lead_id"]
    assert schema["properties"]["lead_id"]["type"] == "string"
    assert schema["properties"]["status"]["const"] == "accepted"
    assert {"Location", "Idempotent-Replayed"} <= set(accepted["headers"])


async def test_the_idempotency_key_header_is_documented(post_lead_operation):
    _, operation = post_lead_operation
    [header] = [p for p in operation["parameters"] if p["name"].lower() == "idempotency-key"]
    assert header["in"] == "header" and not header["required"] and header["description"]


@pytest.mark.parametrize("status", PROBLEM_STATUSES)
async def test_every_refusal_is_documented_as_problem_json(post_lead_operation, status):
    _, operation = post_lead_operation
    response = operation["responses"][status]
    assert response["description"]
    assert list(response["content"]) == [PROBLEM_JSON]
    content = response["content"][PROBLEM_JSON]
    schema = content["schema"]
    assert schema == inline_schema(ProblemDetails)
    assert {"type", "title", "status", "detail", "instance", "trace_id"} <= set(schema["required"])
    assert set(schema["properties"]["errors"]["items"]["required"]) == {"field", "reason"}
    example = ProblemDetails.model_validate(content["example"])
    assert str(example.status) == status


async def test_no_default_validation_error_schema_is_left_for_leads(post_lead_operation):
    _, operation = post_lead_operation
    assert "HTTPValidationError" not in str(operation)
    assert "$defs" not in str(operation)  # a nested model left as a reference the document cannot resolve


async def test_the_answers_sent_match_the_documented_problem(embedded):
    cases = [
        ({"email": "not-an-email"}, {}, 422),
        (None, {"Content-Type": "text/plain"}, 415),
        (None, {}, 400),
    ]
    for body, headers, status in cases:
        request = {"json": body} if body is not None else {"content": b"{not json"}
        response = await embedded.client.post("/v1/leads", **request, headers={
            "Authorization": f"Bearer {embedded.source_key}", "Content-Type": "application/json", **headers})
        assert response.status_code == status
        problem = response.json()
        assert set(problem) <= set(ProblemDetails.model_fields), problem
        assert ProblemDetails.model_validate(problem).status == status


async def test_the_bearer_credential_is_a_security_scheme_required_exactly_where_a_route_reads_it(embedded):
    document = (await embedded.client.get("/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert "lrs_" in scheme["description"] and "lrt_" in scheme["description"]
    operations = {(method.upper(), path): operation for path, item in document["paths"].items()
                  for method, operation in item.items()}
    assert all("security" in operation for operation in operations.values())
    for credentialed in [("POST", "/v1/leads"), ("GET", "/v1/pool"), ("PUT", "/v1/policy"),
                         ("GET", "/v1/reports/funnel"), ("POST", "/v1/integrations/activity")]:
        assert operations[credentialed]["security"] == [{"bearer": []}], credentialed
    # Checked otherwise (a platform's signature or token, a link's mac) or open: no bearer.
    for open_ in [("POST", "/v1/sources/meta/webhook"), ("POST", "/v1/sources/google-ads/webhook"),
                  ("POST", "/v1/sources/linkedin/webhook"), ("POST", "/v1/sources/tiktok/webhook"),
                  ("POST", "/v1/chat/slack/actions"), ("POST", "/v1/crm/hubspot/webhook"),
                  ("GET", "/v1/act/{token}"), ("GET", "/metrics"), ("GET", "/healthz"), ("GET", "/readyz")]:
        assert operations[open_]["security"] == [], open_
    # What the document says is what the app does: a bearer operation refuses a call without one,
    # and an open one does not ask for it.
    assert (await embedded.client.get("/v1/pool")).status_code == 401
    assert (await embedded.client.get("/healthz")).status_code == 200


async def test_every_operation_requiring_the_bearer_scheme_refuses_a_call_without_it(embedded):
    document = (await embedded.client.get("/openapi.json")).json()
    secured = [(method.upper(), path) for path, item in document["paths"].items()
               for method, operation in item.items() if operation["security"] == [{"bearer": []}]]
    assert len(secured) > 20
    for method, path in secured:
        # Path values of the documented types (a uuid, an integer), so the route is reached.
        url = re.sub(r"\{[^}]+\}", "1", path.replace("{person_id}", "4c5e8f0a-5b7d-4f54-9f0f-0d7e6f1c2b3a"))
        response = await embedded.client.request(method, url, json={})
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.headers["www-authenticate"] == "Bearer"
