"""The metrics the SLOs read that come from the HTTP layer and the router: every answer counted by
route template, method and status (the intake availability SLO), and the policy version the
"no policy loaded" alert reads."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import APIRouter, FastAPI
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from leadrelay.shared.metrics import Metrics
from leadrelay.shared.web.errors import install_problem_handlers
from leadrelay.shared.web.metrics_middleware import HttpMetricsMiddleware

LEAD = {"email": "li.wei@bigfactory.cn", "name": "Li Wei", "company": "Big Factory", "country": "CN"}


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """name's samples in a /metrics page, by their sorted labels."""
    return {tuple(sorted(s.labels.items())): s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name}


def requests(text: str, route: str, method: str, status: str) -> float:
    key = (("method", method), ("route", route), ("status", status))
    return samples(text, "leadrelay_http_requests_total").get(key, 0.0)


async def stored(pipeline, lead_id: str, timeout: float = 20.0) -> None:
    """Waits on the store itself, not over HTTP, so no extra request is counted."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with pipeline.runtime.store.read() as uow:
            if await uow.leads.get(lead_id) is not None:
                return
        assert asyncio.get_running_loop().time() < deadline, f"lead {lead_id} not stored after {timeout}s"
        await asyncio.sleep(0.05)


async def test_answers_are_counted_by_route_template_method_and_status(embedded):
    accepted = await embedded.post_lead(LEAD)
    assert accepted.status_code == 202
    assert (await embedded.post_lead({"email": "not-an-email"})).status_code == 422
    admin = await embedded.token("admin")
    await stored(embedded, accepted.json()["lead_id"])  # readable once scoring stored it
    lead = await embedded.client.get(f"/v1/leads/{accepted.json()['lead_id']}",
                                     headers={"Authorization": f"Bearer {admin}"})
    assert lead.status_code == 200
    assert (await embedded.client.get("/wp-login.php")).status_code == 404
    assert (await embedded.client.request("BREW", "/v1/leads")).status_code == 405
    too_large = await embedded.client.post("/v1/leads", content=b"{" + b" " * 2_000_000 + b"}", headers={
        "Authorization": f"Bearer {embedded.source_key}", "Content-Type": "application/json"})
    assert too_large.status_code == 413  # refused before routing, on its Content-Length

    text = (await embedded.client.get("/metrics")).text
    assert requests(text, "/v1/leads", "POST", "202") == 1
    assert requests(text, "/v1/leads", "POST", "422") == 1
    assert requests(text, "/v1/leads/{lead_id}", "GET", "200") == 1
    assert requests(text, "unmatched", "GET", "404") == 1
    assert requests(text, "/v1/leads", "other", "405") == 1
    assert requests(text, "unmatched", "POST", "413") == 1  # refused before any route ran
    durations = samples(text, "leadrelay_http_request_duration_seconds_count")
    assert durations[(("method", "POST"), ("route", "/v1/leads"))] == 2
    # No raw path becomes a label value.
    assert not [key for key in samples(text, "leadrelay_http_requests_total") if accepted.json()["lead_id"] in str(key)]


async def test_an_exception_is_counted_as_the_500_it_is_answered_with():
    metrics = Metrics()
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    router = APIRouter()

    @router.post("/v1/leads")
    async def broken() -> None:
        raise RuntimeError("a bug")

    app.include_router(router)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://leadrelay.test") as client:
        response = await client.post("/v1/leads", json={})
    assert response.status_code == 500
    assert requests(generate_latest(metrics.registry).decode(), "/v1/leads", "POST", "500") == 1


async def test_the_router_reports_the_policy_version_in_force(embedded):
    # The fixture applied the bundled example policy (version 1), then the test policy (version 2).
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        text = (await embedded.client.get("/metrics")).text
        if samples(text, "leadrelay_policy_version").get((), 0.0) == 2:
            break
        assert asyncio.get_running_loop().time() < deadline, samples(text, "leadrelay_policy_version")
        await asyncio.sleep(0.1)
