"""Sales ops in a real browser against a real ``leadrelay run``: sign in as an admin, break the
policy and see the error at its line, simulate a change and see the chart, apply it, and see the
next lead (posted with a source key) routed by the new version. Each page is saved as a
screenshot (``ops-*.png``, see ``tests/browser/conftest.py``).

The browser, the screenshots and the sign-in are the console's browser fixtures; the server is
started here the same way (``leadrelay run`` on a free port) with a policy of its own: two teams,
so that a change of rule visibly moves leads from one to the other."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import WAIT_S, Server, free_port, sign_in

pytestmark = pytest.mark.slow

ALL_WEEK = '{days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "24:00"}'
# Reps on shift round the clock (the test runs at any hour); rep-a's chat line shows the editor
# masking a webhook and keeping it through an apply.
POLICY = f"""\
version: 1
timezone: Asia/Shanghai
scoring:
  rules: [{{name: big-company, when: {{employees: {{gte: 500}}}}, points: 70}}]
  grades: {{hot: 60, warm: 30}}
teams: [{{name: east, manager: mgr-e}}, {{name: west, manager: mgr-w}}]
managers: [{{id: mgr-e}}, {{id: mgr-w}}]
reps:
  - id: rep-a
    team: east
    working_hours: {ALL_WEEK}
    chat: {{platform: slack, webhook: "http://127.0.0.1:9/slack/rep-a-webhook"}}
  - {{id: rep-b, team: east, working_hours: {ALL_WEEK}}}
  - {{id: rep-c, team: west, working_hours: {ALL_WEEK}}}
  - {{id: rep-d, team: west, working_hours: {ALL_WEEK}}}
rules:
  - name: everyone
    strategy: round_robin
    pool: {{team: east}}
fallback: {{queue: unassigned, notify: [mgr-e]}}
"""
# The change tried and applied: everyone's leads go to the west team.
PROPOSED = POLICY.replace("pool: {team: east}", "pool: {team: west}")


@pytest.fixture
def ops_server(tmp_path: Path) -> Iterator[Server]:
    """``leadrelay run`` with this module's policy, on a free port, in a fresh data dir; its first
    start prints an admin token and the demo source's key."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
    env.update(LEADRELAY_LOG_LEVEL="WARNING", LEADRELAY_PUBLIC_URL=url)
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "leadrelay.shared.shell.cli", "run", "--policy", str(policy), "--data-dir",
         str(tmp_path / "data"), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=tmp_path)
    try:
        assert process.stdout is not None
        token, key = process.stdout.readline().strip(), process.stdout.readline().strip()
        assert token.startswith("lrt_") and key.startswith("lrs_"), (token[:4], key[:4], tmp_path / "server.log")
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.1)
        yield Server(url, tmp_path / "data", token, key, process)
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


def wait_for(driver: WebDriver, css: str) -> WebElement:
    return WebDriverWait(driver, WAIT_S).until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css)))


def set_text(driver: WebDriver, element: WebElement, text: str) -> None:
    """Types a whole document into a textarea at once (send_keys would take a key at a time)."""
    driver.execute_script("arguments[0].value = arguments[1];", element, text)


def new_lead(number: int) -> dict:
    return {"email": f"buyer{number}@factory{number}.example.cn", "country": "CN", "company": f"Factory {number}",
            "employees": 40}


def decision_of(server: Server, lead_id: str) -> dict:
    """The lead's routing decision, once the router made it (read over the API as the admin)."""
    return server.wait_for(lead_id, ("assigned", "queued"))["decision"]


