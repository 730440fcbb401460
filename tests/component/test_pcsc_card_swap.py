"""A card that replaces another one is read, through the real stack (two bugs the soak work found).

Both failed against the driver as of 7342e45 and pass since 2ad9d72, which fixed them:

1. A card swapped while the monitor thread is busy. The monitor compared only "present now"
with "present before". If one card leaves and another arrives between two of its
SCardGetStatusChange calls, pcscd answers "present" with the event counter up by two: the driver
saw nothing new (no card_inserted, no read), the read already started for the first card failed
its swap check (card.removed), and the second card sat unread with card_present() True, so
read_identity() answered card.removed for a card in place. Here the monitor is held by a
listener (listeners run on its thread); the kiosk's own listener only hands events to the UI
loop, so in the field the window is a monitor thread starved for more than one pcscd poll
(~400 ms), or a swap within one poll.

2. A card inserted while the read of the card before it is still pending. `_start_read`
returned at once when a read for that reader was running, and nothing remembered the new card;
the old read then failed its counter check and the new card sat unread. Reads are serialised
through one worker, so a slow card in the other (contactless) reader is enough to keep the old
read pending. Fixing 1 alone runs into 2: the swap's read is dropped the same way.

3. Still open at 2ad9d72 (the last test fails): a read that ends just as its card is replaced.
`_read_and_report` gives the reader up (`_reading.discard`) and only then sets the state and
delivers, outside the lock. If the card is replaced in between, the new card's read starts,
delivers, and the old result is delivered after it: an identity event for a card that has left,
coming after card_removed, and `_last_identity` overwritten, so read_identity() returns the
PREVIOUS citizen's identity while the new citizen's card is in the reader. The window is the
state listeners' time (they run on the read thread) or a read thread starved for a pcscd poll or
two. (At 7342e45 the same test failed earlier: the second card was never read at all.)
"""

from __future__ import annotations

import threading
import time

import pytest

from kiosk.core.devices import DeviceEvent, DeviceState
from kiosk.peripherals.pcsc.reader import PcscCardReader
from tests.support.pcsc_fixtures import CITIZEN_SLOT, SECOND_SLOT
from tests.support.pcscd import PcscdServer
from tests.support.ssse_records import SocialSecurityIdentity
from tests.support.vpcd_card import CardFaults, CardSlot, SocialSecurityCard

FIRST = SocialSecurityIdentity(card_number="A00000001", id_number="11010519491231002X", name="张三")
SECOND = SocialSecurityIdentity(card_number="A00000002", id_number="440524188001010014", name="李四", sex="1")
STAFF = SocialSecurityIdentity(card_number="A00000003", id_number="110105194912310038", name="王五")


def wait_ready(device: PcscCardReader) -> None:
    deadline = time.monotonic() + 5
    while device.status().state is not DeviceState.READY:
        assert time.monotonic() < deadline, device.status()
        time.sleep(0.01)


