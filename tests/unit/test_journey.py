"""The citizen journey through core alone: a real hall on loopback, made-up page photos, the simulated printer.

Everything a screen does, done here without a screen. Time is a fake clock: the idle watch and the
journey's `now` both read it, so timeouts and dates are exact and nothing sleeps.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image, ImageDraw
from pypdf import PdfReader

from hall.server import EmbeddedHall
from kiosk.core.catalogue import Catalogue, load_catalogue
from kiosk.core.code_kinds import CodeKind
from kiosk.core.devices import CodeRead, DeviceEvent, Frame
from kiosk.core.errors import CatalogueError, HallError, KioskError, SessionError
from kiosk.core.hall_client import HallClient
from kiosk.core.journey import Journey, Submission, Terminal
from kiosk.core.messages import Messages
from kiosk.core.outbox import Outbox
from kiosk.core.receipt_number import ReceiptNumbers, is_valid
from kiosk.core.sealing import Sealer
from kiosk.core.session import EndReason, IdlePhase, IdleWatch, Session, Step
from kiosk.core.signing import receipt_token
from kiosk.core.uploader import Uploader
from kiosk.demo.identities import DEMO_CITIZENS
from kiosk.peripherals.printer.profile import load_profile
from kiosk.peripherals.printer.simulated import SimulatedPrinter
from tests.support.net import free_port
from tests.support.staff import STAFF_AUTH, STAFF_USERS, application, document, staff_get
from tests.support.terminal_keys import TERMINAL_KEYS
from tests.unit.test_pdf import embedded_jpegs

TERMINAL_ID = "TEST0001"
DELIVERY_WAIT_S = 5.0  # how long submit waits for the hall before the receipt says 待上传
TIMEOUT, WARNING = 60.0, 20.0
CITIZEN = DEMO_CITIZENS[0]  # 王秀英, 11010519491231002X, with an address
START = dt.datetime(2024, 5, 6, 9, 30, 0)


class FakeClock:
    """One clock for both the idle watch (seconds) and the journey (`now()` as a datetime)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds

    def now(self) -> dt.datetime:
        return START + dt.timedelta(seconds=self.seconds)

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture(scope="module")
def messages() -> Messages:
    return Messages("zh-CN")


class PageMaker:
    """Distinct page photos, as the camera hands them to the journey (the camera has its own tests)."""

    def __init__(self) -> None:
        self._count = 0

    def capture(self, timeout: float = 0.0) -> Frame:
        self._count += 1
        image = Image.new("RGB", (620, 877), "white")
        ImageDraw.Draw(image).text((60, 60), f"page {self._count}", fill=(200, 30, 30))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=80)
        return Frame(buffer.getvalue(), image.width, image.height, dpi=75.0)


@pytest.fixture
def camera() -> PageMaker:
    return PageMaker()


@pytest.fixture
def printer(tmp_path: Path) -> Iterator[SimulatedPrinter]:
    device = SimulatedPrinter("printer", tmp_path / "printed", load_profile("generic-80"))
    device.open()
    yield device
    device.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hall(hall_server: EmbeddedHall) -> Iterator[HallClient]:
    with HallClient(hall_server.url, TERMINAL_KEYS[TERMINAL_ID], TERMINAL_ID, timeout=5) as client:
        yield client


@pytest.fixture
def offline_hall() -> Iterator[HallClient]:
    """A client for a hall that is not there: a loopback port nobody listens on."""
    with HallClient(f"http://127.0.0.1:{free_port()}", TERMINAL_KEYS[TERMINAL_ID], TERMINAL_ID, timeout=1) as client:
        yield client


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox", Sealer(bytes(range(32))), min_free_mb=10)
    yield box
    box.close()


@pytest.fixture
def workers() -> Iterator[list[threading.Event]]:
    """Stop events of the uploaders the test started: stopped at its end."""
    stops: list[threading.Event] = []
    yield stops
    for stop in stops:
        stop.set()


