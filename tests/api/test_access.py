"""Who may do what to which lead: every route against every role, table-driven.

Two teams, each with its own manager, reps and fallback: enterprise parks its leads in its own
queue (`enterprise-pool`); smb has no queue of its own, so its parked leads wait in the policy's
`unassigned` queue beside the leads no rule took (which never had a team). A paused rep makes
each team's parking rule actually park; a cold lead nobody works is recycled to the pool.

Roles, as seen from the enterprise team: the admin; the enterprise manager; the smb manager (the
manager of another team); rep-e1 (the owner of the assigned lead and the previous owner of the
recycled one); rep-e2 (another rep of the team); rep-s1 (a rep of another team, who owns the
other team's assigned lead); the source key that posted every lead; another source key; and no
token. Leads, one per state: assigned to rep-e1, parked in enterprise's queue, parked with no
team, recycled from rep-e1 to the pool, and the other team's assigned and parked leads.

Every cell states the documented answer (README, "HTTP API"): 404, never 403, for a lead outside
the caller's reach (and the same 404 as for a lead that does not exist); 403 only for what the
role may never do; 401 without a credential. A cell answered 2xx runs on a fresh lead in that
state; the others run on the shared leads, which must come out unchanged. No answer, anywhere,
carries a chat webhook URL or a signing secret.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from leadrelay.services.router.scheduler import SlaScheduler
from leadrelay.shared.policy import load_policy
from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.bootstrap import build_runtime, create_source
from tests.conftest import SLA_EPOCHS, FakeClock, Pipeline, start_pipeline, stop_pipeline
from tests.platforms.fake_chat import FakeChat

ALWAYS = '{days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "24:00"}'
# Webhooks nobody reaches in this test still look like the real thing: for DingTalk, WeCom and
# Teams the URL is the credential. Port 9 on loopback refuses, so nothing leaves the machine.
DINGTALK = "http://127.0.0.1:9/robot/send?access_token=dt-smb-manager-7f3a9c2e5b1d"
DINGTALK_SECRET = "SECd1n9t4lk-s1gn1ng-s3cr3t-0042"
WECOM = "http://127.0.0.1:9/cgi-bin/webhook/send?key=wc-enterprise-paused-93b1"
TEAMS = "http://127.0.0.1:9/webhookb2/teams-smb-paused@tenant/IncomingWebhook/abc/def-77"
REP_S2 = "http://127.0.0.1:9/hooks/slack/T111/B222/rep-s2-xoxb-8d2c"

ACCESS_POLICY = f"""
version: 1
timezone: Asia/Shanghai
scoring:
  rules:
    - {{name: sized, when: {{employees: {{gte: 1}}}}, points: 40}}   # warm; a lead without a size is cold
  grades: {{hot: 60, warm: 30}}
sla:
  handoff: 24h
  first_touch: {{hot: 1d, warm: 1d, cold: 10m}}
  clock: wall
  ladder: {{remind: 50%, escalate: 100%, reassign: 150%}}
  recycle_unworked_after: 7d
pool: {{claims_per_day: null, previous_owner_cooldown: 3d}}
teams:
  - {{name: enterprise, manager: mgr-e, fallback_queue: enterprise-pool}}
  - {{name: smb, manager: mgr-s}}
managers:
  - {{id: mgr-e, chat: {{platform: slack, webhook: "{{webhook_mgr}}"}}}}
  - {{id: mgr-s, chat: {{platform: dingtalk, webhook: "{DINGTALK}", secret: "{DINGTALK_SECRET}"}}}}
reps:
  - {{id: rep-e1, team: enterprise, working_hours: {ALWAYS}, chat: {{platform: slack, webhook: "{{webhook_a}}"}}}}
  - {{id: rep-e2, team: enterprise, working_hours: {ALWAYS}, chat: {{platform: slack, webhook: "{{webhook_b}}"}}}}
  - id: rep-e3
    team: enterprise
    paused: true
    chat: {{platform: wecom, webhook: "{WECOM}", secret: "env:LEADRELAY_TEST_WECOM_SECRET"}}
  - {{id: rep-s1, team: smb, working_hours: {ALWAYS}, chat: {{platform: slack, webhook: "{{webhook_c}}"}}}}
  - {{id: rep-s2, team: smb, working_hours: {ALWAYS}, chat: {{platform: slack, webhook: "{REP_S2}"}}}}
  - {{id: rep-s3, team: smb, paused: true, chat: {{platform: teams, webhook: "{TEAMS}"}}}}
