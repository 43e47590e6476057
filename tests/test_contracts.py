"""The import contracts of pyproject.toml hold, and they would catch an adapter reaching clinical data itself.

Adapters (web, console, the clients, the command line, FHIR) reach documents, content, stays, the trace, the
indexes and notifications only through ``RecordAccess`` (issue 12; docs/architecture.md, "The one door"); the
command line runs platform jobs through ``PlatformJobs``; adapters, accounts and clients write the trace only
through ``write_trace``; vocabulary modules hold no table.
``lint-imports`` checks it from the code; these tests run it with the suite, so ``make test`` and CI fail on a
broken contract.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pyproject.toml"


def lint_imports(source: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the project's contracts, over the package found in ``source``."""
    command = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
               "sys.exit(lint_imports_command())", "--config", str(CONFIG), "--no-cache"]
    env = {**os.environ, "PYTHONPATH": str(source)}
    return subprocess.run(command, cwd=source, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_the_adapters_keep_the_import_contracts() -> None:
    result = lint_imports(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


def test_no_adapter_is_excused_from_the_one_door() -> None:
    """The list of imports an adapter was excused for is gone (the enums moved to vocabulary modules)."""
    import tomllib

    contracts = tomllib.loads(CONFIG.read_text())["tool"]["importlinter"]["contracts"]
    assert all(not contract.get("ignore_imports") for contract in contracts)


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """The package's Python code, copied where a test may add a module to it."""
    shutil.copytree(ROOT / "src" / "opendsp", tmp_path / "opendsp",
                    ignore=shutil.ignore_patterns("__pycache__", "static", "templates", "locale", "*.yaml"))
    return tmp_path


ADAPTER_IMPORTS = [
    ("a portal page importing the documents table", "web/holder/peek.py",
     "from opendsp.documents.models import Document\n", "opendsp.web.holder.peek -> opendsp.documents.models"),
    ("the console importing the trace's table, inside a function", "console/peek.py",
     "def peek():\n    from opendsp.trace.models import TraceEntry\n    return TraceEntry\n",
     "opendsp.console.peek -> opendsp.trace.models"),
    ("a portal page importing the content store", "web/peek.py",
     "from opendsp.content import stores\n", "opendsp.web.peek -> opendsp.content.stores"),
    ("an encounter importing the stays' table for its enums", "fhir/peek.py",
     "from opendsp.stays.models import StayState\n", "opendsp.fhir.peek -> opendsp.stays.models"),
    ("the command line reindexing around the platform's door", "cli.py",
     "from opendsp.search.services import reindex\n", "opendsp.cli -> opendsp.search.services"),
    ("a client service writing its own trace event", "clients/peek.py",
     "from opendsp.trace.service import TraceEvent\n", "opendsp.clients.peek -> opendsp.trace.service"),
    ("an account service naming the trace's table", "accounts/peek.py",
     "from opendsp.trace.models import TraceEntry\n", "opendsp.accounts.peek -> opendsp.trace.models"),
    ("the clients' token service reading documents", "clients/peek.py",
     "from opendsp.documents.models import Document\n", "opendsp.clients.peek -> opendsp.documents.models"),
    ("a vocabulary module reaching a table", "trace/vocabulary.py",
     "from opendsp.trace.models import TraceEntry\n", "opendsp.trace.vocabulary -> opendsp.trace.models"),
]


@pytest.mark.parametrize(("case", "path", "code", "named"), ADAPTER_IMPORTS, ids=[c for c, *_ in ADAPTER_IMPORTS])
def test_an_adapter_importing_clinical_data_breaks_the_contract(package_copy: Path, case: str, path: str,
                                                                 code: str, named: str) -> None:
    (package_copy / "opendsp" / path).write_text(code)
    result = lint_imports(package_copy)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout and named in result.stdout


def test_a_name_for_type_checking_only_and_the_door_itself_are_allowed(package_copy: Path) -> None:
    (package_copy / "opendsp" / "web" / "typed.py").write_text(
        "from typing import TYPE_CHECKING\n\nfrom opendsp.access.services import RecordAccess\n\n"
        "if TYPE_CHECKING:\n    from opendsp.documents.models import Document\n")
    result = lint_imports(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr
