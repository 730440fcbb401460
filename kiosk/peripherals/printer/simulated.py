"""The demo's receipt printer: the project's printer emulator, run inside the kiosk.

It is the real driver (EscPosPrinter) talking ESC/POS over loopback TCP to the emulator, so the
demo and the tests exercise the same bytes, status queries and job confirmations as a hall's
printer. Each printed job leaves `<job_id>.png` (the paper as printed), `.txt` (its text lines),
`.json` and `.bin` (the bytes) in `out_dir`; the paper can be scripted through `machine`
(set_paper, open_cover, load_paper…).
"""

from __future__ import annotations

import os
from pathlib import Path

from kiosk.core.devices import Level, PrintResult
from kiosk.peripherals.printer.driver import EscPosPrinter
from kiosk.peripherals.printer.emulator import PrinterEmulator, PrinterMachine
from kiosk.peripherals.printer.link import Link
from kiosk.peripherals.printer.profile import PrinterProfile

ARTEFACT_KEYS = {"png": "png", "txt": "text", "json": "json", "bin": "raw"}


class SimulatedPrinter(EscPosPrinter):
    driver = "simulated"

    def __init__(self, name: str, out_dir: Path, profile: PrinterProfile, paper: Level = Level.OK) -> None:
        self.out_dir = Path(out_dir)
        self.machine = PrinterMachine(profile.paper_width_mm, self.out_dir, paper_level=paper)
        self._emulator: PrinterEmulator | None = None
        # the emulator's port is known only once it listens: open() points the link at it
        super().__init__(name, "tcp://127.0.0.1:9", profile, self.out_dir / "jobs.jsonl")

    def open(self) -> None:
        if self._emulator is None:
            self._emulator = PrinterEmulator(self.machine).start()
            self.link = Link(self._emulator.url, self.link.timeout)
        super().open()

    def close(self) -> None:
        super().close()
        if self._emulator is not None:
            self._emulator.stop()
            self._emulator = None

    def _result(self, job_id: str, byte_count: int, token: bytes | None) -> PrintResult:
        """The paper the token confirmed, its files renamed after the job; an earlier job's files."""
        paper = next((p for p in reversed(self.machine.papers) if token is not None and token in p.process_ids), None)
        artefacts: dict[str, str] = {}
        for suffix, key in ARTEFACT_KEYS.items():
            target = self.out_dir / f"{job_id}.{suffix}"
            if paper is not None and suffix in paper.files:
                os.replace(paper.files[suffix], target)
                paper.files[suffix] = target
            if target.exists():
                artefacts[key] = str(target)
        return PrintResult(job_id, byte_count, artefacts)
