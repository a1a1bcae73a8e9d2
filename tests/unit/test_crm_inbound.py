"""What the CRMs send us, read without I/O: HubSpot's v3 signature (CRM.md's test vector), the
changes a webhook carries and what each means; Salesforce Outbound Messages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leadrelay.services.router import hubspot_webhooks as hubspot
from leadrelay.services.router import salesforce_outbound as outbound

VECTOR_BODY = b'[{"eventId":1}]'
VECTOR_TS = "1700000000000"
VECTOR_URI = "https://example.com/webhooks/hubspot"
AT_VECTOR = datetime.fromtimestamp(1_700_000_000, UTC)


def test_hubspot_signature_matches_the_vector_in_crm_md():
    assert hubspot.signature_v3("client-secret", "POST", VECTOR_URI, VECTOR_BODY, VECTOR_TS) == \
        "Oo7zgFv1p0hW7PVBMh4uCk0sYVKETVmA43I6zc0qoNo="


def test_hubspot_signs_the_uri_with_its_escapes_decoded():
    assert hubspot.signature_v3("s", "POST", "https://x.test/a%3Ab%2Fc?q=%40", b"", "1") == \
        hubspot.signature_v3("s", "POST", "https://x.test/a:b/c?q=@", b"", "1")


@pytest.mark.parametrize(("headers", "now", "reason"), [
    ({"X-HubSpot-Request-Timestamp": VECTOR_TS}, AT_VECTOR, "unsigned"),
    ({"X-HubSpot-Signature-v3": "Oo7zgFv1p0hW7PVBMh4uCk0sYVKETVmA43I6zc0qoNo=", "X-HubSpot-Request-Timestamp": "soon"},
     AT_VECTOR, "stale"),
    ({"x-hubspot-signature-v3": "Oo7zgFv1p0hW7PVBMh4uCk0sYVKETVmA43I6zc0qoNo=", "x-hubspot-request-timestamp": VECTOR_TS},
     datetime.fromtimestamp(1_700_000_301, UTC), "stale"),
    ({"X-HubSpot-Signature-v3": "AAAA", "X-HubSpot-Request-Timestamp": VECTOR_TS}, AT_VECTOR, "bad signature"),
])
def test_hubspot_requests_are_refused_unsigned_stale_or_forged(headers, now, reason):
    with pytest.raises(hubspot.SignatureRefused) as refused:
        hubspot.verify("client-secret", "POST", VECTOR_URI, VECTOR_BODY, headers, now)
    assert refused.value.reason == reason


def test_hubspot_accepts_a_signed_request_within_five_minutes():
    headers = {"X-HubSpot-Signature-v3": "Oo7zgFv1p0hW7PVBMh4uCk0sYVKETVmA43I6zc0qoNo=",
               "X-HubSpot-Request-Timestamp": VECTOR_TS}
    hubspot.verify("client-secret", "post", VECTOR_URI, VECTOR_BODY, headers,
                   datetime.fromtimestamp(1_700_000_299, UTC))


def test_hubspot_changes_are_contact_property_changes_only():
    body = (b'[{"subscriptionType":"contact.propertyChange","objectId":847297356,"propertyName":"hubspot_owner_id",'
            b'"propertyValue":"41629779","changeSource":"CRM_UI"},'
            b'{"subscriptionType":"object.propertyChange","objectTypeId":"0-1","objectId":5,'
            b'"propertyName":"lifecyclestage","propertyValue":"customer"},'
            b'{"subscriptionType":"object.propertyChange","objectTypeId":"0-3","objectId":6,"propertyName":"x"},'
            b'{"subscriptionType":"contact.creation","objectId":7}]')
    assert hubspot.property_changes(body) == [
        hubspot.PropertyChange("847297356", "hubspot_owner_id", "41629779", "CRM_UI"),
        hubspot.PropertyChange("5", "lifecyclestage", "customer", "")]
    for bad in (b"{}", b"nope", b"[1]"):
        with pytest.raises(ValueError):
            hubspot.property_changes(bad)


@pytest.mark.parametrize(("name", "value", "owner", "expected"), [
    ("hubspot_owner_id", "2", "rep-x", hubspot.CrmActivity("reassign", "owner changed in HubSpot", "rep-y")),
    ("hubspot_owner_id", "1", "rep-x", None),  # our own write coming back
    ("hubspot_owner_id", "", "rep-x", None),  # cleared: nobody to give it to
    ("hubspot_owner_id", "9", "rep-x", None),  # not a rep of the policy
    ("hs_lead_status", "CONNECTED", "rep-x", hubspot.CrmActivity("contacted", "hs_lead_status set to CONNECTED in HubSpot")),
    ("hs_lead_status", "NEW", "rep-x", None),
    ("lifecyclestage", "customer", "rep-x", hubspot.CrmActivity("converted", "lifecyclestage set to customer in HubSpot")),
    ("lifecyclestage", "lead", "rep-x", None),  # what a sync may write itself
    ("firstname", "Ada", "rep-x", None),
])
def test_what_a_hubspot_change_means(name, value, owner, expected):
    change = hubspot.PropertyChange("5", name, value, "CRM_UI")
    assert hubspot.activity_for(change, owner, {"1": "rep-x", "2": "rep-y"}) == expected


SOAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00D000000000001EAA</OrganizationId><ActionId>04k000000000001AAA</ActionId><SessionId xsi:nil="true"/>
   <Notification><Id>04l000000000001AAA</Id>
    <sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>00Q000000000001AAA</sf:Id><sf:OwnerId>005000000000002AAA</sf:OwnerId><sf:Status>Working - Contacted</sf:Status></sObject>
   </Notification>
  </notifications></soapenv:Body></soapenv:Envelope>"""


def test_an_outbound_message_is_read_as_crm_md_shows_it():
    message = outbound.parse(SOAP)
    assert message == outbound.OutboundMessage("00D000000000001EAA", (outbound.LeadNotification(
        "04l000000000001AAA", "00Q000000000001AAA", "005000000000002AAA", "Working - Contacted"),))
    assert b"<Ack>true</Ack>" in outbound.ACK


def test_an_owner_change_comes_before_the_status_and_a_status_already_passed_is_nothing():
    [notification] = outbound.parse(SOAP).notifications
    reps = {"005000000000001AAA": "rep-x", "005000000000002AAA": "rep-y"}
    assert outbound.activities_for(notification, "rep-x", "assigned", reps) == [
        outbound.CrmActivity("reassign", "owner changed in Salesforce", "rep-y"),
        outbound.CrmActivity("contacted", "Lead Status set to Working - Contacted in Salesforce")]
    assert outbound.activities_for(notification, "rep-y", "contacted", reps) == []
    assert outbound.activities_for(notification, "rep-y", "lost", reps) == []


def test_xml_with_entities_is_refused_unread():
    with pytest.raises(ValueError, match="not an Outbound Message"):
        outbound.parse(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><notifications>&e;</notifications>')
