"""The hall service: the back office the terminals submit to (intake, progress, ratings).

Independent of the `kiosk` package on purpose: it runs on a server, the kiosk only talks HTTP to it.
"""

__version__ = "0.1.0"
