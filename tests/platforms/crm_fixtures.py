"""What the CRM connector tests share: the stand-ins served once per session, events shaped as the
router emits them, and one delivery attempt done the way the webhook sender does it (token, build,
call, interpret, one re-authentication)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from leadrelay.services.notifier.targets import (
    AccessToken,
    DeliveryTarget,
    HttpResponse,
    Outcome,
    Reauth,
    Skipped,
    TargetConfig,
)
from leadrelay.services.notifier.webhook_events import outgoing_event
from leadrelay.shared.events import Envelope, LeadAssigned, LeadContact, LeadSummary
from tests.platforms.fake_hubspot import TOKEN, FakeHubSpot
from tests.platforms.fake_salesforce import CLIENT_ID, CLIENT_SECRET, EXTERNAL_ID_FIELD, FakeSalesforce

HUBSPOT_OWNERS = {"rep-x": "41629779", "rep-y": "41629780"}
SALESFORCE_OWNERS = {"rep-x": "005000000000001AAA", "rep-y": "005000000000002AAA"}


class StandInClock:
    """Epoch seconds for the stand-ins (rate windows, token lifetimes), moved by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now.timestamp()

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def hubspot_server() -> Iterator[FakeHubSpot]:
    with FakeHubSpot().serve() as server:
        yield server


@pytest.fixture(scope="session")
def salesforce_server() -> Iterator[FakeSalesforce]:
    with FakeSalesforce().serve() as server:
        yield server


def hubspot_config(hubspot: FakeHubSpot, **config: Any) -> TargetConfig:
    assert hubspot.base_url
    return TargetConfig("wh_hubspot", "hubspot", hubspot.base_url, TOKEN, {"owners": HUBSPOT_OWNERS, **config})


def salesforce_config(salesforce: FakeSalesforce, **config: Any) -> TargetConfig:
    assert salesforce.base_url
    return TargetConfig("wh_salesforce", "salesforce", salesforce.base_url, CLIENT_SECRET,
                        {"owners": SALESFORCE_OWNERS, "client_id": CLIENT_ID,
                         "external_id_field": EXTERNAL_ID_FIELD, "api_version": "66.0", **config})


def assigned(lead_id: str, owner: str | None, *, at: datetime | None = None, reason: str = "routed",
             **contact: Any) -> Any:
    """The webhook event of a ``lead.assigned`` as the router emits it."""
    at = at or datetime(2041, 3, 6, 2, 0, tzinfo=UTC)
    person = {"name": "Li Wei", "email": "li.wei@bigfactory.cn", "company": "Big Factory", "title": "CTO",
              "employees": 2000, "country": "CN", "phone": "+86 138 0013 8000", **contact}
    event = LeadAssigned(lead_id=lead_id, received_at=at, assigned_at=at, owner=owner, rule="to-rep-x",
                         policy_version=1, grade="hot", score=70, reason=reason,  # type: ignore[arg-type]
                         queue=None if owner else "unassigned",
                         lead=LeadSummary(source="web", contact=LeadContact(**person), score=70, grade="hot"))
    envelope = Envelope.wrap(event, source="test", subject=lead_id, key=lead_id, correlation_id=lead_id, time=at)
    found = outgoing_event(event, envelope)
    assert found is not None
    return found


class Attempt:
    """One delivery attempt as the webhook sender makes it, with its token cache."""

    def __init__(self, target: DeliveryTarget, config: TargetConfig) -> None:
        self.target, self.config = target, config
        self.token: AccessToken | None = None
        self.token_requests = 0

    async def __call__(self, event: Any, now: datetime | None = None) -> Outcome | Skipped:
        now = now or datetime(2041, 3, 6, 2, 0, tzinfo=UTC)
        async with httpx.AsyncClient(timeout=10) as http:
            for fresh in (False, True):
                if self.token is None or fresh:
                    request = self.target.token_request(self.config, now)
                    if request is not None:
                        self.token_requests += 1
                        answer = await http.request(request.method, request.url, content=request.body,
                                                    headers=request.headers)
                        self.token = self.target.read_token(
                            HttpResponse(answer.status_code, answer.headers, answer.content), now)
                built = self.target.build(event, self.config, self.token, now)
                if isinstance(built, Skipped):
                    return built
                answer = await http.request(built.method, built.url, content=built.body, headers=built.headers)
                outcome = self.target.interpret(HttpResponse(answer.status_code, answer.headers, answer.content))
                if not isinstance(outcome, Reauth):
                    return outcome
            return outcome
