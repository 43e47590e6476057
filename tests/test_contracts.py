"""The import contracts of pyproject.toml hold, and they would catch an adapter reaching clinical data itself.

Adapters (web, console, the clients, the command line, FHIR) and the accounts reach documents, content, stays,
the trace, the indexes and notifications only through ``RecordAccess`` (issue 12; docs/architecture.md, "The one
door"); the command line runs platform jobs through ``PlatformJobs``; adapters, accounts and clients write the trace only
through ``write_trace``; vocabulary modules hold no table.
``lint-imports`` checks it from the code; these tests run it with the suite, so ``make test`` and CI fail on a
broken contract.
"""

from __future__ import annotations

import ast
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
    ("the command line backing up around the platform's door", "cli.py",
     "from opendsp.backup.services import backup\n", "opendsp.cli -> opendsp.backup.services"),
    ("the command line importing the population around the platform's door", "cli.py",
     "from opendsp.population.importer import import_population\n", "opendsp.cli -> opendsp.population.importer"),
    ("a client service writing its own trace event", "clients/peek.py",
     "from opendsp.trace.service import TraceEvent\n", "opendsp.clients.peek -> opendsp.trace.service"),
    ("an account service naming the trace's table", "accounts/peek.py",
     "from opendsp.trace.models import TraceEntry\n", "opendsp.accounts.peek -> opendsp.trace.models"),
    ("an account service reading the assistants' delegations", "accounts/peek.py",
     "from opendsp.access.models import AssistantDelegation\n", "opendsp.accounts.peek -> opendsp.access.models"),
    ("the metrics endpoint counting the outbox's rows itself", "metrics.py",
     "def peek():\n    from opendsp.notifications.models import OutboxMessage\n    return OutboxMessage\n",
     "opendsp.metrics -> opendsp.notifications.models"),
    ("the HL7 v2 listener reading the stays' table", "stays/mllp.py",
     "from opendsp.stays.models import Stay\n", "opendsp.stays.mllp -> opendsp.stays.models"),
    ("an account service writing into the outbox's table", "accounts/peek.py",
     "from opendsp.notifications.models import OutboxMessage\n",
     "opendsp.accounts.peek -> opendsp.notifications.models"),
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


# -- the gate: the only code that turns an act into a permit (docs/adr/0023-the-gate-and-feature-modules.md) ----

GATE = "opendsp.access.gate"
# What any module may take from the policy's decision module: the refusal, and the types of what the gate hands
# out. ``decide``, ``visibility``, ``acting_role``, ``stay_basis`` and whatever is added there later are the gate's.
DECISION_NAMES = {"AccessDenied", "Decision", "Visibility", "HOLDER_SIDE"}
# A decision's fields: ``dataclasses.replace`` naming one of them turns a permit into another one.
DECISION_FIELDS = {"effect", "action", "reason", "basis", "obligations", "record_id", "document_id", "how_to_obtain"}


NOTIFYING = {"notify", "services"}


