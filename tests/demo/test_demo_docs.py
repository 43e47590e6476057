"""docs/demo.md names the identities the demo really creates."""

from __future__ import annotations

import re
from pathlib import Path

from opendsp.demo.plan import make_plan

DOC = Path(__file__).parents[2] / "docs" / "demo.md"


def test_the_documented_identities_are_those_of_the_default_seed() -> None:
    plan = make_plan(20260101)
    text = DOC.read_text(encoding="utf-8")
    documented_numbers = set(re.findall(r"^\| (\d{13}) \|", text, flags=re.MULTILINE))
    documented_licences = set(re.findall(r"^\| (DEMO-PS-\d+) \|", text, flags=re.MULTILINE))
    assert documented_numbers == {p.national_number for p in plan.persons}
    assert documented_licences == {p.licence_number for p in plan.professionals}
