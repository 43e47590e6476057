"""A Merkle tree hashed as certificate transparency hashes it (RFC 6962, section 2.1).

Leaves and inner nodes are hashed with different one-byte prefixes (0x00 and
0x01), so a leaf can never pass for a node. A tree of any size is built
level by level; an odd node at the end of a level moves up unchanged, which
gives the same root as RFC 6962's split at the largest power of two.

Nothing here touches the database: ``opendsp trace verify-extract`` runs it
offline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        paired.append(level[-1])
    return paired


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The tree's root hash; the hash of nothing for an empty tree."""
    if not leaf_hashes:
        return hashlib.sha256(b"").digest()
    level = list(leaf_hashes)
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf ``index``: the siblings from the leaf up to the root."""
    if not 0 <= index < len(leaf_hashes):
        raise IndexError(f"no leaf {index} in a tree of {len(leaf_hashes)}")
    path: list[bytes] = []
    level = list(leaf_hashes)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        level, index = _next_level(level), index // 2
    return path


def root_from_proof(leaf: bytes, index: int, tree_size: int, path: Sequence[bytes]) -> bytes | None:
    """The root a proof leads to (RFC 9162, 2.1.3.2), or None when the proof cannot fit that tree."""
    if not 0 <= index < tree_size:
        return None
    position, last, result = index, tree_size - 1, leaf
    for sibling in path:
        if last == 0:
            return None
        if position & 1 or position == last:
            result = node_hash(sibling, result)
            while not position & 1 and position != 0:
                position, last = position >> 1, last >> 1
        else:
            result = node_hash(result, sibling)
        position, last = position >> 1, last >> 1
    return result if last == 0 else None
