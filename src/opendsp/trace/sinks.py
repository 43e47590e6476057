"""Where checkpoints are written: append-only, outside the database.

A sink writes each checkpoint once under a name of its own and refuses to
write over it. The default is a local folder; in production, an S3 bucket
with object lock (compliance mode) keeps each checkpoint for the retention
period whatever the credentials of whoever asks to delete it.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opendsp.clock import Clock
    from opendsp.settings import Settings


class CheckpointExists(Exception):
    """A checkpoint of that name is already written: checkpoints are never overwritten."""


class CheckpointSink(ABC):
    @abstractmethod
    def write(self, name: str, data: bytes) -> None:
        """Write once; raise ``CheckpointExists`` rather than replace anything."""

    @abstractmethod
    def names(self, after: str | None = None) -> list[str]:
        """Every name written (only those sorting after ``after``, when given), sorted."""

    @abstractmethod
    def read(self, name: str) -> bytes: ...

    @abstractmethod
    def describe(self) -> str: ...


class FolderSink(CheckpointSink):
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        if "/" in name or name.startswith("."):
            raise ValueError(f"bad checkpoint name {name!r}")
        return self.root / name

    def write(self, name: str, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        target = self._path(name)
        fd, temporary = tempfile.mkstemp(dir=self.root, prefix=".partial-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, 0o444)
            try:
                # link() fails if the name exists: never a replacement, never half a file.
                os.link(temporary, target)
            except FileExistsError:
                raise CheckpointExists(f"{target} exists; checkpoints are never overwritten") from None
        finally:
            Path(temporary).unlink(missing_ok=True)
        folder = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def names(self, after: str | None = None) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_file() and not p.name.startswith(".") and (after is None or p.name > after))

    def read(self, name: str) -> bytes:
        return self._path(name).read_bytes()

    def describe(self) -> str:
        return f"the folder {self.root}"


class S3ObjectLockSink(CheckpointSink):
    """A bucket created with object lock: each checkpoint locked in compliance mode, written only if absent."""

    def __init__(self, bucket: str, prefix: str, *, client: Any, retention: timedelta, clock: Clock) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client
        self.retention = retention
        self.clock = clock

    def write(self, name: str, data: bytes) -> None:
        from botocore.exceptions import ClientError

        now = self.clock.now()
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self.prefix + name, Body=data, IfNoneMatch="*",
                ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=now + self.retention,
                ChecksumAlgorithm="SHA256",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"PreconditionFailed", "412"}:
                raise CheckpointExists(f"s3://{self.bucket}/{self.prefix}{name} exists") from None
            raise

    def names(self, after: str | None = None) -> list[str]:
        found: list[str] = []
        # StartAfter: the checkpointer asks only for what is newer than what it knows, not a year of keys.
        start = {"StartAfter": self.prefix + after} if after else {}
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix, **start)
        for page in pages:
            found.extend(item["Key"].removeprefix(self.prefix) for item in page.get("Contents", []))
        return sorted(name for name in found if "/" not in name)

    def read(self, name: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise FileNotFoundError(name) from None
            raise

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def sink_from_settings(settings: Settings, clock: Clock) -> CheckpointSink:
    spec = settings.checkpoint_sink
    if spec.startswith("file:"):
        return FolderSink(Path(spec.removeprefix("file:")))
    if spec.startswith("s3://"):
        import boto3

        bucket, _, prefix = spec.removeprefix("s3://").partition("/")
        client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region)
        return S3ObjectLockSink(bucket, prefix, client=client,
                                retention=timedelta(days=settings.checkpoint_retention_days), clock=clock)
    raise ValueError(f"unknown checkpoint sink {spec!r}: use file:PATH or s3://BUCKET/PREFIX")
