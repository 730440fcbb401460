"""The hall staff's pages (/staff): the applications, one application with its documents, the ratings.

Behind the staff login (hall.staff_auth; HTTP Basic, so the browser asks once and then sends the
credentials itself). Staff see the applicant's data here, unlike on the citizen's page. Same style as
hall.pages: plain server-side HTML, every value escaped, no script, no external asset (the CSP says so).

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
import string
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from fastapi import APIRouter, Request, Security
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool

from hall.pages import STATE_NAMES, _e, _when, state_name
from hall.staff_auth import require_staff
from hall.store import TRANSITIONS, Store, TransitionError

MAX_NOTE_CHARS = 200
PAGE_SIZE = 50
_MAX_FORM_BYTES = 8 * 1024  # a state and a note of at most 200 characters, percent-encoded
MAX_PAGE = 9999  # four digits in a part's name, as hall.app's MAX_PAGE (page 0 is a material's PDF)
_PREFIX = re.compile(r"^[A-Z0-9*-]{0,40}$")  # of a receipt number (hall.store.RECEIPT_PATTERN's characters)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Served inline: what the terminal sends (JPEG pages, PDFs) and other images a browser shows as such.
# Anything else is a download, so no stored file can run as a page of the hall's origin (an SVG's script).
_INLINE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf"}
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
DOCUMENT_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

router = APIRouter(prefix="/staff", dependencies=[Security(require_staff)], include_in_schema=False)


class StateChange(BaseModel):
    """A staff state change: the body of POST /v1/applications/{receipt_no}/events, and the page's form."""

    model_config = ConfigDict(extra="forbid")

    state: Literal["reviewing", "approved", "rejected", "mailed"]  # the targets in hall.store.TRANSITIONS
    note: str = Field(default="", max_length=MAX_NOTE_CHARS)  # shown to the citizen: no personal data

    @field_validator("note")
    @classmethod
    def _one_line(cls, value: str) -> str:
        # One line on the citizen's page; control characters (NUL too, which PostgreSQL cannot store) refused.
        if _CONTROL.search(value):
            raise ValueError("control characters are not allowed")
        return value.strip()


def document_file(store: Store, receipt_no: str, material_id: str, page: int) -> FileResponse | None:
    """One stored page or PDF as the answer to a download; None when the application has no such part."""
    found = store.document(receipt_no, material_id, page)
    if found is None:
        return None
    path, content_type = found
    if not path.is_file():
        raise RuntimeError("document file missing")  # the app answers 500 hall.internal
    if content_type in _INLINE_TYPES:
        return FileResponse(path, media_type=content_type, headers=DOCUMENT_HEADERS)
    return FileResponse(
        path, media_type="application/octet-stream", headers=DOCUMENT_HEADERS, content_disposition_type="attachment"
    )


# -- HTML -------------------------------------------------------------------------------------

