"""The funnel report against a hand-computed answer: the seeded leads of ``tests/funnel_seed.py``
(read its docstring for the timeline), through the use case and ``GET /v1/reports/funnel``, with
who may see what; and what the route refuses.

How each expected figure follows from the timeline (period [T0+1h, T1+1h): A to G; O is older):
- assigned: all but G (queued)                                           → 6 of 7
- accepted: A (accepted), D (accepted), C and B (a contact is an acceptance) → 4; F was lost
  without a touch, E never touched, G never assigned
- contacted: A, B, C                                                    → 3
- converted: A, C → 2; lost: B, F → 2
- first touch, from the assignment at T1: A 5m (accepted), D 5m (accepted), C 10m (contacted),
  B 20m (contacted) → sorted 300 300 600 1200 s; nearest rank: p50 is the ceil(0.5·4) = 2nd,
  p90 the ceil(0.9·4) = 4th
- SLA: a first-touch clock for each of the 6 assigned leads; B and F breached at T1+16m → 4/6 kept
- conversion: 2 converted / 7 received
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from leadrelay.services.router.reports import funnel_report
from leadrelay.shared.problems import PROBLEM_JSON
from tests.conftest import stop_pipeline
from tests.funnel_seed import Seeded, seed, start_funnel_pipeline

FIGURES = ("received", "assigned", "accepted", "contacted", "converted", "lost", "first_touch_p50_seconds",
           "first_touch_p90_seconds", "sla_clocks", "sla_breached", "sla_compliance", "conversion_rate")


def row(group: dict, *figures) -> dict:
    """A report row from its group and the figures in ``FIGURES`` order."""
    assert len(figures) == len(FIGURES)
    return {"group": group, **dict(zip(FIGURES, figures, strict=True))}


# -- the hand-computed answers ----------------------------------------------------------------------
OVERALL = [row({}, 7, 6, 4, 3, 2, 2, 300.0, 1200.0, 6, 2, 4 / 6, 2 / 7)]

BY_SOURCE = [
    # referral: E (rep-c, untouched) and F (rep-a, breached, lost untouched): no touch at all.
    row({"source": "referral"}, 2, 2, 0, 0, 0, 1, None, None, 2, 1, 1 / 2, 0 / 2),
    # web: A B C D G. Touches 300 (A) 1200 (B) 600 (C) 300 (D); B breached.
    row({"source": "web"}, 5, 4, 4, 3, 2, 1, 300.0, 1200.0, 4, 1, 3 / 4, 2 / 5),
]

BY_REP = [
    # rep-a: A (touched 5m, converted) and F (breached, lost).
    row({"rep": "rep-a"}, 2, 2, 1, 1, 1, 1, 300.0, 300.0, 2, 1, 1 / 2, 1 / 2),
    # rep-b: B (breached, contacted at 20m, lost).
    row({"rep": "rep-b"}, 1, 1, 1, 1, 0, 1, 1200.0, 1200.0, 1, 1, 0 / 1, 0 / 1),
    # rep-c: C (contacted 10m, converted), D (accepted 5m), E (untouched); touches 300 600:
    # p50 the ceil(0.5·2) = 1st, p90 the ceil(0.9·2) = 2nd.
    row({"rep": "rep-c"}, 3, 3, 2, 1, 1, 0, 300.0, 600.0, 3, 0, 3 / 3, 1 / 3),
    # G: never assigned, so no rep, no clock.
    row({"rep": None}, 1, 0, 0, 0, 0, 0, None, None, 0, 0, None, 0 / 1),
]

# enterprise = the hot leads A B F, rule hot-enterprise; smb = C D E, rule everyone-else; G none.
ENTERPRISE = (3, 3, 2, 2, 1, 2, 300.0, 1200.0, 3, 2, 1 / 3, 1 / 3)
SMB = (3, 3, 2, 1, 1, 0, 300.0, 600.0, 3, 0, 3 / 3, 1 / 3)
NEVER_ASSIGNED = (1, 0, 0, 0, 0, 0, None, None, 0, 0, None, 0 / 1)
BY_TEAM = [row({"team": "enterprise"}, *ENTERPRISE), row({"team": "smb"}, *SMB), row({"team": None}, *NEVER_ASSIGNED)]
BY_RULE = [row({"rule": "everyone-else"}, *SMB), row({"rule": "hot-enterprise"}, *ENTERPRISE),
           row({"rule": None}, *NEVER_ASSIGNED)]

BY_GRADE = [
    # cold: D (accepted 5m) and G (queued).
    row({"grade": "cold"}, 2, 1, 1, 0, 0, 0, 300.0, 300.0, 1, 0, 1 / 1, 0 / 2),
    row({"grade": "hot"}, *ENTERPRISE),
    # warm: C (contacted 10m, converted) and E (untouched).
    row({"grade": "warm"}, 2, 2, 1, 1, 1, 0, 600.0, 600.0, 2, 0, 2 / 2, 1 / 2),
]

# Version 1 is the bundled example policy embedded mode starts with; the test's policy is version 2.
BY_POLICY_VERSION = [row({"policy_version": 2}, 7, 6, 4, 3, 2, 2, 300.0, 1200.0, 6, 2, 4 / 6, 2 / 7)]

BY_SOURCE_AND_REP = [
    row({"source": "referral", "rep": "rep-a"}, 1, 1, 0, 0, 0, 1, None, None, 1, 1, 0 / 1, 0 / 1),  # F
    row({"source": "referral", "rep": "rep-c"}, 1, 1, 0, 0, 0, 0, None, None, 1, 0, 1 / 1, 0 / 1),  # E
    row({"source": "web", "rep": "rep-a"}, 1, 1, 1, 1, 1, 0, 300.0, 300.0, 1, 0, 1 / 1, 1 / 1),  # A
    row({"source": "web", "rep": "rep-b"}, 1, 1, 1, 1, 0, 1, 1200.0, 1200.0, 1, 1, 0 / 1, 0 / 1),  # B
    row({"source": "web", "rep": "rep-c"}, 2, 2, 2, 1, 1, 0, 300.0, 600.0, 2, 0, 2 / 2, 1 / 2),  # C D
    row({"source": "web", "rep": None}, *NEVER_ASSIGNED),  # G
]


@pytest.fixture
async def seeded(tmp_path, chat, clock):
    pipeline, stop, task = await start_funnel_pipeline(tmp_path / "data", chat, clock)
    try:
        yield await seed(pipeline, clock)
    finally:
        await stop_pipeline(pipeline, stop, task)


def rows_of(report) -> list[dict]:
    return [r.model_dump() for r in report.rows]


async def test_the_use_case_gives_the_hand_computed_funnel_for_every_grouping(seeded: Seeded, clock):
    store = seeded.pipeline.runtime.store

    async def report(*by: str) -> list[dict]:
        return rows_of(await funnel_report(store, clock, seeded.since, seeded.until, by))

    assert await report() == OVERALL
    assert await report("source") == BY_SOURCE
    assert await report("rep") == BY_REP
    assert await report("team") == BY_TEAM
    assert await report("grade") == BY_GRADE
    assert await report("rule") == BY_RULE
    assert await report("policy_version") == BY_POLICY_VERSION
    assert await report("source", "rep") == BY_SOURCE_AND_REP
    # The period is [since, until): moving `since` to T1 exactly keeps A to G; one microsecond
    # after T1 leaves none of them (all were received at T1).
    assert rows_of(await funnel_report(store, clock, seeded.t1, seeded.until)) == OVERALL
    empty = await funnel_report(store, clock, seeded.t1 + timedelta(microseconds=1), seeded.until)
    assert rows_of(empty) == [row({}, 0, 0, 0, 0, 0, 0, None, None, 0, 0, None, None)]


async def test_the_route_answers_the_same_funnel_and_only_to_admins_and_managers(seeded: Seeded, clock):
    pipeline = seeded.pipeline
    client = pipeline.client

    async def get(credential: str, **params) -> tuple[int, dict, str]:
        response = await client.get("/v1/reports/funnel", params=params,
                                    headers={"Authorization": f"Bearer {credential}"})
        return response.status_code, response.json(), response.headers["content-type"]

    admin = await pipeline.token("admin")
    period = {"since": seeded.since.isoformat(), "until": seeded.until.isoformat()}
    status, body, _ = await get(admin, by=["source", "rep"], **period)
    assert status == 200
    assert body == {"since": seeded.since.isoformat().replace("+00:00", "Z"),
                    "until": seeded.until.isoformat().replace("+00:00", "Z"),
                    "by": ["source", "rep"], "rows": BY_SOURCE_AND_REP}

    # No period: the 30 days up to the clock's now (T1+40m), so O counts too: received at T0,
    # assigned to rep-c, converted without an accept or a contact (it counts as both, but has
    # no first touch). 8 received, 7 assigned, accepted and contacted one more each, 3
    # converted; the same four touches; 7 clocks, 2 breached.
    status, body, _ = await get(admin)
    assert status == 200
    assert body["until"] == (seeded.t1 + timedelta(minutes=40)).isoformat().replace("+00:00", "Z")
    assert body["since"] == (seeded.t1 + timedelta(minutes=40) - timedelta(days=30)).isoformat().replace("+00:00", "Z")
    assert body["rows"] == [row({}, 8, 7, 5, 4, 3, 2, 300.0, 1200.0, 7, 2, 5 / 7, 3 / 8)]

    # mgr-b manages smb: C, D, E only.
    status, body, _ = await get(await pipeline.token("manager", "mgr-b"), **period)
    assert (status, body["rows"]) == (200, [row({}, *SMB)])
    # mgr-a manages enterprise (A, B, F) and is the policy's fallback contact, so also sees G,
    # which never had a team (as on its lead page): 4 received, the rest as enterprise's.
    status, body, _ = await get(await pipeline.token("manager", "mgr-a"), by="team", **period)
    assert (status, body["rows"]) == (200, [row({"team": "enterprise"}, *ENTERPRISE),
                                            row({"team": None}, *NEVER_ASSIGNED)])

    for credential in (await pipeline.token("rep", "rep-a"), pipeline.source_key, seeded.referral_key):
        status, body, content_type = await get(credential, **period)
        assert (status, content_type) == (403, PROBLEM_JSON)
        assert body["errors"] == [{"field": "Authorization", "reason": body["errors"][0]["reason"]}]


async def test_a_wrong_period_or_grouping_is_refused_naming_the_parameter(embedded):
    admin = await embedded.token("admin")

    async def refused(params: dict) -> list[str]:
        response = await embedded.client.get("/v1/reports/funnel", params=params,
                                             headers={"Authorization": f"Bearer {admin}"})
        assert (response.status_code, response.headers["content-type"]) == (422, PROBLEM_JSON), response.text
        return [error["field"] for error in response.json()["errors"]]

    assert await refused({"by": "owner"}) == ["query.by.0"]
    assert await refused({"by": ["source", "colour"]}) == ["query.by.1"]
    assert await refused({"since": "last tuesday"}) == ["query.since"]
    assert await refused({"until": "2026-02-30"}) == ["query.until"]
    assert await refused({"until": "0.5"}) == ["query.until"]  # not read as a Unix time
    assert await refused({"since": "2026-05-02", "until": "2026-05-01"}) == ["since"]
    assert await refused({"since": "2026-05-01T00:00:00Z", "until": "2026-05-01T00:00:00Z"}) == ["since"]
    # Instants UTC cannot hold (a year-1 date east of Greenwich) are refused, not a 500.
    assert await refused({"since": "0001-01-01T00:00:00+14:00"}) == ["since"]
    assert await refused({"until": "0001-01-02T00:00:00Z"}) == ["until"]  # 30 days before it is year 0


async def test_the_answer_is_declared_in_openapi(embedded):
    document = (await embedded.client.get("/openapi.json")).json()
    operation = document["paths"]["/v1/reports/funnel"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/FunnelReport"}
    for status in ("401", "403", "422", "503"):
        assert PROBLEM_JSON in operation["responses"][status]["content"], status
    row_schema = document["components"]["schemas"]["FunnelReportRow"]
    assert set(row_schema["properties"]) == {"group", *FIGURES}
    [by] = [p for p in operation["parameters"] if p["name"] == "by"]
    assert by["schema"]["anyOf"][0]["items"]["enum"] == ["source", "rep", "team", "grade", "rule", "policy_version"]
