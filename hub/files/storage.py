"""Where file bytes live: a folder under DATA_DIR (the default) or an S3-compatible store.

Keys are "{org_id}/{sha256}" (the content, stored once per organization) and
"{org_id}/{sha256}.thumb.webp". Both backends stream reads in chunks and can hand out a
short-lived URL that reaches the bytes without the API in the path.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

_CHUNK = 1 << 16


class StorageError(Exception):
    """The store could not be reached or refused the operation."""


@dataclass(frozen=True)
class Download:
    """Response headers the store should send with a signed URL."""

    content_type: str
    disposition: str


class Storage(Protocol):
    async def put_file(self, key: str, path: Path, content_type: str) -> None: ...

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...

    async def size(self, key: str) -> int | None:
        """The stored size in bytes, None when the key is absent."""

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes start..end (inclusive; None: to the end), in chunks."""

    async def fetch_to(self, key: str, path: Path) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def presign(self, key: str, download: Download, ttl_s: int) -> str | None:
        """A URL of the store itself, or None when the API must sign its own (local)."""

    async def close(self) -> None: ...


class LocalStorage:
    """Files under `root`; writes go through a temporary name and an atomic rename."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, key: str) -> Path:
        org, _, name = key.partition("/")
        if not org or not name or ".." in key or key.startswith("/"):
            raise StorageError(f"Bad storage key {key!r}")
        return self.root / org / name[:2] / name

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        await asyncio.to_thread(self._put_file, key, path)

    def _put_file(self, key: str, path: Path) -> None:
        target = self.path_of(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.part")
        shutil.copyfile(path, partial)
        os.replace(partial, target)

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._put_bytes, key, data)

    def _put_bytes(self, key: str, data: bytes) -> None:
        target = self.path_of(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.part")
        partial.write_bytes(data)
        os.replace(partial, target)

    async def size(self, key: str) -> int | None:
        try:
            return self.path_of(key).stat().st_size
        except FileNotFoundError:
            return None

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        path = self.path_of(key)
        left = None if end is None else end - start + 1
        with path.open("rb") as f:
            f.seek(start)
            while left is None or left > 0:
                chunk = await asyncio.to_thread(
                    f.read, _CHUNK if left is None else min(_CHUNK, left)
                )
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    async def fetch_to(self, key: str, path: Path) -> None:
        await asyncio.to_thread(shutil.copyfile, self.path_of(key), path)

    async def delete(self, key: str) -> None:
        self.path_of(key).unlink(missing_ok=True)

    async def presign(self, key: str, download: Download, ttl_s: int) -> str | None:
        return None

    async def close(self) -> None:
        return None


class S3Storage:
    """An S3-compatible bucket through aiobotocore (one client per process)."""

    def __init__(self, client: Any, exit_stack: Any, bucket: str) -> None:
        self.client = client
        self._exit = exit_stack
        self.bucket = bucket

    @classmethod
    async def open(
        cls,
        *,
        bucket: str,
        endpoint_url: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
    ) -> S3Storage:
        from contextlib import AsyncExitStack

        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        stack = AsyncExitStack()
        client = await stack.enter_async_context(
            get_session().create_client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region,
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                config=AioConfig(
                    connect_timeout=5,
                    read_timeout=30,
                    retries={"max_attempts": 2, "mode": "standard"},
                    signature_version="s3v4",
                ),
            )
        )
        store = cls(client, stack, bucket)
        try:
            await store._ensure_bucket()
        except Exception:
            await stack.aclose()
            raise
        return store

    async def _ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            await self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            await self.client.create_bucket(Bucket=self.bucket)

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        with path.open("rb") as body:
            await self._call(
                self.client.put_object,
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                ContentLength=os.fstat(body.fileno()).st_size,
            )

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        await self._call(
            self.client.put_object, Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
        )

    async def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            head = await self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StorageError(str(exc)) from exc
        return int(head["ContentLength"])

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        wanted = f"bytes={start}-{'' if end is None else end}"
        response = await self._call(
            self.client.get_object, Bucket=self.bucket, Key=key, Range=wanted
        )
        async with response["Body"] as body:
            async for chunk in body.iter_chunks(_CHUNK):
                yield chunk

    async def fetch_to(self, key: str, path: Path) -> None:
        with path.open("wb") as out:
            async for chunk in self.read(key):
                out.write(chunk)

    async def delete(self, key: str) -> None:
        await self._call(self.client.delete_object, Bucket=self.bucket, Key=key)

    async def presign(self, key: str, download: Download, ttl_s: int) -> str | None:
        url: str = await self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentType": download.content_type,
                "ResponseContentDisposition": download.disposition,
            },
            ExpiresIn=ttl_s,
        )
        return url

    async def close(self) -> None:
        await self._exit.aclose()

    async def _call(self, method: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await method(**kwargs)
        except (TimeoutError, BotoCoreError, ClientError, OSError) as exc:
            raise StorageError(f"The object store failed: {exc}") from exc


async def open_storage(
    kind: str,
    data_dir: Path,
    *,
    bucket: str,
    endpoint_url: str | None,
    region: str,
    access_key_id: str | None,
    secret_access_key: str | None,
) -> Storage:
    if kind == "s3":
        return await S3Storage.open(
            bucket=bucket,
            endpoint_url=endpoint_url,
            region=region,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
        )
    return LocalStorage(data_dir / "files")
