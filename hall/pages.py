"""The citizen's progress page (办件进度查询): what the QR code on the acceptance receipt opens.

The receipt's QR code holds `<hall>/progress/<receipt_no>?k=<token>`: whoever holds the paper sees
the answer at once (the terminal made the token with its key, kiosk.core.signing.receipt_token; the
hall checks it with the same key). Without a token (a number typed in by hand), GET shows a form
asking for the last 6 characters of the ID number; the form POSTs them back to the same URL, so the
tail never appears in
a URL (browser history, a reverse proxy's access log) and the hall's own access log, which writes
method and path only, never sees it. The answer shows the item, its state and its timeline, never
anything about the applicant.

Probing: the bare page looks nothing up, and an unknown number and a wrong tail get the same page
(same status, same words), as GET /v1/progress answers both alike. Guessing: failed lookups count
per receipt number and per client address, and past a limit the page says to come back later
(Store.lookup_progress), even for the right tail.

Plain server-side HTML: every value is escaped, no script, no external asset (the CSP says so).
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
import string
import unicodedata
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from hall.store import RECEIPT_PATTERN, Locked, Proof, Store
from kiosk.core.signing import TOKEN_PATTERN

router = APIRouter()

HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}

STATE_NAMES = {
    "received": "已受理",
    "reviewing": "审核中",
    "approved": "已办结",
    "rejected": "未通过",
    "mailed": "已寄出",
}

NOT_FOUND = "没有查到该办件，请核对受理编号和身份证号码后6位"
LOCKED = "查询次数过多，请于{minutes}分钟后再试。"
BAD_TAIL = "请输入身份证号码的最后6位（数字或字母X）。"
BAD_NUMBER = "受理编号格式不正确。请核对受理凭证上的编号，或重新扫描凭证上的二维码。"

_RECEIPT = re.compile(RECEIPT_PATTERN)
_TOKEN = re.compile(TOKEN_PATTERN)
_TAIL = re.compile(r"[0-9A-Za-z]{6}")  # what GET /v1/progress accepts; an ID card's tail is digits or X
_MAX_FORM_BYTES = 1024  # the form has one short field
_BEIJING = dt.timezone(dt.timedelta(hours=8))  # China has one time zone and no daylight saving

PAGE = string.Template(
    """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="format-detection" content="telephone=no">
