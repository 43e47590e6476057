"""Depositing documents: a PDF with its metadata, or a structured document entered in a form (a laboratory
result, a patient summary, a prescription or dispensation, an imaging report, a discharge report, a vaccination);
replacing and withdrawing one's own documents.

Every act is one call of ``RecordAccess`` (``deposit``, ``replace``,
``withdraw``): the policy decides from the rights matrix (the types offered
are those the profession may deposit, but the policy decides again), and the
deposit, its trace and — for FHIR content — its structured index are written
in one transaction.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from opendsp.documents.services import DocumentDraft, DocumentRefused
from opendsp.documents.types import FHIR_MEDIA_TYPE, ConfidentialityLevel, DocumentType
from opendsp.locale import N_, formats
from opendsp.policy.decision import AccessDenied
from opendsp.policy.disclosure import Answer, answer_for
from opendsp.platform import Platform
from opendsp.policy.vocabulary import Action, Reason
from opendsp.web.auth_views import PlatformDep, see_other
from opendsp.web.multipart import read_form
from opendsp.documents.labels import TYPE_LABELS
from opendsp.structured import declared
from opendsp.web.professional import forms
from opendsp.web.professional.context import ProfessionalView, professional_view
from opendsp.web.professional.layout import refusal_text, render_pro, render_refusal
from opendsp.web.templating import translate

if TYPE_CHECKING:  # a name only: documents are read through RecordAccess
    from opendsp.documents.models import Document

router = APIRouter()
NOT_FOUND = N_("This document does not exist or is not available.")
CONFIDENTIALITY_LABELS = {
    ConfidentialityLevel.normal: N_("Normal: every professional with access to the record"),
    ConfidentialityLevel.restricted: N_("Restricted: the author, the referring doctor and professionals the holder named"),
}
KINDS = {"pdf": "professional/deposit.html", "laboratory": "professional/deposit_laboratory.html",
         "summary": "professional/deposit_summary.html", "prescription": "professional/deposit_prescription.html",
         "dispensation": "professional/deposit_prescription.html", "imaging": "professional/deposit_imaging.html",
         "discharge": "professional/deposit_discharge.html",
         "vaccination": "professional/deposit_vaccination.html"}


def deposit_types(view: ProfessionalView) -> list[DocumentType]:
    """The types the professional's rights (profession, specialties, organisation) list for deposit."""
    actor = view.access.actor
    rights = view.access.matrix.rights_of(actor.profession, actor.specialties, actor.organisation_kind)
    return [t for t in DocumentType if rights is not None and t in rights.deposit]


def offered_types(view: ProfessionalView, record_id: uuid.UUID) -> list[DocumentType]:
    """The types the policy would let the professional deposit on this record now (asked, not traced): the
    forms offer these only (a patient summary only to the referring doctor, ...)."""
    return [t for t in deposit_types(view)
            if view.access.would(record_id, Action.deposit_document, document_type=t).permitted]


def _form_page(request: Request, view: ProfessionalView, record_id: uuid.UUID, kind: str, *, status: int = 200,
               error: str | None = None, values: dict[str, Any] | None = None,
               replacing: Document | None = None) -> HTMLResponse:
    types = offered_types(view, record_id)
    return render_pro(
        request, view, KINDS[kind], status, patient=view.patient(record_id), kind=kind, error=error,
        values=values or {}, types=[(t.value, TYPE_LABELS[t]) for t in types],
        structured_allowed={t.value for t in types} & {t.value for t in FORM_TYPES.values()},
        levels=list(CONFIDENTIALITY_LABELS.items()), today=formats.local_day(view.now),
        replacing=replacing, analytes=list(forms.ANALYTES.values()), rows=range(forms.LAB_ROWS),
        allergies=list(forms.ALLERGY_CHOICES.values()), conditions=list(forms.CONDITIONS.values()),
        medicines=list(forms.MEDICINES.values()), vaccines=list(forms.VACCINES.items()),
        modalities=forms.MODALITIES, body_sites=forms.BODY_SITES, cvx_codes=list(declared.vaccines()),
    )


class MedicinesForm(str, enum.Enum):
    """The two forms of medicines ticked with their boxes: what a physician prescribes, what a pharmacy hands over."""

    prescription = "prescription"
    dispensation = "dispensation"


# The type each structured form deposits; the PDF form offers every type of ``deposit_types``.
FORM_TYPES = {"laboratory": DocumentType.laboratory_report, "summary": DocumentType.patient_summary,
              "prescription": DocumentType.prescription, "dispensation": DocumentType.dispensation,
              "imaging": DocumentType.imaging_report, "discharge": DocumentType.discharge_letter,
              "vaccination": DocumentType.vaccination_record}
