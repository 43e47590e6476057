"""Load the demo population through the ordinary services, once.

Everything is written in one transaction: organisations, professionals,
persons with their records, legal representations, then the documents, so a
failed load leaves nothing behind. The platform registers organisations,
professionals and records; everything on a record goes through
``RecordAccess`` as the person who would do it (the holder or a parent
activates and names the doctors, each professional deposits their own
documents), so the policy decides and the trace reads as real use.
The identities file is written only after the commit. A second load finds
the demo organisations and does nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendsp import actors
from opendsp.access.services import RecordAccess
from opendsp.accounts import totp
from opendsp.accounts.models import Account, AccountState
from opendsp.accounts.passwords import hash_secret
from opendsp.accounts.sealing import seal as seal_totp
from opendsp.accounts.services import account_of_person, account_of_professional, register_staff
from opendsp.actors import SYSTEM, Actor
from opendsp.clients.models import ClientUsers
from opendsp.clients.services import register_client, register_demo_clients
from opendsp.demo.people import ORGANISATIONS, REFERENCE_DATE, PersonSpec, ProfessionalSpec
from opendsp.demo.plan import DemoPlan, DocumentPlan, make_plan
from opendsp.documents.models import Document
from opendsp.documents.services import DocumentDraft
from opendsp.persons.models import Language, LegalRepresentation, Person
from opendsp.platform import Platform
from opendsp.professionals.models import Organisation, Professional
from opendsp.professionals.services import register_organisation, register_professional
from opendsp.records.models import Record, RecordState
from opendsp.settings import Mode
from opendsp.stays.registry import register_adt_sender
from opendsp.records.services import create_record

Progress = Callable[[int], None]
Stage = Callable[[str, int | None], None]


def steps_of(plan: DemoPlan) -> int:
    """How many progress steps writing the plan counts: organisations, professionals, persons, documents."""
    documents = sum(len(plan.documents[p.index]) for p in plan.persons if p.state is not RecordState.created)
    return len(plan.organisations) + len(plan.professionals) + len(plan.persons) + documents


class DemoConflict(Exception):
    """The database holds persons or professionals the demo would create, but not the demo itself."""


def load_demo(
    platform: Platform, *, seed: int, identities_path: Path, progress: Progress | None = None,
    stage: Stage | None = None,
) -> dict[str, int] | None:
    """Load the demo once; return what was created, or None if it was already there.

    ``stage`` hears of each step as it starts, with how many ``progress`` steps it will count (None: it counts
    none), so that a command can show a progress bar from the first second.
    """
    stage = stage or (lambda _description, _total: None)
    with platform.sessions() as session:
        if _loaded(session):
            return None
    stage("drawing the demo documents", None)
    plan = make_plan(seed)  # built before the write transaction: no lock held while drawing PDFs
    with platform.transaction() as session:
        if _loaded(session):  # loaded by someone else meanwhile
            return None
        _refuse_collisions(session, plan)
        stage("writing the demo records", steps_of(plan))
        counts, presence_codes = _write(session, platform, plan, progress or (lambda _: None))
        stage("registering the demo software and logins", None)
        clients = _software(session, platform, keys_dir=identities_path.parent / "keys")
        logins = _logins(session, platform)
    write_identities(identities_path, plan, presence_codes=presence_codes, clients=clients, logins=logins)
    return counts


DEMO_PASSWORD = "demo-DSP-passphrase-2026"  # published: the demo is for trying the platform, never for real data
DEMO_STAFF = (("helpdesk", "Helpdesk (démo)", ["helpdesk"]), ("admin", "Administration (démo)", ["administrator"]))


def _logins(session: Session, platform: Platform) -> dict[str, Any]:
    """Active accounts for everyone in the demo: one published password and an authenticator secret each.

    The accounts are enrolled directly, as the agency would when taking over
    accounts from a previous platform; nothing here runs in production mode.
    """
    if platform.settings.mode is Mode.production:
        raise DemoConflict("the demo's published passwords are never created in production mode")
    password_hash = hash_secret(platform.settings, DEMO_PASSWORD)
    accounts: list[Account] = []
    for person in session.scalars(select(Person).join(Record).where(Record.state != RecordState.created)):
        accounts.append(account_of_person(session=session, platform=platform, person=person))
    for professional in session.scalars(select(Professional)):
        accounts.append(account_of_professional(session=session, platform=platform, professional=professional))
    for username, name, roles in DEMO_STAFF:
        accounts.append(register_staff(session=session, platform=platform, actor=SYSTEM, username=username,
                                       display_name=name, roles=roles))
    secrets: dict[str, str] = {}
    now = platform.clock.now()
    for account in accounts:
        secret = totp.new_secret(platform.randomness)
        account.password_hash, account.password_set_at = password_hash, now
        account.totp_secret = seal_totp(platform, account.id, secret)
        account.state, account.activated_at = AccountState.active, now
        secrets[account.login] = secret
    session.flush()
    staff = [{"login": username, "name": name, "roles": roles, "totp_secret": secrets[username]}
             for username, name, roles in DEMO_STAFF]
    return {"password": DEMO_PASSWORD, "totp_secrets": secrets, "staff": staff}


# The demo hospital's and laboratory's own software: FHIR clients, and the hospital's HL7 v2 feed.
DEMO_CLIENTS = {"DEMO-HOS-ALZ": "Hôpital Alzette - dossier patient", "DEMO-LAB-MOS": "Laboratoire Moselle - LIS"}
DEMO_ADT_SENDER = ("DEMO-HOS-ALZ", "HIS", "ALZETTE")


# SMART apps (public clients, authorization code + PKCE) that people log in to on the portal. The redirect URIs
# are loopback addresses, as for an app running on one's own computer.
DEMO_SMART_APPS = (
    {"name": "Agenda du cabinet (app SMART, démo)", "organisation": "DEMO-PRA-LIMP", "users": "professionals",
     "redirect_uri": "http://127.0.0.1:8765/callback",
     "scope": "user/DocumentReference.rs user/Binary.r user/DocumentReference.c user/Patient.rs"},
    {"name": "Mon DSP sur mobile (app SMART, démo)", "organisation": None, "users": "persons",
     "redirect_uri": "http://127.0.0.1:8766/callback",
     "scope": "launch/patient patient/AuditEvent.rs patient/Consent.rs"},
)


def _software(session: Session, platform: Platform, *, keys_dir: Path) -> dict[str, Any]:
    clients = register_demo_clients(
        session=session, platform=platform, actor=SYSTEM, organisations=DEMO_CLIENTS, keys_dir=keys_dir
    )
    apps = []
    for app in DEMO_SMART_APPS:
        registered = register_client(
            session=session, platform=platform, actor=SYSTEM, name=app["name"],
            organisation_identifier=app["organisation"], jwks=None, redirect_uris=[app["redirect_uri"]],
            users=ClientUsers(app["users"]),
        )
        apps.append({**app, "client_id": registered.client_id, "public": True,
                     "authorization_endpoint": f"{platform.settings.public_base_url.rstrip('/')}/auth/authorize"})
    hospital, application, facility = DEMO_ADT_SENDER
    register_adt_sender(
        session=session, platform=platform, actor=SYSTEM, hospital=hospital, application=application,
        facility=facility,
    )
    return {
        "fhir_clients": clients,
        "smart_apps": apps,
        "hl7_senders": [{"organisation": hospital, "sending_application": application, "sending_facility": facility}],
    }


def _loaded(session: Session) -> bool:
    # The organisations come with every demo load and do not depend on the seed,
    # so a demo loaded with any seed counts.
    found = session.scalars(select(Organisation.id).where(Organisation.identifier == ORGANISATIONS[0].identifier))
    return found.first() is not None


def _refuse_collisions(session: Session, plan: DemoPlan) -> None:
    """Say so, rather than fail on a unique constraint, if other data already uses the demo's numbers."""
    numbers = [person.national_number for person in plan.persons]
    taken = list(session.scalars(select(Person.national_number).where(Person.national_number.in_(numbers))))
    if taken:
        raise DemoConflict(
            f"the database already holds {len(taken)} person(s) with demo national numbers "
            f"({', '.join(sorted(taken)[:3])}...); load the demo into an empty database or choose another seed"
        )
    licences = [professional.licence_number for professional in plan.professionals]
    if session.scalars(select(Professional.id).where(Professional.licence_number.in_(licences))).first():
        raise DemoConflict("the database already holds professionals with demo licence numbers")


