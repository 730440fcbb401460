"""A small hall of ours speaking submission protocol v2 over real HTTP on loopback, with faults on demand.

It implements docs/submission-protocol.md faithfully enough to test the terminal against: every
request's signature is checked with kiosk.core.signing (stale timestamps and replayed nonces
refused), create is idempotent and refuses a different manifest, blobs are appended only at the
offset held and checked by SHA-256 when complete, commit needs every part. The real hall
(hall/app.py) can take its place once it speaks v2.

Faults, each on the nth request matching a method and path prefix (counted from when it is added):
  status  answer this HTTP status with an error code, without doing anything
  reset   read `arg` bytes of the body, keep them if it is a blob chunk at the right offset (as a
          hall that streams to disk would), then drop the connection with a TCP reset
  delay   do the work, then wait `arg` seconds before answering (the client times out first)
  forget  cut the blob's partial data to `arg` bytes first (the terminal's offset is then wrong)
  corrupt flip one byte of the chunk before storing it (the final hash check fails)
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from kiosk.core import signing

CITIZEN_NAME = "欧阳建国"
CITIZEN_ID = "11010519491231002X"
PAGE_MARKER = b"PAGE-MARKER-7f3a"
APPLICATION_PATH = re.compile(r"^/v1/applications/([^/]+)$")
COMMIT_PATH = re.compile(r"^/v1/applications/([^/]+)/commit$")
BLOB_PATH = re.compile(r"^/v1/blobs/([0-9a-f]{64})$")
CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


def citizen_application(receipt_no: str, pages: int = 2, page_bytes: int = 300_000) -> tuple[dict, list]:
    """An application as the terminal builds it, for the test citizen, with its parts.

    Each page starts with PAGE_MARKER, so a test can look for page content in stored bytes.
    """
    application = {
        "receipt_no": receipt_no,
        "terminal_id": receipt_no.split("-")[0],
        "item_id": "id-card-renewal",
        "submitted_at": "2026-11-24T09:30:00+08:00",
        "applicant": {"name": CITIZEN_NAME, "id_number": CITIZEN_ID, "address": "北京市朝阳区"},
        "form": {"name": CITIZEN_NAME, "id_number": CITIZEN_ID},
        "materials": [{"id": "id-card", "name": "居民身份证", "pages": pages}],
    }
    parts = [
        (f"id-card/{n}.jpg", PAGE_MARKER + receipt_no.encode() + bytes([n]) + _noise(receipt_no, n, page_bytes))
        for n in range(1, pages + 1)
    ]
    return application, parts


def _noise(seed: str, n: int, size: int) -> bytes:
    """Deterministic bytes that do not repeat within a chunk (unlike b"x" * size)."""
    out = bytearray()
    block = hashlib.sha256(f"{seed}/{n}".encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


@dataclass
class Fault:
    method: str  # "*" for any
    path: str  # prefix
    action: str  # status | reset | delay | forget | corrupt
    arg: Any = None
    nth: int = 1
    code: str = "hall.internal"  # for status
    seen: int = 0


@dataclass
class Stored:
    application: dict[str, Any]
    parts: list[dict[str, Any]]
    commits: int = 0  # how many times it went from open to committed: must end at exactly 1


@dataclass
class Seen:
    method: str
    path: str
    status: int
    start: int | None = None  # a chunk's Content-Range start
    length: int = 0


@dataclass
class _State:
    applications: dict[str, Stored] = field(default_factory=dict)
    partial: dict[str, bytearray] = field(default_factory=dict)
    complete: dict[str, bytes] = field(default_factory=dict)
    nonces: dict[tuple[str, str], float] = field(default_factory=dict)
    ratings: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # by (terminal, session)


class _Answer(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def _error(status: int, code: str, **extra: Any) -> _Answer:
    return _Answer(status, {"error": {"code": code, "message": code}, **extra})


class V2Hall:
    def __init__(self, keys: dict[str, bytes]) -> None:
        self.keys = keys
        self.state = _State()
        self.seen: list[Seen] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def documents(self, receipt_no: str) -> dict[str, bytes]:
        """A committed application's parts as the hall holds them, by name."""
        stored = self.state.applications[receipt_no]
        return {p["name"]: self.state.complete[p["sha256"]] for p in stored.parts}

    def chunk_puts(self, sha: str) -> list[Seen]:
        return [s for s in self.seen if s.method == "PUT" and s.path == f"/v1/blobs/{sha}"]

    # -- the protocol -------------------------------------------------------------------------

    def _create(self, receipt_no: str, body: bytes) -> _Answer:
        try:
            request = json.loads(body)
            application, parts = request["application"], request["parts"]
            if not isinstance(application, dict) or application.get("receipt_no") != receipt_no:
                raise ValueError
            for part in parts:
                if not (re.fullmatch(r"[0-9a-f]{64}", part["sha256"]) and int(part["size"]) > 0 and part["name"]):
                    raise ValueError
        except (ValueError, KeyError, TypeError):
            raise _error(422, "hall.invalid") from None
        stored = self.state.applications.get(receipt_no)
        status = 200
        if stored is None:
            stored = self.state.applications[receipt_no] = Stored(application, parts)
            status = 201
        elif (stored.application, stored.parts) != (application, parts):
            raise _error(409, "hall.conflict")
        missing = list(dict.fromkeys(p["sha256"] for p in parts if p["sha256"] not in self.state.complete))
        return _Answer(
            status,
            {
                "receipt_no": receipt_no,
                "state": "committed" if stored.commits else "open",
                "missing": missing,
                "received": {sha: len(self.state.partial.get(sha, b"")) for sha in missing},
            },
        )

    def _size(self, sha: str) -> int | None:
        sizes = {p["size"] for s in self.state.applications.values() for p in s.parts if p["sha256"] == sha}
        return sizes.pop() if len(sizes) == 1 else None

    def _put_blob(self, sha: str, content_range: str, body: bytes, fault: Fault | None) -> _Answer:
        total = self._size(sha)
        if total is None:
            raise _error(404, "hall.not_found")
        if sha in self.state.complete:
            return _Answer(200, {"sha256": sha, "received": total, "complete": True})
        match = CONTENT_RANGE.match(content_range)
        start, end = (int(match[1]), int(match[2])) if match else (0, -1)
        if not match or int(match[3]) != total or end >= total or end - start + 1 != len(body):
            raise _error(422, "hall.invalid")
        partial = self.state.partial.setdefault(sha, bytearray())
        if start != len(partial):
            raise _error(409, "hall.blob.offset", received=len(partial))
        if fault and fault.action == "corrupt":
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        partial += body
        if len(partial) == total:
            del self.state.partial[sha]
            if hashlib.sha256(partial).hexdigest() != sha:
                raise _error(422, "hall.blob.hash")
            self.state.complete[sha] = bytes(partial)
        return _Answer(200, {"sha256": sha, "received": len(partial), "complete": sha in self.state.complete})

    def _head_blob(self, sha: str) -> _Answer:
        if sha in self.state.complete:
            return _Answer(200, {}, {"Upload-Offset": str(len(self.state.complete[sha]))})
        if sha in self.state.partial or self._size(sha) is not None:
            return _Answer(204, {}, {"Upload-Offset": str(len(self.state.partial.get(sha, b"")))})
        raise _error(404, "hall.not_found")

    def _commit(self, receipt_no: str) -> _Answer:
        stored = self.state.applications.get(receipt_no)
        if stored is None:
            raise _error(404, "hall.not_found")
        missing = [p["sha256"] for p in stored.parts if p["sha256"] not in self.state.complete]
        if missing:
            raise _error(409, "hall.incomplete", missing=missing)
        if not stored.commits:
            stored.commits += 1
        documents = [{k: p[k] for k in ("name", "sha256", "size")} for p in stored.parts]
        return _Answer(200, {"receipt_no": receipt_no, "state": "committed", "documents": documents})

    def _check_signature(self, method: str, path: str, headers: Any, body: bytes) -> None:
        terminal, timestamp = headers.get("X-Terminal-Id"), headers.get("X-Timestamp")
        nonce, given = headers.get("X-Nonce"), headers.get("X-Signature")
        if not (terminal and timestamp and timestamp.isdigit() and nonce and given):
            raise _error(401, "hall.signature.missing")
        key = self.keys.get(terminal)
        if key is None:
            raise _error(401, "hall.signature.unknown_terminal")
        if not signing.matches(signing.signature(key, method, path, body, timestamp, nonce), given):
            raise _error(401, "hall.signature.bad")
        now = time.time()
        if abs(now - int(timestamp)) > signing.MAX_SKEW_S:
            raise _error(401, "hall.signature.stale", server_time=int(now))
        self.state.nonces = {k: t for k, t in self.state.nonces.items() if now - t < signing.NONCE_TTL_S}
        if (terminal, nonce) in self.state.nonces:
            raise _error(401, "hall.signature.replay")
        self.state.nonces[(terminal, nonce)] = now

    def _route(self, method: str, path: str, headers: Any, body: bytes, fault: Fault | None) -> _Answer:
        self._check_signature(method, path, headers, body)
        if method == "PUT" and (match := APPLICATION_PATH.match(path)):
            return self._create(match[1], body)
        if method == "POST" and (match := COMMIT_PATH.match(path)):
            return self._commit(match[1])
        if method == "POST" and path == "/v1/ratings":
            rating = json.loads(body)
            self.state.ratings.setdefault((headers.get("X-Terminal-Id"), rating["session_id"]), rating)
            return _Answer(201, {"id": len(self.state.ratings), "received_at": "2026-11-24T00:00:00Z"})
        if match := BLOB_PATH.match(path):
            if method == "HEAD":
                return self._head_blob(match[1])
            if method == "PUT":
                return self._put_blob(match[1], headers.get("Content-Range", ""), body, fault)
        raise _error(404, "hall.not_found")

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method in ("*", method) and path.startswith(fault.path):
                    fault.seen += 1
                    if fault.seen == fault.nth:
                        self._faults.remove(fault)
                        return fault
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hall = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the terminal's requests.Session uses it

            def _serve(self) -> None:
                method, path = self.command, self.path
                length = int(self.headers.get("Content-Length") or 0)
                fault = hall._take_fault(method, path)
                if fault and fault.action == "reset":
                    self._reset(method, path, self.rfile.read(min(fault.arg, length)))
                    return
                body = self.rfile.read(length)
                if fault and fault.action == "status":
                    answer = _error(fault.arg, fault.code)
                else:
                    with hall._lock:
                        if fault and fault.action == "forget":
                            sha = path.rsplit("/", 1)[1]
                            hall.state.partial[sha] = hall.state.partial.get(sha, bytearray())[: fault.arg]
                        try:
                            answer = hall._route(method, path, self.headers, body, fault)
                        except _Answer as raised:
                            answer = raised
                    if fault and fault.action == "delay":
                        time.sleep(fault.arg)
                self._record(method, path, answer.status, len(body))
                payload = b"" if method == "HEAD" or answer.status == 204 else json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    for key, value in answer.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the terminal gave up waiting (delay fault)
                    self.close_connection = True

            def _reset(self, method: str, path: str, got: bytes) -> None:
                """Keep what arrived of a chunk at the right offset, then drop the connection (RST)."""
                match = BLOB_PATH.match(path)
                start = CONTENT_RANGE.match(self.headers.get("Content-Range", ""))
                with hall._lock:
                    if (
                        method == "PUT"
                        and match
                        and start
                        and int(start[1]) == len(hall.state.partial.get(match[1], b""))
                    ):
                        hall.state.partial.setdefault(match[1], bytearray()).extend(got)
                self._record(method, path, 0, len(got))
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def _record(self, method: str, path: str, status: int, length: int) -> None:
                start = CONTENT_RANGE.match(self.headers.get("Content-Range", ""))
                with hall._lock:
                    hall.seen.append(Seen(method, path, status, int(start[1]) if start else None, length))

            do_PUT = do_POST = do_HEAD = do_GET = _serve

            def log_message(self, *_: object) -> None:  # keep test output quiet
                pass

        return Handler
