"""Telling the holder's side what happened on a record: in the portal, and by e-mail from an outbox.

A ``Notification`` (``access.models``) is written by ``RecordAccess`` in the
same transaction as the act and its trace entry; ``services.notify`` writes,
in that transaction too, one ``OutboxMessage`` per person who chose that kind
by e-mail. ``worker.OutboxWorker`` (``opendsp worker``) sends them. See
docs/notifications.md and ADR 8.
"""
