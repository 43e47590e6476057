"""Browsers an account already logged in from: a signed cookie, so that a stranger cannot hold the owner back.

After a login (or an e-mailed unlock link) the browser keeps a random device
id and the accounts that logged in from it, signed with the session secret.
Failed logins from such a browser are counted against that browser rather
than its address, and the holds caused by guessing from everywhere do not
apply to it (``accounts/guard.py``). The cookie proves nothing by itself: the
password and the second factor are still asked for.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cache

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from opendsp.web.security import security

MAX_AGE_DAYS = 400  # the longest a browser keeps a cookie
MAX_ACCOUNTS = 5


@dataclass(frozen=True)
class Device:
    id: str | None
    accounts: frozenset[str]


@cache
def _signer_for(secret: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="opendsp.device")


def _signer(request: Request) -> URLSafeTimedSerializer:
    # The key that signs the flow cookie, with a salt of its own.
    return _signer_for(security(request).signer.secret_key)


def _cookie_name(request: Request) -> str:
    return ("__Host-" if security(request).settings.secure_cookies else "") + "opendsp_device"


def device_of(request: Request) -> Device:
    raw = request.cookies.get(_cookie_name(request))
    if raw:
        try:
            value = _signer(request).loads(raw, max_age=MAX_AGE_DAYS * 24 * 3600)
            if isinstance(value, dict) and isinstance(value.get("id"), str) and isinstance(value.get("accounts"), list):
                return Device(value["id"], frozenset(str(a) for a in value["accounts"]))
        except BadSignature:
            pass
    return Device(None, frozenset())


def remember(request: Request, response: Response, account_id: object) -> None:
    """This browser is now a known one for the account."""
    device = device_of(request)
    accounts = [a for a in device.accounts if a != str(account_id)][-(MAX_ACCOUNTS - 1):] + [str(account_id)]
    value = {"id": device.id or secrets.token_urlsafe(16), "accounts": accounts}
    response.set_cookie(
        _cookie_name(request), _signer(request).dumps(value), max_age=MAX_AGE_DAYS * 24 * 3600, path="/",
        secure=security(request).settings.secure_cookies, httponly=True, samesite="lax",
    )
