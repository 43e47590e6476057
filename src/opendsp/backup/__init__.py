"""Backing an instance up and restoring it elsewhere (docs/operations.md, "Backup and restore")."""
