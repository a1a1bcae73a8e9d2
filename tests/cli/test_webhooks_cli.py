"""``leadrelay webhooks`` and integration sources from the command line: the secret printed once
and usable, nothing secret listed, refusals with a reason and exit 1, redrive of a dead letter."""

from __future__ import annotations

import asyncio
from pathlib import Path

from standardwebhooks import Webhook
from typer.testing import CliRunner

from leadrelay.shared.link_secret import link_secret
from leadrelay.shared.secret_box import SecretBox
from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.bootstrap import build_runtime
from leadrelay.shared.shell.cli import app

runner = CliRunner()


def leadrelay(*args: object):
    return runner.invoke(app, [str(arg) for arg in args], catch_exceptions=False, prog_name="leadrelay")


def test_add_prints_the_id_and_the_secret_once_and_list_shows_neither_secret(tmp_path: Path) -> None:
    data = tmp_path / "data"
    added = leadrelay("webhooks", "add", "https://crm.example.com/hooks", "--events",
                      "lead.assigned,person.erased", "--data-dir", data)
    assert added.exit_code == 0, added.output
    subscription_id, secret = added.stdout.strip().splitlines()[-2:]
    assert subscription_id.startswith("wh_") and secret.startswith("whsec_")
    Webhook(secret)  # a secret the library takes

    async def stored() -> str:
        runtime = build_runtime(Settings(data_dir=data))
        try:
            async with runtime.store.read() as uow:
                subscription = await uow.subscriptions.get(subscription_id)
        finally:
            await runtime.store.dispose()
        assert subscription is not None and secret not in subscription.secret  # sealed at rest
        return SecretBox(link_secret(runtime.settings)).open(subscription.secret)

    assert asyncio.run(stored()) == secret
    listed = leadrelay("webhooks", "list", "--data-dir", data)
    assert subscription_id in listed.stdout and "person.erased" in listed.stdout and secret not in listed.stdout

    assert leadrelay("webhooks", "remove", subscription_id, "--data-dir", data).exit_code == 0
    assert subscription_id not in leadrelay("webhooks", "list", "--data-dir", data).stdout
    again = leadrelay("webhooks", "remove", subscription_id, "--data-dir", data)
    assert again.exit_code == 1 and "No webhook subscription" in again.stderr


def test_refusals_name_the_reason(tmp_path: Path) -> None:
    data = tmp_path / "data"
    bad_url = leadrelay("webhooks", "add", "ftp://x", "--events", "lead.assigned", "--data-dir", data)
    assert bad_url.exit_code == 1 and "url must be an http(s) URL" in bad_url.stderr
    bad_event = leadrelay("webhooks", "add", "https://x.example.com", "--events", "lead.deleted", "--data-dir", data)
    assert bad_event.exit_code == 1 and "events must be some of" in bad_event.stderr
    assert leadrelay("webhooks", "redrive", "7", "--data-dir", data).exit_code == 1
    listed = leadrelay("webhooks", "deliveries", "--failed", "--data-dir", data)
    assert listed.exit_code == 0 and "0 delivery(ies)" in listed.stderr


def test_an_integration_source_prints_its_signing_secret_then_its_key(tmp_path: Path) -> None:
    added = leadrelay("sources", "add", "crm-sync", "--kind", "integration", "--data-dir", tmp_path / "data")
    assert added.exit_code == 0, added.output
    secret, key = added.stdout.strip().splitlines()[-2:]
    assert secret.startswith("whsec_") and key.startswith("lrs_")
