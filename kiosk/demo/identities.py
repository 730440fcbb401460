"""Made-up citizens for the demo and tests. The ID numbers are the GB 11643 examples."""

from __future__ import annotations

import datetime as dt

from kiosk.core.identity import CardType, Identity

DEMO_CITIZENS: tuple[Identity, ...] = (
    Identity(
        card_type=CardType.RESIDENT_ID,
        name="王秀英",
        id_number="11010519491231002X",
        sex="女",
        ethnicity="汉",
        birth_date=dt.date(1949, 12, 31),
        address="北京市朝阳区示范街道幸福里1号楼2单元301室",
        issuer="北京市公安局朝阳分局",
        valid_from=dt.date(2015, 3, 1),
        valid_to=None,
    ),
    Identity(
        card_type=CardType.SOCIAL_SECURITY,
        name="陈建国",
        id_number="440524188001010014",
        sex="男",
        ethnicity="汉",
        birth_date=dt.date(1880, 1, 1),
    ),
)
