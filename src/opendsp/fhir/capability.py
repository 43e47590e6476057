"""The CapabilityStatement (/fhir/metadata) and the SMART configuration: exactly what works."""

from __future__ import annotations

from typing import Any

from opendsp import __version__
from opendsp.clients.services import ASSERTION_ALGORITHMS
from opendsp.fhir import systems


def _param(name: str, kind: str, doc: str) -> dict[str, str]:
    return {"name": name, "type": kind, "documentation": doc}


DOCUMENT_REFERENCE_SEARCH = [
    _param("patient", "reference", "Patient/{id}: the patient (one of patient, patient.identifier is required)"),
    _param("patient.identifier", "token", f"{systems.NATIONAL_NUMBER}|{{national number}}"),
    _param("status", "token", "current, superseded, entered-in-error"),
    _param("date", "date", "when the document was deposited (DocumentReference.date)"),
    _param("period", "date", "the date of care (context.period)"),
    _param("author.given", "string", "the author's given name (starts with; :exact, :contains)"),
    _param("author.family", "string", "the author's family name (starts with; :exact, :contains)"),
    _param("category", "token", f"EHDS priority category ({systems.EHDS_CATEGORY})"),
    _param("type", "token", "LOINC document type"),
    _param("facility", "token", f"kind of the author's organisation ({systems.ORGANISATION_KIND})"),
    _param("security-label", "token", "N (normal) or R (restricted)"),
    _param("format", "token", systems.MIME_TYPE_SUFFICIENT),
    _param("setting", "token", "context.practiceSetting as the sender gave it (system|code, |code, code, system|)"),
    _param("event", "token", "context.event as the sender gave it (system|code, |code, code, system|)"),
    _param("related", "token", "the identifier of a context.related reference as the sender gave it (system|value)"),
    _param("_id", "token", "the document id"),
]
PATIENT_SEARCH = [
    _param("identifier", "token", f"{systems.NATIONAL_NUMBER}|{{national number}}"),
    _param("_id", "token", "the patient id"),
    _param("family", "string", "with birthdate"),
    _param("given", "string", "with family and birthdate"),
    _param("name", "string", "with birthdate"),
    _param("birthdate", "date", "with family or name"),
    _param("gender", "token", "female, male, other, unknown"),
]
PATIENT_REQUIRED = _param("patient", "reference", "Patient/{id} (or patient.identifier)")
PATIENT_IDENTIFIER = _param("patient.identifier", "token", f"{systems.NATIONAL_NUMBER}|{{national number}}")
STRUCTURED_TYPES = (
    "Observation", "DiagnosticReport", "AllergyIntolerance", "Condition", "MedicationStatement", "Immunization",
    "ImagingStudy", "Procedure", "MedicationRequest", "MedicationDispense",
)
STRUCTURED_SEARCH = [
    PATIENT_REQUIRED, PATIENT_IDENTIFIER,
    _param("code", "token", "system|code (LOINC for Observation, SNOMED CT, ATC, CVX, DICOM modality); code alone matches any system"),
    _param("date", "date", "the entry's effective date (effective, onset, occurrence, started, performed, authoredOn, whenHandedOver)"),
]


