"""Every error under /fhir is an OperationOutcome with a precise code, diagnostics and status."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from opendsp.access.services import ContentUnavailable, InvalidRequest, RecordNotFound
from opendsp.documents.services import DocumentRefused
from opendsp.fhir.systems import ACCESS_REASON, FHIR_JSON
from opendsp.policy.decision import AccessDenied
from opendsp.policy.disclosure import Answer, answer_for
from opendsp.policy.vocabulary import Reason

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Issue:
    code: str  # an IssueType: invalid, structure, required, value, not-found, forbidden, ...
    diagnostics: str
    severity: str = "error"
    expression: str | None = None
    details: tuple[str, str] | None = None  # (system, code)

    def as_json(self) -> dict[str, Any]:
        issue: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.details:
            issue["details"] = {"coding": [{"system": self.details[0], "code": self.details[1]}]}
        if self.expression:
            issue["expression"] = [self.expression]
        return issue


class FhirError(Exception):
    """Raised anywhere under /fhir; answered as an OperationOutcome."""

    def __init__(
        self,
        status: int,
        code: str,
        diagnostics: str,
        *,
        expression: str | None = None,
        details: tuple[str, str] | None = None,
        issues: Iterable[Issue] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.issues = list(issues) or [Issue(code, diagnostics, expression=expression, details=details)]
        self.headers = headers or {}


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [issue.as_json() for issue in issues]}


def fhir_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def outcome_response(error: FhirError) -> JSONResponse:
    return fhir_response(operation_outcome(error.issues), error.status, error.headers)


def unknown_document() -> FhirError:
    """The one answer for a document id that does not exist, or that the caller may not reach."""
    return FhirError(404, "not-found", "no such document")


def unknown_patient() -> FhirError:
    """The one answer for a person who does not exist, or whom the caller may not reach."""
    return FhirError(404, "not-found", "no such patient")


def unknown_encounter() -> FhirError:
    return FhirError(404, "not-found", "no such Encounter")


UNKNOWN = {Answer.unknown_document: unknown_document, Answer.unknown_patient: unknown_patient}


def from_denial(denied: AccessDenied, *, named_by_document: bool = False) -> FhirError:
    """A refusal as the caller may read it: as an unknown id when telling it would reveal something."""
    decision = denied.decision
    answer = answer_for(decision, named_by_document=named_by_document)
    if answer is not Answer.refused:
        return UNKNOWN[answer]()
    text = decision.message
    if decision.reason is Reason.too_many_lookups:
        return FhirError(429, "throttled", text, details=(ACCESS_REASON, decision.reason.value))
    if decision.how_to_obtain:
        text += f" (ways to obtain access: {', '.join(decision.how_to_obtain)})"
    return FhirError(403, "forbidden", text, details=(ACCESS_REASON, decision.reason.value))


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(FhirError)
    async def fhir_error(_request: Request, error: FhirError) -> JSONResponse:
        return outcome_response(error)

    @app.exception_handler(AccessDenied)
    async def access_denied(_request: Request, error: AccessDenied) -> JSONResponse:
        return outcome_response(from_denial(error))

    @app.exception_handler(RecordNotFound)
    async def record_not_found(_request: Request, _error: RecordNotFound) -> JSONResponse:
        return outcome_response(unknown_patient())

    @app.exception_handler(InvalidRequest)
    async def invalid_request(_request: Request, error: InvalidRequest) -> JSONResponse:
        return outcome_response(FhirError(422, "business-rule", str(error)))

    @app.exception_handler(DocumentRefused)
    async def document_refused(_request: Request, error: DocumentRefused) -> JSONResponse:
        return outcome_response(FhirError(422, "business-rule", str(error)))

    @app.exception_handler(ContentUnavailable)
    async def content_unavailable(_request: Request, error: ContentUnavailable) -> JSONResponse:
        log.error("content unavailable: %s", error)
        return outcome_response(FhirError(503, "transient", "the document's content cannot be read now"))

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        issues = [
            Issue("invalid", str(item.get("msg")), expression=".".join(str(p) for p in item.get("loc", ())))
            for item in error.errors()
        ]
        return outcome_response(FhirError(400, "invalid", "bad request", issues=issues))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "not-supported", 401: "login", 403: "forbidden",
                413: "too-long"}.get(error.status_code, "processing")
        text = "no such resource type or interaction" if error.status_code == 404 else str(error.detail)
        return outcome_response(FhirError(error.status_code, code, text))

    @app.exception_handler(DataError)
    async def data_refused(_request: Request, error: DataError) -> JSONResponse:
        # A value the database cannot hold (too long, a NUL): the request's fault, and the driver's words
        # (SQL and values) stay in no answer and no log.
        log.warning("a value refused by the database under /fhir: %s", type(error.orig).__name__)
        return outcome_response(FhirError(422, "invalid", "a value is too long or holds a character not allowed"))

    @app.exception_handler(OperationalError)
    async def database_unavailable(_request: Request, error: OperationalError) -> JSONResponse:
        # A failover, a restart, a lock given up: transient; the sender sends again (an ITI-65 bundle already
        # stored is refused for its masterIdentifier, so nothing is stored twice).
        log.error("database unavailable under /fhir: %s", type(error.orig).__name__)
        return outcome_response(FhirError(503, "transient", "the service is unavailable for a moment; send again",
                                          headers={"Retry-After": "30"}))

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error under /fhir", exc_info=error)
        return outcome_response(FhirError(500, "exception", "an unexpected error occurred; it was logged"))
