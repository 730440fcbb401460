"""Terminals' heartbeats and the staff's list of terminals (a dashboard's data).

Each terminal POSTs a heartbeat every `interval_s` seconds (signed, for itself only): its software
version, its devices' states and consumables, its outbox and the catalogue version it runs. The hall
keeps the latest one per terminal and answers with its own catalogue version, so the terminal knows
when to fetch a new one (GET /v1/catalogue). GET /v1/terminals lists every terminal the hall has a
key for, with what needs someone's attention.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Request, Security
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator
from starlette.concurrency import run_in_threadpool

from hall.app import ApiError, Moment, Text, _answers, _iso, _parse_json, _signed, signed_body
from hall.catalogue import CatalogueFiles
from hall.staff_auth import require_staff
from hall.staff_pages import _e, _page, _table, _time
from hall.store import Store, _insert, heartbeats, terminals, utc_now
from kiosk.core.devices import FAULT_STATES, DeviceState, FixedBy, Level

STALE_AFTER_BEATS = 3  # a terminal silent for this many of its intervals is stale
OUTBOX_LATE_S = 60 * 60  # an application waiting longer than this in an outbox needs a look
CLOCK_OFF_S = 60  # a terminal clock further off than this prints wrong times on receipts: set it right
MAX_SKEW_REPORT_S = 10 * 365 * 86_400  # past any real clock error; keeps the number inside the column

router = APIRouter()
# The staff's terminals page, /staff/terminals, behind the staff login like hall.staff_pages.
staff_page = APIRouter(prefix="/staff", dependencies=[Security(require_staff)], include_in_schema=False)
PAPER = {"ok": "充足", "low": "将尽", "out": "用完", "unknown": "未知"}

Name = Annotated[Text, Field(min_length=1, max_length=64)]


# -- the heartbeat's body ---------------------------------------------------------------------


class DeviceReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: DeviceState
    code: Annotated[Text, Field(max_length=64)] | None = None  # the device's message code, e.g. printer.paper_out
    fixed_by: FixedBy | None = None
    consumables: dict[Name, Level] = Field(default_factory=dict, max_length=16)


class OutboxReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    depth: StrictInt = Field(ge=0)  # applications waiting to be delivered
    stuck: StrictInt = Field(ge=0)  # parked for a technician
    oldest_age_s: float | None = Field(default=None, ge=0)  # None: the outbox is empty


class Heartbeat(BaseModel):
    """The body of POST /v1/terminals/{terminal_id}/heartbeat."""

    model_config = ConfigDict(extra="forbid")

    version: Text = Field(min_length=1, max_length=40)  # the terminal's software version
    sent_at: Moment = Field(json_schema_extra={"format": "date-time"})
    interval_s: StrictInt = Field(ge=10, le=3600)  # when the next one is due
    devices: dict[Name, DeviceReport] = Field(max_length=16)
    outbox: OutboxReport
    catalogue_version: Annotated[Text, Field(max_length=64)] | None = None
    # seconds the terminal's clock is behind the hall's (negative: ahead), as it last learnt them
    clock_skew_s: StrictInt | None = Field(default=None, ge=-MAX_SKEW_REPORT_S, le=MAX_SKEW_REPORT_S)

    @field_validator("sent_at")
    @classmethod
    def _iso_datetime(cls, value: str) -> str:
        return _iso(value)


# -- answers ----------------------------------------------------------------------------------


class HeartbeatReceived(BaseModel):
    received_at: str
    catalogue_version: str  # the hall's: a terminal running another fetches GET /v1/catalogue


class TerminalStatus(BaseModel):
    terminal_id: str
    last_seen: str | None  # when its latest heartbeat arrived (hall clock); None: never
    stale: bool  # no heartbeat for STALE_AFTER_BEATS intervals, or never
    version: str | None
    devices: dict[str, Any]
    outbox: dict[str, Any] | None
    catalogue_version: str | None
    clock_skew_s: int | None
    attention: list[str]  # short reasons for a dashboard, e.g. "printer paper out", "outbox stuck 2"
    attention_zh: list[str]  # the same in Chinese, for the staff page


class TerminalList(BaseModel):
    catalogue_version: str  # the hall's, to compare each terminal's with
    items: list[TerminalStatus]


# -- storage ----------------------------------------------------------------------------------


def record_heartbeat(store: Store, terminal_id: str, beat: Heartbeat) -> str:
    """Keep `beat` as the terminal's latest; returns when it arrived (ISO-8601, hall clock)."""
    received_at = utc_now()
    values = {"received_at": received_at, **beat.model_dump(mode="json")}
    with store.engine.begin() as conn:
        statement = _insert(conn, heartbeats).values(terminal_id=terminal_id, **values)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[heartbeats.c.terminal_id], set_={k: statement.excluded[k] for k in values}
            )
        )
    return received_at


