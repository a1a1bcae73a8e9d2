"""Who each rep is in the CRMs Leadrelay writes assignments into (HubSpot, Salesforce). Pure.

Only the mapping lives in the policy, since it changes with the roster; how to reach a CRM (its
URL and credentials) is a connector, made with ``leadrelay crm add`` and stored encrypted. The
id formats are in /work/shared/CRM.md (§2.4 HubSpot owners, §3.3 Salesforce owners).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from leadrelay.shared.policy.values import Section


def _digits_as_text(value: Any) -> Any:
    """``41629779`` written without quotes is YAML's integer; it means the id all the same."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# A HubSpot owner's ``id`` is a string of digits; its ``userId`` cannot assign ownership (§2.4).
HubSpotOwnerId = Annotated[str, BeforeValidator(_digits_as_text), Field(pattern=r"^[0-9]{1,20}$")]
# A Salesforce User (005…) or Queue (00G…) id, 15 or 18 characters (§3.3).
SalesforceOwnerId = Annotated[str, Field(pattern=r"^(005|00G)[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$")]

CRMS = ("hubspot", "salesforce")


class RepCrm(Section):
    """A rep's own user ids in the CRMs (``reps[].crm``); the ``crm`` section's maps win."""

    hubspot_owner_id: HubSpotOwnerId | None = None
    salesforce_owner_id: SalesforceOwnerId | None = None


class HubSpotOwners(Section):
    owners: dict[str, HubSpotOwnerId] = {}  # rep id -> HubSpot owner id


class SalesforceOwners(Section):
    owners: dict[str, SalesforceOwnerId] = {}  # rep id -> Salesforce User or Queue id


class CrmOwners(Section):
    """``crm: {hubspot: {owners: {rep-a: "41629779"}}, salesforce: {owners: {rep-a: "005…"}}}``."""

    hubspot: HubSpotOwners = HubSpotOwners()
    salesforce: SalesforceOwners = SalesforceOwners()
