"""The sales-ops pages (``shared/shell/console/ops_pages.py``): admins only, every form behind the
CSRF token, and what each page does, over a real embedded app on SQLite with the fake clock.

Its own fixture (``ops_console``: the bundled policy, tokens per role, no consumers running): the
pages read and write the store directly, so the pipeline of ``tests/console/conftest.py`` is not
needed here; the browser test runs the whole thing."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from leadrelay.shared.identity import identity_keys, normalise_email
from leadrelay.shared.runtime import Runtime
from leadrelay.shared.security import TOKEN_PREFIX, hash_secret, new_secret, visible_prefix
from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.bootstrap import apply_policy, build_app, build_runtime, bundled_policy_text
from leadrelay.shared.shell.console import ops_work
from tests.conftest import FakeClock
from tests.contract.store.values import new_lead

BASE = "http://leadrelay.test"
PAGES = ("/console/ops/search", "/console/ops/policy", "/console/ops/simulate", "/console/ops/sources",
         "/console/ops/dlq", "/console/ops/policy/versions/1")
FORMS = ("/console/ops/search", "/console/ops/policy", "/console/ops/policy/rollback", "/console/ops/simulate",
         "/console/ops/sources/create", "/console/ops/sources/rotate", "/console/ops/sources/revoke",
         "/console/ops/dlq/redrive")
ROLES = {"admin": None, "manager": "mgr-zhou", "rep": "rep-li"}
POLICY = bundled_policy_text()


@dataclass
class OpsConsole:
    runtime: Runtime
    clock: FakeClock
    app: object
    tokens: dict[str, str]

    async def client(self, role: str | None) -> httpx.AsyncClient:
        """A browser signed in as ``role`` (None: nobody)."""
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=BASE)  # type: ignore[arg-type]
        if role is not None:
            page = await client.get("/console/signin")
            nonce = re.search(r'name="signin_csrf" value="([^"]+)"', page.text)
            assert nonce is not None, page.text[:500]
            signed = await client.post("/console/signin", data={"token": self.tokens[role], "signin_csrf": nonce.group(1),
                                                                 "next": "/console/"})
            assert signed.status_code == 303, signed.text[:500]
        return client


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def textarea(page: httpx.Response, name: str = "document") -> str:
    found = re.search(rf'<textarea id="{name}" name="{name}"[^>]*>(.*?)</textarea>', page.text, re.S)
    assert found is not None
    return html.unescape(found.group(1))


@pytest.fixture
async def ops_console(tmp_path: Path, clock: FakeClock) -> AsyncIterator[OpsConsole]:
    runtime = build_runtime(Settings(data_dir=tmp_path / "data", public_url=BASE), clock)
    await runtime.store.create_schema()
    await apply_policy(runtime, POLICY, "test")
    tokens = {}
    async with runtime.store.transaction() as uow:
        for role, rep in ROLES.items():
            tokens[role] = new_secret(TOKEN_PREFIX)
            await uow.tokens.add(hash_secret(tokens[role]), visible_prefix(tokens[role]), role, rep)
    yield OpsConsole(runtime, clock, build_app(runtime), tokens)
    await runtime.store.dispose()


async def admin_page(ops_console: OpsConsole, path: str) -> tuple[httpx.AsyncClient, httpx.Response]:
    client = await ops_console.client("admin")
    page = await client.get(path)
    assert page.status_code == 200, page.text[:500]
    return client, page


# --- who may open what -------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
async def test_every_ops_page_opens_for_admins_and_is_refused_to_managers_reps_and_strangers(
        ops_console: OpsConsole, path: str):
    for role, expected in (("admin", 200), ("manager", 403), ("rep", 403), (None, 303)):
        client = await ops_console.client(role)
        page = await client.get(path)
        await client.aclose()
        assert page.status_code == expected, (role, path, page.text[:300])
        if expected == 303:
            assert page.headers["location"].startswith("/console/signin?next=")
        if expected == 403:
            # the refusal page, in the person's language (rep-li reads Chinese)
            assert "Your role can&#39;t open this page." in page.text or "您的角色无法打开此页面。" in page.text
        if expected == 200:
            assert page.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", FORMS)
async def test_every_ops_form_is_refused_without_the_sessions_csrf_token_and_to_other_roles(
        ops_console: OpsConsole, path: str):
    admin, page = await admin_page(ops_console, "/console/ops/sources")
    form = {"name": "demo", "version": "1", "id": "1", "all": "1", "document": POLICY, "action": "apply",
            "email": "a@example.com"}
    for token in (None, "forged", csrf_of(page)[:-2] + "xx"):
        sent = form if token is None else {**form, "csrf_token": token}
        refused = await admin.post(path, data=sent)
        assert refused.status_code == 403, (path, token, refused.text[:300])
        assert "This form is stale" in refused.text
    manager = await ops_console.client("manager")
    manager_csrf = csrf_of(await manager.get("/console/ops/dlq"))  # the refusal page has the header forms
    refused = await manager.post(path, data={**form, "csrf_token": manager_csrf})
    assert refused.status_code == 403
    async with ops_console.runtime.store.read() as uow:
        assert (await uow.policies.current())[0] == 1  # type: ignore[index]  # nothing was applied
    await admin.aclose()
    await manager.aclose()


# --- the policy --------------------------------------------------------------------------------


async def test_a_broken_policy_shows_every_problem_at_its_line_and_applies_nothing(ops_console: OpsConsole):
    client, page = await admin_page(ops_console, "/console/ops/policy")
    broken = textarea(page).replace("strategy: round_robin", "strategy: round_robbin", 1).replace("team: ", "teem: ", 1)
    strategy_line = next(n for n, line in enumerate(broken.splitlines(), 1) if "round_robbin" in line)
    team_line = next(n for n, line in enumerate(broken.splitlines(), 1) if "teem: " in line)
    for action in ("validate", "apply", "diff"):
        answer = await client.post("/console/ops/policy", data={"csrf_token": csrf_of(page), "action": action,
                                                                "document": broken})
        assert answer.status_code == 422, action
        refs = re.findall(r'<a href="#line-(\d+)" class="line-ref">line (\d+)</a>', answer.text)
        assert (str(strategy_line), str(strategy_line)) in refs and (str(team_line), str(team_line)) in refs
        marked = re.search(rf'<li id="line-{strategy_line}" value="{strategy_line}" class="bad">(.*?)</li>',
                           answer.text, re.S)
        assert marked is not None and "rules[3].strategy" in marked.group(1)
        assert textarea(answer) == broken  # the text stays in the editor, to be fixed
    async with ops_console.runtime.store.read() as uow:
        assert [version.version for version in await uow.policies.versions()] == [1]
    await client.aclose()


async def test_validate_and_diff_say_what_the_edit_changes(ops_console: OpsConsole):
    client, page = await admin_page(ops_console, "/console/ops/policy")
    edited = textarea(page).replace("strategy: round_robin", "strategy: least_loaded", 1)
    valid = await client.post("/console/ops/policy", data={"csrf_token": csrf_of(page), "action": "validate",
                                                           "document": edited})
    assert valid.status_code == 200 and "Valid: 6 reps" in valid.text
    diff = await client.post("/console/ops/policy", data={"csrf_token": csrf_of(page), "action": "diff",
                                                          "document": edited})
    assert diff.status_code == 200
    assert "1 change(s) from the version in force" in diff.text
    assert "strategy changes from round_robin to least_loaded" in diff.text
    same = await client.post("/console/ops/policy", data={"csrf_token": csrf_of(page), "action": "diff",
                                                          "document": textarea(page)})
    assert "No differences from the version in force." in same.text  # masked webhooks count as unchanged
    await client.aclose()


CASES = """\
cases:
  - name: a Shanghai lead goes to the east team
    lead: {email: ceo@factory-example.cn, country: CN, region: Shanghai, source: web}
    expect: {owner_in: [rep-li, rep-chen, rep-wang]}
  - name: this one must fail
    lead: {email: li@example.cn, country: CN, region: Shanghai, source: web}
    expect: {owner: rep-morgan}
