"""HTTP adapters: health, and (later) the FHIR API and the portals."""
