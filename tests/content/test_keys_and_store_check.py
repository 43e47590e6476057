"""Rotation, retirement, erasure and `store check --verify` together: what the operator runs in a year's life.

After `keys rotate --retire`, `search reindex --all` and `keys retire`, every live document still reads and
`store check --verify` is clean; an erased record (its key destroyed) holds no master key back and is never
reported unreadable; and a backup taken before the retirement names the retired key, which its restore then
needs (keep the keyring copy of before the retirement as long as those backups).
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from opendsp.clock import FrozenClock, SeededRandomness
from opendsp.content.keys import KeyringFileProvider, keyring_path
from opendsp.platform import Platform
from opendsp.records.models import Record
from tests.factories import as_holder, deposit_pdf, holder_of, make_record, read_as_holder, run_jobs


def run(platform: Platform, *args: str, **env: str) -> Result:
    from opendsp.cli import main

    environment = {"OPENDSP_DATABASE_URL": platform.settings.database_url,
                   "OPENDSP_VAR_DIR": str(platform.settings.var_dir), **env}
    return CliRunner().invoke(main, list(args), env=environment, catch_exceptions=False)


def said(result: Result) -> str:
    return " ".join(result.output.split())


def test_rotation_retirement_and_erasure_leave_store_check_verify_clean(platform: Platform, tmp_path: Path) -> None:
    with platform.transaction() as session:
        kept = deposit_pdf(session, platform, make_record(session, platform))
        gone_record = make_record(session, platform)
        deposit_pdf(session, platform, gone_record)
        as_holder(session, platform, gone_record).close(gone_record.id, reason="deceased")
        number = holder_of(session, gone_record).national_number
    run_jobs(platform)  # the keyword index, under the key of the day
    old = platform.keys.current_key_id
    before_retirement = tmp_path / "backup-before"
    assert run(platform, "backup", str(before_retirement)).exit_code == 0

    erased = run(platform, "records", "erase", number, "--basis", "death", "--reason", "died 2010", "--yes")
    assert erased.exit_code == 0, erased.output
    rotated = run(platform, "keys", "rotate", "--retire")
    assert rotated.exit_code == 0, rotated.output
    assert run(platform, "search", "reindex", "--all").exit_code == 0
    # The erased record's destroyed key holds nothing back: only the live index had to move.
    retired = run(platform, "keys", "retire", old)
    assert retired.exit_code == 0, retired.output

    checked = run(platform, "store", "check", "--verify")
    assert checked.exit_code == 0, checked.output
    assert "UNREADABLE" not in checked.output and "MISSING" not in checked.output
    ring = KeyringFileProvider(keyring_path(platform.settings), create_demo=False)  # type: ignore[arg-type]
    assert old not in ring.key_ids()
    reread = Platform(settings=platform.settings, clock=FrozenClock(), randomness=SeededRandomness(4),
                      engine=platform.engine)
    with reread.sessions() as session:
        assert read_as_holder(session, reread, kept)
        assert session.get(Record, gone_record.id) is not None  # the record itself stays, erased

    # A backup from before the retirement needs the retired key: its restore says so, naming it.
    # (The key check comes before anything touches the target, so a new SQLite file stands for any target.)
    refused = run(platform, "restore", str(before_retirement),
                  OPENDSP_DATABASE_URL=f"sqlite:///{tmp_path / 'elsewhere' / 'opendsp.db'}",
                  OPENDSP_VAR_DIR=str(tmp_path / "elsewhere"),
                  OPENDSP_MASTER_KEY_SOURCE=f"file:{keyring_path(platform.settings)}")
    if platform.settings.database_kind == "sqlite":
        assert refused.exit_code == 2 and old in said(refused), refused.output
    else:  # a PostgreSQL backup is refused first for its kind of database
        assert refused.exit_code == 2 and "postgresql" in said(refused), refused.output
