"""What a CRM change stands for here: the activity to record for the lead, as a rep's action
would be. Each CRM's pure module (hubspot_webhooks.py, salesforce_outbound.py) says which change
is which activity; crm_inbound.py records them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class CrmActivity:
    """What to record for the lead, as a rep's action would be."""

    action: Literal["contacted", "converted", "lost", "reassign"]
    reason: str
    to_rep: str | None = None
