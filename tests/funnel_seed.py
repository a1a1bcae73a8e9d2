"""A seeded set of leads and rep actions for the funnel report's tests, run through the real
embedded pipeline (intake, scoring, routing, the SLA scheduler, the activity API) on a FakeClock.

The test policy (tests/fixtures/policy.yaml, wall clock; first touch: hot 15m, warm 4h, cold 1d;
the ladder escalates at 100%) with one change: the catch-all rule routes only leads from CN, so a
lead from elsewhere waits in the fallback queue. Scores: referral +30, a senior title +40,
500+ employees +25; hot ≥ 60, warm ≥ 30. Hot leads go to rep-a/rep-b (least loaded, ties by id;
team enterprise, rule hot-enterprise), the others from CN to rep-c (team smb, rule everyone-else).

    T0         O  web       cold  → rep-c                         (received outside the period)
    T1 = T0+2h A  web       hot   → rep-a
               B  web       hot   → rep-b   (rep-a has one open)
               C  web       warm  → rep-c   (CTO: 40)
               D  web       cold  → rep-c
               E  referral  warm  → rep-c   (referral: 30)
               F  referral  hot   → rep-a   (95; rep-a and rep-b tie at one open each: id order)
               G  web       cold, from US → queued in "unassigned" (no rule, no team, no rep)
    T1+5m   A accepted, D accepted
    T1+10m  A contacted, C contacted
    T1+16m  the scheduler fires the 15m first-touch deadline of B and F: both breached
    T1+20m  B contacted, F lost (never touched)
    T1+30m  A converted, C converted, O converted
    T1+40m  B lost

The period the tests ask for is [T0+1h, T1+1h): A to G, not O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from leadrelay.services.router.scheduler import SlaScheduler
from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.bootstrap import build_runtime, create_source
from tests.conftest import FakeClock, Pipeline, policy_text, start_pipeline
from tests.platforms.fake_chat import FakeChat

CATCH_ALL = "- {name: everyone-else, when: {}, "
LEADS: dict[str, tuple[str, dict]] = {
    "O": ("web", {"email": "zhao@oldmill.cn", "name": "Zhao Lei", "company": "Old Mill", "country": "CN"}),
    "A": ("web", {"email": "chen@alphasteel.cn", "name": "Chen Jie", "company": "Alpha Steel", "title": "CTO",
                  "employees": 600, "country": "CN"}),
    "B": ("web", {"email": "liu@betamotors.cn", "name": "Liu Yang", "company": "Beta Motors", "title": "CEO",
                  "employees": 800, "country": "CN"}),
    "C": ("web", {"email": "sun@gammasoft.cn", "name": "Sun Mei", "company": "Gamma Soft", "title": "CTO",
                  "country": "CN"}),
    "D": ("web", {"email": "zhou@deltafoods.cn", "name": "Zhou Min", "company": "Delta Foods", "country": "CN"}),
    "E": ("referral", {"email": "wu@epsilonlabs.cn", "name": "Wu Hao", "company": "Epsilon Labs", "country": "CN"}),
    "F": ("referral", {"email": "zheng@zetapower.cn", "name": "Zheng Tao", "company": "Zeta Power", "title": "VP",
                       "employees": 900, "country": "CN"}),
    "G": ("web", {"email": "john@etashop.com", "name": "John Smith", "company": "Eta Shop", "country": "US"}),
}
OWNERS = {"O": "rep-c", "A": "rep-a", "B": "rep-b", "C": "rep-c", "D": "rep-c", "E": "rep-c", "F": "rep-a", "G": None}


def funnel_policy(chat: FakeChat | None) -> str:
    text = policy_text(chat)
    assert text.count(CATCH_ALL) == 1, "the test policy's catch-all rule changed"
    return text.replace(CATCH_ALL, "- {name: everyone-else, when: {country: CN}, ")


@dataclass
class Seeded:
    pipeline: Pipeline
    t0: datetime
    t1: datetime
    ids: dict[str, str]  # lead letter -> lead id
    referral_key: str

    @property
    def since(self) -> datetime:
        return self.t0 + timedelta(hours=1)

    @property
    def until(self) -> datetime:
        return self.t1 + timedelta(hours=1)


async def start_funnel_pipeline(data_dir: Path, chat: FakeChat, clock: FakeClock):
    """The embedded pipeline over ``data_dir`` on ``clock``, with the funnel's policy; returns
    what ``start_pipeline`` does."""
    settings = Settings(data_dir=data_dir, public_url="http://leadrelay.test")
    return await start_pipeline(build_runtime(settings, clock), chat, embedded=True, policy=funnel_policy(chat))


async def seed(pipeline: Pipeline, clock: FakeClock) -> Seeded:
    """Plays the timeline of this module's docstring; checks each lead went where it says."""
    referral_key = await create_source(pipeline.runtime, "referral")
    keys = {"web": pipeline.source_key, "referral": referral_key}
    ids: dict[str, str] = {}

    async def post(letter: str) -> None:
        source, body = LEADS[letter]
        response = await pipeline.post_lead(body, key=keys[source])
        assert response.status_code == 202, response.text
        ids[letter] = response.json()["lead_id"]
        lead = await pipeline.wait_for(ids[letter])
        assert lead["owner"] == OWNERS[letter], (letter, lead["owner"], lead["status"])

    tokens = {rep: await pipeline.token("rep", rep) for rep in ("rep-a", "rep-b", "rep-c")}

    async def act(letter: str, action: str, reason: str | None = None) -> None:
        body = {"action": action, **({"reason": reason} if reason else {})}
        response = await pipeline.client.post(f"/v1/leads/{ids[letter]}/activity", json=body,
                                              headers={"Authorization": f"Bearer {tokens[OWNERS[letter]]}"})
        assert response.status_code == 200, (letter, action, response.text)

    t0 = clock.now
    await post("O")
    clock.advance(hours=2)
    t1 = clock.now
    for letter in "ABCDEFG":
        await post(letter)
    clock.now = t1 + timedelta(minutes=5)
    await act("A", "accepted")
    await act("D", "accepted")
    clock.now = t1 + timedelta(minutes=10)
    await act("A", "contacted")
    await act("C", "contacted")
    clock.now = t1 + timedelta(minutes=16)
    runtime = pipeline.runtime
    await SlaScheduler(runtime.store, runtime.metrics, runtime.clock).fire_due()  # the background one may beat it
    async with runtime.store.read() as uow:
        for letter in "BF":
            kinds = [h.kind for h in await uow.leads.history(ids[letter])]
            assert "sla_breached" in kinds, (letter, kinds)
    clock.now = t1 + timedelta(minutes=20)
    await act("B", "contacted")
    await act("F", "lost", "spam")
    clock.now = t1 + timedelta(minutes=30)
    for letter in "ACO":
        await act(letter, "converted")
    clock.now = t1 + timedelta(minutes=40)
    await act("B", "lost", "no budget")
    return Seeded(pipeline, t0, t1, ids, referral_key)
