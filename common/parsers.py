"""The API's JSON parser: any body it cannot take is a 400, never a 500.

DRF's stock ``JSONParser`` hands the body to the standard library and turns
only ``ValueError`` into a 400, so a body the parser *can* read but the rest of
the request cannot survive ends in a 500:

- ``[`` x 5000 recurses until ``RecursionError``;
- ``"\\ud800"`` (a lone surrogate) becomes a ``str`` that no database driver,
  log line or orjson response can encode;
- ``9223372036854775808`` and larger integers reach the database driver, which
  overflows (SQLite, MariaDB ``BIGINT``), and orjson cannot render them;
  ``1e999`` became ``inf``;
- a body in ``charset=punycode`` (a "text encoding" as far as Python is
  concerned) is decoded in quadratic time: only ``SAFE_CHARSETS`` are read.

This parser reads the body with orjson, which takes only valid UTF-8, refuses
``NaN``/``Infinity`` and numbers that overflow a double (``1e999``), lone
surrogates and nesting past 1024 levels without recursing, and then checks
what no JSON parser checks for us: nesting at most ``max_depth`` levels and
numbers within the signed 64-bit range (the widest column we have; no field of
ours wants more, and orjson would otherwise turn a longer integer into an
inexact float). Duplicate keys are allowed; the last one wins, as with the
standard library.

It subclasses DRF's parser on purpose: DRF reads the body of a ``JSONParser``
through ``request.body``, which enforces ``DATA_UPLOAD_MAX_MEMORY_SIZE``.
"""

import codecs
import re

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DRFJSONParser
from rest_framework.parsers import get_encoding

# Charsets a request body may be declared in (Python's canonical names): the
# UTF family (RFC 4627 allowed UTF-16/32 for JSON), ASCII, Latin-1 and cp1252.
# All decode in linear time; some other codecs Python knows do not (punycode
# is quadratic), so anything else is refused, here and, for every request, by
# config.middleware.RequestCharsetMiddleware.
SAFE_CHARSETS = frozenset(
    {"utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"}
    | {"utf-32-be", "ascii", "iso8859-1", "cp1252"}
)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def charset_name(charset):
    """Python's canonical name for ``charset`` (``"UTF8"`` → ``"utf-8"``), or None."""
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return None


# A number outside 64 bits is written with 19+ digits or an exponent; bodies
# with neither (nearly all) skip the per-number check.
_BIG_NUMBER = re.compile(rb"[0-9]{19}|[0-9.][eE][-+]?[0-9]")


def _check(data, max_depth, *, check_numbers):
    """Raise ``ParseError`` if ``data`` nests deeper than ``max_depth`` or holds
    a number outside 64 signed bits. Level by level, so depth costs no stack."""
    level, depth = [data], 1
    while level:
        deeper = []
        for value in level:
            if isinstance(value, dict):
                children = value.values()
            elif isinstance(value, list):
                children = value
            else:  # a bare scalar document
                children = (value,)
                depth = 0
            for child in children:
                if isinstance(child, (dict, list)):
                    deeper.append(child)
                elif check_numbers and type(child) in (int, float):
                    _check_number(child)
        if deeper and depth >= max_depth:
            raise ParseError(f"JSON parse error - nested deeper than {max_depth} levels.")
        level, depth = deeper, depth + 1


def _check_number(value):
    # orjson reads an integer past 64 bits as a float, which may round onto
    # -2**63 itself: floats must stay strictly inside.
    inside = (
        INT64_MIN <= value <= INT64_MAX if type(value) is int else INT64_MIN < value < -INT64_MIN
    )
    if not inside:
        raise ParseError("JSON parse error - number out of range (64-bit signed).")


class JSONParser(DRFJSONParser):
    """Strict JSON in, a 400 ``parse_error`` for anything else (see the module)."""

    # No payload of ours nests more than a few levels; 32 is far below the
    # depth at which Python code walking the data (copy, repr, validation)
    # would run out of stack.
    max_depth = 32

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})  # refuses non-text codecs
        name = charset_name(encoding)
        if name not in SAFE_CHARSETS:
            raise ParseError(f'Unsupported charset "{encoding}": send JSON as UTF-8.')
        raw = stream.read() if stream is not None else b""
        if name != "utf-8":
            try:
                raw = raw.decode(name).encode("utf-8")
            except UnicodeError as exc:
                raise ParseError(f"JSON parse error - not valid {name}.") from exc
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        check_numbers = _BIG_NUMBER.search(raw) is not None
        if check_numbers or raw.count(b"[") + raw.count(b"{") > self.max_depth:
            _check(data, self.max_depth, check_numbers=check_numbers)
        return data
