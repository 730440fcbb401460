"""The real PC/SC stack with our virtual cards: pcscd + vpcd + pyscard, no kiosk driver yet.

These tests pin down what a kiosk PC/SC driver will meet (status words, PC/SC return codes,
timings), so that the driver is written against facts; docs/pcsc-testing.md summarises them.
Timings are printed (run with -s to see them) and only loosely bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import smartcard.scard as sc

from tests.support.apdu import status_word
from tests.support.pcsc_fixtures import CITIZEN_SLOT, SECOND_SLOT
from tests.support.pcscd import PcscdServer
from tests.support.ssse_records import SSSE_AID, SocialSecurityIdentity, ssse_records, tlv
from tests.support.vpcd_card import CardFaults, CardSlot, SocialSecurityCard, UnknownCard
from tests.support.vpcd_slot import FakeVpcdReader

# A PC/SC call stuck in C cannot be interrupted by pytest-timeout's default SIGALRM: the thread
# method dumps every stack and ends the run instead of letting CI hang until its own limit.
pytestmark = pytest.mark.timeout(60, method="thread")

LONG_NAME = "阿卜杜热合曼·买买提依明·阿不都热西提"  # 36 GBK bytes: needs the 4E extension record
SELECT_SSSE = bytes.fromhex("00A404000F") + SSSE_AID


# --- small pyscard helpers: what a driver does, written out plainly --------------------------


def establish() -> int:
    hr, ctx = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
    assert hr == sc.SCARD_S_SUCCESS, sc.SCardGetErrorMessage(hr)
    return ctx


def wait_state(ctx: int, reader: str, flag: int, timeout: float = 5.0) -> float:
    """Seconds until `reader` shows `flag` (SCARD_STATE_PRESENT / _EMPTY), by SCardGetStatusChange."""
    start = time.perf_counter()
    current = sc.SCARD_STATE_UNAWARE
    while time.perf_counter() - start < timeout:
        hr, states = sc.SCardGetStatusChange(ctx, 200, [(reader, current)])
        if hr == sc.SCARD_S_SUCCESS:
            current = states[0][1]
            if current & flag:
                return time.perf_counter() - start
        elif hr != sc.SCARD_E_TIMEOUT:
            raise AssertionError(f"SCardGetStatusChange: {sc.SCardGetErrorMessage(hr)}")
    raise AssertionError(f"{reader} did not reach state {flag:#x} in {timeout} s")


def connect(ctx: int, reader: str) -> tuple[int, int]:
    """(card handle, PCI to transmit with) for whichever of T=0/T=1 pcscd negotiated."""
    hr, handle, protocol = sc.SCardConnect(
        ctx, reader, sc.SCARD_SHARE_SHARED, sc.SCARD_PROTOCOL_T0 | sc.SCARD_PROTOCOL_T1
    )
    assert hr == sc.SCARD_S_SUCCESS, sc.SCardGetErrorMessage(hr)
    return handle, sc.SCARD_PCI_T0 if protocol == sc.SCARD_PROTOCOL_T0 else sc.SCARD_PCI_T1


def in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Runs a PC/SC call that may block for good in a daemon thread, so the test never hangs."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    return thread, result


def transmit(handle: int, pci: int, apdu: bytes) -> bytes:
    hr, response = sc.SCardTransmit(handle, pci, list(apdu))
    # On failure pyscard 2.3.1 hands back ~64 KiB of uninitialised buffer: never look at it.
    assert hr == sc.SCARD_S_SUCCESS, sc.SCardGetErrorMessage(hr)
    return bytes(response)


def exchange(handle: int, pci: int, apdu: bytes) -> bytes:
    """One command as a driver should send it: resend on 6Cxx, fetch 61xx with GET RESPONSE."""
    response = transmit(handle, pci, apdu)
    if response[-2] == 0x6C:
        response = transmit(handle, pci, apdu[:4] + response[-1:])
    data = b""
    while response[-2] == 0x61:
        data += response[:-2]
        response = transmit(handle, pci, bytes([0x00, 0xC0, 0x00, 0x00, response[-1]]))
    return data + response


def read_all(handle: int, pci: int, identity: SocialSecurityIdentity) -> None:
    """Reads every EF05/EF06 item the three documented ways and checks each TLV."""
    expected = ssse_records(identity)
    assert exchange(handle, pci, SELECT_SSSE)[-2:] == b"\x90\x00"
    assert exchange(handle, pci, bytes.fromhex("00A4020002EF05")) == b"\x90\x00"
    for number, (tag, value) in enumerate(expected[0x05], start=1):  # by record number, exact Le
        assert exchange(handle, pci, bytes([0x00, 0xB2, number, 0x04, len(value) + 2])) == tlv(tag, value) + b"\x90\x00"
    assert exchange(handle, pci, bytes.fromhex("00A4020002EF06")) == b"\x90\x00"
    for tag, value in expected[0x06]:  # by tag (identifier form, P2 = 00), Le = 00 (6Cxx on T=0)
        assert exchange(handle, pci, bytes([0x00, 0xB2, tag, 0x00, 0x00])) == tlv(tag, value) + b"\x90\x00"
    for sfi, records in expected.items():  # by SFI without selecting the EF
        for number, (tag, value) in enumerate(records, start=1):
            apdu = bytes([0x00, 0xB2, number, sfi << 3 | 0x04, len(value) + 2])
            assert exchange(handle, pci, apdu) == tlv(tag, value) + b"\x90\x00"


# --- the stack itself -------------------------------------------------------------------------


def test_pcscd_lists_the_reader_with_both_vpcd_slots_empty(pcscd_server: PcscdServer) -> None:
    ctx = establish()
    hr, readers = sc.SCardListReaders(ctx, [])
    assert hr == sc.SCARD_S_SUCCESS
    # vpcd always offers two slots per reader.conf entry, on port P and P + 1.
    assert readers == [pcscd_server.pcsc_name(CITIZEN_SLOT, 0), pcscd_server.pcsc_name(CITIZEN_SLOT, 1)]
    assert readers[0] == "Kiosk Citizen Slot 00 00"
    hr, states = sc.SCardGetStatusChange(ctx, 0, [(name, sc.SCARD_STATE_UNAWARE) for name in readers])
    assert hr == sc.SCARD_S_SUCCESS
    assert all(state & sc.SCARD_STATE_EMPTY for _, state, _ in states)
    sc.SCardReleaseContext(ctx)


def test_socket_is_found_through_pcsclite_csock_name_only(pcscd_server: PcscdServer, tmp_path: Path) -> None:
    """The private pcscd is reached only through the variable, and libpcsclite reads it once per
    process: changing it after the first PC/SC call still talks to the first pcscd."""
    other = PcscdServer(["Other Reader"], tmp_path / "other")  # its own socket folder
    script = (
        "import json, os, smartcard.scard as s\n"
        "def names():\n"
        "    hr, ctx = s.SCardEstablishContext(s.SCARD_SCOPE_USER)\n"
        "    return hr if hr else s.SCardListReaders(ctx, [])[1]\n"
        "first = names()\n"
        "os.environ['PCSCLITE_CSOCK_NAME'] = os.environ['SECOND_SOCKET']\n"
        "print(json.dumps([first, names()]))\n"
    )
    with other:
        env = {**os.environ, **other.env, "SECOND_SOCKET": str(pcscd_server.socket_path)}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        first, after_change = json.loads(done.stdout)
        assert first == ["Other Reader 00 00", "Other Reader 00 01"]
        assert after_change == first  # pinned at the first call
        env = {k: v for k, v in os.environ.items() if k != "PCSCLITE_CSOCK_NAME"}
        done = subprocess.run(
            [sys.executable, "-c", script],
            env={**env, "SECOND_SOCKET": "/nonexistent"},
            capture_output=True,
            text=True,
            check=True,
        )
        assert "Kiosk Citizen Slot 00 00" not in done.stdout  # the default path is never ours


def test_inserted_card_is_present_with_its_atr(pcscd_server: PcscdServer, citizen_slot: CardSlot) -> None:
    ctx = establish()
    reader = pcscd_server.pcsc_name(CITIZEN_SLOT)
    card = SocialSecurityCard()
    citizen_slot.insert(card)
    waited = wait_state(ctx, reader, sc.SCARD_STATE_PRESENT)
    hr, states = sc.SCardGetStatusChange(ctx, 0, [(reader, sc.SCARD_STATE_UNAWARE)])
    assert hr == sc.SCARD_S_SUCCESS
    assert bytes(states[0][2]) == card.atr
    handle, _ = connect(ctx, reader)
    hr, name, _state, _protocol, atr = sc.SCardStatus(handle)
    assert hr == sc.SCARD_S_SUCCESS and name == reader and bytes(atr) == card.atr
    print(f"\ninsert -> present: {waited * 1000:.0f} ms")
    sc.SCardReleaseContext(ctx)


@pytest.mark.parametrize("protocol", ["T=1", "T=0"])
def test_reads_every_item_of_a_long_name_card(pcscd_server: PcscdServer, citizen_slot: CardSlot, protocol: str) -> None:
    identity = SocialSecurityIdentity(name=LONG_NAME, id_number="440524188001010014", sex="1", birth_date="18800101")
    card = SocialSecurityCard(identity, protocol=protocol)  # type: ignore[arg-type]
    citizen_slot.insert(card)
    ctx = establish()
    reader = pcscd_server.pcsc_name(CITIZEN_SLOT)
    wait_state(ctx, reader, sc.SCARD_STATE_PRESENT)
    handle, pci = connect(ctx, reader)
    assert pci == (sc.SCARD_PCI_T0 if protocol == "T=0" else sc.SCARD_PCI_T1)  # pcscd negotiated from the ATR
    first = transmit(handle, pci, SELECT_SSSE)
    assert (status_word(first) >> 8 == 0x61) if protocol == "T=0" else (first == b"\x90\x00")
    read_all(handle, pci, identity)
    name = exchange(handle, pci, bytes.fromhex("00B2093020"))[2:-2]
    extension = exchange(handle, pci, bytes.fromhex("00B24E3016"))[2:-2]
    assert (name + extension).rstrip(b"\x00").decode("gbk") == LONG_NAME
    sc.SCardReleaseContext(ctx)


def test_wrong_le_answers_6cxx_and_the_resend_reads(pcscd_server: PcscdServer, citizen_slot: CardSlot) -> None:
    citizen_slot.insert(SocialSecurityCard())
    ctx = establish()
    reader = pcscd_server.pcsc_name(CITIZEN_SLOT)
    wait_state(ctx, reader, sc.SCARD_STATE_PRESENT)
    handle, pci = connect(ctx, reader)
    transmit(handle, pci, SELECT_SSSE)
    assert transmit(handle, pci, bytes.fromhex("00B2072C05")) == b"\x6c\x0b"  # card number: 9 bytes + tag + len
    assert transmit(handle, pci, bytes.fromhex("00B2072C0B"))[:2] == b"\x07\x09"
    sc.SCardReleaseContext(ctx)


def test_protected_files_unknown_cards_and_61xx_readers(pcscd_server: PcscdServer, citizen_slot: CardSlot) -> None:
    ctx = establish()
    reader = pcscd_server.pcsc_name(CITIZEN_SLOT)
    cases = [
        (SocialSecurityCard(), bytes.fromhex("00B2013C00"), b"\x69\x82"),  # EF07 fingerprint
        (SocialSecurityCard(), bytes.fromhex("00B2014400"), b"\x69\x82"),  # EF08 photo
        (SocialSecurityCard(ef06_needs_auth=True), bytes.fromhex("00B2013400"), b"\x69\x82"),  # 3rd generation
        (SocialSecurityCard(), bytes.fromhex("0020000003123456"), b"\x6d\x00"),  # VERIFY is not played
        (SocialSecurityCard(wrong_le="61"), bytes.fromhex("00B2072C05"), b"\x61\x0b"),  # fetch with 00C0
    ]
    for card, apdu, expected in cases:
        citizen_slot.insert(card)
        wait_state(ctx, reader, sc.SCARD_STATE_PRESENT)
        handle, pci = connect(ctx, reader)
        transmit(handle, pci, SELECT_SSSE)
        assert transmit(handle, pci, apdu) == expected, apdu.hex()
        citizen_slot.remove()
        wait_state(ctx, reader, sc.SCARD_STATE_EMPTY)
        sc.SCardDisconnect(handle, sc.SCARD_LEAVE_CARD)
    unknown = UnknownCard()
    citizen_slot.insert(unknown)
    wait_state(ctx, reader, sc.SCARD_STATE_PRESENT)
    handle, pci = connect(ctx, reader)
    assert transmit(handle, pci, SELECT_SSSE) == b"\x6a\x82"
    assert unknown.commands == [SELECT_SSSE]
    sc.SCardReleaseContext(ctx)


def test_removed_card_is_absent_and_its_handle_answers_removed(
    pcscd_server: PcscdServer, citizen_slot: CardSlot
) -> None:
    ctx = establish()
    reader = pcscd_server.pcsc_name(CITIZEN_SLOT)
    card = SocialSecurityCard()
    citizen_slot.insert(card)
    wait_state(ctx, reader, sc.SCARD_STATE_PRESENT)
    handle, pci = connect(ctx, reader)
    citizen_slot.remove()
    # Before pcscd's next poll the transmit reaches the closed socket: NOT_TRANSACTED ...
    assert sc.SCardTransmit(handle, pci, list(SELECT_SSSE))[0] == sc.SCARD_E_NOT_TRANSACTED
    waited = wait_state(ctx, reader, sc.SCARD_STATE_EMPTY)
    # ... and once pcscd has seen the slot empty, REMOVED_CARD, also after a new card comes in.
    assert sc.SCardTransmit(handle, pci, list(SELECT_SSSE))[0] == sc.SCARD_W_REMOVED_CARD
    citizen_slot.insert(card)
    wait_state(ctx, reader, sc.SCARD_STATE_PRESENT)
    assert sc.SCardTransmit(handle, pci, list(SELECT_SSSE))[0] == sc.SCARD_W_REMOVED_CARD
    hr, _ = sc.SCardReconnect(handle, sc.SCARD_SHARE_SHARED, sc.SCARD_PROTOCOL_T1, sc.SCARD_RESET_CARD)
    assert hr == sc.SCARD_S_SUCCESS
    assert transmit(handle, pci, SELECT_SSSE) == b"\x90\x00"
    print(f"\nremove -> absent: {waited * 1000:.0f} ms")
    sc.SCardReleaseContext(ctx)


def test_pcscd_killed_and_restarted(pcscd_server: PcscdServer) -> None:
    """What an old context answers when pcscd dies and comes back (pcsc-lite 1.9.9)."""
    reader = pcscd_server.pcsc_name(CITIZEN_SLOT)
    with CardSlot(pcscd_server.port(CITIZEN_SLOT), follow_restarts=True) as slot:
        slot.insert(SocialSecurityCard())
        old = establish()
        wait_state(old, reader, sc.SCARD_STATE_PRESENT)
        handle, pci = connect(old, reader)
        _, states = sc.SCardGetStatusChange(old, 0, [(reader, sc.SCARD_STATE_UNAWARE)])
        watcher, waited = in_thread(lambda: sc.SCardGetStatusChange(old, 0xFFFFFFFF, [(reader, states[0][1])])[0])
        time.sleep(0.3)
        pcscd_server.kill()
        watcher.join(5)
        assert waited == [sc.SCARD_F_COMM_ERROR]  # a blocked wait ends at once
        assert sc.SCardListReaders(old, [])[0] == sc.SCARD_E_NO_SERVICE
        assert sc.SCardTransmit(handle, pci, list(SELECT_SSSE))[0] == sc.SCARD_E_NO_SERVICE
        assert sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)[0] == sc.SCARD_E_NO_SERVICE

        pcscd_server.start()
        # The old context never recovers, and still claims to be valid.
        assert sc.SCardIsValidContext(old) == sc.SCARD_S_SUCCESS
        assert sc.SCardListReaders(old, [])[0] == sc.SCARD_E_NO_SERVICE
        assert sc.SCardGetStatusChange(old, 0, [(reader, sc.SCARD_STATE_UNAWARE)])[0] == sc.SCARD_E_NO_SERVICE
        assert sc.SCardTransmit(handle, pci, list(SELECT_SSSE))[0] == sc.SCARD_E_NO_SERVICE
        # Releasing it fails too, but drops it locally: from then on INVALID_HANDLE.
        assert sc.SCardReleaseContext(old) == sc.SCARD_E_NO_SERVICE
        assert sc.SCardIsValidContext(old) == sc.SCARD_E_INVALID_HANDLE
        assert sc.SCardListReaders(old, [])[0] == sc.SCARD_E_INVALID_HANDLE
        # A new context works, and the card that stayed in the slot is seen again.
        new = establish()
        waited = wait_state(new, reader, sc.SCARD_STATE_PRESENT)
        handle, pci = connect(new, reader)
        assert transmit(handle, pci, SELECT_SSSE) == b"\x90\x00"
        print(f"\nrestart -> card present on a new context: {waited * 1000:.0f} ms")
        sc.SCardReleaseContext(new)


def test_two_readers_at_once(pcscd_two_readers: PcscdServer) -> None:
    """Two reader.conf entries, plus vpcd's second slot of the first: three independent readers."""
    server = pcscd_two_readers
    people = {
        (CITIZEN_SLOT, 0): SocialSecurityIdentity(card_number="A00000001"),
        (CITIZEN_SLOT, 1): SocialSecurityIdentity(card_number="C00000003", name="王五", sex="1"),
        (SECOND_SLOT, 0): SocialSecurityIdentity(card_number="B00000002", name="李四", sex="1"),
    }
    slots = [CardSlot(server.port(name, slot)) for name, slot in people]
    try:
        for card_slot, identity in zip(slots, people.values(), strict=True):
            card_slot.insert(SocialSecurityCard(identity))
        ctx = establish()
        handles = {}
        for name, slot in people:
            wait_state(ctx, server.pcsc_name(name, slot), sc.SCARD_STATE_PRESENT)
            handles[name, slot] = connect(ctx, server.pcsc_name(name, slot))
        for key, identity in people.items():
            handle, pci = handles[key]
            transmit(handle, pci, SELECT_SSSE)
            assert transmit(handle, pci, bytes.fromhex("00B2072C0B"))[2:11] == identity.card_number.encode()
        sc.SCardReleaseContext(ctx)
    finally:
        for card_slot in slots:
            card_slot.close()


