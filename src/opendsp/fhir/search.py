"""FHIR search parameters turned into search criteria in the record's terms, and paging links.

Only the parameters listed here are accepted; any other is refused with an
OperationOutcome (``not-supported``) rather than silently ignored. Criteria
are values (``opendsp.access.criteria``): ``RecordAccess`` turns them into SQL
on its tables and adds the visibility rule; this module names no table.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, false, func, or_

from opendsp.access import criteria
from opendsp.documents.types import CODINGS
from opendsp.fhir import systems
from opendsp.fhir.errors import FhirError
from opendsp.fhir.mapping import (
    CONFIDENTIALITY_FROM_FHIR,
    STATUS_FROM_FHIR,
    TYPE_BY_LOINC,
)
from opendsp.periods import Period

DEFAULT_COUNT = 20
MAX_COUNT = 100
# Accepted everywhere and without effect: totals are always exact (``_totalMethod`` is what some clients,
# fhirpy among them, send for a count).
IGNORED = frozenset({"_format", "_total", "_totalMethod", "_pretty"})
PAGING = frozenset({"_count", "_offset", "_snapshot", "_sort"})

DOCUMENT_PARAMETERS = frozenset({
    "patient", "patient.identifier", "status", "date", "author.given", "author.family", "category", "type",
    "facility", "security-label", "format", "period", "_id", "setting", "event", "related",
})
PATIENT_PARAMETERS = frozenset({"_id", "identifier", "family", "given", "name", "birthdate", "gender"})
LIST_PARAMETERS = frozenset({"patient", "patient.identifier", "code", "status"})
AUDIT_PARAMETERS = frozenset({"patient", "patient.identifier"})
CONSENT_PARAMETERS = frozenset({"patient", "patient.identifier"})
# The entries of structured documents (Observation, DiagnosticReport, AllergyIntolerance, ...).
STRUCTURED_PARAMETERS = frozenset({"patient", "patient.identifier", "code", "date"})

_DATE = re.compile(
    r"^(?P<prefix>eq|ne|gt|lt|ge|le|sa|eb|ap)?"
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


@dataclass
class Query:
    """The parameters of one search request: name -> the values of each occurrence."""

    params: dict[str, list[str]]
    allowed: frozenset[str]
    resource: str
    count: int = DEFAULT_COUNT
    offset: int = 0
    snapshot: datetime | None = None
    sort_ascending: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, items: list[tuple[str, str]], allowed: frozenset[str], resource: str, now: datetime) -> Query:
        params: dict[str, list[str]] = {}
        for name, value in items:
            if name in IGNORED:
                if name == "_format" and "json" not in value:
                    raise FhirError(406, "not-supported", "only JSON is served (_format=json)")
                continue
            base = name.split(":", 1)[0]
            if base not in allowed and name not in PAGING:
                raise FhirError(
                    400, "not-supported",
                    f"unknown or unsupported search parameter {name!r} for {resource}; supported: "
                    f"{', '.join(sorted(allowed | PAGING))}",
                    expression=name,
                )
            params.setdefault(name, []).append(value)
        query = cls(params=params, allowed=allowed, resource=resource)
        query.count = _integer(query.single("_count"), "_count", DEFAULT_COUNT, 0, MAX_COUNT)
        query.offset = _integer(query.single("_offset"), "_offset", 0, 0, 10**9)
        snapshot = query.single("_snapshot")
        query.snapshot = _instant(snapshot, "_snapshot") if snapshot else now
        sort = query.single("_sort")
        if sort not in (None, "date", "-date"):
            raise FhirError(400, "not-supported", "_sort supports date and -date only", expression="_sort")
        query.sort_ascending = sort == "date"
        return query

    def single(self, name: str) -> str | None:
        values = self.params.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise FhirError(400, "invalid", f"the parameter {name} may be given once", expression=name)
        return values[0]

    def values(self, name: str) -> list[list[str]]:
        """Each occurrence (AND) as its comma-separated alternatives (OR)."""
        return [[part for part in _split(value)] for value in self.params.get(name, [])]

    def criteria(self) -> list[tuple[str, str | None, list[str]]]:
        """(name, modifier, alternatives) for every non-paging occurrence."""
        out = []
        for name, values in self.params.items():
            if name in PAGING:
                continue
            base, _, modifier = name.partition(":")
            for value in values:
                out.append((base, modifier or None, _split(value)))
        return out

    def criteria_for_trace(self) -> dict[str, list[str]]:
        """The search as given, paging left out: what the act's trace entry keeps (no parameter here is free
        text; ADR 10 keeps keyword searches out of the trace in clear)."""
        return {name: list(values) for name, values in sorted(self.params.items()) if name not in PAGING}

    def link(self, base: str, offset: int) -> str:
        items = [(name, value) for name, values in sorted(self.params.items()) if name not in PAGING
                 for value in values]
        items += [("_count", str(self.count)), ("_offset", str(offset))]
        if self.snapshot is not None:
            items.append(("_snapshot", self.snapshot.isoformat().replace("+00:00", "Z")))
        if self.sort_ascending:
            items.append(("_sort", "date"))
        return f"{base}/{self.resource}?{urlencode(items)}"

    def links(self, base: str, total: int) -> dict[str, str]:
        links = {"self": self.link(base, self.offset)}
        if self.count and self.offset + self.count < total:
            links["next"] = self.link(base, self.offset + self.count)
        if self.offset > 0 and self.count:
            links["previous"] = self.link(base, max(0, self.offset - self.count))
        return links


def _split(value: str) -> list[str]:
    # A comma escaped with a backslash is part of the value.
    parts = re.split(r"(?<!\\),", value)
    return [part.replace("\\,", ",") for part in parts]


def _integer(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if not value.isdigit():
        raise FhirError(400, "invalid", f"{name} must be a whole number", expression=name)
    return max(low, min(high, int(value)))


def _instant(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FhirError(400, "invalid", f"{name} is not an instant", expression=name) from None
    if parsed.tzinfo is None:
        raise FhirError(400, "invalid", f"{name} needs a time zone", expression=name)
    return parsed.astimezone(UTC)


def parse_date(value: str, name: str) -> Period:
    match = _DATE.match(value)
    if not match:
        raise FhirError(400, "invalid", f"{name}={value!r} is not a FHIR date search value", expression=name)
    year = int(match["year"])
    try:
        if match["time"]:
            text = f"{match['year']}-{match['month']}-{match['day']}T{match['time']}"
            start = datetime.fromisoformat(text)
            tz = match["tz"] or "Z"
            start = datetime.fromisoformat(text + tz.replace("Z", "+00:00")).astimezone(UTC)
            seconds = match["time"].count(":")
            end = start + (timedelta(minutes=1) if seconds == 1 else timedelta(seconds=1))
        elif match["day"]:
            start = datetime(year, int(match["month"]), int(match["day"]), tzinfo=UTC)
            end = start + timedelta(days=1)
        elif match["month"]:
            month = int(match["month"])
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        else:
            start = datetime(year, 1, 1, tzinfo=UTC)
            end = datetime(year + 1, 1, 1, tzinfo=UTC)
    except ValueError:
        raise FhirError(400, "invalid", f"{name}={value!r} is not a valid date", expression=name) from None
    return Period(match["prefix"] or "eq", start, end)


def _token(value: str) -> tuple[str | None, str]:
    if "|" in value:
        system, _, code = value.partition("|")
        return (system or None), code
    return None, value


def reference_id(value: str, resource: str, base: str) -> uuid.UUID | None:
    """The id in ``Resource/id``, ``base/Resource/id`` or a bare id; None if it is not one of ours."""
    text = value.removeprefix(base + "/")
    if "/" in text:
        kind, _, text = text.partition("/")
        if kind != resource:
            return None
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def document_criteria(query: Query) -> list[list[criteria.DocumentCriterion]]:
    """What a DocumentReference search asks, in the record's terms, for every criterion except the patient."""
    wanted: list[list[criteria.DocumentCriterion]] = []
    for name, modifier, alternatives in query.criteria():
        if name in ("patient", "patient.identifier"):
            continue
        if modifier is not None and not name.startswith("author."):
            raise FhirError(400, "not-supported", f"the modifier :{modifier} is not supported on {name}")
        wanted.append([_document_criterion(name, value, modifier) for value in alternatives])
    if query.snapshot is not None:
        wanted.append([criteria.DepositedBy(query.snapshot)])
    return wanted


