"""A local stand-in for Salesforce's OAuth token endpoint and the REST sObject Lead upsert, written
from /work/shared/CRM.md §3.

It checks what Salesforce checks and answers the way Salesforce answers:
- ``POST /services/oauth2/token``: form-encoded ``grant_type=client_credentials``, the consumer key
  and secret in the body or as HTTP Basic (§3.1; simple-salesforce uses Basic); a wrong one is 400
  ``{"error": "invalid_client", ...}`` ([U] status). It issues opaque tokens that expire after
  ``token_ttl_s`` on the stand-in's clock (the org's session timeout), or at once with
  ``expire_tokens()``.
- Every data call needs ``Authorization: Bearer <a live token>``, else 401
  ``[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]`` (§3.4).
- ``PATCH /services/data/vNN.N/sobjects/Lead/{field}/{value}`` (§3.2): an unknown version or a
  field that is not an External ID field is 404 ``NOT_FOUND``; the body a JSON object of Lead
  fields with the right types and lengths (``INVALID_FIELD``, ``JSON_PARSER_ERROR``,
  ``STRING_TOO_LONG``); no match → create, which needs LastName and Company (400
  ``REQUIRED_FIELD_MISSING`` with ``fields``, [U]), 201 ``{"id", "success", "errors", "created":
  true}``; one match → update, 204 (or 200 ``created: false`` with ``update_status = 200``);
  ``OwnerId`` must be a User or Queue of the org (``MALFORMED_ID`` / ``INVALID_CROSS_REFERENCE_KEY``).
- Errors are always a JSON array of ``{message, errorCode, fields}``.
- ``Sforce-Limit-Info: api-usage=<used>/<limit>`` on every answer; past the daily allocation,
  403 ``REQUEST_LIMIT_EXCEEDED`` (§3.5, [U]).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

CLIENT_ID = "3MVG9fake.consumer.key"
CLIENT_SECRET = "fake-consumer-secret-0123456789"
ORG_ID = "00D000000000001EAA"
USERS = ("005000000000001AAA", "005000000000002AAA")  # Li Wei, Chen Jing
QUEUES = ("00G000000000001AAA",)
EXTERNAL_ID_FIELD = "Leadrelay_Id__c"
VERSIONS = ("59.0", "62.0", "64.0", "66.0")
# Lead fields this org has, with their type and length (the Lead object reference).
STRING_FIELDS = {"FirstName": 40, "LastName": 80, "Company": 255, "Title": 128, "Email": 80, "Phone": 40,
                 "Country": 80, "City": 40, "Website": 255, "Status": 255, "LeadSource": 255,
                 EXTERNAL_ID_FIELD: 255}
INT_FIELDS = {"NumberOfEmployees"}
ID_FIELDS = {"OwnerId"}
READ_ONLY = {"Id", "CreatedDate", "LastModifiedDate", "IsConverted"}
_ID = r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?"
from tests.platforms.local_server import serving


def errors(code: str, message: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
    return [{"message": message, "errorCode": code, "fields": fields or []}]


class _Refuse(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status, self.body = status, body


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    status: int
    body: Any


class FakeSalesforce:
    def __init__(self, clock: Callable[[], float] = time.time, *, client_id: str = CLIENT_ID,
                 client_secret: str = CLIENT_SECRET) -> None:
        self.clock = clock
        self.client_id, self.client_secret = client_id, client_secret
        self._lock = threading.Lock()
        self.base_url: str | None = None
        self.app = Starlette(routes=[
            Route("/services/oauth2/token", self._token, methods=["POST"]),
            Route("/services/data/v{version}/sobjects/Lead/{field}/{value:path}", self._upsert, methods=["PATCH"]),
        ])
        self.reset()

    # -- test API ------------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.leads: dict[str, dict[str, Any]] = {}  # Salesforce Id -> fields
            self.tokens: dict[str, float] = {}  # token -> expires at (the stand-in's clock)
            self.calls: list[Call] = []
            self.token_ttl_s = 7200.0  # the org's session timeout (2 hours)
            self.update_status = 204
            self.daily_limit = 100_000
            self.used = 0
            self._ids = itertools.count(1)
            self._notification_ids = itertools.count(1)

    def expire_tokens(self) -> None:
        """Every token issued so far is now expired (a session timeout, a revoked app)."""
        with self._lock:
            self.tokens = dict.fromkeys(self.tokens, -1.0)

    def lead_by_external_id(self, value: str) -> dict[str, Any] | None:
        with self._lock:
            found = [dict(lead) for lead in self.leads.values() if lead.get(EXTERNAL_ID_FIELD) == value]
        assert len(found) <= 1, f"{len(found)} Leads with {EXTERNAL_ID_FIELD}={value}"
        return found[0] if found else None

    def statuses(self, path_part: str = "") -> list[int]:
        with self._lock:
            return [call.status for call in self.calls if path_part in call.path]

    def edit(self, lead_id: str, **fields: str) -> dict[str, Any]:
        """A person changes the Lead in Salesforce (its owner, its status); returns the Lead."""
        with self._lock:
            self.leads[lead_id].update(fields)
            return dict(self.leads[lead_id])

    def outbound_message(self, leads: list[dict[str, Any]], *, notification_ids: list[str] | None = None,
                         organization_id: str = ORG_ID) -> bytes:
        """The SOAP body of an Outbound Message on Lead with fields Id, OwnerId, Status (CRM.md
        §3.6: element names from the WSDL [C], envelope details [U]); one Notification per Lead,
        each with a unique notification Id unless given."""
        ids = notification_ids or [f"04l{next(self._notification_ids):012d}AAA" for _ in leads]
        notifications = "".join(
            f"<Notification><Id>{escape(nid)}</Id>"
            f'<sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
            + "".join(f"<sf:{name}>{escape(str(lead[name]))}</sf:{name}>" for name in ("Id", "OwnerId", "Status")
                      if lead.get(name) is not None)
            + "</sObject></Notification>"
            for nid, lead in zip(ids, leads, strict=True))
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
            f"<OrganizationId>{organization_id}</OrganizationId><ActionId>04k000000000001AAA</ActionId>"
            '<SessionId xsi:nil="true"/>'
            f"<EnterpriseUrl>{self.base_url}/services/Soap/c/66.0/{organization_id}</EnterpriseUrl>"
            f"<PartnerUrl>{self.base_url}/services/Soap/u/66.0/{organization_id}</PartnerUrl>"
            f"{notifications}</notifications></soapenv:Body></soapenv:Envelope>"
        ).encode()

    @contextmanager
    def serve(self) -> Iterator[FakeSalesforce]:
        with serving(self.app, "fake Salesforce") as base_url:
            self.base_url = base_url
            yield self
            self.base_url = None

    # -- OAuth ---------------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        raw = await request.body()
        if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
            return self._answer(request, 400, {"error": "invalid_request",
                                               "error_description": "must be application/x-www-form-urlencoded"})
        form = {key: values[-1] for key, values in parse_qs(raw.decode(errors="replace")).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            try:
                client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                client_id = client_secret = None
        if form.get("grant_type") != "client_credentials":
            return self._answer(request, 400, {"error": "unsupported_grant_type",
                                               "error_description": "grant type not supported"})
        if client_id != self.client_id or client_secret != self.client_secret:
            return self._answer(request, 400, {"error": "invalid_client",
                                               "error_description": "invalid client credentials"})
        token = f"{ORG_ID}!AR8AQ{secrets.token_urlsafe(24)}"
        now = self.clock()
        with self._lock:
            self.tokens[token] = now + self.token_ttl_s
        return self._answer(request, 200, {
            "access_token": token, "signature": base64.b64encode(secrets.token_bytes(32)).decode(),
            "token_format": "opaque", "scope": "api", "instance_url": self.base_url,
            "id": f"https://login.salesforce.com/id/{ORG_ID}/{USERS[0]}", "token_type": "Bearer",
            "issued_at": str(int(now * 1000))})

    # -- REST ----------------------------------------------------------------------------------

    async def _upsert(self, request: Request) -> Response:
        raw = await request.body()
        try:
            self._authorize(request)
            self._count()
            version, field = request.path_params["version"], request.path_params["field"]
            value = unquote(request.path_params["value"])
            if version not in VERSIONS or field != EXTERNAL_ID_FIELD:
                raise _Refuse(404, errors("NOT_FOUND", "The requested resource does not exist"))
            if "application/json" not in request.headers.get("content-type", ""):
                raise _Refuse(415, errors("UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json"))
            try:
                body = json.loads(raw)
            except ValueError:
                raise _Refuse(400, errors("JSON_PARSER_ERROR", "Unexpected character")) from None
            if not isinstance(body, dict):
                raise _Refuse(400, errors("JSON_PARSER_ERROR", "Cannot deserialize instance of Lead from array"))
            self._check_fields(body)
            with self._lock:
                matches = [lead_id for lead_id, lead in self.leads.items() if lead.get(EXTERNAL_ID_FIELD) == value]
                if len(matches) > 1:
                    raise _Refuse(300, [f"/services/data/v{version}/sobjects/Lead/{m}" for m in matches])
                if matches:
                    self.leads[matches[0]].update(body)
                    status, answer = self.update_status, {"id": matches[0], "success": True, "errors": [],
                                                          "created": False}
                else:
                    missing = [name for name in ("LastName", "Company") if not body.get(name)]
                    if missing:
                        raise _Refuse(400, errors("REQUIRED_FIELD_MISSING",
                                                  f"Required fields are missing: [{', '.join(missing)}]", missing))
                    lead_id = f"00Q{next(self._ids):012d}AAA"
                    self.leads[lead_id] = {"Id": lead_id, "OwnerId": USERS[0], **body, EXTERNAL_ID_FIELD: value}
                    status, answer = 201, {"id": lead_id, "success": True, "errors": [], "created": True}
        except _Refuse as refused:
            return self._answer(request, refused.status, refused.body)
        return self._answer(request, status, None if status == 204 else answer)

    def _authorize(self, request: Request) -> None:
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        with self._lock:
            expires_at = self.tokens.get(token or "")
        if expires_at is None or expires_at <= self.clock():
            raise _Refuse(401, errors("INVALID_SESSION_ID", "Session expired or invalid"))

    def _count(self) -> None:
        with self._lock:
            if self.used >= self.daily_limit:
                raise _Refuse(403, errors("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."))
            self.used += 1

    def _check_fields(self, body: dict[str, Any]) -> None:
        for name, value in body.items():
            if name in READ_ONLY:
                raise _Refuse(400, errors("INVALID_FIELD_FOR_INSERT_UPDATE",
                                          f"Unable to create/update fields: {name}.", [name]))
            if name in STRING_FIELDS:
                if value is not None and not isinstance(value, str):
                    raise _Refuse(400, errors("JSON_PARSER_ERROR", f"Cannot deserialize instance of string from "
                                              f"{type(value).__name__} value for field {name}"))
                if isinstance(value, str) and len(value) > STRING_FIELDS[name]:
                    raise _Refuse(400, errors("STRING_TOO_LONG", f"{name}: data value too large", [name]))
            elif name in INT_FIELDS:
                if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                    raise _Refuse(400, errors("JSON_PARSER_ERROR", f"Cannot deserialize instance of int for {name}"))
            elif name in ID_FIELDS:
                if not isinstance(value, str) or not re.fullmatch(_ID, value):
                    raise _Refuse(400, errors("MALFORMED_ID", f"Owner ID: id value of incorrect type: {value}",
                                              [name]))
                if value not in USERS + QUEUES:
                    raise _Refuse(400, errors("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [name]))
            else:
                raise _Refuse(400, errors("INVALID_FIELD", f"No such column '{name}' on sobject of type Lead"))

    def _answer(self, request: Request, status: int, body: Any) -> Response:
        with self._lock:
            self.calls.append(Call(request.method, request.url.path, status, body))
            headers = {"Sforce-Limit-Info": f"api-usage={self.used}/{self.daily_limit}"}
        if body is None:
            return Response(status_code=status, headers=headers)
        return JSONResponse(body, status_code=status, headers=headers)
