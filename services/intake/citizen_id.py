"""Citizen identity numbers (CCCD, căn cước công dân): 12 digits = province code + century/sex digit
+ two-digit birth year + six digits (Circular 07/2016/TT-BCA)."""

from __future__ import annotations

from datetime import date

# The 63 province codes in use (001–096, with gaps).
PROVINCE_CODES = frozenset(
    [
        "001",
        "002",
        "004",
        "006",
        "008",
        "010",
        "011",
        "012",
        "014",
        "015",
        "017",
        "019",
        "020",
        "022",
        "024",
        "025",
        "026",
        "027",
        "030",
        "031",
        "033",
        "034",
        "035",
        "036",
        "037",
        "038",
        "040",
        "042",
        "044",
        "045",
        "046",
        "048",
        "049",
        "051",
        "052",
        "054",
        "056",
        "058",
        "060",
        "062",
        "064",
        "066",
        "067",
        "068",
        "070",
        "072",
        "074",
        "075",
        "077",
        "079",
        "080",
        "082",
        "083",
        "084",
        "086",
        "087",
        "089",
        "091",
        "092",
        "093",
        "094",
        "095",
        "096",
    ]
)


class InvalidCitizenId(ValueError):
    pass


def birth_year(id_number: str) -> int:
    century = 1900 + 100 * (int(id_number[3]) // 2)
    return century + int(id_number[4:6])


def validate_citizen_id(id_number: str, *, today: date | None = None) -> str:
    """Return the number when it is a well-formed CCCD; raise ``InvalidCitizenId`` saying why otherwise."""
    if len(id_number) != 12 or not id_number.isascii() or not id_number.isdigit():
        raise InvalidCitizenId("a CCCD number has exactly 12 digits")
    if id_number[:3] not in PROVINCE_CODES:
        raise InvalidCitizenId(f"{id_number[:3]} is not a province code (001–096)")
    year = birth_year(id_number)
    if year > (today or date.today()).year:
        raise InvalidCitizenId(f"digits 4–6 give birth year {year}, which is in the future")
    return id_number
