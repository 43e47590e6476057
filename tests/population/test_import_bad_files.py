"""import-population on files that are not what they should be: a clear message, never a traceback or SQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from opendsp.cli import main
from opendsp.platform import Platform
from tests.population.test_import import GOOD, HEADER, counts, valid


@pytest.fixture
def cli(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("OPENDSP_DATABASE_URL", platform.settings.database_url)
    monkeypatch.setenv("OPENDSP_VAR_DIR", str(platform.settings.var_dir))
    return CliRunner()


def test_a_file_that_is_not_utf_8_gets_a_clear_message_and_exit_2(platform: Platform, cli: CliRunner,
                                                                   tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("\n".join([HEADER, *GOOD]).replace("Prés", "Pr\xe9s").encode("latin-1") + b"\n")
    result = cli.invoke(main, ["import-population", str(path)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert "is not UTF-8 text" in result.output and "Traceback" not in result.output
    assert counts(platform)[0] == 0


def test_a_non_utf_8_byte_deep_in_a_large_file_is_caught_too(platform: Platform, cli: CliRunner,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    body = "\n".join([HEADER, *GOOD]).encode("utf-8") + b"\n" + b"# padding\n" * 2000 + b"\xff\xfe broken\n"
    path.write_bytes(body)
    result = cli.invoke(main, ["import-population", str(path)])
    assert result.exit_code == 2 and "is not UTF-8 text" in result.output


@pytest.mark.parametrize("row", [
    f"{valid('19700106001')},{'W' * 250},Lena,1970-01-06,female,,,,,,,de,",
    f"{valid('19700106001')},Weber,Lena,1970-01-06,female,{'rue ' * 100},,,,,,de,",
    f"{valid('19700106001')},Weber,Lena,1970-01-06,female,,,,,,{'6' * 40},de,",
    f"{valid('19700106001')},We\x00ber,Lena,1970-01-06,female,,,,,,,de,",
])
def test_an_oversized_field_is_a_rejected_row_without_sql(platform: Platform, cli: CliRunner, tmp_path: Path,
                                                          row: str) -> None:
    path = tmp_path / "extract.csv"
    path.write_text("\n".join([HEADER, *GOOD, row]) + "\n", encoding="utf-8")
    report_file = tmp_path / "rejected.csv"
    result = cli.invoke(main, ["import-population", str(path), "--report", str(report_file)])
    assert result.exit_code == 1 and "4 created, 0 updated, 0 unchanged, 1 rejected" in result.output
    report = report_file.read_text()
    assert "longer than" in report or "NUL" in report
    for leak in ("SQL", "INSERT", "psycopg", "sqlalchemy", "Traceback"):
        assert leak not in report and leak not in result.output