PAGE = string.Template(
    """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="format-detection" content="telephone=no">
<title>$title - 大厅工作人员</title>
<style>
*{box-sizing:border-box}
body{margin:0;background:#f2f4f7;color:#1f2329;line-height:1.5;font-size:15px;
font-family:system-ui,-apple-system,"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC",sans-serif}
header{background:#1f3a5f;color:#fff;padding:10px 20px;display:flex;flex-wrap:wrap;gap:6px 24px;align-items:center}
header h1{margin:0;font-size:19px;font-weight:600}
header a{color:#fff}
main{max-width:1200px;margin:0 auto;padding:16px}
.card{background:#fff;border-radius:8px;padding:14px 18px;margin:0 0 14px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h2{margin:0 0 10px;font-size:17px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e4e7ec;vertical-align:top;overflow-wrap:anywhere}
th{color:#646a73;font-weight:600;background:#f7f8fa}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}
dt{color:#646a73}
dd{margin:0;overflow-wrap:anywhere}
.mono{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:13px}
.state{display:inline-block;padding:0 10px;border-radius:12px;background:#e8f0fe;color:#1a56c4;white-space:nowrap}
.state-approved,.state-mailed{background:#e6f4ea;color:#137333}
.state-rejected{background:#fce8e6;color:#b3261e}
.state-other{background:#eceff3;color:#3c4043}
.message{border-left:4px solid #c8161d}
.pages{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0 0;padding:0;list-style:none}
.pages li{width:180px;overflow-wrap:anywhere}
.pages img{display:block;width:180px;height:240px;object-fit:contain;background:#f7f8fa;border:1px solid #d0d5dd}
.pager{display:flex;gap:16px;align-items:center;margin-top:10px}
form.filter{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:end}
label{display:block;color:#646a73}
input,select,button{font:inherit;padding:5px 8px}
input[name=note]{width:100%;max-width:640px}
button{background:#1f3a5f;color:#fff;border:0;border-radius:6px;padding:6px 18px}
</style>
</head>
<body>
<header><h1>大厅工作人员</h1><a href="/staff">办件列表</a><a href="/staff/ratings">好差评</a>
<a href="/staff/terminals">自助终端</a></header>
<main>
$body
</main>
</body>
</html>
"""
)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    """`title` is plain text (escaped here); `body` is HTML, escaped by its builder."""
    return HTMLResponse(PAGE.substitute(title=_e(title), body=body), status_code=status, headers=HEADERS)


def _message(text: str) -> str:
    return f'<section class="card message" role="alert">{_e(text)}</section>'


def _time(at: str) -> str:
    machine, shown = _when(at)
    return f'<time datetime="{_e(machine)}">{_e(shown)}</time>' if machine else f"<time>{_e(shown)}</time>"


def _state(state: str) -> str:
    css = f"state-{state}" if state in STATE_NAMES else "state-other"
    return f'<span class="state {_e(css)}">{_e(state_name(state))}</span>'


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
            links.append(f'<a href="?{_e(urlencode({**query, "page": target}))}">{label}</a>')
    return f'<nav class="pager">{"".join(links)}</nav>'


def _table(headings: tuple[str, ...], rows: list[str]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headings)
    body = "\n".join(rows) or f'<tr><td colspan="{len(headings)}">没有记录</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def _fields(values: Mapping[str, Any]) -> str:
    """A definition list of stored fields; values that are not text (a free applicant key) as JSON."""
    if not values:
        return "<p>无</p>"
    rows = (
        f"<dt>{_e(key)}</dt><dd>{_e(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))}</dd>"
        for key, value in values.items()
    )
    return f"<dl>{''.join(rows)}</dl>"


# -- the applications list --------------------------------------------------------------------


def _filter_form(state: str, receipt: str) -> str:
    options = "".join(
        f'<option value="{_e(value)}"{" selected" if value == state else ""}>{_e(name)}</option>'
        for value, name in (("", "全部"), *STATE_NAMES.items())
    )
    return (
        '<section class="card"><form class="filter" method="get" action="/staff">'
        f'<div><label for="state">状态</label><select id="state" name="state">{options}</select></div>'
        '<div><label for="receipt">受理编号（完整或开头部分）</label>'
        f'<input id="receipt" name="receipt" value="{_e(receipt)}" maxlength="40" autocomplete="off"></div>'
        '<div><button type="submit">筛选</button></div></form></section>'
    )


