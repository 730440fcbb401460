"""What a social security card (社会保障卡) stores in its SSSE application, as bytes.

The layout is the one in shared/CARDS.md (tag + length + value records; EF05 card information,
EF06 holder information). Record numbers in EF06 (1 = social security number, 2 = name, then sex,
ethnicity, birthplace, birth date) follow the open-source readers that read the ID number with
`00 B2 01 04 14` and the name with `00 B2 02 04 20` after selecting EF06; the name extension
(tag 4E) comes last, as record 7: only its tag is documented, so a reader must find it by tag
(P2 = 00 identifier form) or by walking the records, never by a fixed record number.
"""

from __future__ import annotations

from dataclasses import dataclass

# "sx1.sh." + 社会保障 in GBK.
SSSE_AID = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")
EF05, EF06, EF07, EF08 = 0x05, 0x06, 0x07, 0x08
NAME_BYTES = 30  # tag 09
NAME_EXTENSION_BYTES = 20  # tag 4E
# The ministry's registered application provider id (RID D156000005) starts most card
# identification codes after the region; the rest of the 16 bytes is issuer-specific.
_MOHRSS_RID = bytes.fromhex("D156000005")


@dataclass(frozen=True)
class SocialSecurityIdentity:
    """Everything a card holds about its holder and itself, as people write it.

    Dates are "YYYYMMDD", regions six digits ("110105"), `sex` is "1" (male) or "2" (female),
    `ethnicity` a GB/T 3304 code ("01"). `raw_name` replaces the GBK encoding of `name`, for
    names that GBK cannot write. `name_extension`: None puts the 4E record on cards that need it
    (a name over 30 GBK bytes) and on 3.00 cards; True/False forces it in or out.
    """

    card_number: str = "A00000001"
    id_number: str = "11010519491231002X"
    name: str = "张三"
    sex: str = "2"
    ethnicity: str = "01"
    birth_date: str = "19491231"
    birthplace: str = "110105"
    card_region: str = "110100"
    card_identification_code: bytes | None = None
    card_type: str = "3"
    spec_version: str = "3.00"
    initialising_org: bytes = bytes.fromhex("110100000000000000000001")
    issue_date: str = "20200101"
    expiry_date: str = "20300101"
    raw_name: bytes | None = None
    name_extension: bool | None = None

    def name_fields(self) -> tuple[bytes, bytes | None]:
        """The 30-byte name record and the 20-byte extension (None when the card has none)."""
        encoded = self.raw_name if self.raw_name is not None else self.name.encode("gbk")
        head, tail = _split_name(encoded, self.raw_name is None)
        wanted = self.name_extension
        if wanted is None:
            wanted = bool(tail) or self.spec_version == "3.00"
        if tail and not wanted:
            raise ValueError(f"name {self.name!r} needs the 4E name extension record, which was turned off")
        extension = tail.ljust(NAME_EXTENSION_BYTES, b"\x00") if wanted else None
        return head.ljust(NAME_BYTES, b"\x00"), extension


def _split_name(encoded: bytes, is_gbk: bool) -> tuple[bytes, bytes]:
    if len(encoded) > NAME_BYTES + NAME_EXTENSION_BYTES:
        raise ValueError(f"a name has at most {NAME_BYTES + NAME_EXTENSION_BYTES} GBK bytes, got {len(encoded)}")
    if len(encoded) <= NAME_BYTES:
        return encoded, b""
    cut = NAME_BYTES
    if is_gbk:
        # Never split a double-byte character across the two records: walk whole characters.
        cut = 0
        while cut < len(encoded):
            width = 2 if encoded[cut] >= 0x81 else 1
            if cut + width > NAME_BYTES:
                break
            cut += width
        if len(encoded) - cut > NAME_EXTENSION_BYTES:
            raise ValueError("the name does not fit in the name and name-extension records")
    return encoded[:cut], encoded[cut:]


def bcd(digits: str, size: int) -> bytes:
    """Packed BCD, padded on the right with F nibbles ("1101" in 3 bytes → 11 01 FF)."""
    if not all(c in "0123456789" for c in digits) or len(digits) > size * 2:
        raise ValueError(f"{digits!r} is not at most {size * 2} decimal digits")
    return bytes.fromhex(digits.ljust(size * 2, "F"))


def _ascii(text: str, size: int) -> bytes:
    raw = text.encode("ascii")
    if len(raw) != size:
        raise ValueError(f"{text!r} must be exactly {size} ASCII characters")
    return raw


def _exact(raw: bytes, size: int, what: str) -> bytes:
    if len(raw) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(raw)}")
    return raw


def card_identification_code(identity: SocialSecurityIdentity) -> bytes:
    if identity.card_identification_code is not None:
        return _exact(identity.card_identification_code, 16, "card identification code")
    serial = int(identity.card_number[1:] or "0") if identity.card_number[1:].isdigit() else 0
    code = bcd(identity.card_region, 3) + _MOHRSS_RID + serial.to_bytes(4, "big")
    return code.ljust(16, b"\xff")


def ssse_records(identity: SocialSecurityIdentity) -> dict[int, list[tuple[int, bytes]]]:
    """File id → its records in order, each (tag, value); record number = position + 1."""
    name, extension = identity.name_fields()
    ef05 = [
        (0x01, card_identification_code(identity)),
        (0x02, _ascii(identity.card_type, 1)),
        (0x03, _ascii(identity.spec_version, 4)),
        (0x04, _exact(identity.initialising_org, 12, "initialising organisation")),
        (0x05, bcd(identity.issue_date, 4)),
        (0x06, bcd(identity.expiry_date, 4)),
        (0x07, _ascii(identity.card_number, 9)),
    ]
    ef06 = [
        (0x08, _ascii(identity.id_number, 18)),
        (0x09, name),
        (0x0A, _ascii(identity.sex, 1)),
        (0x0B, bcd(identity.ethnicity, 1)),
        (0x0C, bcd(identity.birthplace, 3)),
        (0x0D, bcd(identity.birth_date, 4)),
    ]
    if extension is not None:
        ef06.append((0x4E, extension))
    return {EF05: ef05, EF06: ef06}


def tlv(tag: int, value: bytes) -> bytes:
    """A record as READ RECORD returns it: tag (1 byte), length (1 byte), value."""
    return bytes([tag, len(value)]) + value