def test_timings_insert_remove_and_apdu_round_trip(pcscd_server: PcscdServer, citizen_slot: CardSlot) -> None:
    ctx = establish()
    reader = pcscd_server.pcsc_name(CITIZEN_SLOT)
    inserts, removals = [], []
    for _ in range(3):
        citizen_slot.insert(SocialSecurityCard())
        inserts.append(wait_state(ctx, reader, sc.SCARD_STATE_PRESENT))
        citizen_slot.remove()
        removals.append(wait_state(ctx, reader, sc.SCARD_STATE_EMPTY))
    citizen_slot.insert(SocialSecurityCard())
    wait_state(ctx, reader, sc.SCARD_STATE_PRESENT)
    handle, pci = connect(ctx, reader)
    transmit(handle, pci, SELECT_SSSE)
    start = time.perf_counter()
    for _ in range(40):
        transmit(handle, pci, bytes.fromhex("00B2072C0B"))
    forty = time.perf_counter() - start
    print(
        f"\ninsert -> present ms: {[round(t * 1000) for t in inserts]}"
        f"\nremove -> absent ms: {[round(t * 1000) for t in removals]}"
        f"\n40 APDUs: {forty * 1000:.1f} ms ({forty / 40 * 1000:.2f} ms each)"
    )
    assert max(inserts + removals) < 2.0  # pcscd polls every 400 ms
    assert forty < 1.5  # the delayed-ACK stall would make this ~1.9 s
    sc.SCardReleaseContext(ctx)


