"""What the terminals' latest heartbeats say (GET /v1/terminals, the staff's terminals page): which
terminal is stale, and what needs someone's attention.

Each terminal POSTs a heartbeat every `interval_s` seconds (hall.api.terminals): its software
version, its devices' states and consumables, its outbox and the catalogue version it runs. The hall
keeps the latest one per terminal (hall.store.terminals).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hall.store import Store
from kiosk.core.devices import FAULT_STATES, DeviceState, Level

STALE_AFTER_BEATS = 3  # a terminal silent for this many of its intervals is stale
OUTBOX_LATE_S = 60 * 60  # an application waiting longer than this in an outbox needs a look
CLOCK_OFF_S = 60  # a terminal clock further off than this prints wrong times on receipts: set it right


def terminal_statuses(store: Store, catalogue_version: str, now: dt.datetime) -> list[dict[str, Any]]:
    """Every terminal the hall has a key for, by id, with its latest heartbeat and what needs attention."""
    statuses = []
    for beat in store.latest_heartbeats():
        seen = beat["received_at"]
        stale = seen is None or now - dt.datetime.fromisoformat(seen) > dt.timedelta(
            seconds=STALE_AFTER_BEATS * beat["interval_s"]
        )
        found = reasons(beat, stale, catalogue_version)
        statuses.append(
            {
                "terminal_id": beat["terminal_id"],
                "last_seen": seen,
                "stale": stale,
                "version": beat["version"],
                "devices": beat["devices"] or {},
                "outbox": beat["outbox"],
                "catalogue_version": beat["catalogue_version"],
                "clock_skew_s": beat["clock_skew_s"],
                "attention": [say(r) for r in found],
                "attention_zh": [say(r, chinese=True) for r in found],
            }
        )
    return statuses


# What needs someone's attention, as (code, params): the API says it in English, the staff page in Chinese.
REASONS = {
    "never": ("never seen", "从未上报"),
    "stale": ("stale", "失联"),
    "device": ("{name} {state}{code}", "{name}：{state}{code}"),
    "consumable": ("{name} {consumable} {level}", "{name}：{consumable}{level}"),
    "stuck": ("outbox stuck {count}", "{count} 件申请无法自动上传，待技术人员处理"),
    "late": ("outbox waiting {minutes} min", "最早一件申请已等待 {minutes} 分钟"),
    "catalogue": ("catalogue out of date", "事项目录未更新"),
    "clock": ("clock off by {skew:+d} s", "时钟偏差 {skew:+d} 秒"),
}
ZH_WORDS = {
    "printer": "打印机", "camera": "高拍仪", "card_reader": "社保卡读卡器", "id_reader": "身份证读卡器",
    "paper": "打印纸", "low": "将尽", "out": "用完", "disconnected": "未连接", "hardware_error": "故障",
    "user_error": "需处理", "unknown": "状态未知",
}  # fmt: skip


def reasons(beat: Any, stale: bool, catalogue_version: str) -> list[tuple[str, dict[str, Any]]]:
    if beat["received_at"] is None:
        return [("never", {})]
    found: list[tuple[str, dict[str, Any]]] = [("stale", {})] if stale else []
    for name, device in sorted(beat["devices"].items()):
        state = DeviceState(device["state"])
        if state in FAULT_STATES or state is DeviceState.UNKNOWN:
            code = f" ({device['code']})" if device.get("code") else ""
            found.append(("device", {"name": name, "state": state.value, "code": code}))
        for consumable, level in sorted(device.get("consumables", {}).items()):
            if level in (Level.LOW, Level.OUT):
                found.append(("consumable", {"name": name, "consumable": consumable, "level": level}))
    outbox = beat["outbox"]
    if outbox["stuck"]:
        found.append(("stuck", {"count": outbox["stuck"]}))
    if (outbox.get("oldest_age_s") or 0) > OUTBOX_LATE_S:
        found.append(("late", {"minutes": int(outbox["oldest_age_s"] // 60)}))
    if beat["catalogue_version"] != catalogue_version:
        found.append(("catalogue", {}))
    if abs(beat["clock_skew_s"] or 0) > CLOCK_OFF_S:
        found.append(("clock", {"skew": beat["clock_skew_s"]}))
    return found


def say(reason: tuple[str, dict[str, Any]], chinese: bool = False) -> str:
    code, params = reason
    if chinese:
        params = {k: ZH_WORDS.get(v, v) if isinstance(v, str) else v for k, v in params.items()}
    return REASONS[code][1 if chinese else 0].format(**params)
