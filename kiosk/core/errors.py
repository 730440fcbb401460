"""Typed errors. Each carries a message code that the UI translates through the catalogues."""

from __future__ import annotations

from typing import Any


class KioskError(Exception):
    """Base error: `code` is a key in config/messages/*.toml, `params` fill its placeholders."""

    code = "error.unexpected"

    def __init__(self, detail: str = "", *, code: str | None = None, **params: Any) -> None:
        super().__init__(detail or code or self.code)
        if code is not None:
            self.code = code
        self.detail = detail
        self.params = params


class ConfigError(KioskError):
    code = "error.config"


class CatalogueError(KioskError):
    code = "error.catalogue"


class SessionError(KioskError):
    """A transition the session state machine does not allow."""

    code = "error.session"


class DeviceError(KioskError):
    code = "device.error"


class DeviceTimeout(DeviceError):
    code = "device.timeout"


class DeviceCancelled(DeviceError):
    code = "device.cancelled"


class HallError(KioskError):
    code = "hall.unreachable"
