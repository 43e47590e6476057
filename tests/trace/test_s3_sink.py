"""Checkpoints in an S3 bucket with object lock: written once, locked, never overwritten.

The server is moto's standalone S3 server in a process of its own, spoken to over HTTP by boto3.
"""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from opendsp.clock import FrozenClock, SeededRandomness
from opendsp.platform import Platform
from opendsp.trace.anchoring import verify_anchored
from opendsp.trace.checkpoints import CheckpointLog, checkpoint_name, write_checkpoint
from opendsp.trace.signing import create_key
from opendsp.trace.sinks import CheckpointExists, S3ObjectLockSink
from tests.content.test_s3_store import s3_endpoint  # noqa: F401 - the server fixture
from tests.trace.test_trace import record_with_history, tamper

pytestmark = pytest.mark.slow


@pytest.fixture
def sink(s3_endpoint: str, clock: FrozenClock) -> S3ObjectLockSink:  # noqa: F811
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    bucket = f"checkpoints-{id(clock):x}"
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    return S3ObjectLockSink(bucket, "trace", client=client, retention=timedelta(days=3650), clock=clock)


def test_checkpoints_in_a_locked_bucket_anchor_the_trace(platform: Platform, sink: S3ObjectLockSink) -> None:
    record = record_with_history(platform)
    key = create_key(platform.settings.var_dir / "k", platform.settings.var_dir / "k.pub", SeededRandomness(3))
    log = CheckpointLog(sink, key.public_key())
    for _ in range(2):
        with platform.transaction() as session:
            write_checkpoint(session=session, log=log, signer=key, clock=platform.clock)
    assert sink.names() == [checkpoint_name(1), checkpoint_name(2)]
    assert sink.names(after=checkpoint_name(1)) == [checkpoint_name(2)] and not sink.names(after=checkpoint_name(2))
    with pytest.raises(CheckpointExists):
        sink.write(checkpoint_name(2), b"a forged checkpoint")
    head = sink.client.head_object(Bucket=sink.bucket, Key="trace/" + checkpoint_name(2))
    assert head["ObjectLockMode"] == "COMPLIANCE"
    version = head.get("VersionId")
    with pytest.raises(ClientError):  # locked: even its owner cannot remove it
        sink.client.delete_object(Bucket=sink.bucket, Key="trace/" + checkpoint_name(2), VersionId=version)

    tamper(platform, f"DELETE FROM trace_entries WHERE chain = '{record.id}'",
           f"DELETE FROM trace_chain_heads WHERE chain = '{record.id}'")
    with platform.sessions() as session:
        report = verify_anchored(session, [CheckpointLog(sink, key.public_key()).state()])  # type: ignore[list-item]
    named = [str(problem) for problem in report.breaks]
    assert any(f"chain {record.id}" in text and "the whole chain was removed with its head (checkpoint 2" in text
               for text in named), named


def test_a_bucket_out_of_reach_is_no_checkpoint_this_time_and_the_next_round_writes_it(
        platform: Platform, sink: S3ObjectLockSink, caplog: pytest.LogCaptureFixture) -> None:
    import logging
    import threading

    from botocore.config import Config

    from opendsp.trace.checkpointer import Checkpointer

    record_with_history(platform)
    key = create_key(platform.settings.var_dir / "k", platform.settings.var_dir / "k.pub", SeededRandomness(3))
    checkpointer = Checkpointer(transaction=platform.transaction, log=CheckpointLog(sink, key.public_key()),
                                signer=key, clock=platform.clock, every=60, stop=threading.Event())
    reachable = sink.client
    # The object store out of reach: nothing listens on port 9 of localhost (one attempt, not boto3's retries).
    sink.client = boto3.client("s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                               aws_access_key_id="test", aws_secret_access_key="test",
                               config=Config(retries={"max_attempts": 1}, connect_timeout=2))
    with caplog.at_level(logging.INFO, logger="opendsp.trace.checkpointer"):
        assert checkpointer.write_once() is None
    warned = [r for r in caplog.records if r.getMessage().startswith("no checkpoint this time: ")]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING
    sink.client = reachable
    written = checkpointer.write_once()
    assert written is not None and written.number == 1 and sink.names() == [checkpoint_name(1)]
