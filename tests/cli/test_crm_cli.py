"""``leadrelay crm``: connecting HubSpot and Salesforce makes connectors on the delivery line, a
bad setting is refused before anything is stored, and ``crm owners`` shows who is mapped."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadrelay.shared.shell.cli import app

ROOT = Path(__file__).resolve().parents[2]

runner = CliRunner()


def leadrelay(*args: object):
    return runner.invoke(app, [str(arg) for arg in args], catch_exceptions=False, prog_name="leadrelay")


def policy_file(tmp_path: Path) -> Path:
    text = (ROOT / "tests" / "fixtures" / "policy.yaml").read_text()
    for name in ("webhook_a", "webhook_b", "webhook_c", "webhook_mgr"):
        text = text.replace("{" + name + "}", "http://127.0.0.1:9/unused")
    text = text.replace("  - id: rep-a\n", "  - id: rep-a\n    crm: {hubspot_owner_id: \"41629779\"}\n", 1)
    text += "crm:\n  salesforce: {owners: {rep-b: 005000000000002AAA}}\n"
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_connectors_are_listed_as_subscriptions_to_assignments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    data = tmp_path / "data"
    monkeypatch.setenv("HUBSPOT_TOKEN", "pat-na1-test")
    monkeypatch.setenv("SF_SECRET", "consumer-secret")
    hubspot = leadrelay("crm", "hubspot", "--token-env", "HUBSPOT_TOKEN", "--data-dir", data)
    assert hubspot.exit_code == 0, hubspot.output
    salesforce = leadrelay("crm", "salesforce", "--url", "https://acme.my.salesforce.com", "--client-id", "3MVG9.key",
                           "--client-secret-env", "SF_SECRET", "--data-dir", data)
    assert salesforce.exit_code == 0, salesforce.output
    listed = leadrelay("webhooks", "list", "--data-dir", data)
    assert listed.exit_code == 0
    assert "hubspot" in listed.stdout and "https://api.hubapi.com" in listed.stdout
    assert "salesforce" in listed.stdout and "lead.assigned" in listed.stdout
    assert "pat-na1-test" not in listed.output and "consumer-secret" not in listed.output


def test_bad_settings_are_refused_before_anything_is_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    data = tmp_path / "data"
    monkeypatch.setenv("SF_SECRET", "consumer-secret")
    bad_field = leadrelay("crm", "salesforce", "--url", "https://acme.my.salesforce.com", "--client-id", "k",
                          "--client-secret-env", "SF_SECRET", "--external-id-field", "Email", "--data-dir", data)
    assert bad_field.exit_code == 2 and "external_id_field" in bad_field.output
    unset = leadrelay("crm", "hubspot", "--token-env", "NOT_SET_ANYWHERE", "--data-dir", data)
    assert unset.exit_code == 2 and "NOT_SET_ANYWHERE is not set" in unset.output
    listed = leadrelay("webhooks", "list", "--data-dir", data)
    assert "salesforce" not in listed.stdout and "hubspot" not in listed.stdout


def test_owners_shows_each_reps_crm_users(tmp_path: Path):
    data = tmp_path / "data"
    applied = leadrelay("policy", "apply", policy_file(tmp_path), "--data-dir", data)
    assert applied.exit_code == 0, applied.output
    owners = leadrelay("crm", "owners", "--data-dir", data)
    assert owners.exit_code == 0, owners.output
    cells = [[cell for cell in line.replace("│", " ").split()] for line in owners.stdout.splitlines()]
    rows = {row[0]: row[1:] for row in cells if row and row[0].startswith("rep-")}
    assert rows["rep-a"] == ["41629779", "-"] and rows["rep-b"] == ["-", "005000000000002AAA"]