_NAME_MATCHES = {None: criteria.NameMatch.starts, "contains": criteria.NameMatch.contains,
                 "exact": criteria.NameMatch.exact}


def _document_criterion(name: str, value: str, modifier: str | None) -> criteria.DocumentCriterion:
    nothing = criteria.Nothing()
    match name:
        case "_id":
            try:
                return criteria.DocumentIs(uuid.UUID(value))
            except ValueError:
                return nothing
        case "status":
            status = STATUS_FROM_FHIR.get(value)
            return criteria.StatusIs(status) if status else nothing
        case "date":
            return criteria.DepositedIn(parse_date(value, name))
        case "period":
            return criteria.CaredIn(parse_date(value, name))
        case "type":
            system, code = _token(value)
            kind = TYPE_BY_LOINC.get(code) if system in (None, systems.LOINC) else None
            return criteria.TypeIn(frozenset({kind})) if kind else nothing
        case "category":
            system, code = _token(value)
            kinds = [k for k, c in CODINGS.items() if c.ehds_category == code] if system in (None, systems.EHDS_CATEGORY) else []
            return criteria.TypeIn(frozenset(kinds)) if kinds else nothing
        case "security-label":
            system, code = _token(value)
            level = CONFIDENTIALITY_FROM_FHIR.get(code) if system in (None, systems.CONFIDENTIALITY) else None
            return criteria.ConfidentialityIs(level) if level else nothing
        case "format":
            system, code = _token(value)
            return criteria.Anything() if system in (None, systems.FORMAT_CODE) and code == systems.MIME_TYPE_SUFFICIENT \
                else nothing
        case "facility":
            system, code = _token(value)
            try:
                kind = criteria.OrganisationKind(code) if system in (None, systems.ORGANISATION_KIND) else None
            except ValueError:
                kind = None
            return criteria.AuthorOrganisationKind(kind) if kind else nothing
        case "setting" | "event" | "related":
            return _context_criterion(criteria.ContextElement(name), value)
        case "author.given" | "author.family":
            if modifier not in _NAME_MATCHES:
                raise FhirError(400, "not-supported", f"the modifier :{modifier} is not supported on strings")
            return criteria.AuthorName(name.removeprefix("author."), value, _NAME_MATCHES[modifier])
    raise FhirError(400, "not-supported", f"unsupported search parameter {name}")


