"""The checkpoints' public key served over HTTP: a holder fetches it without asking anyone, and it checks
their signed extract; it is never the private key, and another key fetched refuses the extract."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from opendsp.clock import SeededRandomness
from opendsp.platform import Platform
from opendsp.trace.signing import create_key, key_id, load_public_key
from tests.accounts.portal import Browser, settings  # noqa: F401 - the cheap-hash settings
from tests.trace.test_extract import download, holder, verify_extract, world  # noqa: F401 - fixtures
from tests.web.holder_world import World

PEM = "/.well-known/opendsp/trace-checkpoint-key.pem"
JWK = "/.well-known/opendsp/trace-checkpoint-key.jwk"


def test_an_extract_verifies_with_the_key_fetched_over_http_by_a_visitor(
    platform: Platform, world: World, holder: Browser, tmp_path: Path
) -> None:
    page = holder.get("/record/trace").text
    assert f'href="{PEM}"' in page and 'href="/record/trace.signed.json"' in page
    extract = tmp_path / "extract.json"
    extract.write_bytes(download(platform, holder))

    visitor = Browser(platform)  # no account, no session: the key is public
    fetched = visitor.client.get(PEM)
    assert fetched.status_code == 200, fetched.text
    assert fetched.headers["content-type"].startswith("application/x-pem-file")
    assert "public" in fetched.headers["cache-control"] and "max-age" in fetched.headers["cache-control"]
    assert b"PRIVATE" not in fetched.content
    assert fetched.content == platform.settings.checkpoint_public_key_file.read_bytes()  # type: ignore[union-attr]
    key_file = tmp_path / "opendsp-trace-checkpoint.pub"
    key_file.write_bytes(fetched.content)

    result = verify_extract(str(extract), "--public-key", str(key_file))
    assert result.exit_code == 0, result.output
    fingerprint = key_id(load_public_key(key_file))
    assert "extract verified" in result.output and fingerprint in result.output
    # The same key as the JWK, with the fingerprint verify-extract prints as its kid; and the same from cache.
    assert fetched.headers["etag"] == f'"{fingerprint}"'
    assert visitor.client.get(PEM, headers={"If-None-Match": f'"{fingerprint}"'}).status_code == 304
    jwk = visitor.client.get(JWK)
    assert jwk.status_code == 200 and jwk.headers["content-type"].startswith("application/jwk+json")
    body = jwk.json()
    assert (body["kty"], body["crv"], body["kid"], body["alg"]) == ("OKP", "Ed25519", fingerprint, "EdDSA")
    assert "d" not in body  # never the private part
    raw = base64.urlsafe_b64decode(body["x"] + "=" * (-len(body["x"]) % 4))
    assert Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw) == raw
    assert key_id(Ed25519PublicKey.from_public_bytes(raw)) == fingerprint


def test_an_extract_checked_with_another_platforms_published_key_is_refused(
    platform: Platform, world: World, holder: Browser, tmp_path: Path
) -> None:
    extract = tmp_path / "extract.json"
    extract.write_bytes(download(platform, holder))
    other = create_key(tmp_path / "other.key", tmp_path / "other.key.pub", SeededRandomness(7))
    result = verify_extract(str(extract), "--public-key", str(tmp_path / "other.key.pub"))
    assert result.exit_code == 1 and "REFUSED" in result.output


def test_no_key_yet_is_a_clear_503_not_a_crash(platform: Platform) -> None:
    assert not platform.settings.checkpoint_public_key_file.exists()  # type: ignore[union-attr]
    for path in (PEM, JWK, "/.well-known/opendsp/trace-checkpoint-key"):
        answer = Browser(platform).client.get(path)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "60"
        assert "not published yet" in answer.text
