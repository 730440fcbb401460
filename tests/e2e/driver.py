"""Runs the real kiosk app in a real window and drives it with touch events through a scenario.

Usage: python tests/e2e/driver.py SCENARIO CONFIG OUTDIR
Writes OUTDIR/result.json (what the test asserts on) and a screenshot per screen. Each scenario
runs in its own process because a Kivy app cannot be started twice in one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from kiosk.core.config import load_config  # noqa: E402
from kiosk.core.logctx import configure_logging  # noqa: E402
from kiosk.kivy_setup import configure_kivy  # noqa: E402


class Driver:
    def __init__(self, app: Any, out: Path) -> None:
        self.app = app
        self.out = out
        self.shots: list[str] = []
        self.slot: Any = None  # the vpcd card slot, when the card goes through real pcscd
        self.log: list[str] = []

    @property
    def journey(self) -> Any:
        return self.app.kiosk.journey

    def screen(self, name: str | None = None) -> Any:
        manager = self.app.manager
        return manager.get_screen(name) if name else manager.current_screen

    async def settle(self, seconds: float = 0.15) -> None:
        await asyncio.sleep(seconds)

    async def tap(self, widget: Any) -> None:
        from kivy.tests.common import UnitTestTouch
        from kivy.uix.scrollview import ScrollView

        assert widget.get_root_window() is not None, f"{widget} is not on screen"
        assert not widget.disabled, f"{widget} is disabled"
        parent = widget.parent
        while parent is not None and parent is not parent.parent and not isinstance(parent, ScrollView):
            parent = parent.parent  # the window is its own parent
        if isinstance(parent, ScrollView):  # scroll it into view first, as a person would
            parent.scroll_to(widget, padding=20, animate=False)
            await self.settle(0.1)
        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        await asyncio.sleep(0.05)
        touch.touch_up()
        await self.settle()

    async def tap_id(self, widget_id: str, screen: str | None = None) -> None:
        await self.tap(self.screen(screen).ids[widget_id])

    async def wait_for(self, check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what} (on screen {self.app.manager.current})")

    async def on(self, name: str, timeout: float = 15.0) -> Any:
        await self.wait_for(lambda: self.app.manager.current == name, f"screen {name}", timeout)
        await self.settle(0.3)
        return self.screen()

    async def shot(self, name: str) -> None:
        from kivy.core.window import Window

        await self.settle(0.2)  # let the frame draw
        made = Window.screenshot(name=str(self.out / "shot.png"))
        target = self.out / f"{len(self.shots) + 1:02d}-{name}.png"
        shutil.move(made, target)
        self.shots.append(target.name)

    async def press(self, *labels: str, screen: str = "form") -> None:
        """Tap keys of the touch keyboard by their labels ("A", "1", "delete", "clear")."""
        keyboard = self.screen(screen).ids.keyboard
        keys = {key.key_label: key for row in keyboard.children for key in row.children}
        for label in labels:
            await self.tap(keys[label])

    async def type_text(self, text: str, screen: str = "form") -> None:
        await self.press(*text, screen=screen)

    async def place_card(self) -> None:
        """The citizen places their card: through vpcd and real pcscd when the test gives a
        port (E2E_VPCD_PORT), else with the demo control."""
        port = os.environ.get("E2E_VPCD_PORT")
        if port is None:
            await self.tap_id("demo_card_button", "identify")
            return
        from tests.support.ssse_records import SocialSecurityIdentity
        from tests.support.vpcd_card import CardSlot, SocialSecurityCard

        self.slot = CardSlot(int(port))
        holder = SocialSecurityIdentity(name="王秀英", id_number="11010519491231002X", sex="2")
        await asyncio.get_running_loop().run_in_executor(None, self.slot.insert, SocialSecurityCard(holder))

    async def lift_card(self) -> None:
        overlay = self.app.take_card_overlay
        if self.slot is None:
            await self.tap(overlay.ids.demo_remove_button)
        else:
            await asyncio.get_running_loop().run_in_executor(None, self.slot.remove)

    async def take_card(self) -> dict[str, bool]:
        """At the end of a session the kiosk asks for the card still on the reader; lift it."""
        overlay = self.app.take_card_overlay
        await self.wait_for(lambda: overlay._window is not None, "take-your-card reminder", timeout=5)
        await self.shot("take-card")
        await self.lift_card()
        await self.wait_for(lambda: overlay._window is None, "reminder gone once the card is lifted", timeout=5)
        return {"shown": True, "cards_left": self.app.cards_present()}

    def secrets(self) -> list[str]:
        """The personal data of the current session's card: what must be gone after it ends."""
        identity = self.journey.session.identity
        return [identity.name, identity.id_number, identity.address]

    def leftovers(self, secrets: list[str]) -> list[str]:
        return [t for t in self.widget_texts() if any(s and s in t for s in secrets)]

    async def to_form(self, item_id: str) -> Any:
        """Home → guide → start → the demo card → the form."""
        await self.tap(self.screen("home").tile(item_id))
        await self.on("guide")
        await self.tap_id("start_button")
        await self.on("identify")
        await self.place_card()
        return await self.on("form")

    async def complete_form(self, form: Any) -> None:
        """Fill every field still wrong with a valid value, through the touch keyboard."""
        values = {"mobile": "13812345678", "date": "2024-02-29", "postcode": "100020", "digits": "1"}
        for form_field in self.journey.item.fields:
            if form_field.id not in self.journey.problems():
                continue
            row = form._rows[form_field.id]
            if row.is_choice:
                await self.tap(row.ids.choices.children[-1])  # children are reversed: the first choice
            else:
                await self.tap(row.ids.value_button)
                await self.press("clear")
                await self.type_text(values.get(form_field.kind.value, "A"))

    @property
    def dock(self) -> Any:
        """The demo dock: the simulated devices' controls (the camera's page cycle is off in the tests)."""
        return self.app.kiosk.dock

    async def capture_required(self, materials: Any, shoot_outline: bool = False) -> None:
        """Lay each required page on the plate and let the kiosk photograph it by itself."""
        for material in self.journey.item.materials:
            if not material.required:
                continue
            toggle = next(t for t in materials.ids.material_list.children if t.material_id == material.id)
            await self.tap(toggle)
            for _ in range(material.pages):
                before = self.journey.page_count(material.id)
                self.dock.place_page()
                if shoot_outline:  # the outline and guidance, before the automatic capture
                    await self.wait_for(lambda: len(materials.ids.preview.outline) == 8, "page outline", 20)
                    await self.shot("materials-page-outline")
                    shoot_outline = False
                await self.wait_for(
                    lambda m=material.id, b=before: self.journey.page_count(m) == b + 1, "automatic capture", 20
                )
                self.dock.remove_page()
                await self.wait_for(
                    lambda: materials.ids.guidance.text == self.app.t("doc.place_page"), "plate empty again", 20
                )

    def widget_texts(self) -> list[str]:
        """Every text any widget of any screen holds: where leftover personal data would show."""
        texts: list[str] = []
        roots = [*self.app.manager.screens, self.app.idle_overlay]
        for root in roots:
            for widget in root.walk(restrict=True):
                for attr in ("text", "title", "value", "label", "note", "error"):
                    value = getattr(widget, attr, None)
                    if isinstance(value, str) and value:
                        texts.append(value)
        return texts