@pytest.fixture
def make_journey(
    catalogue: Catalogue,
    printer: SimulatedPrinter,
    messages: Messages,
    clock: FakeClock,
    tmp_path: Path,
    outbox: Outbox,
    workers: list[threading.Event],
) -> Callable[..., Journey]:
    """Build a Journey on the fake clock; `hall`, `printer` and `catalogue` can be swapped. Its
    outbox drains to `hall`'s address through a signed client on an uploader thread."""

    def make(hall: Any, printer: SimulatedPrinter | None = printer, catalogue: Catalogue = catalogue) -> Journey:
        signed = HallClient(hall.base_url, TERMINAL_KEYS[TERMINAL_ID], TERMINAL_ID, timeout=5)
        uploader = Uploader(outbox, signed)
        workers.append(threading.Event())
        threading.Thread(target=uploader.run, args=(workers[-1],), daemon=True).start()
        return Journey(
            catalogue=catalogue,
            hall=hall,
            printer=printer,
            outbox=outbox,
            uploader=uploader,
            delivery_wait_s=DELIVERY_WAIT_S,
            numbers=ReceiptNumbers(TERMINAL_ID, tmp_path / "receipt-sequence.json"),
            messages=messages,
            terminal=Terminal(
                id=TERMINAL_ID,
                hall_name="示范县政务服务中心 24小时自助服务区",
                consult_phone="0571-12345678",
                progress_url="https://hall.example.cn/progress/",
                link_key=TERMINAL_KEYS[TERMINAL_ID],
            ),
            idle=IdleWatch(TIMEOUT, WARNING, clock=clock),
            now=clock.now,
        )

    return make


@pytest.fixture
def hall_journey(make_journey: Callable[..., Journey], hall: HallClient) -> Journey:
    """A journey whose submissions and ratings reach a real hall on loopback."""
    return make_journey(hall)


@pytest.fixture
def journey(make_journey: Callable[..., Journey], offline_hall: HallClient) -> Journey:
    """A journey for the steps that never reach the hall (most of them): no hall server to start."""
    return make_journey(offline_hall)


# -- helpers that do what a citizen does ---------------------------------------------------------


def to_form(journey: Journey, item_id: str = "pension-enrol") -> None:
    journey.open_item(item_id)
    journey.start_item()
    journey.accept_identity(CITIZEN)


def fill_required(journey: Journey) -> None:
    """pension-enrol needs only the mobile number beyond what the card brings."""
    assert journey.set_value("mobile", "13800138000") is None


def photograph(journey: Journey, camera: PageMaker, material_id: str, pages: int = 1) -> list[Frame]:
    frames = [camera.capture(timeout=10) for _ in range(pages)]
    for frame in frames:
        journey.add_page(material_id, frame)
    return frames


def to_review(journey: Journey, camera: PageMaker) -> list[Frame]:
    to_form(journey)
    fill_required(journey)
    journey.to_materials()
    frames = photograph(journey, camera, "id-card", pages=2)
    journey.to_review()
    journey.give_consent(True)
    return frames


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- opening an item and identifying ------------------------------------------------------------


def test_a_new_journey_is_home_and_empty(journey: Journey) -> None:
    assert journey.step is Step.HOME
    assert not journey.session.holds_personal_data()
    with pytest.raises(SessionError):
        _ = journey.item  # no item chosen yet


def test_open_item_start_and_accept_identity_prefill_the_form(journey: Journey) -> None:
    item = journey.open_item("pension-enrol")
    assert journey.step is Step.GUIDE
    assert journey.item is item
    journey.start_item()
    assert journey.step is Step.IDENTIFY  # every real item needs a card

    journey.accept_identity(CITIZEN)

    assert journey.step is Step.FORM
    assert journey.session.identity is CITIZEN
    values = journey.session.values
    assert values["name"] == "王秀英"
    assert values["id_number"] == "11010519491231002X"
    assert values["household_address"] == CITIZEN.address
    assert values["contribution_level"] == "200元"  # the item's defaults
    assert values["special_group"] == "不属于"
    assert "mobile" not in values


def test_open_unknown_item(journey: Journey) -> None:
    with pytest.raises(CatalogueError) as caught:
        journey.open_item("no-such-item")
    assert caught.value.code == "catalogue.item_missing"
    assert journey.step is Step.HOME


def test_accept_identity_only_when_waiting_for_a_card(journey: Journey) -> None:
    journey.open_item("pension-enrol")
    with pytest.raises(SessionError):
        journey.accept_identity(CITIZEN)
    assert journey.session.identity is None


def test_identity_without_address_leaves_prefill_empty(journey: Journey) -> None:
    journey.open_item("pension-enrol")
    journey.start_item()
    journey.accept_identity(DEMO_CITIZENS[1])  # a social security card: no address on it
    assert journey.session.values["id_number"] == "440524188001010014"
    assert "household_address" not in journey.session.values


# -- the form ----------------------------------------------------------------------------------


