"""Work an act leaves for the worker: written in the act's transaction, done within seconds, never lost.

A deposit writes, with the document and its trace entry, a ``Job`` to index the
document's words; a notification the gate decided writes a ``Job`` to fan it
out to the e-mails of the holder's side. ``opendsp worker`` claims and does
them (``worker.py``). See docs/adr/0030-jobs-off-the-request.md.
"""