# --- scripted card faults ---------------------------------------------------------------------


def test_card_pulled_mid_read(pcscd_server: PcscdServer, citizen_slot: CardSlot) -> None:
    ctx = establish()
    reader = pcscd_server.pcsc_name(CITIZEN_SLOT)
    card = SocialSecurityCard(faults=CardFaults(pull_after=2))
    citizen_slot.insert(card)
    wait_state(ctx, reader, sc.SCARD_STATE_PRESENT)
    handle, pci = connect(ctx, reader)
    transmit(handle, pci, SELECT_SSSE)
    transmit(handle, pci, bytes.fromhex("00A4020002EF05"))
    assert citizen_slot.wait_out(2)
    assert sc.SCardTransmit(handle, pci, list(bytes.fromhex("00B2072C0B")))[0] == sc.SCARD_E_NOT_TRANSACTED
    wait_state(ctx, reader, sc.SCARD_STATE_EMPTY)
    citizen_slot.insert(card)  # the fault fired once: the same card now reads
    wait_state(ctx, reader, sc.SCARD_STATE_PRESENT)
    hr, _ = sc.SCardReconnect(handle, sc.SCARD_SHARE_SHARED, sc.SCARD_PROTOCOL_T1, sc.SCARD_RESET_CARD)
    assert hr == sc.SCARD_S_SUCCESS
    read_all(handle, pci, card.identity)
    sc.SCardReleaseContext(ctx)


def test_dead_card_answers_nothing_with_success(pcscd_server: PcscdServer, citizen_slot: CardSlot) -> None:
    ctx = establish()
    reader = pcscd_server.pcsc_name(CITIZEN_SLOT)
    citizen_slot.insert(SocialSecurityCard(faults=CardFaults(empty_answer_at=1)))
    wait_state(ctx, reader, sc.SCARD_STATE_PRESENT)
    handle, pci = connect(ctx, reader)
    assert transmit(handle, pci, SELECT_SSSE) == b""  # SCARD_S_SUCCESS and no SW: the card is gone
    with pytest.raises(ValueError):
        status_word(b"")
    wait_state(ctx, reader, sc.SCARD_STATE_EMPTY)
    sc.SCardReleaseContext(ctx)


def test_slow_card_answers_late(pcscd_server: PcscdServer, citizen_slot: CardSlot) -> None:
    ctx = establish()
    reader = pcscd_server.pcsc_name(CITIZEN_SLOT)
    citizen_slot.insert(SocialSecurityCard(faults=CardFaults(delay_s=0.3)))
    wait_state(ctx, reader, sc.SCARD_STATE_PRESENT)
    handle, pci = connect(ctx, reader)
    start = time.perf_counter()
    assert transmit(handle, pci, SELECT_SSSE) == b"\x90\x00"
    assert 0.3 <= time.perf_counter() - start < 1.5
    sc.SCardReleaseContext(ctx)