def test_to_materials_refused_until_required_fields_are_valid(journey: Journey) -> None:
    to_form(journey)
    assert journey.problems() == {"mobile": "validation.required"}
    with pytest.raises(SessionError) as caught:
        journey.to_materials()
    assert caught.value.code == "form.has_errors"
    assert journey.step is Step.FORM

    assert journey.set_value("mobile", "12345") == "validation.mobile.length"
    assert journey.session.values["mobile"] == "12345"  # kept, so the citizen can correct it
    with pytest.raises(SessionError, match="form has errors"):
        journey.to_materials()

    assert journey.set_value("id_number", "11010519491231002Y") == "validation.id_number.chars"
    assert journey.set_value("mobile", " 13800138000 ") is None
    assert journey.problems() == {"id_number": "validation.id_number.chars"}
    with pytest.raises(SessionError):
        journey.to_materials()

    assert journey.set_value("id_number", "11010519491231002x") is None
    assert journey.session.values["id_number"] == "11010519491231002X"  # normalised
    assert journey.session.values["mobile"] == "13800138000"  # trimmed
    journey.to_materials()
    assert journey.step is Step.MATERIALS


def test_clearing_a_prefilled_required_field_is_an_error(journey: Journey) -> None:
    to_form(journey)
    fill_required(journey)
    assert journey.set_value("name", "  ") == "validation.required"
    assert journey.problems() == {"name": "validation.required"}


def test_set_value_on_an_unknown_field(journey: Journey) -> None:
    to_form(journey)
    with pytest.raises(SessionError):
        journey.set_value("favourite_colour", "red")


def test_date_field_is_checked_against_the_journey_clock(journey: Journey) -> None:
    to_form(journey, "residence-permit")
    assert journey.set_value("arrival_date", "2029-05-06") is None  # START + 5 years
    assert journey.set_value("arrival_date", "2029-05-07") == "validation.date.range"


# -- materials ----------------------------------------------------------------------------------


def test_to_review_refused_until_each_required_material_has_a_page(journey: Journey, camera: PageMaker) -> None:
    to_form(journey, "residence-permit")
    journey.set_value("mobile", "13800138000")
    journey.set_value("arrival_date", "2023-10-01")
    journey.to_materials()

    required = [m.id for m in journey.item.materials if m.required]
    assert required == ["id-card", "photo", "address-proof"]
    optional = [m.id for m in journey.item.materials if not m.required]
    photograph(journey, camera, optional[0])  # an optional material does not help
    for index, material_id in enumerate(required):
        assert [m.id for m in journey.missing_materials()] == required[index:]
        with pytest.raises(SessionError) as caught:
            journey.to_review()
        assert caught.value.code == "materials.missing"
        assert journey.step is Step.MATERIALS
        photograph(journey, camera, material_id)

    assert journey.missing_materials() == []
    journey.to_review()
    assert journey.step is Step.REVIEW


def test_page_limits_and_page_wiping(journey: Journey, camera: PageMaker) -> None:
    to_form(journey)
    fill_required(journey)
    journey.to_materials()
    photograph(journey, camera, "id-card", pages=2)  # max_pages = 2
    with pytest.raises(SessionError) as caught:
        journey.add_page("id-card", camera.capture(timeout=10))
    assert caught.value.code == "materials.too_many_pages"
    assert caught.value.params == {"max": 2}

    first = journey.session.pages["id-card"][0].jpeg
    journey.replace_page("id-card", 0, camera.capture(timeout=10))
    assert not any(first), "a replaced page is overwritten, not just dropped"
    second = journey.session.pages["id-card"][1].jpeg
    journey.remove_page("id-card", 1)
    assert not any(second)
    assert journey.page_count("id-card") == 1


def test_add_page_for_an_unknown_material(journey: Journey, camera: PageMaker) -> None:
    to_form(journey)
    with pytest.raises(CatalogueError) as caught:
        journey.add_page("passport", camera.capture(timeout=10))
    assert caught.value.code == "catalogue.material_missing"


# -- review, consent and submission -------------------------------------------------------------


def test_begin_submit_refused_without_consent(journey: Journey, camera: PageMaker) -> None:
    to_review(journey, camera)
    journey.give_consent(False)
    with pytest.raises(SessionError) as caught:
        journey.begin_submit()
    assert caught.value.code == "review.consent_required"
    assert journey.step is Step.REVIEW
    assert journey.session.receipt_no == "", "no number is used up by a refused submit"