def _write(
    session: Session, platform: Platform, plan: DemoPlan, progress: Progress
) -> tuple[dict[str, int], dict[str, str]]:
    organisations = {
        spec.identifier: register_organisation(
            session=session, platform=platform, actor=SYSTEM, identifier=spec.identifier, name=spec.name,
            kind=spec.kind, city=spec.city,
        )
        for spec in plan.organisations
    }
    professionals = {
        spec.licence_number: _register(session, platform, spec, organisations) for spec in plan.professionals
    }
    progress(len(organisations) + len(professionals))
    persons: dict[int, Person] = {}
    records: dict[int, Record] = {}
    for spec in plan.persons:
        persons[spec.index] = _person(session, platform, spec)
        records[spec.index] = create_record(session=session, platform=platform, person=persons[spec.index],
                                            actor=SYSTEM)
        progress(1)
    _link_representatives(session, platform, plan, persons)
    documents = 0
    presence_codes: dict[str, str] = {}
    for spec in plan.persons:
        if spec.state is RecordState.created:
            continue
        loader = RecordLoader(session, platform, professionals, organisations, records[spec.index])
        holder_side = loader.holder_side(persons[spec.index], [persons[i] for i in spec.parents])
        holder_side.activate(loader.record.id)
        # As on the activation letter: the holder's code to give a professional 24 hours of access.
        presence_codes[spec.national_number] = holder_side.regenerate_presence_code(loader.record.id)
        loader.let_authors_in(holder_side, plan.referring_doctors[spec.index], plan.documents[spec.index])
        documents += loader.deposit_all(plan.documents[spec.index], holder_side, progress)
        if spec.state is RecordState.closed:
            holder_side.close(loader.record.id, reason="closed by the holder (demo)")
    counts = {"persons": len(persons), "professionals": len(professionals), "documents": documents}
    return counts, presence_codes


