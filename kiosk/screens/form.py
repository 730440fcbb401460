"""The form: fields filled from the card, typed on the touch keyboard, validated as typed."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from kiosk.core.catalogue import FieldKind, FormField
from kiosk.core.errors import SessionError
from kiosk.screens.base import KioskScreen
from kiosk.screens.widgets import CLEAR, DELETE, ChoiceToggle


class FieldRow(BoxLayout):
    field_id = StringProperty("")
    label = StringProperty("")
    value = StringProperty("")
    error = StringProperty("")
    note = StringProperty("")
    selected = BooleanProperty(False)
    is_choice = BooleanProperty(False)


class FormScreen(KioskScreen):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rows: dict[str, FieldRow] = {}
        self._selected = ""
        self._shown: set[str] = set()  # fields whose "required" error may show (touched, or next tapped)

    def refresh(self) -> None:
        item = self.shown_item()
        if item is None:
            return
        self.ids.message.text = ""
        box = self.ids.fields
        box.clear_widgets()
        self._rows.clear()
        prefilled = set(self.journey.session.identity.field_values()) if self.journey.session.identity else set()
        for form_field in item.fields:
            row = FieldRow(
                field_id=form_field.id, label=form_field.label, is_choice=form_field.kind is FieldKind.CHOICE
            )
            if form_field.prefill in prefilled and self.journey.session.values.get(form_field.id):
                row.note = self.t("form.from_card")
            elif form_field.hint:
                row.note = form_field.hint
            row.value = self.journey.session.values.get(form_field.id, "")
            if form_field.kind is FieldKind.CHOICE:
                self._add_choices(row, form_field)
            else:
                row.ids.value_button.bind(on_release=lambda _b, fid=form_field.id: self.select(fid))
            self._rows[form_field.id] = row
            box.add_widget(row)
        self._update_errors()
        first_empty = next(
            (f.id for f in item.fields if f.kind is not FieldKind.CHOICE and not self.journey.session.values.get(f.id)),
            "",
        )
        self.select(first_empty)

    def _add_choices(self, row: FieldRow, form_field: FormField) -> None:
        for choice in form_field.choices:
            toggle = ChoiceToggle(text=choice, value=choice, group=f"choice-{form_field.id}", allow_no_selection=False)
            toggle.state = "down" if row.value == choice else "normal"
            toggle.bind(on_release=lambda t, fid=form_field.id: self._set(fid, t.value))
            row.ids.choices.add_widget(toggle)

    def select(self, field_id: str) -> None:
        self._selected = field_id
        for fid, row in self._rows.items():
            row.selected = fid == field_id

    def on_key(self, key: str) -> None:
        if not self._selected:
            return
        value = self._rows[self._selected].value
        if key == DELETE:
            value = value[:-1]
        elif key == CLEAR:
            value = ""
        else:
            value += key
        self._set(self._selected, value)

    def _set(self, field_id: str, value: str) -> None:
        self.journey.set_value(field_id, value)
        self._shown.add(field_id)
        self._rows[field_id].value = self.journey.session.values.get(field_id, "")
        self._update_errors()

    def _update_errors(self) -> None:
        problems = self.journey.problems()
        for fid, row in self._rows.items():
            problem = problems.get(fid)
            # "Required" only once the citizen touched the field or tried to go on.
            visible = problem and (fid in self._shown or problem != "validation.required")
            row.error = self.t(problem) if visible and problem else ""

    def next(self) -> None:
        try:
            self.journey.to_materials()
        except SessionError as exc:
            self._shown.update(self._rows)
            self._update_errors()
            self.ids.message.text = self.error_text(exc)
            problems = self.journey.problems()
            first = next((fid for fid in self._rows if fid in problems), "")
            if first and not self._rows[first].is_choice:
                self.select(first)

    def wipe(self) -> None:
        self.ids.fields.clear_widgets()
        self._rows.clear()
        self._shown.clear()
        self._selected = ""
