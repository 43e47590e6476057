"""Time-based one-time passwords (RFC 6238) for the authenticator app, with replay protection."""

from __future__ import annotations

import base64
import hmac
from datetime import datetime

import pyotp
import segno

from opendsp.clock import Randomness

STEP_SECONDS = 30
DIGITS = 6
# Codes one step either side are accepted: phones' clocks drift.
DRIFT_STEPS = 1
ISSUER = "OpenDSP"


def new_secret(randomness: Randomness) -> str:
    return base64.b32encode(randomness.bytes(20)).decode()  # 160 bits, as RFC 4226 recommends


def provisioning_uri(secret: str, account_label: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account_label, issuer_name=ISSUER
    )


def qr_svg(uri: str) -> str:
    """The enrolment QR code as inline SVG (no image file, no external service)."""
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff", title="QR code")


def matching_step(secret: str, code: str, *, now: datetime, last_step: int | None) -> int | None:
    """The time step the code belongs to, if it is valid now and newer than the last one accepted."""
    code = "".join(ch for ch in code if ch.isdigit())
    if len(code) != DIGITS:
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step if last_step is None or step > last_step else None
    return None


def code_at(secret: str, now: datetime) -> str:
    """What the authenticator app shows at ``now`` (tests and demos)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(now)
