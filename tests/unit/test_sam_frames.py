"""The SAM frame protocol: encoding, the incremental reader, resynchronisation, checksum and length errors."""

from __future__ import annotations

import pytest

from kiosk.peripherals.cards.sam.errors import FrameChecksumError, FrameError, FrameLengthError
from kiosk.peripherals.cards.sam.frames import (
    FIND_CARD,
    PREAMBLE,
    READ_TEXT_PHOTO,
    SELECT_CARD,
    STATUS,
    Answer,
    FrameReader,
    Request,
    encode_answer,
    encode_command,
    split_text_photo,
    wire_seconds,
)

# Frames as public readers and module logs show them, byte for byte.
KNOWN_COMMANDS = {
    FIND_CARD: "AAAAAA9669 0003 2001 22",
    SELECT_CARD: "AAAAAA9669 0003 2002 21",
    READ_TEXT_PHOTO: "AAAAAA9669 0003 3001 32",
    STATUS: "AAAAAA9669 0003 11FF ED",
}
NO_CARD = bytes.fromhex("AAAAAA9669 0004 000080 84")
FOUND = bytes.fromhex("AAAAAA9669 0008 00009F 00000000 97")
SELECTED = bytes.fromhex("AAAAAA9669 000C 000090 0000000000000000 9C")


def read_all(reader: FrameReader, data: bytes) -> list[bytes]:
    reader.feed(data)
    frames = []
    while (body := reader.next_frame()) is not None:
        frames.append(body)
    return frames


@pytest.mark.parametrize(("command", "wire"), KNOWN_COMMANDS.items())
def test_commands_encode_as_modules_expect(command: tuple[int, int], wire: str) -> None:
    assert encode_command(*command) == bytes.fromhex(wire)


def test_answers_encode_as_modules_send() -> None:
    assert encode_answer(0, 0, 0x80) == NO_CARD
    assert encode_answer(0, 0, 0x9F, bytes(4)) == FOUND
    assert encode_answer(0, 0, 0x90, bytes(8)) == SELECTED


def test_len_counts_everything_after_itself_and_chk_xors_after_the_preamble() -> None:
    frame = encode_command(0x30, 0x03, b"\x01\x02")
    assert frame[:5] == PREAMBLE
    assert int.from_bytes(frame[5:7], "big") == len(frame) - 7 == 5  # CMD PARA 2 data CHK
    chk = 0
    for byte in frame[5:-1]:
        chk ^= byte
    assert frame[-1] == chk


def test_round_trip_answer_with_text_and_photo() -> None:
    data = (256).to_bytes(2, "big") + (1024).to_bytes(2, "big") + bytes(range(256)) + bytes(1024)
    frame = encode_answer(0, 0, 0x90, data)
    assert len(frame) == 1295  # what a 30 01 answer is on the wire
    [body] = read_all(FrameReader(), frame)
    answer = Answer.from_body(body)
    assert (answer.sw1, answer.sw2, answer.sw3, answer.data) == (0, 0, 0x90, data)
    text, photo = split_text_photo(answer.data)
    assert text == bytes(range(256)) and photo == bytes(1024)


def test_round_trip_command() -> None:
    [body] = read_all(FrameReader(min_length=3), encode_command(0x30, 0x03, b"xy"))
    assert Request.from_body(body) == Request((0x30, 0x03), b"xy")


def test_frames_split_at_every_byte_boundary() -> None:
    stream = NO_CARD + FOUND + SELECTED
    for cut in range(len(stream) + 1):
        reader = FrameReader()
        frames = read_all(reader, stream[:cut]) + read_all(reader, stream[cut:])
        assert [f[2] for f in frames] == [0x80, 0x9F, 0x90], cut


def test_one_byte_at_a_time() -> None:
    reader = FrameReader()
    frames = [body for byte in FOUND + NO_CARD for body in read_all(reader, bytes([byte]))]
    assert [f[2] for f in frames] == [0x9F, 0x80]
    assert reader.pending == 0


@pytest.mark.parametrize(
    "garbage",
    [b"\x00\xff\x13", b"\xaa", b"\xaa\xaa\xaa", b"\xaa\xaa\xaa\x96", b"\xaa\xaa\xaa\xaa\xaa", b"\x96\x69\xaa\x96\x69"],
)
def test_resynchronises_on_garbage(garbage: bytes) -> None:
    reader = FrameReader()
    assert read_all(reader, garbage + FOUND + garbage + NO_CARD + garbage) == [FOUND[7:-1], NO_CARD[7:-1]]


def test_garbage_alone_is_dropped_but_a_partial_preamble_is_kept() -> None:
    reader = FrameReader()
    assert read_all(reader, b"\x01\x02\x03" * 100 + b"\xaa\xaa") == []
    assert reader.pending == 2  # could be the start of the next frame
    assert read_all(reader, FOUND[2:]) == [FOUND[7:-1]]


def test_bad_checksum_raises_and_the_next_frame_still_comes() -> None:
    reader = FrameReader()
    corrupt = SELECTED[:-1] + bytes([SELECTED[-1] ^ 0x01])
    reader.feed(corrupt + FOUND)
    with pytest.raises(FrameChecksumError) as caught:
        reader.next_frame()
    assert isinstance(caught.value, FrameError) and caught.value.code == "sam.link_error"
    assert caught.value.reset_module
    assert reader.next_frame() == FOUND[7:-1]
    assert reader.next_frame() is None


def test_a_flipped_data_bit_is_a_checksum_error() -> None:
    frame = bytearray(encode_answer(0, 0, 0x90, bytes(1284)))
    frame[500] ^= 0x10
    reader = FrameReader()
    reader.feed(bytes(frame))
    with pytest.raises(FrameChecksumError):
        reader.next_frame()


@pytest.mark.parametrize("length", [0, 1, 3, 4097, 0xFFFF])
def test_impossible_length_raises_then_resyncs(length: int) -> None:
    reader = FrameReader()
    reader.feed(PREAMBLE + length.to_bytes(2, "big") + b"\x00" * 8 + NO_CARD)
    with pytest.raises(FrameLengthError):
        reader.next_frame()
    assert reader.next_frame() == NO_CARD[7:-1]


def test_a_frame_cut_short_by_a_restart_is_skipped() -> None:
    """The module restarted mid-answer: the stump's LEN swallows the next frame, whose CHK then fails."""
    reader = FrameReader()
    stump = encode_answer(0, 0, 0x90, bytes(40))[:20]
    reader.feed(stump + NO_CARD + bytes(30))
    with pytest.raises(FrameChecksumError):
        reader.next_frame()
    assert reader.next_frame() == NO_CARD[7:-1]


def test_split_text_photo_refuses_wrong_sizes() -> None:
    with pytest.raises(FrameLengthError):
        split_text_photo(bytes(1283))
    wrong_header = (255).to_bytes(2, "big") + (1025).to_bytes(2, "big") + bytes(1280)
    with pytest.raises(FrameLengthError):
        split_text_photo(wrong_header)


def test_answer_repr_holds_no_card_text() -> None:
    answer = Answer(0, 0, 0x90, "王秀英".encode("utf-16-le"))
    assert "王" not in repr(answer) and "90" in repr(answer)


def test_wire_time_at_115200_baud() -> None:
    assert wire_seconds(1, 115200) == pytest.approx(86.8e-6, rel=1e-3)
    assert wire_seconds(1295, 115200) == pytest.approx(0.1124, rel=1e-3)
