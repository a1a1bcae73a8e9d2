"""``leadrelay people find | export | erase`` on an embedded data dir: found by email or phone, the
export as JSON, an erasure that asks first (or not, with --yes), is idempotent, and leaves the
person unfindable."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.bootstrap import build_runtime
from leadrelay.shared.shell.cli import app
from tests.conftest import start_pipeline, stop_pipeline
from tests.pii_scan import as_text, found_in
from tests.platforms.fake_chat import FakeChat

runner = CliRunner()
LEAD = {"email": "Zhao.Min@Example-Works.cn", "phone": "+86 137 0013 7000", "name": "赵敏", "country": "CN",
        "consent": True}


def leadrelay(*args: object, input: str | None = None):
    return runner.invoke(app, [str(arg) for arg in args], catch_exceptions=False, prog_name="leadrelay", input=input)


def routed_lead(data_dir: Path, chat: FakeChat) -> dict:
    async def run() -> dict:
        settings = Settings(data_dir=data_dir, public_url="http://leadrelay.test")
        pipeline, stop, task = await start_pipeline(build_runtime(settings), chat, embedded=True)
        try:
            response = await pipeline.post_lead(LEAD)
            return await pipeline.wait_for(response.json()["lead_id"])
        finally:
            await stop_pipeline(pipeline, stop, task)

    return asyncio.run(run())


def test_find_export_and_erase_a_person(tmp_path: Path, chat: FakeChat):
    data = tmp_path / "data"
    lead = routed_lead(data, chat)
    person = lead["person_id"]

    found = leadrelay("people", "find", "--email", "zhao.min@example-works.cn", "--data-dir", data)
    assert found.exit_code == 0, found.stderr
    assert found.stdout.split("\t")[0] == person and "1 person(s) found" in found.stderr
    by_phone = leadrelay("people", "find", "--phone", "13700137000", "--country", "CN", "--data-dir", data)
    assert by_phone.stdout.split("\t")[0] == person
    bad = leadrelay("people", "find", "--phone", "12", "--data-dir", data)
    assert bad.exit_code == 2 and "phone" in bad.stderr

    exported = leadrelay("people", "export", person, "--data-dir", data)
    assert exported.exit_code == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert document["person_id"] == person and document["consent"]["consent"] is True
    assert [lead_["contact"]["email"] for lead_ in document["leads"]] == ["zhao.min@example-works.cn"]

    refused = leadrelay("people", "erase", person, "--data-dir", data, input="n\n")
    assert refused.exit_code == 1  # aborted: nothing erased
    assert leadrelay("people", "find", "--email", LEAD["email"], "--data-dir", data).exit_code == 0

    erased = leadrelay("people", "erase", person, "--yes", "--data-dir", data)
    assert erased.exit_code == 0, erased.stderr
    assert f"Person {person} erased: 1 lead(s) anonymised" in erased.stdout
    again = leadrelay("people", "erase", person, "--yes", "--data-dir", data)
    assert again.exit_code == 0 and "erased already" in again.stdout
    gone = leadrelay("people", "find", "--email", LEAD["email"], "--data-dir", data)
    assert gone.exit_code == 1 and "0 person(s) found" in gone.stderr
    after = json.loads(leadrelay("people", "export", person, "--data-dir", data).stdout)
    assert after["erased"] is True
    assert found_in(as_text(after), [LEAD["email"], "zhao.min@example-works.cn", "赵敏", "+8613700137000"]) == []
    missing = leadrelay("people", "export", "no-such-person", "--data-dir", data)
    assert missing.exit_code == 1 and "No person" in missing.stderr