async def journey(d: Driver) -> dict[str, Any]:
    """Home → guide → card → form → materials → review → submit → receipt → rating → home."""
    home = await d.on("home")
    await d.shot("home")
    item_id = "residence-permit"
    await d.tap(home.tile(item_id))
    await d.on("guide")
    await d.shot("guide")
    await d.tap_id("print_button")
    await d.wait_for(lambda: d.screen().ids.status.text == d.app.t("guide.printed"), "checklist printed")
    await d.tap_id("start_button")
    await d.on("identify")
    await d.shot("identify")
    await d.place_card()
    form = await d.on("form")
    await d.shot("form-from-card")
    secrets = d.secrets()
    # Try to go on with the form incomplete: errors show next to the fields.
    await d.tap_id("next_button")
    assert d.app.manager.current == "form"
    errors = {fid: row.error for fid, row in form._rows.items() if row.error}
    await d.shot("form-errors")
    # Mobile: a wrong number first, then the right one.
    await d.tap(form._rows["mobile"].ids.value_button)
    await d.type_text("1381234")
    partial_error = form._rows["mobile"].error
    await d.type_text("5678")
    for fid, row in form._rows.items():
        if row.is_choice and not d.journey.session.values.get(fid):
            await d.tap(row.ids.choices.children[-1])  # children are in reverse order: the first choice
    await d.tap(form._rows["arrival_date"].ids.value_button)
    await d.type_text("2024-02-30")
    date_error = form._rows["arrival_date"].error
    await d.press("clear")
    await d.type_text("2024-02-29")
    if "postcode" in form._rows:
        await d.tap(form._rows["postcode"].ids.value_button)
        await d.type_text("100020")
    await d.shot("form-filled")
    await d.tap_id("next_button")
    materials = await d.on("materials")
    await d.wait_for(lambda: materials.ids.preview.texture is not None, "camera preview")
    await d.shot("materials")
    await d.tap_id("print_missing_button")
    await d.wait_for(lambda: materials.ids.message.text == d.app.t("guide.printed"), "missing-materials list printed")
    await d.capture_required(materials, shoot_outline=True)
    # Retake the last page of the first material: the page count stays, the bytes change.
    first = d.journey.item.materials[0].id
    await d.tap(next(t for t in materials.ids.material_list.children if t.material_id == first))
    old = bytes(d.journey.session.pages[first][-1].jpeg)
    count = d.journey.page_count(first)
    d.dock.place_page()
    await d.wait_for(lambda: materials.ids.guidance.text in (d.app.t("doc.ready"), d.app.t("doc.hold_still")), "page")
    await d.tap_id("retake_button")
    await d.wait_for(lambda: bytes(d.journey.session.pages[first][-1].jpeg) != old, "page retaken")
    retake_kept_count = d.journey.page_count(first) == count
    await d.shot("materials-captured")
    d.dock.remove_page()
    pages = {m: len(p) for m, p in d.journey.session.pages.items()}
    await d.tap_id("next_button")
    review = await d.on("review")
    review_texts = [w.text for w in review.ids.summary.children]
    await d.tap_id("submit_button")  # without consent: refused with a message
    consent_message = review.ids.message.text
    await d.tap_id("consent_box")
    await d.shot("review")
    await d.tap_id("submit_button")
    receipt = await d.on("receipt", timeout=30)
    await d.wait_for(lambda: receipt.ids.print_status.text == d.app.t("receipt.printed"), "receipt printed")
    await d.shot("receipt")
    receipt_no = d.journey.session.receipt_no
    await d.tap_id("rating_button")
    rating = await d.on("rating")
    await d.tap(next(t for t in rating.ids.levels.children if t.value == "5"))
    await d.tap(next(t for t in rating.ids.reasons.children if t.value == "fast"))
    await d.shot("rating")
    await d.tap_id("submit_button")
    home = await d.on("home", timeout=10)
    take_card = await d.take_card()
    await d.shot("home-after")
    # The citizen checks progress: the receipt's QR held up to the camera, then the last 6 ID characters.
    await d.tap(home.tile("_scan"))
    await d.on("scan")
    await d.shot("scan")
    await d.tap_id("demo_receipt_button")
    query = await d.on("query", timeout=20)
    scanned_number = query.ids.receipt_no.value
    # The receipt's QR carries a token: the answer comes without typing anything.
    await d.wait_for(lambda: "已受理" in query.ids.result.text, "progress answer from the QR alone")
    await d.shot("query-answer-from-qr")
    progress_from_qr = query.ids.result.text
    await d.tap_id("back_button")
    await d.on("home")
    # Typed by hand instead: the receipt number, then the last 6 characters of the ID number.
    await d.tap(home.tile("_query"))
    query = await d.on("query")
    await d.type_text(receipt_no, screen="query")
    await d.type_text(secrets[1][-6:], screen="query")
    await d.tap_id("search_button")
    await d.wait_for(lambda: "已受理" in query.ids.result.text, "progress answer")
    await d.shot("query-answer")
    progress = query.ids.result.text
    await d.tap_id("print_button")  # the result on paper: 办件查询结果
    await d.wait_for(lambda: query.ids.print_status.text == d.app.t("query.printed"), "query result printed")
    await d.tap_id("back_button")
    await d.on("home")
    # The rating went through the outbox: the uploader has passed it on by now.
    await d.wait_for(lambda: d.app.kiosk.outbox.stats()["ratings"] == 0, "rating delivered", 20)
    return {
        "take_card": take_card,
        "progress": progress,
        "progress_from_qr": progress_from_qr,
        "item_id": item_id,
        "receipt_no": receipt_no,
        "scanned_number": scanned_number,
        "retake_kept_count": retake_kept_count,
        "pages": pages,
        "errors_on_early_next": errors,
        "partial_mobile_error": partial_error,
        "date_error": date_error,
        "consent_message": consent_message,
        "review_texts": review_texts,
        "secrets": secrets,
        "leftover_texts": d.leftovers(secrets),
        "holds_personal_data": d.journey.session.holds_personal_data(),
        "session_step": d.journey.step.value,
        "history_count": len(d.journey.session.history),
    }


