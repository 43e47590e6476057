"""Keyword search over a record's documents, without keeping their words in clear.

``text`` turns words into normalised stems (French, German, English),
``index`` writes keyed HMAC tokens of those stems with a weight when a
document is stored, and ``services`` answers a query through
``RecordAccess.list_documents``, so the policy's visibility rule is applied
inside the same SQL query that ranks. See docs/adr/0010-keyword-search.md.
"""
