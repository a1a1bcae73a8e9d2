"""Schemathesis against the embedded app: every operation of /openapi.json, with each credential
(an admin, a manager and a rep token, a source key, none, and the ad platforms' webhook
credentials), a bounded number of generated examples, and every check schemathesis has, the
conformance checks included: no 5xx, and no status, content type, header or body that the
document does not declare.

The app runs in one embedded pipeline for the whole file, on an event loop of its own in a
thread (its SQLite store is bound to that loop); Hypothesis drives the tests from pytest's thread
and each request crosses to that loop through ``httpx.ASGITransport`` (no socket). The schema is
the app's own document (``app.openapi()`` is what ``/openapi.json`` serves), read when this
module is collected so that each operation is its own test.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import CoveragePhaseData, CoverageScenario
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.bootstrap import build_app, build_runtime, create_source
from tests.conftest import Pipeline, start_pipeline, stop_pipeline
from tests.platforms.fake_chat import FakeChat

T = TypeVar("T")

APP_SECRET = "schemathesis-app-secret"
VERIFY_TOKEN = "schemathesis-verify-token"
GOOGLE_KEY = "schemathesis-google-key"
META_WEBHOOK = "/v1/sources/meta/webhook"
GOOGLE_WEBHOOK = "/v1/sources/google-ads/webhook"
WEBHOOKS = {META_WEBHOOK, GOOGLE_WEBHOOK}
CREDENTIALS = ("admin", "manager", "rep", "source", "none", "webhook")

# The one exclusion: ``positive_data_acceptance`` (a body the schema allows must get a 2xx) on the
# two bodies whose rules go beyond what JSON Schema can say, where the tool's data is schema-valid
# but not valid, and the route's documented 422 naming the field is the right answer:
CHECKED_BEYOND_THE_SCHEMA = {
    # an email must be deliverable syntax and a phone a dialable number (``phonenumbers``):
    # "phone": "000…0" fits the schema's string and is refused, naming `phone`;
    ("POST", "/v1/leads"),
    # a policy document must be a policy (teams, reps, rules that refer to each other):
    # "document": "" fits the schema's string and is refused, naming the policy's fault.
    ("PUT", "/v1/policy"),
    # a webhook subscription's URL must be http(s) with a host, a webhook's own secret a whsec_ one
    # (base64 of 24-64 bytes), and a target one of the connectors this version has: "url": "0:"
    # fits the schema's string and is refused, naming `url`.
    ("POST", "/v1/webhooks"),
    # a platform id is text or an int64, and an integer field is a JSON integer without a
    # fraction: JSON Schema counts 68807.0 as an integer, and the generator compares int64 bounds
    # as floats (it sends 9223372036854775999 as "≤ 2**63 - 1"); both are refused with 422 naming
    # the field. (Negative data, conformance and no-5xx still hold on these routes.)
    ("POST", META_WEBHOOK),
    ("POST", GOOGLE_WEBHOOK),
    # a report's period must start before it ends (two parameters JSON Schema cannot relate) and
    # fit in UTC: since=2000-01-02&until=2000-01-01 fits the schema and is refused naming `since`.
    ("GET", "/v1/reports/funnel"),
    # a person is searched by an email or phone that normalises (as intake's identity keys are made):
    # "email": "0" fits the schema's string and is refused with 422 naming `email`.
    ("POST", "/v1/people/search"),
    # an activity's reason is required for some actions only (`lost`, `not_mine`):
    # {"action": "not_mine", "reason": ""} fits the schema and is refused with 422 naming `reason`.
    ("POST", "/v1/leads/{lead_id}/activity"),
}

# The document the app serves, built without a running runtime (building it reads no port).
DOCUMENT = build_app(SimpleNamespace(settings=Settings(), metrics=None)).openapi()  # type: ignore[arg-type]
schema = schemathesis.openapi.from_dict(DOCUMENT)


class LoopThread:
    """An event loop in a thread of its own, for the app and its services."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="schemathesis-app", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class App:
    """The running pipeline and a credential for each role."""

    def __init__(self, loop: LoopThread, pipeline: Pipeline) -> None:
        self.loop = loop
        self.pipeline = pipeline
        self.bearer = {
            "admin": loop.run(pipeline.token("admin")),
            "manager": loop.run(pipeline.token("manager", "mgr-a")),
            "rep": loop.run(pipeline.token("rep", "rep-a")),
            "source": pipeline.source_key,
        }

    def send(self, case: schemathesis.Case, credential: str) -> tuple[httpx.Response, dict[str, str]]:
        """Sends ``case`` as ``credential``; returns the response and the headers sent."""
        kwargs = case.as_transport_kwargs(base_url="http://leadrelay.test")
        headers = dict(kwargs.get("headers") or {})
        if credential in self.bearer and not omits_authorization(case):
            headers["Authorization"] = f"Bearer {self.bearer[credential]}"
        params = kwargs.get("params")
        content: bytes | None = None
        if "json" in kwargs:
            json_body = kwargs["json"]
            if (credential == "webhook" and case.operation.path == GOOGLE_WEBHOOK and isinstance(json_body, dict)
                    and isinstance(json_body.get("google_key"), str)):
                # The source's key in place of the generated one; a body without one stays without.
                json_body = {**json_body, "google_key": GOOGLE_KEY}
            content = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif kwargs.get("data") is not None:
            data = kwargs["data"]
            content = data if isinstance(data, bytes) else str(data).encode() if isinstance(data, str) else None
            if content is None:  # a form
                content = httpx.QueryParams(data).__str__().encode()
        if credential == "webhook" and case.operation.path == META_WEBHOOK:
            if case.method == "GET":
                params = {**(params or {}), "hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN}
            else:
                digest = hmac.new(APP_SECRET.encode(), content or b"", hashlib.sha256).hexdigest()
                headers["X-Hub-Signature-256"] = f"sha256={digest}"
        request = self.pipeline.client.build_request(
            kwargs["method"], kwargs["url"], headers=headers, params=params, cookies=kwargs.get("cookies"),
            content=content)
        response = self.loop.run(self.pipeline.client.send(request))
        return response, headers


def omits_authorization(case: schemathesis.Case) -> bool:
    """Whether the case's point is a missing ``Authorization`` header (the document requires the
    bearer scheme there): negative in its headers and without one. It is sent as generated,
    without the credential, and must be refused."""
    data = case.meta.phase.data if case.meta is not None else None
    if isinstance(data, CoveragePhaseData) and data.scenario == CoverageScenario.MISSING_PARAMETER:
        return (data.parameter or "").lower() == "authorization"
    return (case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
            and not any(name.lower() == "authorization" for name in case.headers or {}))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    loop = LoopThread()
    with FakeChat().serve() as chat:
        for name in ("webhook_a", "webhook_b", "webhook_c", "webhook_mgr"):
            chat.register("slack", f"T000/B000/{name}")
        chat.set_limits("slack")
        data_dir: Path = tmp_path_factory.mktemp("schemathesis") / "data"
        settings_ = Settings(data_dir=data_dir, public_url="http://leadrelay.test",
                             slack_signing_secret="schemathesis-slack-secret")
        pipeline, stop, task = loop.run(start_pipeline(build_runtime(settings_), chat, embedded=True))
        runtime = pipeline.runtime
        # The ad platforms' sources; the Graph API is an address nothing answers, so a signed
        # delivery naming a lead gets the documented 502 at once.
        loop.run(create_source(runtime, "meta-ads", "meta", {
            "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN, "page_token": "page-token",
            "graph_url": "http://127.0.0.1:9"}))
        loop.run(create_source(runtime, "google", "google_ads", {"google_key": GOOGLE_KEY}))
        # A few leads, so the routes that read and act on leads have some to find.
        for i in range(3):
            loop.run(pipeline.post_lead({"email": f"lead{i}@example.com", "company": "Example", "country": "CN"}))
        try:
            yield App(loop, pipeline)
        finally:
            loop.run(stop_pipeline(pipeline, stop, task), timeout=60)
            loop.close()


SETTINGS = settings(max_examples=25, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.filter_too_much])


def check(case: schemathesis.Case, credential: str, app: App) -> None:
    response, headers = app.send(case, credential)
    excluded = [positive_data_acceptance] if (case.method, case.path) in CHECKED_BEYOND_THE_SCHEMA else []
    # ``ignored_auth`` sends a bearer operation's request again itself, over the network, which
    # cannot reach this in-process app: tests/api/test_openapi.py checks the same (every operation
    # that requires the bearer scheme refuses a call without it, with 401).
    excluded.append(ignored_auth)
    case.validate_response(response, headers=headers, excluded_checks=excluded)


@pytest.mark.parametrize("credential", [c for c in CREDENTIALS if c != "webhook"])
@schema.parametrize()
@SETTINGS
def test_every_operation_conforms(case: schemathesis.Case, credential: str, app: App) -> None:
    check(case, credential, app)


# The platforms' own credentials (a Meta signature, the verify token, the google_key) only mean
# something on the webhook routes.
@schema.include(path_regex="^(" + "|".join(sorted(WEBHOOKS)) + ")$").parametrize()
@SETTINGS
def test_the_webhooks_conform_with_the_platforms_credentials(case: schemathesis.Case, app: App) -> None:
    check(case, "webhook", app)