def wait_identity(device: PcscCardReader, events: list[DeviceEvent], name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not any(e.kind == "identity" and e.payload.name == name for e in events):
        if time.monotonic() > deadline:
            kinds = [e.kind for e in events if e.kind != "state"]
            raise AssertionError(
                f"the card in the reader was never read; driver events: {kinds}, card_present()={device.card_present()}"
            )
        time.sleep(0.05)


def wait_pcscd(reader: str, present: bool, timeout: float = 5.0) -> None:
    """Until pcscd itself reports the slot full or empty (from a context of the test's)."""
    from smartcard import scard as sc

    hresult, context = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
    assert hresult == sc.SCARD_S_SUCCESS
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hresult, states = sc.SCardGetStatusChange(context, 0, [(reader, sc.SCARD_STATE_UNAWARE)])
            assert hresult == sc.SCARD_S_SUCCESS, sc.SCardGetErrorMessage(hresult)
            if bool(states[0][1] & sc.SCARD_STATE_PRESENT) == present:
                return
            time.sleep(0.02)
        raise AssertionError(f"pcscd did not see {reader} {'full' if present else 'empty'} in {timeout} s")
    finally:
        sc.SCardReleaseContext(context)


@pytest.mark.timeout(60, method="thread")
def test_a_card_swapped_while_the_monitor_is_busy_is_still_read(
    pcscd_server: PcscdServer, citizen_slot: CardSlot
) -> None:
    reader = pcscd_server.pcsc_name(CITIZEN_SLOT)
    device = PcscCardReader("card_reader", reader="kiosk citizen*", read_timeout=2.0)
    events: list[DeviceEvent] = []
    stalled, release = threading.Event(), threading.Event()

    def slow_listener(event: DeviceEvent) -> None:
        events.append(event)
        if event.kind == "card_inserted" and not stalled.is_set():
            stalled.set()
            release.wait(10)  # the monitor thread is held here

    device.subscribe(slow_listener)
    device.open()
    try:
        wait_ready(device)
        citizen_slot.insert(SocialSecurityCard(FIRST))
        assert stalled.wait(5)
        citizen_slot.remove()  # the first card goes...
        wait_pcscd(reader, present=False)
        citizen_slot.insert(SocialSecurityCard(SECOND))  # ...another one comes, and stays
        wait_pcscd(reader, present=True)
        release.set()
        wait_identity(device, events, SECOND.name, timeout=5)
    finally:
        release.set()
        device.close()


@pytest.mark.timeout(60, method="thread")
def test_a_card_inserted_while_the_last_ones_read_is_pending_is_still_read(pcscd_two_readers: PcscdServer) -> None:
    server = pcscd_two_readers
    citizen_reader = server.pcsc_name(CITIZEN_SLOT)
    device = PcscCardReader("card_reader", reader="kiosk citizen*", contactless_reader="kiosk staff*", read_timeout=5.0)
    events: list[DeviceEvent] = []
    device.subscribe(events.append)
    device.open()
    try:
        wait_ready(device)
        with CardSlot(server.port(CITIZEN_SLOT)) as citizen, CardSlot(server.port(SECOND_SLOT)) as contactless:
            # A slow card on the contactless reader holds the one read worker for ~2.5 s (17 APDUs).
            contactless.insert(SocialSecurityCard(STAFF, faults=CardFaults(delay_s=0.15)))
            wait_pcscd(server.pcsc_name(SECOND_SLOT), present=True)
            citizen.insert(SocialSecurityCard(FIRST))  # its read waits for the worker
            wait_pcscd(citizen_reader, present=True)
            citizen.remove()  # the citizen takes it back...
            wait_pcscd(citizen_reader, present=False)
            citizen.insert(SocialSecurityCard(SECOND))  # ...and puts in another one, which stays
            wait_pcscd(citizen_reader, present=True)
            wait_identity(device, events, STAFF.name, timeout=10)  # the slow card itself reads fine
            wait_identity(device, events, SECOND.name, timeout=5)
    finally:
        device.close()


@pytest.mark.timeout(60, method="thread")
def test_a_read_that_ends_as_its_card_is_replaced_never_delivers_after_the_new_one(
    pcscd_server: PcscdServer, citizen_slot: CardSlot
) -> None:
    reader = pcscd_server.pcsc_name(CITIZEN_SLOT)
    device = PcscCardReader("card_reader", reader="kiosk citizen*", read_timeout=2.0)
    events: list[DeviceEvent] = []
    stalled, release = threading.Event(), threading.Event()

    def slow_listener(event: DeviceEvent) -> None:
        events.append(event)
        # The first read's thread, after it let go of the reader and before it delivers.
        if event.kind == "state" and event.payload.code == "card.present" and not stalled.is_set():
            stalled.set()
            release.wait(10)

    device.subscribe(slow_listener)
    device.open()
    try:
        wait_ready(device)
        citizen_slot.insert(SocialSecurityCard(FIRST))
        assert stalled.wait(5)
        citizen_slot.remove()
        wait_pcscd(reader, present=False)
        citizen_slot.insert(SocialSecurityCard(SECOND))
        wait_identity(device, events, SECOND.name, timeout=5)
        release.set()
        time.sleep(0.3)
        after_removal = [e for e in events[[e.kind for e in events].index("card_removed") :] if e.kind == "identity"]
        assert [e.payload.name for e in after_removal] == [SECOND.name], "a gone card's identity came after it left"
        assert device.read_identity(timeout=1).name == SECOND.name
    finally:
        release.set()
        device.close()