@router.get("", response_class=HTMLResponse)
def applications_page(
    request: Request,
    state: str = "",
    receipt: str = "",
    page: str = "1",
) -> HTMLResponse:
    """Committed applications, newest first, PAGE_SIZE a page, filtered by state and receipt number prefix."""
    store: Store = request.app.state.store
    prefix = receipt.strip().upper()
    number = _page_number(page)
    if (state and state not in STATE_NAMES) or not _PREFIX.match(prefix) or number is None:
        body = _message("筛选条件无效：请从列表选择状态，受理编号只含字母、数字和“-”。") + _filter_form("", "")
        return _page("办件列表", body, status=400)
    items, total = store.list_applications(PAGE_SIZE, (number - 1) * PAGE_SIZE, state or None, prefix or None)
    rows = [
        f'<tr><td class="mono"><a href="{_e(_application_url(item["receipt_no"]))}">{_e(item["receipt_no"])}</a></td>'
        f'<td>{_e(item["item_name"])}</td><td class="mono">{_e(item["terminal_id"])}</td>'
        f"<td>{_state(item['state'])}</td><td>{_time(item['submitted_at'])}</td>"
        f"<td>{sum(1 for d in item['documents'] if d['page'] > 0)}</td></tr>"
        for item in items
    ]
    table = _table(("受理编号", "事项", "终端", "状态", "提交时间（北京时间）", "页数"), rows)
    query = {key: value for key, value in (("state", state), ("receipt", prefix)) if value}
    body = f'{_filter_form(state, prefix)}<section class="card">{table}{_pager(number, total, query)}</section>'
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
            sections.append(f"<h2>{_e(material.get('name', ''))}</h2><p>未提交页面（以其他方式提供）</p>")
    for material_id, docs in by_material.items():
        entries = []
        for doc in docs:
            url = f"{base}/documents/{quote(material_id, safe='')}/{doc['page']}"
            label = "整份材料 PDF" if doc["page"] == 0 else f"第 {doc['page']} 页"
            if doc["page"] != 0 and doc["content_type"].startswith("image/"):
                shown = f'<a href="{_e(url)}"><img src="{_e(url)}" alt="{label}" loading="lazy"></a>'
            else:
                shown = f'<a href="{_e(url)}">{label}</a>'
            entries.append(
                f"<li>{shown}<div>{label} · {doc['size']:,} 字节</div>"
                f'<div class="mono">SHA-256 {_e(doc["sha256"])}</div></li>'
            )
        title = f"{names.get(material_id) or ''}（{material_id}）"
        sections.append(f'<h2>{_e(title)}</h2><ul class="pages">{"".join(entries)}</ul>')
    return f'<section class="card"><h2>材料</h2>{"".join(sections) or "<p>无</p>"}</section>'


def _timeline(timeline: list[dict[str, Any]]) -> str:
    rows = [
        f"<tr><td>{_time(e['at'])}</td><td>{_state(e['state'])}</td><td>{_e(e['note'])}</td>"
        f"<td>{_e(e.get('staff') or '自助终端')}</td></tr>"
        for e in timeline
    ]
    table = _table(("时间（北京时间）", "状态", "备注（申请人可见）", "操作人"), rows)
    return f'<section class="card"><h2>办理记录</h2>{table}</section>'


def _change_form(record: dict[str, Any]) -> str:
    targets = TRANSITIONS.get(record["state"], ())
    if not targets:
        return '<section class="card"><h2>变更状态</h2><p>当前状态无可办理的变更。</p></section>'
    options = "".join(f'<option value="{_e(t)}">{_e(state_name(t))}</option>' for t in targets)
    return (
        '<section class="card"><h2>变更状态</h2><form method="post" autocomplete="off">'
        f'<label for="to">变更为</label><select id="to" name="state">{options}</select>'
        f'<label for="note">备注（申请人在进度查询中可见，请勿填写个人信息，最多 {MAX_NOTE_CHARS} 字）</label>'
        f'<input id="note" name="note" maxlength="{MAX_NOTE_CHARS}"> <button type="submit">提交</button>'
        "</form></section>"
    )


