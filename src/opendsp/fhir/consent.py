"""The holder's choices as read-only FHIR Consent resources.

One Consent per choice: each professional of the trusted circle (permit,
until the end the holder gave), the referring doctor (permit), each blocked
professional (deny), and the emergency-access setting (permit or deny for the
purpose ETREAT), and the holder's latest organ-donation wish when stated
(an advance directive: permit for "yes", deny for "no"). A professional with access to the record sees
the wishes only (``wish_consent``), as it sees them on its patient view.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opendsp.access.services import ConsentView
from opendsp.access.wishes import WishKind, WishValue
from opendsp.fhir import systems
from opendsp.fhir.mapping import concept, instant

if TYPE_CHECKING:  # names only: the rows come through RecordAccess
    from opendsp.access.models import Wish
    from opendsp.professionals.models import Professional

CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
CONSENT_CATEGORY = concept("http://loinc.org", "59284-0", "Patient Consent")
POLICY = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
ORGAN_DONATION_SYSTEM = "urn:opendsp:cs:wish"


def _consent(
    key: str, record_id: uuid.UUID, person_id: uuid.UUID, now: datetime, *, rule: str, provision: dict[str, Any], title: str,
    scope: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": str(uuid.uuid5(record_id, key)),
        "text": {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{title}</div>'},
        "status": "active",
        "scope": scope or concept(CONSENT_SCOPE, "patient-privacy", "Privacy Consent"),
        "category": [CONSENT_CATEGORY],
        "patient": {"reference": f"Patient/{person_id}"},
        "dateTime": instant(now),
        "policyRule": concept(POLICY, rule),
        "provision": provision,
    }


def _professional_actor(professional: Professional | None, professional_id: uuid.UUID) -> dict[str, Any]:
    reference: dict[str, Any] = {"identifier": {"system": "urn:opendsp:sid:professional", "value": str(professional_id)}}
    if professional is not None:
        reference = {
            "identifier": {"system": systems.LICENCE_NUMBER, "value": professional.licence_number},
            "display": professional.display_name,
        }
    return {"role": concept(ROLE, "PROV", "healthcare provider"), "reference": reference}


def consents(record_id: uuid.UUID, person_id: uuid.UUID, view: ConsentView, now: datetime) -> list[dict[str, Any]]:
    """The choices and wishes ``RecordAccess.consent_view`` read, as Consents (nothing is read here)."""
    grants, named, out = view.grants, view.professionals, []
    for professional_id, until in sorted(grants.circle.items(), key=lambda item: str(item[0])):
        provision: dict[str, Any] = {"type": "permit",
                                     "actor": [_professional_actor(named.get(professional_id), professional_id)]}
        if until is not None:
            provision["period"] = {"end": instant(until)}
        out.append(_consent(f"circle/{professional_id}", record_id, person_id, now, rule="OPTIN",
                            provision=provision, title="Trusted circle"))
    if grants.referring_doctor is not None:
        out.append(_consent("referring-doctor", record_id, person_id, now, rule="OPTIN", title="Referring doctor",
                            provision={"type": "permit", "actor": [
                                _professional_actor(named.get(grants.referring_doctor), grants.referring_doctor)]}))
    for professional_id in sorted(grants.blocked, key=str):
        out.append(_consent(f"blocked/{professional_id}", record_id, person_id, now, rule="OPTOUT",
                            title="Blocked professional", provision={"type": "deny", "actor": [
                                _professional_actor(named.get(professional_id), professional_id)]}))
    allowed = grants.emergency_allowed
    out.append(_consent("emergency", record_id, person_id, now, rule="OPTIN" if allowed else "OPTOUT",
                        title="Emergency access " + ("allowed" if allowed else "refused"),
                        provision={"type": "permit" if allowed else "deny",
                                   "purpose": [{"system": systems.ACT_REASON, "code": "ETREAT"}]}))
    donation = next((w for w in view.wishes if w.kind == WishKind.organ_donation.value), None)  # newest first
    if donation is not None and (consent := wish_consent(donation, person_id, current=True)) is not None:
        out.append(consent)
    return out


def wish_consent(wish: Wish, person_id: uuid.UUID, *, current: bool) -> dict[str, Any] | None:
    """A stated wish (organ donation: yes or no) as an advance-directive Consent whose id is the answer's own;
    None for "not stated". An earlier answer, replaced since, is ``inactive``."""
    if wish.kind != WishKind.organ_donation.value or wish.value == WishValue.not_stated.value:
        return None
    yes = wish.value == WishValue.yes.value
    consent = _consent("organ-donation", wish.record_id, person_id, wish.set_at, rule="OPTIN" if yes else "OPTOUT",
                       title="Organ donation after death: " + ("yes" if yes else "no"),
                       scope=concept(CONSENT_SCOPE, "adr", "Advanced Care Directive"),
                       provision={"type": "permit" if yes else "deny",
                                  "code": [concept(ORGAN_DONATION_SYSTEM, "organ-donation",
                                                   "Organ donation after death")]})
    consent["id"] = str(wish.id)
    consent["status"] = "active" if current else "inactive"
    return consent