"""


async def test_test_cases_run_pasted_or_uploaded_and_a_bad_cases_file_shows_its_line(ops_console: OpsConsole):
    client, page = await admin_page(ops_console, "/console/ops/policy")
    form = {"csrf_token": csrf_of(page), "action": "test", "document": textarea(page)}
    pasted = await client.post("/console/ops/policy", data={**form, "cases": CASES})
    assert pasted.status_code == 422  # a case failed
    assert "1 passed, 1 failed" in pasted.text
    assert re.search(r'<tr class="fail">.*?this one must fail', pasted.text, re.S)
    uploaded = await client.post("/console/ops/policy", data=form,
                                 files={"cases_file": ("cases.yaml", CASES.split("  - name: this one")[0].encode())})
    assert uploaded.status_code == 200 and "1 passed, 0 failed" in uploaded.text
    bad = await client.post("/console/ops/policy", data={**form, "cases": "cases:\n  - name: x\n    lead: {}\n    expekt: {}\n"})
    assert bad.status_code == 422 and "The cases file is invalid" in bad.text and "line 4" in bad.text
    missing = await client.post("/console/ops/policy", data=form)
    assert missing.status_code == 422 and "Paste or upload a cases file first." in missing.text
    await client.aclose()


async def test_apply_from_the_editor_stores_a_new_version_with_the_masked_webhooks_kept(ops_console: OpsConsole):
    client, page = await admin_page(ops_console, "/console/ops/policy")
    shown = textarea(page)
    assert "/slack/rep-li" not in shown and "…" in shown  # the editor never holds a credential
    edited = shown.replace("strategy: round_robin", "strategy: least_loaded", 1)
    applied = await client.post("/console/ops/policy", data={"csrf_token": csrf_of(page), "action": "apply",
                                                             "document": edited})
    assert applied.status_code == 303 and applied.headers["location"] == "/console/ops/policy?applied=2"
    after = await client.get(applied.headers["location"])
    assert "Version 2 applied" in after.text and "Version 2 is in force." in after.text
    assert re.search(r'<tr id="version-2"><th scope="row">v2 <span class="badge">in force', after.text)
    async with ops_console.runtime.store.read() as uow:
        version, document = await uow.policies.document()  # type: ignore[misc]
        versions = await uow.policies.versions()
    assert version == 2
    assert document == POLICY.replace("strategy: round_robin", "strategy: least_loaded", 1)
    assert versions[0].created_by == "console:admin"
    again = await client.post("/console/ops/policy", data={"csrf_token": csrf_of(page), "action": "apply",
                                                           "document": edited})
    assert again.headers["location"] == "/console/ops/policy?unchanged=2"
    await client.aclose()


async def test_a_masked_webhook_moved_to_another_person_is_refused_at_its_line(ops_console: OpsConsole):
    client, page = await admin_page(ops_console, "/console/ops/policy")
    shown = textarea(page)
    li_mask = re.search(r'id: rep-li.*?webhook: ("[^"]+")', shown, re.S).group(1)  # type: ignore[union-attr]
    tanaka_mask = re.search(r'id: rep-tanaka.*?webhook: ("[^"]+")', shown, re.S).group(1)  # type: ignore[union-attr]
    swapped = shown.replace(tanaka_mask, li_mask)
    answer = await client.post("/console/ops/policy", data={"csrf_token": csrf_of(page), "action": "apply",
                                                            "document": swapped})
    assert answer.status_code == 422
    assert "chat.webhook</code>: masked value" in answer.text
    async with ops_console.runtime.store.read() as uow:
        assert (await uow.policies.current())[0] == 1  # type: ignore[index]
    await client.aclose()


async def test_rollback_applies_an_earlier_versions_text_as_a_new_version(ops_console: OpsConsole):
    second = POLICY.replace("strategy: round_robin", "strategy: least_loaded", 1)
    await apply_policy(ops_console.runtime, second, "test")
    client, page = await admin_page(ops_console, "/console/ops/policy")
    assert 'name="version" value="1"' in page.text and 'name="version" value="2"' not in page.text
    viewed = await client.get("/console/ops/policy/versions/1")
    assert "round_robin" in viewed.text and "/slack/rep-li" not in viewed.text
    rolled = await client.post("/console/ops/policy/rollback", data={"csrf_token": csrf_of(page), "version": "1"})
    assert rolled.status_code == 303 and rolled.headers["location"] == "/console/ops/policy?rolled=3&source=1"
    assert "Rolled back: version 3 (the text of version 1) is in force." in (await client.get(
        rolled.headers["location"])).text
    async with ops_console.runtime.store.read() as uow:
        assert await uow.policies.document() == (3, POLICY)
        assert (await uow.policies.versions())[0].created_by == "console:admin (rollback to v1)"
    unknown = await client.post("/console/ops/policy/rollback", data={"csrf_token": csrf_of(page), "version": "9"})
    assert unknown.status_code == 404
    assert (await client.get("/console/ops/policy/versions/9")).status_code == 404
    await client.aclose()


# --- simulation --------------------------------------------------------------------------------


async def store_leads(ops_console: OpsConsole, count: int, *, days_ago: float) -> None:
    received = ops_console.clock() - timedelta(days=days_ago)
    async with ops_console.runtime.store.transaction() as uow:
        for index in range(count):
            await uow.leads.insert(**new_lead(
                f"lead-{days_ago}-{index}", received_at=received + timedelta(minutes=index),
                contact={"email": f"buyer{index}@factory{index}.example.cn", "country": "CN", "region": "Shanghai",
                         "industry": "manufacturing", "employees": 300, "title": "Buyer"}))


async def test_simulate_the_last_days_of_real_leads_side_by_side_with_charts_and_tables(ops_console: OpsConsole):
    await store_leads(ops_console, 12, days_ago=2)
    await store_leads(ops_console, 5, days_ago=20)  # outside a 7-day window
    client, page = await admin_page(ops_console, "/console/ops/simulate")
    proposed = textarea(page).replace("strategy: round_robin", "strategy: least_loaded")
    answer = await client.post("/console/ops/simulate", data={"csrf_token": csrf_of(page), "use": "recent",
                                                              "days": "7", "document": proposed})
    assert answer.status_code == 200, answer.text[:500]
    assert re.search(r"<h2>12 leads from ", answer.text)
    svgs = re.findall(r'<svg [^>]*role="img"[^>]*aria-labelledby="([^"]+)"', answer.text)
    assert svgs == ["leads-per-rep-title leads-per-rep-desc", "sla-risk-per-rep-title sla-risk-per-rep-desc"]
    assert answer.text.count("<caption>Leads per rep</caption>") == 1  # the chart's numbers as a table
    rows = re.findall(r'<tr><th scope="row">(rep-[a-z]+)</th><td class="num">(\d+)</td><td class="num">(\d+)</td></tr>',
                      answer.text.split("<caption>Leads per rep</caption>")[1].split("</table>")[0])
    assert sum(int(current) for _, current, _ in rows) == 12 and sum(int(new) for _, _, new in rows) == 12
    assert re.search(r"Gini \(0 = all alike\)</th><td class=\"num\">[0-9.]+</td>", answer.text)
    assert "Most common owner moves" in answer.text
    async with ops_console.runtime.store.read() as uow:
        assert (await uow.policies.current())[0] == 1  # type: ignore[index]  # a simulation stores nothing
    none = await client.post("/console/ops/simulate", data={"csrf_token": csrf_of(page), "use": "recent",
                                                            "days": "1", "document": proposed})
    assert "There are no leads to replay." in none.text
    bad_days = await client.post("/console/ops/simulate", data={"csrf_token": csrf_of(page), "use": "recent",
                                                                "days": "400", "document": proposed})
    assert bad_days.status_code == 422 and "Days must be a whole number from 1 to 90." in bad_days.text
    await client.aclose()


async def test_simulate_an_uploaded_file_lists_the_rows_intake_would_refuse(ops_console: OpsConsole,
                                                                            monkeypatch: pytest.MonkeyPatch):
    client, page = await admin_page(ops_console, "/console/ops/simulate")
    csv = "email,country,region,title\n" + "".join(
        f"lead{i}@corp{i}.example.cn,CN,Shanghai,CEO\n" for i in range(8)) + "not-an-email,CN,Shanghai,CEO\n"
    answer = await client.post("/console/ops/simulate", data={"csrf_token": csrf_of(page), "use": "file",
                                                              "document": textarea(page)},
                               files={"leads_file": ("leads.csv", csv.encode())})
    assert answer.status_code == 200, answer.text[:500]
    assert re.search(r"<h2>8 leads from ", answer.text)
    assert "1 row(s) intake would refuse were left out" in answer.text and "line 10" in answer.text
    monkeypatch.setattr(ops_work, "MAX_UPLOADED_LINES", 5)  # the header and 4 leads
    cut = await client.post("/console/ops/simulate", data={"csrf_token": csrf_of(page), "use": "file",
                                                           "document": textarea(page)},
                            files={"leads_file": ("leads.csv", csv.encode())})
    assert re.search(r"<h2>4 leads from ", cut.text) and "Only the first 4 leads were replayed." in cut.text
    no_file = await client.post("/console/ops/simulate", data={"csrf_token": csrf_of(page), "use": "file",
                                                               "document": textarea(page)})
    assert no_file.status_code == 422 and "Choose a leads file" in no_file.text
    broken = await client.post("/console/ops/simulate", data={"csrf_token": csrf_of(page), "use": "recent",
                                                              "days": "7", "document": "version: 1\nreps: [\n"})
    assert broken.status_code == 422 and 'class="line-ref">line 3<' in broken.text
    await client.aclose()


async def test_an_upload_over_the_simulate_limit_is_refused_before_it_is_read(ops_console: OpsConsole):
    client, page = await admin_page(ops_console, "/console/ops/simulate")
    limit = ops_console.runtime.settings.max_console_upload_bytes
    huge = await client.post("/console/ops/simulate", data={"csrf_token": csrf_of(page), "use": "file",
                                                            "document": "x"},
                             files={"leads_file": ("leads.jsonl", b"{}\n" * (limit // 3 + 10))})
    assert huge.status_code == 413
    # the policy form has the policy limit, the other forms the default one
    big_search = await client.post("/console/ops/search", data={"csrf_token": csrf_of(page),
                                                                "lead_id": "x" * ops_console.runtime.settings.max_body_bytes})
    assert big_search.status_code == 413
    await client.aclose()


# --- sources -----------------------------------------------------------------------------------


async def test_a_new_source_key_is_shown_once_and_works_rotate_and_revoke(ops_console: OpsConsole):
    client, page = await admin_page(ops_console, "/console/ops/sources")
    created = await client.post("/console/ops/sources/create", data={"csrf_token": csrf_of(page), "name": "web-form",
                                                                     "kind": "api"})
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    key = html.unescape(re.search(r'<code id="source-key" class="secret">([^<]+)</code>', created.text).group(1))  # type: ignore[union-attr]
    assert "it is not stored and will never be shown again" in created.text
    lead = {"email": "li@factory-example.cn", "country": "CN"}
    accepted = await client.post("/v1/leads", json=lead, headers={"Authorization": f"Bearer {key}"})
    assert accepted.status_code == 202, accepted.text
    listing = await client.get("/console/ops/sources")
    assert "web-form" in listing.text and key not in listing.text and f"<code>{key[:10]}…</code>" in listing.text
    again = await client.post("/console/ops/sources/create", data={"csrf_token": csrf_of(page), "name": "web-form"})
    assert again.status_code == 409 and "An active source is named web-form already" in again.text

    rotated = await client.post("/console/ops/sources/rotate", data={"csrf_token": csrf_of(page), "name": "web-form"})
    new_key = html.unescape(re.search(r'<code id="source-key" class="secret">([^<]+)</code>', rotated.text).group(1))  # type: ignore[union-attr]
    assert new_key != key and "The old key is refused from now on." in rotated.text
    assert (await client.post("/v1/leads", json=lead, headers={"Authorization": f"Bearer {key}"})).status_code == 401

    revoked = await client.post("/console/ops/sources/revoke", data={"csrf_token": csrf_of(page), "name": "web-form"})
    assert revoked.status_code == 303 and revoked.headers["location"] == "/console/ops/sources?revoked=web-form"
    assert "web-form is revoked" in (await client.get(revoked.headers["location"])).text
    assert (await client.post("/v1/leads", json=lead, headers={"Authorization": f"Bearer {new_key}"})).status_code == 401
    for path in ("/console/ops/sources/rotate", "/console/ops/sources/revoke"):
        gone = await client.post(path, data={"csrf_token": csrf_of(page), "name": "web-form"})
        assert gone.status_code == 404 and "No active source is named web-form." in gone.text
    bad = await client.post("/console/ops/sources/create", data={"csrf_token": csrf_of(page), "name": "<b>x</b>"})
    assert bad.status_code == 422 and "<b>x</b>" not in bad.text
    platform = await client.post("/console/ops/sources/create", data={"csrf_token": csrf_of(page), "name": "fb",
                                                                      "kind": "meta"})
    assert platform.status_code == 422 and "The kind must be api or csv." in platform.text
    async with ops_console.runtime.store.read() as uow:
        assert await uow.sources.by_name("fb") is None
    await client.aclose()


# --- dead letters ------------------------------------------------------------------------------


async def test_dead_letters_are_listed_and_redriven_one_or_all(ops_console: OpsConsole):
    async with ops_console.runtime.store.transaction() as uow:
        for number in (1, 2, 3):
            await uow.inbox.dead_letter("router", "lead.qualified", f"event-{number}", b"{}", f"boom {number}")
    client, page = await admin_page(ops_console, "/console/ops/dlq")
    ids = [int(found) for found in re.findall(r'<tr id="letter-(\d+)">', page.text)]
    assert len(ids) == 3 and "boom 2" in page.text and "Redrive all (3)" in page.text
    one = await client.post("/console/ops/dlq/redrive", data={"csrf_token": csrf_of(page), "id": str(ids[0])})
    assert one.status_code == 303 and one.headers["location"] == "/console/ops/dlq?redriven=1"
    after = await client.get(one.headers["location"])
    assert "1 event(s) redriven." in after.text and f'id="letter-{ids[0]}"' not in after.text
    everything = await client.post("/console/ops/dlq/redrive", data={"csrf_token": csrf_of(page), "all": "1"})
    assert everything.headers["location"] == "/console/ops/dlq?redriven=2"
    assert "No dead letters." in (await client.get("/console/ops/dlq")).text
    history = await client.get("/console/ops/dlq?all=1")
    assert len(re.findall(r'<tr id="letter-\d+">', history.text)) == 3 and "redriven" in history.text
    async with ops_console.runtime.store.read() as uow:
        assert all(letter.redriven_at is not None for letter in await uow.inbox.dead_letters(include_redriven=True))
    await client.aclose()


# --- lead search -------------------------------------------------------------------------------


async def test_search_finds_a_persons_leads_by_email_or_phone_without_putting_them_in_an_address(ops_console: OpsConsole):
    salt = ops_console.runtime.settings.identity_salt
    keys = identity_keys(normalise_email("Li.Wei+promo@Factory-Example.cn"), "+8613800138000", "web", None, salt)
    now = ops_console.clock()
    async with ops_console.runtime.store.transaction() as uow:
        await uow.people.save("person-li", {}, None, 2, now, now, keys, new=True)
        await uow.leads.insert(**new_lead("lead-old", person_id="person-li", received_at=now - timedelta(days=3)))
        await uow.leads.insert(**new_lead("lead-new", person_id="person-li", received_at=now - timedelta(days=1)))
        await uow.leads.insert(**new_lead("lead-other", person_id="person-other", received_at=now))
        await uow.leads.add_decision("lead-new", now, 1, "catch-all", "round_robin", "rep-li", None, {
            "policy_version": 1, "owner": "rep-li", "queue": None, "rule": "catch-all", "strategy": "round_robin",
            "via": "strategy", "summary": "next in rotation", "matched_because": "always",
            "passed_over": ["named-accounts: the lead's domain is not a named account"],
            "candidates": [{"rep": "rep-li", "kept": True, "reason": "on shift"},
                           {"rep": "rep-chen", "kept": False, "reason": "paused"}],
            "arithmetic": {"cursor": 3, "ring": ["rep-chen", "rep-li"]}, "notify": []})
    client, page = await admin_page(ops_console, "/console/ops/search")
    by_email = await client.post("/console/ops/search", data={"csrf_token": csrf_of(page),
                                                              "email": "li.wei@factory-example.cn"})
    assert by_email.status_code == 200 and "li.wei" not in str(by_email.url)
    assert re.findall(r'<a href="/console/leads/(lead-[a-z]+)">', by_email.text) == ["lead-new", "lead-old"]
    assert "li.wei@factory-example.cn" not in by_email.text  # what was typed is not echoed
    by_phone = await client.post("/console/ops/search", data={"csrf_token": csrf_of(page), "phone": "138 0013 8000",
                                                              "country": "CN"})
    assert re.findall(r'<a href="/console/leads/(lead-[a-z]+)">', by_phone.text) == ["lead-new", "lead-old"]
    by_id = await client.post("/console/ops/search", data={"csrf_token": csrf_of(page), "lead_id": "lead-new"})
    decision = by_id.text.split('id="decision-title"')[1]
    assert 'class="policy-version">v1<' in decision and "next in rotation" in decision
    assert "named-accounts: the lead&#39;s domain is not a named account" in decision
    assert re.search(r'<tr class="dropped"><th scope="row">rep-chen</th>\s*<td>dropped</td><td>paused</td>', decision)
    assert "cursor" in decision
    nobody = await client.post("/console/ops/search", data={"csrf_token": csrf_of(page), "email": "x@nowhere.example"})
    assert "No lead matches." in nobody.text
    bad = await client.post("/console/ops/search", data={"csrf_token": csrf_of(page), "email": "not an email"})
    assert bad.status_code == 422 and "Email:" in bad.text
    empty = await client.post("/console/ops/search", data={"csrf_token": csrf_of(page)})
    assert empty.status_code == 422 and "Type a lead id, an email or a phone." in empty.text
    await client.aclose()


async def test_the_ops_pages_speak_chinese(ops_console: OpsConsole):
    client = await ops_console.client("admin")
    for path, words in (("/console/ops/policy", "分配策略"), ("/console/ops/simulate", "策略模拟"),
                        ("/console/ops/sources", "线索来源"), ("/console/ops/dlq", "死信"),
                        ("/console/ops/search", "查找线索")):
        page = await client.get(path, params={"lang": "zh"})
        assert words in page.text and "漏斗" in page.text, path
        assert not re.search(r">\s*(ops|nav)\.[a-z_.]+\s*<", page.text), path  # no key shown for want of a word
    await client.aclose()


async def test_the_funnel_counts_the_periods_leads_for_admins_and_managers_not_reps(ops_console: OpsConsole):
    await store_leads(ops_console, 4, days_ago=2)
    await store_leads(ops_console, 3, days_ago=40)  # outside the default 30 days
    client, page = await admin_page(ops_console, "/console/ops/reports/funnel")
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="funnel" role="img"' in page.text
    assert '<th scope="row">Received</th><td class="num">4</td>' in page.text  # the chart's table
    by_source = await client.get("/console/ops/reports/funnel", params={"days": "60", "by": "source"})
    assert re.search(r'<tr><th scope="row">web</th>\s*<td class="num">7</td>', by_source.text)
    await client.aclose()
    for role, expected in (("manager", 200), ("rep", 403)):
        other = await ops_console.client(role)
        assert (await other.get("/console/ops/reports/funnel")).status_code == expected, role
        await other.aclose()


def test_every_word_the_ops_pages_use_is_in_the_catalogue_in_both_languages():
    from leadrelay.shared.shell.console import ops_pages
    from leadrelay.shared.shell.console.i18n import MESSAGES

    folder = Path(ops_pages.__file__).parent
    sources = [path.read_text(encoding="utf-8") for path in (folder / "templates" / "ops").glob("*.html")]
    sources.append(Path(ops_pages.__file__).read_text(encoding="utf-8"))
    calls = re.compile(r"""(?<![\w.])t\((?:user\.lang|lang), ["']([a-z_.]+)["']|(?<![\w.])t\(["']([a-z_.]+)["']""")
    used = {key for text in sources for pair in calls.findall(text) for key in pair
            if key and not key.endswith(".")}  # "ops.funnel." ~ stage: listed below
    # keys built from a name: the search fields, the simulation figures, the funnel stages
    used |= {"nav.funnel"}  # the header's link to the funnel (base.html)
    used |= {f"ops.search.{name}" for name in ("email", "phone")}
    used |= {f"ops.sim.{name}" for name in ("assigned", "unassigned", "gini", "max_min", "sla_risk", "breaches",
                                            "off_hours")}
    used |= {f"ops.funnel.{stage}" for stage in ("received", "assigned", "accepted", "contacted", "converted", "lost")}
    assert len(used) > 100
    missing = sorted(key for key in used if key not in MESSAGES)
    assert missing == []
    assert all(MESSAGES[key]["zh"] and MESSAGES[key]["en"] for key in used)
