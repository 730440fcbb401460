"""End to end: the real app in a real window under Xvfb, driven by touch events.

Each scenario runs tests/e2e/driver.py in its own process against a real hall server on
loopback; screenshots of every screen are kept under test-output/<test name>/.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from kiosk.demo.seed import DEMO_APPOINTMENT
from tests.conftest import ROOT, env_with_display
from tests.support.fault_proxy import FaultProxy
from tests.support.pcsc_fixtures import CITIZEN_SLOT
from tests.support.staff import STAFF_AUTH, application, document, staff_get
from tests.support.terminal_keys import write_key_file

pytestmark = pytest.mark.e2e
DRIVER = ROOT / "tests" / "e2e" / "driver.py"


def write_config(path: Path, hall_url: str, data_dir: Path, extra: str = "", **ui: object) -> Path:
    ui_lines = "\n".join(f"{key} = {json.dumps(value)}" for key, value in ui.items())
    path.write_text(
        f"""
[terminal]
id = "E2E00001"
hall_name = "测试县政务服务中心"
consult_phone = "0571-12345678"
opening_hours = "7×24 小时"

[hall]
url = "{hall_url}"
timeout_s = 10

[ui]
fullscreen = false
width = 900
height = 1200
demo_controls = true
{ui_lines}

[storage]
data_dir = "{data_dir}"
{extra}
""",
        encoding="utf-8",
    )
    write_key_file(data_dir / "keys" / "hall-signing.key", "E2E00001")  # provisioned with the hall
    return path


def run_scenario(name: str, config: Path, out: Path, display: str, **env: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(DRIVER), name, str(config), str(out)],
        env={**env_with_display(display), **env},
        capture_output=True,
        text=True,
        timeout=240,
    )
    (out / "driver.log").write_text(proc.stdout + proc.stderr)
    result_file = out / "result.json"
    assert result_file.exists(), f"driver wrote no result; log tail:\n{(proc.stdout + proc.stderr)[-3000:]}"
    result = json.loads(result_file.read_text())
    assert result["ok"], result.get("traceback", result)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return result


def test_whole_item_from_home_to_rating(hall_server, xvfb_display, test_output, tmp_path):
    data_dir = tmp_path / "kiosk-data"
    config = write_config(tmp_path / "kiosk.toml", hall_server.url, data_dir)
    check_journey(run_scenario("journey", config, test_output, xvfb_display), hall_server, data_dir, test_output)


def test_whole_item_with_a_social_security_card_through_real_pcscd(
    hall_server, xvfb_display, test_output, tmp_path, pcscd_server
):
    data_dir = tmp_path / "kiosk-data"
    extra = '[peripherals.card_reader]\ndriver = "pcsc"\nreader = "kiosk citizen slot 00 00"'
    config = write_config(tmp_path / "kiosk.toml", hall_server.url, data_dir, extra=extra)
    port = str(pcscd_server.port(CITIZEN_SLOT))
    result = run_scenario("journey", config, test_output, xvfb_display, E2E_VPCD_PORT=port)
    check_journey(result, hall_server, data_dir, test_output)
    assert result["secrets"][0] == "王秀英"


def check_journey(result: dict, hall_server, data_dir: Path, test_output: Path) -> None:

    # The form said what was wrong, next to the fields, in Chinese.
    assert result["errors_on_early_next"]["mobile"] == "此项必填"
    assert result["partial_mobile_error"] == "手机号码应为11位"
    assert result["date_error"] == "没有这一天，请检查月份和日期"
    assert result["consent_message"] == "请先阅读并勾选同意个人信息处理告知"
    secrets = result["secrets"]
    review = "\n".join(result["review_texts"])
    assert "1101**********002X" in review and secrets[1] not in review

    # The hall has the application with every page, byte for byte.
    receipt_no = result["receipt_no"]
    app = application(hall_server.url, receipt_no)
    assert app["item_id"] == result["item_id"]
    assert app["applicant"]["id_number"] == secrets[1]
    assert app["form"]["mobile"] == "13812345678"
    assert app["form"]["arrival_date"] == "2024-02-29"
    got, pdfs = {}, set()
    for doc in app["documents"]:
        body = document(hall_server.url, receipt_no, doc["material_id"], doc["page"])
        assert hashlib.sha256(body).hexdigest() == doc["sha256"]
        if doc["page"] == 0:  # the material's PDF
            assert body[:5] == b"%PDF-" and doc["content_type"] == "application/pdf"
            pdfs.add(doc["material_id"])
        else:
            assert body[:2] == b"\xff\xd8"  # a JPEG
            got[doc["material_id"]] = got.get(doc["material_id"], 0) + 1
    assert got == result["pages"]
    assert pdfs == set(result["pages"])
    assert result["retake_kept_count"]
    assert result["scanned_number"] == receipt_no  # read from the receipt's QR by the camera

    # The printer produced the receipt carrying the receipt number, and the checklist before it.
    printed = data_dir / "printed"
    receipt_text = (printed / f"{receipt_no}-receipt.txt").read_text(encoding="utf-8")
    assert receipt_no in receipt_text
    assert (printed / f"{receipt_no}-receipt.png").stat().st_size > 1000
    assert receipt_no.encode("gb18030") in (printed / f"{receipt_no}-receipt.bin").read_bytes()
    checklist = [p for p in printed.glob(f"*-checklist-{result['item_id']}-*.txt")]
    assert len(checklist) == 1 and "居住地住址证明" in checklist[0].read_text(encoding="utf-8")
    missing = [p for p in printed.glob(f"*-missing-{result['item_id']}-*.txt")]
    assert len(missing) == 1
    missing_text = missing[0].read_text(encoding="utf-8")
    assert "您还缺少以下材料" in missing_text and "居民身份证" in missing_text
    assert "就业证明" not in missing_text  # optional materials are not "missing"

    assert result["take_card"] == {"shown": True, "cards_left": False}

    # The progress query found it, by receipt number and ID tail.
    assert result["progress"].splitlines()[:2] == ["居住证申领", "办理状态：已受理"]
    assert result["progress_from_qr"] == result["progress"]  # the QR alone, without the ID tail
    (result_paper,) = printed.glob(f"*-progress-{receipt_no}.txt")  # and printed, with its barcode
    result_lines = result_paper.read_text(encoding="utf-8").splitlines()
    assert "办件查询结果" in result_lines and receipt_no in result_lines
    assert json.loads(result_paper.with_suffix(".json").read_text(encoding="utf-8"))["barcodes"] == [receipt_no]

    # The rating arrived.
    ratings = staff_get(hall_server.url, "/v1/ratings", params={"receipt_no": receipt_no}).json()
    assert [(r["level"], r["reasons"]) for r in ratings["items"]] == [(5, ["fast"])]

    # Nothing personal is left in the app, and nothing unmasked on the kiosk's disk.
    assert result["leftover_texts"] == []
    assert result["holds_personal_data"] is False
    assert result["session_step"] == "home"
    for path in data_dir.rglob("*"):
        if path.is_file() and path.suffix in (".txt", ".bin", ".json", ".log"):
            content = path.read_bytes()
            for secret in filter(None, secrets):  # a social security card has no address
                for encoding in ("utf-8", "gb18030"):
                    assert secret.encode(encoding) not in content, f"{secret!r} found in {path}"
    assert len(result["screenshots"]) >= 12
    # The kiosk's whole log: every line carries a session id, none carries personal data.
    log = (test_output / "driver.log").read_text(encoding="utf-8")
    for secret in filter(None, secrets):
        assert secret not in log
    session_lines = [line for line in log.splitlines() if " kiosk.core.session: " in line]
    assert session_lines and all("[-]" not in line for line in session_lines)


def test_idle_warning_then_timeout_wipes_the_session(hall_server, xvfb_display, test_output, tmp_path):
    config = write_config(
        tmp_path / "kiosk.toml", hall_server.url, tmp_path / "kiosk-data", idle_timeout_s=3, idle_warning_s=3
    )
    result = run_scenario("idle", config, test_output, xvfb_display)
    assert result["take_card"] == {"shown": True, "cards_left": False}
    assert result["countdown_text"].endswith("秒后将返回首页，并清除您填写的信息")
    assert result["after_continue_screen"] == "form"
    assert result["kept_value"] == "139"
    assert 5 <= result["timed_out_after"] <= 9  # 3 s idle + 3 s warning, measured loosely
    assert result["leftover_texts"] == []
    assert result["holds_personal_data"] is False
    assert result["warning_open_at_home"] is False


def test_hall_500_and_slow_gives_an_offline_receipt_then_arrives_once_and_printer_out_shows_qr(
    hall_server, xvfb_display, test_output, tmp_path
):
    proxy = FaultProxy(hall_server.url).start()
    try:
        proxy.fail_next("/v1/applications/", status=500)  # the first try
        proxy.delay_next("/v1/applications/", seconds=12.0)  # the second: longer than the citizen waits
        data_dir = tmp_path / "kiosk-data"
        extra = '[peripherals.printer]\ndriver = "simulated"\npaper = "out"'
        config = write_config(tmp_path / "kiosk.toml", proxy.url, data_dir, extra=extra)
        result = run_scenario("faults", config, test_output, xvfb_display)
    finally:
        proxy.stop()
    assert result["card_removed"] == "卡片已移开，请重新放置"
    assert result["camera_unplugged"] in ("拍摄设备暂时不可用，请联系工作人员", "没有找到拍摄设备，请联系工作人员")
    assert result["progress_value"] > 0  # the progress indicator was moving
    # The hall failed and then stalled: the citizen got the receipt anyway, marked 待上传.
    assert result["pending_upload"].startswith("网络暂时中断")
    assert result["offline_shown"].startswith("网络未连接")  # and the header said so until it was sent
    creates = [
        status for method, path, status in proxy.seen if method == "PUT" and path.startswith("/v1/applications/")
    ]
    assert 500 in creates and 201 in creates  # the 500 came back last: it was also the held one
    # The uploader went on by itself: the hall has the application exactly once, with every page.
    listing = staff_get(hall_server.url, "/v1/applications").json()
    assert [a["receipt_no"] for a in listing["items"]] == [result["receipt_no"]]
    (application,) = listing["items"]
    assert len(application["documents"]) >= 3  # the ID card's pages and its PDF
    # Out of paper: the receipt is on screen as a QR code, and nothing was printed.
    assert result["print_status"].startswith("打印机暂时缺纸，请用手机扫描上方二维码保存受理凭证")
    assert result["qr_shown"] is True
    assert result["printed_while_out"] == []
    # After the refill it printed by itself, exactly once, with the 待上传 mark it had when printed.
    printed = data_dir / "printed"
    receipts = [p for p in printed.glob("*.json") if json.loads(p.read_text(encoding="utf-8"))["complete"]]
    assert [p.name for p in receipts] == [f"{result['receipt_no']}-receipt.json"]
    assert "【待上传】" in receipts[0].with_suffix(".txt").read_text(encoding="utf-8")
    # Nothing of the test citizen is readable in the terminal's data folder.
    for path in data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert "王秀英".encode() not in data and b"11010519491231002X" not in data, path


def test_large_text_english_help_query_and_an_appointment_code(hall_server, xvfb_display, test_output, tmp_path):
    booked = requests.post(f"{hall_server.url}/v1/appointments", json=DEMO_APPOINTMENT, auth=STAFF_AUTH, timeout=10)
    booked.raise_for_status()  # the hall's booking system made it
    config = write_config(tmp_path / "kiosk.toml", hall_server.url, tmp_path / "kiosk-data")
    result = run_scenario("accessibility", config, test_output, xvfb_display)
    assert result["size_large"] == pytest.approx(result["size_before"] * 1.3)
    assert result["size_after"] == pytest.approx(result["size_before"])
    assert result["welcome_en"] == "Welcome. Please choose a service"
    assert "[b]Required materials[/b]" in result["headings"]
    assert result["phone"] == "0571-12345678"
    assert result["bad_number"] == "受理编号有误，请核对"
    assert result["appointment"] == {"item": DEMO_APPOINTMENT["item_id"], "code": DEMO_APPOINTMENT["code"]}
