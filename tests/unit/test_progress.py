"""The progress answer as the citizen reads it: Chinese state names, Beijing time."""

from kiosk.core.messages import Messages
from kiosk.core.progress import local_time, progress_lines


def test_times_are_beijing_time() -> None:
    assert local_time("2026-11-23T23:38:00+00:00") == "2026-11-24 07:38"
    assert local_time("2026-11-23T23:38:00Z") == "2026-11-24 07:38"
    assert local_time("2026-11-23T23:38:00") == "2026-11-24 07:38"  # naive: the hall stores UTC
    assert local_time("not a time") == "not a time"


def test_lines_name_states_in_chinese_and_keep_unknown_ones() -> None:
    answer = {
        "item_name": "居住证申领",
        "state": "reviewing",
        "timeline": [
            {"state": "received", "at": "2026-11-23T01:00:00+00:00"},
            {"state": "archived", "at": "2026-11-23T02:00:00+00:00"},
        ],
    }
    assert progress_lines(answer, Messages("zh-CN")) == [
        "居住证申领",
        "办理状态：审核中",
        "2026-11-23 09:00  已受理",
        "2026-11-23 10:00  archived",
    ]
