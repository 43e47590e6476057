"""Master keys: `keys init`, the missing keyring, rotation that retires old keys."""

from __future__ import annotations

import json
import stat

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from opendsp.clock import FrozenClock, SeededRandomness
from opendsp.content.keys import DEMO_KEY_ID, KeyringFileProvider, MasterKeyError, keyring_path
from opendsp.content.models import RecordKey
from opendsp.platform import Platform
from opendsp.search.models import SearchTerm
from opendsp.settings import Mode, Settings
from opendsp.trace.models import TraceEntry
from tests.factories import deposit_pdf, make_record, read_as_holder, run_jobs


def run(platform: Platform, *args: str, **env: str) -> Result:
    environment = {"OPENDSP_DATABASE_URL": platform.settings.database_url,
                   "OPENDSP_VAR_DIR": str(platform.settings.var_dir), **env}
    return CliRunner().invoke(main_command(), list(args), env=environment, catch_exceptions=False)


def main_command():  # type: ignore[no-untyped-def]
    from opendsp.cli import main

    return main


def test_keys_init_writes_a_private_keyring_with_a_random_key_once(tmp_path, platform: Platform) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "prod-keys" / "master-keys.json"
    env = {"OPENDSP_MASTER_KEY_SOURCE": f"file:{path}", "OPENDSP_MODE": "production"}
    production = Settings(mode=Mode.production, master_key_source=f"file:{path}", database_url="postgresql://x/y")
    # The first start in production names the command that exists.
    with pytest.raises(MasterKeyError, match="create one with `opendsp keys init`"):
        production.check_production()
    assert run(platform, "keys", "init", "--demo", **env).exit_code == 2
    result = run(platform, "keys", "init", **env)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ring = json.loads(path.read_text())
    assert ring["current"] != DEMO_KEY_ID and list(ring["keys"]) == [ring["current"]]
    production.check_production()  # a key of its own: accepted
    again = run(platform, "keys", "init", **env)
    assert again.exit_code == 2 and "never overwritten" in again.output
    assert json.loads(path.read_text()) == ring


def test_a_missing_keyring_is_not_recreated_over_sealed_records(platform: Platform) -> None:
    with platform.transaction() as session:
        deposit_pdf(session, platform, make_record(session, platform))
    path = keyring_path(platform.settings)
    assert path is not None and path.exists()
    path.unlink()
    restarted = Platform(settings=platform.settings, clock=FrozenClock(), randomness=SeededRandomness(1),
                         engine=platform.engine)
    with pytest.raises(MasterKeyError, match="1 record\\(s\\) hold data keys wrapped by it"):
        _ = restarted.keys
    assert not path.exists()
    # The same answer from the command line, with a clear message and no stack trace.
    result = run(platform, "store", "check", "--verify")
    assert result.exit_code != 0 and "is missing" in result.output


def test_a_fresh_development_instance_still_gets_the_demo_keyring(platform: Platform) -> None:
    assert platform.keys.current_key_id == DEMO_KEY_ID


def test_keys_init_with_keys_from_the_environment_says_where_they_go_and_writes_nothing(tmp_path, platform: Platform) -> None:  # type: ignore[no-untyped-def]
    var = tmp_path / "var"
    result = CliRunner().invoke(main_command(), ["keys", "init"], catch_exceptions=False, env={
        "OPENDSP_DATABASE_URL": platform.settings.database_url, "OPENDSP_VAR_DIR": str(var),
        "OPENDSP_MASTER_KEY_SOURCE": "env", "OPENDSP_MASTER_KEYS": ""})
    assert result.exit_code == 2 and "OPENDSP_MASTER_KEYS" in result.output
    assert "openssl rand -base64 32" in result.output
    assert [path for path in var.rglob("*") if path.is_file()] == []  # no keyring, no key of any kind


