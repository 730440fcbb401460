"""The ESC/POS receipt printer: model profiles, connections, status, jobs and the driver."""
