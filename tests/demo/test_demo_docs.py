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


README = Path(__file__).parents[2] / "README.md"


def test_the_readme_puts_each_holder_beside_their_own_general_practitioner() -> None:
    """The README's table of demo logins: the general practitioner first named is the holders' referring doctor,
    the first run's minutes are announced, and no professional is said to be asked what they are never asked."""
    plan = make_plan(20260101)
    text = README.read_text(encoding="utf-8")
    table = text.split("## Demo identities", 1)[1].split("\n\n[docs/demo.md]", 1)[0]
    holders = re.findall(r"^\| [^|]*\| [^|]*\| `(\d{13})` \|", table, flags=re.MULTILINE)
    practitioner = re.search(r"^\| [^|]*general practitioner[^|]*\| [^|]*\| `(DEMO-PS-\d+)` \|", table,
                             flags=re.MULTILINE)
    assert holders and practitioner is not None
    by_number = {p.national_number: p for p in plan.persons}
    for number in holders:
        assert plan.referring_doctors[by_number[number].index].licence_number == practitioner.group(1)
    assert "after logging in\nand choosing the organisation" not in text
    assert "first `make run`\ntakes a few minutes" in text
