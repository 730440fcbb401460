"""A simulated receipt printer: prints to files, takes scripted faults.

Each job leaves `<job_id>.bin` (the ESC/POS bytes a real printer would get), `<job_id>.png` (what
the paper would look like) and `<job_id>.txt` (the document's text) in `out_dir`. The demo's dev
dock shows the PNG; tests read all three.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

from kiosk.core.devices import DeviceState, FixedBy, Level, PrintResult
from kiosk.core.documents import Document
from kiosk.core.errors import ConfigError, DeviceError, DeviceTimeout
from kiosk.peripherals import escpos, layout, render
from kiosk.peripherals.base import BaseDevice

# job ids become file names: no separators, no dot-dot
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
_ARTEFACTS = {"png": ".png", "raw": ".bin", "text": ".txt"}


class SimulatedPrinter(BaseDevice):
    """Implements kiosk.core.devices.Printer. Events: printed (job id), paper_low, paper_out."""

    driver = "simulated"

    def __init__(self, name: str, out_dir: Path, paper_width_mm: int, paper: Level = Level.OK) -> None:
        super().__init__(name)
        try:
            layout.paper(paper_width_mm)
        except ValueError as exc:
            raise ConfigError(f"printer {name}: {exc}") from None
        self.out_dir = Path(out_dir)
        self.paper_width_mm = paper_width_mm
        self.capabilities = frozenset({"qr_native", "cut", f"paper_{paper_width_mm}"})
        self._paper = paper
        self._opened = False
        self._fail_code: tuple[str, FixedBy] | None = None
        self._delay = 0.0
        self._results: dict[str, PrintResult] = {}
        self._in_flight: set[str] = set()
        self._jobs = threading.Lock()  # one print head: one job at a time

    # -- the device contract --------------------------------------------------------------

    def open(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._opened = True
        self._apply_paper()
        if self._paper in (Level.LOW, Level.OUT):
            self._emit(f"paper_{self._paper.value}")

    def close(self) -> None:
        self._opened = False
        super().close()

    def print_document(self, document: Document, job_id: str, timeout: float) -> PrintResult:
        """Print `document` once per `job_id`: a repeated job id returns the earlier result.

        Never two receipts for one job, even across a restart of the kiosk (the files are the
        record) or when a caller retries after a timeout while the first try still runs.
        """
        if not _JOB_ID.match(job_id):
            raise ValueError(f"job id {job_id!r}: letters, digits, '_', '.', '-' only")
        with self._jobs:
            earlier = self._earlier(job_id)
            if earlier is not None:
                return earlier
            if not self._opened:
                raise DeviceError(f"{self.name} is not open", code="printer.offline", device=self.name)
            if self._paper is Level.OUT:
                self._apply_paper()
                raise DeviceError(f"{self.name}: paper out", code="printer.paper_out", device=self.name)
            with self._lock:
                if job_id in self._in_flight:  # an abandoned try is still printing it
                    raise DeviceError(f"job {job_id} still printing", code="printer.busy", device=self.name)
                fail, self._fail_code = self._fail_code, None
            if fail is not None:
                code, fixed_by = fail
                self._set_state(DeviceState.HARDWARE_ERROR, code, fixed_by)
                raise DeviceError(f"{self.name}: scripted fault", code=code, device=self.name)
            self._set_state(DeviceState.BUSY, "printer.printing")
            with self._lock:
                self._in_flight.add(job_id)
            try:
                result = self._run(lambda: self._produce(document, job_id), timeout)
            except DeviceTimeout:
                # it may or may not have printed: say unknown, never guess
                self._set_state(DeviceState.UNKNOWN, "printer.timeout", FixedBy.RETRY)
                raise
            except OSError as exc:
                self._set_state(DeviceState.HARDWARE_ERROR, "printer.offline", FixedBy.TECHNICIAN)
                raise DeviceError(f"{self.name}: {exc}", code="printer.offline", device=self.name) from exc
            except Exception:  # a document it cannot print (say, a QR too long): the printer is fine
                self._apply_paper()
                raise
            self._apply_paper()
        self._emit("printed", job_id)
        return result

    # -- scripted faults ------------------------------------------------------------------

    def set_paper(self, level: Level) -> None:
        """Staff (or a test) changes the roll: ok, low, out or unknown."""
        with self._lock:
            changed, self._paper = level != self._paper, level
        if not self._opened:
            self._set_consumable("paper", level)
            return
        self._apply_paper()
        if changed and level in (Level.LOW, Level.OUT):
            self._emit(f"paper_{level.value}")

    def fail_next(self, code: str, fixed_by: FixedBy = FixedBy.RETRY) -> None:
        """The next job fails once with `code` (e.g. "printer.offline", "printer.jam")."""
        with self._lock:
            self._fail_code = (code, fixed_by)

    def set_delay(self, seconds: float) -> None:
        """Every job takes this long, to try timeouts against the watchdog."""
        self._delay = seconds

    # -- inside ---------------------------------------------------------------------------

    def _apply_paper(self) -> None:
        """State from the paper level: out of paper is a hardware error that staff fix."""
        levels = {"paper": self._paper}
        if self._paper is Level.OUT:
            self._set_state(DeviceState.HARDWARE_ERROR, "printer.paper_out", FixedBy.STAFF, levels)
        else:
            self._set_state(DeviceState.READY, "device.ready", None, levels)

    def _paths(self, job_id: str) -> dict[str, Path]:
        return {kind: self.out_dir / f"{job_id}{suffix}" for kind, suffix in _ARTEFACTS.items()}

    def _earlier(self, job_id: str) -> PrintResult | None:
        with self._lock:
            if job_id in self._results:
                return self._results[job_id]
        paths = self._paths(job_id)
        if not paths["raw"].exists():  # .bin is written last: it marks a finished job
            return None
        result = PrintResult(job_id, paths["raw"].stat().st_size, {k: str(p) for k, p in paths.items()})
        with self._lock:
            self._results[job_id] = result
        return result

    def _produce(self, document: Document, job_id: str) -> PrintResult:
        """The printing itself; runs on the watchdog's thread and may outlive its caller."""
        try:
            if self._delay:
                time.sleep(self._delay)
            raw = escpos.encode(document, self.paper_width_mm)
            paths = self._paths(job_id)
            _write(paths["png"], render.render_png(document, self.paper_width_mm))
            _write(paths["text"], ("\n".join(document.text_lines()) + "\n").encode("utf-8"))
            _write(paths["raw"], raw)
            result = PrintResult(job_id, len(raw), {k: str(p) for k, p in paths.items()})
            with self._lock:
                self._results[job_id] = result
            return result
        finally:
            with self._lock:
                self._in_flight.discard(job_id)


def _write(path: Path, data: bytes) -> None:
    """Write whole or not at all: a half-written .bin must not pass for a printed job."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
