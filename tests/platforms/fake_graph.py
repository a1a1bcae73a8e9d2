"""A local Graph API for Meta lead retrieval: checks the page token like the real one does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.platforms.local_server import serving


class FakeGraph:
    def __init__(self, page_token: str) -> None:
        self.page_token = page_token
        self.leads: dict[str, dict[str, Any]] = {}
        self.requests = 0
        self.base_url = ""
        self.app = Starlette(routes=[Route("/v21.0/{leadgen_id}", self._lead)])

    def add_lead(self, leadgen_id: str, fields: dict[str, str]) -> None:
        self.leads[leadgen_id] = {
            "id": leadgen_id, "created_time": "2026-11-22T12:00:00+0000",
            "field_data": [{"name": k, "values": [v]} for k, v in fields.items()],
        }

    async def _lead(self, request: Request) -> JSONResponse:
        self.requests += 1
        if request.query_params.get("access_token") != self.page_token:
            # Graph's OAuth error shape.
            return JSONResponse({"error": {"message": "Invalid OAuth access token.", "type": "OAuthException",
                                           "code": 190}}, status_code=400)
        lead = self.leads.get(request.path_params["leadgen_id"])
        if lead is None:
            return JSONResponse({"error": {"message": "Unsupported get request.", "type": "GraphMethodException",
                                           "code": 100}}, status_code=400)
        return JSONResponse(lead)

    @contextmanager
    def serve(self) -> Iterator[FakeGraph]:
        with serving(self.app, "fake Graph API") as base_url:
            self.base_url = base_url + "/v21.0"
            yield self
