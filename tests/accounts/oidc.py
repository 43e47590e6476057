"""Starting the independent OpenID Connect provider (npm ``oidc-provider``) on a free localhost port."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from joserfc.jwk import RSAKey

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
CLIENT_ID = "opendsp-test"
CLIENT_SECRET = "a-client-secret-of-at-least-32-characters"
CLAIM = "national_number"
# Levels the test provider announces (LuxTrust-like names; what matters is which ones the portal accepts).
ACR_LOW, ACR_SUBSTANTIAL, ACR_HIGH = "urn:test:loa:low", "urn:test:loa:substantial", "urn:test:loa:high"


@dataclass
class OidcTestProvider:
    issuer: str
    key: RSAKey  # the provider's signing key: tests forge "correctly signed" tokens with it


def skip_reason() -> str | None:
    if shutil.which("node") is None:
        return "node is not on PATH: the OpenID Connect tests need it (and `npm ci`)"
    if not (ROOT / "node_modules" / "oidc-provider").exists():
        return "the npm package oidc-provider is missing: run `npm ci` (make test does)"
    return None


@pytest.fixture(scope="module")
def oidc_provider() -> Iterator[OidcTestProvider]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"}, private=True)
    config = {
        "key": key.as_dict(private=True),
        "claim": CLAIM,
        "acrValues": [ACR_LOW, ACR_SUBSTANTIAL, ACR_HIGH],
        "client": {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": ["http://testserver/login/federated/callback"],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
        },
    }
    process = subprocess.Popen(
        ["node", str(SCRIPT)], cwd=ROOT, env={**os.environ, "OIDC_TEST_CONFIG": json.dumps(config)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the provider listens (or dies)
        if not line.startswith("listening "):
            raise RuntimeError(f"the OpenID Connect provider did not start: {line}{process.stderr.read() if process.stderr else ''}")
        yield OidcTestProvider(issuer=line.split()[1], key=key)
    finally:
        process.terminate()
        process.wait(timeout=10)
