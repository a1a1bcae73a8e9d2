"""A local stand-in for HubSpot's CRM v3 contacts and owners API, written from /work/shared/CRM.md §2.

It checks what HubSpot checks and answers the way HubSpot answers:
- ``Authorization: Bearer <private app token>`` on every call, else 401 ``INVALID_AUTHENTICATION``
  in HubSpot's general error body (§2.1, §2.5);
- a ``properties`` object whose values are all strings; unknown or read-only properties, an
  unknown ``lifecyclestage`` and a ``hubspot_owner_id`` that is not an owner ``id`` (a ``userId``
  is refused, §2.4) are 400 ``VALIDATION_ERROR`` with ``errors[]`` (§2.3, §2.5);
- create needs email, firstname or lastname; a second contact with the same e-mail is 409
  ``CONFLICT`` "Contact already exists. Existing ID: <id>" (§2.5 [U]);
- batch upsert by ``idProperty: email``: 200 with ``new`` per result (§2.3); at most 100 inputs [U];
- a rolling 10-second limit and a daily cap (§2.6), both configurable so a test trips them in a
  few calls: 429 with ``policyName`` and the ``X-HubSpot-RateLimit-*`` headers; ``Retry-After``
  is [U] for HubSpot, so it is sent only when ``send_retry_after`` is on.
It also signs webhooks the way HubSpot does (v3, §2.7) so the receiver can be tested.

    hubspot = FakeHubSpot(clock=lambda: fake_clock().timestamp())
    with hubspot.serve():
        ... connector posts to hubspot.base_url ...
        assert hubspot.contact_by_email("ada@example.com")["properties"]["hubspot_owner_id"] == "41629779"
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
OWNERS = (  # §2.4: owner ``id`` is a string and assigns ownership; ``userId`` is an int and does not
    {"id": "41629779", "email": "li.wei@example.com", "firstName": "Li", "lastName": "Wei", "userId": 9586504},
    {"id": "41629780", "email": "chen.jing@example.com", "firstName": "Chen", "lastName": "Jing", "userId": 9586505},
)
# Writable contact properties this portal has (the real list comes from GET /crm/v3/properties/contacts).
WRITABLE = frozenset({"email", "firstname", "lastname", "company", "jobtitle", "phone", "mobilephone", "country",
                      "city", "state", "website", "numberofemployees", "industry", "lifecyclestage",
                      "hs_lead_status", "hubspot_owner_id"})
READ_ONLY = frozenset({"hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate"})
LIFECYCLE_STAGES = frozenset({"subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
                              "customer", "evangelist", "other"})
MAX_BATCH = 100
from tests.platforms.local_server import serving


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def error_body(category: str, message: str, errors: list[dict[str, Any]] | None = None,
               **extra: Any) -> dict[str, Any]:
    """HubSpot's general error body (§2.5)."""
    body: dict[str, Any] = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()),
                            "category": category, **extra}
    if errors:
        body["errors"] = errors
    return body


def signature_v3(client_secret: str, method: str, uri: str, body: bytes, timestamp_ms: int) -> str:
    """base64(HMAC-SHA256(client secret, method + uri + body + timestamp)) (§2.7)."""
    message = method.encode() + uri.encode() + body + str(timestamp_ms).encode()
    return base64.b64encode(hmac.new(client_secret.encode(), message, hashlib.sha256).digest()).decode()


