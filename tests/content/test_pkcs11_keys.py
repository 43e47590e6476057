"""Master keys in a PKCS#11 token: SoftHSM2, started for real in a directory of the test session.

Skipped, with the reason, when softhsm2 or the python-pkcs11 library is missing
(``.ci/run`` installs Debian's softhsm2).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.exceptions import InvalidTag
from sqlalchemy import select

from opendsp.clock import FrozenClock, SeededRandomness
from opendsp.content.keys import MasterKeyError, key_provider_from_settings
from opendsp.content.models import RecordKey
from opendsp.migrations import upgrade
from opendsp.platform import Platform
from opendsp.settings import InsecureSettings, Mode, Settings
from tests.factories import deposit_pdf, make_record, read_as_holder, run_jobs

PIN, SO_PIN = "2718281828", "3141592653"
# Tokens are created before the module is loaded: SoftHSM2 reads its token directory once per process.
TOKENS = ("opendsp-a", "opendsp-b", "opendsp-never-opened")
MODULE_PATHS = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so")


def _softhsm_skip_reason() -> str | None:
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        return "the python-pkcs11 library is not installed (pip install opendsp[hsm])"
    if shutil.which("softhsm2-util") is None or not any(Path(p).is_file() for p in MODULE_PATHS):
        return "SoftHSM2 is not installed (apt-get install softhsm2)"
    return None


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The SoftHSM2 module, with this session's tokens in a directory of its own."""
    if reason := _softhsm_skip_reason():
        pytest.skip(reason)
    module = next(p for p in MODULE_PATHS if Path(p).is_file())
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    config = base / "softhsm2.conf"
    config.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(config)
    for label in TOKENS:
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SO_PIN],
                       check=True, capture_output=True)
    return module


def _empty(module: str, label: str) -> None:
    """Destroy every object in a token, so that each test starts from an empty one."""
    from opendsp.content.pkcs11_keys import _open

    session, lock = _open(module, label, PIN)
    with lock:
        for item in list(session.get_objects()):
            item.destroy()


def hsm_settings(module: str, label: str, base: Path, database_url: str, **changes: object) -> Settings:
    return Settings(var_dir=base / "var", database_url=database_url, master_key_source="pkcs11",
                    pkcs11_module=module, pkcs11_token_label=label, pkcs11_pin=PIN, **changes)  # type: ignore[arg-type]


def hsm_env(settings: Settings, **env: str) -> dict[str, str]:
    return {"OPENDSP_DATABASE_URL": settings.database_url, "OPENDSP_VAR_DIR": str(settings.var_dir),
            "OPENDSP_MASTER_KEY_SOURCE": "pkcs11", "OPENDSP_PKCS11_MODULE": str(settings.pkcs11_module),
            "OPENDSP_PKCS11_TOKEN_LABEL": str(settings.pkcs11_token_label), "OPENDSP_PKCS11_PIN": PIN, **env}


def run(*args: str, env: dict[str, str]) -> Result:
    from opendsp.cli import main

    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def empty_token(softhsm: str) -> str:
    _empty(softhsm, "opendsp-a")
    return "opendsp-a"


@pytest.fixture
def hsm_platform(softhsm: str, empty_token: str, tmp_path: Path, database_url: str) -> Iterator[Platform]:
    settings = hsm_settings(softhsm, empty_token, tmp_path, database_url)
    result = run("keys", "init", env=hsm_env(settings))
    assert result.exit_code == 0 and "generated in the PKCS#11 token opendsp-a" in result.output, result.output
    platform = Platform(settings=settings, clock=FrozenClock(), randomness=SeededRandomness(7))
    assert platform.engine is not None
    upgrade(platform.engine)
    yield platform
    platform.engine.dispose()