def test_an_application_the_hall_would_refuse_is_refused_on_review(
    journey: Journey, camera: PageMaker, caplog: pytest.LogCaptureFixture
) -> None:
    """Built through kiosk.core.protocol: what breaks the wire contract is refused before it is
    sealed or sent, and the citizen stays on review with a message, instead of a receipt for an
    application the hall would answer 400 and the outbox would park."""
    to_review(journey, camera)
    too_long = "张" * 101  # the contract's name is at most 100 characters
    journey.session.values["name"] = too_long
    with pytest.raises(HallError) as caught:
        journey.begin_submit()
    assert caught.value.code == "hall.rejected"
    assert journey.step is Step.REVIEW
    assert too_long not in caplog.text, "the log says where the contract broke, never the value"
    assert "name: String should have at most 100 characters" in caplog.text


def test_begin_submit_only_from_review(journey: Journey) -> None:
    to_form(journey)
    journey.give_consent(True)
    with pytest.raises(SessionError) as caught:
        journey.begin_submit()
    assert caught.value.code == "error.session"


def test_submit_reaches_the_hall_with_every_page(hall_journey: Journey, camera: PageMaker, hall: HallClient) -> None:
    journey = hall_journey
    frames = to_review(journey, camera)
    session_id = journey.session.session_id

    journey.submit()

    assert journey.step is Step.RECEIPT
    receipt_no = journey.session.receipt_no
    assert is_valid(receipt_no)
    assert receipt_no.startswith(f"{TERMINAL_ID}-20240506-0001")
    record = application(hall.base_url, receipt_no)
    assert record["receipt_no"] == receipt_no
    assert record["item_id"] == "pension-enrol"
    assert record["terminal_id"] == TERMINAL_ID
    assert record["session_id"] == session_id
    assert record["applicant"]["name"] == "王秀英"
    assert record["applicant"]["id_number"] == "11010519491231002X"
    assert record["form"]["mobile"] == "13800138000"
    assert record["materials"] == [{"id": "id-card", "name": "居民身份证", "pages": 2}]
    pdf = document(hall.base_url, receipt_no, "id-card", 0)  # the material's PDF, holding both pages unchanged
    assert [(d["material_id"], d["page"], d["sha256"]) for d in record["documents"]] == [
        ("id-card", 0, sha256(pdf)),
        ("id-card", 1, sha256(frames[0].jpeg)),
        ("id-card", 2, sha256(frames[1].jpeg)),
    ]
    assert document(hall.base_url, receipt_no, "id-card", 2) == frames[1].jpeg
    assert embedded_jpegs(PdfReader(io.BytesIO(pdf))) == [frames[0].jpeg, frames[1].jpeg]


def test_submission_is_frozen_when_submit_is_tapped(journey: Journey, camera: PageMaker) -> None:
    frames = to_review(journey, camera)
    submission = journey.begin_submit()
    assert isinstance(submission, Submission)
    assert journey.step is Step.SUBMITTING
    assert submission.pages == [("id-card", 1, frames[0].jpeg), ("id-card", 2, frames[1].jpeg)]
    application = submission.application
    assert application["receipt_no"] == journey.session.receipt_no
    assert dt.datetime.fromisoformat(application["submitted_at"]) == START.astimezone()
    # what is sent is a copy: wiping the session afterwards does not blank the upload
    journey.session.wipe()
    assert submission.pages[0][2] == frames[0].jpeg


def test_hall_down_the_application_waits_in_the_outbox_and_arrives_once_when_it_is_back(
    make_journey: Callable[..., Journey], camera: PageMaker, tmp_path: Path, outbox: Outbox
) -> None:
    port = free_port()
    with HallClient(f"http://127.0.0.1:{port}", TERMINAL_KEYS[TERMINAL_ID], TERMINAL_ID, timeout=1) as down:
        journey = make_journey(down)
        frames = to_review(journey, camera)
        assert journey.submit() is False  # kept, not delivered: the citizen is not held up
    receipt_no = journey.session.receipt_no
    assert journey.step is Step.RECEIPT and journey.session.offline
    assert is_valid(receipt_no)
    paper = "\n".join(journey.receipt_document().text_lines())
    assert "【待上传】" in paper and receipt_no in paper
    assert outbox.depth() == 1

    # the hall comes back on the same address: the uploader delivers it by itself, exactly once
    with (
        EmbeddedHall(
            db_url=f"sqlite:///{tmp_path / 'hall.db'}",
            documents_dir=tmp_path / "documents",
            port=port,
            terminal_keys=TERMINAL_KEYS,
            staff_users=STAFF_USERS,
        ) as back,
        HallClient(back.url, TERMINAL_KEYS[TERMINAL_ID], TERMINAL_ID, timeout=5) as hall,
    ):
        journey.uploader.wake()
        assert wait_until(lambda: outbox.depth() == 0, timeout=30)
        record = application(hall.base_url, receipt_no)
        assert [d["sha256"] for d in record["documents"] if d["page"]] == [sha256(f.jpeg) for f in frames]
        listing = staff_get(back.url, "/v1/applications").json()
        assert [a["receipt_no"] for a in listing["items"]] == [receipt_no]


