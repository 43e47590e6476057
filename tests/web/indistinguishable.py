"""What an attacker compares: two answers, once ids, dates, times and CSRF tokens are taken out.

``answer(response)`` is a response reduced to what may not differ between a
document (or record) the caller may not reach and one that does not exist:
the status, the headers and the body, byte for byte, with every UUID, date,
time, national number and CSRF token replaced by a placeholder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

UUID = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
CSRF = re.compile(rb'(name="csrf_token" value=")[^"]*(")|(csrf_token=)[^&"\s]*')
DATE = re.compile(rb"\d{4}-\d{2}-\d{2}|\d{2}/\d{2}/\d{4}")
TIME = re.compile(rb"\d{2}:\d{2}(:\d{2})?")
NATIONAL_NUMBER = re.compile(rb"\b\d{11,13}\b")
# Headers that differ between any two requests, whatever they ask (x-request-id is new for every request).
VARYING = {"date", "set-cookie", "content-length", "x-request-id"}


def scrub(data: bytes) -> bytes:
    data = UUID.sub(b"<id>", data)
    data = CSRF.sub(lambda m: (m.group(1) or m.group(3)) + b"<csrf>" + (m.group(2) or b""), data)
    data = NATIONAL_NUMBER.sub(b"<number>", data)
    data = DATE.sub(b"<date>", data)
    return TIME.sub(b"<time>", data)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def answer(response: Any) -> Answer:
    headers = tuple(sorted(
        (name.lower(), scrub(value.encode()).decode()) for name, value in response.headers.items()
        if name.lower() not in VARYING
    ))
    return Answer(status=response.status_code, headers=headers, body=scrub(response.content))