# Refusals that depend on the type, not on the record: the record's menu stays, the form is not offered.
TYPE_REASONS = frozenset({Reason.type_not_permitted, Reason.referring_doctor_only})


def _deposit_refusal(request: Request, view: ProfessionalView, record_id: uuid.UUID,
                     kind: str) -> HTMLResponse | None:
    """The record-level refusal when no deposit this form offers would be permitted now; None to offer it.

    A question, not an act (``RecordAccess.would``, untraced): the deposit itself is decided and traced when
    it is posted. A blocked professional, a record closed or one without a way in gets the refusal, never the
    form, neither before a deposit nor when a posted form has an error. A form whose type the policy refuses
    (a patient summary by another than the referring doctor) answers that refusal at once, not after filling.
    """
    patient = view.patient(record_id)  # an unknown record: "not found", as on every route
    types: list[DocumentType | None] = [FORM_TYPES[kind]] if kind in FORM_TYPES else [*deposit_types(view)]
    decisions = [view.access.would(record_id, Action.deposit_document, document_type=t) for t in types or [None]]
    if any(d.permitted for d in decisions):
        return None
    refusals = [d for d in decisions if d.reason not in TYPE_REASONS]
    if refusals:
        return render_refusal(request, view, patient, refusals[0])
    return render_pro(request, view, "professional/message.html", 403, patient=patient,
                      title_text=translate(request, refusal_text(decisions[0])))


def _metadata(view: ProfessionalView, form: Any, *, media_type: str, kind: DocumentType | None = None) -> DocumentDraft:
    """The draft from the form's common fields; the author is set by RecordAccess, never by the form."""
    try:
        chosen = kind or DocumentType(str(form.get("type") or ""))
    except ValueError:
        raise forms.FormRefused(N_("Choose the type of the document.")) from None
    title = str(form.get("title") or "").strip()
    if not title:
        raise forms.FormRefused(N_("Give the document a title."))
    today = formats.local_day(view.now)
    care_date = forms._day(form.get("care_date"))
    if care_date > today:
        raise forms.FormRefused(N_("The date of care cannot be in the future."))
    try:
        level = ConfidentialityLevel(str(form.get("confidentiality") or "normal"))
    except ValueError:
        raise forms.FormRefused(N_("Choose a confidentiality level.")) from None
    visible_from = None
    if str(form.get("visible_from") or "").strip():
        day = forms._day(form.get("visible_from"))
        if day <= today:
            raise forms.FormRefused(N_("The holder sees the document from a later date than today, or at once."))
        visible_from = datetime.combine(day, time(0, 0), formats.zone())
    return DocumentDraft(type=chosen, title=title[:500], care_date=care_date, media_type=media_type,
                         confidentiality=level, visible_to_holder_from=visible_from)


def _values(form: Any) -> dict[str, Any]:
    return {key: form.getlist(key) if key in ("allergy", "condition", "medicine", "vaccine") else value
            for key, value in form.items() if key != "csrf_token" and not isinstance(value, UploadFile)}


def _refused(request: Request, view: ProfessionalView, record_id: uuid.UUID, kind: str, denied: AccessDenied,
             form: Any, replacing: Document | None = None) -> HTMLResponse:
    decision = denied.decision
    if decision.reason is Reason.no_access or answer_for(decision) is Answer.unknown_patient:
        return render_refusal(request, view, view.patient(record_id), decision)
    return _form_page(request, view, record_id, kind, status=403, error=translate(request, refusal_text(decision)),
                      values=_values(form), replacing=replacing)


@router.get("/pro/patients/{record_id}/deposit", response_class=HTMLResponse)
def deposit_form(request: Request, platform: PlatformDep, record_id: uuid.UUID) -> HTMLResponse:
    with professional_view(request, platform) as view:
        return _deposit_refusal(request, view, record_id, "pdf") or _form_page(request, view, record_id, "pdf")


@router.post("/pro/patients/{record_id}/deposit")
async def deposit_pdf(request: Request, platform: PlatformDep, record_id: uuid.UUID) -> Response:
    form = await read_form(request)  # in memory, never spooled to disk in clear
    upload = form.get("file")
    try:
        content = await forms.read_pdf(upload if isinstance(upload, UploadFile) else None)
    except forms.FormRefused as refused:
        content, problem = b"", str(refused)
    else:
        problem = ""
    with professional_view(request, platform) as view:
        try:
            if problem:
                raise forms.FormRefused(problem)
            draft = _metadata(view, form, media_type="application/pdf")
            document = view.access.deposit(record_id, draft, [content])
        except (forms.FormRefused, DocumentRefused) as refused:
            return _deposit_refusal(request, view, record_id, "pdf") or _form_page(
                request, view, record_id, "pdf", status=400, error=translate(request, str(refused)),
                values=_values(form))
        except AccessDenied as denied:
            return _refused(request, view, record_id, "pdf", denied, form)
        return see_other(f"/pro/patients/{record_id}/deposited/{document.id}")


