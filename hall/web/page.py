"""The one page template of the hall's HTML pages, and what their bodies are built with.

Plain server-side HTML: every value is escaped (`e`), no script, no external asset (each site's CSP
says so). A `Site` is what the pages for one audience share (the citizen's progress page, the staff's
pages): the heading, the CSS after the common part, extra head lines, the HTTP headers.
"""

from __future__ import annotations

import datetime as dt
import html
import string
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse

STATE_NAMES = {
    "received": "已受理",
    "reviewing": "审核中",
    "approved": "已办结",
    "rejected": "未通过",
    "mailed": "已寄出",
}
BEIJING = dt.timezone(dt.timedelta(hours=8))  # China has one time zone and no daylight saving
MONOSPACE = 'ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace'

TEMPLATE = string.Template(
    """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
$head<meta name="format-detection" content="telephone=no">
<title>$title</title>
<style>
*{box-sizing:border-box}
body{margin:0;background:#f2f4f7;color:#1f2329;
font-family:system-ui,-apple-system,"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC",sans-serif}
header{color:#fff}
main{margin:0 auto;padding:16px}
.card{background:#fff;margin:0 0 14px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h2{margin:0 0 10px}
dt{color:#646a73}
.state{display:inline-block;background:#e8f0fe;color:#1a56c4}
.state-approved,.state-mailed{background:#e6f4ea;color:#137333}
.state-rejected{background:#fce8e6;color:#b3261e}
.state-other{background:#eceff3;color:#3c4043}
.message{border-left:4px solid #c8161d}
.message p{margin:0}
$style</style>
</head>
<body>
<header><h1>$name</h1>$nav</header>
<main>
$body
$footer</main>
</body>
</html>
"""
)


@dataclass(frozen=True)
class Site:
    """What every page for one audience shares. All of it is HTML or CSS as written here, not escaped."""

    name: str  # the heading, and the title (after the page's own, if it has one)
    style: str  # CSS after the common part, one rule a line
    headers: Mapping[str, str]  # the HTTP headers of every page (the CSP, caching)
    nav: str = ""  # after the heading: links
    head: str = ""  # more lines in <head>
    footer: str = ""  # the end of <main>

    def page(self, body: str, title: str | None = None, status: int = 200) -> HTMLResponse:
        """`body` is HTML, escaped by its builder; `title` is plain text (escaped here)."""
        shown = self.name if title is None else f"{e(title)} - {self.name}"
        text = TEMPLATE.substitute(
            head=self.head,
            title=shown,
            style=self.style,
            name=self.name,
            nav=self.nav,
            body=body,
            footer=self.footer,
        )
        return HTMLResponse(text, status_code=status, headers=dict(self.headers))


def e(value: object) -> str:
    """`value` as text in HTML, quotes too (it may stand in an attribute)."""
    return html.escape(str(value), quote=True)


def message(text: str) -> str:
    return f'<section class="card message" role="alert"><p>{e(text)}</p></section>'


def state_name(state: str) -> str:
    return STATE_NAMES.get(state, state)


def state_badge(state: str) -> str:
    css = f"state-{state}" if state in STATE_NAMES else "state-other"
    return f'<span class="state {e(css)}">{e(state_name(state))}</span>'


def when(at: str) -> tuple[str, str]:
    """(machine-readable, shown) for a stored ISO time, shown in Beijing time; unparsable as-is."""
    try:
        moment = dt.datetime.fromisoformat(at)
    except (TypeError, ValueError):
        return "", str(at)
    if moment.tzinfo is not None:
        moment = moment.astimezone(BEIJING)
    return moment.isoformat(timespec="seconds"), f"{moment:%Y-%m-%d %H:%M}"


def time_tag(at: str) -> str:
    machine, shown = when(at)
    return f'<time datetime="{e(machine)}">{e(shown)}</time>' if machine else f"<time>{e(shown)}</time>"


def table(headings: tuple[str, ...], rows: list[str]) -> str:
    """A table of `rows` (each a <tr>, escaped by its builder) under plain-text `headings`."""
    head = "".join(f"<th>{e(h)}</th>" for h in headings)
    body = "\n".join(rows) or f'<tr><td colspan="{len(headings)}">没有记录</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


async def read_form(request: Request, limit: int, keep_blank_values: bool = False) -> dict[str, list[str]] | None:
    """The fields of a url-encoded form body (at most 5); None if it is malformed or over `limit` bytes."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=keep_blank_values, max_num_fields=5)
    except (UnicodeDecodeError, ValueError):
        return None
