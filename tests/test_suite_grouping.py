"""The suite's own set-up: under `make test` (pytest-xdist, --dist loadgroup) a module's tests that share a
module-scoped fixture run in one worker, so its server starts once. An upgrade of pytest or pytest-xdist that
breaks this fails here rather than silently doubling the suite's servers (pyproject.toml says which one did)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def shared() -> object:
    return object()


@pytest.mark.parametrize("_", range(2))
def test_tests_sharing_a_module_fixture_are_grouped_for_one_worker(
        shared: object, request: pytest.FixtureRequest, _: int) -> None:
    config = request.config
    if not (hasattr(config, "workerinput") and getattr(config.option, "loadgroup", False)):
        pytest.skip("runs only in a pytest-xdist worker under --dist loadgroup, as `make test` runs the suite")
    assert request.node.nodeid.endswith(f"@{__name__.replace('.', '/')}.py")
