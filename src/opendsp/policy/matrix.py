"""The rights matrix and the policy's parameters: data, validated at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from opendsp.documents.types import DocumentType
from opendsp.professionals.models import OrganisationKind
from opendsp.professionals.vocabulary import PROFESSIONS, SPECIALTIES

DEFAULT_MATRIX = Path(__file__).with_name("rights.yaml")


class MatrixInvalid(ValueError):
    """The rights file cannot be used; the message names the place and the fault."""


def _types(values: list[str]) -> frozenset[DocumentType]:
    known = {t.value for t in DocumentType}
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ValueError(f"unknown document type {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return frozenset(DocumentType(v) for v in values)


class _Rights(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    consult: Literal["all"] | list[str] = Field(default_factory=list)
    deposit: list[str] = Field(default_factory=list)
    direct_deposit: list[str] = Field(default_factory=list)

    @field_validator("consult")
    @classmethod
    def _consult_types(cls, value: Literal["all"] | list[str]) -> Literal["all"] | list[str]:
        if value != "all":
            _types(value)
        return value

    @field_validator("deposit", "direct_deposit")
    @classmethod
    def _deposit_types(cls, value: list[str]) -> list[str]:
        _types(value)
        return value


class _Profession(_Rights):
    specialties: dict[str, _Rights] = Field(default_factory=dict)

    @field_validator("specialties")
    @classmethod
    def _known_specialties(cls, value: dict[str, _Rights]) -> dict[str, _Rights]:
        for code in value:
            if code not in SPECIALTIES:
                raise ValueError(f"unknown specialty {code!r} (known: {', '.join(sorted(SPECIALTIES))})")
        return value


class _HolderRights(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    deposit: list[str] = Field(default_factory=lambda: [DocumentType.personal_document.value])

    @field_validator("deposit")
    @classmethod
    def _deposit_types(cls, value: list[str]) -> list[str]:
        _types(value)
        return value


class PolicyParameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    presence_access_hours: float = Field(24, gt=0)
    emergency_access_hours: float = Field(12, gt=0)
    presence_code_lockout_minutes: float = Field(60, gt=0)
    presence_failures_per_professional_and_record: int = Field(5, ge=1)
    presence_failures_per_record: int = Field(10, ge=1)
    presence_failures_per_professional: int = Field(20, ge=1)
    stay_access_days_after_discharge: float = Field(7, ge=0)
    # Patient lookups (PDQm) one professional may make in an hour, counted from the trace.
    patient_lookups_per_hour: int = Field(60, ge=1)

    @property
    def after_discharge(self) -> timedelta:
        return timedelta(days=self.stay_access_days_after_discharge)

    @property
    def presence_access(self) -> timedelta:
        return timedelta(hours=self.presence_access_hours)

    @property
    def emergency_access(self) -> timedelta:
        return timedelta(hours=self.emergency_access_hours)

    @property
    def lookup_window(self) -> timedelta:
        return timedelta(hours=1)

    @property
    def lockout_window(self) -> timedelta:
        return timedelta(minutes=self.presence_code_lockout_minutes)


class _MatrixFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    parameters: PolicyParameters = Field(default_factory=PolicyParameters)
    holder: _HolderRights = Field(default_factory=_HolderRights)
    professions: dict[str, _Profession]
    organisations: dict[str, dict[str, _Rights]] = Field(default_factory=dict)

    @field_validator("organisations")
    @classmethod
    def _known_organisations(cls, value: dict[str, dict[str, _Rights]]) -> dict[str, dict[str, _Rights]]:
        kinds = {kind.value for kind in OrganisationKind}
        for kind, by_profession in value.items():
            if kind not in kinds:
                raise ValueError(f"unknown organisation kind {kind!r} (known: {', '.join(sorted(kinds))})")
            for code in by_profession:
                if code not in PROFESSIONS:
                    raise ValueError(f"{kind}: unknown profession {code!r}")
        return value

    @field_validator("professions")
    @classmethod
    def _known_professions(cls, value: dict[str, _Profession]) -> dict[str, _Profession]:
        for code in value:
            if code not in PROFESSIONS:
                raise ValueError(f"unknown profession {code!r} (known: {', '.join(sorted(PROFESSIONS))})")
        return value


@dataclass(frozen=True)
class Rights:
    consult: frozenset[DocumentType] = frozenset()
    deposit: frozenset[DocumentType] = frozenset()
    direct_deposit: frozenset[DocumentType] = frozenset()

    def __or__(self, other: Rights) -> Rights:
        return Rights(
            self.consult | other.consult,
            self.deposit | other.deposit,
            self.direct_deposit | other.direct_deposit,
        )


def _rights(spec: _Rights) -> Rights:
    consult = frozenset(DocumentType) if spec.consult == "all" else _types(spec.consult)
    return Rights(consult, _types(spec.deposit), _types(spec.direct_deposit))


@dataclass(frozen=True)
class RightsMatrix:
    parameters: PolicyParameters
    professions: dict[str, Rights]
    specialties: dict[tuple[str, str], Rights]
    organisations: dict[tuple[str, str], Rights]
    source: Path
    # The types the holder's side deposits (and so replaces and withdraws when it deposited them).
    holder_deposit: frozenset[DocumentType] = frozenset({DocumentType.personal_document})

    def rights_of(
        self, profession: str | None, specialties: frozenset[str] = frozenset(), organisation_kind: str | None = None
    ) -> Rights | None:
        """The joined rights of a profession, its specialties and the organisation acted for.

        None for a profession the matrix does not know: it gets nothing.
        """
        if profession not in self.professions:
            return None
        rights = self.professions[profession]
        for specialty in sorted(specialties):
            rights = rights | self.specialties.get((profession, specialty), Rights())
        if organisation_kind:
            rights = rights | self.organisations.get((organisation_kind, profession), Rights())
        return rights


def _location(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg'].removeprefix('Value error, ')}"


def load_matrix(path: Path = DEFAULT_MATRIX) -> RightsMatrix:
    """Read and validate a rights file; raise MatrixInvalid with a precise message."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise MatrixInvalid(f"rights matrix {path}: cannot be read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise MatrixInvalid(f"rights matrix {path}: not valid YAML ({error})") from None
    try:
        parsed = _MatrixFile.model_validate(raw)
    except ValidationError as error:
        raise MatrixInvalid(f"rights matrix {path}: {_location(error)}") from None
    professions = {code: _rights(spec) for code, spec in parsed.professions.items()}
    specialties = {
        (code, specialty): _rights(rights)
        for code, spec in parsed.professions.items()
        for specialty, rights in spec.specialties.items()
    }
    organisations = {
        (kind, profession): _rights(rights)
        for kind, by_profession in parsed.organisations.items()
        for profession, rights in by_profession.items()
    }
    return RightsMatrix(parsed.parameters, professions, specialties, organisations, path,
                        holder_deposit=_types(parsed.holder.deposit))


@cache
def default_matrix() -> RightsMatrix:
    return load_matrix()
