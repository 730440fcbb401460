"""The kiosk's PC/SC driver through the real stack: pcscd + vpcd + our social security cards."""

from __future__ import annotations

import datetime as dt
import os
import queue
import threading
import time
from collections.abc import Iterator

import pytest

from kiosk.core.devices import DeviceEvent, DeviceState
from kiosk.core.identity import CardType, Identity
from kiosk.peripherals.cards.pcsc.reader import PcscCardReader
from tests.support.pcsc_fixtures import CITIZEN_SLOT, SECOND_SLOT
from tests.support.pcscd import PcscdServer
from tests.support.ssse_records import SocialSecurityIdentity
from tests.support.vpcd_card import CardFaults, CardSlot, SocialSecurityCard, UnknownCard

pytestmark = pytest.mark.timeout(120, method="thread")  # a PC/SC call stuck in C ignores SIGALRM

HOLDER = SocialSecurityIdentity(
    card_number="A12345678",
    id_number="440524188001010014",
    name="阿卜杜热合曼·买买提依明·阿不都热西提",  # needs the 4E name-extension record
    sex="1",
    ethnicity="05",
    birth_date="18800101",
    issue_date="20200315",
    expiry_date="20300315",
    card_region="440500",
)


class Events:
    """A reader's events, waited for by kind."""

    def __init__(self, reader: PcscCardReader) -> None:
        self.queue: queue.Queue[DeviceEvent] = queue.Queue()
        reader.subscribe(self.queue.put)

    def wait(self, *kinds: str, timeout: float = 5.0) -> DeviceEvent:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.queue.get(timeout=left)
            except queue.Empty:
                break
            if event.kind in kinds:
                return event
        raise AssertionError(f"no {kinds} event within {timeout} s")

    def kinds(self) -> list[str]:
        found = []
        while not self.queue.empty():
            found.append(self.queue.get().kind)
        return found