def capability_statement(base: str, date: str) -> dict[str, Any]:
    public = base.removesuffix("/fhir")
    def resource(kind: str, interactions: list[str], search: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"type": kind, "interaction": [{"code": code} for code in interactions]}
        if search:
            out["searchParam"] = search
        out.update(extra)
        return out

    return {
        "resourceType": "CapabilityStatement",
        "id": "opendsp",
        "url": f"{base}/metadata",
        "name": "OpenDSP",
        "title": "OpenDSP shared care record: FHIR API for professionals' software",
        "status": "active",
        "date": date,
        "publisher": "OpenDSP",
        "kind": "instance",
        "software": {"name": "OpenDSP", "version": __version__},
        "implementation": {"description": "Dossier de Soins Partagé", "url": base},
        "fhirVersion": systems.FHIR_VERSION,
        "format": [systems.FHIR_JSON, "json"],
        "patchFormat": ["application/json-patch+json"],
        "instantiates": [
            "https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentRecipient",
            "https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentRecipient.Comprehensive",
            "https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentRecipient.UnContained",
            "https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentResponder",
            "https://profiles.ihe.net/ITI/PDQm/CapabilityStatement/IHE.PDQm.Supplier",
        ],
        "rest": [
            {
                "mode": "server",
                "security": {
                    # SMART App Launch 1's way of naming the endpoints, still read by clients (fhirclient).
                    "extension": [{
                        "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                        "extension": [
                            {"url": "authorize", "valueUri": f"{public}/auth/authorize"},
                            {"url": "token", "valueUri": f"{public}/auth/token"},
                        ],
                    }],
                    "cors": False,
                    "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                             "code": "SMART-on-FHIR"}]}],
                    "description": "SMART Backend Services (client_credentials, private_key_jwt with "
                    f"{' or '.join(ASSERTION_ALGORITHMS)}) with the IHE IUA claims, and SMART App Launch "
                    "(standalone, authorization code with PKCE S256) for professionals and persons logged in on "
                    f"the portal; see {base}/.well-known/smart-configuration",
                },
                "resource": [
                    resource("DocumentReference", ["read", "search-type", "patch"], DOCUMENT_REFERENCE_SEARCH,
                             documentation="IHE MHD ITI-67; PATCH status to entered-in-error withdraws (author only)"),
                    resource("Binary", ["read"], [], documentation="IHE MHD ITI-68: the content in its media type"),
                    resource("List", ["search-type"], [PATIENT_REQUIRED, PATIENT_IDENTIFIER,
                                                       _param("code", "token", "submissionset or folder"),
                                                       _param("status", "token", "current")],
                             documentation="IHE MHD ITI-66: SubmissionSets and Folders"),
                    resource("Patient", ["read", "search-type"], PATIENT_SEARCH,
                             operation=[{"name": "presence-code",
                                         "definition": f"{base}/OperationDefinition/Patient-presence-code"}],
                             documentation="IHE PDQm ITI-78; $presence-code opens 24 hours of access"),
                    resource("AuditEvent", ["search-type"], [PATIENT_REQUIRED, PATIENT_IDENTIFIER],
                             documentation="IHE BALP: the record's trace, for the holder's side only (a person's "
                             "SMART app, patient/AuditEvent.rs)"),
                    resource("Consent", ["read", "search-type"], [PATIENT_REQUIRED, PATIENT_IDENTIFIER],
                             documentation="Read-only. The holder's choices and wishes for the holder's side (a "
                             "person's SMART app, patient/Consent.rs); the holder's wishes (organ donation, scope "
                             "adr) for a professional with access to the record, traced as wishes.read; a wish's "
                             "Consent is read by its id"),
                    resource("Encounter", ["create", "update", "read"], [],
                             documentation="A hospital's stays: a stay in progress opens the record to its care unit"),
                    *[resource(kind, ["search-type"], STRUCTURED_SEARCH,
                               documentation="The entries of the structured documents (FHIR document Bundles: "
                               "laboratory reports, patient summaries) the professional may see; each document "
                               "opened is a traced consultation")
                      for kind in STRUCTURED_TYPES],
                ],
                "interaction": [{"code": "transaction", "documentation": MHD_PROVIDE}],
            }
        ],
    }


# What ITI-65 accepts here, in the guide's names (docs/fhir.md, ADR 27).
MHD_OPTIONS = (
    "Minimal Metadata (a document type and the patient are still required: the rights matrix decides by type)",
    "Comprehensive Metadata Option",
    "UnContained Reference Option (authors are whoever deposits, as the token says)",
    "Folders: a Folder List created beside the SubmissionSet, added to with PUT List",
    "Replace: relatesTo replaces, with the PATCH of the replaced DocumentReference to superseded",
    "relatesTo appends, transforms and signs, kept and returned",
    "a Patient entry matched (never created) by the national number, name and birth date",
)
MHD_PROVIDE = "IHE MHD ITI-65 Provide Document Bundle at the base URL; supported: " + "; ".join(MHD_OPTIONS)


def smart_configuration(public_base: str) -> dict[str, Any]:
    """SMART App Launch 2.x discovery: Backend Services and the standalone launch (authorization code + PKCE)."""
    user_scopes = [scope.replace("system/", "user/", 1) for scope in SYSTEM_SCOPES]
    return {
        "issuer": f"{public_base}/fhir",
        "authorization_endpoint": f"{public_base}/auth/authorize",
        "token_endpoint": f"{public_base}/auth/token",
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "grant_types_supported": ["client_credentials", "authorization_code"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "scopes_supported": [
            *SYSTEM_SCOPES, *user_scopes, "patient/AuditEvent.rs", "patient/Consent.rs", "launch/patient",
        ],
        "capabilities": [
            "launch-standalone", "client-public", "client-confidential-asymmetric", "context-standalone-patient",
            "permission-v2", "permission-user", "permission-patient",
        ],
    }


SYSTEM_SCOPES = [
    "system/DocumentReference.rs", "system/DocumentReference.c", "system/DocumentReference.u",
    "system/Binary.r", "system/List.s", "system/Patient.rs", "system/AuditEvent.s", "system/Consent.rs",
    "system/Encounter.cru",
    *(f"system/{kind}.s" for kind in STRUCTURED_TYPES),
]
