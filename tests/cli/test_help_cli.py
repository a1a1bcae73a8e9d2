"""`leadrelay --help` and friends read as prose: values named, no Python types, no raw markup."""

import re
from importlib import metadata

from typer.testing import CliRunner

from leadrelay.shared.shell.cli import app

runner = CliRunner()


def leadrelay(*args: str) -> "object":
    return runner.invoke(app, list(args), catch_exceptions=False, prog_name="leadrelay")


def prose(text: str) -> str:
    """The help with its line wrapping undone."""
    return " ".join(text.split())


def test_help_names_values_instead_of_python_types() -> None:
    for command in (["--help"], ["sources", "add", "--help"], ["policy", "simulate", "--help"], ["run", "--help"],
                    ["import", "csv", "--help"], ["dlq", "redrive", "--help"], ["tokens", "revoke", "--help"]):
        result = leadrelay(*command)
        assert result.exit_code == 0, command
        for raw in ("<bool>", "<str>", "<int>", "<path>", "list[", "{"):
            assert raw not in result.stdout, (command, raw)
    sources_add = leadrelay("sources", "add", "--help").stdout
    assert "Usage: leadrelay sources add [OPTIONS] NAME" in sources_add
    assert re.search(r"--data-dir\s+DIR\s", sources_add) and re.search(r"--set\s+KEY=VALUE\s", sources_add)
    simulate = leadrelay("policy", "simulate", "--help").stdout
    assert "Usage: leadrelay policy simulate [OPTIONS] FILE" in simulate
    assert re.search(r"--leads\s+FILE\s", simulate) and re.search(r"--top\s+N\s", simulate)
    assert re.search(r"--json\s+The report as JSON", simulate)  # a flag takes no value, so shows none
    assert "Usage: leadrelay dlq redrive [OPTIONS] [ID...]" in leadrelay("dlq", "redrive", "--help").stdout


def test_reps_token_help_shows_no_raw_markup() -> None:
    text = leadrelay("reps", "token", "--help").stdout
    assert "``" not in text
    assert "leadrelay tokens create --role rep --rep REP" in prose(text)


def test_run_help_names_the_services_embedded_mode_runs() -> None:
    text = prose(leadrelay("run", "--help").stdout)
    assert "intake, scoring, router and notifier in one process" in text
    assert "four services" not in text


def test_the_policy_group_lists_all_its_commands() -> None:
    text = leadrelay("policy", "--help").stdout
    assert "The routing policy: validate, test, diff, simulate, apply, schema." in prose(text)
    for command in ("validate", "test", "diff", "simulate", "apply", "schema"):
        assert re.search(rf"│ {command}\s", text), command


def test_version_prints_the_installed_version() -> None:
    result = leadrelay("--version")
    assert result.exit_code == 0
    assert result.stdout == f"leadrelay {metadata.version('leadrelay')}\n"


def test_simulate_help_explains_the_figures() -> None:
    text = prose(leadrelay("policy", "simulate", "--help").stdout)
    assert "Gini: how unevenly those reps got leads: 0 all alike, towards 1 all to a few" in text
    assert "vs fair: share ÷ fair; 1.00 is exactly fair" in text
    assert "max/min: the most leads a rep got ÷ the fewest" in text
