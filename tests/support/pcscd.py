"""A private, real pcscd with vsmartcard's vpcd driver, beside any system pcscd.

pcscd always serves /run/pcscd/pcscd.comm (pcsc-lite 1.9.9 ignores PCSCLITE_CSOCK_NAME on the
server side; only the client library reads it). So the test pcscd runs under `unshare --mount`
with a private tmpfs on /run and our socket folder bound onto /run/pcscd: the system pcscd, if
any, is untouched, and clients reach ours with PCSCLITE_CSOCK_NAME=<socket folder>/pcscd.comm.

libpcsclite reads PCSCLITE_CSOCK_NAME once per process (pthread_once, on the first PC/SC call)
and keeps it: a process that talks to more than one test pcscd over its life must give them the
same socket folder (see `process_socket_dir`), and set the variable before its first PC/SC call.

vpcd gives each reader.conf entry two slots, "<name> 00 00" on TCP port P and "<name> 00 01" on
P + 1, both listening on ALL interfaces: never ship a vpcd reader.conf in a kiosk image.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
SOCKET_NAME = "pcscd.comm"
# Below Linux's ephemeral range (32768-60999), so an outgoing connection never takes our port.
_PORT_RANGE = (20000, 32000)
_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp

# A fresh interpreter asks the server for its readers: a fresh libpcsclite, so the probe never
# depends on (or pins) the socket path of the test process itself.
_PROBE = """
import json, smartcard.scard as s
hr, ctx = s.SCardEstablishContext(s.SCARD_SCOPE_USER)
out = {"establish": hr}
if hr == s.SCARD_S_SUCCESS:
    out["list"], out["readers"] = s.SCardListReaders(ctx, [])
    s.SCardReleaseContext(ctx)
