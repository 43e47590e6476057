"""Documents deposited in a record, PDFs and structured FHIR data alike."""
