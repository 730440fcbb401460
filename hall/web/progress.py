"""The citizen's progress page (办件进度查询): what the QR code on the acceptance receipt opens.

The receipt's QR code holds `<hall>/progress/<receipt_no>?k=<token>`: whoever holds the paper sees
the answer at once (the terminal made the token with its key, kiosk.core.signing.receipt_token; the
hall checks it with the same key). Without a token (a number typed in by hand), GET shows a form
asking for the last 6 characters of the ID number; the form POSTs them back to the same URL, so the
tail never appears in a URL (browser history, a reverse proxy's access log) and the hall's own access
log, which writes method and path only, never sees it. The answer shows the item, its state and its timeline, never
anything about the applicant.

Probing: the bare page looks nothing up, and an unknown number and a wrong tail get the same page
(same status, same words), as GET /v1/progress answers both alike. Guessing: failed lookups count
per receipt number and per client address, and past a limit the page says to come back later
(Store.lookup_progress), even for the right tail.

Plain server-side HTML on the hall's page template (hall.web.page): every value is escaped, no
script, no external asset (the CSP says so).
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from hall.deps import StoreDep
from hall.store import Locked, Proof, Store
from hall.web.page import MONOSPACE, Site, e, message, read_form, state_badge, state_name, time_tag
from kiosk.core.protocol import RECEIPT_PATTERN
from kiosk.core.signing import TOKEN_PATTERN

router = APIRouter()

NOT_FOUND = "没有查到该办件，请核对受理编号和身份证号码后6位"
LOCKED = "查询次数过多，请于{minutes}分钟后再试。"
BAD_TAIL = "请输入身份证号码的最后6位（数字或字母X）。"
BAD_NUMBER = "受理编号格式不正确。请核对受理凭证上的编号，或重新扫描凭证上的二维码。"

_RECEIPT = re.compile(RECEIPT_PATTERN)
_TOKEN = re.compile(TOKEN_PATTERN)
_TAIL = re.compile(r"[0-9A-Za-z]{6}")  # what GET /v1/progress accepts; an ID card's tail is digits or X
_MAX_FORM_BYTES = 1024  # the form has one short field

SITE = Site(
    name="办件进度查询",
    head='<meta name="referrer" content="no-referrer">\n',
    headers={
        "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    },
    footer='<p class="note">本页只显示办理进度，不显示申请人信息。如有疑问，请咨询大厅工作人员。</p>\n',
    style=f"""html{{-webkit-text-size-adjust:100%;text-size-adjust:100%}}