def test_no_room_on_disk_refuses_to_start_and_keeps_a_submission_on_review(
    journey: Journey, camera: PageMaker, outbox: Outbox
) -> None:
    to_review(journey, camera)
    values = dict(journey.session.values)
    outbox._min_free = 2**62  # the disk is (nearly) full
    with pytest.raises(KioskError) as caught:
        journey.submit()
    assert caught.value.code == "storage.full"
    assert journey.step is Step.REVIEW and journey.session.values == values  # nothing lost
    assert outbox.depth() == 0
    journey.end(EndReason.CANCELLED)
    journey.open_item("pension-enrol")
    with pytest.raises(SessionError) as refused:
        journey.start_item()  # no new application while there is no room to keep one
    assert refused.value.code == "storage.full"


def test_each_session_gets_the_next_receipt_number(hall_journey: Journey, camera: PageMaker) -> None:
    journey = hall_journey
    numbers = []
    for _ in range(3):
        to_review(journey, camera)
        journey.submit()
        numbers.append(journey.session.receipt_no)
        journey.end(EndReason.DONE)
    assert [n[:-1] for n in numbers] == [f"{TERMINAL_ID}-20240506-000{i}" for i in (1, 2, 3)]


# -- papers -------------------------------------------------------------------------------------


def test_receipt_document_is_masked_and_carries_number_and_qr(hall_journey: Journey, camera: PageMaker) -> None:
    journey = hall_journey
    to_review(journey, camera)
    with pytest.raises(SessionError):
        journey.receipt_document()  # nothing submitted yet
    journey.submit()
    receipt_no = journey.session.receipt_no

    document = journey.receipt_document()

    text = "\n".join(document.text_lines())
    assert receipt_no in document.text_lines()
    assert "11010519491231002X" not in text
    assert "王秀英" not in text
    assert "1101**********002X" in text
    assert "王*英" in text
    assert "居民身份证：2页" in text
    token = receipt_token(TERMINAL_KEYS[TERMINAL_ID], receipt_no)
    assert journey.progress_url() == f"https://hall.example.cn/progress/{receipt_no}?k={token}"
    assert document.qr_payloads() == [journey.progress_url()]


def test_printing_the_receipt_twice_prints_once(
    hall_journey: Journey, camera: PageMaker, printer: SimulatedPrinter
) -> None:
    journey = hall_journey
    events: list[DeviceEvent] = []
    printer.subscribe(events.append)
    to_review(journey, camera)
    journey.submit()
    job_id = journey.receipt_job_id()
    assert job_id == f"{journey.session.receipt_no}-receipt"

    first = journey.print_document(journey.receipt_document(), job_id, timeout=10)
    second = journey.print_document(journey.receipt_document(), job_id, timeout=10)

    assert second == first
    assert [e.payload for e in events if e.kind == "printed"] == [job_id]
    papers = sorted(p.name for p in printer.out_dir.iterdir() if p.name != "jobs.jsonl")
    assert papers == [f"{job_id}.bin", f"{job_id}.json", f"{job_id}.png", f"{job_id}.txt"]
    assert len(printer.machine.papers) == 1 and printer.machine.papers[0].complete
    printed = Path(first.artefacts["text"]).read_text(encoding="utf-8")
    assert journey.session.receipt_no in printed
    assert "11010519491231002X" not in printed


def test_no_printer_is_a_clear_error(make_journey: Callable[..., Journey], offline_hall: HallClient) -> None:
    journey = make_journey(offline_hall, printer=None)
    journey.open_item("pension-enrol")
    with pytest.raises(SessionError) as caught:
        journey.print_document(journey.checklist_document(), "checklist-1")
    assert caught.value.code == "printer.not_configured"


# -- rating and the end of the session ----------------------------------------------------------


