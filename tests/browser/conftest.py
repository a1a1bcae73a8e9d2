"""The console in a real browser: a real ``leadrelay run`` on a free port (its own data dir and
policy), driven by Debian's headless Chromium through its chromedriver (``chromium`` and
``chromium-driver``; .ci/run installs them; nothing is downloaded at test time).

``leadrelay_server`` is the running server (its URL, the admin token and demo key it printed on
first start, ``token(role, person)``, ``post_lead`` and ``wait_for``); ``browser`` a Chrome
session; ``screenshot(name)`` saves a PNG of the page under ``$LEADRELAY_SCREENSHOTS`` (default
``test-output/screenshots/``) and returns its path.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("LEADRELAY_SCREENSHOTS") or REPO / "test-output" / "screenshots")
# How long a page or the pipeline gets to show what a test waits for (a bound, not a threshold:
# a fast machine waits less).
WAIT_S = 60.0

BROWSER_POLICY = """
version: 1
timezone: Asia/Shanghai
scoring:
  rules:
    - {name: big-company, when: {employees: {gte: 500}}, points: 40}
    - {name: senior-title, when: {title: {matches: "(?i)cto|ceo|vp|director|总监"}}, points: 30}
  grades: {hot: 60, warm: 30}
sla:
  handoff: 24h
  first_touch: {hot: 15m, warm: 45m, cold: 4h}
  clock: wall
  ladder: {remind: 50%, escalate: 100%, reassign: 150%}
  recycle_unworked_after: 7d
pool: {claims_per_day: 5, previous_owner_cooldown: 3d}
teams: [{name: smb, manager: mgr-s}]
managers: [{id: mgr-s, name: Wang Fang}]
reps:
  - {id: rep-c, name: Chen Jing, team: smb, capacity: {open: 20, per_day: 10}, timezone: Asia/Shanghai,
     working_hours: {days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "24:00"}}
  - {id: rep-d, name: Dana Li, team: smb, capacity: {open: 20, per_day: 10}, timezone: Europe/Berlin,
     working_hours: {days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "24:00"}}
  - {id: rep-p, name: Pat Zhou, team: smb, paused: true}
rules:
  - {name: everyone, when: {}, strategy: round_robin, pool: {team: smb}}
fallback: {queue: unassigned, notify: [mgr-s]}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def leadrelay(*args: str) -> str:
    """A ``leadrelay`` command's stdout (its last line is what it printed once: a token, a key)."""
    done = subprocess.run([sys.executable, "-m", "leadrelay.shared.shell.cli", *args], capture_output=True,
                          text=True, timeout=120, check=True)
    return done.stdout.strip().splitlines()[-1]


@dataclass
class Server:
    url: str
    data_dir: Path
    admin_token: str  # what `leadrelay run` printed on first start, for the console
    demo_key: str
    process: subprocess.Popen[str]

    def token(self, role: str, person: str | None = None) -> str:
        if role == "rep" and person:
            return leadrelay("reps", "token", person, "--data-dir", str(self.data_dir))
        return leadrelay("tokens", "create", "--role", role, *(("--rep", person) if person else ()),
                         "--data-dir", str(self.data_dir))

    def post_lead(self, body: dict) -> str:
        response = httpx.post(f"{self.url}/v1/leads", json=body, timeout=10,
                              headers={"Authorization": f"Bearer {self.demo_key}"})
        assert response.status_code == 202, response.text
        return response.json()["lead_id"]

    def api(self, method: str, path: str, token: str | None = None, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.admin_token}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]

    def wait_for(self, lead_id: str, states: tuple[str, ...] = ("assigned",)) -> dict:
        deadline = time.monotonic() + WAIT_S
        while True:
            response = self.api("GET", f"/v1/leads/{lead_id}")
            if response.status_code == 200 and response.json()["status"] in states:
                return response.json()
            if time.monotonic() > deadline:
                raise AssertionError(f"lead {lead_id} not {states} after {WAIT_S}s: {response.text[:300]}")
            time.sleep(0.1)


@pytest.fixture(scope="module")
def leadrelay_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``leadrelay run`` as a newcomer runs it, on a free port, in a fresh data dir."""
    root = tmp_path_factory.mktemp("browser")
    policy = root / "policy.yaml"
    policy.write_text(BROWSER_POLICY, encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
    env.update(LEADRELAY_LOG_LEVEL="WARNING", LEADRELAY_PUBLIC_URL=f"http://127.0.0.1:{port}")
    process = subprocess.Popen(
        [sys.executable, "-m", "leadrelay.shared.shell.cli", "run", "--port", str(port), "--data-dir",
         str(root / "data"), "--policy", str(policy)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=root)
    try:
        assert process.stdout is not None
        admin_token, demo_key = process.stdout.readline().strip(), process.stdout.readline().strip()
        assert admin_token.startswith("lrt_") and demo_key.startswith("lrs_"), (admin_token[:4], demo_key[:4])
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "leadrelay run did not get ready"
            time.sleep(0.1)
        yield Server(url, root / "data", admin_token, demo_key, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """Headless Chromium from Debian's packages. Missing is a failure, never a skip."""
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), \
        "install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver fonts-noto-cjk)"
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,900", "--lang=en-US", "--no-first-run"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def screenshot(browser: WebDriver) -> Callable[[str], Path]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        # The whole page, not the window: as tall as its content.
        height = browser.execute_script("return document.documentElement.scrollHeight")
        width = browser.get_window_size()["width"]
        browser.set_window_size(width, max(600, min(int(height) + 120, 4000)))
        assert browser.save_screenshot(str(path)), path
        return path

    return save


def wait_until(browser: WebDriver, css: str) -> None:
    """Waits for an element; failing, says which page the browser is on and what it shows."""
    try:
        WebDriverWait(browser, WAIT_S).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))
    except TimeoutException:
        shown = browser.find_elements(By.TAG_NAME, "main") or browser.find_elements(By.TAG_NAME, "body")
        raise AssertionError(f"no {css!r} on {browser.current_url} after {WAIT_S}s; the page shows: "
                             f"{shown[0].text[:800] if shown else browser.page_source[:800]}") from None


def sign_in(browser: WebDriver, token: str) -> None:
    """Types the token into the sign-in page the browser is on, and sends it."""
    wait_until(browser, "#token")
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_until(browser, "#signout")