rules:
  - {{name: enterprise-parked, when: {{industry: mining}}, strategy: round_robin, pool: {{reps: [rep-e3]}}}}
  - {{name: smb-parked, when: {{industry: fishing}}, strategy: round_robin, pool: {{reps: [rep-s3]}}}}
  - {{name: enterprise, when: {{industry: manufacturing}}, strategy: round_robin, pool: {{reps: [rep-e1]}}}}
  - {{name: smb, when: {{industry: retail}}, strategy: round_robin, pool: {{reps: [rep-s1]}}}}
fallback: {{queue: unassigned, notify: [mgr-e]}}
"""

STATES = ("assigned", "queued", "teamless", "recycled", "other_assigned", "other_queued")
# What each state's lead is posted with; a recycled lead is an assigned cold one nobody worked.
POSTED = {
    "assigned": {"industry": "manufacturing", "employees": 50},
    "queued": {"industry": "mining", "employees": 50},
    "teamless": {"industry": "education", "employees": 50},
    "recycled": {"industry": "manufacturing"},
    "other_assigned": {"industry": "retail", "employees": 50},
    "other_queued": {"industry": "fishing", "employees": 50},
}
ROUTED = {"assigned": "assigned", "queued": "queued", "teamless": "queued", "recycled": "assigned",
          "other_assigned": "assigned", "other_queued": "queued"}
ROLES = ("admin", "manager", "other_manager", "owner", "teammate", "other_rep", "source", "other_source",
         "anonymous")
GHOST = "00000000-0000-4000-8000-000000000000"  # a lead that does not exist


def policy_for(chat: FakeChat) -> str:
    text = ACCESS_POLICY
    for name in ("webhook_a", "webhook_b", "webhook_c", "webhook_mgr"):
        text = text.replace("{" + name + "}", chat.webhook_url("slack", token=f"T000/B000/{name}"))
    return text


def credentials_in(text: str) -> list[str]:
    """Every chat webhook URL and literal signing secret the policy holds."""
    policy = load_policy(text)
    found = []
    for person in (*policy.reps, *policy.managers):
        if person.chat is not None:
            found.append(person.chat.webhook)
            if person.chat.secret and not person.chat.secret.startswith("env:"):
                found.append(person.chat.secret)
    return found


@dataclass
class World:
    app: Pipeline
    clock: FakeClock
    policy: str
    credentials: dict[str, str | None] = field(default_factory=dict)  # role -> bearer credential
    leads: dict[str, str] = field(default_factory=dict)  # state -> the shared lead in that state
    answers: list[httpx.Response] = field(default_factory=list)  # every answer, for the secrets check
    numbers: itertools.count = field(default_factory=itertools.count)

    async def call(self, method: str, path: str, role: str, *, headers: dict[str, str] | None = None,
                   **options: object) -> httpx.Response:
        credential = self.credentials[role]
        headers = {**(headers or {}), **({"Authorization": f"Bearer {credential}"} if credential else {})}
        response = await self.app.client.request(method, path, headers=headers, **options)  # type: ignore[arg-type]
        self.answers.append(response)
        return response

    async def fresh(self, state: str) -> str:
        """A new lead in ``state``, posted by the source."""
        n = next(self.numbers)
        body = {"email": f"person{n}@example.com", "name": f"Person {n}", "company": f"Company {n}",
                **POSTED[state]}
        lead_id = (await self.app.post_lead(body)).json()["lead_id"]
        lead = await self.app.wait_for(lead_id, state=(ROUTED[state],))
        if state == "recycled":
            # Cold: 10 min first touch; rep-e1 has no backup, so at 150% the lead goes to the pool.
            # Every other lead is warm (a day), so only this kind of lead moves.
            self.clock.advance(minutes=16)
            await SlaScheduler(self.app.runtime.store, self.app.runtime.metrics, self.clock).fire_due()
            lead = await self.app.wait_for(lead_id, state=("pool",))
        self.answers.append(httpx.Response(200, json=lead))
        return lead_id

    async def snapshot(self) -> dict[str, tuple]:
        admin = await self.app.token("admin")
        shown = {}
        for state, lead_id in self.leads.items():
            lead = (await self.app.client.get(f"/v1/leads/{lead_id}", headers={"Authorization": f"Bearer {admin}"})
                    ).json()
            shown[state] = (lead["status"], lead["owner"], lead["team"], lead["queue"], len(lead["history"]))
        return shown


@pytest.fixture
async def world(tmp_path: Path, chat: FakeChat) -> AsyncIterator[World]:
    clock = FakeClock(SLA_EPOCHS["future"])
    settings = Settings(data_dir=tmp_path / "data", public_url="http://leadrelay.test")
    text = policy_for(chat)
    running = await start_pipeline(build_runtime(settings, clock), chat, embedded=True, policy=text)
    app = running[0]
    world = World(app, clock, text)
    world.credentials = {
        "admin": await app.token("admin"),
        "manager": await app.token("manager", "mgr-e"),
        "other_manager": await app.token("manager", "mgr-s"),
        "owner": await app.token("rep", "rep-e1"),
        "teammate": await app.token("rep", "rep-e2"),
        "other_rep": await app.token("rep", "rep-s1"),
        "source": app.source_key,
        "other_source": await create_source(app.runtime, "partner"),
        "anonymous": None,
    }
    for state in STATES:
        world.leads[state] = await world.fresh(state)
    yield world
    try:
        leaked = [(secret, where_from(answer)) for answer in world.answers for secret in credentials_in(text)
                  if secret in answer.text]
        assert not leaked, f"chat credentials in API answers: {leaked[:5]}"
    finally:
        await stop_pipeline(*running)


def where_from(answer: httpx.Response) -> str:
    try:
        return f"{answer.request.method} {answer.request.url.path}"
    except RuntimeError:  # a lead view kept by World.fresh
        return "a lead view"


Request = Callable[[str, str, str], Awaitable[httpx.Response]]  # (role, state, lead id) -> the answer


async def run_table(world: World, table: dict[str, tuple[int, ...]], request: Request) -> list[str]:
    """Runs every (role, state) cell; returns the cells that did not answer as documented. A
    404 must read exactly like the 404 for a lead that does not exist."""
    assert set(table) == set(ROLES)
    before = await world.snapshot()
    wrong = []
    for role, expected_codes in table.items():
        for state, expected in zip(STATES, expected_codes, strict=True):
            lead_id = await world.fresh(state) if expected < 300 else world.leads[state]
            response = await request(role, state, lead_id)
            where = f"{role} × {state}"
            if response.status_code != expected:
                wrong.append(f"{where}: {response.status_code}, documented {expected}: {response.text[:300]}")
            elif expected >= 400 and not response.headers["content-type"].startswith("application/problem+json"):
                wrong.append(f"{where}: {expected} is not problem+json")
            elif expected == 404:
                ghost = await request(role, state, GHOST)
                if problem(response, lead_id) != problem(ghost, GHOST):
                    wrong.append(f"{where}: its 404 differs from a missing lead's: {response.text} / {ghost.text}")
    assert await world.snapshot() == before, "a refused request changed a lead"
    return wrong


def problem(response: httpx.Response, lead_id: str) -> dict:
    """A problem document with the lead's id and the request's trace id taken out."""
    return {key: str(value).replace(lead_id, "{id}") for key, value in response.json().items() if key != "trace_id"}


# --- GET /v1/leads/{id} ---------------------------------------------------------------------------

#                  assigned queued teamless recycled other_assigned other_queued
READ_LEAD = {
    "admin":         (200, 200, 200, 200, 200, 200),
    "manager":       (200, 200, 200, 200, 404, 404),  # teamless: the policy's fallback tells mgr-e
    "other_manager": (404, 404, 404, 404, 200, 200),
    "owner":         (200, 404, 404, 404, 404, 404),  # a recycled lead is no longer the owner's
    "teammate":      (404, 404, 404, 404, 404, 404),
    "other_rep":     (404, 404, 404, 404, 200, 404),
    "source":        (200, 200, 200, 200, 200, 200),  # it posted every one
    "other_source":  (404, 404, 404, 404, 404, 404),
    "anonymous":     (401, 401, 401, 401, 401, 401),
}


async def test_reading_a_lead(world: World):
    async def read(role: str, state: str, lead_id: str) -> httpx.Response:
        return await world.call("GET", f"/v1/leads/{lead_id}", role)

    assert await run_table(world, READ_LEAD, read) == []


async def test_a_parked_or_recycled_lead_keeps_its_team(world: World):
    admin = world.credentials["admin"]
    shown = {state: (await world.app.client.get(f"/v1/leads/{lead_id}", headers={"Authorization": f"Bearer {admin}"})
                     ).json() for state, lead_id in world.leads.items()}
    where = {state: (lead["status"], lead["owner"], lead["team"], lead["queue"]) for state, lead in shown.items()}
    assert where == {
        "assigned": ("assigned", "rep-e1", "enterprise", None),
        "queued": ("queued", None, "enterprise", "enterprise-pool"),
        "teamless": ("queued", None, None, "unassigned"),
        "recycled": ("pool", None, "enterprise", "pool"),
        "other_assigned": ("assigned", "rep-s1", "smb", None),
        "other_queued": ("queued", None, "smb", "unassigned"),  # smb has no queue of its own
    }


# --- POST /v1/leads/{id}/activity ---------------------------------------------------------------

# accepted, contacted, converted and lost start from an assigned lead only (409 elsewhere, for
# whoever may see the lead); sources never act on leads (403, whatever the lead).
#                  assigned queued teamless recycled other_assigned other_queued
ACT = {
    "admin":         (200, 409, 409, 409, 200, 409),
    "manager":       (200, 409, 409, 409, 404, 404),
    "other_manager": (404, 404, 404, 404, 200, 409),
    "owner":         (200, 404, 404, 404, 404, 404),
    "teammate":      (404, 404, 404, 404, 404, 404),
    "other_rep":     (404, 404, 404, 404, 200, 404),
    "source":        (403, 403, 403, 403, 403, 403),
    "other_source":  (403, 403, 403, 403, 403, 403),
    "anonymous":     (401, 401, 401, 401, 401, 401),
}


@pytest.mark.parametrize("action", [{"action": "accepted"}, {"action": "contacted"}, {"action": "converted"},
                                    {"action": "lost", "reason": "no budget"}], ids=lambda body: body["action"])
async def test_acting_on_a_lead(world: World, action: dict):
    async def act(role: str, state: str, lead_id: str) -> httpx.Response:
        return await world.call("POST", f"/v1/leads/{lead_id}/activity", role, json=action)

    assert await run_table(world, ACT, act) == []


# A manager reassigns a lead in their reach to a rep of their own team; an admin, anything.
#                  assigned queued teamless recycled other_assigned other_queued
REASSIGN = {
    "admin":         (200, 200, 200, 200, 200, 200),
    "manager":       (200, 200, 200, 200, 404, 404),
    "other_manager": (404, 404, 404, 404, 200, 200),
    "owner":         (403, 403, 403, 403, 403, 403),  # reassigning is a manager's call
    "teammate":      (403, 403, 403, 403, 403, 403),
    "other_rep":     (403, 403, 403, 403, 403, 403),
    "source":        (403, 403, 403, 403, 403, 403),
    "other_source":  (403, 403, 403, 403, 403, 403),
    "anonymous":     (401, 401, 401, 401, 401, 401),
}
# Each manager names a rep of their own team; the admin, one of the lead's team.
TARGET = {"manager": "rep-e2", "other_manager": "rep-s2"}
TEAM_REP = {"assigned": "rep-e2", "queued": "rep-e2", "teamless": "rep-e2", "recycled": "rep-e2",
            "other_assigned": "rep-s2", "other_queued": "rep-s2"}


async def test_reassigning_a_lead(world: World):
    async def reassign(role: str, state: str, lead_id: str) -> httpx.Response:
        target = TARGET.get(role, TEAM_REP[state])
        response = await world.call("POST", f"/v1/leads/{lead_id}/activity", role,
                                    json={"action": "reassign", "to_rep": target, "reason": "test"})
        if response.status_code == 200:
            team = "smb" if target == "rep-s2" else "enterprise"
            assert (response.json()["owner"], response.json()["team"]) == (target, team)
        return response

    assert await run_table(world, REASSIGN, reassign) == []


async def test_a_manager_reassigns_only_to_their_own_team(world: World):
    async def reassign(role: str, state: str, to_rep: str) -> httpx.Response:
        return await world.call("POST", f"/v1/leads/{world.leads[state]}/activity", role,
                                json={"action": "reassign", "to_rep": to_rep})

    before = await world.snapshot()
    # Out of another team's queue to one's own rep: the lead is not in reach.
    assert (await reassign("other_manager", "queued", "rep-s1")).status_code == 404
    assert (await reassign("other_manager", "recycled", "rep-s1")).status_code == 404
    assert (await reassign("manager", "other_queued", "rep-e2")).status_code == 404
    # One's own team's lead to another team's rep, or to nobody: the same 422, naming the field.
    for to_rep in ("rep-s1", "rep-nobody"):
        refused = await reassign("manager", "assigned", to_rep)
        assert refused.status_code == 422 and refused.json()["errors"] == [
            {"field": "to_rep", "reason": "not a rep of your team"}]
    assert await world.snapshot() == before
    # An admin moves leads across teams.
    moved = await world.call("POST", f"/v1/leads/{await world.fresh('queued')}/activity", "admin",
                             json={"action": "reassign", "to_rep": "rep-s1"})
    assert moved.status_code == 200 and (moved.json()["owner"], moved.json()["team"]) == ("rep-s1", "smb")


# --- the pool ------------------------------------------------------------------------------------

# Only reps claim (403 for every other role, whatever the lead). A rep may claim their team's
# queued and pooled leads and those that never had a team; another team's answer 404. A lead
# already owned by someone on the rep's team is taken (409); the previous owner of a recycled
# lead waits out the cooldown (409).
#                  assigned queued teamless recycled other_assigned other_queued
CLAIM = {
    "admin":         (403, 403, 403, 403, 403, 403),
    "manager":       (403, 403, 403, 403, 403, 403),
    "other_manager": (403, 403, 403, 403, 403, 403),
    "owner":         (409, 200, 200, 409, 404, 404),
    "teammate":      (409, 200, 200, 200, 404, 404),
    "other_rep":     (404, 404, 200, 404, 409, 200),
    "source":        (403, 403, 403, 403, 403, 403),
    "other_source":  (403, 403, 403, 403, 403, 403),
    "anonymous":     (401, 401, 401, 401, 401, 401),
}
CLAIMANT = {"owner": "rep-e1", "teammate": "rep-e2", "other_rep": "rep-s1"}


async def test_claiming_from_the_pool(world: World):
    async def claim(role: str, state: str, lead_id: str) -> httpx.Response:
        response = await world.call("POST", f"/v1/pool/{lead_id}/claim", role)
        if response.status_code == 200:
            assert response.json()["owner"] == CLAIMANT[role]
        return response

    assert await run_table(world, CLAIM, claim) == []


# Which of the shared leads GET /v1/pool lists, by role (None: the role is refused).
POOL = {
    "admin": {"queued", "teamless", "recycled", "other_queued"},
    "manager": {"queued", "teamless", "recycled"},
    "other_manager": {"other_queued"},
    "owner": {"queued", "teamless", "recycled"},
    "teammate": {"queued", "teamless", "recycled"},
    "other_rep": {"teamless", "other_queued"},
    "source": 403,
    "other_source": 403,
    "anonymous": 401,
}
# Which of the shared leads GET /v1/me/leads lists, by role.
MINE = {
    "admin": set(STATES),
    "manager": {"assigned"},
    "other_manager": {"other_assigned"},
    "owner": {"assigned"},
    "teammate": set(),
    "other_rep": {"other_assigned"},
    "source": 403,
    "other_source": 403,
    "anonymous": 401,
}


@pytest.mark.parametrize(("path", "table"), [("/v1/pool", POOL), ("/v1/me/leads", MINE)], ids=["pool", "me"])
async def test_what_each_role_lists(world: World, path: str, table: dict[str, set[str] | int]):
    assert set(table) == set(ROLES)
    states = {lead_id: state for state, lead_id in world.leads.items()}
    wrong = []
    for role, expected in table.items():
        response = await world.call("GET", path, role)
        if isinstance(expected, int):
            if response.status_code != expected:
                wrong.append(f"{role}: {response.status_code}, documented {expected}")
            continue
        listed = {states.get(item["lead_id"], item["lead_id"]) for item in response.json()["leads"]}
        if response.status_code != 200 or listed != expected:
            wrong.append(f"{role}: {response.status_code} {sorted(listed)}, documented {sorted(expected)}")
    assert wrong == []


# --- the policy and the fairness ledger ----------------------------------------------------------

POLICY_ROLES = {"admin": 200, "manager": 403, "other_manager": 403, "owner": 403, "teammate": 403,
                "other_rep": 403, "source": 403, "other_source": 403, "anonymous": 401}


async def test_only_an_admin_reads_or_changes_the_policy_and_no_credential_is_shown(world: World):
    codes = {}
    for role in ROLES:
        read = await world.call("GET", "/v1/policy", role)
        write = await put_policy(world, role, world.policy)
        codes[role] = (read.status_code, write.status_code)
    assert codes == {role: (code, code) for role, code in POLICY_ROLES.items()}

    document = (await world.call("GET", "/v1/policy", "admin")).json()["document"]
    for credential in credentials_in(world.policy):
        assert credential not in document
    assert 'webhook: "http://127.0.0.1:9/…5b1d", secret: "…0042"' in document  # scheme, host, last 4
    assert "env:LEADRELAY_TEST_WECOM_SECRET" in document  # a reference to a secret reads as written
    assert "# warm; a lead without a size is cold" in document  # the document as written, comments kept
    # Sent back as read, the masked document is refused rather than cutting every chat off.
    refused = await put_policy(world, "admin", document)
    assert refused.status_code == 422
    assert {"field": "managers[1].chat.secret", "reason": "masked value"} in refused.json()["errors"]
    assert {"field": "reps[0].chat.webhook", "reason": "masked value"} in refused.json()["errors"]


async def put_policy(world: World, role: str, text: str) -> httpx.Response:
    return await world.call("PUT", "/v1/policy", role, content=text.encode(),
                            headers={"Content-Type": "application/yaml"})


# GET and POST /v1/reps/{rep}/credits, for a rep of the team (rep-e1) and one of another (rep-s1).
#                  GET e1, GET s1, POST e1, POST s1
CREDITS = {
    "admin":         (200, 200, 201, 201),
    "manager":       (200, 404, 201, 404),
    "other_manager": (404, 200, 404, 201),
    "owner":         (200, 404, 403, 403),  # a rep reads their own ledger and gives no credit
    "teammate":      (404, 404, 403, 403),
    "other_rep":     (404, 200, 403, 403),
    "source":        (403, 403, 403, 403),
    "other_source":  (403, 403, 403, 403),
    "anonymous":     (401, 401, 401, 401),
}


async def test_the_fairness_ledger(world: World):
    assert set(CREDITS) == set(ROLES)
    wrong = []
    for role, expected in CREDITS.items():
        answers = (
            await world.call("GET", "/v1/reps/rep-e1/credits", role),
            await world.call("GET", "/v1/reps/rep-s1/credits", role),
            await world.call("POST", "/v1/reps/rep-e1/credits", role, json={"delta": 1, "reason": "a junk lead"}),
            await world.call("POST", "/v1/reps/rep-s1/credits", role, json={"delta": 1, "reason": "a junk lead"}),
        )
        if tuple(answer.status_code for answer in answers) != expected:
            wrong.append(f"{role}: {[answer.status_code for answer in answers]}, documented {list(expected)}")
    assert wrong == []
    ledger = (await world.call("GET", "/v1/reps/rep-e1/credits", "manager")).json()
    assert ledger["balance"] == 2 and {entry["by"] for entry in ledger["entries"]} == {"admin", "mgr-e"}