def test_rate_sends_the_rating_and_starts_a_clean_session(
    hall_journey: Journey, camera: PageMaker, hall_server: EmbeddedHall
) -> None:
    journey = hall_journey
    to_review(journey, camera)
    journey.submit()
    journey.to_rating()
    old: Session = journey.session
    receipt_no, session_id = old.receipt_no, old.session_id
    buffers = [page.jpeg for page in old.pages["id-card"]]

    journey.rate(5, ["办事便捷"], "很快")

    answer = staff_get(hall_server.url, "/v1/ratings", params={"receipt_no": receipt_no})
    assert answer.status_code == 200
    ratings = answer.json()["items"]
    assert len(ratings) == 1
    rating = ratings[0]
    assert (rating["level"], rating["reasons"], rating["comment"]) == (5, ["办事便捷"], "很快")
    assert rating["session_id"] == session_id
    assert (rating["terminal_id"], rating["item_id"]) == (TERMINAL_ID, "pension-enrol")

    assert old.step is Step.ENDED
    assert old.end_reason is EndReason.DONE
    assert not old.holds_personal_data()
    assert all(not any(b) for b in buffers)
    fresh = journey.session
    assert fresh is not old
    assert fresh.session_id != session_id
    assert fresh.step is Step.HOME
    assert (fresh.item, fresh.identity, fresh.values, fresh.pages, fresh.consent, fresh.receipt_no) == (
        None,
        None,
        {},
        {},
        False,
        "",
    )


def test_invalid_rating_level(journey: Journey) -> None:
    journey.open_item("senior-card")
    for level in (0, 6, -1):
        with pytest.raises(SessionError) as caught:
            journey.rating_payload(level, [])
        assert caught.value.code == "rating.invalid"


def test_rating_the_hall_cannot_take_still_ends_the_session(journey: Journey) -> None:
    journey.open_item("senior-card")  # a citizen may rate without applying
    old = journey.session
    journey.rate(3, [])
    assert old.end_reason is EndReason.DONE
    assert journey.step is Step.HOME


def test_listeners_hear_every_change_and_the_fresh_session(journey: Journey) -> None:
    seen: list[tuple[str, Step]] = []
    journey.listeners.append(lambda s: seen.append((s.session_id, s.step)))
    first = journey.session.session_id
    journey.open_item("pension-enrol")
    journey.end(EndReason.CANCELLED)
    assert seen == [(first, Step.GUIDE), (first, Step.ENDED), (journey.session.session_id, Step.HOME)]


# -- idle timeout --------------------------------------------------------------------------------


def test_tick_ends_an_idle_session_after_timeout_plus_warning(
    journey: Journey, camera: PageMaker, clock: FakeClock
) -> None:
    to_form(journey)
    old = journey.session

    clock.advance(TIMEOUT - 1)
    assert journey.tick() == (IdlePhase.ACTIVE, 1)
    clock.advance(1)
    assert journey.tick() == (IdlePhase.WARNING, WARNING)
    clock.advance(WARNING - 0.5)
    assert journey.tick() == (IdlePhase.WARNING, 0.5)
    assert journey.session is old

    clock.advance(0.5)
    assert journey.tick() == (IdlePhase.EXPIRED, 0.0)

    assert old.step is Step.ENDED
    assert old.end_reason is EndReason.TIMEOUT
    assert not old.holds_personal_data()
    assert journey.session is not old
    assert journey.step is Step.HOME
    assert journey.tick()[0] is IdlePhase.ACTIVE  # the fresh session starts with a full timeout


def test_touch_during_the_warning_keeps_the_session(journey: Journey, clock: FakeClock) -> None:
    to_form(journey)
    old = journey.session
    clock.advance(TIMEOUT + 5)
    assert journey.tick()[0] is IdlePhase.WARNING
    journey.touch()
    clock.advance(TIMEOUT - 1)
    assert journey.tick() == (IdlePhase.ACTIVE, 1)
    assert journey.session is old


def test_tick_does_nothing_at_home_with_no_data(journey: Journey, clock: FakeClock) -> None:
    home = journey.session
    for _ in range(5):
        clock.advance(TIMEOUT + WARNING + 100)
        assert journey.tick() == (IdlePhase.ACTIVE, TIMEOUT)
    assert journey.session is home
    assert home.end_reason is None
    # and being idle at home does not count against the next citizen
    journey.open_item("pension-enrol")
    assert journey.tick() == (IdlePhase.ACTIVE, TIMEOUT)