def test_a_document_is_sealed_and_read_back_with_its_data_key_wrapped_in_the_token(hsm_platform: Platform) -> None:
    key_id = hsm_platform.keys.current_key_id
    assert key_id.startswith("h-") and not hasattr(hsm_platform.keys, "key")  # no key bytes to give
    with hsm_platform.transaction() as session:
        record = make_record(session, hsm_platform)
        document = deposit_pdf(session, hsm_platform, record, content=b"%PDF-1.4 sealed under the HSM %%EOF")
    restarted = Platform(settings=hsm_platform.settings, clock=FrozenClock(), randomness=SeededRandomness(8),
                         engine=hsm_platform.engine)
    with restarted.sessions() as session:
        assert read_as_holder(session, restarted, document) == b"%PDF-1.4 sealed under the HSM %%EOF"
        row = session.scalars(select(RecordKey).where(RecordKey.record_id == record.id)).one()
    assert row.master_key_id == key_id and row.wrapped_key is not None
    # The wrapped form is the development providers' one: nonce, data key, tag.
    assert len(row.wrapped_key) == 12 + 32 + 16
    # Bound to its record: the same wrapped key does not open for another record's context.
    with pytest.raises(InvalidTag):
        restarted.keys.unwrap(key_id, row.wrapped_key, b"another record")


def test_rotation_in_the_token_keeps_old_documents_open_and_retires_an_unused_key(hsm_platform: Platform) -> None:
    from opendsp.content.pkcs11_keys import WRAP_ID, _open

    env = hsm_env(hsm_platform.settings)
    with hsm_platform.transaction() as session:
        document = deposit_pdf(session, hsm_platform, make_record(session, hsm_platform))
    run_jobs(hsm_platform)  # its search tokens, derived in the token under the current key
    old = hsm_platform.keys.current_key_id
    result = run("keys", "rotate", "--retire", env=env)
    assert result.exit_code == 0, result.output
    rotated = key_provider_from_settings(hsm_platform.settings)
    new = rotated.current_key_id
    assert new != old and new > old and f"new master key {new} is current" in result.output
    # The search tokens derived in the token under the old key keep it until the index is rewritten.
    assert f"still used, kept: {old}" in result.output
    reread = Platform(settings=hsm_platform.settings, clock=FrozenClock(), randomness=SeededRandomness(9),
                      engine=hsm_platform.engine)
    with reread.sessions() as session:
        assert read_as_holder(session, reread, document)
        assert set(session.scalars(select(RecordKey.master_key_id))) == {new}
    assert run("search", "reindex", "--all", env=env).exit_code == 0
    assert run("keys", "retire", new, env=env).exit_code == 2  # the current key never
    retired = run("keys", "retire", old, env=env)
    assert retired.exit_code == 0, retired.output
    assert rotated.key_ids() == [new]
    session, lock = _open(hsm_platform.settings.pkcs11_module, hsm_platform.settings.pkcs11_token_label, PIN)  # type: ignore[arg-type]
    with lock:
        assert [o.label for o in session.get_objects({_attribute("LABEL"): old})] == []  # both objects destroyed
        assert len(list(session.get_objects({_attribute("ID"): WRAP_ID}))) == 1
    with reread.sessions() as session:
        assert read_as_holder(session, reread, document)


def _attribute(name: str) -> object:
    import pkcs11

    return getattr(pkcs11.Attribute, name)


def test_the_master_key_never_leaves_the_token(softhsm: str, empty_token: str) -> None:
    import pkcs11

    from opendsp.content.pkcs11_keys import INDEX_ID, WRAP_ID, Pkcs11KeyProvider, _open

    key_id = Pkcs11KeyProvider(softhsm, empty_token, PIN).add_key(SeededRandomness(4))
    session, lock = _open(softhsm, empty_token, PIN)
    with lock:
        wrapping = session.get_key(label=key_id, id=WRAP_ID)
        index = session.get_key(label=key_id, id=INDEX_ID)
        exporter = session.generate_key(pkcs11.KeyType.AES, 256, store=False,
                                        template={pkcs11.Attribute.WRAP: True})
        for key in (wrapping, index):
            assert key[pkcs11.Attribute.SENSITIVE] and not key[pkcs11.Attribute.EXTRACTABLE]
            assert key[pkcs11.Attribute.NEVER_EXTRACTABLE] and key[pkcs11.Attribute.ALWAYS_SENSITIVE]
            with pytest.raises(pkcs11.AttributeSensitive):
                key[pkcs11.Attribute.VALUE]  # noqa: B018
            with pytest.raises(pkcs11.PKCS11Error):  # not even wrapped by another key of the token
                exporter.wrap_key(key, mechanism=pkcs11.Mechanism.AES_KEY_WRAP_PAD)
            with pytest.raises(pkcs11.PKCS11Error):  # and not made extractable after the fact
                key[pkcs11.Attribute.EXTRACTABLE] = True
        assert wrapping.key_type == pkcs11.KeyType.AES and wrapping.key_length == 256


