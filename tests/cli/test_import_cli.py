"""`leadrelay import csv`: which database, new vs already imported, and progress in a log."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadrelay.shared.shell.cli import app, imports

runner = CliRunner()

CSV = (
    "email,name,company,country\n"
    "li.wei@bigfactory.cn,Li Wei,Big Factory,CN\n"
    "ana@lojas-example.br,Ana Souza,Lojas,BR\n"
    "not-an-email,Nobody,Nowhere,CN\n"
    "tom@acme-example.com,Tom Reed,Acme,US\n"
    "yui@tanaka-example.jp,Tanaka Yui,Tanaka,JP\n"
)


def leadrelay(*args: object) -> "object":
    return runner.invoke(app, [str(arg) for arg in args], catch_exceptions=False, prog_name="leadrelay")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    assert leadrelay("sources", "add", "fair", "--kind", "csv", "--data-dir", data).exit_code == 0
    return data


@pytest.fixture
def leads(tmp_path: Path) -> Path:
    path = tmp_path / "leads.csv"
    path.write_text(CSV)
    return path


def test_importing_without_a_database_names_the_data_dir_option_and_creates_nothing(tmp_path: Path,
                                                                                     leads: Path) -> None:
    missing = tmp_path / "nothing-here"
    result = leadrelay("import", "csv", leads, "--source", "fair", "--data-dir", missing)
    assert result.exit_code == 2
    assert f"No Leadrelay database in {missing}" in result.stderr and "--data-dir" in result.stderr
    assert not missing.exists()


def test_reimporting_counts_rows_already_imported_apart_from_new_ones(data: Path, leads: Path) -> None:
    first = leadrelay("import", "csv", leads, "--source", "fair", "--data-dir", data)
    assert first.exit_code == 0, first.stderr
    assert f"Importing into {data.resolve()}" in first.stderr
    assert first.stdout.strip() == "leads: 4 new, 0 already imported; 1 row rejected"
    assert "line 4:" in first.stderr

    again = leadrelay("import", "csv", leads, "--source", "fair", "--data-dir", data)
    assert again.exit_code == 0
    assert again.stdout.strip() == "leads: 0 new, 4 already imported; 1 row rejected"

    leads.write_text(CSV + "new.person@example-corp.cn,New Person,Corp,CN\n")
    third = leadrelay("import", "csv", leads, "--source", "fair", "--data-dir", data)
    assert third.stdout.strip() == "leads: 1 new, 4 already imported; 1 row rejected"


def test_progress_is_printed_as_lines_when_stderr_is_not_a_terminal(data: Path, leads: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports, "_PROGRESS_EVERY", 2)
    result = leadrelay("import", "csv", leads, "--source", "fair", "--data-dir", data)
    assert result.exit_code == 0
    progress = [line for line in result.stderr.splitlines() if line.startswith("imported ")]
    assert progress == ["imported 2/5 rows", "imported 4/5 rows", "imported 5/5 rows"]