def gate_violations(module: str, source: str) -> list[str]:
    """How ``module`` (its dotted name and code) would make or copy a permit, write the trace or notify beside the
    gate: empty for the gate itself and for the policy, which is where permits are made."""
    if module == GATE or module.startswith("opendsp.policy."):
        return []
    in_access = module.startswith("opendsp.access.")
    found: list[str] = []
    replace_names = {"replace"} if "from dataclasses import" in source else set()
    for node in ast.walk(ast.parse(source)):
        line = f"{module}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.ImportFrom) and node.module == "opendsp.policy.decision":
            found += [f"{line} imports {a.name} from the policy" for a in node.names if a.name not in DECISION_NAMES]
        elif isinstance(node, ast.ImportFrom) and node.module == "opendsp.policy.vocabulary":
            found += [f"{line} imports Effect" for a in node.names if a.name == "Effect"]
        elif isinstance(node, ast.ImportFrom) and node.module == "opendsp.policy":
            found += [f"{line} imports the decision module" for a in node.names if a.name == "decision"]
        elif isinstance(node, ast.Import):
            found += [f"{line} imports the decision module" for a in node.names if a.name == "opendsp.policy.decision"]
        elif isinstance(node, ast.Call):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if called in ("Decision", "AccessRequest"):
                found.append(f"{line} constructs a {called}")
            if called in replace_names and {k.arg for k in node.keywords} & DECISION_FIELDS:
                found.append(f"{line} copies a decision with other fields")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_Gate__"):
            found.append(f"{line} calls the gate's private {node.attr}")
        if not in_access:
            continue
        # Within the access package, the trace and the notifications are written by the gate only, and an
        # answer to a question (``would``: decided, never traced) is never used as an act's permit.
        if isinstance(node, ast.Attribute) and node.attr == "append" and isinstance(node.value, ast.Attribute) \
                and node.value.attr == "trace":
            found.append(f"{line} appends to the trace")
        elif isinstance(node, ast.Attribute) and node.attr == "would":
            found.append(f"{line} takes an untraced decision (would)")
        elif isinstance(node, ast.ImportFrom) and node.module == "opendsp.trace.service":
            found += [f"{line} imports {a.name} from the trace" for a in node.names if a.name == "TraceWriter"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("opendsp.notifications"):
            # Reading the outbox's state or retrying a given-up e-mail (a platform job) is not notifying.
            found += [f"{line} imports the notifications' {a.name}" for a in node.names if a.name in NOTIFYING]
    return found


def package_modules() -> dict[str, str]:
    package = ROOT / "src" / "opendsp"
    return {".".join(("opendsp", *path.relative_to(package).with_suffix("").parts)): path.read_text()
            for path in sorted(package.rglob("*.py"))}


def test_only_the_gate_makes_permits_writes_the_access_trace_and_notifies() -> None:
    modules = package_modules()
    assert GATE in modules
    assert [v for module, source in modules.items() for v in gate_violations(module, source)] == []


FORGED_PERMITS = [
    ("a feature module deciding for itself", "opendsp.access.reading",
     "from opendsp.policy.decision import decide\n", "imports decide"),
    ("an adapter building a decision", "opendsp.web.holder.peek",
     "from opendsp.policy.decision import Decision\nfrom opendsp.policy.vocabulary import Action, Effect, Reason\n"
     "PERMIT = Decision(effect=Effect.permit, action=Action.consult_document, reason=Reason.holder)\n",
     "constructs a Decision"),
    ("a feature module widening a permit it was handed", "opendsp.access.changes",
     "from dataclasses import replace\n\ndef widen(permit, other):\n    return replace(permit, document_id=other)\n",
     "copies a decision"),
    ("a feature module asking the policy with facts of its own", "opendsp.access.exchange",
     "from opendsp.policy.facts import AccessRequest\n\ndef ask(actor):\n    return AccessRequest(actor=actor)\n",
     "constructs a AccessRequest"),
    ("a feature module calling the gate's private trace", "opendsp.access.holder_views",
     "class Peek:\n    def peek(self, decision):\n        self._Gate__trace(decision, document_id=None, context={})\n",
     "_Gate__trace"),
    ("a feature module writing the trace itself", "opendsp.access.opening",
     "def write(self, session, event):\n    return self.platform.trace.append(session, event)\n",
     "appends to the trace"),
    ("a feature module acting on the answer to a question", "opendsp.access.reading",
     "def peek(self, record_id, action):\n    return self.would(record_id, action)\n", "untraced decision"),
    ("a feature module notifying the holder itself", "opendsp.access.stay_access",
     "from opendsp.notifications import services as notifications\n", "notifications"),
]


@pytest.mark.parametrize(("case", "module", "code", "named"), FORGED_PERMITS, ids=[c for c, *_ in FORGED_PERMITS])
def test_a_permit_made_beside_the_gate_is_caught(case: str, module: str, code: str, named: str) -> None:
    source = package_modules()[module] + "\n" + code if module in package_modules() else code
    found = gate_violations(module, source)
    assert any(named in v for v in found), found
    assert gate_violations(GATE, source) == []  # the same code in the gate is the gate's own


def test_a_feature_module_cannot_reach_the_gates_trace_by_its_name() -> None:
    """The steps that write the trace are private to the gate: a subclass calling them finds nothing."""
    from opendsp.access.gate import Gate

    class Sneaky(Gate):
        def sneak(self) -> None:
            self.__trace()  # type: ignore[attr-defined]  # Python makes it ``_Sneaky__trace``

    assert hasattr(Gate, "_Gate__trace")
    with pytest.raises(AttributeError, match="_Sneaky__trace"):
        Sneaky.sneak(object.__new__(Sneaky))


# The platform object an adapter holds carries the content store and the trace writer as attributes, which no
# import contract sees: the adapters may not reach them (they act through RecordAccess or PlatformJobs).
ADAPTER_PACKAGES = ("opendsp.web", "opendsp.console", "opendsp.clients", "opendsp.cli", "opendsp.fhir",
                    "opendsp.accounts", "opendsp.stays.mllp", "opendsp.metrics", "opendsp.health")
BEHIND_THE_DOOR = {"content", "trace"}


def platform_attribute_uses(module: str, source: str) -> list[str]:
    """Where ``module`` reads ``platform.content`` or ``platform.trace`` (``x.platform.trace`` too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in BEHIND_THE_DOOR:
            holder = node.value
            name = holder.id if isinstance(holder, ast.Name) else getattr(holder, "attr", None)
            if name == "platform":
                found.append(f"{module}:{node.lineno} reads platform.{node.attr}")
    return found


def test_no_adapter_reaches_the_content_store_or_the_trace_through_the_platform() -> None:
    adapters = {m: s for m, s in package_modules().items() if m.startswith(ADAPTER_PACKAGES)}
    assert "opendsp.fhir.api" in adapters or any(m.startswith("opendsp.fhir.") for m in adapters)
    assert [v for module, source in adapters.items() for v in platform_attribute_uses(module, source)] == []


@pytest.mark.parametrize("code", [
    "def f(platform):\n    return platform.content.open(None, 'k')\n",
    "def f(request):\n    return request.app.state.platform.trace.append(None, None)\n",
])
def test_an_adapter_reading_the_platforms_content_or_trace_is_caught(code: str) -> None:
    assert platform_attribute_uses("opendsp.web.peek", code)
