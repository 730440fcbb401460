"""The progress query's answer as lines for the screen (办件查询): state and timeline, Beijing time."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kiosk.core.messages import Messages

# China has one time zone and no daylight saving: the hall stores UTC, citizens read UTC+8.
BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")


def local_time(iso: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return f"{moment.astimezone(BEIJING):%Y-%m-%d %H:%M}"


def state_name(state: str, messages: Messages) -> str:
    code = f"state.{state}"
    return messages.t(code) if messages.has(code) else state


def progress_lines(answer: dict[str, Any], messages: Messages) -> list[str]:
    lines = [
        answer.get("item_name", ""),
        f"{messages.t('query.state')}：{state_name(answer.get('state', ''), messages)}",
    ]
    for entry in answer.get("timeline", []):
        lines.append(f"{local_time(entry.get('at', ''))}  {state_name(entry.get('state', ''), messages)}")
    return lines
