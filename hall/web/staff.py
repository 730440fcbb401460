"""The hall staff's pages (/staff): the applications, one application with its documents, the ratings.

Behind the staff login (hall.staff_auth; HTTP Basic, so the browser asks once and then sends the
credentials itself). Staff see the applicant's data here, unlike on the citizen's page. The same page
template as the citizen's page (hall.web.page): plain server-side HTML, every value escaped, no script,
no external asset (the CSP says so).

State changes: the application page's form POSTs to the page's own URL. A browser sends Basic
credentials with any request to the hall, also one that another site's page makes it send, so a POST
is taken only from this origin (its Origin header, else its Referer; the pages send Referer to this
origin only).

Receipt numbers appear in paths and query strings (they are not personal data); nothing personal does,
and the hall's access log writes method and path only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Request, Security
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from hall.deps import StaffName, StoreDep
from hall.downloads import document_file
from hall.schemas import MAX_NOTE_CHARS, MAX_PAGE, PDF_PAGE, StateChange
from hall.staff_auth import require_staff
from hall.store import TRANSITIONS, TransitionError
from hall.web.page import (
    MONOSPACE,
    STATE_NAMES,
    Site,
    e,
    message,
    read_form,
    state_badge,
    state_name,
    table,
    time_tag,
)

PAGE_SIZE = 50
_MAX_FORM_BYTES = 8 * 1024  # a state and a note of at most 200 characters, percent-encoded
_PREFIX = re.compile(r"^[A-Z0-9*-]{0,40}$")  # of a receipt number (kiosk.core.protocol.RECEIPT_PATTERN's characters)
_LEVELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}

HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",  # the CSRF check reads Referer where a browser sends no Origin
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
}
SITE = Site(
    name="大厅工作人员",
    headers=HEADERS,
    nav='<a href="/staff">办件列表</a><a href="/staff/ratings">好差评</a>\n<a href="/staff/terminals">自助终端</a>',
    style=f"""body{{line-height:1.5;font-size:15px}}
