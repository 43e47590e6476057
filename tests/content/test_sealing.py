import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opendsp.clock import SystemRandomness
from opendsp.content.sealing import SealBroken, seal, unseal

KEY = bytes(range(32))
CONTEXT = b"records/r/c"


def sealed(data: bytes, segment: int = 64) -> bytes:
    return b"".join(seal([data], key=KEY, context=CONTEXT, randomness=SystemRandomness(), segment_size=segment))


def opened(blob: bytes, *, key: bytes = KEY, context: bytes = CONTEXT) -> bytes:
    return b"".join(unseal([blob[i : i + 37] for i in range(0, len(blob), 37)], key=key, context=context))


@settings(max_examples=60)
@given(st.binary(max_size=600), st.sampled_from([16, 64, 100]))
def test_round_trip_whatever_the_chunking(data: bytes, segment: int) -> None:
    assert opened(sealed(data, segment)) == data


def test_ciphertext_reveals_nothing_of_the_plaintext() -> None:
    data = b"haemoglobin 13.5 g/dL " * 20
    assert b"haemoglobin" not in sealed(data)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda b: b[:-1], id="last byte cut"),
        pytest.param(lambda b: b[: 16 + 80], id="truncated at a segment boundary"),
        pytest.param(lambda b: b[:40] + bytes([b[40] ^ 1]) + b[41:], id="one bit flipped"),
        pytest.param(lambda b: b[:16] + b[16 + 80 : 16 + 160] + b[16:96] + b[176:], id="segments swapped"),
        pytest.param(lambda b: b + b"x", id="byte appended"),
        pytest.param(lambda b: b"XXXX" + b[4:], id="header altered"),
    ],
)
def test_tampering_is_detected(tamper) -> None:  # type: ignore[no-untyped-def]
    blob = sealed(os.urandom(300), segment=64)
    with pytest.raises(SealBroken):
        opened(tamper(blob))


def test_wrong_key_or_wrong_place_fails() -> None:
    blob = sealed(b"secret")
    with pytest.raises(SealBroken):
        opened(blob, key=bytes(32))
    with pytest.raises(SealBroken):
        opened(blob, context=b"records/r/another")
