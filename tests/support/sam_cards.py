"""Made-up holders of the four card types the SAM module reads, with numbers that pass their checks.

Keyed by the layout letter at byte 248 of the card text. The mainland number is the GB 11643
example; the others were given valid check characters (ISO 7064 MOD 11-2) for these tests.
"""

from __future__ import annotations

import datetime as dt

from kiosk.core.identity import CardType, Identity
from kiosk.demo.identities import DEMO_CITIZENS

MAINLAND = DEMO_CITIZENS[0]  # the demo's resident ID card: 长期 validity, the GB 11643 example number
MAINLAND_DATED = Identity(
    card_type=CardType.RESIDENT_ID,
    name="欧阳建国",
    id_number="44030619850615123X",
    sex="男",
    ethnicity="维吾尔",
    birth_date=dt.date(1985, 6, 15),
    address="广东省深圳市南山区示范路100号",
    issuer="深圳市公安局南山分局",
    valid_from=dt.date(2016, 7, 20),
    valid_to=dt.date(2036, 7, 20),
)
PERMIT = Identity(
    card_type=CardType.HK_MACAO_TAIWAN_PERMIT,
    name="陈大文",
    id_number="810000199001011230",
    sex="男",
    birth_date=dt.date(1990, 1, 1),
    address="广东省深圳市福田区示范路8号",
    issuer="深圳市公安局福田分局",
    valid_from=dt.date(2019, 1, 1),
    valid_to=dt.date(2024, 1, 1),
    document_number="H12345678",
    issue_count="01",
)
FOREIGN_2017 = Identity(
    card_type=CardType.FOREIGN_PERMANENT_RESIDENT,
    name="史密斯",
    id_number="USA110080010101",
    sex="男",
    birth_date=dt.date(1980, 1, 1),
    valid_from=dt.date(2017, 6, 1),
    valid_to=dt.date(2027, 6, 1),
    english_name="SMITH, JOHN WILLIAM",
    nationality="USA",
)
FOREIGN_2023 = Identity(
    card_type=CardType.FOREIGN_PERMANENT_RESIDENT,
    name="玛丽亚",
    id_number="931840198001010017",
    sex="女",
    birth_date=dt.date(1980, 1, 1),
    valid_from=dt.date(2023, 12, 1),
    valid_to=dt.date(2033, 12, 1),
    # 40 characters: runs past the first field (35), and character 35, at the seam, is a space
    english_name="GARCIA-LOPEZ MARIA DEL CARMEN ALVAR ROSA",
    nationality="ESP",
    issue_count="00",
)

BY_LAYOUT: dict[str, Identity] = {" ": MAINLAND, "J": PERMIT, "I": FOREIGN_2017, "Y": FOREIGN_2023}
