"""Sealed content: documents encrypted at rest under a data key per record."""
