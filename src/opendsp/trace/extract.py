"""A holder's signed extract of their trace, and its offline check.

The extract carries the entries of one record's chain (an entry the holder
may not read yet, such as the deposit of a result whose release its author
delayed, is *withheld*: only its link hashes are given), the checkpointed
head of that chain, the inclusion proof of that head in the checkpoint's
Merkle tree, the signed checkpoint statement and the public key.

``check_extract`` needs nothing else: it recomputes each entry's hash and
each link, the leaf, the path up to the signed root, and the signature, the
way certificate transparency lets anyone check a log. It must stay free of
the database and of the rest of the platform.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from opendsp.trace import merkle
from opendsp.trace.checkpoints import leaf_data, statement_problem
from opendsp.trace.models import GENESIS_HASH
from opendsp.trace.service import hash_fields
from opendsp.trace.signing import SigningKeyError, key_id, parse_public_pem, public_pem

FORMAT = "opendsp-trace-extract/1"


class ExtractRefused(Exception):
    """The extract does not prove what it claims: the message says why."""


@dataclass
class ExtractReport:
    record: str
    entries: int
    withheld: int
    anchored_seq: int
    checkpoint: int
    checkpoint_made_at: str
    key_id: str
    key_from_extract: bool

    @property
    def not_yet_anchored(self) -> int:
        return self.entries - self.anchored_seq


def make_extract(*, record: str, chain: str, entries: list[dict[str, Any]], anchor_seq: int, anchor_hash: str,
                 leaf_index: int, proof: list[bytes], statement: dict[str, Any], signature: bytes,
                 public_key: Ed25519PublicKey, made_at: str) -> bytes:
    document = {
        "format": FORMAT,
        "record": record,
        "chain": chain,
        "made_at": made_at,
        "entries": entries,
        "anchor": {
            "seq": anchor_seq,
            "hash": anchor_hash,
            "leaf_index": leaf_index,
            "proof": [step.hex() for step in proof],
            "checkpoint": {"statement": statement, "signature": base64.b64encode(signature).decode("ascii")},
        },
        "public_key": public_pem(public_key),
    }
    return json.dumps(document, ensure_ascii=False, indent=1).encode()


def check_extract(data: bytes, public_key: Ed25519PublicKey | None = None) -> ExtractReport:
    """Everything the extract claims, recomputed; ``ExtractRefused`` saying why at the first thing wrong."""
    try:
        document = json.loads(data)
        chain, anchor = str(document["chain"]), document["anchor"]
        entries = list(document["entries"])
        statement = anchor["checkpoint"]["statement"]
        signature = base64.b64decode(anchor["checkpoint"]["signature"], validate=True)
        proof = [bytes.fromhex(step) for step in anchor["proof"]]
        anchor_seq, anchor_hash, leaf_index = _int(anchor["seq"]), str(anchor["hash"]), _int(anchor["leaf_index"])
        carried = parse_public_pem(document["public_key"])
        if not isinstance(statement, dict):
            raise TypeError("the checkpoint statement is not an object")
    except (ValueError, KeyError, TypeError, AttributeError, SigningKeyError) as error:
        raise ExtractRefused(f"not a readable signed extract ({error.__class__.__name__}: {error})") from None
    if document.get("format") != FORMAT:
        raise ExtractRefused(f"not a signed extract of format {FORMAT}")
    if document.get("record") != chain:
        raise ExtractRefused("the extract names another record than the chain it carries")
    if public_key is not None and key_id(public_key) != key_id(carried):
        raise ExtractRefused("the public key inside the extract is not the public key given: "
                             "it was signed by someone else")
    key = public_key or carried

    problem = statement_problem(statement, signature, key)
    if problem:
        raise ExtractRefused(f"the checkpoint: {problem}")
    hashes = _check_chain(chain, entries)
    _check_anchor(chain, hashes, anchor_seq, anchor_hash, leaf_index, proof, statement)

    try:
        number, made_at = int(statement["number"]), str(statement["made_at"])
    except (KeyError, TypeError, ValueError):
        raise ExtractRefused("the checkpoint has no readable number and date") from None
    return ExtractReport(
        record=chain, entries=len(entries), withheld=sum(1 for e in entries if "fields" not in e),
        anchored_seq=anchor_seq, checkpoint=number, checkpoint_made_at=made_at, key_id=key_id(key),
        key_from_extract=public_key is None,
    )


def _int(value: Any) -> int:
    """A JSON integer, and nothing that merely converts to one."""
    if type(value) is not int:
        raise TypeError(f"{value!r} is not an integer")
    return value


def _check_chain(chain: str, entries: list[Any]) -> list[str]:
    """Each entry's hash and link recomputed; the hashes, position by position."""
    hashes: list[str] = []
    previous = GENESIS_HASH
    for position, entry in enumerate(entries, start=1):
        try:
            seq, given = _int(entry["seq"]), str(entry["hash"])
            fields = entry.get("fields")
            if fields is not None and not isinstance(fields, dict):
                raise TypeError("fields")
            prev_hash = str(fields["prev_hash"] if fields is not None else entry["prev_hash"])
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ExtractRefused(f"entry {position} is unreadable") from None
        if seq != position:
            raise ExtractRefused(f"entry {position} says it is at position {seq}: entries are missing or reordered")
        if prev_hash != previous:
            raise ExtractRefused(f"entry {seq} does not link to the entry before it: removed or reordered entries")
        if fields is not None:
            if fields.get("chain") != chain:
                raise ExtractRefused(f"entry {seq} belongs to another chain")
            if hash_fields(fields) != given:
                raise ExtractRefused(f"entry {seq} was altered: its content does not give its hash")
        hashes.append(given)
        previous = given
    return hashes


def _check_anchor(chain: str, hashes: list[str], seq: int, head_hash: str, leaf_index: int, proof: list[bytes],
                  statement: dict[str, Any]) -> None:
    if not 0 <= seq <= len(hashes):
        raise ExtractRefused(f"the checkpoint holds the chain up to position {seq}, "
                             f"but the extract has {len(hashes)} entries")
    at_seq = hashes[seq - 1] if seq else GENESIS_HASH
    if at_seq != head_hash:
        raise ExtractRefused(f"the entry at position {seq} is not the one the checkpoint signed")
    leaf = merkle.leaf_hash(leaf_data(chain, seq, head_hash))
    try:
        tree_size = int(statement["tree_size"])
        root = bytes.fromhex(str(statement["root_hash"]))
    except (KeyError, TypeError, ValueError):
        raise ExtractRefused("the checkpoint has no readable tree size and root") from None
    if merkle.root_from_proof(leaf, leaf_index, tree_size, proof) != root:
        raise ExtractRefused("the inclusion proof does not lead from this chain's head to the signed root")