def _context_criterion(element: criteria.ContextElement, value: str) -> criteria.DocumentCriterion:
    """A token on the context the sender gave: ``system|code``, ``|code`` (no system), ``code``, ``system|``.

    ``related`` is searched on the related references' identifiers (``system|value``).
    """
    if "|" not in value:
        return criteria.ContextHas(element, value)
    system, _, code = value.partition("|")
    if not system and not code:
        return criteria.Nothing()
    return criteria.ContextHas(element, code or None, system or None, any_system=False)


def person_conditions(query: Query) -> list[ColumnElement[bool]]:
    from opendsp.persons.models import Person, Sex

    conditions: list[ColumnElement[bool]] = []
    for name, modifier, alternatives in query.criteria():
        options: list[ColumnElement[bool]] = []
        for value in alternatives:
            match name:
                case "_id":
                    try:
                        options.append(Person.id == uuid.UUID(value))
                    except ValueError:
                        options.append(false())
                case "identifier":
                    system, code = _token(value)
                    if system not in (None, systems.NATIONAL_NUMBER):
                        options.append(false())
                    else:
                        options.append(Person.national_number == code)
                case "family":
                    options.append(_same_name(Person.family_name, value, modifier))
                case "given":
                    options.append(_same_name(Person.given_name, value, modifier))
                case "name":
                    options.append(or_(_same_name(Person.family_name, value, modifier),
                                       _same_name(Person.given_name, value, modifier)))
                case "birthdate":
                    options.append(Person.birth_date == _birth_date(value))
                case "gender":
                    try:
                        options.append(Person.sex == Sex(value))
                    except ValueError:
                        options.append(false())
        conditions.append(or_(*options))
    return conditions


