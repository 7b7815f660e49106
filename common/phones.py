"""Phone numbers: parse anything a person or a spreadsheet writes, store E.164."""

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from django.conf import settings
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata, PhoneNumber

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


# Separators people put between digit groups; anything else goes to the full parser.
_SEPARATORS = str.maketrans("", "", " -()./")


@dataclass(frozen=True)
class _Rules:
    """What ``phonenumbers.parse`` consults in a region's metadata, compiled once."""

    country_code: int
    national_prefix: re.Pattern | None  # the trunk prefix ("0"), when it is a plain one
    rewrites_prefix: bool  # a prefix with groups or a transform rule: leave it to parse
    international_prefix: re.Pattern | None
    general: re.Pattern | None
    # What ``is_valid_number`` checks, compiled (:func:`_validity`); None: ask it.
    validity: tuple | None


# The number types ``phonenumbers`` knows, mobile first: most numbers in a lead list are.
_TYPES = (
    "mobile",
    "fixed_line",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


def _desc_check(desc):
    """``(possible lengths or None, compiled pattern)`` of a number description; None: never."""
    if desc is None or not desc.national_number_pattern:
        return None
    return frozenset(desc.possible_length) or None, re.compile(desc.national_number_pattern)


def _validity(region, metadata):
    """``is_valid_number``'s test of a national number of ``region``, compiled once.

    ``phonenumbers`` finds the number's region, then its type: the general
    description must match (length, then pattern) and so must one of the
    types' (fixed line, mobile, toll free...); any type will do, so the
    order is free. It compiles (or looks up) each pattern on every call,
    most of an import's phone time. Only for a country code that belongs to
    this region alone: where several regions share a code (+1, +7, +44) the
    number's region is chosen by more rules, and ``is_valid_number`` is asked.
    """
    if tuple(COUNTRY_CODE_TO_REGION_CODE.get(metadata.country_code, ())) != (region,):
        return None
    general = _desc_check(metadata.general_desc)
    if general is None:
        return None
    types = []
    for name in _TYPES:
        if name == "mobile" and metadata.same_mobile_and_fixed_line_pattern:
            continue  # phonenumbers tests only the fixed-line pattern then
        check = _desc_check(getattr(metadata, name))
        if check is not None:
            types.append(check)
    return general, tuple(types)


def _matches(check, national):
    lengths, pattern = check
    return (lengths is None or len(national) in lengths) and pattern.fullmatch(national) is not None


def _is_valid(rules, national):
    """``phonenumbers.is_valid_number`` of ``+<country code><national>`` (no leading zero)."""
    if rules.validity is None:
        number = PhoneNumber(country_code=rules.country_code, national_number=int(national))
        return phonenumbers.is_valid_number(number)
    general, types = rules.validity
    return _matches(general, national) and any(_matches(check, national) for check in types)


@lru_cache(maxsize=512)
def _rules(region):
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return None

    def compiled(pattern):
        return re.compile(pattern) if pattern else None

    national = compiled(metadata.national_prefix_for_parsing)
    general = metadata.general_desc.national_number_pattern if metadata.general_desc else None
    return _Rules(
        country_code=metadata.country_code,
        national_prefix=national,
        rewrites_prefix=bool(metadata.national_prefix_transform_rule)
        or (national is not None and national.groups > 0),
        international_prefix=compiled(metadata.international_prefix),
        general=compiled(f"(?:{general})") if general else None,
        validity=_validity(region, metadata),
    )


def _fast_e164(text, region):
    """E.164 for plain digit strings, without ``phonenumbers.parse``.

    ``parse`` costs ~14 µs a number, most of an import's Python time, and a
    number written as ``+<country code><national number>`` or as a national
    number of ``region`` (optionally after its trunk prefix, the "0" of
    ``098765 43210``), with only spaces, dashes, dots, slashes or brackets
    between the digits, needs none of its rewriting. This follows the same
    steps as ``parse`` for those shapes only: anything else (an international
    prefix, a prefix rule with groups, a non-geographic code, a national
    number starting with the country code, other characters) returns None and
    takes the full path, and so does any number ``is_valid_number`` refuses.
    So this path accepts only what the full parse accepts, with the same
    result; tests compare the two on generated numbers of many regions.
    """
    international = text.startswith("+")
    digits = (text[1:] if international else text).translate(_SEPARATORS)
    if not (digits.isascii() and digits.isdigit()):
        return None
    if international:
        if digits[0] == "0":  # no country code starts with 0
            return None
        # Country codes are prefix-free: at most one of the 1-3 digit prefixes is one.
        for size in (1, 2, 3):
            regions = COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:size]))
            if regions:
                break
        else:
            return None
        if regions[0] == "001":  # non-geographic (+800, +808, ...)
            return None
        rules = _rules(regions[0])  # parse reads an international number by its main region
        national = digits[size:]
    else:
        rules = _rules(region)
        if rules is None:
            return None
        if rules.international_prefix is not None and rules.international_prefix.match(digits):
            return None
        if digits.startswith(str(rules.country_code)):
            return None
        national = digits
    if rules is None or not national:
        return None
    if rules.national_prefix is not None:
        match = rules.national_prefix.match(national)
        if match is not None:
            # parse strips a trunk prefix unless the number is viable with it.
            if rules.rewrites_prefix or rules.general is None:
                return None
            if rules.general.fullmatch(national):
                return None
            national = national[match.end() :]
    if not national or national[0] == "0":
        return None
    if not _is_valid(rules, national):
        return None
    return f"+{rules.country_code}{national}"


@lru_cache(maxsize=262_144)
def _normalize(raw, region):
    text = _unfloat(raw.strip())
    if not text:
        raise InvalidPhone("A phone number is required.")
    fast = _fast_e164(text, region)
    if fast is not None:
        return fast
    return _parse(text, region)


def _parse(text, region):
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


def e164_prefix(raw, region=None):
    """The start of the E.164 numbers that ``raw`` (part of a number, as typed) begins.

    ``+44 7700`` and ``0044 7700`` are ``+447700``; a national ``098765 4`` is
    ``+91987654`` in region IN (default ``PHONE_DEFAULT_REGION``), its trunk
    ``0`` dropped. For searching stored numbers by a range of their index when
    ``raw`` is not a whole number.
    """
    text = raw.strip()
    digits = "".join(c for c in text if c.isdigit())
    if text.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    region = (region or settings.PHONE_DEFAULT_REGION).upper()
    return f"+{phonenumbers.country_code_for_region(region)}{digits.lstrip('0')}"
