"""Self-service hall kiosk: the terminal software."""

__version__ = "0.1.0"
