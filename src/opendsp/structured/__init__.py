"""The index of structured documents' clinical entries: where each entry is, never what it says."""
