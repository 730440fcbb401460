"""The staff's terminals page, /staff/terminals (behind the staff login, like hall.web.staff): every
terminal's last heartbeat, paper, what waits in its outbox, and what needs someone (hall.terminal_status).
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Security
from fastapi.responses import HTMLResponse

from hall.deps import CatalogueDep, StoreDep
from hall.staff_auth import require_staff
from hall.terminal_status import terminal_statuses
from hall.web.page import e, table, time_tag
from hall.web.staff import SITE

router = APIRouter(prefix="/staff", dependencies=[Security(require_staff)], include_in_schema=False)
PAPER = {"ok": "充足", "low": "将尽", "out": "用完", "unknown": "未知"}


@router.get("/terminals", response_class=HTMLResponse)
def terminals_page(store: StoreDep, catalogue: CatalogueDep) -> HTMLResponse:
    """Every terminal: last heartbeat, paper, what waits in its outbox, and what needs someone."""
    version = catalogue.current().version
    rows = []
    for t in terminal_statuses(store, version, dt.datetime.now(dt.UTC)):
        paper = (t["devices"].get("printer") or {}).get("consumables", {}).get("paper")
        outbox = t["outbox"] or {}
        rows.append(
            f'<tr><td class="mono">{e(t["terminal_id"])}</td>'
            f"<td>{time_tag(t['last_seen']) if t['last_seen'] else '从未'}</td>"
            f"<td>{'失联' if t['stale'] else '在线'}</td><td>{e(PAPER.get(paper, '—'))}</td>"
            f"<td>{e(outbox.get('depth', '—'))}</td><td>{e(outbox.get('stuck', '—'))}</td>"
            f'<td class="mono">{e(t["version"] or "—")}</td><td>{e("；".join(t["attention_zh"]) or "正常")}</td></tr>'
        )
    listing = table(("终端", "最近上报（北京时间）", "连接", "打印纸", "待上传", "待处理", "版本", "需要处理"), rows)
    return SITE.page(f'<section class="card"><h2>自助终端</h2>{listing}</section>', "自助终端")
