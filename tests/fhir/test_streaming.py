"""The Bundle reader: documents decoded as the body streams, the rest kept for the parser, whatever the chunks."""

from __future__ import annotations

import base64
import json
import os

import pytest

from opendsp.clock import SeededRandomness
from opendsp.documents.spool import Spool
from opendsp.fhir.errors import FhirError
from opendsp.fhir.streaming import BundleReader, ReceivedBundle
from opendsp.fhir.validation import read_json

TOKEN = "ab" * 16


def read(body: bytes, chunk: int) -> ReceivedBundle:
    reader = BundleReader(lambda: Spool(randomness=SeededRandomness(1), memory_limit=64), TOKEN)
    for start in range(0, len(body), chunk):
        reader.feed(body[start:start + chunk])
    return reader.finish()


def bundle(*datas: str) -> bytes:
    entries = [{"resource": {"resourceType": "Binary", "contentType": "application/pdf", "data": data}}
               for data in datas]
    return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}).encode()


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64, 10_000])
def test_every_data_is_decoded_into_a_spool_whatever_the_chunks(chunk: int) -> None:
    first, second = os.urandom(1000), b"%PDF-1.4 small"
    received = read(bundle(base64.b64encode(first).decode(), base64.b64encode(second).decode()), chunk)
    kept = read_json(received.body)
    placeholders = [e["resource"]["data"] for e in kept["entry"]]
    assert [b"".join(received.spools[p].chunks()) for p in placeholders] == [first, second]
    assert all(p.startswith(TOKEN) and base64.b64decode(p, validate=True) for p in placeholders)
    assert len(received.body) < 400  # the bytes are gone from what the parser gets
    assert received.spools[placeholders[0]].on_disk and not received.spools[placeholders[1]].on_disk


@pytest.mark.parametrize("chunk", [1, 4, 1000])
def test_escapes_json_writers_use_in_base64_are_understood(chunk: int) -> None:
    content = bytes(range(256)) * 3
    text = base64.b64encode(content).decode()
    assert "/" in text
    escaped = text.replace("/", "\\/").replace("A", "\\u0041", 3)
    body = bundle("PLACE").replace(b"PLACE", escaped.encode())
    received = read(body, chunk)
    placeholder = read_json(received.body)["entry"][0]["resource"]["data"]
    assert b"".join(received.spools[placeholder].chunks()) == content


def test_other_strings_keys_and_values_are_kept_as_they_are() -> None:
    data = base64.b64encode(b"x" * 30).decode()
    document = {"resourceType": "Bundle", "entry": [
        {"resource": {"resourceType": "Binary", "contentType": "text/plain", "data": data, "id": "data",
                      "text": {"div": "a \"data\": \"QUFB\" inside a string, with \\ and \u00e9"},
                      "\\u0064ata": data, "database": data, "note": ["data", data]}}]}
    body = json.dumps(document, ensure_ascii=False).encode()
    for chunk in (1, 3, 1000):
        received = read(body, chunk)
        kept = read_json(received.body)
        resource = kept["entry"][0]["resource"]
        assert len(received.spools) == 1 and resource["data"] in received.spools
        del resource["data"], document["entry"][0]["resource"]["data"]  # type: ignore[index,attr-defined]
        assert kept == document
        document = json.loads(body)


def test_an_empty_data_is_left_to_the_validation() -> None:
    received = read(bundle(""), 3)
    assert read_json(received.body)["entry"][0]["resource"]["data"] == "" and received.spools == {}


@pytest.mark.parametrize("data", ["QUFB!", "QUF", "QQ", "QUFB====", "QQ==QUFB", "QUFB\\n", "QU\\\"FB", "\\u00e9AAA",
                                  "QUFB\\u0000", "=QUF"])
def test_malformed_base64_is_refused_while_streaming(data: str) -> None:
    body = bundle("PLACE").replace(b"PLACE", data.encode())
    for chunk in (1, 1000):
        with pytest.raises(FhirError) as refused:
            read(body, chunk)
        assert refused.value.status == 400 and refused.value.issues[0].code == "value"


def test_a_body_that_ends_inside_a_document_is_bad_json() -> None:
    body = bundle(base64.b64encode(b"abc" * 100).decode())
    with pytest.raises(FhirError) as refused:
        read(body[:150], 7)
    assert refused.value.status == 400 and refused.value.issues[0].code == "structure"