async def idle(d: Driver) -> dict[str, Any]:
    """Walk away mid-form: the warning counts down, one tap continues; then walk away for good."""
    home = await d.on("home")
    await d.tap(home.tile("senior-card"))
    await d.on("guide")
    # The card goes down while the citizen reads the guide: the identify screen reads it at once.
    await asyncio.get_running_loop().run_in_executor(None, d.dock.place_card)
    await d.tap_id("start_button")
    form = await d.on("form")
    secrets = d.secrets()
    await d.tap(form._rows["mobile"].ids.value_button)
    await d.type_text("139")
    overlay = d.app.idle_overlay
    await d.wait_for(lambda: overlay._window is not None, "idle warning", timeout=15)
    await d.shot("idle-warning")
    countdown = overlay.ids.countdown.text
    await d.tap(overlay.ids.continue_button)
    await d.wait_for(lambda: overlay._window is None, "warning hidden")
    still_on = d.app.manager.current
    kept_value = d.journey.session.values.get("mobile")
    started = time.monotonic()
    await d.wait_for(lambda: overlay._window is not None, "second idle warning", timeout=15)
    await d.on("home", timeout=20)
    timed_out_after = time.monotonic() - started
    take_card = await d.take_card()
    await d.shot("idle-home")
    return {
        "take_card": take_card,
        "countdown_text": countdown,
        "after_continue_screen": still_on,
        "kept_value": kept_value,
        "timed_out_after": timed_out_after,
        "secrets": secrets,
        "leftover_texts": d.leftovers(secrets),
        "holds_personal_data": d.journey.session.holds_personal_data(),
        "warning_open_at_home": overlay._window is not None,
    }


