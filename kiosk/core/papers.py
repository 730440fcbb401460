"""The papers the hall hands out, as Documents: 受理凭证, 一次性告知单, 办件查询结果, and the
technician's printer test page.

Every fixed word comes from the message catalogue (`paper.*` codes), every fact from the
service item, so a hall changes wording in config and an item's paper in its service file.
Papers are printed in zh-CN: pass a Messages whose language is zh-CN.

Personal data on paper is masked (个人信息保护法): the name as 张*明, the ID number as
1101**********1234. `acceptance_receipt` refuses to build a paper that still carries the full
ID number, so a caller's mistake (say, an ID number in the progress URL) cannot reach the paper.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kiosk.core.catalogue import Material, ServiceItem
from kiosk.core.documents import (
    QR,
    Align,
    Barcode,
    Block,
    Document,
    Footer,
    RasterTest,
    Row,
    Rule,
    Text,
    Title,
)
from kiosk.core.errors import KioskError
from kiosk.core.identity import mask_id_number, mask_name
from kiosk.core.messages import Messages
from kiosk.core.progress import BEIJING, local_time, state_name


def _contact_rows(item: ServiceItem, t: Messages) -> list[Block]:
    return [
        Row(t.t("paper.consult_phone"), item.guide.consult_phone),
        Row(t.t("paper.complaint_phone"), item.guide.complaint_phone),
    ]


def acceptance_receipt(
    *,
    messages: Messages,
    item: ServiceItem,
    receipt_no: str,
    applicant_name: str,
    id_number: str,
    submitted_at: datetime,
    materials: list[tuple[str, int]],
    hall_name: str,
    terminal_id: str,
    progress_url: str,
    offline: bool = False,
) -> Document:
    """受理凭证 (当场出具): the proof that the application was taken, with a QR to track it.

    `materials` are (material name, pages received). `progress_url` is the progress page of
    this application; it must not carry personal data. With `offline` the paper says 待上传:
    the application sits in the outbox and the receipt number is already final.
    """
    t = messages.t
    blocks: list[Block] = [Title(t("paper.acceptance.title")), Text(hall_name, Align.CENTER)]
    if offline:  # the citizen must see at once that the hall has not got it yet
        blocks += [
            Text(t("paper.acceptance.pending_upload"), Align.CENTER, bold=True, large=True),
            Text(t("paper.acceptance.pending_upload_note")),
        ]
    blocks += [
        Rule(),
        Text(t("paper.acceptance.receipt_no"), Align.CENTER),
        Text(receipt_no, Align.CENTER, bold=True, large=True),
        Rule(),
        Row(t("paper.item"), item.name),
        Row(t("paper.department"), item.department),
        Row(t("paper.acceptance.applicant"), mask_name(applicant_name)),
        Row(t("paper.acceptance.id_number"), mask_id_number(id_number)),
        Row(t("paper.acceptance.submitted_at"), t("paper.datetime", at=submitted_at)),
        Row(t("paper.acceptance.terminal"), terminal_id),
        Rule(),
        Text(t("paper.acceptance.materials"), bold=True),
    ]
    if materials:
        blocks += [Row(name, t("paper.pages", n=pages)) for name, pages in materials]
    else:
        blocks.append(Text(t("paper.acceptance.no_materials")))
    blocks += [
        Rule(),
        Row(t("paper.promised_limit"), item.guide.promised_limit),
        Row(t("paper.delivery"), item.guide.delivery),
        QR(progress_url, t("paper.acceptance.qr_caption")),
        Text(t("paper.acceptance.query_hint"), Align.CENTER),
        Rule(),
        *_contact_rows(item, messages),
        Text(t("paper.acceptance.keep"), Align.CENTER),
    ]
    document = Document("acceptance", tuple(blocks))
    _refuse_unmasked(document, id_number, applicant_name, progress_url)
    return document


def _refuse_unmasked(document: Document, id_number: str, name: str, progress_url: str) -> None:
    """Last check before paper: no full ID number anywhere, no full name in the QR.

    The name is only looked for in the caller-supplied URL: a one- or two-character name may
    well occur in an item or hall name, and refusing that receipt would strand the citizen.
    """
    leaked = bool(id_number) and any(
        id_number.upper() in text.upper() for text in [*document.text_lines(), *document.qr_payloads()]
    )
    leaked = leaked or (len(name) >= 2 and name in progress_url)
    if leaked:
        raise KioskError("unmasked personal data on an acceptance receipt", code="paper.error.personal_data")


def _need(material: Material, t: Messages) -> str:
    if not material.required:
        return t.t("paper.checklist.optional")
    if material.condition:
        return t.t("paper.checklist.conditional")
    return t.t("paper.checklist.required")


def _material_blocks(number: int, material: Material, t: Messages) -> list[Block]:
    blocks: list[Block] = [
        Text(t.t("paper.checklist.material", no=number, name=material.name, need=_need(material, t)), bold=True),
        Row(t.t("paper.checklist.form"), t.t(f"paper.form.{material.form.value}")),
    ]
    if material.copies:
        blocks.append(Row(t.t("paper.checklist.copies"), t.t("paper.copies", n=material.copies)))
    if material.condition:
        blocks.append(Row(t.t("paper.checklist.condition"), material.condition))
    if material.notes:
        blocks.append(Row(t.t("paper.checklist.notes"), material.notes))
    return blocks


def checklist(
    item: ServiceItem,
    *,
    messages: Messages,
    hall_name: str,
    printed_at: datetime,
    missing: list[str] | None = None,
) -> Document:
    """一次性告知单: everything the item needs, in writing, once.

    With `missing` (material ids) it lists exactly those, and nothing else: what the citizen
    still has to bring. An empty `missing` says the materials are complete. An unknown id
    raises CatalogueError: a checklist that silently drops a material breaks 一次告知.
    """
    t = messages.t
    blocks: list[Block] = [
        Title(t("paper.checklist.title")),
        Text(hall_name, Align.CENTER),
        Rule(),
        Row(t("paper.item"), item.name),
        Row(t("paper.department"), item.department),
        Rule(),
    ]
    if missing is None:
        listed = list(item.materials)
        blocks.append(Text(t("paper.checklist.all_materials"), bold=True))
    else:
        listed = [item.material(material_id) for material_id in dict.fromkeys(missing)]
        blocks.append(Text(t("paper.checklist.missing_intro" if listed else "paper.checklist.none_missing"), bold=True))
    for number, material in enumerate(listed, start=1):
        blocks += _material_blocks(number, material, messages)
    blocks += [
        Rule(),
        Row(t("paper.checklist.fee"), item.guide.fee),
        Row(t("paper.statutory_limit"), item.guide.statutory_limit),
        Row(t("paper.promised_limit"), item.guide.promised_limit),
        Row(t("paper.delivery"), item.guide.delivery),
        *_contact_rows(item, messages),
        Row(t("paper.checklist.printed_at"), t("paper.datetime", at=printed_at)),
        Rule(),
        Text(t("paper.checklist.footer")),
    ]
    return Document("checklist", tuple(blocks))


def _footer(messages: Messages, terminal_id: str, printed_at: datetime) -> Footer:
    # A naive time is already the terminal's (Beijing) clock; an aware one may be UTC from the hall.
    local = printed_at.astimezone(BEIJING) if printed_at.tzinfo else printed_at
    return Footer(messages.t("paper.footer", terminal=terminal_id, at=local))


def _timeline_blocks(answer: dict[str, Any], messages: Messages) -> list[Block]:
    t = messages.t
    blocks: list[Block] = [Text(t("paper.query.timeline"), bold=True)]
    for entry in answer.get("timeline", []):
        at, state = local_time(entry.get("at", "")), state_name(entry.get("state", ""), messages)
        blocks.append(Text(t("paper.query.event", at=at, state=state)))
        if entry.get("note"):  # the hall sends None for an event without a note
            blocks.append(Text(t("paper.query.note", note=entry["note"])))
    return blocks


def progress_result(
    *,
    messages: Messages,
    answer: dict[str, Any],
    hall_name: str,
    printed_at: datetime,
    terminal_id: str,
) -> Document:
    """办件查询结果: the hall's answer to the progress query (GET /v1/progress), on paper.

    Carries only what the answer carries: the hall sends no ID number, and an applicant name,
    should an answer ever hold one, is masked. The barcode is the receipt number, for the
    window's scanner.
    """
    t = messages.t
    receipt_no = answer["receipt_no"]
    blocks: list[Block] = [
        Title(t("paper.query.title")),
        Text(hall_name, Align.CENTER),
        Rule(),
        Row(t("paper.query.receipt_no"), receipt_no),
        Row(t("paper.item"), answer.get("item_name", "")),
    ]
    if answer.get("applicant_name"):
        blocks.append(Row(t("paper.query.applicant"), mask_name(answer["applicant_name"])))
    blocks += [
        Row(t("paper.query.state"), state_name(answer.get("state", ""), messages)),
        Rule(),
        *_timeline_blocks(answer, messages),
        Rule(),
        Text(t("paper.query.as_of")),
        Barcode(receipt_no, receipt_no),
        _footer(messages, terminal_id, printed_at),
    ]
    return Document("progress", tuple(blocks))


# The samples are the code points under test, not wording: they stay the same in every catalogue.
TEST_SAMPLES: tuple[tuple[str, str], ...] = (
    ("paper.test.ascii", "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789"),
    ("paper.test.ascii_punctuation", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    ("paper.test.chinese_punctuation", "，。、；：？！“”‘’（）【】《》—…·"),
    ("paper.test.common_han", "政务服务自助终端"),
    ("paper.test.four_byte_han", "𠀀 㐀"),  # GB18030 four-byte: U+20000, U+3400
    ("paper.test.extended_han", "䶮 龘 堃"),  # two bytes, but outside GB2312
    ("paper.test.fullwidth", "１２３ＡＢＣ"),
    ("paper.test.symbols", "℃ ㎡ № ￥ ¥ × ÷ ±"),  # "¥" U+00A5 is four bytes, "￥" two
    ("paper.test.box_drawing", "┌─┬─┐│├─┼─┤│└─┴─┘"),
)
SAMPLE_ID_NUMBER = "11010519491231002X"  # a GB 11643 example number, shown masked as on every paper
LADDER_HEIGHTS = (24, 48, 96, 192, 384)  # dots: image fragment heights printers take or choke on


def test_page(
    *,
    messages: Messages,
    terminal_id: str,
    printed_at: datetime,
    paper_width_mm: int,
    profile_name: str,
) -> Document:
    """The technician's printer test page: every character class, both ways of printing a QR
    code, a Code128 barcode and images at each fragment height, each labelled.
    """
    t = messages.t
    blocks: list[Block] = [
        Title(t("paper.test.title")),
        Row(t("paper.test.profile"), profile_name),
        Row(t("paper.test.paper_width"), t("paper.test.millimetres", mm=paper_width_mm)),
        Rule(),
    ]
    for code, sample in TEST_SAMPLES:
        blocks += [Text(t(code), bold=True), Text(sample)]
    qr_payload = t("paper.test.qr_payload", terminal=terminal_id, profile=profile_name)
    blocks += [
        Text(t("paper.test.masked_id"), bold=True),
        Text(mask_id_number(SAMPLE_ID_NUMBER)),
        Rule(),
        QR(qr_payload, t("paper.test.native_qr")),
        QR(qr_payload, t("paper.test.raster_qr"), raster=True),
        Barcode(terminal_id, t("paper.test.barcode", payload=terminal_id)),
        Rule(),
        Text(t("paper.test.ladder"), bold=True),
        *(RasterTest(height, t("paper.test.ladder_step", height=height)) for height in LADDER_HEIGHTS),
        _footer(messages, terminal_id, printed_at),
    ]
    return Document("test", tuple(blocks))
