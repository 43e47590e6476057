"""Loading an export of an existing shared record: ``opendsp import-documents`` (docs/migration.md)."""
