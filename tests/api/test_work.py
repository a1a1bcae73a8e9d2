"""Reps at work: their own leads only, actions on them, the team pool (公海)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from leadrelay.services.router.scheduler import SlaScheduler
from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.bootstrap import build_runtime
from tests.conftest import FakeClock, Pipeline, start_pipeline, stop_pipeline

POOL_POLICY = """
version: 1
timezone: Asia/Shanghai
scoring: {rules: [], grades: {hot: 60, warm: 30}}
sla:
  handoff: 24h
  first_touch: {hot: 15m, warm: 1h, cold: 10m}
  clock: wall
  ladder: {remind: 50%, escalate: 100%, reassign: 150%}
  recycle_unworked_after: 7d
pool: {claims_per_day: 2, previous_owner_cooldown: 3d}
teams: [{name: smb, manager: mgr-s}]
managers: [{id: mgr-s}]
reps:
  - {id: rep-c, team: smb, working_hours: {days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "24:00"}}
  - {id: rep-d, team: smb, working_hours: {days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "24:00"}}
  - {id: rep-e, team: smb, working_hours: {days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "24:00"}}
rules:
  - {name: everyone, when: {}, strategy: round_robin, pool: {team: smb}}
fallback: {queue: unassigned, notify: [mgr-s]}
"""


@pytest.fixture
async def work(tmp_path: Path, chat, clock: FakeClock):
    settings = Settings(data_dir=tmp_path / "data", public_url="http://leadrelay.test")
    running = await start_pipeline(build_runtime(settings, clock), chat, embedded=True, policy=POOL_POLICY)
    yield running[0]
    await stop_pipeline(*running)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def new_lead(work: Pipeline, n: int) -> dict:
    lead_id = (await work.post_lead({"email": f"p{n}@example.com", "name": f"Person {n}"})).json()["lead_id"]
    return await work.wait_for(lead_id)


async def act(work: Pipeline, token: str, lead_id: str, **body) -> object:
    return await work.client.post(f"/v1/leads/{lead_id}/activity", json=body, headers=bearer(token))


async def test_a_rep_sees_and_acts_on_only_their_own_leads(work: Pipeline):
    lead = await new_lead(work, 1)
    owner = lead["owner"]
    other = next(r for r in ("rep-c", "rep-d", "rep-e") if r != owner)
    mine, theirs = await work.token("rep", owner), await work.token("rep", other)

    assert (await work.client.get(f"/v1/leads/{lead['lead_id']}", headers=bearer(mine))).status_code == 200
    assert (await work.client.get(f"/v1/leads/{lead['lead_id']}", headers=bearer(theirs))).status_code == 404
    assert (await act(work, theirs, lead["lead_id"], action="accepted")).status_code == 404
    listed = (await work.client.get("/v1/me/leads", headers=bearer(mine))).json()["leads"]
    assert [item["lead_id"] for item in listed] == [lead["lead_id"]]
    assert (await work.client.get("/v1/me/leads", headers=bearer(theirs))).json()["leads"] == []

    accepted = await act(work, mine, lead["lead_id"], action="accepted")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"


async def test_a_manager_sees_the_team_and_can_reassign(work: Pipeline):
    lead = await new_lead(work, 2)
    manager = await work.token("manager", "mgr-s")
    listed = (await work.client.get("/v1/me/leads", headers=bearer(manager))).json()["leads"]
    assert lead["lead_id"] in [item["lead_id"] for item in listed]
    target = next(r for r in ("rep-c", "rep-d", "rep-e") if r != lead["owner"])
    response = await act(work, manager, lead["lead_id"], action="reassign", to_rep=target, reason="language")
    assert response.status_code == 200, response.text
    assert response.json()["owner"] == target


async def test_lost_needs_a_reason_and_a_closed_lead_takes_no_more_actions(work: Pipeline):
    lead = await new_lead(work, 3)
    token = await work.token("rep", lead["owner"])
    missing = await act(work, token, lead["lead_id"], action="lost")
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "reason"
    assert (await act(work, token, lead["lead_id"], action="lost", reason="no budget")).status_code == 200
    again = await act(work, token, lead["lead_id"], action="contacted")
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    assert (await act(work, token, lead["lead_id"], action="won")).status_code == 422


async def test_only_a_manager_may_reassign(work: Pipeline):
    lead = await new_lead(work, 4)
    token = await work.token("rep", lead["owner"])
    response = await act(work, token, lead["lead_id"], action="reassign", to_rep="rep-c")
    assert response.status_code == 403


async def recycled_lead(work: Pipeline, clock: FakeClock, n: int) -> dict:
    """Cold: 10 min first touch; nobody has a backup, so at 150% it goes back to the pool."""
    lead = await new_lead(work, n)
    clock.advance(minutes=16)
    await SlaScheduler(work.runtime.store, work.runtime.metrics, clock).fire_due()
    lead = await work.wait_for(lead["lead_id"], state=("pool",))
    assert lead["owner"] is None
    return lead


async def test_two_reps_claiming_one_pool_lead_at_once_make_exactly_one_winner(work: Pipeline, clock: FakeClock):
    lead = await recycled_lead(work, clock, 5)
    previous = next(h for h in lead["history"] if h["kind"] == "recycled")["previous_owner"]
    claimants = [r for r in ("rep-c", "rep-d", "rep-e") if r != previous]
    tokens = [await work.token("rep", rep) for rep in claimants]
    pool = (await work.client.get("/v1/pool", headers=bearer(tokens[0]))).json()["leads"]
    assert lead["lead_id"] in [item["lead_id"] for item in pool]

    answers = await asyncio.gather(*(work.client.post(f"/v1/pool/{lead['lead_id']}/claim", headers=bearer(t))
                                     for t in tokens))
    assert sorted(a.status_code for a in answers) == [200, 409]
    winner = claimants[[a.status_code for a in answers].index(200)]
    assert (await work.wait_for(lead["lead_id"]))["owner"] == winner


async def test_a_teams_pool_lists_its_own_lead_behind_more_than_a_window_of_other_teams_leads(
        work: Pipeline, clock: FakeClock):
    """The store narrows the pool to the caller's team: other teams' newer leads, more than the
    1,000 the pool once read before filtering by team, do not hide a team's own."""
    from tests.contract.store.values import new_lead as stored_lead

    async with work.runtime.store.transaction() as uow:
        await uow.leads.insert(**stored_lead("ours", received_at=clock.now - timedelta(hours=1), state="pool",
                                             team="smb", queue="pool"))
        for n in range(1001):
            await uow.leads.insert(**stored_lead(f"theirs-{n}", received_at=clock.now - timedelta(seconds=n),
                                                 state="pool", team="enterprise", queue="pool"))
    rep = await work.token("rep", "rep-c")
    response = await work.client.get("/v1/pool", headers=bearer(rep))
    assert response.status_code == 200
    assert [item["lead_id"] for item in response.json()["leads"]] == ["ours"]
    admin = await work.token("admin")
    everything = (await work.client.get("/v1/pool?limit=5", headers=bearer(admin))).json()["leads"]
    assert [item["lead_id"] for item in everything] == [f"theirs-{n}" for n in range(5)]


