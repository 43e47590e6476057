"""Where sealed blobs live: a local folder by default, an S3-compatible store at scale.

Keys are ``records/<record id>/<content id>``: the record is the prefix, so a
deployment can spread records over buckets or nodes by prefix.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opendsp.settings import Settings

READ_CHUNK = 1024 * 1024


class BlobMissing(Exception):
    """No blob is stored under that key."""


@dataclass(frozen=True)
class BlobInfo:
    key: str
    modified_at: datetime
    size: int


class BlobStore(ABC):
    @abstractmethod
    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        """Store the blob whole or not at all; return its size in bytes."""

    @abstractmethod
    def open(self, key: str) -> Iterator[bytes]: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the blob; removing a missing blob is not an error."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[BlobInfo]: ...

    def read(self, key: str) -> bytes:
        return b"".join(self.open(key))

    @abstractmethod
    def check(self) -> None:
        """Raise unless the store can be reached and written to now (cheap: for the readiness probe)."""


class LocalFolderStore(BlobStore):
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"blob key {key!r} escapes the content folder")
        return path

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        path = self._path(key)
        root = self.root.resolve()
        new_folders = [f for f in (path.parent, *path.parent.parents) if f.is_relative_to(root) and not f.exists()]
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target and rename: a crash leaves a temporary file, never half a blob.
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
        size = 0
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                    size += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        # The rename lives in the folder: without this, a power loss could forget the blob
        # after its document committed. New folders are made durable in their parent the same way.
        for folder in (path.parent, *(created.parent for created in new_folders)):
            _fsync_folder(folder)
        return size

    def open(self, key: str) -> Iterator[bytes]:
        path = self._path(key)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise BlobMissing(key) from None
        return self._stream(handle)

    @staticmethod
    def _stream(handle: Any) -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(READ_CHUNK):
                yield chunk

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def check(self) -> None:
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise OSError("the content folder is missing or not writable")

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        for path in sorted(self.root.rglob("*")):
            key = path.relative_to(self.root).as_posix()
            if not key.startswith(prefix):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # removed while we listed (a rolled-back deposit, another check)
            if S_ISREG(stat.st_mode):
                yield BlobInfo(key, datetime.fromtimestamp(stat.st_mtime, UTC), stat.st_size)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class _ChunkReader:
    """A file-like view of an iterable of chunks, for boto3's streaming upload."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = bytearray()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                break
            self._buffer += chunk
            self.size += len(chunk)
        if size < 0:
            size = len(self._buffer)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


class S3Store(BlobStore):
    """An S3-compatible object store (AWS S3, MinIO, Ceph, ...)."""

    def __init__(self, bucket: str, prefix: str = "", *, client: Any) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        reader = _ChunkReader(chunks)
        # upload_fileobj switches to a multipart upload for large blobs and
        # aborts it on failure, so a blob is never visible half-written.
        self.client.upload_fileobj(reader, self.bucket, self.prefix + key)
        return reader.size

    def open(self, key: str) -> Iterator[bytes]:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise BlobMissing(key) from None
            raise
        return response["Body"].iter_chunks(READ_CHUNK)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def check(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for item in page.get("Contents", []):
                yield BlobInfo(item["Key"][len(self.prefix) :], item["LastModified"].astimezone(UTC), item["Size"])


def blob_store_from_settings(settings: Settings) -> BlobStore:
    spec = settings.content_store
    if spec.startswith("file:"):
        return LocalFolderStore(Path(spec.removeprefix("file:")))
    if spec.startswith("s3://"):
        import boto3

        bucket, _, prefix = spec.removeprefix("s3://").partition("/")
        client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region)
        return S3Store(bucket, prefix, client=client)
    raise ValueError(f"unknown content store {spec!r}: use file:PATH or s3://BUCKET/PREFIX")
