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
    assert first.stdout.strip() == "leads: 4 new, 0 merged into people we know, 0 already imported; 1 row rejected"
    assert "1 row rejected, each with its line and reason, in" in first.stderr

    again = leadrelay("import", "csv", leads, "--source", "fair", "--data-dir", data)
    assert again.exit_code == 0
    assert again.stdout.strip() == "leads: 0 new, 0 merged into people we know, 4 already imported; 1 row rejected"

    leads.write_text(CSV + "new.person@example-corp.cn,New Person,Corp,CN\n")
    third = leadrelay("import", "csv", leads, "--source", "fair", "--data-dir", data)
    assert third.stdout.strip() == "leads: 1 new, 0 merged into people we know, 4 already imported; 1 row rejected"


def test_progress_is_printed_as_lines_when_stderr_is_not_a_terminal(data: Path, leads: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports, "_PROGRESS_EVERY", 2)
    result = leadrelay("import", "csv", leads, "--source", "fair", "--data-dir", data)
    assert result.exit_code == 0
    progress = [line for line in result.stderr.splitlines() if line.startswith("imported ")]
    assert progress == ["imported 2/5 rows", "imported 4/5 rows", "imported 5/5 rows"]


# What marketing hands over: a list saved by Excel on a Chinese Windows machine (GB18030), headers
# in Chinese, local phone numbers, and some rows no one can reach.
CHINESE_CSV = (
    "姓名,邮箱,手机,公司,职位,备注\n"
    "王磊,wang.lei@example-mfg.cn,13800138000,示例制造有限公司,总经理,展会\n"
    "张伟,,,某某贸易,采购,只留了名字\n"
    "李娜,li.na@example-trade.cn,,远东贸易,经理,\n"
    "赵敏,不是邮箱,,北方电气,工程师,填错了\n"
)


def rejects_of(path: Path) -> list[dict[str, str]]:
    import csv

    with path.with_name(f"{path.stem}.rejects.csv").open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_gb18030_file_with_chinese_headers_imports_and_names_each_bad_row_in_a_rejects_file(
        data: Path, tmp_path: Path) -> None:
    path = tmp_path / "展会名单.csv"
    path.write_bytes(CHINESE_CSV.encode("gb18030"))

    result = leadrelay("import", "csv", path, "--source", "fair", "--country", "CN", "--data-dir", data)

    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "leads: 2 new, 0 merged into people we know, 0 already imported; 2 rows rejected"
    rejected = rejects_of(path)
    assert [(row["line"], row["姓名"], row["公司"]) for row in rejected] == [("3", "张伟", "某某贸易"),
                                                                         ("5", "赵敏", "北方电气")]
    assert rejected[0]["reason"] == "email: email or phone is required"
    assert rejected[1]["reason"].startswith("email: ")
    assert rejected[1]["备注"] == "填错了"  # the row as it was, every column
    assert "Traceback" not in result.stderr


def test_utf16_tab_separated_as_excel_saves_unicode_text(data: Path, tmp_path: Path) -> None:
    path = tmp_path / "unicode.txt"
    path.write_bytes("电子邮件\t姓名\r\nmei@example-shop.cn\t梅\r\n".encode("utf-16"))
    result = leadrelay("import", "csv", path, "--source", "fair", "--data-dir", data)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().startswith("leads: 1 new,")
    assert not path.with_name("unicode.rejects.csv").exists()


def test_a_wrong_encoding_is_a_sentence_naming_the_option_not_a_traceback(data: Path, tmp_path: Path) -> None:
    path = tmp_path / "gb.csv"
    path.write_bytes(CHINESE_CSV.encode("gb18030"))
    result = leadrelay("import", "csv", path, "--source", "fair", "--encoding", "utf-8", "--data-dir", data)
    assert result.exit_code == 2
    assert "does not read as utf-8" in result.stderr and "--encoding" in result.stderr
    again = leadrelay("import", "csv", path, "--source", "fair", "--encoding", "klingon", "--data-dir", data)
    assert again.exit_code == 2 and "no such encoding" in again.stderr


