"""Retiring master keys: only once nothing sealed, wrapped or keyed under them is left.

A master key is used by the data keys it wraps (``record_keys``), the
authenticator secrets sealed under it, and the search and structured index
tokens derived from it. ``opendsp keys rotate`` moves the first two to the
current key, ``opendsp search reindex --all`` the tokens; a key still used is
never retired, and the refusal says what still uses it and how to move it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opendsp.actors import SYSTEM
from opendsp.content.keys import MasterKeyError
from opendsp.content.models import RecordKey
from opendsp.platform import Platform


class KeyStillUsed(MasterKeyError):
    """The master key cannot be retired: something still depends on it."""


@dataclass(frozen=True)
class KeyUse:
    data_keys: int
    authenticator_secrets: int
    search_tokens: int
    structured_codes: int

    @property
    def unused(self) -> bool:
        return not (self.data_keys or self.authenticator_secrets or self.search_tokens or self.structured_codes)

    def describe(self) -> str:
        parts = []
        if self.data_keys or self.authenticator_secrets:
            parts.append(f"{self.data_keys} record data key(s) and {self.authenticator_secrets} authenticator "
                         "secret(s) (run `opendsp keys rotate`)")
        if self.search_tokens or self.structured_codes:
            parts.append(f"{self.search_tokens} search token(s) and {self.structured_codes} structured index "
                         "code(s) (run `opendsp search reindex --all`)")
        return "; ".join(parts)


def key_use(session: Session, key_id: str) -> KeyUse:
    from opendsp.accounts.models import Account
    from opendsp.structured.models import StructuredCode
    from opendsp.search.models import SearchTerm

    def count(model: type, column: object, *where: object) -> int:
        return session.scalar(select(func.count()).select_from(model).where(column == key_id, *where)) or 0  # type: ignore[arg-type]

    sealed_prefix = key_id.encode() + b"\x00"
    secrets = sum(
        1 for secret in session.scalars(select(Account.totp_secret).where(Account.totp_secret.is_not(None)))
        if secret is not None and secret.startswith(sealed_prefix)
    )
    return KeyUse(
        data_keys=count(RecordKey, RecordKey.master_key_id),
        authenticator_secrets=secrets,
        search_tokens=count(SearchTerm, SearchTerm.master_key_id),
        structured_codes=count(StructuredCode, StructuredCode.master_key_id),
    )


def retire(platform: Platform, key_id: str) -> None:
    """Remove ``key_id`` from the keyring once nothing uses it (a platform job: it commits).

    The trace entry commits first; the key leaves the keyring only then, so a
    failure in between leaves a key that nothing uses, never an untraced retirement.
    """
    from opendsp.records.services import trace_event

    keys = platform.keys
    if key_id not in keys.key_ids():
        raise MasterKeyError(f"master key {key_id!r} is not among the keys held ({', '.join(keys.key_ids())})")
    if key_id == keys.current_key_id:
        raise MasterKeyError(f"master key {key_id!r} is the current one and cannot be retired")
    with platform.transaction() as session:
        use = key_use(session, key_id)
        if not use.unused:
            raise KeyStillUsed(f"master key {key_id!r} is still used by {use.describe()}")
        platform.trace.append(
            session, trace_event(SYSTEM, "keys.retire", record_id=None, context={"master_key": key_id})
        )
    keys.remove_key(key_id)


def retirable(session: Session, platform: Platform) -> list[str]:
    """The keys other than the current one that nothing uses any more."""
    keys = platform.keys
    return [k for k in keys.key_ids() if k != keys.current_key_id and key_use(session, k).unused]
