"""Source keys and bearer tokens from the command line: add, rotate, revoke, list, and what the
API then accepts; the reps of the current policy."""

import asyncio
from pathlib import Path

import httpx
from typer.testing import CliRunner

from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.bootstrap import build_app, build_runtime
from leadrelay.shared.shell.cli import app

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "shared" / "example_policy.yaml"
LEAD = {"email": "li.wei@bigfactory.cn", "name": "Li Wei", "country": "CN"}

runner = CliRunner()


def leadrelay(*args: object) -> "object":
    return runner.invoke(app, [str(arg) for arg in args], catch_exceptions=False, prog_name="leadrelay")


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def status(data_dir: Path, method: str, path: str, credential: str, json: dict | None = None) -> int:
    """The HTTP status the API answers this request with, over the data dir's database."""

    async def call() -> int:
        runtime = build_runtime(Settings(data_dir=data_dir))
        try:
            transport = httpx.ASGITransport(app=build_app(runtime))
            async with httpx.AsyncClient(transport=transport, base_url="http://leadrelay.test") as client:
                response = await client.request(method, path, json=json,
                                                headers={"Authorization": f"Bearer {credential}"})
                return response.status_code
        finally:
            await runtime.store.dispose()

    return asyncio.run(call())


def test_rotate_gives_a_new_key_and_refuses_the_old_one_at_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    added = leadrelay("sources", "add", "web", "--kind", "api", "--data-dir", data)
    assert added.exit_code == 0
    old_key = last_line(added.stdout)
    assert status(data, "POST", "/v1/leads", old_key, LEAD) == 202

    rotated = leadrelay("sources", "rotate", "web", "--data-dir", data)
    assert rotated.exit_code == 0, rotated.stderr
    new_key = last_line(rotated.stdout)
    assert new_key.startswith("lrs_") and new_key != old_key
    assert status(data, "POST", "/v1/leads", old_key, LEAD) == 401
    assert status(data, "POST", "/v1/leads", new_key, LEAD) == 202
    listed = leadrelay("sources", "list", "--data-dir", data).stdout
    assert listed.count("web") == 1 and new_key[:10] in listed and old_key[:10] not in listed


def test_a_revoked_source_name_can_be_added_again_but_an_active_one_cannot(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = last_line(leadrelay("sources", "add", "demo", "--data-dir", data).stdout)
    again = leadrelay("sources", "add", "demo", "--data-dir", data)
    assert again.exit_code == 1
    assert "exists already" in again.stderr and f"leadrelay sources rotate demo --data-dir {data}" in again.stderr

    assert leadrelay("sources", "revoke", "demo", "--data-dir", data).exit_code == 0
    rotate_revoked = leadrelay("sources", "rotate", "demo", "--data-dir", data)
    assert rotate_revoked.exit_code == 1 and "is revoked" in rotate_revoked.stderr
    assert "leadrelay sources add demo" in rotate_revoked.stderr

    readded = leadrelay("sources", "add", "demo", "--data-dir", data)
    assert readded.exit_code == 0, readded.stderr
    second = last_line(readded.stdout)
    assert status(data, "POST", "/v1/leads", second, LEAD) == 202
    assert status(data, "POST", "/v1/leads", first, LEAD) == 401


def test_rotating_an_unknown_source_says_how_to_create_it(tmp_path: Path) -> None:
    result = leadrelay("sources", "rotate", "nope", "--data-dir", tmp_path / "data")
    assert result.exit_code == 1
    assert "No source named 'nope'" in result.stderr and "leadrelay sources add nope" in result.stderr
    assert result.stdout == ""


def test_tokens_list_shows_prefixes_never_secrets_and_a_revoked_token_gets_401(tmp_path: Path) -> None:
    data = tmp_path / "data"
    admin = last_line(leadrelay("tokens", "create", "--role", "admin", "--data-dir", data).stdout)
    rep = last_line(leadrelay("reps", "token", "rep-li", "--data-dir", data).stdout)
    assert status(data, "GET", "/v1/me/leads", admin) == 200

    listed = leadrelay("tokens", "list", "--data-dir", data)
    assert listed.exit_code == 0
    assert admin[:10] + "…" in listed.stdout and rep[:10] + "…" in listed.stdout
    assert "rep-li" in listed.stdout
    assert admin not in listed.stdout and rep not in listed.stdout

    revoked = leadrelay("tokens", "revoke", admin[:10] + "…", "--data-dir", data)
    assert revoked.exit_code == 0, revoked.stderr
    assert status(data, "GET", "/v1/me/leads", admin) == 401
    assert status(data, "GET", "/v1/me/leads", rep) == 200
    row = next(line for line in leadrelay("tokens", "list", "--data-dir", data).stdout.splitlines()
               if admin[:10] in line)
    assert row.rstrip(" │").endswith(tuple("0123456789"))  # the revoked column has its time
    again = leadrelay("tokens", "revoke", admin[:10], "--data-dir", data)
    assert again.exit_code == 1 and "No active token" in again.stderr


def test_reps_list_shows_the_current_policys_reps_without_webhooks(tmp_path: Path) -> None:
    data = tmp_path / "data"
    empty = leadrelay("reps", "list", "--data-dir", data)
    assert empty.exit_code == 1 and "leadrelay policy apply FILE" in empty.stderr
    assert leadrelay("policy", "apply", POLICY, "--data-dir", data).exit_code == 0

    result = leadrelay("reps", "list", "--data-dir", data)
    assert result.exit_code == 0
    row = next(line for line in result.stdout.splitlines() if "rep-li " in line)
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == [
        "rep-li", "enterprise", "mgr-zhou", "Asia/Shanghai", "slack"]
    for rep in ("rep-li", "rep-tanaka", "rep-morgan", "rep-chen", "rep-wang", "rep-ana"):
        assert rep in result.stdout
    assert "http" not in result.stdout and "webhook" not in result.stdout
