"""Déclarer une vaccination: the holder's side adds a vaccination it knows of to the vaccination record.

The form gives a vaccine from the list (or its name), a day, and optionally
the dose number, the batch and the place (``opendsp.structured.declared``
checks them). It becomes a FHIR document Bundle whose Immunization is
reported by the patient, deposited into the personal space as a vaccination
record through ``RecordAccess.deposit``: one decision, one trace entry. The
record is always the one being looked at, never one the form names. The
holder's side withdraws a declaration like any document of its own
(docs/adr/0042-vaccinations-the-holder-declares.md).
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from opendsp.documents.services import DocumentDraft, DocumentRefused
from opendsp.documents.types import FHIR_MEDIA_TYPE, DocumentType
from opendsp.fhir.errors import FhirError
from opendsp.fhir.validation import validate
from opendsp.locale import N_, terms
from opendsp.structured.declared import (
    MAX_LOT,
    MAX_PLACE,
    MAX_VACCINE_TEXT,
    DeclarationRefused,
    Holder,
    declared_vaccination,
    read_declaration,
    vaccine_concept,
    vaccines,
)
from opendsp.web.auth_views import PlatformDep, see_other
from opendsp.web.holder.context import HolderView, holder_view
from opendsp.web.holder.layout import render_holder
from opendsp.web.security import csrf_protect
from opendsp.web.templating import translate

router = APIRouter()
forms = APIRouter(dependencies=[Depends(csrf_protect)])
PAGE = "/record/vaccinations/declare"
MAX_FIELD = 1000  # characters of one field kept to show it back


def _form(request: Request, view: HolderView, status: int = 200, error: str | None = None,
          values: dict[str, str] | None = None) -> HTMLResponse:
    language = request.state.language
    choices = sorted(((code, term.word(language)) for code, term in vaccines().items()), key=lambda c: c[1].casefold())
    return render_holder(request, view, "holder/declare_vaccination.html", status, error=error,
                         values=values or {}, vaccines=choices, today=view.access.now.date().isoformat(),
                         born=view.holder.birth_date.isoformat(), max_text=MAX_VACCINE_TEXT, max_lot=MAX_LOT,
                         max_place=MAX_PLACE)


@router.get(PAGE, response_class=HTMLResponse)
def declare_form(request: Request, platform: PlatformDep) -> HTMLResponse:
    with holder_view(request, platform) as view:
        return _form(request, view)


@forms.post(PAGE)
def declare(request: Request, platform: PlatformDep, vaccine: Annotated[str, Form()] = "",
            vaccine_text: Annotated[str, Form()] = "", given: Annotated[str, Form()] = "",
            dose: Annotated[str, Form()] = "", lot: Annotated[str, Form()] = "",
            place: Annotated[str, Form()] = "") -> Response:
    fields = {"vaccine": vaccine, "vaccine_text": vaccine_text, "given": given, "dose": dose, "lot": lot,
              "place": place}
    with holder_view(request, platform) as view:
        holder, language = view.holder, request.state.language
        try:
            declaration = read_declaration(fields, today=view.access.now.date(), birth_date=holder.birth_date)
        except DeclarationRefused as refused:
            kept = {name: value[:MAX_FIELD] for name, value in fields.items()}
            return _form(request, view, 422, translate(request, refused.message), kept)
        vaccine = terms.concept_word(vaccine_concept(declaration), language)
        title = translate(request, N_("Declared vaccination: %(vaccine)s")) % {"vaccine": vaccine}
        randomness = platform.randomness
        bundle = declared_vaccination(
            declaration, holder=Holder(holder.national_number, holder.family_name, holder.given_name,
                                       holder.sex.value, holder.birth_date),
            title=title, language=language, moment=view.access.now.isoformat(timespec="seconds"),
            new_id=lambda: str(uuid.UUID(bytes=randomness.bytes(16), version=4)))
        try:
            validate(bundle, ["Bundle"])
        except FhirError:
            raise HTTPException(422, N_("The document could not be stored: please check the form.")) from None
        draft = DocumentDraft(type=DocumentType.vaccination_record, title=title[:500], care_date=declaration.given,
                              media_type=FHIR_MEDIA_TYPE)
        try:
            view.access.deposit(view.record.id, draft, [json.dumps(bundle, ensure_ascii=False).encode()])
        except DocumentRefused:
            raise HTTPException(422, N_("The document could not be stored: please check the form.")) from None
    return see_other("/record/vaccinations?done=declared")
