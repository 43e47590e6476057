"""The OAuth 2.0 token endpoint (SMART Backend Services). Errors follow RFC 6749 §5.2."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from opendsp.clients.services import TokenRefused, Tokens
from opendsp.platform import Platform

MAX_FORM_BYTES = 64 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _error(error: str, description: str, status: int) -> JSONResponse:
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_client"'
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)


def token_router(platform: Platform, tokens: Tokens) -> APIRouter:
    router = APIRouter()

    @router.post("/auth/token", include_in_schema=False)
    async def token(request: Request) -> JSONResponse:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            return _error("invalid_request", "send the token request as application/x-www-form-urlencoded", 400)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return _error("invalid_request", "the token request is too large", 413)
        try:
            fields = parse_qs(body.decode("utf-8"), strict_parsing=False)
        except UnicodeDecodeError:
            return _error("invalid_request", "the token request is not UTF-8", 400)
        if any(len(values) > 1 for values in fields.values()):
            return _error("invalid_request", "a parameter was repeated", 400)
        form = {name: values[0] for name, values in fields.items()}
        request_id = str(uuid.uuid4())

        def issue():  # type: ignore[no-untyped-def]
            with platform.transaction() as session:
                return tokens.issue(session=session, form=form, request_id=request_id)

        try:
            issued = await run_in_threadpool(issue)
        except TokenRefused as refused:
            return _error(refused.error, refused.description, refused.status)
        return JSONResponse(issued.as_json(), headers=NO_STORE)

    return router
