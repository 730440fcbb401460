"""What the demo's embedded hall starts with: its one staff account and one booked appointment."""

from __future__ import annotations

DEMO_STAFF = "demo-staff"  # its password: 64 hex characters made once beside the hall's data
# The embedded hall knows this appointment, so the demo can show scanning one (DemoCode.APPOINTMENT).
DEMO_APPOINTMENT = {"code": "YY20260101000001", "kind": "appointment", "item_id": "residence-permit", "slot": ""}
