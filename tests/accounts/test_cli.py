"""The `opendsp letters` and registration commands."""

from __future__ import annotations

import re

from click.testing import CliRunner
from sqlalchemy import select

from opendsp.accounts.models import Account, AccountState
from opendsp.cli import main
from opendsp.platform import Platform
from tests.accounts.portal import read_letters
from tests.factories import make_record


def run(platform: Platform, *args: str):  # type: ignore[no-untyped-def]
    env = {"OPENDSP_DATABASE_URL": platform.settings.database_url, "OPENDSP_VAR_DIR": str(platform.settings.var_dir),
           "OPENDSP_PASSWORD_HASH_PROFILE": "fast"}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_letters_in_batches_for_everyone_not_activated(platform: Platform, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with platform.transaction() as session:
        waiting = [make_record(session, platform, active=False).holder for _ in range(3)]
        make_record(session, platform, active=False)
    out = tmp_path / "letters"
    result = run(platform, "letters", "--out", str(out), "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert "4 letters in 2 files" in result.output
    numbers = [letter.national_number for pdf in sorted(out.glob("*.pdf")) for letter in read_letters(pdf)]
    assert {p.national_number for p in waiting} <= set(numbers) and len(numbers) == 4
    with platform.sessions() as session:
        assert {a.state for a in session.scalars(select(Account))} == {AccountState.letter_sent}
    # Nobody is left waiting: a second run writes nothing; naming a person writes to them again.
    assert "0 letters" in run(platform, "letters", "--out", str(out)).output
    again = run(platform, "letters", waiting[0].national_number, "--out", str(out))
    assert "1 letters in 1 files" in again.output


def test_letters_name_what_they_skip(platform: Platform, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run(platform, "letters", "1980051799999", "--out", str(tmp_path))
    assert result.exit_code == 1 and "skipped" in result.output


def test_staff_and_professionals_are_registered_with_a_one_time_code(platform: Platform) -> None:
    result = run(platform, "staff", "add", "marie", "--name", "Marie Helpdesk", "--role", "helpdesk")
    assert result.exit_code == 0 and re.search(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", result.output)
    assert run(platform, "organisations", "add", "--identifier", "PR1", "--name", "Cabinet", "--kind", "practice").exit_code == 0
    result = run(platform, "professionals", "add", "--licence", "L-77", "--family-name", "Weber", "--given-name", "Jo",
                 "--profession", "physician", "--specialty", "general_practice", "--organisation", "PR1")
    assert result.exit_code == 0 and "activation code" in result.output
    assert run(platform, "professionals", "add", "--licence", "L-78", "--family-name", "W", "--given-name", "J",
               "--profession", "physician", "--organisation", "NOPE").exit_code == 2