async def faults(d: Driver) -> dict[str, Any]:
    """A card pulled mid-read, the hall answering 500 then slowly, and a printer out of paper."""
    home = await d.on("home")
    await d.tap(home.tile("pension-enrol"))
    await d.on("guide")
    await d.tap_id("start_button")
    identify = await d.on("identify")
    d.dock.fail_next_read("card.removed")  # the simulated reader's scripted fault
    await d.tap_id("demo_card_button")
    await d.wait_for(lambda: identify.ids.status.text == d.app.t("card.removed"), "card-removed message")
    await d.shot("identify-card-removed")
    card_removed = identify.ids.status.text
    await d.tap_id("demo_card_button")
    form = await d.on("form")
    await d.complete_form(form)
    await d.tap_id("next_button")
    materials = await d.on("materials")
    # The camera is unplugged: the citizen is told, and it comes back by itself once replugged.
    d.dock.unplug_camera()
    lost = (d.app.t("camera.disconnected"), d.app.t("camera.not_found"))
    await d.wait_for(lambda: materials.ids.guidance.text in lost, "camera fault shown", 20)
    await d.shot("materials-camera-unplugged")
    camera_unplugged = materials.ids.guidance.text
    d.dock.replug_camera()
    await d.wait_for(lambda: materials.ids.guidance.text == d.app.t("doc.place_page"), "camera back", 20)
    await d.capture_required(materials)
    await d.tap_id("next_button")
    await d.on("review")
    await d.tap_id("consent_box")
    await d.tap_id("submit_button")
    submitting = await d.on("submitting")  # the hall holds the first try past the wait, then says 500
    await d.shot("submitting")
    progress_value = submitting.ids.progress.value
    receipt = await d.on("receipt", timeout=40)
    pending = receipt.ids.pending_upload.text  # kept on the terminal, 待上传: the citizen is not held up
    indicator = d.screen("home").ids.header.ids.offline_indicator  # what the next citizen sees
    offline_shown = indicator.text if d.app.hall_offline else ""
    await d.wait_for(lambda: receipt.ids.print_status.text not in ("", d.app.t("receipt.printing")), "print outcome")
    await d.shot("receipt-offline-paper-out")
    print_status = receipt.ids.print_status.text
    printed_while_out = [p.name for p in d.dock.printouts("*-receipt.*")]
    # Staff put in a new roll while the citizen is still there: the receipt prints by itself, once.
    d.dock.load_paper()
    await d.wait_for(lambda: receipt.ids.print_status.text == d.app.t("receipt.printed"), "printed after refill", 15)
    # Meanwhile the uploader keeps trying, and the hall gets it.
    await d.wait_for(lambda: d.app.kiosk.outbox.depth() == 0, "outbox drained", 60)
    await d.wait_for(lambda: not d.app.hall_offline and indicator.text == "", "offline indicator gone", 10)
    return {
        "offline_shown": offline_shown,
        "camera_unplugged": camera_unplugged,
        "card_removed": card_removed,
        "progress_value": progress_value,
        "pending_upload": pending,
        "receipt_no": d.journey.session.receipt_no,
        "print_status": print_status,
        "printed_while_out": printed_while_out,
        "qr_shown": receipt.ids.qr.texture is not None,
    }


