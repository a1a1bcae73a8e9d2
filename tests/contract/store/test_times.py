"""Times (``shared/ports/records.py``): "every time in a record is an aware UTC datetime".

Each repository's own module checks the times it stamps and returns; this one checks that a time
handed in with another zone's offset is stored as the same instant, and compared as one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from leadrelay.shared.ports import Store
from tests.contract.store.values import new_lead

SHANGHAI = timezone(timedelta(hours=8))
DUE = datetime(2031, 3, 4, 10, 0, tzinfo=SHANGHAI)  # 02:00 UTC


async def test_a_time_given_in_another_zone_comes_back_as_the_same_instant_in_utc(store: Store):
    # Fails on SQLite: SQLAlchemy's SQLite DateTime writes the wall-clock digits and drops the
    # offset, so 10:00+08:00 is stored as "10:00" and read back as 10:00 UTC, eight hours late.
    async with store.transaction() as uow:
        await uow.leads.insert(**new_lead("lead-1", received_at=DUE))
        await uow.clocks.add(timer_id="lead-1:0:first_touch:escalate", lead_id="lead-1", clock="first_touch",
                             step="escalate", owner="rep-a", due_at=DUE)
    async with store.read() as uow:
        lead = await uow.leads.get("lead-1")
        [clock] = await uow.clocks.for_lead("lead-1")
        due_before = await uow.clocks.any_due(DUE.astimezone(UTC) - timedelta(minutes=1))
        due_at_it = await uow.clocks.any_due(DUE.astimezone(UTC))
    assert lead is not None and lead.received_at == DUE and lead.received_at.tzinfo == UTC
    assert clock.due_at == DUE and clock.due_at.tzinfo == UTC
    assert (due_before, due_at_it) == (False, True)
