"""The HubSpot and Salesforce connectors against stand-ins that check what the real APIs check
(CRM.md §2, §3): the owner ends up on the right record, a repeated write makes no duplicate, rate
limits and expired tokens are waited out or renewed, and what can never succeed says why."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from leadrelay.services.notifier.targets import (
    TARGETS,
    Delivered,
    HttpResponse,
    Permanent,
    Reauth,
    RetryAfter,
    Skipped,
    TargetConfig,
)
from leadrelay.services.notifier.targets.hubspot import HubSpotContacts
from leadrelay.services.notifier.targets.salesforce import SalesforceLeads
from tests.platforms.crm_fixtures import (
    HUBSPOT_OWNERS,
    SALESFORCE_OWNERS,
    Attempt,
    StandInClock,
    assigned,
    hubspot_config,
    hubspot_server,  # noqa: F401
    salesforce_config,
    salesforce_server,  # noqa: F401
)
from tests.platforms.fake_hubspot import FakeHubSpot
from tests.platforms.fake_salesforce import FakeSalesforce


@pytest.fixture
def stand_in_clock() -> StandInClock:
    return StandInClock(datetime(2041, 3, 6, 2, 0, tzinfo=UTC))


@pytest.fixture
def hubspot(hubspot_server: FakeHubSpot, stand_in_clock: StandInClock) -> Iterator[FakeHubSpot]:  # noqa: F811
    hubspot_server.reset()
    hubspot_server.clock = stand_in_clock
    yield hubspot_server


@pytest.fixture
def salesforce(salesforce_server: FakeSalesforce, stand_in_clock: StandInClock) -> Iterator[FakeSalesforce]:  # noqa: F811
    salesforce_server.reset()
    salesforce_server.clock = stand_in_clock
    yield salesforce_server


def test_both_connectors_are_registered_as_delivery_targets():
    assert isinstance(TARGETS["hubspot"], HubSpotContacts) and isinstance(TARGETS["salesforce"], SalesforceLeads)


# -- HubSpot -------------------------------------------------------------------------------------


async def test_hubspot_contact_is_created_with_its_owner_then_reassigned_without_a_second_contact(
        hubspot: FakeHubSpot):
    send = Attempt(HubSpotContacts(), hubspot_config(hubspot))
    first = await send(assigned("L-1", "rep-x"))
    assert isinstance(first, Delivered) and "created" in first.detail
    contact = hubspot.contact_by_email("li.wei@bigfactory.cn")
    assert contact is not None
    assert contact["properties"] == {
        "hs_object_id": contact["id"], "email": "li.wei@bigfactory.cn", "firstname": "Li", "lastname": "Wei",
        "company": "Big Factory", "jobtitle": "CTO", "phone": "+86 138 0013 8000", "country": "CN",
        "numberofemployees": "2000", "hubspot_owner_id": HUBSPOT_OWNERS["rep-x"]}

    again = await send(assigned("L-1", "rep-y", reason="reassigned", email="LI.WEI@bigfactory.cn"))
    assert isinstance(again, Delivered) and "updated" in again.detail
    assert len(hubspot.contacts) == 1
    assert hubspot.contact_by_email("li.wei@bigfactory.cn")["properties"]["hubspot_owner_id"] == "41629780"


async def test_hubspot_a_lead_waiting_in_a_queue_leaves_the_owner_alone(hubspot: FakeHubSpot):
    send = Attempt(HubSpotContacts(), hubspot_config(hubspot))
    await send(assigned("L-1", "rep-x"))
    queued = await send(assigned("L-1", None, reason="fallback"))
    assert isinstance(queued, Delivered)
    assert hubspot.contact_by_email("li.wei@bigfactory.cn")["properties"]["hubspot_owner_id"] == "41629779"


async def test_hubspot_rate_limit_is_waited_out_as_the_answer_says(hubspot: FakeHubSpot,
                                                                   stand_in_clock: StandInClock):
    hubspot.set_limits(per_ten_seconds=2)
    send = Attempt(HubSpotContacts(), hubspot_config(hubspot))
    outcomes = [await send(assigned(f"L-{n}", "rep-x", email=f"p{n}@bigfactory.cn")) for n in range(3)]
    assert [type(o) for o in outcomes] == [Delivered, Delivered, RetryAfter]
    assert outcomes[2].seconds == 10 and "TEN_SECONDLY_ROLLING" in outcomes[2].detail
    hubspot.set_limits(send_retry_after=False)  # Retry-After is [U] for HubSpot: the window header then
    fourth = await send(assigned("L-3", "rep-x", email="p3@bigfactory.cn"))
    assert isinstance(fourth, RetryAfter) and fourth.seconds == 10.0
    stand_in_clock.advance(seconds=10)
    assert isinstance(await send(assigned("L-2", "rep-x", email="p2@bigfactory.cn")), Delivered)
    assert len(hubspot.contacts) == 3 and len(hubspot.rate_limited()) == 2


async def test_hubspot_daily_cap_waits_an_hour(hubspot: FakeHubSpot):
    hubspot.set_limits(per_day=0, send_retry_after=False)
    outcome = await Attempt(HubSpotContacts(), hubspot_config(hubspot))(assigned("L-1", "rep-x"))
    assert outcome == RetryAfter(3600.0, "hubspot 429 DAILY")


async def test_hubspot_refusals_that_cannot_succeed_are_permanent_with_hubspots_message(hubspot: FakeHubSpot):
    wrong_owner = Attempt(HubSpotContacts(), hubspot_config(hubspot, owners={"rep-x": "9586504"}))  # a userId
    outcome = await wrong_owner(assigned("L-1", "rep-x"))
    assert isinstance(outcome, Permanent) and outcome.detail.startswith("hubspot 400 VALIDATION_ERROR")
    assert "li.wei@" not in outcome.detail

    bad_stage = await Attempt(HubSpotContacts(), hubspot_config(hubspot, lifecycle_stage="hot"))(assigned("L-1", "rep-x"))
    assert isinstance(bad_stage, Permanent) and "allowed options" in bad_stage.detail

    config = hubspot_config(hubspot)
    wrong_token = Attempt(HubSpotContacts(), type(config)(config.subscription_id, config.kind, config.url,
                                                          "pat-na1-revoked", config.config))
    refused = await wrong_token(assigned("L-1", "rep-x"))
    assert isinstance(refused, Permanent) and refused.detail.startswith("hubspot 401 INVALID_AUTHENTICATION")
    assert hubspot.contacts == {}


async def test_hubspot_skips_a_lead_without_email_and_events_that_are_not_assignments(hubspot: FakeHubSpot):
    send = Attempt(HubSpotContacts(), hubspot_config(hubspot))
    assert isinstance(await send(assigned("L-1", "rep-x", email=None)), Skipped)
    activity = assigned("L-1", "rep-x")
    activity = type(activity)(id=activity.id, type="lead.activity", lead_id="L-1", occurred_at=activity.occurred_at,
                              data={"lead_id": "L-1", "action": "contacted", "via": "crm"})
    assert isinstance(await send(activity), Skipped)
    assert hubspot.calls == []


def test_a_rep_without_a_crm_user_cannot_be_written_and_says_how_to_fix_it():
    with pytest.raises(ValueError, match=r"rep rep-z has no hubspot user: set reps\[\]\.crm\.hubspot_owner_id"):
        HubSpotContacts().build(assigned("L-1", "rep-z"), TargetConfig("s", "hubspot", "http://x", "t", {"owners": {}}),
                     None, datetime(2041, 1, 1, tzinfo=UTC))


def test_hubspot_answers_are_read_as_hubspot_means_them():
    read = HubSpotContacts().interpret
    assert isinstance(read(HttpResponse(200, {}, b'{"results":[{"id":"7","new":false}]}')), Delivered)
    partial = read(HttpResponse(207, {}, b'{"status":"COMPLETE","numErrors":1,"errors":[{"category":"VALIDATION_ERROR",'
                                         b'"message":"bad value for ada@example.com"}]}'))
    assert partial == Permanent("hubspot 207 VALIDATION_ERROR: bad value for [email]")
    assert read(HttpResponse(503, {"retry-after": "7"}, b"")) == RetryAfter(7.0, "hubspot 503")
    assert read(HttpResponse(502, {}, b"<html>")) == RetryAfter(None, "hubspot 502")
    assert isinstance(read(HttpResponse(403, {}, b'{"category":"MISSING_SCOPES"}')), Permanent)


# -- Salesforce ----------------------------------------------------------------------------------


async def test_salesforce_lead_is_upserted_by_external_id_with_its_owner_then_reassigned(
        salesforce: FakeSalesforce):
    send = Attempt(SalesforceLeads(), salesforce_config(salesforce))
    first = await send(assigned("L-1/a b", "rep-x"))
    assert isinstance(first, Delivered) and "created" in first.detail
    lead = salesforce.lead_by_external_id("L-1/a b")  # escaped in the path, stored as it is
    assert lead is not None
    assert {k: v for k, v in lead.items() if k != "Id"} == {
        "OwnerId": SALESFORCE_OWNERS["rep-x"], "FirstName": "Li", "LastName": "Wei", "Company": "Big Factory",
        "Title": "CTO", "Phone": "+86 138 0013 8000", "Country": "CN", "Email": "li.wei@bigfactory.cn",
        "NumberOfEmployees": 2000, "Leadrelay_Id__c": "L-1/a b"}

    again = await send(assigned("L-1/a b", "rep-y", reason="reassigned"))
    assert isinstance(again, Delivered) and "updated" in again.detail
    assert len(salesforce.leads) == 1 and salesforce.lead_by_external_id("L-1/a b")["OwnerId"] == "005000000000002AAA"
    assert salesforce.statuses("/sobjects/") == [201, 204] and send.token_requests == 1


async def test_salesforce_an_expired_session_gets_a_new_token_and_the_write_goes_through(
        salesforce: FakeSalesforce, stand_in_clock: StandInClock):
    send = Attempt(SalesforceLeads(), salesforce_config(salesforce))
    assert isinstance(await send(assigned("L-1", "rep-x")), Delivered)
    stand_in_clock.advance(hours=2)  # the org's session timeout
    assert isinstance(await send(assigned("L-1", "rep-y", reason="reassigned")), Delivered)
    assert salesforce.statuses("/sobjects/") == [201, 401, 204] and send.token_requests == 2
    salesforce.update_status = 200  # newer API versions answer an update 200 {"created": false}
    salesforce.expire_tokens()
    assert isinstance(await send(assigned("L-1", "rep-x", reason="reassigned")), Delivered)
    assert salesforce.lead_by_external_id("L-1")["OwnerId"] == "005000000000001AAA"


async def test_salesforce_spent_daily_allocation_waits_an_hour(salesforce: FakeSalesforce):
    salesforce.daily_limit = 0
    outcome = await Attempt(SalesforceLeads(), salesforce_config(salesforce))(assigned("L-1", "rep-x"))
    assert isinstance(outcome, RetryAfter) and outcome.seconds == 3600.0
    assert outcome.detail == "salesforce 403 REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."


async def test_salesforce_refusals_that_cannot_succeed_are_permanent_with_salesforces_message(
        salesforce: FakeSalesforce):
    no_field = await Attempt(SalesforceLeads(), salesforce_config(salesforce, external_id_field="Other_Id__c"))(
        assigned("L-1", "rep-x"))
    assert no_field == Permanent("salesforce 404 NOT_FOUND: The requested resource does not exist")
    not_a_user = await Attempt(SalesforceLeads(), salesforce_config(salesforce, owners={"rep-x": "005999999999999AAA"}))(
        assigned("L-1", "rep-x"))
    assert isinstance(not_a_user, Permanent) and "INVALID_CROSS_REFERENCE_KEY" in not_a_user.detail
    assert salesforce.leads == {}


async def test_salesforce_wrong_client_secret_is_refused_at_the_token(salesforce: FakeSalesforce):
    config = salesforce_config(salesforce)
    wrong = type(config)(config.subscription_id, config.kind, config.url, "not-the-secret", config.config)
    with pytest.raises(ValueError, match="salesforce token 400 invalid_client"):
        await Attempt(SalesforceLeads(), wrong)(assigned("L-1", "rep-x"))


def test_salesforce_fills_required_fields_and_cuts_long_values():
    from leadrelay.services.notifier.targets.crm import CrmLead
    from leadrelay.services.notifier.targets.salesforce import fields

    assert fields(CrmLead("L-1", None, phone="+8613800138000")) == {
        "LastName": "[not provided]", "Company": "[not provided]", "Phone": "+8613800138000"}
    long = fields(CrmLead("L-1", "005000000000001AAA", name="李伟", company="x" * 300, email="a" * 80 + "@x.cn"))
    assert long == {"LastName": "李伟", "Company": "x" * 255, "OwnerId": "005000000000001AAA"}


def test_salesforce_answers_are_read_as_salesforce_means_them():
    read = SalesforceLeads().interpret
    assert read(HttpResponse(401, {}, b'[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]')
                ) == Reauth("salesforce 401 INVALID_SESSION_ID")
    assert isinstance(read(HttpResponse(300, {}, b'["/a","/b"]')), Permanent)
    assert read(HttpResponse(400, {}, b'[{"message":"Owner ID: bad","errorCode":"MALFORMED_ID","fields":["OwnerId"]}]')
                ) == Permanent("salesforce 400 MALFORMED_ID: Owner ID: bad")
    assert read(HttpResponse(503, {}, b"")) == RetryAfter(None, "salesforce 503")