def patient_search_is_specific(query: Query) -> bool:
    """Demographics are found by national number, id, or a name with a birth date: never by browsing."""
    names = {name.split(":", 1)[0] for name in query.params if name not in PAGING}
    return bool(names & {"identifier", "_id"}) or (bool(names & {"family", "name"}) and "birthdate" in names)


# PDQm matches people exactly (docs/fhir.md): no prefix, no modifier but :exact, one value per parameter.
_NAMES = frozenset({"family", "given", "name"})
_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def check_patient_search(query: Query) -> None:
    """Refuse, with a clear 400, whatever would turn a patient lookup into browsing the population."""
    for name, values in query.params.items():
        if name in PAGING:
            continue
        base, _, modifier = name.partition(":")
        if modifier and not (base in _NAMES and modifier == "exact"):
            raise FhirError(400, "not-supported", f"patients are matched exactly: the modifier :{modifier} is not "
                            f"accepted on {base} (only :exact, on names)", expression=name)
        for value in values:
            if "," in value:
                raise FhirError(400, "not-supported", f"patients are matched exactly: give one value for {base}",
                                expression=name)
            if base in _NAMES and len(value.strip()) < 2:
                raise FhirError(400, "invalid", f"give the whole {base}", expression=name)
    if not patient_search_is_specific(query):
        raise FhirError(400, "too-costly", "search patients by identifier (national number), or by family "
                        "name (or name) together with birthdate")
    for value in query.params.get("birthdate", []):
        _birth_date(value)


def _birth_date(value: str) -> date:
    if not _FULL_DATE.match(value):
        raise FhirError(400, "not-supported", "patients are matched exactly: give the whole birth date as "
                        "YYYY-MM-DD, without a prefix", expression="birthdate")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FhirError(400, "invalid", f"birthdate={value!r} is not a valid date", expression="birthdate") from None


def _same_name(column: Any, value: str, modifier: str | None) -> ColumnElement[bool]:
    """The whole name: as written with :exact, else regardless of case."""
    if modifier == "exact":
        return column == value
    return func.lower(column) == value.strip().lower()


def entry_criteria(query: Query) -> list[list[criteria.EntryCriterion]]:
    """What a search of structured entries asks, for every criterion except the patient (codes stay codes:
    ``RecordAccess`` compares them as keyed HMACs)."""
    wanted: list[list[criteria.EntryCriterion]] = []
    for name, modifier, alternatives in query.criteria():
        if name in ("patient", "patient.identifier"):
            continue
        if modifier is not None:
            raise FhirError(400, "not-supported", f"the modifier :{modifier} is not supported on {name}")
        options: list[criteria.EntryCriterion] = []
        for value in alternatives:
            if name == "code":
                system, code = _token(value)
                options.append(criteria.CodeIs(code, system))
            elif name == "date":
                options.append(criteria.EffectiveIn(parse_date(value, name)))
            else:
                raise FhirError(400, "not-supported", f"unsupported search parameter {name}")
        wanted.append(options)
    return wanted
