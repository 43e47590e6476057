"""The Merkle tree hashes as RFC 6962 defines it, and its inclusion proofs prove exactly one leaf."""

from __future__ import annotations

import hashlib

import pytest

from opendsp.trace import merkle


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962, 2.1: MTH, split at the largest power of two smaller than n."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def reference_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962, 2.1.1: PATH(m, D[n])."""
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if index < k:
        return reference_path(index, leaves[:k]) + [reference_root(leaves[k:])]
    return reference_path(index - k, leaves[k:]) + [reference_root(leaves[:k])]


def leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(f"leaf {i}".encode()) for i in range(n)]


def test_leaves_and_nodes_are_hashed_apart() -> None:
    assert merkle.leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert merkle.root([]) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", range(1, 34))
def test_root_and_proofs_match_rfc_6962(size: int) -> None:
    tree = leaves(size)
    assert merkle.root(tree) == reference_root(tree)
    for index in range(size):
        proof = merkle.inclusion_proof(tree, index)
        assert proof == reference_path(index, tree)
        assert merkle.root_from_proof(tree[index], index, size, proof) == merkle.root(tree)


@pytest.mark.parametrize("size", [2, 5, 8, 13])
def test_a_proof_proves_nothing_else(size: int) -> None:
    tree, root = leaves(size), merkle.root(leaves(size))
    index = size // 2
    proof = merkle.inclusion_proof(tree, index)
    other = merkle.leaf_hash(b"forged")
    assert merkle.root_from_proof(other, index, size, proof) != root  # another leaf
    assert merkle.root_from_proof(tree[index], (index + 1) % size, size, proof) != root  # another position
    altered = [bytes(32)] + proof[1:]
    assert merkle.root_from_proof(tree[index], index, size, altered) != root  # an altered step
    assert merkle.root_from_proof(tree[index], index, size, proof + [bytes(32)]) is None  # a step too many
    assert merkle.root_from_proof(tree[index], size, size, proof) is None  # past the end


@pytest.mark.parametrize("chain", ["platform", "0b7e4bb1-8a49-4b8e-9a3f-2f0c9d1e6a55", 'a "quoted" name', "back\\slash",
                                   "tab\there", "é", "\u2028"])
def test_a_heads_leaf_is_its_canonical_json_whatever_the_name(chain: str) -> None:
    from opendsp.trace.checkpoints import canonical, leaf_data

    assert leaf_data(chain, 7, "ab" * 32) == canonical({"chain": chain, "hash": "ab" * 32, "seq": 7})