def test_a_key_wrapped_by_one_token_does_not_unwrap_with_another(softhsm: str, empty_token: str) -> None:
    from opendsp.content.pkcs11_keys import Pkcs11KeyProvider

    _empty(softhsm, "opendsp-b")
    first = Pkcs11KeyProvider(softhsm, empty_token, PIN)
    second = Pkcs11KeyProvider(softhsm, "opendsp-b", PIN)
    first_id, second_id = first.add_key(SeededRandomness(1)), second.add_key(SeededRandomness(2))
    data_key = bytes(range(32))
    key_id, wrapped = first.wrap(data_key, b"record 1", SeededRandomness(3))
    assert key_id == first_id and first.unwrap(key_id, wrapped, b"record 1") == data_key
    with pytest.raises(MasterKeyError, match="is not in the PKCS#11 token 'opendsp-b'"):
        second.unwrap(first_id, wrapped, b"record 1")
    with pytest.raises(InvalidTag):  # the other token's own key: the tag does not verify
        second.unwrap(second_id, wrapped, b"record 1")
    # Index keys are derived in each token from its own secret.
    assert first.index_key(first_id, b"label") != second.index_key(second_id, b"label")
    assert first.index_key(first_id, b"label") == Pkcs11KeyProvider(softhsm, empty_token, PIN).index_key(
        first_id, b"label")


def test_a_wrong_pin_a_missing_token_or_an_empty_one_stops_the_start(
        softhsm: str, empty_token: str, tmp_path: Path) -> None:
    base = hsm_settings(softhsm, empty_token, tmp_path, "postgresql://x/y", mode=Mode.production)
    cases = [
        ({"pkcs11_token_label": "opendsp-never-opened", "pkcs11_pin": "0000"}, "refused the PIN"),
        ({"pkcs11_token_label": "no-such-token"}, "no PKCS#11 token labelled 'no-such-token'"),
        ({"pkcs11_module": str(tmp_path / "missing.so")}, "does not exist"),
        ({"pkcs11_pin": None}, "needs OPENDSP_PKCS11_PIN or OPENDSP_PKCS11_PIN_FILE"),
        ({"pkcs11_pin": None, "pkcs11_pin_file": tmp_path / "no-pin"}, "PIN file .* cannot be read"),
        ({}, "holds no OpenDSP master key: create one with `opendsp keys init`"),
    ]
    for changes, message in cases:
        with pytest.raises(MasterKeyError, match=message):
            base.model_copy(update=changes).check_production()
    # The same at the command line: a sentence and exit status 2, no stack trace, nothing served.
    env = hsm_env(base, OPENDSP_MODE="production", OPENDSP_PKCS11_TOKEN_LABEL="opendsp-never-opened",
                  OPENDSP_PKCS11_PIN="0000")
    result = run("serve", env=env)
    assert result.exit_code == 2 and "refused the PIN" in result.output


def test_production_accepts_keys_in_the_token_and_still_refuses_the_demo_key(
        softhsm: str, empty_token: str, tmp_path: Path) -> None:
    settings = hsm_settings(softhsm, empty_token, tmp_path, "postgresql://x/y", mode=Mode.production)
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")
    settings = settings.model_copy(update={"pkcs11_pin": None, "pkcs11_pin_file": pin_file})
    result = run("keys", "init", env=hsm_env(settings, OPENDSP_MODE="production"))
    assert result.exit_code == 0, result.output
    settings.check_production()
    assert not key_provider_from_settings(settings).uses_demo_key()
    again = run("keys", "init", env=hsm_env(settings, OPENDSP_MODE="production"))
    assert again.exit_code == 2 and "already holds master key(s)" in again.output
    demo = Settings(mode=Mode.production, var_dir=tmp_path / "demo", database_url="postgresql://x/y",
                    master_key_source=f"file:{tmp_path / 'demo-keys.json'}")
    assert run("keys", "init", "--demo", env={"OPENDSP_MASTER_KEY_SOURCE": demo.master_key_source,
                                              "OPENDSP_VAR_DIR": str(tmp_path / "demo")}).exit_code == 0
    with pytest.raises(InsecureSettings, match="demo master key"):
        demo.check_production()