def test_keys_init_demo_writes_back_the_demo_keyring_that_sealed_the_records(platform: Platform) -> None:
    with platform.transaction() as session:
        document = deposit_pdf(session, platform, make_record(session, platform))
    path = keyring_path(platform.settings)
    assert path is not None
    path.unlink()
    result = run(platform, "keys", "init", "--demo")
    assert result.exit_code == 0, result.output
    assert json.loads(path.read_text())["current"] == DEMO_KEY_ID
    restarted = Platform(settings=platform.settings, clock=FrozenClock(), randomness=SeededRandomness(1),
                         engine=platform.engine)
    with restarted.sessions() as session:
        assert read_as_holder(session, restarted, document)


def test_rotate_with_retire_leaves_only_the_new_key_and_content_still_reads(platform: Platform) -> None:
    from opendsp.documents.types import FHIR_MEDIA_TYPE
    from opendsp.structured.models import StructuredCode, StructuredEntry
    from tests.factories import as_holder, holder_draft
    from tests.records.test_erasure import lab_bundle_bytes

    with platform.transaction() as session:
        record = make_record(session, platform)
        document = deposit_pdf(session, platform, record)
        as_holder(session, platform, record).deposit(
            record.id, holder_draft("Blood count", media_type=FHIR_MEDIA_TYPE), [lab_bundle_bytes()])
    run_jobs(platform)  # the keyword index, under the key of the day
    with platform.sessions() as session:
        entries = session.scalar(select(func.count()).select_from(StructuredEntry))
        codes = session.scalar(select(func.count()).select_from(StructuredCode))
    assert entries and codes
    old = platform.keys.current_key_id
    result = run(platform, "keys", "rotate", "--retire")
    assert result.exit_code == 0, result.output
    # Search tokens derived from the old key keep it alive until the index is rewritten.
    assert f"still used, kept: {old}" in result.output
    refused = run(platform, "keys", "retire", old)
    refusal = " ".join(refused.output.split())
    assert refused.exit_code == 2 and "structured index code(s)" in refusal and "reindex --all" in refusal
    assert run(platform, "search", "reindex", "--all").exit_code == 0
    assert run(platform, "keys", "retire", old).exit_code == 0
    ring = KeyringFileProvider(keyring_path(platform.settings), create_demo=False)  # type: ignore[arg-type]
    assert old not in ring.key_ids() and len(ring.key_ids()) == 1
    reread = Platform(settings=platform.settings, clock=FrozenClock(), randomness=SeededRandomness(2),
                      engine=platform.engine)
    with reread.sessions() as session:
        assert read_as_holder(session, reread, document)
        assert session.scalar(select(func.count()).select_from(SearchTerm).where(SearchTerm.master_key_id == old)) == 0
        # The structured index was written again under the new key, not doubled.
        assert session.scalar(select(func.count()).select_from(StructuredEntry)) == entries
        assert session.scalar(select(func.count()).select_from(StructuredCode)) == codes
        actions = list(session.scalars(select(TraceEntry.action).where(TraceEntry.action.like("keys.%"))))
    assert sorted(actions) == ["keys.retire", "keys.rotate"]


def test_a_key_still_wrapping_a_record_key_is_never_retired(platform: Platform) -> None:
    with platform.transaction() as session:
        document = deposit_pdf(session, platform, make_record(session, platform))
    old = platform.keys.current_key_id
    keyring = platform.keys
    assert isinstance(keyring, KeyringFileProvider)
    keyring.add_key(platform.randomness)  # a new current key, but no rotation
    result = run(platform, "keys", "retire", old)
    assert result.exit_code == 2 and "1 record data key(s)" in result.output and "keys rotate" in result.output
    current = run(platform, "keys", "retire", keyring.current_key_id)
    assert current.exit_code == 2 and "current one" in current.output
    assert run(platform, "keys", "retire", "k-unknown").exit_code == 2
    with platform.sessions() as session:
        assert session.get(RecordKey, document.record_id).master_key_id == old  # type: ignore[union-attr]
        assert read_as_holder(session, platform, document)