# What a structured form's content is built from: the platform, the parties, the draft, the posted form, the
# request's language and the day today; raises ``forms.FormRefused`` with what is wrong.
Build = Callable[[Platform, forms.Parties, DocumentDraft, Any, str, date], bytes]


async def _deposit_structured(request: Request, platform: PlatformDep, record_id: uuid.UUID, kind: str,
                              build: Build) -> Response:
    """A structured form posted: its FHIR document built and deposited by the one act ``RecordAccess.deposit``
    (decided, traced, checked for its type as the FHIR door checks it); the form again with what is wrong."""
    form = await request.form()
    with professional_view(request, platform) as view:
        patient = view.patient(record_id)
        try:
            draft = _metadata(view, form, media_type=FHIR_MEDIA_TYPE, kind=FORM_TYPES[kind])
            content = build(platform, forms.parties(patient.person, view.professional, view.organisation), draft,
                            form, request.state.language, formats.local_day(view.now))
            document = view.access.deposit(record_id, draft, [content])
        except (forms.FormRefused, DocumentRefused) as refused:
            return _deposit_refusal(request, view, record_id, kind) or _form_page(
                request, view, record_id, kind, status=400, error=translate(request, str(refused)),
                values=_values(form))
        except AccessDenied as denied:
            # A type the profession may not deposit: the refusal without the form, as when it is asked for.
            return _deposit_refusal(request, view, record_id, kind) or _refused(request, view, record_id, kind,
                                                                                denied, form)
        return see_other(f"/pro/patients/{record_id}/deposited/{document.id}")


def _laboratory(platform: Platform, who: forms.Parties, draft: DocumentDraft, form: Any, language: str,
                today: date) -> bytes:
    results = forms.lab_results(form, female=who.patient.sex == "female")
    return forms.laboratory_bundle(platform, who, title=draft.title, day=draft.care_date, language=language,
                                   results=results)


def _summary(platform: Platform, who: forms.Parties, draft: DocumentDraft, form: Any, language: str,
             today: date) -> bytes:
    return forms.summary_bundle(platform, who, title=draft.title, day=draft.care_date, language=language,
                                content=forms.summary_content(form, draft.care_date))


def _medicines(dispensed: bool) -> Build:
    def build(platform: Platform, who: forms.Parties, draft: DocumentDraft, form: Any, language: str,
              today: date) -> bytes:
        return forms.prescription_bundle(platform, who, title=draft.title, day=draft.care_date, language=language,
                                         items=forms.prescription_items(form, language), dispensed=dispensed)
    return build


def _imaging(platform: Platform, who: forms.Parties, draft: DocumentDraft, form: Any, language: str,
             today: date) -> bytes:
    content = forms.imaging_content(form, title=draft.title, care_date=draft.care_date,
                                    series_uid=forms.new_series_uid(platform))
    return forms.imaging_bundle(platform, who, title=draft.title, day=draft.care_date, language=language,
                                content=content)


def _discharge(platform: Platform, who: forms.Parties, draft: DocumentDraft, form: Any, language: str,
               today: date) -> bytes:
    return forms.discharge_bundle(platform, who, title=draft.title, language=language,
                                  content=forms.discharge_content(form, today))


def _vaccination(platform: Platform, who: forms.Parties, draft: DocumentDraft, form: Any, language: str,
                 today: date) -> bytes:
    given = forms.given_vaccine(form, today=today, birth_date=who.patient.birth_date, language=language)
    return forms.vaccination_bundle(platform, who, title=draft.title, day=draft.care_date, language=language,
                                    given=given)


# The structured forms by their address (``/pro/patients/{record}/deposit/<kind>``) and what builds their content.
BUILDS: dict[str, Build] = {"laboratory": _laboratory, "summary": _summary,
                            MedicinesForm.prescription.value: _medicines(dispensed=False),
                            MedicinesForm.dispensation.value: _medicines(dispensed=True),
                            "imaging": _imaging, "discharge": _discharge, "vaccination": _vaccination}


