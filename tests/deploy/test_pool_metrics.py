"""The database pool gauges follow the connections a process checks out and returns, on its own pool."""

from __future__ import annotations

from prometheus_client import REGISTRY

from opendsp.metrics import count_as
from opendsp.platform import Platform


def _gauge(name: str) -> float:
    value = REGISTRY.get_sample_value(name, {"process": "checkpointer"})
    assert value is not None, name
    return value


def test_checked_out_rises_with_each_connection_in_use_and_falls_when_it_is_returned(platform: Platform) -> None:
    assert platform.engine is not None
    count_as("checkpointer", platform.engine)
    before = _gauge("opendsp_database_pool_checked_out")
    assert _gauge("opendsp_database_pool_size") == platform.settings.database_pool_size == 5
    with platform.engine.connect(), platform.engine.connect():
        assert _gauge("opendsp_database_pool_checked_out") == before + 2
    assert _gauge("opendsp_database_pool_checked_out") == before
    with platform.sessions() as session, session.begin():
        session.connection()
        assert _gauge("opendsp_database_pool_checked_out") == before + 1
    assert _gauge("opendsp_database_pool_checked_out") == before
