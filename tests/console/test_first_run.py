"""``leadrelay run`` tells a newcomer where the console is and prints, on first start, an admin
token that signs in there; the demo key stays the last line on stdout."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.bootstrap import build_app, build_runtime
from tests.cli.test_run_cli import Running
from tests.console.conftest import SIGNIN_CSRF


def test_the_first_start_prints_an_admin_token_that_signs_in_to_the_console(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = Running(data)
    where = first.stderr_line_with("Web console:")
    assert "sign in with this admin token (shown once)" in where
    admin_token, demo_key = first.stop().strip().splitlines()
    assert admin_token.startswith("lrt_") and demo_key.startswith("lrs_")

    second = Running(data)
    hint = second.stderr_line_with("Web console:")
    assert second.stop() == ""  # a restart prints no secret
    assert hint.strip().endswith(f"leadrelay tokens create --role admin --data-dir {data.resolve()}")

    async def sign_in() -> httpx.Response:
        runtime = build_runtime(Settings(data_dir=data))
        transport = httpx.ASGITransport(app=build_app(runtime))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as client:
                form = await client.get("/console/signin")
                nonce = SIGNIN_CSRF.search(form.text)
                assert nonce is not None
                signed = await client.post("/console/signin", data={"token": admin_token, "next": "/console/",
                                                                     "signin_csrf": nonce.group(1)})
                assert signed.status_code == 303
                return await client.get("/console/board")
        finally:
            await runtime.store.dispose()

    board = asyncio.run(sign_in())
    assert board.status_code == 200 and "Signed in as admin<" in board.text
