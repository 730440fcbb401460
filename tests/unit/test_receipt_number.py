"""Receipt numbers: terminal id + date + daily sequence + ISO 7064 MOD 37-2 check character."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest

from kiosk.core.receipt_number import KEEP_DAYS, PATTERN, ReceiptNumbers, check_char, format_number, is_valid

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
DAY = dt.date(2024, 5, 6)
NUMBER = format_number("DEMO0001", DAY, 12)


def reference_check_char(body: str) -> str:
    """ISO 7064 MOD 37-2 written the other way round: the weighted sum Σ vᵢ·2ⁱ (i from the right,
    starting at 1) plus the check value must be ≡ 1 (mod 37). Dashes are not part of the number."""
    values = [ALPHABET.index(ch) for ch in body if ch != "-"]
    total = sum(v * pow(2, i, 37) for i, v in enumerate(reversed(values), start=1))
    return next(c for c in ALPHABET if (total + ALPHABET.index(c)) % 37 == 1)


# -- format -------------------------------------------------------------------------------------


def test_format() -> None:
    assert NUMBER[:-1] == "DEMO0001-20240506-0012"
    assert NUMBER[-1] == check_char("DEMO0001-20240506-0012")
    assert PATTERN.match(NUMBER)
    assert is_valid(NUMBER)


def test_sequence_is_padded_to_four_and_grows_past_it() -> None:
    assert format_number("DEMO0001", DAY, 1)[:-1].endswith("-0001")
    assert format_number("DEMO0001", DAY, 9999)[:-1].endswith("-9999")
    big = format_number("DEMO0001", DAY, 10000)
    assert big[:-1].endswith("-10000")
    assert is_valid(big)


@pytest.mark.parametrize("body", ["DEMO0001-20240506-0012", "HALL42-20000101-0001", "ABCDEF123456-20991231-999999"])
def test_check_char_matches_the_standard(body: str) -> None:
    assert check_char(body) == reference_check_char(body)


def test_check_char_ignores_dashes() -> None:
    assert check_char("DEMO0001-20240506-0012") == check_char("DEMO0001202405060012")


def test_star_is_a_possible_check_character_and_valid() -> None:
    with_star = next(n for n in (format_number("DEMO0001", DAY, s) for s in range(1, 2000)) if n.endswith("*"))
    assert is_valid(with_star)


# -- is_valid -----------------------------------------------------------------------------------


def test_is_valid_tolerates_case_and_surrounding_space() -> None:
    assert is_valid(f"  {NUMBER.lower()}\n")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "DEMO0001-20240506-0012",  # no check character
        "DEMO000120240506012K",  # no dashes
        "DEM01-20240506-0012K",  # terminal id too short
        "DEMO0001-2024056-0012K",  # date too short
        "DEMO0001-20240506-012K",  # sequence too short
        "DEMO0001-20240506-0012-K",
    ],
)
def test_is_valid_refuses_malformed(text: str) -> None:
    assert not is_valid(text)


def test_every_single_character_change_is_caught() -> None:
    caught = 0
    for position, original in enumerate(NUMBER):
        for replacement in ALPHABET + "-":
            if replacement == original:
                continue
            changed = NUMBER[:position] + replacement + NUMBER[position + 1 :]
            assert not is_valid(changed), changed
            caught += 1
    assert caught == len(NUMBER) * len(ALPHABET)  # every position, every other character


@pytest.mark.parametrize("sequence", [1, 12, 345, 6789])
def test_every_adjacent_transposition_is_caught(sequence: int) -> None:
    number = format_number("HALL7Q3X", DAY, sequence)
    swaps = 0
    for position in range(len(number) - 1):
        a, b = number[position], number[position + 1]
        if a == b:
            continue  # swapping equal characters changes nothing
        swapped = number[:position] + b + a + number[position + 2 :]
        assert not is_valid(swapped), swapped
        swaps += 1
    assert swaps > 15


# -- the sequence -------------------------------------------------------------------------------


def test_sequence_counts_up_and_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state" / "receipt-sequence.json"  # the folder is made when needed
    first = ReceiptNumbers("DEMO0001", state)
    assert first.next(DAY) == format_number("DEMO0001", DAY, 1)
    assert first.next(DAY) == format_number("DEMO0001", DAY, 2)

    after_restart = ReceiptNumbers("DEMO0001", state)
    assert after_restart.next(DAY) == format_number("DEMO0001", DAY, 3)
    assert all(is_valid(n) for n in (first.next(DAY), after_restart.next(DAY)))


def test_sequence_restarts_at_one_on_a_new_day(tmp_path: Path) -> None:
    numbers = ReceiptNumbers("DEMO0001", tmp_path / "seq.json")
    for _ in range(3):
        numbers.next(DAY)
    next_day = DAY + dt.timedelta(days=1)
    assert numbers.next(next_day) == format_number("DEMO0001", next_day, 1)
    assert ReceiptNumbers("DEMO0001", tmp_path / "seq.json").next(next_day) == format_number("DEMO0001", next_day, 2)


def test_a_clock_set_back_across_midnight_never_repeats_a_number(tmp_path: Path) -> None:
    # 23:59 a number is issued, the clock runs fast past midnight, NTP sets it back before midnight
    numbers = ReceiptNumbers("DEMO0001", tmp_path / "seq.json")
    issued = [numbers.next(DAY), numbers.next(DAY + dt.timedelta(days=1)), numbers.next(DAY)]
    assert len(set(issued)) == 3
    assert issued[2] == format_number("DEMO0001", DAY, 2)


def test_old_days_are_dropped_from_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "seq.json"
    numbers = ReceiptNumbers("DEMO0001", state)
    numbers.next(DAY)
    numbers.next(DAY + dt.timedelta(days=1))
    later = DAY + dt.timedelta(days=KEEP_DAYS + 1)
    numbers.next(later)
    assert json.loads(state.read_text()) == {(DAY + dt.timedelta(days=1)).isoformat(): 1, later.isoformat(): 1}


def test_an_unreadable_state_file_starts_again(tmp_path: Path) -> None:
    state = tmp_path / "seq.json"
    state.write_text("{not json")
    assert ReceiptNumbers("DEMO0001", state).next(DAY) == format_number("DEMO0001", DAY, 1)


def test_next_without_a_date_uses_today(tmp_path: Path) -> None:
    number = ReceiptNumbers("DEMO0001", tmp_path / "seq.json").next()
    assert number.startswith(f"DEMO0001-{dt.date.today():%Y%m%d}-0001")


def test_concurrent_next_gives_unique_consecutive_numbers(tmp_path: Path) -> None:
    numbers = ReceiptNumbers("DEMO0001", tmp_path / "seq.json")
    threads, per_thread = 8, 25
    results: list[list[str]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads)

    def issue(index: int) -> None:
        start.wait()  # all threads ask at once
        for _ in range(per_thread):
            results[index].append(numbers.next(DAY))

    workers = [threading.Thread(target=issue, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)

    issued = [n for batch in results for n in batch]
    assert len(issued) == threads * per_thread
    assert len(set(issued)) == len(issued)
    assert {int(n.split("-")[2][:-1]) for n in issued} == set(range(1, threads * per_thread + 1))
    for batch in results:  # each thread sees its own numbers rise
        assert batch == sorted(batch)