def _register(
    session: Session, platform: Platform, spec: ProfessionalSpec, organisations: dict[str, Organisation]
) -> Professional:
    return register_professional(
        session=session, platform=platform, actor=SYSTEM, licence_number=spec.licence_number,
        family_name=spec.family_name, given_name=spec.given_name, profession=spec.profession,
        specialties=list(spec.specialties), organisations=[organisations[i] for i in spec.organisations],
    )


def _person(session: Session, platform: Platform, spec: PersonSpec) -> Person:
    person = Person(
        national_number=spec.national_number, family_name=spec.family_name, given_name=spec.given_name,
        birth_date=spec.birth_date, sex=spec.sex, street=spec.street, postal_code=spec.postal_code, city=spec.city,
        country=spec.country, email=spec.email, mobile=spec.mobile, preferred_language=Language(spec.language),
        created_at=platform.clock.now(),
    )
    session.add(person)
    session.flush()
    return person


def _link_representatives(session: Session, platform: Platform, plan: DemoPlan, persons: dict[int, Person]) -> None:
    for spec in plan.persons:
        for parent in spec.parents:
            session.add(
                LegalRepresentation(minor_id=persons[spec.index].id, representative_id=persons[parent].id,
                                    relationship_kind="parent", created_at=platform.clock.now())
            )
    session.flush()


class RecordLoader:
    """Fills one record: the holder's choices first, then each document as its author deposits it."""

    def __init__(
        self,
        session: Session,
        platform: Platform,
        professionals: dict[str, Professional],
        organisations: dict[str, Organisation],
        record: Record,
    ) -> None:
        self.session = session
        self.platform = platform
        self.professionals = professionals
        self.organisations = organisations
        self.record = record

    def access(self, actor: Actor) -> RecordAccess:
        return RecordAccess(session=self.session, platform=self.platform, actor=actor)

    def holder_side(self, person: Person, parents: list[Person]) -> RecordAccess:
        """The holder, or for a minor the first legal representative."""
        if parents:
            return self.access(actors.representative(parents[0], acting_for=person))
        return self.access(actors.holder(person))

    def let_authors_in(self, holder_side: RecordAccess, referring: ProfessionalSpec, plans: list[DocumentPlan]) -> None:
        """As a holder would: name the referring doctor, add the other authors to the trusted circle.

        Types a profession sends directly (laboratory results) need neither.
        """
        record_id = self.record.id
        holder_side.set_referring_doctor(record_id, self.professionals[referring.licence_number].id)
        authors: dict[str, None] = {}
        for plan in plans:
            if plan.author is None or plan.author is referring:
                continue
            rights = self.platform.matrix.rights_of(plan.author.profession, frozenset(plan.author.specialties))
            if rights is None or plan.type not in rights.direct_deposit:
                authors[plan.author.licence_number] = None
        for licence in authors:
            holder_side.add_to_circle(record_id, self.professionals[licence].id)

    def author(self, plan: DocumentPlan, holder_side: RecordAccess) -> RecordAccess:
        if plan.author is None or plan.organisation is None:
            return holder_side
        professional = self.professionals[plan.author.licence_number]
        return self.access(actors.professional(professional, organisation=self.organisations[plan.organisation]))

    def deposit_all(self, plans: list[DocumentPlan], holder_side: RecordAccess, progress: Progress) -> int:
        deposited: dict[int, Document] = {}
        for plan in plans:
            author = self.author(plan, holder_side)
            # The access layer fills the author from the actor; the draft says what, when, how.
            draft = DocumentDraft(type=plan.type, title=plan.title, care_date=plan.care_date,
                                  media_type=plan.media_type, confidentiality=plan.confidentiality)
            if plan.replaces is None:
                document = author.deposit(self.record.id, draft, [plan.content])
            else:
                document = author.replace(deposited[id(plan.replaces)].id, draft, [plan.content])
            deposited[id(plan)] = document
            if plan.withdraw_reason:
                author.withdraw(document.id, reason=plan.withdraw_reason)
            progress(1)
        return len(deposited)


