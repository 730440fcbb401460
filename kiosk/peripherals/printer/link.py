"""The connection to the printer, through python-escpos's backends, chosen by a URL in config.

    tcp://HOST[:PORT]              Network (port 9100 by default)
    usb://VID:PID[?in_ep=0x82&out_ep=0x01]   Usb (hex ids, as lsusb prints them)
    serial:///dev/ttyS0[?baud=9600]          Serial
    file:///dev/usb/lp0            File (the kernel's usblp device): write only, no status

python-escpos gives each backend `_raw` and `_read`; what it does not give is a read that
waits a bounded time and tells "nothing came" from "the line is gone", which status queries
and job confirmations need. `Link.read` adds that.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from escpos.escpos import Escpos

from kiosk.core.errors import ConfigError


class LinkLost(ConnectionError):
    """The printer's line went away (socket closed, cable pulled)."""


@dataclass(frozen=True)
class Endpoint:
    scheme: str  # tcp, usb, serial, file
    target: str  # host, VID:PID, device path
    options: dict[str, str]

    @property
    def readable(self) -> bool:
        """File has no way back: its printer's status can never be read."""
        return self.scheme != "file"


FORMS = "use tcp://HOST:PORT, usb://VID:PID, serial:///DEV or file:///PATH"


def parse_endpoint(url: str) -> Endpoint:
    """The connection named by `url`, every number in it checked: a bad one is a ConfigError now,
    not a ValueError when the kiosk first opens the printer."""
    try:
        parts = urlsplit(url)
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        if parts.scheme == "tcp" and parts.hostname:
            return Endpoint("tcp", f"{parts.hostname}:{parts.port or 9100}", options)
        if parts.scheme == "usb" and parts.netloc.count(":") == 1:
            for number in (*parts.netloc.split(":"), options.get("in_ep", "82"), options.get("out_ep", "01")):
                int(number, 16)
            return Endpoint("usb", parts.netloc, options)
        # three slashes: with two, "dev" in serial://dev/ttyS0 would be a host name, silently dropped
        if parts.scheme in ("serial", "file") and parts.path and not parts.netloc:
            int(options.get("baud", "9600"))
            return Endpoint(parts.scheme, parts.path, options)
    except ValueError:
        pass  # a port, id or baud rate that is not a number: said below with the rest
    raise ConfigError(f"printer connection {url!r}: {FORMS}")


def _backend(endpoint: Endpoint, timeout: float) -> Escpos:
    """A python-escpos printer object for the endpoint, not yet open. Imports only what it needs."""
    options = endpoint.options
    if endpoint.scheme == "tcp":
        from escpos.printer import Network

        host, port = endpoint.target.rsplit(":", 1)
        return Network(host, int(port), timeout=timeout)
    if endpoint.scheme == "usb":
        from escpos.printer import Usb

        vendor, product = (int(part, 16) for part in endpoint.target.split(":"))
        return Usb(
            vendor,
            product,
            timeout=int(timeout * 1000),
            in_ep=int(options.get("in_ep", "0x82"), 16),
            out_ep=int(options.get("out_ep", "0x01"), 16),
        )
    if endpoint.scheme == "serial":
        from escpos.printer import Serial

        return Serial(endpoint.target, baudrate=int(options.get("baud", "9600")), timeout=timeout)
    from escpos.printer import File

    return File(endpoint.target)


class Link:
    """One open connection: write bytes, read what the printer answers within a deadline."""

    def __init__(self, url: str, timeout: float) -> None:
        self.endpoint = parse_endpoint(url)
        self.timeout = timeout
        self._printer: Escpos | None = None

    @property
    def is_open(self) -> bool:
        return self._printer is not None

    def open(self) -> None:
        """Connect; OSError (python-escpos's DeviceNotFoundError included, made one) if it cannot."""
        self.close()
        printer = _backend(self.endpoint, self.timeout)
        try:
            printer.open()
        except Exception as exc:  # DeviceNotFoundError and the like: the printer is not there
            raise LinkLost(str(exc)) from exc
        self._printer = printer

    def close(self) -> None:
        printer, self._printer = self._printer, None
        if printer is not None:
            with contextlib.suppress(Exception):  # closing a dead line may fail in any way; it is closed anyway
                printer.close()

    def write(self, data: bytes) -> None:
        if self._printer is None:
            raise LinkLost("not connected")
        try:
            if self.endpoint.scheme == "tcp":  # a status read shortened it
                self._printer.device.settimeout(self.timeout)
            self._printer._raw(data)
            if self.endpoint.scheme == "file":
                self._printer.device.flush()
        except Exception as exc:
            self.close()
            raise LinkLost(str(exc)) from exc

    def read(self, wait: float) -> bytes:
        """What the printer sends within `wait` seconds; b"" if nothing. LinkLost if the line closed."""
        if self._printer is None:
            raise LinkLost("not connected")
        if not self.endpoint.readable:
            return b""
        device = self._printer.device
        remaining = max(wait, 0.001)
        try:
            if self.endpoint.scheme == "tcp":
                device.settimeout(remaining)
                data = device.recv(64)
                if not data:
                    raise LinkLost("the printer closed the connection")
                return data
            if self.endpoint.scheme == "serial":
                device.timeout = remaining
                first = device.read(1)  # read(64) would wait out the timeout for bytes that never come
                return bytes(first + device.read(device.in_waiting)) if first else b""
            return bytes(device.read(self._printer.in_ep, 64, int(remaining * 1000)))
        except TimeoutError:
            return b""
        except LinkLost:
            self.close()
            raise
        except OSError as exc:
            self.close()
            raise LinkLost(str(exc)) from exc
        except Exception as exc:  # pyusb: USBTimeoutError is "nothing came", anything else a lost line
            if "timeout" in type(exc).__name__.lower():
                return b""
            self.close()
            raise LinkLost(str(exc)) from exc
