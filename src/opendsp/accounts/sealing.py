"""TOTP secrets sealed under the platform's master key (they must be read back, so no hash)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendsp.platform import Platform


def _context(account_id: uuid.UUID) -> bytes:
    # Bound to the account: a sealed secret copied to another row does not open.
    return b"opendsp.totp:" + account_id.bytes


def seal(platform: Platform, account_id: uuid.UUID, secret: str) -> bytes:
    key_id, wrapped = platform.keys.wrap(secret.encode(), _context(account_id), platform.randomness)
    return key_id.encode() + b"\x00" + wrapped


def unseal(platform: Platform, account_id: uuid.UUID, sealed: bytes) -> str:
    key_id, wrapped = sealed.split(b"\x00", 1)
    return platform.keys.unwrap(key_id.decode(), wrapped, _context(account_id)).decode()


def rotate(session: Session, platform: Platform) -> int:
    """Reseal every authenticator secret under the current master key (part of `opendsp keys rotate`)."""
    from opendsp.accounts.models import Account

    current = platform.keys.current_key_id.encode() + b"\x00"
    resealed = 0
    for account in session.scalars(select(Account).where(Account.totp_secret.is_not(None))):
        assert account.totp_secret is not None
        if account.totp_secret.startswith(current):
            continue
        account.totp_secret = seal(platform, account.id, unseal(platform, account.id, account.totp_secret))
        resealed += 1
    session.flush()
    return resealed
