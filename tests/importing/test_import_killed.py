"""An import killed (SIGKILL) in the middle of a batch: the next run finishes it, nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from opendsp.clock import FrozenClock
from opendsp.documents.models import Document
from opendsp.importing.loader import import_documents
from opendsp.importing.models import ImportedDocument
from opendsp.platform import Platform
from opendsp.trace.models import TraceEntry
from tests.importing.conftest import Export
from tests.importing.test_import_documents import assert_every_document_reads_back, assert_trace_intact, blobs

ROWS, BATCH = 240, 10


def test_a_killed_import_resumes_with_nothing_lost_or_loaded_twice(
    platform: Platform, export: Export, clock: FrozenClock
) -> None:
    for i in range(ROWS):
        export.add(record=i % 2)
    path = export.write_csv()
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "OPENDSP_DATABASE_URL": platform.settings.database_url,
           "OPENDSP_VAR_DIR": str(platform.settings.var_dir), "PYTHONPATH": str(src)}
    command = [sys.executable, "-c", "from opendsp.cli import main; main()", "import-documents", str(path),
               "--source", "old-dsp", "--batch-size", str(BATCH), "--workers", "0"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        # Killed once a few batches are written and the next one is on its way.
        while blobs(platform) < 3 * BATCH + 3 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert process.poll() is None, "the import ended before it could be killed; make the export bigger"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    with platform.sessions() as session:
        before = session.scalar(select(func.count()).select_from(Document))
    assert before is not None and before % BATCH == 0 and before < ROWS  # whole batches only

    report = import_documents(platform=platform, export=path, source="old-dsp", batch_size=BATCH, workers=0)
    assert report.loaded == ROWS - before and report.rejected == 0
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == ROWS
        assert session.scalar(select(func.count(func.distinct(ImportedDocument.source_id)))) == ROWS
        assert session.scalar(select(func.count()).select_from(TraceEntry).where(
            TraceEntry.action == "document.deposit")) == ROWS
    assert_every_document_reads_back(platform, export)
    assert_trace_intact(platform)
    # The killed batch's blobs (sealed, never committed) are orphans that ``store check`` removes.
    clock.advance(timedelta(days=400))
    with platform.transaction() as session:
        platform.content.check(session, grace=timedelta(hours=1))
    assert blobs(platform) == ROWS