# -- the identities file ----------------------------------------------------------


def write_identities(
    path: Path,
    plan: DemoPlan,
    *,
    presence_codes: dict[str, str] | None = None,
    clients: dict[str, Any] | None = None,
    logins: dict[str, Any] | None = None,
) -> None:
    """List who is in the demo, for people trying the platform.

    Each entry is a plain dict: later steps (presence codes, passwords, TOTP
    secrets, client keys) add their own keys to these entries rather than
    inventing a second file.
    """
    data = identities(plan)
    data.update(clients or {})
    secrets = (logins or {}).get("totp_secrets", {})
    if logins:
        data["password"] = logins["password"]
        data["staff"] = logins["staff"]
    for person in data["persons"]:
        code = (presence_codes or {}).get(person["national_number"])
        if code:
            person["presence_code"] = code
        if person["national_number"] in secrets:
            person["totp_secret"] = secrets[person["national_number"]]
    for professional in data["professionals"]:
        if professional["licence_number"] in secrets:
            professional["totp_secret"] = secrets[professional["licence_number"]]
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def identities(plan: DemoPlan) -> dict[str, Any]:
    return {
        "about": "Fictitious people and organisations of the OpenDSP demo; any resemblance is coincidental.",
        "seed": plan.seed,
        "reference_date": REFERENCE_DATE.isoformat(),
        "persons": [person_entry(plan, person) for person in plan.persons],
        "professionals": [professional_entry(plan, professional) for professional in plan.professionals],
        "organisations": [
            {"identifier": o.identifier, "name": o.name, "kind": o.kind.value, "city": o.city}
            for o in plan.organisations
        ],
    }


def person_entry(plan: DemoPlan, person: PersonSpec) -> dict[str, Any]:
    documents = plan.documents[person.index]
    return {
        "national_number": person.national_number,
        "name": person.name,
        "family_name": person.family_name,
        "given_name": person.given_name,
        "birth_date": person.birth_date.isoformat(),
        "sex": person.sex.value,
        "language": person.language,
        "address": {"street": person.street, "postal_code": person.postal_code, "city": person.city,
                    "country": person.country},
        "email": person.email,
        "mobile": person.mobile,
        "record_state": person.state.value,
        "roles": _roles(plan, person),
        "conditions": list(person.conditions),
        "referring_doctor": plan.referring_doctors[person.index].licence_number,
        "documents": len(documents),
        "document_types": sorted({d.type.value for d in documents}),
    }


def _roles(plan: DemoPlan, person: PersonSpec) -> list[str]:
    roles = []
    if person.showcase:
        roles.append("showcase: a document of every type, with new versions, a withdrawn and restricted ones")
    if person.minor:
        parents = " and ".join(plan.persons[i].name for i in person.parents)
        roles.append(f"minor, represented by {parents}" if parents else "minor")
    for child in person.children:
        roles.append(f"parent and legal representative of {plan.persons[child].name}")
    if person.pregnant:
        roles.append("expecting a baby")
    if person.country != "LU":
        roles.append(f"cross-border: lives in {person.country}")
    if person.state is RecordState.closed:
        roles.append("record closed")
    if person.state is RecordState.created:
        roles.append("record not yet activated")
    return roles


def professional_entry(plan: DemoPlan, professional: ProfessionalSpec) -> dict[str, Any]:
    by_id = {o.identifier: o for o in plan.organisations}
    return {
        "licence_number": professional.licence_number,
        "name": professional.name,
        "family_name": professional.family_name,
        "given_name": professional.given_name,
        "role": professional.role,
        "profession": professional.profession,
        "specialties": list(professional.specialties),
        "organisations": [
            {"identifier": i, "name": by_id[i].name, "kind": by_id[i].kind.value} for i in professional.organisations
        ],
    }
