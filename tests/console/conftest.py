"""An embedded Leadrelay on SQLite reading the test's FakeClock, with the console signed in as
each role: ``console.signed_in(role)`` gives an HTTP client holding that role's session."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.bootstrap import build_app, build_runtime
from tests.conftest import FakeClock, Pipeline, start_pipeline, stop_pipeline

# Two teams, so a manager's reach has an edge; a paused rep, so the board has someone away;
# one claim a day from the pool, so a second claim is refused with the limit explained.
CONSOLE_POLICY = """
version: 1
timezone: Asia/Shanghai
scoring:
  rules: [{name: big-company, when: {employees: {gte: 500}}, points: 70}]
  grades: {hot: 60, warm: 30}
sla:
  handoff: 24h
  first_touch: {hot: 15m, warm: 1h, cold: 30m}
  clock: wall
  ladder: {remind: 50%, escalate: 100%, reassign: 150%}
  recycle_unworked_after: 7d
pool: {claims_per_day: 1, previous_owner_cooldown: 3d}
teams: [{name: smb, manager: mgr-s}, {name: ent, manager: mgr-e}]
managers: [{id: mgr-s, languages: [zh]}, {id: mgr-e}]
reps:
  - {id: rep-c, name: Chen, team: smb, capacity: {open: 5}, timezone: Asia/Shanghai,
     working_hours: {days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "24:00"}}
  - {id: rep-d, team: smb, timezone: Europe/Berlin,
     working_hours: {days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "24:00"}}
  - {id: rep-p, team: smb, paused: true}
  - {id: rep-x, team: ent, working_hours: {days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "24:00"}}
rules:
  - {name: germany, when: {country: DE}, strategy: round_robin, pool: {team: ent}}
  - {name: everyone, when: {}, strategy: round_robin, pool: {team: smb}}
fallback: {queue: unassigned, notify: [mgr-s]}
"""

ROLES = {"admin": ("admin", None), "manager": ("manager", "mgr-s"), "rep": ("rep", "rep-c"),
         "other_rep": ("rep", "rep-d"), "other_manager": ("manager", "mgr-e"), "ent_rep": ("rep", "rep-x")}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SIGNIN_CSRF = re.compile(r'name="signin_csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@dataclass
class Console:
    pipeline: Pipeline
    clock: FakeClock
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(self.pipeline.runtime)),
                                   base_url="http://leadrelay.test")
        self.clients.append(client)
        return client

    async def token(self, role: str) -> str:
        kind, person = ROLES[role]
        return await self.pipeline.token(kind, person)

    async def sign_in(self, client: httpx.AsyncClient, token: str, next_path: str = "/console/") -> httpx.Response:
        form = await client.get("/console/signin", params={"next": next_path})
        nonce = SIGNIN_CSRF.search(form.text)
        assert nonce is not None
        return await client.post("/console/signin", data={"token": token, "next": next_path,
                                                           "signin_csrf": nonce.group(1)})

    async def signed_in(self, role: str) -> httpx.AsyncClient:
        client = self.client()
        response = await self.sign_in(client, await self.token(role))
        assert response.status_code == 303, response.text[:500]
        return client

    async def new_lead(self, n: int, **fields: object) -> dict:
        body = {"email": f"p{n}@example.com", "name": f"Person {n}", "company": f"Firm {n}", **fields}
        response = await self.pipeline.post_lead(body)
        assert response.status_code == 202, response.text
        return await self.pipeline.wait_for(response.json()["lead_id"])

    async def lead_owned_by(self, rep: str, n: int) -> dict:
        """Posts leads until one lands with ``rep`` (round robin within the team)."""
        for i in range(n, n + 10):
            lead = await self.new_lead(i)
            if lead["owner"] == rep:
                return lead
        raise AssertionError(f"no lead went to {rep}")


@pytest.fixture
def clock() -> FakeClock:
    from tests.conftest import SLA_EPOCHS

    return FakeClock(SLA_EPOCHS["future"])


@pytest.fixture
async def console(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Console]:
    settings = Settings(data_dir=tmp_path / "data", public_url="http://leadrelay.test")
    running = await start_pipeline(build_runtime(settings, clock), None, embedded=True,  # type: ignore[arg-type]
                                   policy=CONSOLE_POLICY)
    harness = Console(running[0], clock)
    yield harness
    for client in harness.clients:
        await client.aclose()
    await stop_pipeline(*running)
