"""The APDU layer's ISO 7816 fix-ups, against scripted card answers."""

from __future__ import annotations

import pytest

from kiosk.peripherals.cards.pcsc.apdu import MAX_GET_RESPONSE, CardGone, CardRefused, expect_ok, transmit

READ = bytes.fromhex("00B2080014")


class Card:
    """Answers from a script, and remembers what it was sent."""

    def __init__(self, *answers: str) -> None:
        self.answers = [bytes.fromhex(a) for a in answers]
        self.sent: list[bytes] = []

    def __call__(self, command: bytes) -> bytes:
        self.sent.append(command)
        return self.answers.pop(0) if self.answers else bytes.fromhex("6110")


def test_61xx_is_followed_with_get_response_and_the_data_joined() -> None:
    card = Card("6104", "0A0B0C0D6102", "0E0F9000")
    response = transmit(card, READ)
    assert (response.data.hex(), response.sw) == ("0a0b0c0d0e0f", 0x9000)
    assert card.sent[1:] == [bytes.fromhex("00C0000004"), bytes.fromhex("00C0000002")]


def test_a_runaway_61xx_chain_is_bounded() -> None:
    card = Card()  # answers 6110 for ever
    with pytest.raises(CardRefused):
        transmit(card, READ)
    assert len(card.sent) == 1 + MAX_GET_RESPONSE


def test_6cxx_resends_once_with_the_le_the_card_asked_for() -> None:
    card = Card("6C16", "08140000000000000000000000000000000000000000009000")
    assert transmit(card, READ).ok
    assert card.sent == [READ, bytes.fromhex("00B2080016")]


@pytest.mark.parametrize("answer", ["", "90"])
def test_an_answer_under_two_bytes_means_the_card_is_gone(answer: str) -> None:
    with pytest.raises(CardGone) as gone:
        transmit(Card(answer), READ)
    assert gone.value.code == "card.removed"


def test_refusals_keep_the_status_word_but_not_the_command_data() -> None:
    command = bytes.fromhex("00A404000F") + "秘密".encode("gbk") * 3 + b"abc"
    with pytest.raises(CardRefused) as refused:
        expect_ok(Card("6A82"), command)
    assert refused.value.sw == 0x6A82
    assert "秘密".encode("gbk").hex() not in str(refused.value)
