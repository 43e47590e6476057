"""Writing checkpoints: once (``opendsp trace checkpoint``) or every minute (``opendsp trace checkpointer``).

The checkpointer is the only process that reads the private signing key. It
writes a checkpoint when the trace moved since the last one, and one more
when it is asked to stop (SIGTERM, Ctrl-C), so a clean shutdown leaves
nothing unanchored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from opendsp.clock import Clock, Randomness
from opendsp.settings import Mode, Settings
from opendsp.trace.checkpoints import (
    Checkpoint,
    CheckpointInvalid,
    CheckpointLog,
    CheckpointRefused,
    write_checkpoint,
)
from opendsp.trace.signing import SigningKeyError, create_key, load_private_key, load_public_key
from opendsp.trace.sinks import CheckpointExists, sink_from_settings

logger = logging.getLogger("opendsp.trace.checkpointer")


def checkpoint_log(settings: Settings, clock: Clock) -> CheckpointLog:
    """The sink's checkpoints, read with the public key (all a process needs to check them)."""
    assert settings.checkpoint_public_key_file is not None
    return CheckpointLog(sink_from_settings(settings, clock), load_public_key(settings.checkpoint_public_key_file))


def signing_key(settings: Settings, randomness: Randomness, clock: Clock, *,
                say: Callable[[str], None]) -> Ed25519PrivateKey:
    """The private key; in development only, a first key is made when none exists and the sink is empty."""
    key_file, public_file = settings.checkpoint_key_file, settings.checkpoint_public_key_file
    assert key_file is not None and public_file is not None
    if key_file.exists() or settings.mode is Mode.production:
        key = load_private_key(key_file)
        if load_public_key(public_file) != key.public_key():
            raise SigningKeyError(f"{public_file} is not the public key of {key_file}")
        return key
    if sink_from_settings(settings, clock).names():
        raise SigningKeyError(f"the checkpoint key {key_file} is missing but checkpoints were written with it: "
                              "restore the key (a new one could not continue them)")
    key = create_key(key_file, public_file, randomness)
    say(f"created a new checkpoint signing key at {key_file} (development mode); public key {public_file}")
    return key


@dataclass
class Checkpointer:
    """Writes a checkpoint every ``every`` seconds while the trace moves, and one when stopped."""

    transaction: Callable[[], AbstractContextManager[Session]]
    log: CheckpointLog
    signer: Ed25519PrivateKey
    clock: Clock
    every: float
    stop: threading.Event

    def write_once(self) -> Checkpoint | None:
        try:
            with self.transaction() as session:
                written = write_checkpoint(session=session, log=self.log, signer=self.signer, clock=self.clock,
                                           only_if_changed=True)
        except (SQLAlchemyError, OSError, BotoCoreError, ClientError) as error:
            # The database or the sink (a folder, or a bucket: botocore's errors are not OSError) is away for a
            # moment: the next round tries again.
            logger.warning("no checkpoint this time: %s", error)
            return None
        except (CheckpointRefused, CheckpointInvalid, CheckpointExists) as error:
            # The trace or the sink was tampered with (or a second checkpointer runs): say so every round.
            logger.error("no checkpoint: %s", error)
            return None
        if written:
            logger.info("checkpoint %s: %s chains, root %s", written.number, written.statement["tree_size"],
                        written.root_hash)
        return written

    def run(self) -> int:
        written = 0
        while True:
            written += self.write_once() is not None
            if self.stop.wait(self.every):
                break
        # Asked to stop: one last checkpoint, so nothing appended before the shutdown stays unanchored.
        written += self.write_once() is not None
        return written
