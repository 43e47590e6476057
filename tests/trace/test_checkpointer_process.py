"""`opendsp trace checkpointer` as a real process: a checkpoint when it starts, and a last one on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from opendsp.platform import Platform
from opendsp.records.models import Record
from opendsp.trace.checkpointer import checkpoint_log
from opendsp.trace.sinks import sink_from_settings
from tests.factories import deposit_pdf
from tests.trace.test_trace import chain_entries, record_with_history

pytestmark = pytest.mark.slow


def wait_for_checkpoint(platform: Platform, number: int, process: subprocess.Popen[str]) -> None:
    """The process has its own pace: look at the sink until the checkpoint is there (or the process died)."""
    sink = sink_from_settings(platform.settings, platform.clock)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(sink.names()) >= number:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint {number} within a minute")


def test_the_checkpointer_writes_at_start_and_once_more_when_stopped(platform: Platform) -> None:
    record = record_with_history(platform)
    environment = {**os.environ, "OPENDSP_DATABASE_URL": platform.settings.database_url,
                   "OPENDSP_VAR_DIR": str(platform.settings.var_dir)}
    from tests.deploy.processes import free_port, probe, wait_ready

    health = free_port()
    process = subprocess.Popen([sys.executable, "-m", "opendsp.cli", "trace", "checkpointer", "--every", "3600",
                                "--health-port", str(health)],
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_checkpoint(platform, 1, process)
        assert wait_ready(f"http://127.0.0.1:{health}/healthz/ready", process)["process"] == "checkpointer"
        assert probe(f"http://127.0.0.1:{health}/healthz/live")[0] == 200
        assert probe(f"http://127.0.0.1:{health}/elsewhere")[0] == 404
        with platform.transaction() as session:
            deposit_pdf(session, platform, session.get(Record, record.id))
        process.send_signal(signal.SIGTERM)
        out, errors = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, errors
    assert "2 checkpoint(s) written" in out
    state = checkpoint_log(platform.settings, platform.clock).state()
    with platform.sessions() as session:
        last = chain_entries(session, record)[-1]
    assert state is not None and state.number == 2
    assert state.head_of(str(record.id)).seq == last.seq  # type: ignore[union-attr] - the deposit after the start