async def accessibility(d: Driver) -> dict[str, Any]:
    """Large text and English, then help and the progress query, all by touch."""
    home = await d.on("home")
    tile_label = home.tile("pension-enrol").children[-1]
    size_before = tile_label.font_size
    await d.tap_id("large_text_button")
    await d.settle(0.3)
    await d.shot("home-large-text")
    size_large = tile_label.font_size
    await d.tap_id("language_button")
    await d.settle(0.3)
    await d.shot("home-english")
    welcome_en = next(w.text for w in home.walk() if getattr(w, "text", "").startswith("Welcome"))
    await d.tap(home.tile("senior-card"))
    guide = await d.on("guide")
    await d.shot("guide-english-large")
    headings = [w.text for w in guide.ids.body.children if w.text.startswith("[b]")]
    await d.tap_id("back_button")
    await d.on("home")
    await d.tap_id("language_button")
    await d.tap_id("large_text_button")
    await d.tap(home.tile("_help"))
    help_screen = await d.on("help")
    await d.shot("help")
    phone = help_screen.ids.phone.text
    await d.tap_id("back_button")
    await d.on("home")
    await d.tap(home.tile("_query"))
    query = await d.on("query")
    await d.type_text("E2E00001-20240101-0001A", screen="query")
    await d.tap_id("search_button")
    bad_number = query.ids.result.text
    await d.shot("query-bad-number")
    await d.tap_id("back_button")
    await d.on("home")
    # An appointment code on the citizen's phone opens the booked service.
    await d.tap(home.tile("_scan"))
    await d.on("scan")
    await d.tap_id("demo_appointment_button")
    guide = await d.on("guide", timeout=20)
    await d.shot("guide-from-appointment")
    appointment = {"item": d.journey.item.id, "code": d.journey.session.appointment}
    await d.tap_id("back_button")
    await d.on("home")
    return {
        "appointment": appointment,
        "size_before": size_before,
        "size_large": size_large,
        "size_after": tile_label.font_size,
        "welcome_en": welcome_en,
        "headings": headings,
        "phone": phone,
        "bad_number": bad_number,
    }


SCENARIOS: dict[str, Callable[[Driver], Awaitable[dict[str, Any]]]] = {
    "journey": journey,
    "idle": idle,
    "faults": faults,
    "accessibility": accessibility,
}


async def run(scenario: str, config_path: Path, out: Path) -> int:
    configure_logging()
    config = load_config(config_path)
    configure_kivy(config.data_dir, fullscreen=False, width=config.ui.width, height=config.ui.height)
    from kiosk.app import KioskApp
    from kiosk.wiring import build

    app = KioskApp(build(config))
    app_task = asyncio.ensure_future(app.async_run(async_lib="asyncio"))
    driver = Driver(app, out)
    driver.dock.run_page_cycle(False)  # pages go down when the scenario lays them down
    result: dict[str, Any] = {}
    try:
        await driver.wait_for(lambda: app.manager is not None and app._loop is not None, "app start", 60)
        result = await SCENARIOS[scenario](driver)
        result["ok"] = True
    except BaseException as exc:
        result.update(ok=False, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        with contextlib.suppress(Exception):
            await driver.shot("failure")
    result["screenshots"] = driver.shots
    (out / "result.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    app.stop()
    await app_task
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    name, config_file, out_dir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    out_dir.mkdir(parents=True, exist_ok=True)
    sys.exit(asyncio.run(run(name, config_file, out_dir)))
