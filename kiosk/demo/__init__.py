"""The demo configuration's own parts: made-up citizens (identities), what its embedded hall is
seeded with (seed), and the dock that drives the simulated devices (dock)."""
