"""The hall service: the back office the terminals submit to (intake, progress, ratings, catalogue,
terminal health, the staff pages).

It runs on a server and the kiosk only talks HTTP to it. It shares a few definitions with the
kiosk's core (the service-item model it validates its catalogue with, device state names, request
signing), never the kiosk's screens or drivers.
"""

__version__ = "0.1.0"