def test_tick_times_out_the_progress_query_too(journey: Journey, clock: FakeClock) -> None:
    journey.open_query()
    old = journey.session
    clock.advance(TIMEOUT + WARNING)
    journey.tick()
    assert old.end_reason is EndReason.TIMEOUT


# -- back, help and cancel -----------------------------------------------------------------------


def test_back_from_each_step(journey: Journey, camera: PageMaker) -> None:
    to_form(journey)
    fill_required(journey)
    journey.to_materials()
    photograph(journey, camera, "id-card")
    journey.to_review()
    kept = journey.session

    journey.back()
    assert journey.step is Step.MATERIALS
    journey.back()
    assert journey.step is Step.FORM
    journey.back()
    assert journey.step is Step.IDENTIFY  # the item needs a card
    journey.back()
    assert journey.step is Step.GUIDE
    assert journey.session is kept
    assert journey.session.values["mobile"] == "13800138000"  # going back loses nothing
    assert journey.page_count("id-card") == 1

    journey.back()  # from the first step: the session ends
    assert kept.end_reason is EndReason.CANCELLED
    assert not kept.holds_personal_data()
    assert journey.step is Step.HOME
    assert journey.session is not kept


def test_back_from_form_of_an_item_without_card_goes_to_the_guide(
    make_journey: Callable[..., Journey], offline_hall: HallClient, catalogue: Catalogue
) -> None:
    item = catalogue.get("senior-card").model_copy(update={"needs_card": False})
    journey = make_journey(offline_hall, catalogue=Catalogue([item]))
    journey.open_item("senior-card")
    journey.start_item()
    assert journey.step is Step.FORM  # no card asked for
    journey.back()
    assert journey.step is Step.GUIDE


def test_back_from_the_query_ends_the_session(journey: Journey) -> None:
    journey.open_query()
    old = journey.session
    journey.back()
    assert old.end_reason is EndReason.CANCELLED
    assert journey.step is Step.HOME


@pytest.mark.parametrize("step", [Step.HOME, Step.HELP, Step.SUBMITTING, Step.RECEIPT, Step.RATING])
def test_no_way_back_from(journey: Journey, step: Step) -> None:
    journey.session.step = step
    with pytest.raises(SessionError):
        journey.back()
    assert journey.step is step


def test_help_from_the_form_and_back(journey: Journey) -> None:
    to_form(journey)
    journey.open_help()
    journey.open_help()  # a second tap on the help button changes nothing
    assert journey.step is Step.HELP
    journey.close_help()
    assert journey.step is Step.FORM
    assert journey.session.values["name"] == "王秀英"


def test_cancel_wipes_everything(journey: Journey, camera: PageMaker) -> None:
    to_form(journey)
    fill_required(journey)
    journey.to_materials()
    photograph(journey, camera, "id-card", pages=2)
    journey.to_review()
    journey.give_consent(True)
    old = journey.session
    buffers = [page.jpeg for page in old.pages["id-card"]]

    journey.end(EndReason.CANCELLED)

    assert old.step is Step.ENDED
    assert old.end_reason is EndReason.CANCELLED
    assert (old.identity, old.values, old.pages, old.consent) == (None, {}, {}, False)
    assert all(len(b) > 0 and not any(b) for b in buffers)
    assert journey.step is Step.HOME
    assert not journey.session.holds_personal_data()


def test_after_a_failed_submit_the_application_is_frozen(journey: Journey, camera: PageMaker) -> None:
    """The hall may already hold it: going back to edit would send a different application
    under the same receipt number, so review offers only retry or cancel."""
    to_review(journey, camera)
    journey.give_consent(True)
    journey.outbox._min_free = 2**62  # the outbox cannot keep it
    with pytest.raises(KioskError):
        journey.submit()
    assert journey.step is Step.REVIEW and journey.frozen
    with pytest.raises(SessionError) as refused:
        journey.back()
    assert refused.value.code == "review.frozen"
    journey.end(EndReason.CANCELLED)
    assert not journey.frozen


# -- codes held up to the camera ------------------------------------------------------------------


def code(text: str, fmt: str = "QRCode") -> CodeRead:
    return CodeRead(text.encode(), text, fmt, "utf-8")


def test_a_receipt_qr_opens_the_progress_query_with_its_number(hall_journey: Journey) -> None:
    journey = hall_journey
    number = journey.numbers.next(START.date())
    journey.open_scan()
    found = journey.read_code(code(journey.terminal.progress_url + number))
    assert found.kind is CodeKind.RECEIPT and found.value == number
    journey.follow_receipt(found)
    assert journey.step is Step.QUERY
    assert (journey.session.query_receipt, journey.session.query_token) == (number, "")


