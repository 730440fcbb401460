"""The SAM ID reader end to end: the real driver over a real pty, our SAM emulator on the other side."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from kiosk.core.devices import Cancel, Device, DeviceEvent, DeviceState, FixedBy
from kiosk.core.errors import DeviceCancelled, DeviceTimeout
from kiosk.peripherals.cards.sam.errors import SamNoAnswer
from kiosk.peripherals.cards.sam.frames import FIND_CARD, READ_TEXT_PHOTO, RESET, SELECT_CARD, STATUS
from kiosk.peripherals.cards.sam.reader import SamIdReader
from tests.support import sam_cards
from tests.support.sam_emulator import DEFAULT_PHOTO, SamEmulator, build_text


def fast_reader(port: str) -> SamIdReader:
    """The real driver with short waits, so fault tests take a fraction of a second."""
    return SamIdReader(
        "id_reader", port, 115200, poll_interval=0.02, answer_timeout=0.3, read_timeout=0.5, reopen_backoff=(0.05, 0.2)
    )


class Events:
    """Every event a device emits, with waiting helpers."""

    def __init__(self, reader: SamIdReader) -> None:
        self.items: list[DeviceEvent] = []
        self._changed = threading.Condition()
        reader.subscribe(self._on_event)

    def _on_event(self, event: DeviceEvent) -> None:
        with self._changed:
            self.items.append(event)
            self._changed.notify_all()

    def of(self, kind: str) -> list[DeviceEvent]:
        with self._changed:
            return [event for event in self.items if event.kind == kind]

    def kinds(self) -> list[str]:
        with self._changed:
            return [event.kind for event in self.items if event.kind != "state"]

    def wait(self, kind: str, count: int = 1, timeout: float = 3.0) -> DeviceEvent:
        with self._changed:
            ok = self._changed.wait_for(lambda: len(self.of(kind)) >= count, timeout)
        assert ok, f"no {kind} event #{count} within {timeout} s; got {self.kinds()}"
        return self.of(kind)[count - 1]

    def wait_state(self, state: DeviceState, code: str | None = None, timeout: float = 3.0) -> DeviceEvent:
        def seen() -> DeviceEvent | None:
            for event in self.of("state"):
                if event.payload.state is state and (code is None or event.payload.code == code):
                    return event
            return None

        with self._changed:
            self._changed.wait_for(lambda: seen() is not None, timeout)
            event = seen()
        assert event is not None, f"no state {state} {code} within {timeout} s"
        return event


def eventually(check: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


@pytest.fixture
def emulator() -> Iterator[SamEmulator]:
    with SamEmulator(115200) as emu:
        yield emu


@pytest.fixture
def reader(emulator: SamEmulator) -> Iterator[SamIdReader]:
    device = fast_reader(emulator.port)
    yield device
    device.close()


@pytest.fixture
def events(reader: SamIdReader) -> Events:
    log = Events(reader)
    reader.open()
    log.wait_state(DeviceState.READY, "card.place")
    return log


def expected(card_layout: str) -> object:
    return dataclasses.replace(sam_cards.BY_LAYOUT[card_layout], photo=DEFAULT_PHOTO)


# -- reading ------------------------------------------------------------------------------------


def test_the_driver_meets_the_device_contract(reader: SamIdReader) -> None:
    assert isinstance(reader, Device)
    assert reader.driver == "sam"
    assert {"resident_id", "hk_macao_taiwan_permit", "foreign_permanent_resident"} <= reader.capabilities
    assert callable(reader.read_identity) and callable(reader.card_present)


@pytest.mark.parametrize("layout", [" ", "J", "I", "Y"])
def test_placing_a_card_emits_its_identity(
    emulator: SamEmulator, reader: SamIdReader, events: Events, layout: str
) -> None:
    emulator.place(sam_cards.BY_LAYOUT[layout], layout)
    identity = events.wait("identity").payload
    assert identity == expected(layout)  # every field, and the 1024 raw photo bytes
    assert events.kinds() == ["card_inserted", "identity"]
    assert reader.card_present()
    status = reader.status()
    assert (status.state, status.code, status.fixed_by) == (DeviceState.READY, "card.present", None)
    assert emulator.count(SELECT_CARD) == 1 and emulator.count(READ_TEXT_PHOTO) == 1


def test_a_card_that_stays_is_not_read_again(emulator: SamEmulator, events: Events) -> None:
    emulator.place(sam_cards.MAINLAND)
    events.wait("identity")
    polls = emulator.count(FIND_CARD)
    eventually(lambda: emulator.count(FIND_CARD) >= polls + 10)  # still polling…
    assert emulator.count(READ_TEXT_PHOTO) == 1  # …but not reading
    assert events.kinds() == ["card_inserted", "identity"]


def test_lifting_the_card_emits_card_removed_once(emulator: SamEmulator, reader: SamIdReader, events: Events) -> None:
    emulator.place(sam_cards.MAINLAND)
    events.wait("identity")
    emulator.remove()
    events.wait("card_removed")
    polls = emulator.count(FIND_CARD)
    eventually(lambda: emulator.count(FIND_CARD) >= polls + 10)
    assert events.kinds() == ["card_inserted", "identity", "card_removed"]
    assert not reader.card_present()
    assert (reader.status().state, reader.status().code) == (DeviceState.READY, "card.place")
    emulator.place(sam_cards.PERMIT, "J")  # the next citizen
    assert events.wait("identity", count=2).payload == expected("J")


def test_read_identity_rereads_the_card_in_place(emulator: SamEmulator, reader: SamIdReader, events: Events) -> None:
    emulator.place(sam_cards.FOREIGN_2017, "I")
    events.wait("identity")
    assert reader.read_identity(timeout=2.0) == expected("I")
    assert emulator.count(READ_TEXT_PHOTO) == 2
    assert len(events.of("identity")) == 1  # a command's answer goes to its caller, not to everyone


def test_read_identity_waits_for_a_card(emulator: SamEmulator, reader: SamIdReader, events: Events) -> None:
    threading.Timer(0.2, emulator.place, args=(sam_cards.FOREIGN_2023, "Y")).start()
    assert reader.read_identity(timeout=3.0) == expected("Y")
    assert events.wait("identity").payload == expected("Y")


def test_read_identity_without_a_card_times_out_on_time(reader: SamIdReader, events: Events) -> None:
    started = time.monotonic()
    with pytest.raises(DeviceTimeout) as caught:
        reader.read_identity(timeout=0.5)
    assert 0.45 <= time.monotonic() - started < 0.65
    assert caught.value.code == "card.none"


def test_read_identity_can_be_cancelled(reader: SamIdReader, events: Events) -> None:
    cancel = Cancel()
    threading.Timer(0.1, cancel.cancel).start()
    started = time.monotonic()
    with pytest.raises(DeviceCancelled):
        reader.read_identity(timeout=5.0, cancel=cancel)
    assert time.monotonic() - started < 0.3


# -- cards that cannot be read --------------------------------------------------------------------


def test_unknown_card_type_is_reported_to_the_citizen(
    emulator: SamEmulator, reader: SamIdReader, events: Events
) -> None:
    text = build_text(sam_cards.MAINLAND, " ")
    emulator.place_text(text[:248] + "Z".encode("utf-16-le") + text[250:])
    error = events.wait("read_failed").payload
    assert error.code == "card.unknown"
    assert not events.of("identity")
    status = reader.status()
    assert (status.state, status.code, status.fixed_by) == (DeviceState.USER_ERROR, "card.unknown", FixedBy.CITIZEN)
    assert emulator.count(READ_TEXT_PHOTO) == 1  # the same card does not become known on a retry


def test_a_misread_id_number_never_reaches_the_form(emulator: SamEmulator, events: Events) -> None:
    emulator.place(dataclasses.replace(sam_cards.MAINLAND, id_number="110105194912310021"))
    error = events.wait("read_failed").payload
    assert error.code == "sam.misread"
    assert not events.of("identity")
    assert emulator.count(READ_TEXT_PHOTO) == 2  # tried again once, in case the radio garbled it


def test_a_read_that_fails_once_is_retried_unnoticed(emulator: SamEmulator, events: Events) -> None:
    emulator.fail_next(0x41, READ_TEXT_PHOTO)
    emulator.place(sam_cards.MAINLAND)
    assert events.wait("identity").payload == expected(" ")
    assert not events.of("read_failed")


CITIZEN_SW3 = {0x80: "card.none", 0x81: "sam.select_failed", 0x41: "card.removed", 0x31: "sam.card_check_failed"}
CITIZEN_SW3 |= {0x33: "sam.card_check_failed", 0x40: "card.unknown"}


@pytest.mark.parametrize(("sw3", "code"), CITIZEN_SW3.items())
def test_card_statuses_ask_the_citizen_to_place_the_card_again(
    emulator: SamEmulator, reader: SamIdReader, events: Events, sw3: int, code: str
) -> None:
    for _ in range(1 if sw3 == 0x40 else 2):  # an unknown card type is not retried; the rest are, once
        emulator.fail_next(sw3, READ_TEXT_PHOTO)
    emulator.place(sam_cards.MAINLAND)
    assert events.wait("read_failed").payload.code == code
    status = reader.status()
    assert (status.state, status.code, status.fixed_by) == (DeviceState.USER_ERROR, code, FixedBy.CITIZEN)
    emulator.remove()  # lift the card and place it again
    events.wait("card_removed")
    emulator.place(sam_cards.MAINLAND)
    assert events.wait("identity").payload == expected(" ")
    assert reader.status().state is DeviceState.READY


TECHNICIAN_SW3 = {
    0x21: "sam.fault",
    0x23: "sam.fault",
    0x32: "sam.fault",
    0x60: "sam.self_test_failed",
    0x55: "sam.fault",
}


@pytest.mark.parametrize(("sw3", "code"), TECHNICIAN_SW3.items())
def test_module_statuses_call_a_technician_and_recover(
    emulator: SamEmulator, reader: SamIdReader, events: Events, sw3: int, code: str
) -> None:
    emulator.fail_next(sw3, READ_TEXT_PHOTO)
    emulator.place(sam_cards.MAINLAND)
    fault = events.wait_state(DeviceState.HARDWARE_ERROR, code).payload
    assert fault.fixed_by is FixedBy.TECHNICIAN
    assert events.wait("read_failed").payload.code == code  # the citizen at the reader is told too
    assert events.wait("identity").payload == expected(" ")  # the module came back: read again
    assert reader.status().state is DeviceState.READY
    if sw3 in (0x21, 0x60, 0x55):
        assert emulator.count(RESET) == 1


@pytest.mark.parametrize("sw3", [0x10, 0x11, 0x24, 0x91])  # link errors at the module, unknown error, field empty
def test_transient_statuses_are_retried_without_troubling_anyone(
    emulator: SamEmulator, reader: SamIdReader, events: Events, sw3: int
) -> None:
    emulator.fail_next(sw3, READ_TEXT_PHOTO)
    emulator.place(sam_cards.MAINLAND)
    assert events.wait("identity").payload == expected(" ")
    assert not events.of("read_failed")
    assert not [e for e in events.of("state") if e.payload.state is DeviceState.HARDWARE_ERROR]
    assert emulator.count(RESET) == (0 if sw3 == 0x91 else 1)


# -- faults of the module and the line -------------------------------------------------------------


def test_checksum_errors_reset_the_module_and_the_read_recovers(
    emulator: SamEmulator, reader: SamIdReader, events: Events
) -> None:
    emulator.corrupt_answers(2)  # the next find card and the reset's answer
    emulator.place(sam_cards.MAINLAND)
    assert events.wait("identity").payload == expected(" ")
    assert emulator.count(RESET) >= 1
    assert not events.of("read_failed")
    assert reader.status().state is DeviceState.READY


def test_a_corrupted_text_answer_is_never_parsed(emulator: SamEmulator, reader: SamIdReader, events: Events) -> None:
    emulator.corrupt_answers(1, READ_TEXT_PHOTO)
    emulator.place(sam_cards.MAINLAND)
    assert events.wait("identity").payload == expected(" ")  # the good copy, read after a reset
    assert len(events.of("identity")) == 1
    assert emulator.count(READ_TEXT_PHOTO) == 2 and emulator.count(RESET) == 1


def test_a_success_answer_of_the_wrong_kind_is_skipped_as_stale(
    emulator: SamEmulator, reader: SamIdReader, events: Events
) -> None:
    emulator.fail_next(0x90, FIND_CARD)  # 90 cannot answer find card: a late answer to something else
    emulator.place(sam_cards.PERMIT, "J")
    assert events.wait("identity").payload == expected("J")
    assert reader._link.stale_answers == 1


def test_checksum_errors_that_persist_call_a_technician(
    emulator: SamEmulator, reader: SamIdReader, events: Events
) -> None:
    emulator.corrupt_answers(1000)
    status = events.wait_state(DeviceState.HARDWARE_ERROR, "sam.link_error").payload
    assert status.fixed_by is FixedBy.TECHNICIAN
    emulator.corrupt_answers(0)
    eventually(lambda: reader.status().state is DeviceState.READY, timeout=5)
    assert reader.status().code == "card.place"


def test_silence_times_out_within_the_given_timeout(emulator: SamEmulator, reader: SamIdReader, events: Events) -> None:
    emulator.mute()
    started = time.monotonic()
    with pytest.raises(DeviceTimeout) as caught:
        reader.read_identity(timeout=1.0)
    elapsed = time.monotonic() - started
    assert elapsed <= 1.1
    assert isinstance(caught.value, SamNoAnswer) and caught.value.code == "sam.no_answer"
    status = events.wait_state(DeviceState.HARDWARE_ERROR, "sam.no_answer", timeout=5).payload
    assert status.fixed_by is FixedBy.TECHNICIAN
    emulator.unmute()
    eventually(lambda: reader.status().state is DeviceState.READY, timeout=5)
    assert emulator.count(RESET) >= 1


def test_a_slow_answer_within_the_budget_is_waited_for(
    emulator: SamEmulator, reader: SamIdReader, events: Events
) -> None:
    emulator.delay_next(0.2)  # the module's answer timeout is 0.3 s
    emulator.place(sam_cards.MAINLAND)
    assert events.wait("identity").payload == expected(" ")
    assert emulator.count(RESET) == 0


def test_an_answer_too_slow_is_a_fault_and_its_late_arrival_is_not_misread(
    emulator: SamEmulator, reader: SamIdReader, events: Events
) -> None:
    emulator.place(sam_cards.MAINLAND)
    events.wait("identity")
    emulator.remove()
    events.wait("card_removed")
    emulator.delay_next(0.5)  # longer than the budget: the late "no card" lands mid-reset
    emulator.place(sam_cards.MAINLAND_DATED)
    assert events.wait("identity", count=2).payload == dataclasses.replace(
        sam_cards.MAINLAND_DATED, photo=DEFAULT_PHOTO
    )
    assert emulator.count(RESET) >= 1


# -- the serial port ----------------------------------------------------------------------------


def test_a_missing_port_is_disconnected_then_found(emulator: SamEmulator) -> None:
    emulator.unplug()
    device = fast_reader(emulator.port)
    log = Events(device)
    try:
        device.open()
        status = device.status()
        assert (status.state, status.code, status.fixed_by) == (
            DeviceState.DISCONNECTED,
            "sam.disconnected",
            FixedBy.TECHNICIAN,
        )
        emulator.plug()
        log.wait_state(DeviceState.READY, "card.place")
    finally:
        device.close()


def test_unplugging_with_a_card_on_the_reader(emulator: SamEmulator, reader: SamIdReader, events: Events) -> None:
    emulator.place(sam_cards.MAINLAND)
    events.wait("identity")
    emulator.unplug()
    events.wait("card_removed")
    events.wait_state(DeviceState.DISCONNECTED, "sam.disconnected")
    assert not reader.card_present()
    emulator.plug()
    assert events.wait("identity", count=2).payload == expected(" ")  # the card is still there: read again
    assert events.kinds() == ["card_inserted", "identity", "card_removed", "card_inserted", "identity"]


def test_open_close_200_times_leaks_no_thread_and_no_descriptor(emulator: SamEmulator) -> None:
    device = fast_reader(emulator.port)

    def cycle() -> None:
        device.open()
        eventually(lambda: device.status().state is DeviceState.READY, timeout=2)
        device.close()

    cycle()  # warm up: lazily created module state, logging handlers…
    fds, threads = len(os.listdir("/proc/self/fd")), threading.active_count()
    for _ in range(200):
        cycle()
    assert len(os.listdir("/proc/self/fd")) == fds
    assert threading.active_count() == threads
    assert emulator.count(STATUS) >= 201


def test_the_log_holds_no_personal_data(
    emulator: SamEmulator, events: Events, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    emulator.fail_next(0x41, READ_TEXT_PHOTO)
    emulator.place(sam_cards.MAINLAND)
    events.wait("identity")
    emulator.remove()
    events.wait("card_removed")
    emulator.place(dataclasses.replace(sam_cards.MAINLAND, id_number="110105194912310021"))
    events.wait("read_failed")
    text = caplog.text
    assert "card read in" in text  # the log is not simply empty
    for secret in ("王秀英", "11010519491231", "1949", "北京市", "朝阳"):
        assert secret not in text