body{{line-height:1.6}}
header{{background:#c8161d;padding:16px 20px}}
h1{{margin:0;font-size:22px;font-weight:600;letter-spacing:1px}}
main{{max-width:560px}}
.card{{border-radius:10px;padding:16px 18px}}
.label{{color:#646a73;font-size:15px}}
.receipt{{font-size:20px;font-weight:600;letter-spacing:.5px;overflow-wrap:anywhere;font-family:{MONOSPACE}}}
h2{{font-size:18px}}
h2.later{{margin-top:20px}}
dl{{margin:0}}
dt{{font-size:15px}}
dd{{margin:0 0 10px;font-size:18px;overflow-wrap:anywhere}}
.state{{padding:2px 12px;border-radius:14px;font-size:17px;font-weight:600}}
ol{{list-style:none;margin:0;padding:0}}
li{{display:flex;flex-wrap:wrap;gap:4px 14px;padding:8px 0 8px 18px;border-left:2px solid #d0d5dd;
position:relative;font-size:16px}}
li::before{{content:"";position:absolute;left:-7px;top:15px;width:12px;height:12px;border-radius:50%;
background:#c8161d}}
time{{color:#646a73;font-variant-numeric:tabular-nums}}
.event-note{{flex-basis:100%;color:#646a73;font-size:14px}}
.message{{font-size:17px}}
form label{{display:block;font-size:17px;margin-bottom:8px}}
.hint{{display:block;color:#646a73;font-size:14px}}
input{{display:block;width:100%;font-size:22px;padding:10px 12px;letter-spacing:4px;border:1px solid #b8bec8;
border-radius:8px;font-family:{MONOSPACE};text-transform:uppercase}}
input:focus{{outline:3px solid #f5b9bb;border-color:#c8161d}}
button{{display:block;width:100%;margin-top:14px;padding:12px;font-size:19px;font-weight:600;color:#fff;
background:#c8161d;border:0;border-radius:8px;font-family:inherit}}
button:active{{background:#a01218}}
.again{{text-align:center;margin:0 0 14px;font-size:17px}}
.again a{{color:#1a56c4}}
.note{{color:#646a73;font-size:14px;margin:4px 2px}}
""",
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


def _page(receipt_no: str | None, body: str, status: int = 200) -> HTMLResponse:
    """`receipt_no` is plain text (escaped here), None when malformed; `body` is HTML, escaped by its builder."""
    receipt = ""
    if receipt_no is not None:
        receipt = f'<section class="card"><div class="label">受理编号</div><div class="receipt">{e(receipt_no)}</div>'
        receipt += "</section>\n"
    return SITE.page(receipt + body, status=status)


def _result(found: dict[str, Any]) -> str:
    entries = []
    for event in found.get("timeline", []):
        note = str(event.get("note") or "")  # written for the citizen (the store keeps personal data out)
        shown_note = f'<span class="event-note">{e(note)}</span>' if note else ""
        stamp, state = time_tag(event.get("at", "")), e(state_name(str(event.get("state", ""))))
        entries.append(f"<li>{stamp}<span>{state}</span>{shown_note}</li>")
    timeline = "\n".join(entries) or "<li>暂无记录</li>"
    return (
        '<section class="card"><h2>办理进度</h2><dl>'
        f"<dt>事项名称</dt><dd>{e(found.get('item_name', ''))}</dd>"
        f"<dt>当前状态</dt><dd>{state_badge(str(found.get('state', '')))}</dd>"
        "</dl>"
        f'<h2 class="later">办理记录（北京时间）</h2><ol>\n{timeline}\n</ol></section>'
    )


def _normalise_receipt(raw: str) -> str | None:
    receipt_no = raw.strip().upper()
    return receipt_no if _RECEIPT.match(receipt_no) else None


async def _read_tail(request: Request) -> str | None:
    """The `id_tail` field of a url-encoded form body, or None if missing, malformed or oversized."""
    fields = await read_form(request, _MAX_FORM_BYTES)
    if fields is None:
        return None
    values = fields.get("id_tail", [])
    if len(values) != 1:
        return None
    # NFKC: full-width digits and letters from a Chinese input method become ASCII.
    tail = "".join(unicodedata.normalize("NFKC", values[0]).split())
    return tail if _TAIL.fullmatch(tail) else None


@router.get("/progress/{receipt_no}", response_class=HTMLResponse, include_in_schema=False)
async def progress_page(receipt_no: str, request: Request, store: StoreDep, k: str | None = None) -> HTMLResponse:
    """With the receipt QR link's token (`k`), the answer; else the form, which looks nothing up and
    so reads the same for any well-formed number."""
    normalised = _normalise_receipt(receipt_no)
    if normalised is None:
        return _page(None, message(BAD_NUMBER), status=400)
    if k is None:
        return _page(normalised, FORM)
    if not _TOKEN.fullmatch(k):
        return _page(normalised, message(NOT_FOUND) + FORM, status=404)
    return await _answer(store, normalised, Proof(token=k), request)


@router.post("/progress/{receipt_no}", response_class=HTMLResponse, include_in_schema=False)
async def progress_answer(receipt_no: str, request: Request, store: StoreDep) -> HTMLResponse:
    normalised = _normalise_receipt(receipt_no)
    if normalised is None:
        return _page(None, message(BAD_NUMBER), status=400)
    tail = await _read_tail(request)
    if tail is None:
        return _page(normalised, message(BAD_TAIL) + FORM, status=400)
    return await _answer(store, normalised, Proof(id_tail=tail), request)


async def _answer(store: Store, normalised: str, proof: Proof, request: Request) -> HTMLResponse:
    # Behind a reverse proxy every citizen has the proxy's address: the per-receipt limit still holds.
    address = request.client.host if request.client else "unknown"
    found = await run_in_threadpool(store.lookup_progress, normalised, proof, f"address:{address}")
    if isinstance(found, Locked):
        page = _page(normalised, message(LOCKED.format(minutes=math.ceil(found.retry_after / 60))), status=429)
        page.headers["Retry-After"] = str(found.retry_after)
        return page
    if found is None:
        return _page(normalised, message(NOT_FOUND) + FORM, status=404)
    return _page(normalised, _result(found) + AGAIN)
