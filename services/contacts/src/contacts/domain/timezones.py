"""The person's time zone: entered, or derived from the phone number, else the postal address, else Paris.

The calling-hours rule (D223-9) is judged in the person's local time, so a consumer in an overseas
department must not be judged in Paris time. Derivation order: the phone number's region (the
number plan says where a line is), then the postal address (French overseas postal codes 971..988,
then the country), then `Europe/Paris`.
"""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Any, Final

import phonenumbers
from phonenumbers import timezone as phone_timezones

DEFAULT_TIMEZONE: Final = "Europe/Paris"

#: Where the zone came from, as the read model reports it.
GIVEN, PHONE, POSTAL_CODE, COUNTRY, DEFAULT = "given", "phone", "postal_code", "country", "default"

# Because one country code can cover several French territories (+262: Réunion and Mayotte; +590:
# Guadeloupe, Saint-Barthélemy, Saint-Martin), the number's region decides, not the code's zone list.
REGION_ZONES: Final[dict[str, str]] = {
    "FR": "Europe/Paris",
    "RE": "Indian/Reunion",
    "YT": "Indian/Mayotte",
    "GP": "America/Guadeloupe",
    "BL": "America/St_Barthelemy",
    "MF": "America/Marigot",
    "MQ": "America/Martinique",
    "GF": "America/Cayenne",
    "PM": "America/Miquelon",
    "NC": "Pacific/Noumea",
    "PF": "Pacific/Tahiti",
    "WF": "Pacific/Wallis",
    "TF": "Indian/Kerguelen",
}

# French postal codes of the overseas territories: the first three digits name the territory
# (Saint-Barthélemy 97133 and Saint-Martin 97150 sit in 971, on Guadeloupe's time).
POSTAL_PREFIX_ZONES: Final[dict[str, str]] = {
    "971": "America/Guadeloupe",
    "972": "America/Martinique",
    "973": "America/Cayenne",
    "974": "Indian/Reunion",
    "975": "America/Miquelon",
    "976": "Indian/Mayotte",
    "986": "Pacific/Wallis",
    "987": "Pacific/Tahiti",
    "988": "Pacific/Noumea",
}


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_valid_timezone(name: str) -> bool:
    """Tells whether `name` is an IANA time zone name this system knows (e.g. `Indian/Reunion`)."""
    return name in _known_zones()


def zone_of_phone(phone: str | None) -> str | None:
    """Returns the zone of a phone number's region, or None when the number does not say one."""
    if not phone:
        return None
    if phone.startswith("+33"):
        # Because +33 is metropolitan France only, and parsing is the costly part of a bulk import.
        return DEFAULT_TIMEZONE
    try:
        number = phonenumbers.parse(phone, "FR")
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    if region in REGION_ZONES:
        return REGION_ZONES[region]
    zones = [z for z in phone_timezones.time_zones_for_number(number) if is_valid_timezone(z)]
    # A number plan spanning several zones (the United States) says nothing certain: fall through.
    return zones[0] if len(zones) == 1 else None


@cache
def zone_of_country(country: str | None) -> str | None:
    """Returns the one zone of a country (ISO 3166 alpha-2), or None when it has several or is unknown."""
    if not country:
        return None
    region = country.strip().upper()
    if region in REGION_ZONES:
        return REGION_ZONES[region]
    example = phonenumbers.example_number(region)
    if example is None:
        return None
    zones = [z for z in phone_timezones.time_zones_for_number(example) if is_valid_timezone(z)]
    return zones[0] if len(zones) == 1 else None


def zone_of_address(address: dict[str, Any] | None) -> tuple[str, str] | None:
    """Returns (zone, source) from a postal address: a French overseas postal code, else the country."""
    if not address:
        return None
    country = str(address.get("country") or "FR").strip().upper()
    code = str(address.get("postal_code") or "").strip().replace(" ", "")
    if country in REGION_ZONES and code[:3] in POSTAL_PREFIX_ZONES:
        return POSTAL_PREFIX_ZONES[code[:3]], POSTAL_CODE
    zone = zone_of_country(country)
    return (zone, COUNTRY) if zone else None


def derive_timezone(*, phone: str | None, postal_address: dict[str, Any] | None) -> tuple[str, str]:
    """Returns (zone, source): from the phone, else the postal address, else (`Europe/Paris`, `default`)."""
    zone = zone_of_phone(phone)
    if zone is not None:
        return zone, PHONE
    from_address = zone_of_address(postal_address)
    if from_address is not None:
        return from_address
    return DEFAULT_TIMEZONE, DEFAULT
