"""The rights matrix is data: validated at start-up, rendered into the documentation."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendsp.documents.types import DocumentType
from opendsp.policy.matrix import DEFAULT_MATRIX, MatrixInvalid, default_matrix, load_matrix
from opendsp.policy.render import render_access_policy
from opendsp.settings import Settings
from opendsp.web.app import create_app

DOCS = Path(__file__).parents[2] / "docs" / "access-policy.md"


def test_the_documentation_is_rendered_from_the_current_matrix() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_access_policy(default_matrix()), (
        "docs/access-policy.md is out of date: run `opendsp policy render > docs/access-policy.md`"
    )


def test_the_default_matrix_covers_the_professions_the_platform_serves() -> None:
    matrix = default_matrix()
    for profession in ("physician", "dentist", "pharmacist", "nurse", "midwife", "physiotherapist",
                       "laboratory_biologist", "home_care_nurse"):
        assert matrix.rights_of(profession) is not None, profession
    gp = matrix.rights_of("physician", frozenset({"general_practice"}))
    assert gp is not None and DocumentType.patient_summary in gp.deposit
    assert matrix.rights_of("shaman") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("professions: {nurse: {consult: [x-rays]}}", "professions.nurse.consult: unknown document type 'x-rays'"),
        ("professions: {wizard: {consult: all}}", "professions: unknown profession 'wizard'"),
        ("professions: {physician: {specialties: {magic: {}}}}", "professions.physician.specialties: unknown specialty 'magic'"),
        ("professions: {nurse: {consult: all, read: all}}", "professions.nurse.read: Extra inputs are not permitted"),
        ("parameters: {presence_access_hours: 0}\\nprofessions: {}", "parameters.presence_access_hours"),
        ("professions: [", "not valid YAML"),
        ("parameters: {}", "professions: Field required"),
        ("professions: {}\norganisations: {castle: {}}", "organisations: unknown organisation kind 'castle'"),
        ("holder: {deposit: [diary]}\nprofessions: {}", "holder.deposit: unknown document type 'diary'"),
        ("holder: {deposit: [], consult: all}\nprofessions: {}", "holder.consult: Extra inputs are not permitted"),
    ],
)
def test_a_bad_matrix_is_refused_with_a_precise_message(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "rights.yaml"
    path.write_text(content.replace("\\n", "\n"))
    with pytest.raises(MatrixInvalid) as error:
        load_matrix(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_the_holder_deposits_what_the_matrix_names_and_by_default_the_personal_space_only(tmp_path: Path) -> None:
    shipped = default_matrix().holder_deposit
    assert shipped == {DocumentType.personal_document, DocumentType.vaccination_record}
    path = tmp_path / "rights.yaml"
    path.write_text("professions: {}")
    assert load_matrix(path).holder_deposit == {DocumentType.personal_document}


def test_start_up_stops_on_a_bad_matrix(tmp_path: Path) -> None:
    path = tmp_path / "rights.yaml"
    path.write_text("professions: {nurse: {deposit: [spells]}}")
    settings = Settings(var_dir=tmp_path, rights_matrix=path)
    with pytest.raises(MatrixInvalid, match="unknown document type 'spells'"):
        create_app(settings)


def test_the_shipped_matrix_is_the_default() -> None:
    assert default_matrix().source == DEFAULT_MATRIX