<title>办件进度查询</title>
<style>
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:#f2f4f7;color:#1f2329;line-height:1.6;
font-family:system-ui,-apple-system,"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC",sans-serif}
header{background:#c8161d;color:#fff;padding:16px 20px}
h1{margin:0;font-size:22px;font-weight:600;letter-spacing:1px}
main{max-width:560px;margin:0 auto;padding:16px}
.card{background:#fff;border-radius:10px;padding:16px 18px;margin:0 0 14px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.label{color:#646a73;font-size:15px}
.receipt{font-size:20px;font-weight:600;letter-spacing:.5px;overflow-wrap:anywhere;
font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}
h2{margin:0 0 10px;font-size:18px}
h2.later{margin-top:20px}
dl{margin:0}
dt{color:#646a73;font-size:15px}
dd{margin:0 0 10px;font-size:18px;overflow-wrap:anywhere}
.state{display:inline-block;padding:2px 12px;border-radius:14px;font-size:17px;font-weight:600;
background:#e8f0fe;color:#1a56c4}
.state-approved,.state-mailed{background:#e6f4ea;color:#137333}
.state-rejected{background:#fce8e6;color:#b3261e}
.state-other{background:#eceff3;color:#3c4043}
ol{list-style:none;margin:0;padding:0}
li{display:flex;flex-wrap:wrap;gap:4px 14px;padding:8px 0 8px 18px;border-left:2px solid #d0d5dd;
position:relative;font-size:16px}
li::before{content:"";position:absolute;left:-7px;top:15px;width:12px;height:12px;border-radius:50%;
background:#c8161d}
time{color:#646a73;font-variant-numeric:tabular-nums}
.event-note{flex-basis:100%;color:#646a73;font-size:14px}
.message{border-left:4px solid #c8161d;font-size:17px}
.message p{margin:0}
form label{display:block;font-size:17px;margin-bottom:8px}
.hint{display:block;color:#646a73;font-size:14px}
input{display:block;width:100%;font-size:22px;padding:10px 12px;letter-spacing:4px;border:1px solid #b8bec8;
border-radius:8px;font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;text-transform:uppercase}
input:focus{outline:3px solid #f5b9bb;border-color:#c8161d}
button{display:block;width:100%;margin-top:14px;padding:12px;font-size:19px;font-weight:600;color:#fff;
background:#c8161d;border:0;border-radius:8px;font-family:inherit}
button:active{background:#a01218}
.again{text-align:center;margin:0 0 14px;font-size:17px}
.again a{color:#1a56c4}
.note{color:#646a73;font-size:14px;margin:4px 2px}
</style>
</head>
<body>
<header><h1>办件进度查询</h1></header>
<main>
$receipt$body
<p class="note">本页只显示办理进度，不显示申请人信息。如有疑问，请咨询大厅工作人员。</p>
</main>
</body>
</html>
"""
)

# No `pattern`: the server accepts full-width characters too (NFKC), and explains a wrong format itself.
FORM = """<section class="card"><form method="post" autocomplete="off">
<label for="id_tail">身份证号码后6位<span class="hint">最后一位是X的，请输入X</span></label>
<input id="id_tail" name="id_tail" type="text" required minlength="6" maxlength="6"
autocapitalize="characters" autocorrect="off" spellcheck="false">
<button type="submit">查询</button>
</form></section>"""

# An empty href is this page's own URL: a GET, back to the empty form.
AGAIN = '<p class="again"><a href="">重新查询</a></p>'


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _page(receipt_no: str | None, body: str, status: int = 200) -> HTMLResponse:
    """`receipt_no` is plain text (escaped here), None when malformed; `body` is HTML, escaped by its builder."""
    receipt = ""
    if receipt_no is not None:
        receipt = f'<section class="card"><div class="label">受理编号</div><div class="receipt">{_e(receipt_no)}</div>'
        receipt += "</section>\n"
    return HTMLResponse(PAGE.substitute(receipt=receipt, body=body), status_code=status, headers=HEADERS)


def _message(text: str) -> str:
    return f'<section class="card message" role="alert"><p>{_e(text)}</p></section>'


def state_name(state: str) -> str:
    return STATE_NAMES.get(state, state)


def _when(at: str) -> tuple[str, str]:
    """(machine-readable, shown) for a stored ISO time, shown in Beijing time; unparsable as-is."""
    try:
        moment = dt.datetime.fromisoformat(at)
    except (TypeError, ValueError):
        return "", str(at)
    if moment.tzinfo is not None:
        moment = moment.astimezone(_BEIJING)
    return moment.isoformat(timespec="seconds"), f"{moment:%Y-%m-%d %H:%M}"


def _result(found: dict[str, Any]) -> str:
    state = str(found.get("state", ""))
    css = f"state-{state}" if state in STATE_NAMES else "state-other"
    entries = []
    for event in found.get("timeline", []):
        machine, shown = _when(event.get("at", ""))
        stamp = f'<time datetime="{_e(machine)}">{_e(shown)}</time>' if machine else f"<time>{_e(shown)}</time>"
        note = str(event.get("note") or "")  # written for the citizen (the store keeps personal data out)
        shown_note = f'<span class="event-note">{_e(note)}</span>' if note else ""
        entries.append(f"<li>{stamp}<span>{_e(state_name(str(event.get('state', ''))))}</span>{shown_note}</li>")
    timeline = "\n".join(entries) or "<li>暂无记录</li>"
    return (
        '<section class="card"><h2>办理进度</h2><dl>'
        f"<dt>事项名称</dt><dd>{_e(found.get('item_name', ''))}</dd>"
        f'<dt>当前状态</dt><dd><span class="state {css}">{_e(state_name(state))}</span></dd>'
        "</dl>"
        f'<h2 class="later">办理记录（北京时间）</h2><ol>\n{timeline}\n</ol></section>'
    )


def _normalise_receipt(raw: str) -> str | None:
    receipt_no = raw.strip().upper()
    return receipt_no if _RECEIPT.match(receipt_no) else None


async def _read_tail(request: Request) -> str | None:
    """The `id_tail` field of a url-encoded form body, or None if missing, malformed or oversized."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            return None
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=5)
    except (UnicodeDecodeError, ValueError):
        return None
    values = fields.get("id_tail", [])
    if len(values) != 1:
        return None
    # NFKC: full-width digits and letters from a Chinese input method become ASCII.
    tail = "".join(unicodedata.normalize("NFKC", values[0]).split())
    return tail if _TAIL.fullmatch(tail) else None


@router.get("/progress/{receipt_no}", response_class=HTMLResponse, include_in_schema=False)
async def progress_page(receipt_no: str, request: Request, k: str | None = None) -> HTMLResponse:
    """With the receipt QR link's token (`k`), the answer; else the form, which looks nothing up and
    so reads the same for any well-formed number."""
    normalised = _normalise_receipt(receipt_no)
    if normalised is None:
        return _page(None, _message(BAD_NUMBER), status=400)
    if k is None:
        return _page(normalised, FORM)
    if not _TOKEN.fullmatch(k):
        return _page(normalised, _message(NOT_FOUND) + FORM, status=404)
    return await _answer(normalised, Proof(token=k), request)


@router.post("/progress/{receipt_no}", response_class=HTMLResponse, include_in_schema=False)
async def progress_answer(receipt_no: str, request: Request) -> HTMLResponse:
    normalised = _normalise_receipt(receipt_no)
    if normalised is None:
        return _page(None, _message(BAD_NUMBER), status=400)
    tail = await _read_tail(request)
    if tail is None:
        return _page(normalised, _message(BAD_TAIL) + FORM, status=400)
    return await _answer(normalised, Proof(id_tail=tail), request)


async def _answer(normalised: str, proof: Proof, request: Request) -> HTMLResponse:
    store: Store = request.app.state.store
    # Behind a reverse proxy every citizen has the proxy's address: the per-receipt limit still holds.
    address = request.client.host if request.client else "unknown"
    found = await run_in_threadpool(store.lookup_progress, normalised, proof, f"address:{address}")
    if isinstance(found, Locked):
        page = _page(normalised, _message(LOCKED.format(minutes=math.ceil(found.retry_after / 60))), status=429)
        page.headers["Retry-After"] = str(found.retry_after)
        return page
    if found is None:
        return _page(normalised, _message(NOT_FOUND) + FORM, status=404)
    return _page(normalised, _result(found) + AGAIN)
