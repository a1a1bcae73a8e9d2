"""``CrmLinkRepository`` (``shared/ports/crm_links.py``): which lead a CRM record stands for."""

from __future__ import annotations

from datetime import timedelta

from leadrelay.shared.ports import Store
from tests.conftest import FakeClock
from tests.contract.conftest import STORE_EPOCH


async def test_a_record_stands_for_the_lead_it_was_written_for(store: Store):
    async with store.transaction() as uow:
        await uow.crm_links.link("hubspot", "512", "lead-1")
        await uow.crm_links.link("salesforce", "512", "lead-2")  # the same id in another CRM is another record
    async with store.read() as uow:
        hubspot = await uow.crm_links.get("hubspot", "512")
        salesforce = await uow.crm_links.get("salesforce", "512")
        assert await uow.crm_links.get("hubspot", "513") is None
    assert hubspot is not None and salesforce is not None
    assert (hubspot.crm, hubspot.record_id, hubspot.lead_id, hubspot.linked_at) == ("hubspot", "512", "lead-1",
                                                                                    STORE_EPOCH)
    assert salesforce.lead_id == "lead-2"


async def test_a_persons_newer_lead_takes_the_record_over(store: Store, store_clock: FakeClock):
    async with store.transaction() as uow:
        await uow.crm_links.link("hubspot", "512", "lead-1")
    store_clock.advance(days=3)
    async with store.transaction() as uow:
        await uow.crm_links.link("hubspot", "512", "lead-2")
    async with store.read() as uow:
        link = await uow.crm_links.get("hubspot", "512")
    assert link is not None
    assert (link.lead_id, link.linked_at) == ("lead-2", STORE_EPOCH + timedelta(days=3))


async def test_a_link_rolled_back_is_not_there(store: Store):
    try:
        async with store.transaction() as uow:
            await uow.crm_links.link("hubspot", "512", "lead-1")
            raise RuntimeError("abort")
    except RuntimeError:
        pass
    async with store.read() as uow:
        assert await uow.crm_links.get("hubspot", "512") is None
