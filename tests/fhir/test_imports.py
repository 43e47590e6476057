"""The FHIR adapter reaches clinical data only through RecordAccess (ADR 22): what it may import, checked.

Until the import contracts run in CI this test holds the line for ``opendsp.fhir``: no model module but
the ones listed (persons: identity; stays: two enums; the structured index: re-exported for the portals
only), never the content store, and imports of models for annotations only under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import opendsp.fhir

FHIR = Path(opendsp.fhir.__file__).parent
# module of the adapter -> model modules it may import at run time, and why
ALLOWED = {
    "opendsp.persons.models": "identity: looking a person up (PDQm, naming a patient)",
    "opendsp.stays.models": "PatientClass and StayState, the vocabularies of an Encounter",
    "opendsp.structured.models": "re-exported by fhir.structured for web/reading.py and summary.py, until they "
                                 "ask RecordAccess",
}


def _runtime_imports(tree: ast.Module) -> list[str]:
    """Modules imported anywhere but under ``if TYPE_CHECKING:``."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_the_fhir_adapter_imports_no_clinical_model_nor_the_content_store() -> None:
    wrong = []
    for path in sorted(FHIR.rglob("*.py")):
        for module in _runtime_imports(ast.parse(path.read_text())):
            is_model = module.endswith(".models") or module == "opendsp.models"
            if (is_model and module not in ALLOWED) or module.startswith("opendsp.content"):
                wrong.append(f"{path.relative_to(FHIR)} imports {module}")
    assert wrong == []


def test_the_fhir_adapter_queries_persons_only() -> None:
    """Every query left under opendsp.fhir is on the person table (identity)."""
    for path in sorted(FHIR.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "select(" in line or "session.get(" in line or "session.scalar" in line:
                assert "Person" in line, f"{path.relative_to(FHIR)}:{number}: {line.strip()}"
