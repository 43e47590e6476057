"""The body of a request to the FHIR API, read as a dependency before the request's context opens.

No bearer token, nothing is read (the token itself is verified after, by the
context); the media type and the size are checked before and while the body
streams, and the body is parsed and validated, so that a huge, mistyped or
malformed body is refused without holding a database transaction open. A
route declares these dependencies before its context.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, Request

from opendsp.documents.spool import Spool
from opendsp.fhir.context import CHALLENGE, fhir_settings
from opendsp.fhir.errors import FhirError
from opendsp.fhir.streaming import BundleReader, ReceivedBundle
from opendsp.fhir.validation import parse, read_json

JSON_TYPES = ("application/fhir+json", "application/json")


def _admit(request: Request, limit: int, accepted: tuple[str, ...]) -> None:
    """What is refused before a byte of the body is read: no token, another media type, a declared size too large."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise FhirError(401, "login", "a bearer access token is required (SMART Backend Services)", headers=CHALLENGE)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in accepted:
        raise FhirError(415, "not-supported", f"send {' or '.join(accepted)}, not {media_type or 'no content type'}")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise FhirError(413, "too-long", f"the request is larger than {limit} bytes")


async def read_body(request: Request, limit: int, accepted: tuple[str, ...] = JSON_TYPES) -> bytes:
    _admit(request, limit, accepted)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise FhirError(413, "too-long", f"the request is larger than {limit} bytes")
    return bytes(body)


def body(limit: int | None = None, accepted: tuple[str, ...] = JSON_TYPES) -> Any:
    """A dependency giving the body, at most ``limit`` bytes (None: the app's largest request)."""

    async def read(request: Request) -> bytes:
        return await read_body(request, limit or fhir_settings(request).max_request_bytes, accepted)

    return Depends(read)


def resource(kinds: list[str], limit: int | None = None) -> Any:
    """A dependency giving the body as a validated FHIR resource of one of ``kinds`` (parsed in a worker thread)."""
    raw = body(limit)

    def parsed(content: bytes = raw) -> dict[str, Any]:
        return parse(content, kinds)

    return Depends(parsed)


async def _streamed_bundle(request: Request) -> AsyncIterator[ReceivedBundle]:
    """The body read as it streams, its documents decoded into spools (``fhir.streaming``), closed after the
    request whatever its outcome."""
    settings = fhir_settings(request)
    limit = settings.max_request_bytes
    _admit(request, limit, JSON_TYPES)
    randomness = settings.platform.randomness
    folder = settings.platform.settings.var_dir / "spool"
    reader = BundleReader(lambda: Spool(randomness=randomness, folder=folder), randomness.bytes(16).hex())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise FhirError(413, "too-long", f"the request is larger than {limit} bytes")
            reader.feed(chunk)
        bundle = reader.finish()
    except BaseException:
        reader.close()
        raise
    try:
        yield bundle
    finally:
        bundle.close()


def streamed_bundle() -> Any:
    """A dependency giving a Provide Document Bundle as a validated resource and the spools of its documents.

    Everything but the documents' bytes is parsed and validated as by ``resource(["Bundle"])``, in a worker thread.
    """

    def parsed(received: ReceivedBundle = Depends(_streamed_bundle)) -> tuple[dict[str, Any], ReceivedBundle]:
        return parse(received.body, ["Bundle"]), received

    return Depends(parsed)


def json_patch(limit: int) -> Any:
    """A dependency giving a JSON Patch body (``application/json-patch+json``) as parsed JSON."""
    raw = body(limit, ("application/json-patch+json",))

    def parsed(content: bytes = raw) -> Any:
        return read_json(content)

    return Depends(parsed)
