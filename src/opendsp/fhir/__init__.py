"""The FHIR R4 API for professionals' software: an adapter over ``RecordAccess`` (IHE MHD, PDQm, BALP)."""
