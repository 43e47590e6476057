"""The notifications' words, apart from the outbox's tables: what an adapter may name to word a notice.

``opendsp.notifications.models`` re-exports them; adapters import them from here (the import contract forbids
them the models module).
"""

from __future__ import annotations

import enum


class NotificationKind(str, enum.Enum):
    """What the holder's side is told of. ``Notification.kind`` holds these values."""

    document_new = "document.new"
    presence_opened = "presence.opened"
    emergency_opened = "emergency.opened"
    assistant_changed = "assistant.changed"
    presence_locked = "presence.locked"