def terminal_statuses(store: Store, catalogue_version: str, now: dt.datetime) -> list[dict[str, Any]]:
    """Every terminal the hall has a key for, by id, with its latest heartbeat and what needs attention."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(terminals.c.terminal_id, *(c for c in heartbeats.c if c.name != "terminal_id"))
            .select_from(terminals.outerjoin(heartbeats, heartbeats.c.terminal_id == terminals.c.terminal_id))
            .order_by(terminals.c.terminal_id)
        ).all()
    statuses = []
    for row in rows:
        beat = row._mapping
        seen = beat["received_at"]
        stale = seen is None or now - dt.datetime.fromisoformat(seen) > dt.timedelta(
            seconds=STALE_AFTER_BEATS * beat["interval_s"]
        )
        found = reasons(beat, stale, catalogue_version)
        statuses.append(
            {
                "terminal_id": row.terminal_id,
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


# -- routes -----------------------------------------------------------------------------------

_HEARTBEAT_BODY = {"application/json": {"schema": {"$ref": "#/components/schemas/Heartbeat"}}}


@router.post(
    "/v1/terminals/{terminal_id}/heartbeat",
    response_model=None,
    responses=_answers(200, model=HeartbeatReceived, errors=(400, 401, 403, 413)),
    openapi_extra=_signed(_HEARTBEAT_BODY),
)
async def heartbeat(terminal_id: str, request: Request) -> dict[str, Any]:
    signer, body = await signed_body(request)
    if signer != terminal_id:
        raise ApiError(403, "hall.forbidden", "a terminal reports only for itself")
    beat = _parse_json(body, Heartbeat, "body")
    store: Store = request.app.state.store
    catalogue: CatalogueFiles = request.app.state.catalogue
    received_at = await run_in_threadpool(record_heartbeat, store, terminal_id, beat)
    published = await run_in_threadpool(catalogue.current)
    return {"received_at": received_at, "catalogue_version": published.version}


@router.get(
    "/v1/terminals",
    response_model=None,
    responses=_answers(200, model=TerminalList, errors=(401, 429)),
    dependencies=[Security(require_staff)],
)
def list_terminals(request: Request) -> dict[str, Any]:
    catalogue: CatalogueFiles = request.app.state.catalogue
    version = catalogue.current().version
    items = terminal_statuses(request.app.state.store, version, dt.datetime.now(dt.UTC))
    return {"catalogue_version": version, "items": items}


# -- the staff's page --------------------------------------------------------------------------------


@staff_page.get("/terminals", response_class=HTMLResponse)
def terminals_page(request: Request) -> HTMLResponse:
    """Every terminal: last heartbeat, paper, what waits in its outbox, and what needs someone."""
    version = request.app.state.catalogue.current().version
    rows = []
    for t in terminal_statuses(request.app.state.store, version, dt.datetime.now(dt.UTC)):
        paper = (t["devices"].get("printer") or {}).get("consumables", {}).get("paper")
        outbox = t["outbox"] or {}
        rows.append(
            f'<tr><td class="mono">{_e(t["terminal_id"])}</td>'
            f"<td>{_time(t['last_seen']) if t['last_seen'] else '从未'}</td>"
            f"<td>{'失联' if t['stale'] else '在线'}</td><td>{_e(PAPER.get(paper, '—'))}</td>"
            f"<td>{_e(outbox.get('depth', '—'))}</td><td>{_e(outbox.get('stuck', '—'))}</td>"
            f'<td class="mono">{_e(t["version"] or "—")}</td><td>{_e("；".join(t["attention_zh"]) or "正常")}</td></tr>'
        )
    table = _table(("终端", "最近上报（北京时间）", "连接", "打印纸", "待上传", "待处理", "版本", "需要处理"), rows)
    return _page("自助终端", f'<section class="card"><h2>自助终端</h2>{table}</section>')
