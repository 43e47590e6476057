"""The identifier and code systems the FHIR adapter writes and reads (documented in docs/fhir.md)."""

from __future__ import annotations

FHIR_VERSION = "4.0.1"
FHIR_JSON = "application/fhir+json"

# Luxembourg's national identification number (matricule), as the IPS examples name it.
NATIONAL_NUMBER = "urn:oid:1.3.182.4.4"
# The platform's own naming systems: professionals' licence numbers and organisations' identifiers.
LICENCE_NUMBER = "urn:opendsp:sid:licence-number"
ORGANISATION = "urn:opendsp:sid:organisation"
# The platform's code systems.
EHDS_CATEGORY = "urn:opendsp:cs:ehds-priority-category"
ORGANISATION_KIND = "urn:opendsp:cs:organisation-kind"
ACCESS_REASON = "urn:opendsp:cs:access-reason"
ACCESS_BASIS = "urn:opendsp:cs:access-basis"
TRACE_ACTION = "urn:opendsp:cs:trace-action"

LOINC = "http://loinc.org"
ATC = "http://www.whocc.no/atc"
# The Luxembourg medicinal product code (the national register's number of a packaged medicine): no FHIR URL is
# published for it, so the platform names it until one is.
LU_MEDICINAL_PRODUCT = "urn:opendsp:cs:lu-medicinal-product"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
URI = "urn:ietf:rfc:3986"
FORMAT_CODE = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"
MIME_TYPE_SUFFICIENT = "urn:ihe:iti:xds:2017:mimeTypeSufficient"
MHD_LIST_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
MHD_DESIGNATION_TYPE = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType"
OPERATION_OUTCOME_DETAILS = ACCESS_REASON
