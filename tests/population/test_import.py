"""Importing the insured population: good rows in, bad rows named, twice changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from opendsp.actors import SYSTEM
from opendsp.cli import main
from opendsp.persons.models import LegalRepresentation, Person
from opendsp.platform import Platform
from opendsp.population.importer import ExtractUnreadable, import_population
from opendsp.records.models import Record, RecordState
from opendsp.trace.models import TraceEntry

HEADER = "national_number,family_name,given_name,birth_date,sex,street,postal_code,city,country,email,mobile,language,representatives"
# Valid numbers (Luhn + Verhoeff over the first 11 digits).
PARENT = "1980051700126"
OTHER_PARENT = "1982030400248"
CHILD = "2015060100359"
ADULT = "1893120105732"


def valid(number: str) -> str:
    from opendsp.persons.national_number import luhn_digit, verhoeff_digit

    payload = number[:11]
    return f"{payload}{luhn_digit(payload)}{verhoeff_digit(payload)}"


GOOD = [
    f"{valid(CHILD)},Weber,Lena,2015-06-01,female,,,,,,,de,{valid(PARENT)};{valid(OTHER_PARENT)}",
    f"{valid(PARENT)},Weber,Paul,1980-05-17,male,5 rue des Prés,L-1234,Luxembourg,LU,paul@example.lu,+352621000000,de,",
    f"{valid(OTHER_PARENT)},Weber,Marie,1982-03-04,female,5 rue des Prés,L-1234,Luxembourg,lu,,,fr,",
    f"{ADULT},Muller,Jean,1893-12-01,male,,,,,,,en,",
]
BAD = {
    "invalid national number: the Verhoeff": "1893120105731,Bad,Check,1893-12-01,male,,,,,,,fr,",
    "not a real date of birth": "1893133105732,Bad,Date,1893-13-31,male,,,,,,,fr,",
    "the field family_name is missing": f"{valid('19700101001')},,Nameless,1970-01-01,male,,,,,,,fr,",
    "birth_date does not match": f"{valid('19700102001')},Mis,Match,1970-01-03,male,,,,,,,fr,",
    "is not a real date": f"{valid('19700103001')},Bad,Format,03/01/1970,male,,,,,,,fr,",
    "duplicate of line 5": f"{ADULT},Muller,Jean,1893-12-01,male,,,,,,,en,",
    "unknown representative": f"{valid('20200101001')},Kid,Orphan,2020-01-01,male,,,,,,,fr,{valid('19500101001')}",
    "language 'xx'": f"{valid('19700104001')},Lang,Bad,1970-01-04,male,,,,,,,xx,",
    "same number of fields": f"{valid('19700105001')},Short,Row,1970-01-05,male",
}


def write(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "extract.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def counts(platform: Platform) -> tuple[int, int, int, int]:
    with platform.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Person)) or 0,
            session.scalar(select(func.count()).select_from(Record)) or 0,
            session.scalar(select(func.count()).select_from(LegalRepresentation)) or 0,
            session.scalar(select(func.count()).select_from(TraceEntry)) or 0,
        )


def test_good_rows_are_imported_with_their_records(platform: Platform, tmp_path: Path) -> None:
    report = import_population(write(tmp_path, GOOD), platform=platform, actor=SYSTEM)
    assert (report.created, report.rejected) == (4, 0)
    with platform.sessions() as session:
        child = session.scalars(select(Person).where(Person.national_number == valid(CHILD))).one()
        parents = {r.representative.given_name for r in child.representatives}
        record = session.scalars(select(Record).where(Record.person_id == child.id)).one()
        assert record.state is RecordState.created
        marie = session.scalars(select(Person).where(Person.given_name == "Marie")).one()
        assert marie.country == "LU"
    # A representative listed before their own row is still linked.
    assert parents == {"Paul", "Marie"}


def test_bad_rows_are_rejected_whole_and_named(platform: Platform, tmp_path: Path) -> None:
    rows = GOOD + list(BAD.values())
    report = import_population(write(tmp_path, rows), platform=platform, actor=SYSTEM)
    assert report.created == len(GOOD)
    assert len(report.errors) == len(BAD)
    for error, expected in zip(report.errors, BAD, strict=True):
        assert expected in error.reason, (error, expected)
    assert [e.line for e in report.errors] == list(range(len(GOOD) + 2, len(rows) + 2))
    people, records, _, _ = counts(platform)
    assert people == records == len(GOOD)


def test_importing_twice_changes_nothing(platform: Platform, tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + list(BAD.values()))
    import_population(path, platform=platform, actor=SYSTEM)
    before = counts(platform)
    again = import_population(path, platform=platform, actor=SYSTEM)
    assert (again.created, again.updated, again.unchanged) == (0, 0, len(GOOD))
    assert counts(platform) == before


def test_a_later_extract_updates_contact_details(platform: Platform, tmp_path: Path) -> None:
    import_population(write(tmp_path, GOOD), platform=platform, actor=SYSTEM)
    moved = GOOD[3].replace(",,,,,,,en,", ",9 avenue X,L-4000,Esch-sur-Alzette,LU,,,en,")
    report = import_population(write(tmp_path, [moved]), platform=platform, actor=SYSTEM)
    assert report.updated == 1
    with platform.sessions() as session:
        assert session.scalars(select(Person.city).where(Person.national_number == ADULT)).one() == "Esch-sur-Alzette"


def test_a_file_without_the_required_columns_is_refused(platform: Platform, tmp_path: Path) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("name,number\nx,1\n")
    with pytest.raises(ExtractUnreadable, match="lacks the columns"):
        import_population(path, platform=platform, actor=SYSTEM)


def test_the_cli_reports_lines_and_exits_non_zero(
    platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENDSP_DATABASE_URL", platform.settings.database_url)
    monkeypatch.setenv("OPENDSP_VAR_DIR", str(platform.settings.var_dir))
    path = write(tmp_path, GOOD + [BAD["not a real date of birth"]])
    report_file = tmp_path / "rejected.csv"
    result = CliRunner().invoke(main, ["import-population", str(path), "--report", str(report_file)])
    assert result.exit_code == 1
    assert "4 created, 0 updated, 0 unchanged, 1 rejected" in result.output
    assert "line 6: 1893133105732:" in result.output
    assert "line 6" not in report_file.read_text() and "6,1893133105732" in report_file.read_text()
    missing = CliRunner().invoke(main, ["import-population", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "cannot open" in missing.output