async def test_the_previous_owner_cannot_reclaim_during_the_cooldown(work: Pipeline, clock: FakeClock):
    lead = await recycled_lead(work, clock, 6)
    previous = next(h for h in lead["history"] if h["kind"] == "recycled")["previous_owner"]
    response = await work.client.post(f"/v1/pool/{lead['lead_id']}/claim",
                                      headers=bearer(await work.token("rep", previous)))
    assert response.status_code == 409
    assert response.json()["errors"][0]["reason"] == "previous owner cooling down"


async def test_a_rep_cannot_claim_more_than_the_daily_limit(work: Pipeline, clock: FakeClock):
    leads = [await recycled_lead(work, clock, 10 + i) for i in range(4)]
    previous = [next(h for h in lead["history"] if h["kind"] == "recycled")["previous_owner"] for lead in leads]
    claimant = min(("rep-c", "rep-d", "rep-e"), key=previous.count)  # owned at most one of the four
    claimable = [lead for lead, owner in zip(leads, previous, strict=True) if owner != claimant]
    token = await work.token("rep", claimant)
    codes = [(await work.client.post(f"/v1/pool/{lead['lead_id']}/claim", headers=bearer(token))).status_code
             for lead in claimable[:3]]
    assert codes == [200, 200, 409]


async def test_a_wrong_activity_field_is_an_invalid_field_like_every_other_field_error(work: Pipeline):
    lead = await new_lead(work, 20)
    token = await work.token("rep", lead["owner"])
    answers = {
        "unknown action": await act(work, token, lead["lead_id"], action="won"),
        "unknown field": await act(work, token, lead["lead_id"], action="accepted", colour="red"),
        "lost without a reason": await act(work, token, lead["lead_id"], action="lost"),  # raised by the route
    }
    for case, response in answers.items():
        assert response.status_code == 422, case
        assert response.headers["content-type"].startswith("application/problem+json"), case
        problem = response.json()
        assert problem["title"] == "Invalid field", case
        assert problem["type"] == "https://leadrelay.dev/problems/invalid-field", case
    assert [e["field"] for e in answers["unknown action"].json()["errors"]] == ["action"]
    assert [e["field"] for e in answers["unknown field"].json()["errors"]] == ["colour"]
    assert "won" not in answers["unknown action"].text  # the input is not echoed

    broken = await work.client.post(f"/v1/leads/{lead['lead_id']}/activity", content=b"{not json",
                                    headers={**bearer(token), "Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["title"] == "Bad request"
