"""The demo configuration's own parts: made-up citizens (and later the dock that drives the simulated devices)."""