def test_ops_breaks_the_policy_simulates_a_change_applies_it_and_the_next_lead_follows_it(
        ops_server: Server, browser: WebDriver, screenshot: Callable[[str], Path]):
    leads = [ops_server.post_lead(new_lead(number)) for number in range(6)]
    for lead_id in leads:
        assert decision_of(ops_server, lead_id)["policy_version"] == 1

    # sign in as an admin
    browser.get(f"{ops_server.url}/console/signin?next=/console/ops/policy")
    sign_in(browser, ops_server.admin_token)
    editor = wait_for(browser, "#document")
    assert "Version 1 is in force." in browser.find_element(By.ID, "policy-version").text
    shown = editor.get_attribute("value") or ""
    assert "rep-a-webhook" not in shown and "…" in shown  # the page holds no chat credential
    screenshot("ops-policy")

    # break it: the error is shown at its line, the text stays in the editor
    broken = shown.replace("strategy: round_robin", "strategy: round_robbin")
    bad_line = next(n for n, line in enumerate(broken.splitlines(), 1) if "round_robbin" in line)
    set_text(browser, editor, broken)
    browser.find_element(By.ID, "validate").click()
    problem = wait_for(browser, ".problems .problem")
    assert f"line {bad_line}" in problem.text and "rules[0].strategy" in problem.text
    marked = browser.find_element(By.ID, f"line-{bad_line}")
    assert "bad" in (marked.get_attribute("class") or "") and "round_robbin" in marked.text
    assert "rules[0].strategy" in marked.find_element(By.CSS_SELECTOR, ".why").text
    assert (browser.find_element(By.ID, "document").get_attribute("value") or "") == broken
    screenshot("ops-policy-error-at-line")

    # simulate the change on the real leads of the last day: the chart and its table
    browser.get(f"{ops_server.url}/console/ops/simulate")
    editor = wait_for(browser, "#document")
    proposed = (editor.get_attribute("value") or "").replace("pool: {team: east}", "pool: {team: west}")
    set_text(browser, editor, proposed)
    days = browser.find_element(By.ID, "days")
    days.clear()
    days.send_keys("1")
    browser.find_element(By.ID, "run-simulation").click()
    chart = wait_for(browser, "svg#leads-per-rep")
    assert chart.get_attribute("role") == "img"
    assert "6 leads from" in browser.find_element(By.CSS_SELECTOR, "#sim-result h2").text
    bars = {(bar.get_attribute("data-series"), bar.find_element(By.TAG_NAME, "title").get_attribute("textContent"))
            for bar in chart.find_elements(By.CSS_SELECTOR, "rect.bar")}
    assert ("current", "rep-a — current: 3 leads") in bars and ("proposed", "rep-c — proposed: 3 leads") in bars
    table = browser.find_element(By.XPATH, "//table[caption='Leads per rep']")
    assert [row.text for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")] == [
        "rep-a 3 0", "rep-b 3 0", "rep-c 0 3", "rep-d 0 3"]
    assert "6 leads change owner" in browser.page_source
    screenshot("ops-simulate")

    # apply it
    browser.get(f"{ops_server.url}/console/ops/policy")
    set_text(browser, wait_for(browser, "#document"), proposed)
    browser.find_element(By.ID, "apply").click()
    flash = wait_for(browser, ".flash")
    assert "Version 2 applied" in flash.text
    assert "Version 2 is in force." in browser.find_element(By.ID, "policy-version").text
    screenshot("ops-policy-applied")

    # the next lead is routed by version 2, to the west team; its decision says so
    lead_id = ops_server.post_lead(new_lead(99))
    decision = decision_of(ops_server, lead_id)
    assert decision["policy_version"] == 2 and decision["owner"] in ("rep-c", "rep-d")
    browser.get(f"{ops_server.url}/console/ops/search")
    wait_for(browser, "#lead_id").send_keys(lead_id)
    browser.find_element(By.CSS_SELECTOR, "form.card button[type=submit]").click()
    version = wait_for(browser, ".decision .policy-version")
    assert version.text == "v2"
    assert re.search(r"rep-[cd]", browser.find_element(By.CSS_SELECTOR, ".decision").text)
    screenshot("ops-search-decision")

    # the API saw the webhook kept through the masked editor: version 2 still has rep-a's line
    document = ops_server.api("GET", "/v1/policy").json()
    assert document["version"] == 2 and "http://127.0.0.1:9/…hook" in document["document"]

    # the remaining pages render
    browser.get(f"{ops_server.url}/console/ops/sources")
    assert "demo" in wait_for(browser, "table.sources").text
    screenshot("ops-sources")
    browser.get(f"{ops_server.url}/console/ops/dlq")
    wait_for(browser, "h1")
    screenshot("ops-dlq")
    browser.get(f"{ops_server.url}/console/ops/reports/funnel")
    wait_for(browser, "svg#funnel")
    screenshot("ops-funnel")
    # and in Chinese
    browser.get(f"{ops_server.url}/console/ops/simulate?lang=zh")
    assert wait_for(browser, "h1").text == "策略模拟"
    screenshot("ops-simulate-zh")