print(json.dumps(out))
"""

_process_socket_dir: Path | None = None


def process_socket_dir() -> Path:
    """One socket folder for every test pcscd of this process (libpcsclite pins the path)."""
    global _process_socket_dir
    if _process_socket_dir is None:
        _sweep_dead_socket_dirs()
        _process_socket_dir = Path(tempfile.mkdtemp(prefix=f"kiosk-pcscd-{os.getpid()}-"))
        atexit.register(shutil.rmtree, _process_socket_dir, True)
    return _process_socket_dir


def _sweep_dead_socket_dirs() -> None:
    """Removes the folders of test processes that died before their atexit (a killed run)."""
    for folder in Path(tempfile.gettempdir()).glob("kiosk-pcscd-*-*"):
        owner = folder.name.split("-")[2]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            shutil.rmtree(folder, ignore_errors=True)


class PcscdError(RuntimeError):
    """pcscd did not come up; the message carries the end of its log."""


class PcscdServer:
    """A real pcscd serving vpcd readers named `readers`, with its files in `folder`.

    `folder` holds reader.conf and pcscd.log (APDUs logged, -a); the socket lives in
    `socket_dir` (default `folder`/run). Ports are picked free at the first start and kept
    across restart(), so a CardSlot keeps pointing at the right reader.
    """

    def __init__(
        self,
        readers: list[str],
        folder: Path,
        *,
        socket_dir: Path | None = None,
        start_timeout: float = 10.0,
        debug: bool = False,
    ) -> None:
        if not readers or len(set(readers)) != len(readers):
            raise ValueError("give one or more distinct reader names")
        self.readers = list(readers)
        self.folder = Path(folder)
        self.socket_dir = Path(socket_dir) if socket_dir is not None else self.folder / "run"
        self.start_timeout = start_timeout
        self.debug = debug
        self.log_path = self.folder / "pcscd.log"
        self._ports: dict[str, int] = {}
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.socket_dir / SOCKET_NAME

    @property
    def env(self) -> dict[str, str]:
        """What a client process needs in its environment to talk to this pcscd."""
        return {"PCSCLITE_CSOCK_NAME": str(self.socket_path)}

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def port(self, reader: str, slot: int = 0) -> int:
        """The TCP port a card connects to for `reader` (slot 1 is vpcd's second slot)."""
        if reader not in self._ports:
            raise KeyError(f"{reader!r}: no such reader, or pcscd not started yet (ports are picked at start)")
        return self._ports[reader] + slot

    def pcsc_name(self, reader: str, slot: int = 0) -> str:
        """The name PC/SC lists. pcscd appends two numbers: the first counts readers of the same
        friendly name (always 00 here: names are distinct), the second is the slot."""
        if reader not in self.readers:
            raise KeyError(reader)
        return f"{reader} 00 {slot:02X}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        """Starts pcscd and returns once a client lists every reader; PcscdError otherwise."""
        if self.running:
            raise PcscdError("pcscd is already running")
        if not VPCD_DRIVER.exists() or shutil.which("pcscd") is None:
            raise PcscdError(f"pcscd or {VPCD_DRIVER} missing: apt-get install pcscd vsmartcard-vpcd")
        attempts = 1 if self._ports else 3  # fresh ports can be taken in between: pick again
        for attempt in range(attempts):
            if not self._ports or attempt:
                self._ports = dict(zip(self.readers, _free_port_pairs(len(self.readers)), strict=True))
            try:
                self._launch()
                self._wait_ready()
                return
            except PcscdError:
                self.kill()
                if attempt == attempts - 1:
                    raise

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, as a service manager stops it; SIGKILL if it does not exit in time."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout)
        self._proc = None

    def kill(self) -> None:
        """SIGKILL: pcscd crashes, leaving its socket and pid file behind."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait(5)
        self._proc = None

    def restart(self) -> None:
        """stop() then start() on the same ports and socket."""
        self.stop()
        self.start()

    def __enter__(self) -> PcscdServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def _driver_for(self, index: int) -> Path:
        """vpcd keeps its sockets in one global array indexed by slot number only, so a second
        reader.conf entry on the same loaded driver takes over the first one's slots (both PC/SC
        readers then reach the same card). A copy of the library is a separate dlopen with its
        own globals: one copy per extra reader."""
        if index == 0:
            return VPCD_DRIVER
        copy = self.folder / f"libifdvpcd-{index}.so"
        if not copy.exists():
            shutil.copyfile(VPCD_DRIVER, copy)
        return copy

    def _write_conf(self) -> Path:
        lines = []
        for index, name in enumerate(self.readers):
            port = self._ports[name]
            lines += [
                f'FRIENDLYNAME "{name}"',
                f"DEVICENAME   /dev/null:0x{port:04X}",
                f"LIBPATH      {self._driver_for(index)}",
                f"CHANNELID    0x{port:04X}",
                "",
            ]
        conf = self.folder / "reader.conf"
        conf.write_text("\n".join(lines))
        return conf

    def _launch(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        for stale in (SOCKET_NAME, "pcscd.pid"):  # left by a killed pcscd; it would refuse to start
            (self.socket_dir / stale).unlink(missing_ok=True)
        conf = self._write_conf()
        pcscd = ["pcscd", "--foreground", "--apdu", "--config", str(conf)]
        if self.debug:
            pcscd.append("--debug")
        script = (
            'mount -t tmpfs kiosk-pcscd /run && mkdir /run/pcscd && mount --bind "$1" /run/pcscd && shift && exec "$@"'
        )
        # Non-root: a user namespace makes us root inside it, enough to mount.
        unshare = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--mount"]
        # --pdeathsig: if the test process dies without cleaning up, pcscd dies with it.
        command = ["setpriv", "--pdeathsig", "KILL", "--", *unshare, "sh", "-c", script, "sh"]
        command += [str(self.socket_dir), *pcscd]
        with self.log_path.open("ab") as log:
            log.write(f"--- start {time.strftime('%H:%M:%S')} ports {self._ports}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        wanted = {self.pcsc_name(name) for name in self.readers}
        ports = {self.port(name, slot) for name in self.readers for slot in (0, 1)}
        last = "nothing checked yet"
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                code = self._proc.returncode if self._proc is not None else None
                raise PcscdError(f"pcscd exited with {code}\n{self._log_tail()}")
            missing = ports - _listening_ports()
            if not self.socket_path.exists():
                last = f"no socket {self.socket_path} yet"
            elif missing:
                last = f"vpcd not listening on ports {sorted(missing)}"
            else:
                answer = self._probe()
                last = f"a client saw {json.dumps(answer)}"
                if wanted <= set(answer.get("readers") or []):
                    return
            time.sleep(0.02)
        raise PcscdError(f"pcscd not ready in {self.start_timeout} s ({last})\n{self._log_tail()}")

    def _probe(self) -> dict[str, object]:
        env = {**os.environ, **self.env}
        done = subprocess.run(
            [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=10, check=False
        )
        try:
            return json.loads(done.stdout)
        except json.JSONDecodeError:
            return {"probe_failed": done.stderr[-500:]}

    def _log_tail(self, lines: int = 40) -> str:
        return "pcscd log:\n" + "\n".join(self.log_text().splitlines()[-lines:])


def _listening_ports() -> set[int]:
    """TCP ports in LISTEN state on this machine (without connecting: a connect would insert a card)."""
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == _LISTEN:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as vpcd binds
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _free_port_pairs(count: int) -> list[int]:
    """`count` ports P with P and P + 1 free (vpcd listens on both)."""
    taken = _listening_ports()
    chosen: list[int] = []
    for _ in range(1000):
        port = random.randrange(_PORT_RANGE[0], _PORT_RANGE[1], 2)
        pair = {port, port + 1}
        if pair & taken or any(abs(port - other) < 2 for other in chosen):
            continue
        if _port_free(port) and _port_free(port + 1):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise PcscdError("no free TCP port pairs for vpcd")