header{{background:#1f3a5f;padding:10px 20px;display:flex;flex-wrap:wrap;gap:6px 24px;align-items:center}}
header h1{{margin:0;font-size:19px;font-weight:600}}
header a{{color:#fff}}
main{{max-width:1200px}}
.card{{border-radius:8px;padding:14px 18px}}
h2{{font-size:17px}}
table{{border-collapse:collapse;width:100%}}
th,td{{text-align:left;padding:6px 8px;border-bottom:1px solid #e4e7ec;vertical-align:top;overflow-wrap:anywhere}}
th{{color:#646a73;font-weight:600;background:#f7f8fa}}
dl{{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}}
dd{{margin:0;overflow-wrap:anywhere}}
.mono{{font-family:{MONOSPACE};font-size:13px}}
.state{{padding:0 10px;border-radius:12px;white-space:nowrap}}
.pages{{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0 0;padding:0;list-style:none}}
.pages li{{width:180px;overflow-wrap:anywhere}}
.pages img{{display:block;width:180px;height:240px;object-fit:contain;background:#f7f8fa;border:1px solid #d0d5dd}}
.pager{{display:flex;gap:16px;align-items:center;margin-top:10px}}
form.filter{{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:end}}
label{{display:block;color:#646a73}}
input,select,button{{font:inherit;padding:5px 8px}}
input[name=note]{{width:100%;max-width:640px}}
button{{background:#1f3a5f;color:#fff;border:0;border-radius:6px;padding:6px 18px}}
""",
)

router = APIRouter(prefix="/staff", dependencies=[Security(require_staff)], include_in_schema=False)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return SITE.page(body, title, status)


def _application_url(receipt_no: str) -> str:
    return f"/staff/applications/{quote(receipt_no, safe='')}"


def _page_number(text: str) -> int | None:
    """The `page` query parameter (from 1); None when it is not a sensible page number."""
    return int(text) if text.isdigit() and len(text) <= 6 and int(text) >= 1 else None


def _pager(page: int, total: int, query: Mapping[str, str]) -> str:
    """Previous / next links keeping the other query parameters."""
    pages = max(1, math.ceil(total / PAGE_SIZE))
    links = [f"<span>共 {total} 条，第 {page} / {pages} 页</span>"]
    for label, target in (("上一页", page - 1), ("下一页", page + 1)):
        if 1 <= target <= pages:
            links.append(f'<a href="?{e(urlencode({**query, "page": target}))}">{label}</a>')
    return f'<nav class="pager">{"".join(links)}</nav>'


def _fields(values: Mapping[str, Any]) -> str:
    """A definition list of stored fields; values that are not text (a free applicant key) as JSON."""
    if not values:
        return "<p>无</p>"
    rows = (
        f"<dt>{e(key)}</dt><dd>{e(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))}</dd>"
        for key, value in values.items()
    )
    return f"<dl>{''.join(rows)}</dl>"


# -- the applications list --------------------------------------------------------------------


def _filter_form(state: str, receipt: str) -> str:
    options = "".join(
        f'<option value="{e(value)}"{" selected" if value == state else ""}>{e(name)}</option>'
        for value, name in (("", "全部"), *STATE_NAMES.items())
    )
    return (
        '<section class="card"><form class="filter" method="get" action="/staff">'
        f'<div><label for="state">状态</label><select id="state" name="state">{options}</select></div>'
        '<div><label for="receipt">受理编号（完整或开头部分）</label>'
        f'<input id="receipt" name="receipt" value="{e(receipt)}" maxlength="40" autocomplete="off"></div>'
        '<div><button type="submit">筛选</button></div></form></section>'
    )


@router.get("", response_class=HTMLResponse)
def applications_page(
    store: StoreDep,
    state: str = "",
    receipt: str = "",
    page: str = "1",
) -> HTMLResponse:
    """Committed applications, newest first, PAGE_SIZE a page, filtered by state and receipt number prefix."""
    prefix = receipt.strip().upper()
    number = _page_number(page)
    if (state and state not in STATE_NAMES) or not _PREFIX.match(prefix) or number is None:
        body = message("筛选条件无效：请从列表选择状态，受理编号只含字母、数字和“-”。") + _filter_form("", "")
        return _page("办件列表", body, status=400)
    items, total = store.list_applications(PAGE_SIZE, (number - 1) * PAGE_SIZE, state or None, prefix or None)
    rows = [
        f'<tr><td class="mono"><a href="{e(_application_url(item["receipt_no"]))}">{e(item["receipt_no"])}</a></td>'
        f'<td>{e(item["item_name"])}</td><td class="mono">{e(item["terminal_id"])}</td>'
        f"<td>{state_badge(item['state'])}</td><td>{time_tag(item['submitted_at'])}</td>"
        f"<td>{sum(1 for d in item['documents'] if d['page'] > 0)}</td></tr>"
        for item in items
    ]
    listing = table(("受理编号", "事项", "终端", "状态", "提交时间（北京时间）", "页数"), rows)
    query = {key: value for key, value in (("state", state), ("receipt", prefix)) if value}
    body = f'{_filter_form(state, prefix)}<section class="card">{listing}{_pager(number, total, query)}</section>'
    return _page("办件列表", body)


# -- one application --------------------------------------------------------------------------


def _documents(record: dict[str, Any]) -> str:
    base = _application_url(record["receipt_no"])
    names = {m.get("id"): m.get("name", "") for m in record["materials"]}
    by_material: dict[str, list[dict[str, Any]]] = {}
    for doc in record["documents"]:
        by_material.setdefault(doc["material_id"], []).append(doc)
    sections = []
    for material in record["materials"]:
        if material.get("id") not in by_material:  # declared without pages (e.g. an e-licence)
            sections.append(f"<h2>{e(material.get('name', ''))}</h2><p>未提交页面（以其他方式提供）</p>")
    for material_id, docs in by_material.items():
        entries = []
        for doc in docs:
            url = f"{base}/documents/{quote(material_id, safe='')}/{doc['page']}"
            label = "整份材料 PDF" if doc["page"] == 0 else f"第 {doc['page']} 页"
            if doc["page"] != 0 and doc["content_type"].startswith("image/"):
                shown = f'<a href="{e(url)}"><img src="{e(url)}" alt="{label}" loading="lazy"></a>'
            else:
                shown = f'<a href="{e(url)}">{label}</a>'
            entries.append(
                f"<li>{shown}<div>{label} · {doc['size']:,} 字节</div>"
                f'<div class="mono">SHA-256 {e(doc["sha256"])}</div></li>'
            )
        title = f"{names.get(material_id) or ''}（{material_id}）"
        sections.append(f'<h2>{e(title)}</h2><ul class="pages">{"".join(entries)}</ul>')
    return f'<section class="card"><h2>材料</h2>{"".join(sections) or "<p>无</p>"}</section>'


def _timeline(timeline: list[dict[str, Any]]) -> str:
    rows = [
        f"<tr><td>{time_tag(event['at'])}</td><td>{state_badge(event['state'])}</td><td>{e(event['note'])}</td>"
        f"<td>{e(event.get('staff') or '自助终端')}</td></tr>"
        for event in timeline
    ]
    listing = table(("时间（北京时间）", "状态", "备注（申请人可见）", "操作人"), rows)
    return f'<section class="card"><h2>办理记录</h2>{listing}</section>'


def _change_form(record: dict[str, Any]) -> str:
    targets = TRANSITIONS.get(record["state"], ())
    if not targets:
        return '<section class="card"><h2>变更状态</h2><p>当前状态无可办理的变更。</p></section>'
    options = "".join(f'<option value="{e(t)}">{e(state_name(t))}</option>' for t in targets)
    return (
        '<section class="card"><h2>变更状态</h2><form method="post" autocomplete="off">'
        f'<label for="to">变更为</label><select id="to" name="state">{options}</select>'
        f'<label for="note">备注（申请人在进度查询中可见，请勿填写个人信息，最多 {MAX_NOTE_CHARS} 字）</label>'
        f'<input id="note" name="note" maxlength="{MAX_NOTE_CHARS}"> <button type="submit">提交</button>'
        "</form></section>"
    )


def _application_page(record: dict[str, Any], notice: str = "", status: int = 200) -> HTMLResponse:
    summary = (
        '<section class="card"><h2>办件信息</h2><dl>'
        f'<dt>受理编号</dt><dd class="mono">{e(record["receipt_no"])}</dd>'
        f"<dt>事项</dt><dd>{e(record['item_name'])}（{e(record['item_id'])}）</dd>"
        f"<dt>状态</dt><dd>{state_badge(record['state'])}</dd>"
        f'<dt>终端</dt><dd class="mono">{e(record["terminal_id"])}</dd>'
        f"<dt>提交时间</dt><dd>{time_tag(record['submitted_at'])}</dd>"
        f"<dt>接收时间</dt><dd>{time_tag(record['received_at'])}</dd>"
        f"<dt>预约码</dt><dd>{e(record['appointment'] or '无')}</dd>"
        "</dl></section>"
    )
    body = "".join(
        (
            message(notice) if notice else "",
            summary,
            f'<section class="card"><h2>申请人信息</h2>{_fields(record["applicant"])}</section>',
            f'<section class="card"><h2>表单内容</h2>{_fields(record["form"])}</section>',
            _documents(record),
            _timeline(record["timeline"]),
            _change_form(record),
        )
    )
    return _page(f"办件 {record['receipt_no']}", body, status)


def _not_found() -> HTMLResponse:
    return _page("未找到", message("没有该办件（或申请尚未提交完整）。"), status=404)


@router.get("/applications/{receipt_no}", response_class=HTMLResponse)
def application_page(receipt_no: str, store: StoreDep) -> HTMLResponse:
    record = store.application(receipt_no)
    return _not_found() if record is None else _application_page(record)


def _same_origin(request: Request) -> bool:
    """Whether the request comes from a page of this hall: Origin, else Referer, names this host."""
    source = request.headers.get("origin") or request.headers.get("referer") or ""
    parts = urlsplit(source)
    host = request.headers.get("host", "")
    # The host only, not the scheme: behind a TLS-terminating proxy the browser's https is the hall's http.
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host.lower()


async def _read_form(request: Request) -> dict[str, str] | None:
    """A url-encoded form whose fields each come once; None if malformed or oversized."""
    fields = await read_form(request, _MAX_FORM_BYTES, keep_blank_values=True)
    if fields is None:
        return None
    if any(len(values) != 1 for values in fields.values()):
        return None
    return {name: values[0] for name, values in fields.items()}


def _parse_change(form: dict[str, str] | None) -> StateChange | None:
    if form is None:
        return None
    try:
        return StateChange.model_validate(form)
    except ValidationError:
        return None


@router.post("/applications/{receipt_no}", response_class=HTMLResponse)
async def changestate_badge(receipt_no: str, request: Request, staff_name: StaffName, store: StoreDep) -> Response:
    """The page's form: move the state, then back to the page (POST/redirect/GET, so a reload sends nothing)."""
    if not _same_origin(request):
        return _page("已拒绝", message("请求不是从本系统页面发出的，已拒绝。请在办件页面上操作。"), status=403)
    change = _parse_change(await _read_form(request))
    if change is None:
        record = await run_in_threadpool(store.application, receipt_no)
        notice = f"请选择要变更的状态；备注最多 {MAX_NOTE_CHARS} 字，且不能换行。"
        return _not_found() if record is None else _application_page(record, notice, status=400)
    try:
        changed = await run_in_threadpool(store.change_state, receipt_no, change.state, change.note, staff_name)
    except TransitionError:
        record = await run_in_threadpool(store.application, receipt_no)
        if record is None:  # nothing in the hall deletes applications
            return _not_found()
        notice = f"当前状态下不能变更为“{state_name(change.state)}”（可能已被他人处理），页面已显示最新状态。"
        return _application_page(record, notice, status=409)
    if changed is None:
        return _not_found()
    return RedirectResponse(_application_url(receipt_no), status_code=303, headers=HEADERS)


@router.get("/applications/{receipt_no}/documents/{material_id}/{page}")
def document(
    receipt_no: str, material_id: str, page: Annotated[int, PathParam(ge=PDF_PAGE, le=MAX_PAGE)], store: StoreDep
) -> Response:
    found = document_file(store, receipt_no, material_id, page)
    return _page("未找到", message("没有该材料页面。"), status=404) if found is None else found


# -- ratings ----------------------------------------------------------------------------------


@router.get("/ratings", response_class=HTMLResponse)
def ratings_page(store: StoreDep, page: str = "1") -> HTMLResponse:
    number = _page_number(page)
    if number is None:
        return _page("好差评", message("页码无效。"), status=400)
    items, total = store.ratings(None, PAGE_SIZE, (number - 1) * PAGE_SIZE)
    rows = []
    for r in items:
        receipt = (
            f'<a href="{e(_application_url(r["receipt_no"]))}">{e(r["receipt_no"])}</a>' if r["receipt_no"] else "无"
        )
        rows.append(
            f"<tr><td>{time_tag(r['received_at'])}</td><td>{e(_LEVELS.get(r['level'], r['level']))}</td>"
            f"<td>{e('、'.join(r['reasons']))}</td><td>{e(r['comment'])}</td>"
            f'<td class="mono">{e(r["item_id"])}</td><td class="mono">{receipt}</td></tr>'
        )
    listing = table(("时间（北京时间）", "评价", "原因", "意见", "事项", "受理编号"), rows)
    return _page("好差评", f'<section class="card"><h2>好差评</h2>{listing}{_pager(number, total, {})}</section>')
