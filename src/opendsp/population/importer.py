"""Import an insured-population extract (CSV) into persons and records.

Two streaming passes: the first validates every row and learns which national
numbers the file holds (so that a representative may appear later in the file);
the second writes the good rows in batches. Each row is written in a savepoint
of its own: a bad row leaves nothing behind, the good rows are all kept, and a
second run over the same file changes nothing.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendsp.actors import Actor
from opendsp.persons.models import Language, LegalRepresentation, Person, Sex
from opendsp.persons.national_number import InvalidNationalNumber, parse_national_number
from opendsp.platform import Platform
from opendsp.records.services import create_record, trace_event

COLUMNS = (
    "national_number",
    "family_name",
    "given_name",
    "birth_date",
    "sex",
    "street",
    "postal_code",
    "city",
    "country",
    "email",
    "mobile",
    "language",
    "representatives",
)
REQUIRED = ("national_number", "family_name", "given_name", "birth_date", "sex", "language")
# Fields that a later extract may change for an existing person.
UPDATABLE = ("family_name", "given_name", "street", "postal_code", "city", "country", "email", "mobile")
BATCH = 500
log = logging.getLogger(__name__)
# The longest text each stored field holds (the columns of ``persons``): longer is a rejected row, not a database error.
MAX_LENGTHS = {"family_name": 200, "given_name": 200, "street": 300, "postal_code": 20, "city": 200, "email": 320,
               "mobile": 32}


class ExtractUnreadable(Exception):
    """The file as a whole cannot be imported (missing, not CSV, wrong columns)."""


@dataclass(frozen=True)
class RowError:
    line: int
    national_number: str
    reason: str


@dataclass(frozen=True)
class PersonRow:
    line: int
    national_number: str
    family_name: str
    given_name: str
    birth_date: date
    sex: Sex
    street: str | None
    postal_code: str | None
    city: str | None
    country: str | None
    email: str | None
    mobile: str | None
    language: Language
    representatives: tuple[str, ...]


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.errors)


def _optional(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def parse_row(line: int, raw: dict[str, str | None]) -> PersonRow:
    """Validate one CSV row; raise ValueError with the reason in words."""
    if None in raw or any(value is None for value in raw.values()):
        raise ValueError("the row does not have the same number of fields as the header")
    for name, value in raw.items():
        if value is not None and "\x00" in value:
            raise ValueError(f"the field {name} holds a NUL character")
    for name, limit in MAX_LENGTHS.items():
        if len((raw.get(name) or "").strip()) > limit:
            raise ValueError(f"the field {name} is longer than {limit} characters")
    for name in REQUIRED:
        if not (raw.get(name) or "").strip():
            raise ValueError(f"the field {name} is missing")
    try:
        number = parse_national_number(raw["national_number"] or "")
    except InvalidNationalNumber as error:
        raise ValueError(f"invalid national number: {error}") from None
    try:
        birth_date = date.fromisoformat((raw["birth_date"] or "").strip())
    except ValueError:
        raise ValueError(f"birth_date {raw['birth_date']!r} is not a real date (YYYY-MM-DD)") from None
    if birth_date != number.birth_date:
        raise ValueError("birth_date does not match the date in the national number")
    try:
        sex = Sex((raw["sex"] or "").strip().lower())
    except ValueError:
        raise ValueError(f"sex {raw['sex']!r} is not one of {', '.join(s.value for s in Sex)}") from None
    try:
        language = Language((raw["language"] or "").strip().lower())
    except ValueError:
        raise ValueError(f"language {raw['language']!r} is not one of {', '.join(lang.value for lang in Language)}") from None
    representatives = tuple(r.strip() for r in (raw.get("representatives") or "").split(";") if r.strip())
    for representative in representatives:
        try:
            parse_national_number(representative)
        except InvalidNationalNumber as error:
            raise ValueError(f"representative {representative}: {error}") from None
        if representative == number.value:
            raise ValueError("a person cannot be their own representative")
    email = _optional(raw.get("email"))
    if email and "@" not in email:
        raise ValueError(f"email {email!r} is not an e-mail address")
    country = _optional(raw.get("country"))
    if country and (len(country) != 2 or not country.isalpha()):
        raise ValueError(f"country {country!r} is not a two-letter ISO code")
    return PersonRow(
        line=line,
        national_number=number.value,
        family_name=(raw["family_name"] or "").strip(),
        given_name=(raw["given_name"] or "").strip(),
        birth_date=birth_date,
        sex=sex,
        street=_optional(raw.get("street")),
        postal_code=_optional(raw.get("postal_code")),
        city=_optional(raw.get("city")),
        country=country.upper() if country else None,
        email=email,
        mobile=_optional(raw.get("mobile")),
        language=language,
        representatives=representatives,
    )


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str | None]]]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as error:
        raise ExtractUnreadable(f"cannot open {path}: {error.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise ExtractUnreadable(f"{path} lacks the columns {', '.join(missing)} "
                                        f"(expected {', '.join(COLUMNS)})")
            for raw in reader:
                yield reader.line_num, raw
        except UnicodeDecodeError:
            raise ExtractUnreadable(f"{path} is not UTF-8 text (near line {reader.line_num + 1}): "
                                    "save the extract as UTF-8 and import it again") from None
        except csv.Error as error:
            raise ExtractUnreadable(f"{path} line {reader.line_num}: {error}") from None


def count_rows(path: Path) -> int:
    return sum(1 for _ in _rows(path))


def import_population(
    path: Path, *, platform: Platform, actor: Actor, progress: Callable[[int], None] | None = None
) -> ImportReport:
    report = ImportReport()
    # Pass 1: validate, find duplicates, learn which numbers the file brings.
    seen: dict[str, int] = {}
    bad_lines: dict[int, RowError] = {}
    parsed_ok: set[str] = set()
    for line, raw in _rows(path):
        number = (raw.get("national_number") or "").strip()
        try:
            row = parse_row(line, raw)
        except ValueError as error:
            bad_lines[line] = RowError(line, number, str(error))
            continue
        if row.national_number in seen:
            bad_lines[line] = RowError(line, number, f"duplicate of line {seen[row.national_number]}")
            continue
        seen[row.national_number] = line
        parsed_ok.add(row.national_number)

    # Pass 2: write the good rows, batch by batch.
    batch: list[PersonRow] = []
    pending_links: list[PersonRow] = []
    for line, raw in _rows(path):
        if line in bad_lines:
            report.errors.append(bad_lines[line])
            if progress:
                progress(1)
            continue
        row = parse_row(line, raw)
        batch.append(row)
        if row.representatives:
            pending_links.append(row)
        if len(batch) >= BATCH:
            _write_batch(batch, platform=platform, actor=actor, known_in_file=parsed_ok, report=report)
            if progress:
                progress(len(batch))
            batch = []
    if batch:
        _write_batch(batch, platform=platform, actor=actor, known_in_file=parsed_ok, report=report)
        if progress:
            progress(len(batch))
    _link_all(pending_links, platform=platform, report=report)
    report.errors.sort(key=lambda e: e.line)
    if report.created or report.updated:
        with platform.transaction() as session:
            platform.trace.append(
                session,
                trace_event(
                    actor,
                    "population.import",
                    record_id=None,
                    context={
                        "file": path.name,
                        "created": report.created,
                        "updated": report.updated,
                        "rejected": report.rejected,
                    },
                ),
            )
    return report


def _write_batch(
    batch: list[PersonRow], *, platform: Platform, actor: Actor, known_in_file: set[str], report: ImportReport
) -> None:
    numbers = {row.national_number for row in batch} | {r for row in batch for r in row.representatives}
    with platform.transaction() as session:
        existing = {
            p.national_number: p for p in session.scalars(select(Person).where(Person.national_number.in_(numbers)))
        }
        for row in batch:
            unknown = [r for r in row.representatives if r not in existing and r not in known_in_file]
            if unknown:
                report.errors.append(
                    RowError(row.line, row.national_number, f"unknown representative {', '.join(unknown)}")
                )
                continue
            try:
                with session.begin_nested():
                    outcome = _write_person(session, platform, actor, row, existing)
            except Exception as error:  # noqa: BLE001 - reported per row, nothing of it is kept
                # The database's own message would put SQL and the row's values in the report: the kind only.
                log.warning("population row %d could not be stored: %s", row.line, type(error).__name__)
                report.errors.append(RowError(row.line, row.national_number, "could not be stored"))
                continue
            setattr(report, outcome, getattr(report, outcome) + 1)


def _write_person(
    session: Session, platform: Platform, actor: Actor, row: PersonRow, existing: dict[str, Person]
) -> str:
    person = existing.get(row.national_number)
    if person is None:
        person = Person(
            national_number=row.national_number,
            family_name=row.family_name,
            given_name=row.given_name,
            birth_date=row.birth_date,
            sex=row.sex,
            street=row.street,
            postal_code=row.postal_code,
            city=row.city,
            country=row.country,
            email=row.email,
            mobile=row.mobile,
            preferred_language=row.language,
            created_at=platform.clock.now(),
        )
        session.add(person)
        session.flush()
        create_record(session=session, platform=platform, person=person, actor=actor)
        existing[row.national_number] = person
        return "created"
    changes = {name: getattr(row, name) for name in UPDATABLE if getattr(person, name) != getattr(row, name)}
    if not changes:
        return "unchanged"
    for name, value in changes.items():
        setattr(person, name, value)
    session.flush()
    return "updated"


def _link_all(rows: list[PersonRow], *, platform: Platform, report: ImportReport) -> None:
    """Link minors to their representatives once every person of the file exists."""
    rejected = {error.line for error in report.errors}
    for start in range(0, len(rows), BATCH):
        chunk = [row for row in rows[start : start + BATCH] if row.line not in rejected]
        numbers = {row.national_number for row in chunk} | {r for row in chunk for r in row.representatives}
        with platform.transaction() as session:
            persons = {
                p.national_number: p for p in session.scalars(select(Person).where(Person.national_number.in_(numbers)))
            }
            minors = [persons[row.national_number].id for row in chunk]
            pairs = session.execute(
                select(LegalRepresentation.minor_id, LegalRepresentation.representative_id).where(
                    LegalRepresentation.minor_id.in_(minors)
                )
            )
            linked = {(minor_id, representative_id) for minor_id, representative_id in pairs}
            for row in chunk:
                minor = persons[row.national_number]
                for number in row.representatives:
                    representative = persons.get(number)
                    if representative is None:
                        report.errors.append(
                            RowError(row.line, row.national_number, f"representative {number} was not imported")
                        )
                        continue
                    if (minor.id, representative.id) in linked:
                        continue
                    session.add(
                        LegalRepresentation(
                            minor_id=minor.id, representative_id=representative.id, created_at=platform.clock.now()
                        )
                    )
                    linked.add((minor.id, representative.id))
