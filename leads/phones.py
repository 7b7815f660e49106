"""Phone numbers: parse anything a person or a spreadsheet writes, store E.164."""

import re
from functools import lru_cache

import phonenumbers
from django.conf import settings

_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
# Spreadsheets hand numbers back as floats: 9876543210.0 or 9.87654321E9.
_FLOATISH = re.compile(r"^\+?\d+(?:\.\d+)?(?:[eE]\+?\d+)?$")


class InvalidPhone(ValueError):
    pass


def _unfloat(raw):
    if _FLOATISH.match(raw) and ("." in raw or "e" in raw.lower()):
        try:
            value = float(raw.lstrip("+"))
        except ValueError:
            return raw
        if value.is_integer() and value < 1e16:
            return ("+" if raw.startswith("+") else "") + str(int(value))
    return raw


@lru_cache(maxsize=262_144)
def _normalize(raw, region):
    text = _unfloat(raw.strip())
    if not text:
        raise InvalidPhone("A phone number is required.")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"Not a valid phone number for region {region}.") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"Not a valid phone number for region {region}.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone(raw, region=None):
    """Return ``raw`` as E.164 or raise :class:`InvalidPhone`.

    National numbers are read in ``region`` (default ``PHONE_DEFAULT_REGION``).
    Results are cached per distinct string: lists repeat numbers and
    ``phonenumbers`` is the slow part of an import.
    """
    if raw is None:
        raise InvalidPhone("A phone number is required.")
    if isinstance(raw, float) and raw.is_integer():
        raw = str(int(raw))
    elif not isinstance(raw, str):
        raw = str(raw)
    if len(raw) > 64:
        raise InvalidPhone("Phone number is too long.")
    return _normalize(raw, (region or settings.PHONE_DEFAULT_REGION).upper())


def looks_like_e164(value):
    return bool(_E164.match(value or ""))
