"""The access log: method, route template, status, duration and request id — never the URL itself.

uvicorn's access log writes each request line whole: query strings (search
terms, national numbers) and path segments that are secrets (invitation
tokens) would end up in clear in the server's logs. ``opendsp serve`` turns
it off (``server_options``) and this middleware logs instead, on the
``opendsp.access`` logger:

    POST /pro/patients/{record_id}/deposit 303 41.2ms rid=6f1c...

The route is the template the router matched (``/fhir`` routes with their
mount prefix); within a mount without routes of its own (static files) it is
``/static/opendsp/*``, and a path nothing matched is logged as ``(unmatched)``. Each
request gets an id, answered in ``X-Request-ID``; a caller's own id is kept
when it is a plain token (so a proxy's id joins the two logs).
"""

from __future__ import annotations

import copy
import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opendsp.metrics import observe_request

log = logging.getLogger("opendsp.access")
_PLAIN_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


# The id of the request being answered, for every log line written while answering it.
CURRENT_REQUEST_ID: ContextVar[str | None] = ContextVar("opendsp_request_id", default=None)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, request id, exception (for log collectors).

    The message is the one the text format writes: what keeps health data and
    national numbers out of the logs (route templates, ids) keeps them out of these too.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (rid := CURRENT_REQUEST_ID.get()) is not None:
            line["request_id"] = rid
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def server_options(*, json_logs: bool = False) -> dict[str, Any]:
    """uvicorn's options for ``opendsp serve``: its access log off, ours shown at INFO on its default handler.

    ``json_logs`` (``OPENDSP_LOG_FORMAT=json``): every line of the server as a JSON object (``JsonFormatter``).
    """
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"][log.name] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    if json_logs:
        config["formatters"] = {name: {"()": f"{__name__}.JsonFormatter"} for name in config["formatters"]}
    return {"access_log": False, "log_config": config}


def request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if _PLAIN_ID.match(given):
                return given
    return uuid.uuid4().hex


def route_template(scope: Scope, root_path: str) -> str:
    # A mounted application's routes are relative to its mount (``/fhir``, ``/static/opendsp``).
    mount = scope.get("root_path", "")[len(root_path):]
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return f"{mount}{path}"
    return f"{mount}/*" if mount else "(unmatched)"


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = scope.get("root_path", "")
        rid = request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        current = CURRENT_REQUEST_ID.set(rid)
        status = 500

        async def send_logged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).setdefault("X-Request-ID", rid)
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            route = route_template(scope, root_path)
            log.info("%s %s %d %.1fms rid=%s", scope["method"], route, status, elapsed, rid)
            observe_request(scope["method"], route, status, elapsed / 1000)
            CURRENT_REQUEST_ID.reset(current)
