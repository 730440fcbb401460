"""The service guide (办事指南) as sections of text, for the screen and for the checklist."""

from __future__ import annotations

from kiosk.core.catalogue import Material, ServiceItem
from kiosk.core.messages import Messages

SUBLINE = "\t"  # marks a line that belongs to the line above (indented on screen and paper)


def material_lines(material: Material, messages: Messages) -> list[str]:
    """One material as the citizen reads it: name, form, copies, then its notes."""
    copies = messages.t("guide.copies", n=material.copies) if material.copies else ""
    head = messages.t(
        "guide.material_line",
        name=material.name,
        form=messages.t(f"material_form.{material.form.value}"),
        copies=copies,
    )
    if not material.required:
        head += messages.t("guide.optional")
    lines = [head]
    if material.condition:
        lines.append(messages.t("guide.condition", text=material.condition))
    if material.notes:
        lines.append(messages.t("guide.notes", text=material.notes))
    if material.common_mistakes:
        lines.append(messages.t("guide.mistakes", text="；".join(material.common_mistakes)))
    return lines


def guide_sections(item: ServiceItem, messages: Messages) -> list[tuple[str, list[str]]]:
    """(heading, lines) for every part of the guide a hall must show."""
    guide = item.guide
    materials = [
        f"{index}. {line}" if n == 0 else f"{SUBLINE}{line}"
        for index, material in enumerate(item.materials, 1)
        for n, line in enumerate(material_lines(material, messages))
    ]
    sections = [
        ("guide.department", [item.department]),
        ("guide.eligibility", [guide.eligibility]),
        ("guide.materials", materials),
        ("guide.fee", [guide.fee]),
        ("guide.statutory_limit", [guide.statutory_limit]),
        ("guide.promised_limit", [guide.promised_limit]),
        ("guide.steps", [f"{n}. {step}" for n, step in enumerate(guide.steps, 1)]),
        ("guide.result", [guide.result]),
        ("guide.delivery", [guide.delivery]),
        ("guide.legal_basis", guide.legal_basis),
        ("guide.consult_phone", [guide.consult_phone]),
        ("guide.complaint_phone", [guide.complaint_phone]),
    ]
    return [(messages.t(code), lines) for code, lines in sections]