class _Refuse(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    status: int
    body: Any


class FakeHubSpot:
    def __init__(self, clock: Callable[[], float] = time.time, *, token: str = TOKEN) -> None:
        self.clock = clock
        self.token = token
        self._lock = threading.Lock()
        self.base_url: str | None = None
        self.app = Starlette(routes=[
            Route("/crm/v3/objects/contacts", self._create, methods=["POST"]),
            Route("/crm/v3/objects/contacts/batch/upsert", self._batch_upsert, methods=["POST"]),
            Route("/crm/v3/objects/contacts/{contact_id}", self._update, methods=["PATCH"]),
            Route("/crm/v3/objects/contacts/{contact_id}", self._read, methods=["GET"]),
            Route("/crm/v3/owners", self._owners, methods=["GET"]),
        ])
        self.reset()

    # -- test API ------------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.contacts: dict[str, dict[str, Any]] = {}
            self.owners = [dict(owner, type="PERSON", archived=False, teams=[]) for owner in OWNERS]
            self.calls: list[Call] = []
            self.per_ten_seconds = 100  # Free/Starter: 100 per 10 s per app (§2.6)
            self.per_day = 250_000
            self.send_retry_after = True
            self._sent: deque[float] = deque()
            self._sent_today = 0
            self._ids = itertools.count(512)

    def set_limits(self, *, per_ten_seconds: int | None = None, per_day: int | None = None,
                   send_retry_after: bool | None = None) -> None:
        with self._lock:
            if per_ten_seconds is not None:
                self.per_ten_seconds = per_ten_seconds
            if per_day is not None:
                self.per_day = per_day
            if send_retry_after is not None:
                self.send_retry_after = send_retry_after

    def contact_by_email(self, email: str) -> dict[str, Any] | None:
        with self._lock:
            return next((dict(c) for c in self.contacts.values() if c["properties"].get("email") == email.lower()),
                        None)

    def rate_limited(self) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.status == 429]

    def webhook(self, target_url: str, events: list[dict[str, Any]], client_secret: str,
                timestamp_ms: int | None = None) -> tuple[bytes, dict[str, str]]:
        """The POST HubSpot sends a webhook subscriber: a JSON array of events, signed v3 over the
        full target URL (§2.7), the timestamp in milliseconds."""
        body = json.dumps(events, separators=(",", ":")).encode()
        ts = int(self.clock() * 1000) if timestamp_ms is None else timestamp_ms
        return body, {"Content-Type": "application/json", "X-HubSpot-Request-Timestamp": str(ts),
                      "X-HubSpot-Signature-v3": signature_v3(client_secret, "POST", target_url, body, ts),
                      "X-HubSpot-Signature-Version": "v3"}

    def property_change(self, contact_id: str, name: str, value: str, *, source: str = "CRM_UI",
                        event_id: int = 3029365631) -> dict[str, Any]:
        """A ``contact.propertyChange`` event in the shape of HubSpot's example (§2.7)."""
        return {"eventId": event_id, "subscriptionId": 686627, "portalId": 891472211, "appId": 7906213,
                "occurredAt": int(self.clock() * 1000), "subscriptionType": "contact.propertyChange",
                "attemptNumber": 0, "objectId": int(contact_id), "propertyName": name, "propertyValue": value,
                "changeSource": source, "sourceId": "userId:882761034"}

    @contextmanager
    def serve(self) -> Iterator[FakeHubSpot]:
        with serving(self.app, "fake HubSpot") as base_url:
            self.base_url = base_url
            yield self
            self.base_url = None

    # -- the API -------------------------------------------------------------------------------

    async def _create(self, request: Request) -> Response:
        def create(payload: Any) -> tuple[int, Any]:
            props = self._properties(payload)
            if not any(props.get(name) for name in ("email", "firstname", "lastname")):
                raise _Refuse(400, error_body("VALIDATION_ERROR", "Include at least one of email, firstname, lastname"))
            existing = self._by_email(props.get("email"))
            if existing is not None:
                raise _Refuse(409, error_body("CONFLICT", f"Contact already exists. Existing ID: {existing['id']}"))
            return 201, self._store(None, props)
        return await self._handle(request, create)

    async def _update(self, request: Request) -> Response:
        def update(payload: Any) -> tuple[int, Any]:
            props = self._properties(payload)
            contact_id = unquote(request.path_params["contact_id"])
            id_property = request.query_params.get("idProperty")
            found = self._by_email(contact_id) if id_property == "email" else self.contacts.get(contact_id)
            if id_property not in (None, "email", "hs_object_id"):
                raise _Refuse(400, error_body("VALIDATION_ERROR", f"{id_property} is not a unique property"))
            if found is None:
                raise _Refuse(404, error_body("OBJECT_NOT_FOUND", "resource not found"))
            if "email" in props and self._by_email(props["email"]) not in (None, found):
                raise _Refuse(409, error_body("CONFLICT", "A contact with this email already exists"))
            return 200, self._store(found["id"], props)
        return await self._handle(request, update)

    async def _read(self, request: Request) -> Response:
        def read(_: Any) -> tuple[int, Any]:
            found = self.contacts.get(request.path_params["contact_id"])
            if found is None:
                raise _Refuse(404, error_body("OBJECT_NOT_FOUND", "resource not found"))
            return 200, found
        return await self._handle(request, read, has_body=False)

    async def _batch_upsert(self, request: Request) -> Response:
        def upsert(payload: Any) -> tuple[int, Any]:
            inputs = payload.get("inputs") if isinstance(payload, dict) else None
            if not isinstance(inputs, list) or not inputs:
                raise _Refuse(400, error_body("VALIDATION_ERROR", "inputs is required",
                                              [{"message": "inputs is required", "in": "inputs"}]))
            if len(inputs) > MAX_BATCH:
                raise _Refuse(400, error_body("VALIDATION_ERROR", f"Batch size limit is {MAX_BATCH}"))
            started = _iso(self.clock())
            checked = []
            for index, item in enumerate(inputs):
                if not isinstance(item, dict) or set(item) - {"id", "idProperty", "properties", "objectWriteTraceId"}:
                    raise _Refuse(400, error_body("VALIDATION_ERROR", f"inputs[{index}] is not an upsert input"))
                if item.get("idProperty") != "email" or not isinstance(item.get("id"), str) or not item["id"]:
                    raise _Refuse(400, error_body("VALIDATION_ERROR",
                                                  "idProperty must be a unique property (email) with an id value"))
                checked.append((item["id"].lower(), self._properties(item)))
            results = []
            for email, props in checked:
                existing = self._by_email(email)
                contact = self._store(existing["id"] if existing else None, {**props, "email": email})
                results.append({**contact, "new": existing is None})
            return 200, {"status": "COMPLETE", "results": results, "startedAt": started,
                         "completedAt": _iso(self.clock())}
        return await self._handle(request, upsert)

    async def _owners(self, request: Request) -> Response:
        def owners(_: Any) -> tuple[int, Any]:
            email = request.query_params.get("email")
            return 200, {"results": [o for o in self.owners if email in (None, o["email"])]}
        return await self._handle(request, owners, has_body=False)

    # -- checks --------------------------------------------------------------------------------

    async def _handle(self, request: Request, action: Callable[[Any], Any], *, has_body: bool = True) -> Response:
        raw = await request.body()
        headers: dict[str, str] = {}
        try:
            auth = request.headers.get("authorization", "")
            if auth != f"Bearer {self.token}":
                raise _Refuse(401, error_body(
                    "INVALID_AUTHENTICATION", "Authentication credentials not found. This API supports OAuth 2.0 "
                    "authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"))
            headers = self._admit()
            payload = None
            if has_body:
                if "application/json" not in request.headers.get("content-type", ""):
                    raise _Refuse(415, error_body("VALIDATION_ERROR", "Content-Type must be application/json"))
                try:
                    payload = json.loads(raw)
                except ValueError:
                    raise _Refuse(400, error_body("VALIDATION_ERROR", "Invalid input JSON")) from None
            with self._lock:
                status, body = action(payload)
        except _Refuse as refused:
            status, body = refused.status, refused.body
            headers = {**headers, **refused.headers}
        with self._lock:
            self.calls.append(Call(request.method, request.url.path, status, body))
        return JSONResponse(body, status_code=status, headers=headers)

    def _admit(self) -> dict[str, str]:
        """Counts the call against the rolling 10 s window and the day (§2.6); raises 429 when over."""
        now = self.clock()
        with self._lock:
            while self._sent and self._sent[0] <= now - 10:
                self._sent.popleft()
            remaining = self.per_ten_seconds - len(self._sent)
            headers = {"X-HubSpot-RateLimit-Max": str(self.per_ten_seconds),
                       "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                       "X-HubSpot-RateLimit-Daily": str(self.per_day),
                       "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.per_day - self._sent_today))}
            if self._sent_today >= self.per_day:
                raise _Refuse(429, error_body("RATE_LIMITS", "You have reached your daily limit.",
                                              errorType="RATE_LIMIT", policyName="DAILY"),
                              {**headers, "X-HubSpot-RateLimit-Remaining": "0"})
            if remaining <= 0:
                wait = max(1, int(self._sent[0] + 10 - now + 0.999))
                extra = {"Retry-After": str(wait)} if self.send_retry_after else {}
                raise _Refuse(429, error_body("RATE_LIMITS", "You have reached your ten_secondly_rolling limit.",
                                              errorType="RATE_LIMIT", policyName="TEN_SECONDLY_ROLLING"),
                              {**headers, "X-HubSpot-RateLimit-Remaining": "0", **extra})
            self._sent.append(now)
            self._sent_today += 1
            return {**headers, "X-HubSpot-RateLimit-Remaining": str(remaining - 1)}

    def _properties(self, payload: Any) -> dict[str, str]:
        """The ``properties`` of a create/update/upsert input, checked as HubSpot checks them."""
        props = payload.get("properties") if isinstance(payload, dict) else None
        if not isinstance(props, dict):
            raise _Refuse(400, error_body("VALIDATION_ERROR", "properties is required",
                                          [{"message": "properties is required", "in": "properties"}]))
        errors = []
        for name, value in props.items():
            if name in READ_ONLY:
                errors.append({"message": f"{name} is a read only property; its value cannot be set.", "in": name,
                               "code": "READ_ONLY_VALUE"})
            elif name not in WRITABLE:
                errors.append({"message": f'Property "{name}" does not exist', "in": name,
                               "code": "PROPERTY_DOESNT_EXIST"})
            elif not isinstance(value, str):
                errors.append({"message": f"{value!r} is not a string", "in": name, "code": "INVALID_STRING"})
            elif name == "lifecyclestage" and value not in LIFECYCLE_STAGES | {""}:
                errors.append({"message": f"{value} was not one of the allowed options", "in": name,
                               "code": "INVALID_OPTION"})
            elif name == "hubspot_owner_id" and value and value not in {o["id"] for o in self.owners}:
                errors.append({"message": f"{value} is not a valid owner id", "in": name, "code": "INVALID_OWNER_ID"})
        if errors:
            raise _Refuse(400, error_body("VALIDATION_ERROR", "Property values were not valid: "
                                          + json.dumps(errors), errors))
        return {name: value.lower() if name == "email" else value for name, value in props.items()}

    def _by_email(self, email: str | None) -> dict[str, Any] | None:
        if not email:
            return None
        return next((c for c in self.contacts.values() if c["properties"].get("email") == email.lower()), None)

    def _store(self, contact_id: str | None, props: dict[str, str]) -> dict[str, Any]:
        now = _iso(self.clock())
        if contact_id is None:
            contact_id = str(next(self._ids))
            self.contacts[contact_id] = {"id": contact_id, "properties": {"hs_object_id": contact_id},
                                         "createdAt": now, "archived": False}
        contact = self.contacts[contact_id]
        merged = {**contact["properties"], **props}
        contact.update(properties={k: v for k, v in merged.items() if v != ""}, updatedAt=now)  # "" clears (§2.3)
        return json.loads(json.dumps(contact))
