"""The holder's signed extract: downloaded from Traçabilité through the policy, checked offline with nothing
but the extract and the public key, and refused when forged."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from opendsp.cli import main
from opendsp.records.models import Record
from opendsp.clock import FrozenClock, SeededRandomness
from opendsp.platform import Platform
from opendsp.trace.checkpoints import canonical
from opendsp.trace.extract import ExtractRefused, check_extract
from opendsp.trace.signing import create_key, key_id, public_pem
from tests.accounts.portal import Browser, settings  # noqa: F401 - the cheap-hash settings
from tests.trace.test_checkpoints import checkpoint
from tests.factories import as_holder, make_record
from tests.web.holder_world import World, build, entries, log_in, logged_in


@pytest.fixture
def world(platform: Platform, clock: FrozenClock) -> World:
    return build(platform, clock)


@pytest.fixture
def holder(platform: Platform, clock: FrozenClock, world: World) -> Browser:
    return log_in(platform, clock, world.credentials)


def download(platform: Platform, holder: Browser) -> bytes:
    checkpoint(platform)
    response = holder.get("/record/trace.signed.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == 'attachment; filename="dsp-trace-schmit.signed.json"'
    return response.content


def verify_extract(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["trace", "verify-extract", *args])


def test_the_holder_downloads_a_signed_extract_that_verifies_offline(platform: Platform, world: World,
                                                                     holder: Browser, tmp_path: Path) -> None:
    assert 'href="/record/trace.signed.json"' in holder.get("/record/trace").text
    content = download(platform, holder)
    extract = tmp_path / "extract.json"
    extract.write_bytes(content)
    result = verify_extract(str(extract), "--public-key", str(platform.settings.checkpoint_public_key_file))
    assert result.exit_code == 0, result.output
    assert "extract verified" in result.output and f"record {world.record_id}" in result.output
    # The download itself came after the checkpoint: told, linked, not yet anchored.
    assert "later entries link to them but no checkpoint held them yet" in result.output

    chain = entries(platform, world.record_id)
    document = json.loads(content)
    assert [e["seq"] for e in document["entries"]] == [e.seq for e in chain]
    assert chain[-1].action == "trace.read" and chain[-1].context == {"format": "signed-extract", "filters": {}}
    # The result whose release is delayed: its deposit is in the chain, its title is not in the extract.
    assert "Résultat à expliquer" not in content.decode()
    withheld = [e for e in document["entries"] if e.get("withheld")]
    assert len(withheld) == 1 and withheld[0]["hash"] == next(e.hash for e in chain
                                                             if e.document_id == world.delayed_id)
    # Without --public-key, the key inside is used, and the holder is told to compare its fingerprint.
    result = verify_extract(str(extract))
    assert result.exit_code == 0 and "compare its fingerprint" in result.output


def test_no_extract_before_the_first_checkpoint_but_the_download_is_traced(platform: Platform, world: World,
                                                                           holder: Browser) -> None:
    response = holder.get("/record/trace.signed.json")
    assert response.status_code == 503 and "not ready yet" in response.text and response.headers["retry-after"]
    assert entries(platform, world.record_id)[-1].context["format"] == "signed-extract"


def test_a_visitor_gets_no_extract(platform: Platform, world: World) -> None:
    checkpoint(platform)
    response = Browser(platform).get("/record/trace.signed.json")
    assert response.status_code == 303 and response.headers["location"] == "/login"


def test_an_assistant_reads_the_holders_extract_until_the_delegation_ends(platform: Platform, clock: FrozenClock,
                                                                          world: World) -> None:
    with platform.transaction() as session:
        helper = make_record(session, platform, active=False).holder
        as_holder(session, platform, session.get(Record, world.record_id)).designate_assistant(
            world.record_id, helper.id, until=clock.now() + timedelta(minutes=10))
    assistant = logged_in(platform, clock, helper)
    assert assistant.submit("/account/act-for", {"person": str(world.holder.id)},
                            form_page="/account").status_code == 303
    checkpoint(platform)
    response = assistant.get("/record/trace.signed.json")
    assert response.status_code == 200 and json.loads(response.content)["record"] == str(world.record_id)
    assert check_extract(response.content).record == str(world.record_id)

    clock.advance(timedelta(minutes=10))  # the delegation ends while the assistant's session goes on
    response = assistant.get("/record/trace.signed.json")
    assert response.status_code == 403 and b'"entries"' not in response.content
    assert entries(platform, world.record_id)[-1].reason == "delegation_ended"


# -- forged extracts ------------------------------------------------------------------------------------------


def _resign(document: dict[str, Any], platform: Platform) -> None:
    """An attacker with a key of their own signs a new root and puts their public key in the extract."""
    key = create_key(platform.settings.var_dir / "attacker.key", platform.settings.var_dir / "attacker.key.pub",
                     SeededRandomness(666))
    statement = document["anchor"]["checkpoint"]["statement"]
    statement["key_id"] = key_id(key.public_key())
    document["anchor"]["checkpoint"]["signature"] = base64.b64encode(key.sign(canonical(statement))).decode()
    document["public_key"] = public_pem(key.public_key())


def _first_readable(document: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in document["entries"] if "fields" in e)


FORGERIES: list[tuple[str, Any, str]] = [
    ("an altered entry", lambda d, p: _first_readable(d)["fields"].update(actor_display="Nobody"),
     "was altered"),
    ("an entry removed", lambda d, p: d["entries"].pop(2), "says it is at position"),
    ("entries reordered", lambda d, p: d["entries"].insert(1, d["entries"].pop(2)), "says it is at position"),
    ("an altered proof", lambda d, p: d["anchor"]["proof"].__setitem__(0, "00" * 32),
     "inclusion proof does not lead"),
    ("another leaf index", lambda d, p: d["anchor"].update(leaf_index=d["anchor"]["leaf_index"] ^ 1),
     "inclusion proof does not lead"),
    ("a forged root", lambda d, p: d["anchor"]["checkpoint"]["statement"].update(root_hash="ab" * 32),
     "signature does not match"),
    ("a root re-signed by someone else", _resign, "not the public key given"),
]


@pytest.mark.parametrize(("how", "forge", "why"), FORGERIES, ids=[f[0] for f in FORGERIES])
def test_a_forged_extract_is_refused_saying_why(platform: Platform, holder: Browser, tmp_path: Path,
                                                how: str, forge: Any, why: str) -> None:
    document = json.loads(download(platform, holder))
    forge(document, platform)
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(document))
    result = verify_extract(str(forged), "--public-key", str(platform.settings.checkpoint_public_key_file))
    assert result.exit_code == 1 and "extract REFUSED" in result.output and why in result.output, result.output


def test_the_right_extract_checked_with_another_key_is_refused(platform: Platform, holder: Browser,
                                                               tmp_path: Path) -> None:
    content = download(platform, holder)
    other = create_key(tmp_path / "other.key", tmp_path / "other.key.pub", SeededRandomness(5))
    with pytest.raises(ExtractRefused, match="not the public key given"):
        check_extract(content, other.public_key())
    for garbage in (b"", b"{}", b"[1, 2]", b"\xff" * 10, b'{"format": "opendsp-trace-extract/1"}'):
        with pytest.raises(ExtractRefused, match="not a readable signed extract"):
            check_extract(garbage)


def _paths(value: Any, path: tuple = ()) -> list[tuple]:  # type: ignore[type-arg]
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            found += _paths(item, path + (index,))
    return found


def test_any_part_of_an_extract_replaced_by_junk_is_refused_never_a_crash(platform: Platform,
                                                                          holder: Browser) -> None:
    original = json.loads(download(platform, holder))
    key = check_extract(json.dumps(original).encode()).key_id
    assert key
    informative = {"made_at", "withheld"}  # not part of any proof: the extract's date, a withheld entry's mark
    for path in _paths(original)[1:]:
        if path[-1] in informative:
            continue
        for junk in (None, 0, -1, "x", [], {}, "00" * 32):
            document = json.loads(json.dumps(original))
            target = document
            for step in path[:-1]:
                target = target[step]
            if target[path[-1]] == junk:
                continue
            target[path[-1]] = junk
            with pytest.raises(ExtractRefused):
                check_extract(json.dumps(document).encode())
