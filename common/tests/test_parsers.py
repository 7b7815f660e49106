"""The API's JSON parser, on its own: what it takes, what it refuses, and why."""

import io
import json

import pytest
from rest_framework.exceptions import ParseError

from common.parsers import JSONParser


def parse(body, charset=None):
    if isinstance(body, str):
        body = body.encode()
    context = {"encoding": charset} if charset else {}
    return JSONParser().parse(io.BytesIO(body), "application/json", context)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "b": [true, false, null], "c": {"d": "é ✓ 😀"}, "e": -0.5, "f": 1e3}',
        "[]",
        '"just a string"',
        "42",
        '{"emoji": "\\ud83d\\ude00", "nul": "\\u0000", "tab": "\\t"}',
        '  {"padded": true}  \n',
    ],
)
def test_ordinary_json_reads_as_the_standard_library_reads_it(text):
    assert parse(text) == json.loads(text)


def test_duplicate_keys_last_one_wins():
    assert parse('{"a": 1, "a": 2}') == {"a": 2}


@pytest.mark.parametrize("depth", [1, 31, 32])
def test_nesting_up_to_32_levels_is_fine(depth):
    assert parse("[" * depth + "]" * depth) is not None
    assert parse('{"a":' * depth + "0" + "}" * depth) is not None


@pytest.mark.parametrize("depth", [33, 200, 1023, 1024, 1025, 5000, 100_000])
def test_deeper_nesting_is_a_parse_error_not_a_recursion_error(depth):
    for body in ("[" * depth + "]" * depth, "[" * depth, '{"a":' * depth + "1" + "}" * depth):
        with pytest.raises(ParseError, match="JSON parse error"):
            parse(body)


@pytest.mark.parametrize(
    "number", ["9223372036854775807", "-9223372036854775808", "1e18", "-9.2e18", "0.1", "1e-300"]
)
def test_numbers_inside_64_bits_are_fine(number):
    assert parse(f"[{number}]") == [json.loads(number)]


@pytest.mark.parametrize(
    "number",
    [
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "1" + "0" * 30,
        "1" + "0" * 5000,
        "1e19",
        "-1e19",
        "1.5e308",
        "1e999",
        "-1e999",
        "NaN",
        "Infinity",
        "-Infinity",
    ],
)
def test_numbers_outside_64_bits_and_non_numbers_are_refused(number):
    for body in (number, f"[{number}]", f'{{"a": {{"b": [1, {number}]}}}}'):
        with pytest.raises(ParseError, match="JSON parse error"):
            parse(body)


@pytest.mark.parametrize(
    "body",
    [
        b'"\xff"',  # not UTF-8 at all
        b'"\xc0\xaf"',  # overlong encoding of "/"
        b'"\xed\xa0\x80"',  # a surrogate, encoded
        b'"\\ud800"',  # a lone high surrogate, escaped
        b'"\\udc00x"',  # a lone low surrogate, escaped
        b'\xef\xbb\xbf{"a": 1}',  # a byte order mark
        b"",
        b"   ",
        b'{"a": 1',
        b"{'a': 1}",
        b'{"a": 1,}',
    ],
)
def test_bodies_that_are_not_valid_json_text_are_refused(body):
    with pytest.raises(ParseError, match="JSON parse error"):
        parse(body)


@pytest.mark.parametrize("charset", ["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252", "utf8"])
def test_text_charsets_are_transcoded(charset):
    assert parse('{"name": "Zoë"}'.encode(charset), charset) == {"name": "Zoë"}


def test_a_lone_surrogate_in_utf16_is_refused():
    with pytest.raises(ParseError, match="not valid utf-16-le"):
        parse(b'"\x00\x00\xd8"\x00', "utf-16-le")


@pytest.mark.parametrize("charset", ["punycode", "idna", "utf-7", "unicode_escape", "koi8-r"])
def test_other_text_charsets_are_refused(charset):
    with pytest.raises(ParseError, match="Unsupported charset"):
        parse(b'{"a": 1}', charset)


@pytest.mark.parametrize("charset", ["zlib_codec", "base64_codec", "rot13", "no-such-charset"])
def test_codecs_that_are_not_text_encodings_are_refused(charset):
    with pytest.raises(ParseError, match="Unsupported charset"):
        parse(b'{"a": 1}', charset)