def test_hung_card_blocks_transmit_until_pulled(pcscd_server: PcscdServer, citizen_slot: CardSlot) -> None:
    """SCardTransmit cannot be cancelled. While it waits, other contexts still answer, but the
    first call made on its own context blocks while holding libpcsclite's process-wide lock, and
    from then on every PC/SC call of the process blocks (even SCardEstablishContext). Pulling the
    card frees everything; the transmit then "succeeds" with no bytes at all, like a dead card."""
    reader = pcscd_server.pcsc_name(CITIZEN_SLOT)
    ctx, watch = establish(), establish()
    citizen_slot.insert(SocialSecurityCard(faults=CardFaults(hang_at=2)))
    wait_state(watch, reader, sc.SCARD_STATE_PRESENT)
    handle, pci = connect(ctx, reader)
    transmit(handle, pci, SELECT_SSSE)

    def send() -> tuple[int, int]:
        hr, response = sc.SCardTransmit(handle, pci, list(SELECT_SSSE))
        return hr, len(response) if hr == sc.SCARD_S_SUCCESS else -1

    sender, sent = in_thread(send)
    sender.join(1.0)
    assert sender.is_alive()  # still waiting for the card
    hr, states = sc.SCardGetStatusChange(watch, 0, [(reader, sc.SCARD_STATE_UNAWARE)])
    assert hr == sc.SCARD_S_SUCCESS and states[0][1] & sc.SCARD_STATE_PRESENT  # another context answers
    same, _ = in_thread(lambda: sc.SCardGetStatusChange(ctx, 0, [(reader, sc.SCARD_STATE_UNAWARE)]))
    same.join(0.5)
    assert same.is_alive()  # a call on the busy context waits for the transmit ...
    other, _ = in_thread(lambda: sc.SCardGetStatusChange(watch, 0, [(reader, sc.SCARD_STATE_UNAWARE)]))
    other.join(0.5)
    assert other.is_alive()  # ... and now the whole process is stuck behind it
    citizen_slot.remove()
    for thread in (sender, same, other):
        thread.join(5)
        assert not thread.is_alive()
    assert sent == [(sc.SCARD_S_SUCCESS, 0)]
    wait_state(watch, reader, sc.SCARD_STATE_EMPTY)
    sc.SCardReleaseContext(ctx)
    sc.SCardReleaseContext(watch)


# --- the slot helper itself -------------------------------------------------------------------


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_card_slot_leaks_no_thread_or_fd_over_1000_cycles() -> None:
    card = SocialSecurityCard()
    with FakeVpcdReader() as reader, CardSlot(reader.port) as slot:
        threads, fds = threading.active_count(), _open_fds()
        for _ in range(1000):
            slot.insert(card)
            reader.accept()
            assert reader.get_atr() == card.atr
            slot.remove()
            assert reader.card_left()
            reader.drop()
        assert not slot.inserted
        assert threading.active_count() == threads
        assert _open_fds() == fds


def test_card_slot_cycles_against_real_pcscd(pcscd_server: PcscdServer, citizen_slot: CardSlot) -> None:
    ctx = establish()
    reader = pcscd_server.pcsc_name(CITIZEN_SLOT)
    threads, fds = threading.active_count(), _open_fds()
    for _ in range(5):
        citizen_slot.insert(SocialSecurityCard())
        wait_state(ctx, reader, sc.SCARD_STATE_PRESENT)
        citizen_slot.remove()
        wait_state(ctx, reader, sc.SCARD_STATE_EMPTY)
    assert threading.active_count() == threads
    assert _open_fds() == fds
    sc.SCardReleaseContext(ctx)
