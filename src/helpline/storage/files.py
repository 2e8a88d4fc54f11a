"""Where attachment bytes live: a small port, and the local-directory adapter.

An S3-compatible store can replace `LocalFileStore` by implementing the same three methods;
the database keeps only the key.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol


class FileStore(Protocol):
    async def put(self, data: bytes, extension: str) -> str: ...

    async def get(self, key: str) -> bytes: ...

    def local_path(self, key: str) -> Path | None: ...


class LocalFileStore:
    """Content-addressed files under `root` (the same upload twice is stored once)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError("attachment key outside the store")
        return path

    async def put(self, data: bytes, extension: str) -> str:
        digest = hashlib.sha256(data).hexdigest()
        key = f"{digest[:2]}/{digest}{extension}"
        await asyncio.to_thread(self._write, self._path(key), data)
        return key

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a crash never leaves a half-written file under the final name.
        fd, tmp = tempfile.mkstemp(dir=path.parent)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)
