from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opendsp.settings import Settings
from tests.notifications.helpers import SENDER, SmtpServer, free_port


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # The portal's test settings (cheap hashes, the test client's address) and the notifications' sender.
    return Settings(var_dir=tmp_path / "var", database_url=database_url, password_hash_profile="fast",
                    public_base_url="http://testserver", smtp_from=SENDER)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server, started: stop and start it to take it down for a while."""
    server = SmtpServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
