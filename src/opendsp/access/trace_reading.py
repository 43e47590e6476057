"""The trace as the holder reads it: filters applied inside the query, and each entry told in plain words.

``TraceQuery`` turns the holder's filters (period, kind of act, basis, who,
outcome) into SQL conditions on the record's chain. ``describe`` turns trace
entries into ``TraceLine`` values: who (name, profession, organisation), when,
on what basis, what was done and to what, with which outcome. Lines hold
catalogue ids, not text: the page, the CSV and the PDF translate them into
the reader's language. A document's title is told only when the holder's side
may see the document now (a result whose release its author delayed keeps its
title to itself until then).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from opendsp.access.wishes import WishKind, WishValue
from opendsp.documents.models import Document
from opendsp.locale import N_, formats
from opendsp.persons.models import Person
from opendsp.documents.services import NoPermit
from opendsp.policy.decision import Decision, Visibility
from opendsp.policy.sql import visible_documents
from opendsp.policy.vocabulary import Action, Basis, Reason
from opendsp.professionals.models import Organisation, Professional
from opendsp.professionals.vocabulary import PROFESSIONS, SPECIALTIES
from opendsp.trace.models import Outcome, TraceEntry
from opendsp.documents.labels import TYPE_LABELS as _TYPE_LABELS

# The words of the document types (kept with the portals' words), by type code.
TYPE_LABELS: dict[str, str] = {kind.value: label for kind, label in _TYPE_LABELS.items()}


Gettext = Callable[[str], str]


@dataclass(frozen=True)
class Msg:
    """A catalogue id inside a line, translated where the line is shown."""

    id: str


# -- kinds of act ----------------------------------------------------------------------------

# kind -> (label, trace actions, action prefixes)
KINDS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "consultation": (N_("Consultations"), ("document.consult", "documents.list", "stays.list", "wishes.read"), ()),
    "deposit": (N_("Deposits"), ("document.deposit",), ()),
    "replacement": (N_("Replacements"), ("document.replace",), ()),
    "withdrawal": (N_("Withdrawals"), ("document.withdraw",), ()),
    "opening": (N_("Access opened with the presence code or in an emergency"), ("presence.open", "emergency.open"),
                ()),
    "choices": (N_("Changes to the holder's choices"),
                ("access.manage", "assistants.manage", "directory.search", "accounts.manage"), ()),
    "reading": (N_("Reading the trace and downloads"), ("trace.read", "record.export"), ()),
    "record": (N_("Record created, activated, closed, reopened"),
               ("record.create", "record.activate", "record.close", "record.reopen", "record.enter",
                "record.erase"), ()),
    "stay": (N_("Hospital stays"), ("stay.report", "stay.read"), ()),
    "lookup": (N_("Identity looked up by a professional"), ("patients.search",), ()),
    "account": (N_("Logins and account"), (), ("account.", "session.", "console.")),
}

# who -> (label, actor kinds)
OTHERS_THAN_HOLDER_SIDE = "not_holder_side"
EVERYONE = "everyone"
WHO: dict[str, tuple[str, tuple[str, ...]]] = {
    # What the holder's page shows first: the acts of others than the holder's own side.
    OTHERS_THAN_HOLDER_SIDE: (N_("Everyone but the holder, assistants and legal representatives"),
                              ("professional", "agency", "institution", "system", "anonymous")),
    "professionals": (N_("Health professionals"), ("professional",)),
    "holder_side": (N_("The holder, assistants and legal representatives"), ("holder", "assistant", "representative")),
    "others": (N_("The agency, hospitals' systems and the platform"), ("agency", "institution", "system", "anonymous")),
    EVERYONE: (N_("Everyone"), ()),  # no condition
}

OUTCOMES: dict[str, str] = {
    "permitted": N_("Carried out"),
    "refused": N_("Refused"),
}

BASIS_LABELS: dict[str, str] = {
    Basis.holder.value: N_("Holder"),
    Basis.assistant.value: N_("Assistant"),
    Basis.representative.value: N_("Legal representative"),
    Basis.circle.value: N_("Trusted circle"),
    Basis.referring_doctor.value: N_("Referring doctor"),
    Basis.stay.value: N_("Hospital stay"),
    Basis.presence_code.value: N_("Presence code"),
    Basis.emergency.value: N_("Emergency access"),
    Basis.direct_deposit.value: N_("Sent directly by the laboratory"),
    Basis.agency.value: N_("Agency"),
    Basis.institution.value: N_("Hospital's system"),
    Basis.licensed_professional.value: N_("Licensed professional"),
    Basis.system.value: N_("Platform"),
}

# Why an act was refused: the policy's reasons, then those of logins and activations.
REASON_LABELS: dict[str, str] = {
    Reason.holder_side.value: N_("the holder, or someone acting with the holder's rights"),
    Reason.access_granted.value: N_("access granted"),
    Reason.agency_administration.value: N_("administrative act of the agency"),
    Reason.record_closed.value: N_("the record is closed"),
    Reason.record_not_active.value: N_("the record is not activated yet"),
    Reason.blocked.value: N_("this professional is blocked by the holder"),
    Reason.no_access.value: N_("no access: neither the trusted circle, nor a presence code, nor emergency access"),
    Reason.not_holder_side.value: N_("only the holder, their assistants and legal representatives act on the record"),
    Reason.holder_only.value: N_("only the holder may do this"),
    Reason.assistant_cannot_delegate.value: N_("an assistant cannot designate further assistants"),
    Reason.delegation_ended.value: N_("the delegation to this assistant has ended"),
    Reason.representation_ended.value: N_("the person represented has come of age"),
    Reason.profession_without_rights.value: N_("this profession has no rights on shared care records"),
    Reason.agency_no_clinical_access.value: N_("the agency's staff never consult health data"),
    Reason.system_no_clinical_access.value: N_("platform jobs never consult health data"),
    Reason.not_found.value: N_("no such document"),
    Reason.type_not_permitted.value: N_("this profession may not deposit this type of document"),
    Reason.referring_doctor_only.value: N_("only the referring doctor deposits the patient summary"),
    Reason.not_author.value: N_("only the author may replace or withdraw a document"),
    Reason.holder_deposits_personal_only.value: N_("the holder deposits documents in the personal space only"),
    Reason.document_not_current.value: N_("only the current version of a document can be replaced or withdrawn"),
    Reason.wrong_presence_code.value: N_("wrong presence code"),
    Reason.presence_code_locked.value: N_("too many wrong presence codes"),
    Reason.emergency_refused_by_holder.value: N_("the holder refuses emergency access"),
    Reason.not_emergency_department.value: N_("emergency access is reserved to emergency departments"),
    Reason.emergency_reason_required.value: N_("emergency access needs a reason"),
    Reason.wrong_state.value: N_("the record is not in a state that allows this"),
    Reason.agency_only.value: N_("only the agency's staff manage accounts"),
    Reason.not_applicable.value: N_("this act does not apply"),
    Reason.not_a_care_institution.value: N_("only hospitals and emergency departments report stays"),
    Reason.too_many_lookups.value: N_("too many patient lookups in the hour"),
    # logins and activations (opendsp.accounts.services)
    "wrong_login": N_("wrong identifier or password"),
    "wrong_password": N_("wrong password"),
    "wrong_totp": N_("wrong code from the authenticator app"),
    "replayed_totp": N_("a code from the authenticator app used twice"),
    "locked": N_("the account is locked"),
    "closed": N_("the account is closed"),
    "not_active": N_("the account is not activated yet"),
    "too_many_failures": N_("too many failed attempts"),
    "already_active": N_("the account is already active"),
    "wrong_code": N_("wrong activation code"),
    "code_locked": N_("the activation code is blocked"),
    "code_used": N_("the activation code was already used"),
    "code_replaced": N_("the activation code was replaced by a newer one"),
    "code_expired": N_("the activation code has expired"),
    "unknown_person": N_("no account for this identity"),
}

ACTION_LABELS: dict[str, str] = {
    "documents.list": N_("Looked at the list of documents"),
    "document.consult": N_("Consulted a document"),
    "document.deposit": N_("Deposited a document"),
    "document.replace": N_("Replaced a document with a new version"),
    "document.withdraw": N_("Withdrew a document"),
    "stays.list": N_("Looked at the hospital stays"),
    # The wishes are read within a page's act (its entry says "wishes"); an entry of their own is not written.
    "wishes.read": N_("Read your wishes (organ donation, ...)"),
    "stay.report": N_("Hospital stay reported by the hospital"),
    "stay.read": N_("Hospital stay read back by the hospital that reported it"),
    "patients.search": N_("Looked up your identity (name, birth date, national number)"),
    "presence.open": N_("Opened the record with the presence code"),
    "emergency.open": N_("Opened the record in an emergency"),
    "trace.read": N_("Read the trace"),
    "record.export": N_("Downloaded the whole record"),
    "record.create": N_("Record created"),
    "record.activate": N_("Record activated"),
    "record.close": N_("Record closed"),
    "record.reopen": N_("Record reopened"),
    "record.enter": N_("Switched to this record"),
    "record.erase": N_("Record erased for good (its content destroyed, its trace kept)"),
    "directory.search": N_("Searched the directory of professionals"),
    "access.manage": N_("Changed the access settings"),
    "assistants.manage": N_("Changed the assistants"),
    "accounts.manage": N_("Administrative act on the account"),
    "account.login": N_("Logged in"),
    "account.login.password": N_("Password accepted"),
    "account.activation": N_("Account activation attempt"),
    "account.activation.code_accepted": N_("Activation code accepted"),
    "account.activation_code.issue": N_("Activation letter prepared"),
    "account.activation_code.lock": N_("Activation code blocked"),
    "account.activate": N_("Account activated"),
    "account.lock": N_("Account locked"),
    "account.unlock": N_("Account unlocked by the helpdesk"),
    "account.second_factor.reset": N_("Authenticator app reset by the helpdesk"),
    "account.language": N_("Language of the portal changed"),
    "console.account.view": N_("Account looked up by the helpdesk"),
    "session.open": N_("Session started"),
    "session.close": N_("Logged out"),
    "session.close_all": N_("Logged out on all devices"),
    # The platform's jobs (access.system.PlatformJobs): the documents they opened, counted.
    "search.index": N_("Documents indexed for the search by the platform"),
    "content.verify": N_("Documents checked by the platform (their content opened to verify it is intact)"),
}

# access.manage and assistants.manage: what changed (the entry's context "change").
CHANGE_LABELS: dict[str, str] = {
    "circle.add": N_("Added to the trusted circle"),
    "circle.remove": N_("Removed from the trusted circle"),
    "referring_doctor.set": N_("Referring doctor designated"),
    "emergency.allow": N_("Emergency access allowed"),
    "emergency.refuse": N_("Emergency access refused"),
    "block.add": N_("Professional blocked"),
    "block.remove": N_("Professional unblocked"),
    "presence_code.regenerate": N_("New presence code generated"),
    "presence_code.issue": N_("New presence code sent by letter"),
    "presence_access.end": N_("Access with the presence code ended"),
    "institutions.refuse": N_("Access through hospital stays refused"),
    "institutions.allow": N_("Access through hospital stays allowed again"),
    "wish.set": N_("Wish recorded"),
    "document.hide": N_("Document hidden from professionals"),
    "document.unhide": N_("Document shown to professionals again"),
    "document.confidentiality": N_("Confidentiality of a document changed"),
    "assistant.add": N_("Assistant designated"),
    "assistant.end": N_("Assistant removed"),
    "assistant.invite": N_("Assistant invited by e-mail"),
    "assistant.invite.withdraw": N_("Invitation of an assistant withdrawn"),
}
REFERRING_DOCTOR_WITHDRAWN = N_("Referring doctor withdrawn")
TRACE_DOWNLOADED = N_("Downloaded the trace")
OTHER_ACT = N_("Other act")
# An act whose entry says the holder's wishes went with it (a professional's patient view or summary).
WITH_WISHES = N_("with your wishes (organ donation, ...)")

# record.export "part": reading back one's own choices (see RecordAccess.read_choices, wishes, assistants).
EXPORT_PARTS: dict[str, str] = {
    "choices": N_("Read the access settings"),
    "wishes": N_("Read the wishes"),
    "assistants": N_("Read the list of assistants"),
    "all": N_("Downloaded the whole record"),
    "document.readers": N_("Read who may read a document"),
}
# A document's confidentiality as the holder set it, told after the document's title.
CONFIDENTIALITY_LABELS: dict[str, str] = {
    "restricted": N_("restricted to the professionals named"),
    "normal": N_("restriction lifted"),
}

WISH_LABELS: dict[str, str] = {WishKind.organ_donation.value: N_("Organ donation after my death")}
ANSWER_LABELS: dict[str, str] = {
    WishValue.yes.value: N_("Yes"),
    WishValue.no.value: N_("No"),
    WishValue.not_stated.value: N_("Not stated"),
}

ACTOR_LABELS: dict[str, str] = {
    "assistant": N_("assistant"),
    "representative": N_("legal representative"),
    "agency": N_("agency staff"),
}
# The same, said of a woman or of a man (the words follow the person: "représentante légale").
GENDERED_ACTOR_LABELS: dict[tuple[str, str], str] = {
    ("assistant", "female"): N_("assistant (she)"),
    ("assistant", "male"): N_("assistant (he)"),
    ("representative", "female"): N_("legal representative (she)"),
    ("representative", "male"): N_("legal representative (he)"),
}
SOMEONE = N_("Someone not logged in")
PLATFORM = N_("The platform")


def kind_of(action: str) -> str | None:
    for kind, (_label, actions, prefixes) in KINDS.items():
        if action in actions or any(action.startswith(prefix) for prefix in prefixes):
            return kind
    return None


# -- the filters -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceQuery:
    """The holder's filters; every one optional. Dates are days in Luxembourg, both included."""

    since: date | None = None
    until: date | None = None
    kind: str | None = None
    basis: str | None = None
    who: str | None = None
    outcome: str | None = None

    @classmethod
    def parse(cls, *, since: str = "", until: str = "", kind: str = "", basis: str = "", who: str = "",
              outcome: str = "") -> tuple[TraceQuery, list[str]]:
        """The query from a form's values, and the problems found (catalogue ids); a bad value is left out."""
        problems: list[str] = []

        def day(value: str) -> date | None:
            value = value.strip()
            if not value:
                return None
            try:
                return date.fromisoformat(value)
            except ValueError:
                problems.append(N_("Enter the dates as YYYY-MM-DD, for example 2025-03-31."))
                return None

        start, end = day(since), day(until)
        if start and end and start > end:
            problems.append(N_("The start of the period is after its end."))
            start = end = None

        def choice(value: str, allowed: Iterable[str]) -> str | None:
            value = value.strip()
            if not value:
                return None
            if value not in allowed:
                problems.append(N_("Choose one of the values offered."))
                return None
            return value

        query = cls(
            since=start, until=end, kind=choice(kind, KINDS), basis=choice(basis, BASIS_LABELS),
            who=choice(who, WHO), outcome=choice(outcome, OUTCOMES),
        )
        return query, list(dict.fromkeys(problems))

    def conditions(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.since:
            out.append(TraceEntry.recorded_at >= datetime.combine(self.since, time.min, formats.zone()))
        if self.until:
            out.append(TraceEntry.recorded_at < datetime.combine(self.until + timedelta(days=1), time.min, formats.zone()))
        if self.kind:
            _label, actions, prefixes = KINDS[self.kind]
            matches: list[ColumnElement[bool]] = [TraceEntry.action.in_(actions)] if actions else []
            matches += [TraceEntry.action.startswith(prefix, autoescape=True) for prefix in prefixes]
            out.append(or_(*matches))
        if self.basis:
            out.append(TraceEntry.basis == self.basis)
        if self.who and WHO[self.who][1]:
            out.append(TraceEntry.actor_kind.in_(WHO[self.who][1]))
        if self.outcome == "permitted":
            out.append(TraceEntry.outcome == Outcome.permitted)
        elif self.outcome == "refused":
            out.append(TraceEntry.outcome != Outcome.permitted)
        return out

    def as_params(self) -> dict[str, str]:
        """The filters as query parameters (for links to other pages and downloads)."""
        values = {
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "kind": self.kind or "", "basis": self.basis or "", "who": self.who or "", "outcome": self.outcome or "",
        }
        return {key: value for key, value in values.items() if value}

    def as_context(self) -> dict[str, str]:
        """What the trace entry of this reading keeps about it."""
        return self.as_params()


# -- an entry told in words ------------------------------------------------------------------


Part = str | Msg


@dataclass(frozen=True)
class TraceLine:
    entry_id: int
    seq: int
    at: datetime
    action: str
    kind: str | None
    actor_kind: str
    who: Part
    acting_as: str | None  # catalogue id: "assistant", "legal representative", ...
    profession: str | None  # code
    specialties: tuple[str, ...]
    organisation: str | None
    act: str  # catalogue id
    subject: tuple[Part, ...]  # what the act was about: a document's title, a professional, ...
    basis: str | None
    stay: dict[str, Any] | None
    outcome: str
    reason: str | None
    emergency: bool
    emergency_reason: str | None
    document_id: uuid.UUID | None = None
    context: dict[str, Any] = field(default_factory=dict, repr=False)
    hash: str = ""
    prev_hash: str = ""

    @property
    def refused(self) -> bool:
        return self.outcome != Outcome.permitted.value

    @property
    def local_time(self) -> datetime:
        return formats.local(self.at)

    def who_text(self, _: Gettext) -> str:
        name = _(self.who.id) if isinstance(self.who, Msg) else self.who
        return f"{name} ({_(self.acting_as)})" if self.acting_as else name

    def profession_text(self, _: Gettext) -> str:
        if not self.profession:
            return ""
        words = _(PROFESSIONS.get(self.profession, self.profession))
        specialties = [_(SPECIALTIES[s]) for s in self.specialties if s in SPECIALTIES]
        return f"{words} – {', '.join(specialties)}" if specialties else words

    def act_text(self, _: Gettext) -> str:
        return _(self.act)

    def subject_text(self, _: Gettext) -> str:
        return " — ".join(_(part.id) if isinstance(part, Msg) else part for part in self.subject)

    def basis_text(self, _: Gettext, language: str = "fr") -> str:
        if not self.basis:
            return ""
        label = _(BASIS_LABELS.get(self.basis, self.basis))
        stay = self.stay or {}
        if self.basis == Basis.stay.value and stay.get("organisation"):
            place = stay["organisation"] + (f" — {stay['care_unit']}" if stay.get("care_unit") else "")
            start = _local_day(stay.get("from"), language)
            end = _local_day(stay.get("to"), language)
            period = f"{start} – {end}" if start and end else (f"{start} –" if start else "")
            return f"{label}: {place}" + (f" ({period})" if period else "")
        return label

    def outcome_text(self, _: Gettext) -> str:
        if not self.refused:
            return _(OUTCOMES[Outcome.permitted.value])
        reason = REASON_LABELS.get(self.reason or "")
        refused = OUTCOMES[Outcome.refused.value]
        return f"{_(refused)}: {_(reason)}" if reason else _(refused)


def _local_day(value: Any, language: str) -> str | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return formats.format_date(moment, language)


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def describe(session: Session, entries: Sequence[TraceEntry], rule: Visibility) -> list[TraceLine]:
    """Each entry told in words, names and titles loaded once for the whole batch.

    ``rule`` is the holder's side's visibility of documents: a title is told
    only for a document that rule admits.
    """
    professional_ids: set[uuid.UUID] = set()
    organisation_ids: set[uuid.UUID] = set()
    person_ids: set[uuid.UUID] = set()
    document_ids: set[uuid.UUID] = set()
    for entry in entries:
        context = entry.context or {}
        if entry.actor_kind == "professional":
            professional_ids.update(filter(None, [_uuid(entry.actor_id)]))
        elif entry.actor_kind in ("assistant", "representative"):  # for words that follow the person
            person_ids.update(filter(None, [_uuid(entry.actor_id)]))
        professional_ids.update(filter(None, [_uuid(context.get("professional"))]))
        if isinstance(context.get("named"), list):  # the readers a document was restricted to
            professional_ids.update(filter(None, (_uuid(p) for p in context["named"])))
        organisation_ids.update(filter(None, [_uuid(context.get("organisation"))]))
        person_ids.update(filter(None, [_uuid(context.get("assistant"))]))
        document_ids.update(filter(None, [entry.document_id, _uuid(context.get("new_document"))]))
        read_together = context.get("documents") if isinstance(context.get("documents"), list) else []
        document_ids.update(filter(None, (_uuid(d) for d in read_together)))
    professionals = _by_id(session, Professional, professional_ids)
    organisations = _by_id(session, Organisation, organisation_ids)
    persons = _by_id(session, Person, person_ids)
    titles: dict[uuid.UUID, str] = {}
    for chunk in _chunks(sorted(document_ids, key=str), 500):
        titles.update(session.execute(
            select(Document.id, Document.title).where(Document.id.in_(chunk), visible_documents(rule))
        ).all())
    return [_line(entry, professionals, organisations, persons, titles) for entry in entries]


def _chunks(values: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _by_id(session: Session, model: Any, ids: set[uuid.UUID]) -> dict[uuid.UUID, Any]:
    found: dict[uuid.UUID, Any] = {}
    for chunk in _chunks(sorted(ids, key=str), 500):
        found.update({row.id: row for row in session.scalars(select(model).where(model.id.in_(chunk)))})
    return found


def _line(
    entry: TraceEntry,
    professionals: dict[uuid.UUID, Professional],
    organisations: dict[uuid.UUID, Organisation],
    persons: dict[uuid.UUID, Person],
    titles: dict[uuid.UUID, str],
) -> TraceLine:
    context = dict(entry.context or {})
    kind = entry.actor_kind
    who: Part = entry.actor_display or ""
    profession, specialties, organisation = None, (), None
    if kind == "professional":
        professional = professionals.get(_uuid(entry.actor_id))  # type: ignore[arg-type]
        if professional is not None:
            profession, specialties = professional.profession, tuple(professional.specialties)
    if kind in ("professional", "institution"):
        acting_for = organisations.get(_uuid(context.get("organisation")))  # type: ignore[arg-type]
        organisation = acting_for.name if acting_for else None
    acting_as = ACTOR_LABELS.get(kind)
    if kind in ("assistant", "representative"):
        acting = persons.get(_uuid(entry.actor_id))  # type: ignore[arg-type]
        sex = acting.sex.value if acting is not None else ""
        acting_as = GENDERED_ACTOR_LABELS.get((kind, sex), acting_as)
    elif kind == "system":
        who = Msg(PLATFORM)
    elif kind == "anonymous" or not who:
        who = Msg(SOMEONE)
    act, subject = _act(entry, context, professionals, organisations, persons, titles)
    basis = entry.basis
    emergency = basis == Basis.emergency.value or bool(context.get("emergency")) or entry.action == "emergency.open"
    return TraceLine(
        entry_id=entry.id, seq=entry.seq, at=entry.recorded_at, action=entry.action, kind=kind_of(entry.action),
        actor_kind=kind, who=who, acting_as=acting_as, profession=profession, specialties=specialties,
        organisation=organisation, act=act, subject=subject, basis=basis,
        stay=context.get("stay") if isinstance(context.get("stay"), dict) else None,
        outcome=Outcome(entry.outcome).value, reason=entry.reason, emergency=emergency,
        emergency_reason=context.get("reason_text") if entry.action == "emergency.open" else None,
        document_id=entry.document_id, context=context, hash=entry.hash, prev_hash=entry.prev_hash,
    )


# Many documents read for one view, traced as one act (RecordAccess.read_documents), by purpose.
READ_TOGETHER = {
    "chart": N_("Consulted documents for a chart of results"),
    "summary": N_("Consulted documents for the patient summary view"),
    "vaccination_record": N_("Consulted documents for the vaccination record"),
    "medication_list": N_("Consulted documents for the medication list"),
}


def _act(
    entry: TraceEntry,
    context: dict[str, Any],
    professionals: dict[uuid.UUID, Professional],
    organisations: dict[uuid.UUID, Organisation],
    persons: dict[uuid.UUID, Person],
    titles: dict[uuid.UUID, str],
) -> tuple[str, tuple[Part, ...]]:
    action = entry.action
    subject: list[Part] = []
    if entry.document_id is not None and entry.document_id in titles:
        subject.append(titles[entry.document_id])
    if context.get("wishes") is True:
        subject.append(Msg(WITH_WISHES))
    if action in ("access.manage", "assistants.manage", "accounts.manage"):
        change = str(context.get("change") or "")
        professional = professionals.get(_uuid(context.get("professional")))  # type: ignore[arg-type]
        if professional is not None:
            subject.append(professional.display_name)
        assistant = persons.get(_uuid(context.get("assistant")))  # type: ignore[arg-type]
        if assistant is not None:
            subject.append(assistant.display_name)
        if change.startswith("institutions."):
            refused = organisations.get(_uuid(context.get("organisation")))  # type: ignore[arg-type]
            subject.append(refused.name if refused else Msg(N_("every hospital")))
        if change == "document.confidentiality":
            subject.append(Msg(CONFIDENTIALITY_LABELS.get(str(context.get("level")), OTHER_ACT)))
            named = context.get("named") if isinstance(context.get("named"), list) else []
            subject += [professionals[p].display_name for p in filter(None, (_uuid(i) for i in named))
                        if p in professionals]
        if change == "wish.set":
            subject += [Msg(WISH_LABELS.get(str(context.get("kind")), OTHER_ACT)),
                        Msg(ANSWER_LABELS.get(str(context.get("value")), OTHER_ACT))]
        if change == "referring_doctor.set" and not context.get("professional"):
            return REFERRING_DOCTOR_WITHDRAWN, tuple(subject)
        return CHANGE_LABELS.get(change, ACTION_LABELS[action]), tuple(subject)
    if action == "record.export":
        return EXPORT_PARTS.get(str(context.get("part") or "all"), ACTION_LABELS[action]), tuple(subject)
    if action == "trace.read" and context.get("format"):
        return TRACE_DOWNLOADED, (str(context["format"]).upper(),)
    if action == "document.consult" and context.get("purpose") in READ_TOGETHER:
        # Several documents read for one view, in one entry: each named when the holder's side may see it.
        read = context.get("documents") if isinstance(context.get("documents"), list) else []
        subject += [titles[d] for d in filter(None, (_uuid(i) for i in read)) if d in titles]
        return READ_TOGETHER[context["purpose"]], tuple(subject)
    if action == "directory.search" and context.get("query"):
        subject.append(f"« {context['query']} »")
    if action in ("document.deposit", "document.replace") and not subject and context.get("type") in TYPE_LABELS:
        subject.append(Msg(TYPE_LABELS[context["type"]]))
    if action in ACTION_LABELS:
        return ACTION_LABELS[action], tuple(subject)
    return OTHER_ACT, (action,)


def read_batch(
    session: Session,
    *,
    reading: TraceReading,
    after: int | None = None,
    newest_first: bool = True,
    batch: int = 500,
) -> list[TraceLine]:
    """One batch of the trace a permit lets read: entries up to ``reading.upto_seq``, filtered, in words.

    ``after``: the position of the last entry of the previous batch. Only with
    a permit to read this record's trace, or to export this record.
    """
    permit, record_id = reading.permit, reading.record_id
    if not (permit.covers(Action.read_trace, record_id) or permit.covers(Action.export_record, record_id)):
        raise NoPermit(f"no permit to read the trace of record {record_id}")
    statement = select(TraceEntry).where(
        TraceEntry.chain == str(record_id), TraceEntry.seq <= reading.upto_seq, *reading.query.conditions()
    )
    if after is not None:
        statement = statement.where(TraceEntry.seq < after if newest_first else TraceEntry.seq > after)
    order = TraceEntry.seq.desc() if newest_first else TraceEntry.seq.asc()
    entries = session.scalars(statement.order_by(order).limit(batch)).all()
    return describe(session, entries, reading.rule)


def read_lines(
    sessions: Callable[[], Session], reading: TraceReading, *, newest_first: bool = True, batch: int = 500
) -> Iterator[TraceLine]:
    """The whole trace a permit lets read, batch after batch, each read in a short session of its own.

    For files made after the request's transaction has committed (the reading
    traced): no transaction stays open while a slow client downloads.
    """
    after: int | None = None
    while True:
        with sessions() as session:
            lines = read_batch(session, reading=reading, after=after, newest_first=newest_first, batch=batch)
        if not lines:
            return
        yield from lines
        after = lines[-1].seq


@dataclass(frozen=True)
class TraceReading:
    """A permit to read a record's trace (or to export the record), and what to read: up to ``upto_seq``."""

    permit: Decision
    record_id: uuid.UUID
    query: TraceQuery
    rule: Visibility
    upto_seq: int