def _application_page(record: dict[str, Any], message: str = "", status: int = 200) -> HTMLResponse:
    summary = (
        '<section class="card"><h2>办件信息</h2><dl>'
        f'<dt>受理编号</dt><dd class="mono">{_e(record["receipt_no"])}</dd>'
        f"<dt>事项</dt><dd>{_e(record['item_name'])}（{_e(record['item_id'])}）</dd>"
        f"<dt>状态</dt><dd>{_state(record['state'])}</dd>"
        f'<dt>终端</dt><dd class="mono">{_e(record["terminal_id"])}</dd>'
        f"<dt>提交时间</dt><dd>{_time(record['submitted_at'])}</dd>"
        f"<dt>接收时间</dt><dd>{_time(record['received_at'])}</dd>"
        f"<dt>预约码</dt><dd>{_e(record['appointment'] or '无')}</dd>"
        "</dl></section>"
    )
    body = "".join(
        (
            _message(message) if message else "",
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
    return _page("未找到", _message("没有该办件（或申请尚未提交完整）。"), status=404)


@router.get("/applications/{receipt_no}", response_class=HTMLResponse)
def application_page(receipt_no: str, request: Request) -> HTMLResponse:
    store: Store = request.app.state.store
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
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            return None
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=5)
    except (UnicodeDecodeError, ValueError):
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
async def change_state(
    receipt_no: str, request: Request, staff_name: Annotated[str, Security(require_staff)]
) -> Response:
    """The page's form: move the state, then back to the page (POST/redirect/GET, so a reload sends nothing)."""
    store: Store = request.app.state.store
    if not _same_origin(request):
        return _page("已拒绝", _message("请求不是从本系统页面发出的，已拒绝。请在办件页面上操作。"), status=403)
    change = _parse_change(await _read_form(request))
    if change is None:
        record = await run_in_threadpool(store.application, receipt_no)
        message = f"请选择要变更的状态；备注最多 {MAX_NOTE_CHARS} 字，且不能换行。"
        return _not_found() if record is None else _application_page(record, message, status=400)
    try:
        changed = await run_in_threadpool(store.change_state, receipt_no, change.state, change.note, staff_name)
    except TransitionError:
        record = await run_in_threadpool(store.application, receipt_no)
        if record is None:  # nothing in the hall deletes applications
            return _not_found()
        message = f"当前状态下不能变更为“{state_name(change.state)}”（可能已被他人处理），页面已显示最新状态。"
        return _application_page(record, message, status=409)
    if changed is None:
        return _not_found()
    return RedirectResponse(_application_url(receipt_no), status_code=303, headers=HEADERS)


@router.get("/applications/{receipt_no}/documents/{material_id}/{page}")
def document(
    receipt_no: str, material_id: str, page: Annotated[int, PathParam(ge=0, le=MAX_PAGE)], request: Request
) -> Response:
    store: Store = request.app.state.store
    found = document_file(store, receipt_no, material_id, page)
    return _page("未找到", _message("没有该材料页面。"), status=404) if found is None else found


# -- ratings ----------------------------------------------------------------------------------


@router.get("/ratings", response_class=HTMLResponse)
def ratings_page(request: Request, page: str = "1") -> HTMLResponse:
    store: Store = request.app.state.store
    number = _page_number(page)
    if number is None:
        return _page("好差评", _message("页码无效。"), status=400)
    items, total = store.ratings(None, PAGE_SIZE, (number - 1) * PAGE_SIZE)
    rows = []
    for r in items:
        receipt = (
            f'<a href="{_e(_application_url(r["receipt_no"]))}">{_e(r["receipt_no"])}</a>' if r["receipt_no"] else "无"
        )
        rows.append(
            f"<tr><td>{_time(r['received_at'])}</td><td>{_e(_LEVELS.get(r['level'], r['level']))}</td>"
            f"<td>{_e('、'.join(r['reasons']))}</td><td>{_e(r['comment'])}</td>"
            f'<td class="mono">{_e(r["item_id"])}</td><td class="mono">{receipt}</td></tr>'
        )
    table = _table(("时间（北京时间）", "评价", "原因", "意见", "事项", "受理编号"), rows)
    return _page("好差评", f'<section class="card"><h2>好差评</h2>{table}{_pager(number, total, {})}</section>')
