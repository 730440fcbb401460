"""pcscd's own view of its readers, watched from a separate process, beside a driver under test.

libpcsclite keeps ONE reader-state array per process (winscard_clnt.c: `static READER_STATE
readerStates[]`), refreshed by every context's SCardGetStatusChange / SCardListReaders under
that context's own lock only. A second context in the process of the driver under test therefore
races with the driver's monitor: either can read a copy the other is overwriting, an older
snapshot after a newer one. So a test that wants to know what pcscd saw, without disturbing the
driver, asks from a child process: `PcscdWatch` runs one there and reads its states as JSON lines.

    with PcscdWatch([reader]) as watch:   # this process's PCSCLITE_CSOCK_NAME is inherited
        slot.remove()
        watch.wait_present(reader, False)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

# time.monotonic() is CLOCK_MONOTONIC, one clock for every process of the machine: the child's
# timestamps compare with the parent's.
_WATCH = r"""
import json, os, sys, time
from smartcard import scard as sc

parent, readers = os.getppid(), json.loads(sys.argv[1])
hresult, context = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
if hresult != sc.SCARD_S_SUCCESS:
    print(json.dumps({"error": sc.SCardGetErrorMessage(hresult)}), flush=True)
    sys.exit(1)
states = [(name, sc.SCARD_STATE_UNAWARE) for name in readers]
print(json.dumps({"ready": True}), flush=True)
while os.getppid() == parent:
    hresult, changes = sc.SCardGetStatusChange(context, 500, states)
    if hresult == sc.SCARD_E_TIMEOUT:
        continue
    if hresult != sc.SCARD_S_SUCCESS:
        print(json.dumps({"error": sc.SCardGetErrorMessage(hresult)}), flush=True)
        sys.exit(1)
    changed = [(name, state) for name, state, _atr in changes if state & sc.SCARD_STATE_CHANGED]
    print(json.dumps({"at": time.monotonic(), "states": changed}), flush=True)
    states = [(name, state & ~sc.SCARD_STATE_CHANGED) for name, state, _atr in changes]
"""

STATE_PRESENT = 0x20  # SCARD_STATE_PRESENT
_PLAIN = 0x10 | 0x20 | 0x80 | 0x100 | 0x2  # EMPTY, PRESENT, EXCLUSIVE, INUSE, CHANGED


class PcscdWatch:
    """Every state pcscd reports for `readers` (PC/SC names), seen from a child process."""

    def __init__(self, readers: list[str], start_timeout: float = 10.0) -> None:
        self.readers = list(readers)
        self.removals = dict.fromkeys(self.readers, 0)
        self.insertions = dict.fromkeys(self.readers, 0)
        self.present = dict.fromkeys(self.readers, False)
        self.history: list[tuple[float, str, int]] = []  # (time.monotonic(), reader, event state)
        self.error: str | None = None
        self.changed = threading.Condition()
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _WATCH, json.dumps(self.readers)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="pcscd-watch", daemon=True)
        self._thread.start()
        if not self._ready.wait(start_timeout):
            self.close()
            raise RuntimeError(f"the pcscd watcher did not start: {self.error or 'no answer'}")

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _pump(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            message = json.loads(line)
            with self.changed:
                if "error" in message:
                    self.error = message["error"]
                elif "ready" in message:
                    self._ready.set()
                else:
                    for name, state in message["states"]:
                        self.history.append((message["at"], name, state))
                        now = bool(state & STATE_PRESENT)
                        if now != self.present[name]:
                            (self.insertions if now else self.removals)[name] += 1
                        self.present[name] = now
                self.changed.notify_all()
        assert self._proc.stderr is not None
        why = self._proc.stderr.read()[-500:]  # it has ended: this does not block
        with self.changed:
            if self.error is None:
                self.error = f"the watcher process ended {why}".strip()
            self.changed.notify_all()

    def total_removals(self) -> int:
        with self.changed:
            return sum(self.removals.values())

    def wait_present(self, reader: str, present: bool, timeout: float = 5.0) -> None:
        """Until pcscd reports the slot full (or empty); AssertionError after `timeout`."""
        with self.changed:
            if not self.changed.wait_for(lambda: self.error is not None or self.present[reader] == present, timeout):
                raise AssertionError(f"pcscd did not see {reader} {'full' if present else 'empty'} in {timeout} s")
            if self.error is not None:
                raise AssertionError(f"pcscd watcher: {self.error}")

    def wait_removals(self, reader: str, at_least: int, timeout: float) -> bool:
        """True once pcscd has seen `at_least` removals from `reader` and the slot is empty now."""
        with self.changed:
            return (
                self.changed.wait_for(
                    lambda: self.error is not None or (self.removals[reader] >= at_least and not self.present[reader]),
                    timeout,
                )
                and self.error is None
            )

    def oddities(self) -> list[str]:
        """States other than a plain insertion or removal: the event counter (high word) moving by
        more than one, a card in or out with the counter not moved (pcscd writes the state, then
        the counter: a client can see the one without the other), or flags beyond EMPTY/PRESENT
        (unknown, unavailable, mute)."""
        with self.changed:
            history = list(self.history)
        last: dict[str, tuple[int, bool]] = {}
        odd = []
        for at, name, state in history:
            counter, flags, present = state >> 16, state & 0xFFFF, bool(state & STATE_PRESENT)
            if name in last:
                was_counter, was_present = last[name]
                why = ""
                if counter - was_counter not in (0, 1):
                    why = "counter jumped"
                elif present != was_present and counter == was_counter:
                    why = "card in/out, counter not moved yet"
                elif flags & ~_PLAIN or not flags & (0x10 | STATE_PRESENT):
                    why = "unusual flags"
                if why:
                    odd.append(f"{at:.3f} {name}: {why}: state {state:#x}, counter {was_counter} → {counter}")
            last[name] = (counter, present)
        return odd

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._thread.join(timeout=2)
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> PcscdWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
