"""A newcomer, a rep and a manager in the console, in headless Chromium against a real
``leadrelay run``: sign in with the token the CLI printed, open a lead from its chat link,
accept it, claim from the pool; the SLA board and a reassignment. Each main page is saved as a
screenshot (``screenshot``)."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import Server, sign_in, wait_until

LEADS = [
    {"email": "li.wei@bigfactory.cn", "name": "Li Wei", "company": "Big Factory", "title": "CTO", "employees": 2000,
     "country": "CN", "phone": "+86 138 0000 0001"},
    {"email": "anna@kleinbau.de", "name": "Anna Schmidt", "company": "Kleinbau", "employees": 40, "country": "DE"},
    {"email": "zhao@startup.cn", "name": "Zhao Min", "company": "Startup Co", "title": "Director", "country": "CN"},
    {"email": "sam@shop.example", "name": "Sam Lee", "company": "Shop", "country": "US"},
]


def routed(server: Server, count: int, start: int = 0) -> list[dict]:
    return [server.wait_for(server.post_lead(LEADS[(start + i) % len(LEADS)])) for i in range(count)]


def test_a_newcomer_signs_in_with_the_token_leadrelay_run_printed(leadrelay_server: Server, browser: WebDriver,
                                                                  screenshot):
    browser.get(leadrelay_server.url + "/")
    wait_until(browser, "#token")
    assert "/console/signin" in browser.current_url
    assert "leadrelay tokens create --role admin" in browser.page_source
    screenshot("signin")
    sign_in(browser, leadrelay_server.admin_token)
    assert browser.current_url.endswith("/console/board")


def test_a_rep_opens_a_lead_from_chat_accepts_it_and_claims_from_the_pool(leadrelay_server: Server,
                                                                         browser: WebDriver, screenshot):
    leads = routed(leadrelay_server, 4)
    mine = [lead for lead in leads if lead["owner"] == "rep-c"]
    theirs = [lead for lead in leads if lead["owner"] == "rep-d"]
    assert mine and theirs
    # rep-d hands one back ("not mine"): it waits in the team pool.
    handed = leadrelay_server.api("POST", f"/v1/leads/{theirs[0]['lead_id']}/activity",
                                  token=leadrelay_server.token("rep", "rep-d"),
                                  json={"action": "not_mine", "reason": "Not my territory"})
    assert handed.status_code == 200, handed.text

    # The chat message's Open button: the console's lead page; signing in comes back to it.
    lead = mine[0]
    browser.get(f"{leadrelay_server.url}/console/leads/{lead['lead_id']}")
    sign_in(browser, leadrelay_server.token("rep", "rep-c"))
    assert browser.current_url.endswith(f"/console/leads/{lead['lead_id']}")
    assert lead["contact"]["email"] in browser.page_source
    screenshot("rep-lead")

    browser.find_element(By.ID, "act-accepted").click()
    wait_until(browser, '#lead-state[data-state="accepted"]')
    assert "Accepted: the lead is yours." in browser.page_source
    assert leadrelay_server.wait_for(lead["lead_id"], ("accepted",))["history"][-1]["via"] == "console"

    browser.get(f"{leadrelay_server.url}/console/leads")
    wait_until(browser, "#my-leads")
    rows = browser.find_elements(By.CSS_SELECTOR, "#my-leads tbody tr")
    assert {row.get_attribute("data-lead") for row in rows} >= {lead["lead_id"] for lead in mine}
    screenshot("rep-my-leads")
    browser.set_window_size(390, 844)  # a phone, as a rep opening a chat link
    screenshot("rep-my-leads-phone")
    browser.set_window_size(1280, 900)

    browser.get(f"{leadrelay_server.url}/console/pool")
    wait_until(browser, "#pool")
    screenshot("rep-pool")
    row = browser.find_element(By.CSS_SELECTOR, f'#pool tr[data-lead="{theirs[0]["lead_id"]}"]')
    row.find_element(By.NAME, "claim").click()
    wait_until(browser, '#lead-state[data-state="assigned"]')
    assert "Claimed: the lead is yours." in browser.page_source
    assert leadrelay_server.wait_for(theirs[0]["lead_id"])["owner"] == "rep-c"


def test_a_manager_sees_the_sla_board_and_reassigns_a_lead(leadrelay_server: Server, browser: WebDriver, screenshot):
    lead = routed(leadrelay_server, 1, start=2)[0]
    browser.get(f"{leadrelay_server.url}/console/board")
    sign_in(browser, leadrelay_server.token("manager", "mgr-s"))
    wait_until(browser, "#reps")
    assert browser.find_element(By.CSS_SELECTOR, '#reps tr[data-rep="rep-p"]').text.count("paused")
    assert lead["lead_id"] in browser.page_source  # due within the hour: on the board
    screenshot("manager-board")

    browser.get(f"{leadrelay_server.url}/console/team")
    wait_until(browser, "#team-leads")
    screenshot("manager-team")

    browser.get(f"{leadrelay_server.url}/console/leads/{lead['lead_id']}")
    wait_until(browser, "#reassign")
    screenshot("manager-lead")
    to_rep = "rep-d" if lead["owner"] != "rep-d" else "rep-c"
    Select(browser.find_element(By.ID, "to_rep")).select_by_value(to_rep)
    browser.find_element(By.ID, "reassign-reason").send_keys("balancing the load")
    browser.find_element(By.ID, "do-reassign").click()
    wait_until(browser, "#lead-owner")
    assert browser.find_element(By.ID, "lead-owner").text == to_rep
    assert leadrelay_server.wait_for(lead["lead_id"])["owner"] == to_rep

    browser.get(f"{leadrelay_server.url}/console/reps/rep-c/credits")
    browser.find_element(By.ID, "credit-reason").send_keys("a junk lead yesterday")
    browser.find_element(By.CSS_SELECTOR, "#grant button").click()
    wait_until(browser, "#ledger")
    assert "a junk lead yesterday" in browser.page_source
    screenshot("manager-credits")

    # 中文: the switch in the header, kept for the session.
    browser.find_element(By.CSS_SELECTOR, 'button[name="lang"]').click()
    wait_until(browser, 'html[lang="zh-CN"]')
    browser.get(f"{leadrelay_server.url}/console/board")
    wait_until(browser, "#reps")
    assert "SLA 看板" in browser.page_source
    screenshot("manager-board-zh")