def test_our_receipts_qr_answers_the_progress_query_without_the_id_tail(
    hall_journey: Journey, camera: PageMaker
) -> None:
    journey = hall_journey
    to_review(journey, camera)
    journey.submit()
    receipt_no = journey.session.receipt_no
    link = journey.progress_url()
    journey.end(EndReason.DONE)
    journey.open_scan()
    found = journey.read_code(code(link))
    journey.follow_receipt(found)
    assert journey.session.query_token == found.token != ""
    answer = journey.query_progress(receipt_no, token=journey.session.query_token)
    assert (answer["receipt_no"], answer["state"]) == (receipt_no, "received")
    with pytest.raises(HallError) as wrong:  # a token for another number opens nothing
        journey.query_progress(receipt_no[:-1] + "0", token=found.token)
    assert wrong.value.code == "hall.not_found"


def test_an_appointment_code_opens_the_booked_service_and_goes_with_the_application(
    hall_journey: Journey, hall: HallClient, camera: PageMaker
) -> None:
    journey = hall_journey
    booked = {"code": "YY20240506000007", "kind": "appointment", "item_id": "pension-enrol", "slot": ""}
    requests.post(f"{hall.base_url}/v1/appointments", json=booked, auth=STAFF_AUTH, timeout=5).raise_for_status()
    journey.open_scan()
    found = journey.read_code(code(booked["code"]))
    assert found.kind is CodeKind.APPOINTMENT
    journey.open_appointment(journey.lookup_appointment(found))
    assert journey.step is Step.GUIDE and journey.item.id == "pension-enrol"
    journey.start_item()
    journey.accept_identity(CITIZEN)
    fill_required(journey)
    journey.to_materials()
    photograph(journey, camera, "id-card", pages=2)
    journey.to_review()
    journey.give_consent(True)
    journey.submit()
    record = application(hall.base_url, journey.session.receipt_no)
    assert record["appointment"] == booked["code"]
    # With its pages, each material's PDF reached the hall (page 0).
    assert {(d["material_id"], d["page"], d["content_type"]) for d in record["documents"]} == {
        ("id-card", 0, "application/pdf"),
        ("id-card", 1, "image/jpeg"),
        ("id-card", 2, "image/jpeg"),
    }


def test_an_unknown_appointment_code_is_not_found(hall_journey: Journey) -> None:
    hall_journey.open_scan()
    found = hall_journey.read_code(code("YS20240506000099"))
    assert found.kind is CodeKind.PREREVIEW
    with pytest.raises(HallError) as caught:
        hall_journey.lookup_appointment(found)
    assert caught.value.code == "hall.not_found"
    assert hall_journey.step is Step.SCAN


@pytest.mark.parametrize(
    "text",
    ["11010519491231002X", "https://example.com/", "hello", "https://hall.example.cn/progress/TEST0001-20240506-0001A"],
)
def test_other_codes_are_shown_and_not_acted_on(hall_journey: Journey, text: str) -> None:
    hall_journey.open_scan()
    found = hall_journey.read_code(code(text))
    with pytest.raises(SessionError) as caught:
        hall_journey.follow_receipt(found)
    assert caught.value.code == "scan.not_actionable"
    with pytest.raises(SessionError):
        hall_journey.lookup_appointment(found)
    assert hall_journey.step is Step.SCAN
    hall_journey.back()
    assert hall_journey.step is Step.HOME


def test_a_catalogue_from_the_hall_is_taken_between_sessions_only(journey: Journey, catalogue: Catalogue) -> None:
    published = Catalogue([item for item in catalogue.items if item.id != "pension-enrol"])
    seen: list[Step] = []
    journey.listeners.append(lambda session: seen.append(session.step))
    to_form(journey)  # a citizen is halfway through pension-enrol
    journey.use_catalogue(published)
    assert journey.catalogue is catalogue and journey.item.id == "pension-enrol"
    journey.tick()
    assert journey.catalogue is catalogue  # not while a session holds an item
    journey.end(EndReason.DONE)
    assert journey.catalogue is published
    with pytest.raises(CatalogueError):
        journey.open_item("pension-enrol")

    journey.use_catalogue(catalogue)  # a quiet terminal at home takes it at the next tick
    seen.clear()
    journey.tick()
    assert journey.catalogue is catalogue and seen == [Step.HOME]  # home redraws its tiles
