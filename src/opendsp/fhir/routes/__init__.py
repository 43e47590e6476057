"""One router per IHE transaction (or FHIR resource) of the API, all over the same request context."""
