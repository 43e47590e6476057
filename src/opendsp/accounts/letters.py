"""Activation letters: one printable page per person, in their language, one PDF file per batch.

Each letter carries a new activation code and a new presence code; the codes
exist only in the PDF (the database keeps their hashes). A batch is one
transaction: its file is written before the commit and removed if the commit
fails, so a printed code always works and a working code was always printed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from fpdf import FPDF
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from opendsp.access.services import RecordAccess
from opendsp.accounts.identifiers import InvalidNationalNumber, national_number_from_input
from opendsp.accounts.models import Account, AccountState, ActivationLetter
from opendsp.accounts.services import account_of_person, issue_activation_code
from opendsp.actors import Actor
from opendsp.locale import translations
from opendsp.locale.formats import format_date
from opendsp.locale.latin1 import latin_1
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.records.models import Record, RecordState
from opendsp.records.services import record_of_person


@dataclass(frozen=True)
class Letter:
    """What one letter says: never stored, only printed."""

    language: str
    name: str
    address: list[str]
    national_number: str
    activation_code: str
    presence_code: str
    expires_on: date
    portal: str


@dataclass
class LettersReport:
    files: list[Path] = field(default_factory=list)
    letters: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (national number, why)


def select_persons(
    session: Session, *, national_numbers: Iterable[str] | None = None, include_sent: bool = False
) -> tuple[list[uuid.UUID], list[tuple[str, str]]]:
    """The persons to write to: all not activated (and not written to yet), or those named."""
    waiting = [AccountState.created] + ([AccountState.letter_sent] if include_sent else [])
    query = (
        select(Person.id, Person.national_number, Account.state, Record.state)
        .join(Record, and_(Record.id == Person.record_id, Record.person_id == Person.id))
        .outerjoin(Account, Account.person_id == Person.id)
    )
    if national_numbers is None:
        rows = session.execute(
            query.where(or_(Account.id.is_(None), Account.state.in_(waiting)), Record.state != RecordState.closed)
            .order_by(Person.national_number)
        ).all()
        return [row[0] for row in rows], []
    wanted: list[str] = []
    skipped: list[tuple[str, str]] = []
    for raw in national_numbers:
        try:
            wanted.append(national_number_from_input(raw))
        except InvalidNationalNumber as error:
            skipped.append((raw, str(error)))
    found = {row[1]: row for row in session.execute(query.where(Person.national_number.in_(wanted)))}
    chosen = []
    for number in wanted:
        row = found.get(number)
        if row is None:
            skipped.append((number, "no such person"))
        elif row[2] in (AccountState.active, AccountState.closed):
            skipped.append((number, f"the account is {row[2].value}"))
        else:
            chosen.append(row[0])
    return chosen, skipped


def issue_letters(
    *,
    platform: Platform,
    person_ids: list[uuid.UUID],
    actor: Actor,
    out_dir: Path | None = None,
    batch_size: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> LettersReport:
    """New codes and a letter for each person, one PDF file (and one transaction) per batch."""
    out_dir = out_dir or platform.settings.letters_dir
    assert out_dir is not None
    out_dir.mkdir(parents=True, exist_ok=True)
    size = batch_size or platform.settings.letters_batch_size
    run = platform.clock.now().strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    report = LettersReport()
    for number, start in enumerate(range(0, len(person_ids), size), start=1):
        chunk = person_ids[start : start + size]
        path = out_dir / f"letters-{run}-{number:04d}.pdf"
        try:
            with platform.transaction() as session:
                letters = [_prepare(session, platform, actor, person_id, batch=run, file_name=path.name) for person_id in chunk]
                _write_atomically(path, render(letters))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        report.files.append(path)
        report.letters += len(chunk)
        if progress:
            progress(len(chunk))
    return report


def _prepare(session: Session, platform: Platform, actor: Actor, person_id: uuid.UUID, *, batch: str, file_name: str) -> Letter:
    person = session.get(Person, person_id)
    record = record_of_person(session, person)
    assert person is not None and record is not None
    account = account_of_person(session=session, platform=platform, person=person)
    activation = issue_activation_code(session=session, platform=platform, account=account, actor=actor)
    presence = RecordAccess(session=session, platform=platform, actor=actor).issue_presence_code(record.id)
    language = person.preferred_language.value
    account.state = AccountState.letter_sent
    session.add(
        ActivationLetter(
            account_id=account.id, batch=batch, language=language, file_name=file_name, created_at=platform.clock.now()
        )
    )
    session.flush()
    address = [line for line in (person.street, f"{person.postal_code or ''} {person.city or ''}".strip(), person.country) if line]
    return Letter(
        language=language,
        name=person.display_name,
        address=address,
        national_number=person.national_number,
        activation_code=activation,
        presence_code=presence,
        expires_on=platform.clock.now().date() + timedelta(days=platform.settings.activation_code_days),
        portal=platform.settings.public_base_url.rstrip("/"),
    )


def _write_atomically(path: Path, content: bytes) -> None:
    partial = path.with_suffix(".part")
    partial.write_bytes(content)
    partial.replace(path)


# -- the page ------------------------------------------------------------------------------

_text = latin_1  # the PDF's core fonts draw Latin-1 only


def render(letters: list[Letter]) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_title("OpenDSP")
    for letter in letters:
        _page(pdf, letter)
    return bytes(pdf.output())


def _page(pdf: FPDF, letter: Letter) -> None:
    _ = translations(letter.language).gettext
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def line(text: str, size: float = 11, style: str = "", height: float = 6, font: str = "helvetica") -> None:
        pdf.set_font(font, style, size)
        pdf.multi_cell(width, height, _text(text), new_x="LMARGIN", new_y="NEXT")

    pdf.add_page()
    line(_("Shared care record (DSP)"), 9, "B")
    pdf.ln(14)
    for address_line in [letter.name, *letter.address]:
        line(address_line, 11, height=5)
    pdf.ln(10)
    line(_("Your shared care record: how to activate it"), 15, "B", 8)
    pdf.ln(3)
    line(_("Dear %(name)s,") % {"name": letter.name})
    pdf.ln(2)
    line(_("Your shared care record has been created. Activate your account to see your health documents "
           "and decide who may see them."))
    pdf.ln(4)
    line(_("National number: %(number)s") % {"number": letter.national_number}, 12, font="courier")
    line(_("Activation code: %(code)s") % {"code": letter.activation_code}, 14, "B", 8, font="courier")
    valid = format_date(letter.expires_on, letter.language, long=True)
    line(_("The activation code works once, until %(date)s.") % {"date": valid}, 10)
    pdf.ln(4)
    line(_("To activate your account"), 12, "B")
    steps = [
        _("Go to %(url)s/activate") % {"url": letter.portal},
        _("Enter your national number and the activation code."),
        _("Give an e-mail address or a mobile number and choose a password."),
        _("Install an authenticator app on your phone and scan the QR code shown."),
        _("Write down the recovery codes shown and keep them in a safe place."),
    ]
    for number, step in enumerate(steps, start=1):
        line(f"{number}. {step}")
    line(_("If you use MyGuichet.lu, you can also activate your account there, without this letter."), 10)
    pdf.ln(4)
    line(_("Presence code: %(code)s") % {"code": letter.presence_code}, 14, "B", 8, font="courier")
    line(_("Give this code to a health professional outside your trusted circle: it opens your record to them "
           "for 24 hours. Keep it with you, for example in your wallet. You can make a new one in your record."), 10)
    pdf.ln(4)
    line(_("Keep this letter to yourself: nobody from the agency will ever ask you for these codes."), 10, "I")
    line(_("Questions? Helpdesk: +352 27 12 50 18 33, helpdesk@esante.lu"), 10)