def test_a_forked_worker_opens_the_token_again_and_unwraps_what_its_parent_wrapped(
        softhsm: str, empty_token: str) -> None:
    from opendsp.content.pkcs11_keys import Pkcs11KeyProvider

    parent = Pkcs11KeyProvider(softhsm, empty_token, PIN)
    parent.add_key(SeededRandomness(5))
    key_id, wrapped = parent.wrap(b"k" * 32, b"record 2", SeededRandomness(6))
    parents_session = parent._session
    child = os.fork()
    if child == 0:  # a web worker forked after the start-up checks opened the token
        status = 1
        try:
            # PKCS#11 sessions do not cross a fork (SoftHSM2 tolerates it, network HSMs do not):
            # the parent's provider, as a platform built before the fork holds it, opens its own.
            status = 2 if parent._session is parents_session else 0
            status = status or (0 if parent.unwrap(key_id, wrapped, b"record 2") == b"k" * 32 else 3)
        finally:
            os._exit(status)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert parent.unwrap(key_id, wrapped, b"record 2") == b"k" * 32  # the parent's session is still its own



def test_readiness_wraps_in_the_token_and_names_only_master_keys_when_its_key_is_gone(
        softhsm: str, hsm_platform: Platform) -> None:
    from fastapi.testclient import TestClient

    from opendsp.content.pkcs11_keys import Pkcs11KeyProvider
    from opendsp.web.app import create_app

    assert isinstance(hsm_platform.keys, Pkcs11KeyProvider)
    client = TestClient(create_app(platform=hsm_platform))
    ready = client.get("/healthz/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ok", "checks": {
        "database": "ok", "content_store": "ok", "master_keys": "ok"}})
    _empty(softhsm, "opendsp-a")  # the key's objects destroyed in the token the process has open
    ready = client.get("/healthz/ready")
    assert (ready.status_code, ready.json()) == (503, {"status": "unavailable", "checks": {
        "database": "ok", "content_store": "ok", "master_keys": "failed"}})
    for secret in (PIN, "opendsp-a", softhsm):
        assert secret not in ready.text


def test_a_server_whose_token_is_removed_is_unready_naming_only_master_keys(
        softhsm: str, platform: Platform, tmp_path: Path) -> None:
    from tests.deploy.processes import environment, free_port, probe, running, wait_ready

    # A directory of tokens of its own: SoftHSM2 cannot bring a removed token back into a process that had it
    # open, and the other tests of this process share theirs.
    (tmp_path / "tokens").mkdir()
    config = tmp_path / "softhsm2.conf"
    config.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    label = "opendsp-removed"
    own = {"SOFTHSM2_CONF": str(config)}
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SO_PIN],
                   check=True, capture_output=True, env={**os.environ, **own})
    settings = hsm_settings(softhsm, label, tmp_path, platform.settings.database_url)
    assert settings.var_dir == platform.settings.var_dir  # the migrated database's folder
    env = environment(platform, **hsm_env(settings), **own)
    initialised = subprocess.run([sys.executable, "-m", "opendsp.cli", "keys", "init"], env=env, capture_output=True,
                                 text=True)
    assert initialised.returncode == 0, initialised.stderr
    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz/ready"
    with running([sys.executable, "-m", "opendsp.cli", "serve", "--port", str(port)], env) as server:
        assert wait_ready(url, server)["checks"] == {"database": "ok", "content_store": "ok", "master_keys": "ok"}
        subprocess.run(["softhsm2-util", "--delete-token", "--token", label], check=True, capture_output=True,
                       env={**os.environ, **own})
        status, body = probe(url)
        assert (status, body) == (503, {"status": "unavailable", "checks": {
            "database": "ok", "content_store": "ok", "master_keys": "failed"}})
        assert PIN not in str(body) and label not in str(body) and softhsm not in str(body)
        assert probe(f"http://127.0.0.1:{port}/healthz/live")[0] == 200  # unready, not dead: no restart for this