def wait_state(reader: PcscCardReader, state: DeviceState, timeout: float = 5.0) -> float:
    started = time.monotonic()
    while reader.status().state is not state:
        if time.monotonic() - started > timeout:
            raise AssertionError(f"reader is {reader.status()}, not {state} after {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture
def reader(pcscd_server: PcscdServer) -> Iterator[PcscCardReader]:
    device = PcscCardReader("card_reader", reader="kiosk citizen*", read_timeout=2.0)
    device.open()
    wait_state(device, DeviceState.READY)
    yield device
    device.close()


def test_a_social_security_card_gives_the_whole_identity(reader, citizen_slot) -> None:
    events = Events(reader)
    started = time.monotonic()
    citizen_slot.insert(SocialSecurityCard(HOLDER))
    identity: Identity = events.wait("identity").payload
    elapsed = time.monotonic() - started
    assert identity.card_type is CardType.SOCIAL_SECURITY
    assert identity.name == HOLDER.name
    assert identity.id_number == "440524188001010014"
    assert (identity.sex, identity.ethnicity) == ("男", "维吾尔")
    assert identity.birth_date == dt.date(1880, 1, 1)
    assert (identity.valid_from, identity.valid_to) == (dt.date(2020, 3, 15), dt.date(2030, 3, 15))
    assert identity.document_number == "A12345678"
    assert elapsed < 1.0, f"insert to identity took {elapsed:.3f} s"
    assert reader.card_present()
    citizen_slot.remove()
    events.wait("card_removed")
    assert not reader.card_present()


@pytest.mark.parametrize("protocol", ["T=0", "T=1"])
def test_t0_and_t1_cards_read_alike(reader, citizen_slot, protocol) -> None:
    events = Events(reader)
    citizen_slot.insert(SocialSecurityCard(HOLDER, protocol=protocol))
    assert events.wait("identity").payload.id_number == HOLDER.id_number


def test_a_slow_card_still_reads(reader, citizen_slot) -> None:
    events = Events(reader)
    citizen_slot.insert(SocialSecurityCard(HOLDER, faults=CardFaults(delay_s=0.05)))
    assert events.wait("identity", timeout=5).payload.name == HOLDER.name


@pytest.mark.parametrize(
    ("faults", "code"),
    [
        (CardFaults(pull_after=4), "card.removed"),
        (CardFaults(empty_answer_at=5), "card.removed"),
    ],
    ids=["pulled-mid-read", "empty-answer"],
)
def test_a_card_that_goes_mid_read_keeps_nothing(reader, citizen_slot, faults, code) -> None:
    events = Events(reader)
    citizen_slot.insert(SocialSecurityCard(HOLDER, faults=faults))
    failed = events.wait("read_failed", "identity")
    assert failed.kind == "read_failed" and failed.payload.code == code
    assert "identity" not in events.kinds()
    # Placed again, it reads whole.
    citizen_slot.wait_out(5)
    events.wait("card_removed")  # pcscd polls: a card out for less than ~0.4 s is never seen out
    citizen_slot.reinsert(SocialSecurityCard(HOLDER))
    assert events.wait("identity").payload.id_number == HOLDER.id_number


def test_unknown_and_locked_cards_say_so(reader, citizen_slot) -> None:
    events = Events(reader)
    citizen_slot.insert(UnknownCard())
    assert events.wait("read_failed").payload.code == "card.unknown"
    citizen_slot.remove()
    events.wait("card_removed")
    citizen_slot.insert(SocialSecurityCard(HOLDER, ef06_needs_auth=True))
    assert events.wait("read_failed").payload.code == "card.not_permitted"


def test_a_hung_card_is_abandoned_and_the_reader_recovers(reader, citizen_slot) -> None:
    events = Events(reader)
    started = time.monotonic()
    citizen_slot.insert(SocialSecurityCard(HOLDER, faults=CardFaults(hang_at=3)))
    failed = events.wait("read_failed", timeout=10)
    assert failed.payload.code == "card.timeout"
    assert time.monotonic() - started < reader.read_timeout + 1.5
    # The monitor never blocked: removal is seen, and the next card reads.
    citizen_slot.remove()
    events.wait("card_removed")
    citizen_slot.insert(SocialSecurityCard(HOLDER))
    assert events.wait("identity").payload.id_number == HOLDER.id_number


def test_pcscd_restart_is_survived_within_two_seconds(reader, pcscd_server, citizen_slot) -> None:
    pcscd_server.kill()
    wait_state(reader, DeviceState.DISCONNECTED)
    assert reader.status().code == "card.pcscd_down"
    pcscd_server.start()
    back_in = wait_state(reader, DeviceState.READY, timeout=5)
    assert back_in < 2.0, f"ready {back_in:.2f} s after pcscd was back"
    events = Events(reader)
    citizen_slot.reinsert(SocialSecurityCard(HOLDER))
    assert events.wait("identity").payload.id_number == HOLDER.id_number


def test_readers_are_chosen_by_name_not_index(pcscd_two_readers) -> None:
    # vpcd gives each configured reader two PC/SC names: "<name> 00 00" and "<name> 00 01".
    device = PcscCardReader("card_reader", reader="*staff slot 00 00", read_timeout=2.0)
    device.open()
    try:
        wait_state(device, DeviceState.READY)
        assert list(device.readers().values()) == ["citizen"]
        assert SECOND_SLOT.lower() in next(iter(device.readers())).lower()
        events = Events(device)
        with (
            CardSlot(pcscd_two_readers.port(CITIZEN_SLOT)) as other,
            CardSlot(pcscd_two_readers.port(SECOND_SLOT)) as mine,
        ):
            other.insert(SocialSecurityCard(SocialSecurityIdentity(name="别人")))
            mine.insert(SocialSecurityCard(HOLDER))
            assert events.wait("identity").payload.name == HOLDER.name
            time.sleep(0.5)
            assert "identity" not in events.kinds()  # the card in the other reader is not ours
    finally:
        device.close()


def test_no_matching_reader_is_a_technician_fault(pcscd_server) -> None:
    device = PcscCardReader("card_reader", reader="no such reader*")
    device.open()
    try:
        wait_state(device, DeviceState.DISCONNECTED)
        assert device.status().code == "card.reader_missing"
        assert device.status().fixed_by.value == "technician"
    finally:
        device.close()


def test_read_identity_waits_for_a_card_and_times_out_cleanly(reader, citizen_slot) -> None:
    with pytest.raises(Exception) as timeout:
        reader.read_identity(timeout=0.5)
    assert timeout.value.code == "card.none"
    threading.Timer(0.3, lambda: citizen_slot.insert(SocialSecurityCard(HOLDER))).start()
    assert reader.read_identity(timeout=5).id_number == HOLDER.id_number


def test_open_close_and_cards_leak_no_threads_or_files(pcscd_server, citizen_slot) -> None:
    def counts() -> tuple[int, int]:
        return threading.active_count(), len(os.listdir("/proc/self/fd"))

    device = PcscCardReader("card_reader", reader="kiosk citizen*", read_timeout=2.0)
    device.open()
    wait_state(device, DeviceState.READY)
    events = Events(device)
    citizen_slot.insert(SocialSecurityCard(HOLDER))
    events.wait("identity")
    citizen_slot.remove()
    events.wait("card_removed")
    device.close()
    before = counts()
    for _ in range(20):
        device.open()
        wait_state(device, DeviceState.READY)
        device.close()
    time.sleep(0.2)
    assert counts() == before
