"""The trace checkpoints' public key, published over HTTP for anyone to fetch.

A holder checks their signed extract with the platform's public key
(``opendsp trace verify-extract FILE --public-key FILE``); the extract carries
a copy, but a copy inside the thing checked proves nothing, so the key is
also served here, without an account: as PEM, and as a JSON Web Key
(RFC 8037, ``OKP`` / ``Ed25519``) whose ``kid`` is the fingerprint
``verify-extract`` prints. Only the public key: the private one never leaves
the checkpointer's host. The file is read on each request (it is tiny), so a
key put in place after start is served without a restart.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from opendsp.platform import Platform
from opendsp.trace.signing import SigningKeyError, key_id, load_public_key, public_pem

KEY_PATH = "/.well-known/opendsp/trace-checkpoint-key"
PEM_PATH = KEY_PATH + ".pem"
JWK_PATH = KEY_PATH + ".jwk"
# Public and unchanging while the key is: caches may keep it for a day, and check it again by its ETag.
CACHING = "public, max-age=86400"

router = APIRouter()


def _not_published() -> Response:
    return Response("the trace checkpoint key is not published yet\n", status_code=503,
                    media_type="text/plain; charset=utf-8", headers={"Retry-After": "60", "Cache-Control": "no-store"})


def _key_or_none(request: Request):  # type: ignore[no-untyped-def]
    platform: Platform = request.app.state.platform
    path = platform.settings.checkpoint_public_key_file
    assert path is not None
    try:
        return load_public_key(path)
    except SigningKeyError:
        return None


def _cached(request: Request, fingerprint: str, response: Response) -> Response:
    etag = f'"{fingerprint}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": CACHING})
    response.headers.update({"ETag": etag, "Cache-Control": CACHING, "Access-Control-Allow-Origin": "*",
                             "X-OpenDSP-Key-Fingerprint": fingerprint})
    return response


@router.get(KEY_PATH, include_in_schema=False)
@router.get(PEM_PATH, include_in_schema=False)
def checkpoint_key_pem(request: Request) -> Response:
    key = _key_or_none(request)
    if key is None:
        return _not_published()
    return _cached(request, key_id(key), Response(
        public_pem(key), media_type="application/x-pem-file",
        headers={"Content-Disposition": 'attachment; filename="opendsp-trace-checkpoint.pub"'}))


@router.get(JWK_PATH, include_in_schema=False)
def checkpoint_key_jwk(request: Request) -> Response:
    key = _key_or_none(request)
    if key is None:
        return _not_published()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    fingerprint = key_id(key)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii"),
           "kid": fingerprint, "use": "sig", "alg": "EdDSA"}
    return _cached(request, fingerprint, JSONResponse(jwk, media_type="application/jwk+json"))