def test_map_names_a_column_the_synonyms_do_not_know(data: Path, tmp_path: Path) -> None:
    path = tmp_path / "crm-export.csv"
    path.write_text("Kontakt-Adresse,Firma\nhans@example-gmbh.de,Beispiel GmbH\n", encoding="utf-8")
    unmapped = leadrelay("import", "csv", path, "--source", "fair", "--data-dir", data)
    assert unmapped.stdout.strip().endswith("1 row rejected")  # nothing says which column is the email

    mapped = leadrelay("import", "csv", path, "--source", "fair", "--map", "email=Kontakt-Adresse",
                       "--map", "company=Firma", "--data-dir", data)
    assert mapped.exit_code == 0, mapped.stderr
    assert mapped.stdout.strip().startswith("leads: 1 new,")
    assert not path.with_name("crm-export.rejects.csv").exists()  # the stale one from the first run is gone

    wrong = leadrelay("import", "csv", path, "--source", "fair", "--map", "email=Nope", "--data-dir", data)
    assert wrong.exit_code == 2 and "the file has no column 'Nope'" in wrong.stderr


def test_a_dry_run_counts_and_imports_nothing(data: Path, leads: Path) -> None:
    dry = leadrelay("import", "csv", leads, "--source", "fair", "--dry-run", "--data-dir", data)
    assert dry.exit_code == 0, dry.stderr
    assert dry.stdout.strip() == ("dry run, nothing imported: leads: 4 new, 0 merged into people we know, "
                                  "0 already imported; 1 row rejected")
    real = leadrelay("import", "csv", leads, "--source", "fair", "--data-dir", data)
    assert real.stdout.strip() == "leads: 4 new, 0 merged into people we know, 0 already imported; 1 row rejected"
    dry_again = leadrelay("import", "csv", leads, "--source", "fair", "--dry-run", "--data-dir", data)
    assert "0 new, 0 merged into people we know, 4 already imported" in dry_again.stdout


def test_an_xlsx_workbook_imports_its_sheet_with_numbers_read_as_people_write_them(data: Path,
                                                                                  tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "线索"
    sheet.append(["姓名", "手机", "公司", "员工人数"])
    sheet.append(["王磊", 13800138000, "示例制造有限公司", 2000])  # Excel keeps a phone as a number
    sheet.append(["无名", None, "某公司", None])
    path = tmp_path / "leads.xlsx"
    book.save(path)

    result = leadrelay("import", "xlsx", path, "--source", "fair", "--country", "CN", "--data-dir", data)

    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "leads: 1 new, 0 merged into people we know, 0 already imported; 1 row rejected"
    assert [(row["line"], row["姓名"]) for row in rejects_of(path)] == [("3", "无名")]
    missing = leadrelay("import", "xlsx", path, "--source", "fair", "--sheet", "Leads", "--data-dir", data)
    assert missing.exit_code == 2 and "has no sheet 'Leads'" in missing.stderr


def test_rows_of_people_we_already_know_are_counted_as_merged(data: Path, tmp_path: Path) -> None:
    import asyncio
    from datetime import UTC, datetime

    from leadrelay.shared.identity import identity_keys
    from leadrelay.shared.shell.bootstrap import build_runtime
    from leadrelay.shared.shell.cli.common import settings_for

    settings = settings_for(data)

    async def know_li_wei() -> None:
        runtime = build_runtime(settings)
        keys = identity_keys("li.wei@bigfactory.cn", None, "web", None, settings.identity_salt)
        seen = datetime(2020, 1, 1, tzinfo=UTC)
        async with runtime.store.transaction() as uow:
            await uow.people.save("person-li", {}, None, 1, seen, seen, list(keys), new=True)
        await runtime.store.dispose()

    asyncio.run(know_li_wei())
    path = tmp_path / "leads.csv"
    path.write_text(CSV, encoding="utf-8")
    result = leadrelay("import", "csv", path, "--source", "fair", "--data-dir", data)
    assert result.stdout.strip() == "leads: 3 new, 1 merged into people we know, 0 already imported; 1 row rejected"
