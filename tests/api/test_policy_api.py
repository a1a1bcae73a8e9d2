"""Admins change the policy over HTTP (hot reload); managers grant fairness credits."""

from __future__ import annotations

from tests.conftest import policy_text

HOT = {"email": "vp@bigfactory.cn", "title": "VP Engineering", "employees": 3000}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_an_invalid_policy_is_refused_with_the_path_of_each_problem(embedded):
    admin = await embedded.token("admin")
    broken = policy_text(None).replace("pool: {team: enterprise}", "pool: {team: enterprize}")
    response = await embedded.client.put("/v1/policy", content=broken,
                                         headers={**bearer(admin), "Content-Type": "application/yaml"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == "rules[1].pool.team"


async def test_a_new_policy_version_is_used_for_new_leads(embedded, chat):
    admin = await embedded.token("admin")
    before = (await embedded.client.get("/v1/policy", headers=bearer(admin))).json()["version"]
    changed = policy_text(chat).replace("{name: big-company, when: {employees: {gte: 500}}, points: 25}",
                                        "{name: big-company, when: {employees: {gte: 500}}, points: 26}")
    response = await embedded.client.put("/v1/policy", content=changed,
                                         headers={**bearer(admin), "Content-Type": "application/yaml"})
    assert response.status_code == 200 and response.json() == {"version": before + 1, "created": True}
    lead = await embedded.wait_for((await embedded.post_lead(HOT)).json()["lead_id"])
    assert lead["policy_version"] == before + 1
    assert {"rule": "big-company", "points": 26} in lead["score_reasons"]


async def test_only_an_admin_may_change_the_policy(embedded):
    rep = await embedded.token("rep", "rep-a")
    response = await embedded.client.put("/v1/policy", content=policy_text(None),
                                         headers={**bearer(rep), "Content-Type": "application/yaml"})
    assert response.status_code == 403


async def test_a_managers_credit_puts_the_rep_first_and_the_decision_cites_it(embedded):
    manager = await embedded.token("manager", "mgr-a")
    granted = await embedded.client.post("/v1/reps/rep-b/credits", json={"delta": 1, "reason": "junk lead on Monday"},
                                         headers=bearer(manager))
    assert granted.status_code == 201 and granted.json()["balance"] == 1

    lead = await embedded.wait_for((await embedded.post_lead(HOT)).json()["lead_id"])
    assert lead["owner"] == "rep-b"
    assert lead["decision"]["via"] == "credit"
    ledger = (await embedded.client.get("/v1/reps/rep-b/credits", headers=bearer(manager))).json()
    assert ledger["balance"] == 0 and [e["delta"] for e in ledger["entries"]] == [1, -1]


async def test_a_manager_cannot_credit_another_teams_rep(embedded):
    manager = await embedded.token("manager", "mgr-b")
    response = await embedded.client.post("/v1/reps/rep-a/credits", json={"delta": 1, "reason": "not mine"},
                                          headers=bearer(manager))
    assert response.status_code == 404
