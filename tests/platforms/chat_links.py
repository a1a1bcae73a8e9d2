"""What the chat-action tests share: a policy whose one rep reads a chosen platform, a pipeline
with chosen settings on either backend, the buttons of a message as each platform shows them, and
what the outbox says about a lead's activity."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from leadrelay.shared.adapters.sql import schema
from leadrelay.shared.clock import Clock, system_clock
from leadrelay.shared.events import Envelope
from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.bootstrap import build_runtime
from tests.conftest import Pipeline, distributed_settings, scratch_database, start_pipeline, stop_pipeline
from tests.platforms.fake_chat import FakeChat, Received

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the Slack app's signing secret, as the tests set it
SLACK_USERS = {"rep-x": "U0REPX", "rep-y": "U0REPY", "mgr-m": "U0MGRM"}
LEAD = {"name": "Li Wei", "company": "Big Factory", "title": "CTO", "employees": 2000, "country": "CN"}


def one_rep_policy(chat: FakeChat, platform: str = "slack", *, languages: str = "[en]") -> str:
    """rep-x (Li Wei) takes every lead, on ``platform``; rep-y is the desk's other rep (and
    rep-x's backup); mgr-m manages the desk. Everyone is on Slack except rep-x, and Slack
    knows each of them by their SLACK_USERS id."""
    webhooks = {name: chat.register(plat, f"T000/B000/{name}" if plat == "slack" else f"tok-{name}")
                for name, plat in (("rep-x", platform), ("rep-y", "slack"), ("mgr-m", "slack"))}
    return f"""
version: 1
timezone: Asia/Shanghai
scoring:
  rules: [{{name: big-company, when: {{employees: {{gte: 500}}}}, points: 70}}]
  grades: {{hot: 60, warm: 30}}
sla:
  handoff: 24h
  first_touch: {{hot: 15m, warm: 4h, cold: 1d}}
  clock: wall
  ladder: {{remind: 50%, escalate: 100%, reassign: 150%}}
  recycle_unworked_after: 7d
pool: {{claims_per_day: 20, previous_owner_cooldown: 3d}}
teams: [{{name: desk, manager: mgr-m}}]
managers:
  - {{id: mgr-m, name: Zhou Min, chat: {{platform: slack, webhook: "{webhooks['mgr-m']}", user_id: {SLACK_USERS['mgr-m']}}}}}
reps:
  - id: rep-x
    name: Li Wei
    team: desk
    languages: {languages}
    timezone: Asia/Shanghai
    working_hours: {{days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "24:00"}}
    backup: rep-y
    chat: {{platform: {platform}, webhook: "{webhooks['rep-x']}", user_id: {SLACK_USERS['rep-x']}}}
  - id: rep-y
    name: Chen Jing
    team: desk
    working_hours: {{days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "24:00"}}
    chat: {{platform: slack, webhook: "{webhooks['rep-y']}", user_id: {SLACK_USERS['rep-y']}}}
rules:
  - {{name: to-rep-x, when: {{}}, strategy: round_robin, pool: {{reps: [rep-x]}}}}
fallback: {{queue: unassigned, notify: [mgr-m]}}
"""


@asynccontextmanager
async def chat_pipeline(backend: str, tmp_path: Path, chat: FakeChat, policy: str, clock: Clock = system_clock,
                        **settings: Any) -> AsyncIterator[Pipeline]:
    """The pipeline on either backend, with ``settings`` (the Slack signing secret, no public URL…)."""
    if backend == "embedded":
        values = {"data_dir": tmp_path / "data", "public_url": "http://leadrelay.test", **settings}
        running = await start_pipeline(build_runtime(Settings(**values), clock), chat, embedded=True, policy=policy)
        try:
            yield running[0]
        finally:
            await stop_pipeline(*running)
        return
    async with scratch_database() as url:
        base = distributed_settings(url, f"t{uuid.uuid4().hex[:8]}.")
        running = await start_pipeline(build_runtime(base.model_copy(update=settings), clock), chat, embedded=False,
                                       policy=policy)
        try:
            yield running[0]
        finally:
            await stop_pipeline(*running)


async def post(pipeline: Pipeline, **contact: Any) -> str:
    """Posts a hot lead (a new person each time) and waits for it to be routed; returns its id."""
    body = {**LEAD, "email": f"p{uuid.uuid4().hex[:10]}@bigfactory.cn", **contact}
    lead_id = (await pipeline.post_lead(body)).json()["lead_id"]
    await pipeline.wait_for(lead_id)
    return lead_id


async def message_for(chat: FakeChat, platform: str, lead_id: str, token: str, count: int = 1,
                      timeout: float = 20.0) -> Received:
    """The ``count``-th message about the lead to webhook ``token`` (waits for it)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = [m for m in chat.messages(platform) if m.token.endswith(token) and lead_id in m.body.decode()]
        if len(found) >= count:
            return found[count - 1]
        assert asyncio.get_running_loop().time() < deadline, f"no message {count} to {token} about {lead_id}"
        await asyncio.sleep(0.05)


def buttons(platform: str, payload: dict[str, Any]) -> dict[str, str]:
    """The URL buttons of a message as its platform shows them, by label."""
    match platform:
        case "slack":
            return {e["text"]["text"]: e["url"] for b in payload["blocks"] if b["type"] == "actions"
                    for e in b["elements"] if "url" in e}
        case "teams":
            return {a["title"]: a["url"] for a in payload["attachments"][0]["content"].get("actions", [])}
        case "feishu":
            return {a["text"]["content"]: a["url"] for e in payload["card"]["elements"] if e["tag"] == "action"
                    for a in e["actions"]}
        case "dingtalk":
            card = payload["actionCard"]
            return {b["title"]: b["actionURL"] for b in card.get("btns", [])} or {card["singleTitle"]: card["singleURL"]}
        case "wecom":
            return dict(re.findall(r"\[([^\]]+)\]\(([^)]+)\)", payload["markdown"]["content"]))
    raise ValueError(platform)


def path_of(url: str) -> str:
    """A link's path, to request through the test's ASGI client (the links point at the public URL)."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == "http://leadrelay.test", url
    return parts.path


async def activities(pipeline: Pipeline, lead_id: str) -> list[dict[str, Any]]:
    """The lead's ``lead.activity`` events, as committed to the outbox."""
    store = pipeline.runtime.store
    async with store.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = await conn.execute(select(schema.outbox.c.payload).where(schema.outbox.c.topic == "lead.activity")
                                  .order_by(schema.outbox.c.seq))
        envelopes = [Envelope.from_bytes(bytes(row.payload)) for row in rows]
    return [e.data for e in envelopes if e.subject == lead_id]


async def lead_as_admin(pipeline: Pipeline, lead_id: str) -> dict[str, Any]:
    admin = await pipeline.token("admin")
    response = await pipeline.client.get(f"/v1/leads/{lead_id}", headers={"Authorization": f"Bearer {admin}"})
    assert response.status_code == 200, response.text
    return response.json()


def pending(lead: dict[str, Any], clock_name: str) -> list[str]:
    """The steps of ``clock_name`` still waiting to fire."""
    return [c["step"] for c in lead["sla_clocks"] if c["clock"] == clock_name and c["state"] == "pending"]