def _structured_routes(kind: str, build: Build) -> None:
    """The form of a structured kind (or the refusal) and its submission."""

    def form_page(request: Request, platform: PlatformDep, record_id: uuid.UUID) -> HTMLResponse:
        with professional_view(request, platform) as view:
            return _deposit_refusal(request, view, record_id, kind) or _form_page(request, view, record_id, kind)

    async def submitted(request: Request, platform: PlatformDep, record_id: uuid.UUID) -> Response:
        return await _deposit_structured(request, platform, record_id, kind, build)

    path = f"/pro/patients/{{record_id}}/deposit/{kind}"
    router.add_api_route(path, form_page, methods=["GET"], response_class=HTMLResponse, name=f"{kind}_form")
    router.add_api_route(path, submitted, methods=["POST"], name=f"deposit_{kind}")


for _kind, _build in BUILDS.items():
    _structured_routes(_kind, _build)


@router.get("/pro/patients/{record_id}/deposited/{document_id}", response_class=HTMLResponse)
def deposited(request: Request, platform: PlatformDep, record_id: uuid.UUID, document_id: uuid.UUID) -> HTMLResponse:
    """After a deposit: where to go next (a direct deposit gives no access to read the record)."""
    with professional_view(request, platform) as view:
        if refusal := _deposit_refusal(request, view, record_id, "pdf"):
            return refusal
        return render_pro(request, view, "professional/deposited.html", patient=view.patient(record_id),
                          document_id=document_id, notice=translate(request, "The document was deposited."))


def _change_refused(request: Request, view: ProfessionalView, record_id: uuid.UUID,
                    denied: AccessDenied) -> HTMLResponse:
    """A refused replacement or withdrawal: a document the caller may not reach does not exist for them;
    otherwise the policy's reason (record-level: how access can be obtained)."""
    if denied.decision.reason is Reason.not_found:
        raise HTTPException(404, NOT_FOUND) from None
    return render_refusal(request, view, view.patient(record_id), denied.decision)


# A new version keeps the type of the document it replaces (``RecordAccess.replace_in`` sets it); the
# replace form has no type field, so the draft is built with this one and never keeps it.
KEPT_TYPE = DocumentType.consultation_report


@router.get("/pro/patients/{record_id}/documents/{document_id}/replace", response_class=HTMLResponse)
def replace_form(request: Request, platform: PlatformDep, record_id: uuid.UUID, document_id: uuid.UUID) -> HTMLResponse:
    with professional_view(request, platform) as view:
        view.patient(record_id)
        try:
            # Nothing of the document is shown before the policy permits its replacement (traced).
            document = view.access.authorise_document_change(record_id, document_id, Action.replace_document)
        except AccessDenied as denied:
            return _change_refused(request, view, record_id, denied)
        values = {"title": document.title, "care_date": document.care_date.isoformat(),
                  "confidentiality": document.confidentiality.value}
        return _form_page(request, view, record_id, "pdf", values=values, replacing=document)


@router.post("/pro/patients/{record_id}/documents/{document_id}/replace")
async def replace(request: Request, platform: PlatformDep, record_id: uuid.UUID, document_id: uuid.UUID) -> Response:
    form = await read_form(request)  # in memory, never spooled to disk in clear
    upload = form.get("file")
    try:
        content, problem = await forms.read_pdf(upload if isinstance(upload, UploadFile) else None), ""
    except forms.FormRefused as refused:
        content, problem = b"", str(refused)
    with professional_view(request, platform) as view:
        view.patient(record_id)
        try:
            if problem:
                raise forms.FormRefused(problem)
            draft = _metadata(view, form, media_type="application/pdf", kind=KEPT_TYPE)
            document = view.access.replace_in(record_id, document_id, draft, [content])
        except (forms.FormRefused, DocumentRefused) as refused:
            try:
                # The form again, with the old document's title: only once the policy permits its replacement.
                old = view.access.authorise_document_change(record_id, document_id, Action.replace_document)
            except AccessDenied as denied:
                return _change_refused(request, view, record_id, denied)
            return _form_page(request, view, record_id, "pdf", status=400, error=translate(request, str(refused)),
                              values=_values(form), replacing=old)
        except AccessDenied as denied:
            return _change_refused(request, view, record_id, denied)
        return see_other(f"/pro/patients/{record_id}/deposited/{document.id}")


@router.post("/pro/patients/{record_id}/documents/{document_id}/withdraw")
async def withdraw(request: Request, platform: PlatformDep, record_id: uuid.UUID, document_id: uuid.UUID) -> Response:
    form = await request.form()
    with professional_view(request, platform) as view:
        view.patient(record_id)
        try:
            view.access.withdraw_in(record_id, document_id, reason=str(form.get("reason") or "").strip()[:300] or None)
        except AccessDenied as denied:
            return _change_refused(request, view, record_id, denied)
        return see_other(f"/pro/patients/{record_id}/documents/{document_id}")
