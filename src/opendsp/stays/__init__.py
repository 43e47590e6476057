"""Hospital stays: the admission is the context of care that opens the record to its team."""
