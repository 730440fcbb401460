"""Shared test data for the paper tests: a service item and the project's message catalogues."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from kiosk.core import papers
from kiosk.core.catalogue import ServiceItem
from kiosk.core.documents import Document
from kiosk.core.messages import Messages

NAME = "欧阳建国"
ID_NUMBER = "11010519491231002X"
RECEIPT_NO = "DEMO0001202405060012K"
PROGRESS_URL = f"https://hall.example.cn/progress/{RECEIPT_NO}"
AT = dt.datetime(2024, 5, 6, 14, 32, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def make_messages(tmp: Path, language: str = "zh-CN") -> Messages:
    """The project's own catalogues (`tmp` kept for the fixtures' signature)."""
    return Messages(language)


def make_item() -> ServiceItem:
    return ServiceItem.model_validate(
        {
            "id": "birth-cert",
            "name": "出生医学证明首次签发",
            "short_name": "出生证明",
            "department": "示范县卫生健康局",
            "category": "生育",
            "guide": {
                "legal_basis": ["《中华人民共和国母婴保健法》"],
                "eligibility": "新生儿父母",
                "fee": "不收费",
                "statutory_limit": "20个工作日",
                "promised_limit": "5个工作日",
                "promised_days": 5,
                "steps": ["申请", "受理", "办结"],
                "result": "出生医学证明",
                "delivery": "免费寄递（EMS）",
                "consult_phone": "0571-12345678",
            },
            "materials": [
                {
                    "id": "id-card",
                    "name": "父母双方居民身份证",
                    "form": "original_and_copy",
                    "copies": 1,
                    "notes": "正反面复印在同一张A4纸上",
                },
                {"id": "proxy", "name": "授权委托书", "form": "original", "condition": "委托代办时提供"},
                {"id": "photo", "name": "新生儿照片", "form": "electronic", "required": False},
            ],
            "fields": [{"id": "name", "label": "姓名", "kind": "text"}],
        }
    )


def make_receipt(messages: Messages, *, offline: bool = False, progress_url: str = PROGRESS_URL) -> Document:
    return papers.acceptance_receipt(
        messages=messages,
        item=make_item(),
        receipt_no=RECEIPT_NO,
        applicant_name=NAME,
        id_number=ID_NUMBER,
        submitted_at=AT,
        materials=[("父母双方居民身份证", 2), ("授权委托书", 1)],
        hall_name="示范县政务服务中心 24小时自助服务区",
        terminal_id="DEMO0001",
        progress_url=progress_url,
        offline=offline,
    )
