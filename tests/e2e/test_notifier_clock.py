"""The notifier on the product's clock, years in the past and in the future.

The chat stand-in is put on the same clock as Leadrelay (as the real platforms share the real
time with production), so a signature stamped from any other clock is refused as skewed, and
a delivery scheduled from any other clock is sent too early or never.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from leadrelay.shared.clock import as_utc
from tests.conftest import FakeClock, Pipeline, policy_text, running_pipeline

FEISHU_SECRET, DINGTALK_SECRET = "feishu-secret", "SECdingtalk-secret"
HOT = {"name": "Wang Fang", "company": "Big Factory", "title": "CEO", "employees": 5000}


def signed_policy(chat) -> str:
    """The test policy with the two enterprise reps on the platforms that sign with a timestamp."""
    feishu = chat.register("feishu", "hook-a", secret=FEISHU_SECRET)
    dingtalk = chat.register("dingtalk", "robot-b", secret=DINGTALK_SECRET)
    text = policy_text(chat)
    text = text.replace(f'{{platform: slack, webhook: "{chat.webhook_url("slack", "T000/B000/webhook_a")}"}}',
                        f'{{platform: feishu, webhook: "{feishu}", secret: "{FEISHU_SECRET}"}}')
    text = text.replace(f'{{platform: slack, webhook: "{chat.webhook_url("slack", "T000/B000/webhook_b")}"}}',
                        f'{{platform: dingtalk, webhook: "{dingtalk}", secret: "{DINGTALK_SECRET}"}}')
    assert "feishu" in text and "dingtalk" in text
    return text


async def delivered(chat, platform: str, count: int, timeout: float = 15) -> list:
    deadline = asyncio.get_running_loop().time() + timeout
    while len(chat.messages(platform)) < count:
        assert asyncio.get_running_loop().time() < deadline, (
            f"{len(chat.messages(platform))} {platform} messages; rejected: {chat.rejections()}")
        await asyncio.sleep(0.05)
    return chat.messages(platform)


async def deliveries(pipeline: Pipeline, lead_id: str) -> list:
    async with pipeline.runtime.store.read() as uow:
        return await uow.deliveries.for_lead(lead_id)


async def test_signed_messages_and_retries_run_on_the_products_clock(tmp_path, chat, clock: FakeClock):
    chat.clock = lambda: clock.now.timestamp()
    async with running_pipeline("embedded", tmp_path, chat, clock=clock, policy=signed_policy(chat)) as pipeline:
        first = (await pipeline.post_lead(dict(HOT, email="boss1@bigfactory.cn"))).json()["lead_id"]
        second = (await pipeline.post_lead(dict(HOT, email="boss2@bigfactory.cn"))).json()["lead_id"]
        owners = [(await pipeline.wait_for(lead_id))["owner"] for lead_id in (first, second)]
        assert sorted(owners) == ["rep-a", "rep-b"]  # least loaded: one each
        platform = {"rep-a": "feishu", "rep-b": "dingtalk"}[owners[0]]

        # Both signatures carry the product's time and pass the stand-ins' skew checks.
        await delivered(chat, "feishu", 1)
        await delivered(chat, "dingtalk", 1)
        assert chat.rejections() == []
        feishu_stamp = int(chat.messages("feishu")[0].payload["timestamp"])
        assert abs(feishu_stamp - clock.now.timestamp()) < 60

        # A transient failure is retried after a backoff counted on the product's clock: while
        # that clock stands still the delivery waits; once it moves on, it goes out.
        chat.fail_next(platform, status=500)
        # The first person again: the returning-person rule gives it to the same owner.
        third = (await pipeline.post_lead(dict(HOT, email="boss1@bigfactory.cn"))).json()["lead_id"]
        await pipeline.wait_for(third)
        deadline = asyncio.get_running_loop().time() + 15
        while not (rows := [r for r in await deliveries(pipeline, third) if r.attempts == 1 and r.state == "pending"]):
            assert asyncio.get_running_loop().time() < deadline, await deliveries(pipeline, third)
            await asyncio.sleep(0.05)
        retry_at = as_utc(rows[0].next_attempt_at)
        assert clock.now < retry_at <= clock.now + timedelta(minutes=5)
        assert as_utc(rows[0].created_at) == clock.start
        await asyncio.sleep(1.0)  # two sender passes: nothing is due yet on the product's clock
        assert [r.state for r in await deliveries(pipeline, third)] == ["pending"]

        clock.now = retry_at
        await delivered(chat, platform, 2)
        assert [r.reason for r in chat.rejections()] == ["injected"]
