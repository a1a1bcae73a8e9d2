"""POST /v1/leads reads its own body: the caller first, then the size while it streams in."""

from __future__ import annotations

from collections.abc import AsyncIterator

from tests.api.test_intake import LEAD, assert_problem

CHUNK = 4096


class Streamed:
    """A body sent in chunks without a Content-Length, counting the chunks the server pulled."""

    def __init__(self, total_bytes: int) -> None:
        self.chunks = total_bytes // CHUNK
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"email": "a@example.com", "attributes": {"blob": "'
        for _ in range(self.chunks):
            self.pulled += 1
            yield b"x" * CHUNK
        yield b'"}}'


async def test_an_oversized_body_is_refused_before_it_is_read_to_its_end(embedded):
    limit = embedded.runtime.settings.max_body_bytes
    body = Streamed(limit * 4)
    response = await embedded.client.post("/v1/leads", content=body, headers={
        "Authorization": f"Bearer {embedded.source_key}", "Content-Type": "application/json"})
    assert_problem(response, 413, "body")
    assert body.pulled <= limit // CHUNK + 1 < body.chunks


async def test_a_declared_oversized_length_is_refused_without_reading_the_body(embedded):
    limit = embedded.runtime.settings.max_body_bytes
    body = Streamed(limit * 4)
    response = await embedded.client.post("/v1/leads", content=body, headers={
        "Authorization": f"Bearer {embedded.source_key}", "Content-Type": "application/json",
        "Content-Length": str(limit * 4)})
    assert_problem(response, 413, "body")
    assert body.pulled == 0


async def test_the_credential_is_checked_before_the_body_is_read(embedded):
    body = Streamed(1_000_000)
    anonymous = await embedded.client.post("/v1/leads", content=body, headers={"Content-Type": "application/json"})
    assert_problem(anonymous, 401, "Authorization")
    admin = await embedded.token("admin")
    forbidden = await embedded.client.post("/v1/leads", content=b"{not json", headers={
        "Authorization": f"Bearer {admin}", "Content-Type": "application/json"})
    assert forbidden.status_code == 403
    assert body.pulled == 0


async def test_a_refused_lead_is_counted_by_source_and_reason(embedded):
    registry = embedded.runtime.metrics.registry

    def rejected(reason: str) -> float:
        labels = {"source": "web", "reason": reason}
        return registry.get_sample_value("leadrelay_leads_rejected_total", labels) or 0.0

    await embedded.post_lead({"email": "not-an-email"})
    await embedded.post_lead(LEAD, **{"Idempotency-Key": " "})
    assert rejected("invalid-field") == 2
    await embedded.client.post("/v1/leads", content=b"email=a", headers={
        "Authorization": f"Bearer {embedded.source_key}", "Content-Type": "application/x-www-form-urlencoded"})
    assert rejected("unsupported-media-type") == 1


async def test_an_empty_idempotency_key_is_a_problem_naming_the_header(embedded):
    assert_problem(await embedded.post_lead(LEAD, **{"Idempotency-Key": "  "}), 422, "Idempotency-Key")
