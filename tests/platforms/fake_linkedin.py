"""A local LinkedIn Marketing API for Lead Sync: leadFormResponses and leadForms, checking what the
real one checks (PLATFORMS.md §9; learn.microsoft.com/linkedin/marketing/lead-sync): a Bearer access
token, the LinkedIn-Version and X-Restli-Protocol-Version headers, and LinkedIn's error shape."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

QUESTIONS = [  # a form with the usual predefined questions and one custom question
    {"questionId": 1, "name": "firstName", "predefinedField": "FIRST_NAME"},
    {"questionId": 2, "name": "lastName", "predefinedField": "LAST_NAME"},
    {"questionId": 3, "name": "email", "predefinedField": "EMAIL"},
    {"questionId": 4, "name": "company", "predefinedField": "COMPANY_NAME"},
    {"questionId": 5, "name": "jobTitle", "predefinedField": "JOB_TITLE"},
    {"questionId": 6, "name": "budget"},
]
from tests.platforms.local_server import serving


class FakeLinkedIn:
    def __init__(self, access_token: str) -> None:
        self.access_token = access_token
        self.responses: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []
        self.base_url = ""
        self.app = Starlette(routes=[Route("/rest/leadFormResponses/{response_id}", self._response),
                                     Route("/rest/leadForms/{form_id}", self._form)])

    def add_response(self, response_id: str, answers: dict[int, str], form_id: int = 123) -> None:
        self.responses[response_id] = {
            "id": response_id, "submittedAt": 1700000000000, "testLead": False, "leadType": "SPONSORED",
            "owner": {"sponsoredAccount": "urn:li:sponsoredAccount:456"},
            "versionedLeadGenFormUrn": f"urn:li:versionedLeadGenForm:(urn:li:leadGenForm:{form_id},1)",
            "formResponse": {
                "answers": [{"questionId": q, "answerDetails": {"textQuestionAnswer": {"answer": a}}}
                            for q, a in answers.items()],
                "consentResponses": [{"consentId": 1, "accepted": True}]},
        }

    def _refused(self, request: Request) -> JSONResponse | None:
        self.requests.append(request.url.path)
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return JSONResponse({"status": 401, "serviceErrorCode": 65600, "code": "INVALID_ACCESS_TOKEN",
                                 "message": "Invalid access token"}, status_code=401)
        if not request.headers.get("linkedin-version", "").isdigit() or \
                request.headers.get("x-restli-protocol-version") != "2.0.0":
            return JSONResponse({"status": 426, "code": "NONEXISTENT_VERSION",
                                 "message": "Requested version is not active"}, status_code=426)
        return None

    async def _response(self, request: Request) -> JSONResponse:
        if refused := self._refused(request):
            return refused
        found = self.responses.get(request.path_params["response_id"])
        if found is None:
            return JSONResponse({"status": 404, "code": "NOT_FOUND", "message": "Not found"}, status_code=404)
        return JSONResponse(found)

    async def _form(self, request: Request) -> JSONResponse:
        if refused := self._refused(request):
            return refused
        return JSONResponse({"id": int(request.path_params["form_id"]), "content": {"questions": QUESTIONS}})

    @contextmanager
    def serve(self) -> Iterator[FakeLinkedIn]:
        with serving(self.app, "fake LinkedIn") as base_url:
            self.base_url = base_url
            yield self
