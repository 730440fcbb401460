"""The papers the hall hands out, as Documents: 受理凭证 and 一次性告知单.

Every fixed word comes from the message catalogue (`paper.*` codes), every fact from the
service item, so a hall changes wording in config and an item's paper in its service file.
Papers are printed in zh-CN: pass a Messages whose language is zh-CN.

Personal data on paper is masked (个人信息保护法): the name as 张*明, the ID number as
1101**********1234. `acceptance_receipt` refuses to build a paper that still carries the full
ID number, so a caller's mistake (say, an ID number in the progress URL) cannot reach the paper.
"""

from __future__ import annotations

from datetime import datetime

from kiosk.core.catalogue import Material, ServiceItem
from kiosk.core.documents import QR, Align, Block, Document, Row, Rule, Text, Title
from kiosk.core.errors import KioskError
from kiosk.core.identity import mask_id_number, mask_name
from kiosk.core.messages import Messages


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
