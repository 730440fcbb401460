"""Page files: content-addressed blobs (a page sent twice is stored once, a file's name proves its
content), uploaded in resumable chunks (docs/submission-protocol.md, step 2).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


class BlobOffsetError(Exception):
    """A chunk that does not start where the hall's copy ends."""

    def __init__(self, received: int) -> None:
        super().__init__(f"the hall has {received} bytes")
        self.received = received


class BlobHashError(Exception):
    """The complete upload does not hash to its name; it has been discarded."""


@dataclass(frozen=True)
class BlobState:
    received: int  # bytes the hall holds
    complete: bool


class DocumentFiles:
    """Content-addressed page files: <dir>/<sha[:2]>/<sha>. The fan-out keeps directories small.

    Resumable uploads grow in <dir>/staging/<sha>.part until complete and verified; they survive a
    restart. Each append holds an flock on the .part file, so concurrent uploads of one blob (from
    any hall worker) cannot interleave.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._staging = self.root / "staging"
        self._staging.mkdir(exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def temp_file(self) -> tuple[BinaryIO, Path]:
        """A new temporary file under the store (same file system: it can be renamed into place)."""
        fd, name = tempfile.mkstemp(dir=self._tmp, suffix=".part")
        return os.fdopen(fd, "w+b"), Path(name)

    def blob_state(self, sha256: str) -> BlobState | None:
        """How much of a blob the hall holds; None when it holds nothing."""
        try:
            return BlobState(self.path(sha256).stat().st_size, True)
        except FileNotFoundError:
            pass
        try:
            return BlobState((self._staging / f"{sha256}.part").stat().st_size, False)
        except FileNotFoundError:
            return None

    def append(self, sha256: str, start: int, total: int, chunk: Path) -> BlobState:
        """Append the file `chunk` to the blob's upload if it starts at `start`; verify once `total` is reached.

        Raises BlobOffsetError when `start` is not the current size, BlobHashError when the
        complete upload does not hash to `sha256` (the upload is then discarded).
        """
        if self.path(sha256).exists():
            return BlobState(self.path(sha256).stat().st_size, True)  # never rewritten
        with self._locked_part(sha256, create=start == 0) as part:
            if part is None:
                if self.path(sha256).exists():  # finished by another request while we waited
                    return BlobState(self.path(sha256).stat().st_size, True)
                raise BlobOffsetError(0)
            have = os.fstat(part.fileno()).st_size
            if start != have:
                raise BlobOffsetError(have)
            with chunk.open("rb") as source:
                shutil.copyfileobj(source, part)
            part.flush()
            os.fsync(part.fileno())
            have = os.fstat(part.fileno()).st_size
            if have < total:
                return BlobState(have, False)
            part_path = self._part_path(sha256)
            if _file_sha256(part_path) != sha256:
                part_path.unlink()
                raise BlobHashError(sha256)
            self.path(sha256).parent.mkdir(exist_ok=True)
            os.replace(part_path, self.path(sha256))
            return BlobState(have, True)

    def _part_path(self, sha256: str) -> Path:
        return self._staging / f"{sha256}.part"

    @contextmanager
    def _locked_part(self, sha256: str, create: bool) -> Iterator[BinaryIO | None]:
        """The .part file open for appending under an exclusive flock.

        None when the blob is complete, or when there is no .part and `create` is false.
        """
        path = self._part_path(sha256)
        while True:
            if self.path(sha256).exists():
                yield None
                return
            flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT if create else 0)
            try:
                fd = os.open(path, flags, 0o600)
            except FileNotFoundError:
                yield None
                return
            with os.fdopen(fd, "ab") as part:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    current = os.stat(path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    current = False
                if current:
                    yield part
                    return
            # The holder before us completed or discarded the upload (renamed or removed the file): look again.


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
