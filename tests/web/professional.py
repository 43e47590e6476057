"""Helpers for the professional portal's tests: professionals with accounts, real PDFs, records with codes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fpdf import FPDF
from sqlalchemy import select

from opendsp.accounts import services
from opendsp.actors import SYSTEM
from opendsp.clock import FrozenClock
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from opendsp.records.models import Record
from opendsp.trace.models import TraceEntry
from tests.accounts.portal import Browser, Credentials, activate
from tests.factories import as_holder, make_organisation, make_professional, make_record


def real_pdf(text: str = "Consultation") -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text=text)
    return bytes(pdf.output())


@dataclass
class Pro:
    id: Any
    browser: Browser
    credentials: Credentials


def professional_with_account(platform: Platform, clock: FrozenClock, *, kind: OrganisationKind = OrganisationKind.practice,
                              profession: str = "physician", specialties: tuple[str, ...] = ("general_practice",),
                              name: str = "Cabinet Nord", family_name: str = "Weber") -> Pro:
    """A professional of one organisation, activated over HTTP (/pro/activate): the browser ends logged in."""
    with platform.transaction() as session:
        organisation = make_organisation(session, platform, kind, name=name)
        professional = make_professional(session, platform, profession=profession, specialties=specialties,
                                         organisation=organisation, family_name=family_name)
        account = services.account_of_professional(session=session, platform=platform, professional=professional)
        code = services.issue_activation_code(session=session, platform=platform, account=account, actor=SYSTEM)
        licence, professional_id = professional.licence_number, professional.id
    browser = Browser(platform)
    credentials = activate(browser, clock, licence, code, realm="/pro")
    return Pro(professional_id, browser, credentials)


def record_with_code(platform: Platform) -> tuple[Record, str]:
    """An active record and its holder's presence code."""
    with platform.transaction() as session:
        record = make_record(session, platform)
        code = as_holder(session, platform, record).regenerate_presence_code(record.id)
        session.expunge(record)
    return record, code


def trace(platform: Platform, record: Record) -> list[tuple[str, str, str | None, str | None]]:
    with platform.sessions() as session:
        return [(e.action, e.outcome.value, e.reason, e.basis) for e in session.scalars(
            select(TraceEntry).where(TraceEntry.record_id == record.id).order_by(TraceEntry.id))]
