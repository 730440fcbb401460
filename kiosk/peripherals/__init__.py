"""Peripheral drivers behind the device contract in kiosk.core.devices."""
