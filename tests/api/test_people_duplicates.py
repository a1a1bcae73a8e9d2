"""Fuzzy matching through the pipeline: one buyer under two emails merges on its own (and the merge
can be undone), look-alike colleagues go to the review list, where an admin merges or keeps apart."""

from __future__ import annotations

import pytest


async def post_and_wait(pipeline, body: dict) -> dict:
    response = await pipeline.post_lead(body)
    assert response.status_code == 202, response.text
    return await pipeline.wait_for(response.json()["lead_id"])


@pytest.fixture
async def admin(embedded) -> dict[str, str]:
    return {"Authorization": f"Bearer {await embedded.token('admin')}"}


async def test_one_buyer_written_in_chinese_then_in_pinyin_is_one_person_and_the_merge_can_be_undone(embedded, admin):
    first = await post_and_wait(embedded, {"name": "王磊", "company": "示例制造有限公司", "email": "wang.lei@gmail.com",
                                           "country": "CN"})
    second = await post_and_wait(embedded, {"name": "Wang Lei", "company": "示例制造", "phone": "+8613800138000",
                                            "country": "CN"})
    assert second["person_id"] == first["person_id"]  # no shared key: matched by name and company
    merges = (await embedded.client.get("/v1/people/merges", headers=admin)).json()["merges"]
    assert [(m["kind"], m["person_id"], m["lead_ids"]) for m in merges] == [
        ("auto", first["person_id"], [second["lead_id"]])]
    scored = next(h for h in second["history"] if h["kind"] == "scored")
    assert scored["match"]["verdict"] == "merge"

    undone = await embedded.client.post(f"/v1/people/merges/{merges[0]['merge_id']}/undo", headers=admin)
    assert undone.status_code == 200, undone.text
    again = await embedded.client.post(f"/v1/people/merges/{merges[0]['merge_id']}/undo", headers=admin)
    assert again.status_code == 409
    lead = (await embedded.client.get(f"/v1/leads/{second['lead_id']}", headers=admin)).json()
    assert lead["person_id"] != first["person_id"]
    # The phone now belongs to the split-off person: the next lead with it goes there, not to 王磊.
    third = await post_and_wait(embedded, {"name": "Wang Lei", "phone": "+8613800138000", "country": "CN"})
    assert third["person_id"] == lead["person_id"]


async def test_colleagues_with_one_name_and_two_emails_go_to_review_and_an_admin_decides(embedded, admin):
    a = await post_and_wait(embedded, {"name": "Li Wei", "company": "Big Factory", "email": "li.wei@bigfactory.cn"})
    b = await post_and_wait(embedded, {"name": "Wei Li", "company": "Big Factory Co., Ltd.",
                                       "email": "wei.li@bigfactory.cn"})
    assert a["person_id"] != b["person_id"]  # different emails: never merged on its own
    listed = (await embedded.client.get("/v1/people/duplicates", headers=admin)).json()
    assert listed["thresholds"]["merge"] > listed["thresholds"]["review"]
    [pair] = listed["pairs"]
    assert (pair["person"]["person_id"], pair["other_person"]["person_id"]) == (a["person_id"], b["person_id"])
    assert "different email" in pair["reasons"]
    assert "email" not in pair["person"]  # the review list shows who, not how to reach them

    merged = await embedded.client.post(f"/v1/people/duplicates/{pair['pair_id']}/merge", headers=admin)
    assert merged.status_code == 200, merged.text
    assert (await embedded.client.post(f"/v1/people/duplicates/{pair['pair_id']}/keep-apart",
                                       headers=admin)).status_code == 409
    lead_b = (await embedded.client.get(f"/v1/leads/{b['lead_id']}", headers=admin)).json()
    assert lead_b["person_id"] == a["person_id"]
    assert (await embedded.client.get("/v1/people/duplicates", headers=admin)).json()["pairs"] == []

    undo = await embedded.client.post(f"/v1/people/merges/{merged.json()['merge']['merge_id']}/undo", headers=admin)
    assert undo.status_code == 200, undo.text
    lead_b = (await embedded.client.get(f"/v1/leads/{b['lead_id']}", headers=admin)).json()
    assert lead_b["person_id"] == b["person_id"]  # the same person back, by id


async def test_keeping_apart_and_who_may_review(embedded, admin):
    await post_and_wait(embedded, {"name": "Zhang Wei", "company": "Acme", "phone": "+8613900139001"})
    await post_and_wait(embedded, {"name": "Zhang Wei", "company": "ACME Inc.", "phone": "+8613900139002"})
    [pair] = (await embedded.client.get("/v1/people/duplicates", headers=admin)).json()["pairs"]
    rep = {"Authorization": f"Bearer {await embedded.token('rep', 'rep-li')}"}
    assert (await embedded.client.get("/v1/people/duplicates", headers=rep)).status_code == 403
    assert (await embedded.client.post(f"/v1/people/duplicates/{pair['pair_id']}/merge",
                                       headers=rep)).status_code == 403
    kept = await embedded.client.post(f"/v1/people/duplicates/{pair['pair_id']}/keep-apart", headers=admin)
    assert kept.status_code == 200 and kept.json()["state"] == "kept_apart"
    listed = (await embedded.client.get("/v1/people/duplicates", params={"state": "kept_apart"},
                                        headers=admin)).json()["pairs"]
    assert [p["pair_id"] for p in listed] == [pair["pair_id"]]
    assert (await embedded.client.post("/v1/people/duplicates/nope/merge", headers=admin)).status_code == 404
    assert (await embedded.client.post("/v1/people/merges/nope/undo", headers=admin)).status_code == 404


async def test_namesakes_at_different_companies_stay_apart_and_are_not_listed(embedded, admin):
    a = await post_and_wait(embedded, {"name": "王磊", "company": "远东贸易", "email": "wl1@example-a.cn"})
    b = await post_and_wait(embedded, {"name": "王磊", "company": "北方电气", "phone": "+8613700137000"})
    assert a["person_id"] != b["person_id"]
    assert (await embedded.client.get("/v1/people/duplicates", headers=admin)).json()["pairs"] == []
