"""An XLSX sheet's rows read straight from its XML, in memory that does not grow with the sheet.

python-calamine builds a whole sheet before it hands out the first row, and
cannot do otherwise (python-calamine issue #42: its ``iter_rows`` walks a
sheet already built); at the 2,000,000-cell limit that is ~290 MB of RSS.
openpyxl's read-only mode streams, but at a twentieth of calamine's speed
(37 s for the 100,000-row bench file against 1.5 s). This module reads the
sheet part a megabyte at a time out of the ZIP, finds its cells with one
regular expression and turns them into the values calamine would give:
shared strings (rich text runs joined, phonetic runs left out), inline
strings, numbers, booleans, errors (empty), formulas' cached values, and
dates, times and durations by the cell's number format, 1900 or 1904 based.

It follows the cells every spreadsheet program writes (a reference on each,
in order, values written plainly) and gives up on anything else —
:class:`Unhandled`, raised before the caller has handed on a row — so that
calamine reads such a sheet as before; the tests compare the two on varied
sheets. What stays in memory is the workbook's styles and its shared strings,
packed into one buffer (the checks in :mod:`imports.spreadsheets` bound their
number and size), never the sheet.
"""

import array
import datetime
import math
import re
import xml.parsers.expat

from . import spreadsheets


class Unhandled(Exception):
    """A sheet written in a way this reader does not follow: calamine reads it instead."""

    def __init__(self, message, row=None):
        super().__init__(message)
        self.row = row  # a row met again after later rows: calamine must not re-read it


# A cell written plainly: its reference, the usual attributes, then nothing
# (``<c r="A1" s="1"/>``) or a body without another cell in it.
# The two most common bodies are captured on their own, so most cells need no
# more work in Python: ``<v>text</v>`` and ``<is><t>text</t></is>``, their text
# free of entities and carriage returns.
_CELL = re.compile(
    rb'<c r="([A-Z]{1,3})([0-9]{1,7})"((?: (?:t|s|cm|vm|ph)="[^"<]*")*)'
    rb"(?:\s*/>|>(?:<v>([^<&\r]+)</v>|<is><t>([^<&\r]+)</t></is>|([^<]*(?:<(?!/c>)[^<]*)*))</c>)"
)
# Every cell tag, however written: a count that differs from _CELL's is a sheet to hand over.
_ANY_CELL = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?c[\s/>]")
_ATTRIBUTE = re.compile(rb' (t|s|cm|vm|ph)="([^"<]*)"')
_FORMULA = rb"<f(?: [^>]*)?(?:/>|>[^<]*</f>)"
_VALUE = re.compile(rb"(?:" + _FORMULA + rb")?<v>([^<]*)</v>")
_FORMULA_ONLY = re.compile(_FORMULA)
_INLINE = re.compile(rb'<is>(?:<t(?: xml:space="preserve")?>([^<]*)</t>|<t */>)</is>')
# What Rust's f64 parser accepts (calamine keeps anything else as text).
_NUMBER = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?)")
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_TAIL = 4 * 1024 * 1024  # a cell longer than this is not one a spreadsheet program wrote

_DATE, _DURATION = 1, 2
BUILTIN_FORMATS = {**dict.fromkeys((*range(14, 23), 45, 47), _DATE), 46: _DURATION}
_MS_A_DAY = 86_400_000
_EPOCH_1900 = datetime.datetime(1899, 12, 30)
_EPOCH_1904 = datetime.datetime(1904, 1, 1)
_LAST_SERIAL = 2_958_466  # 10000-01-01 in the 1900 system: Python's dates end before


class SheetReader:
    """The first sheet's rows as ``(row number, [(column, text), ...])``, empty rows left out.

    A row is yielded when the next one starts. ``cell_text`` turns a value
    that is not text (float, bool, date, time, timedelta) into text, as it
    does for calamine's values. ``columns`` (first, end) bounds the 0-based
    columns the check found cells in; a value outside them is not followed.
    """

    def __init__(self, fileobj, *, cell_text, columns):
        self.fileobj = fileobj
        self.cell_text = cell_text
        self.columns = columns

    def __iter__(self):
        try:
            parts, reader = spreadsheets.xlsx_parts(self.fileobj)
            sheet = spreadsheets.first_sheet(reader, parts)
            if sheet is None:
                raise Unhandled("the first sheet is not found the plain way")
            styles = _styles(reader, parts.get("xl/styles.xml"))
            is_1904 = _is_1904(reader, parts.get("xl/workbook.xml"))
            strings = _shared_strings(reader, parts.get("xl/sharedstrings.xml"))
            yield from self._rows(reader, sheet, styles, is_1904, strings)
        except spreadsheets.Refused as exc:
            raise Unhandled(exc.message) from None
        except (UnicodeDecodeError, OverflowError, ValueError, IndexError) as exc:
            raise Unhandled(str(exc)) from None

    def _rows(self, reader, sheet, styles, is_1904, strings):
        columns, kinds = {}, {}
        row = last_column = 0
        cells = []
        first, end = self.columns
        text = self.cell_text
        for piece in _pieces(reader, sheet):
            found = _CELL.findall(piece)
            if len(found) != len(_ANY_CELL.findall(piece)) or b"<!" in piece:
                raise Unhandled("a cell is not written the plain way")
            for letters, digits, attributes, plain, inline, content in found:
                number = int(digits)
                column = columns.get(letters)
                if column is None:
                    column = columns[letters] = _column(letters)
                if number != row:
                    if number < row or number == 0:
                        raise Unhandled(f"row {number} comes after row {row}", row=number)
                    if cells:
                        yield row, cells
                        cells = []
                    row, last_column = number, -1
                elif column <= last_column:
                    raise Unhandled("cells out of order")
                last_column = column
                kind = kinds.get(attributes)
                if kind is None:
                    kind = _kind(attributes)
                    if len(kinds) < 10_000:
                        kinds[attributes] = kind
                if inline and kind[0] == b"inlineStr":
                    value = inline.decode()
                    if "_x" in value:
                        value = _ESCAPE.sub(_unescape, value)
                elif plain and kind[0] == b"s" and plain.isdigit():
                    value = strings[int(plain)]
                elif plain or inline or content:
                    if not content:  # a plain body, in a cell of another type
                        content = (
                            b"<v>" + plain + b"</v>"
                            if plain
                            else b"<is><t>" + inline + b"</t></is>"
                        )
                    value = _value(kind, content, styles, is_1904, strings)
                    if value is None:
                        continue  # no value: calamine leaves the cell out of its range
                    if value.__class__ is not str:
                        value = text(value)
                else:
                    continue
                if column < first or column >= end:
                    raise Unhandled("a value outside the columns the check found")
                if value:
                    cells.append((column, value))
        if cells:
            yield row, cells


def _pieces(reader, info):
    """The sheet part in pieces that end after a whole cell."""
    tail = b""
    for chunk in reader.pieces(info, xml=True):
        buf = tail + chunk if tail else chunk
        cut = buf.rfind(b"</c>")
        if cut < 0:
            tail = buf
        else:
            cut += 4
            tail = buf[cut:]
            yield buf[:cut]
        if len(tail) > _TAIL:
            raise Unhandled("a cell longer than 4 MiB")
    if tail:
        yield tail


def _kind(attributes):
    """A cell's type (``t``) and style (``s``) from its attributes."""
    if not attributes:
        return b"n", 0
    pairs = _ATTRIBUTE.findall(attributes)
    values = dict(pairs)
    if len(values) != len(pairs):
        raise Unhandled("an attribute written twice")
    style = values.get(b"s", b"0")
    if not style.isdigit():
        raise Unhandled("a style that is not a number")
    return values.get(b"t", b"n"), int(style)


def _value(kind_and_style, content, styles, is_1904, strings):
    """The cell's value as calamine gives it (str, float, bool, date...), None if it holds none."""
    kind, style = kind_and_style
    if kind == b"inlineStr":
        match = _INLINE.fullmatch(content)
        if match is None:
            if _FORMULA_ONLY.fullmatch(content):
                return None
            raise Unhandled("an inline string that is not plain text")
        return _text(match.group(1) or b"", escapes=True)
    if content.startswith(b"<v>") and content.endswith(b"</v>") and content.count(b"<") == 2:
        raw = content[3:-4]
    else:
        match = _VALUE.fullmatch(content)
        if match is None:
            if _FORMULA_ONLY.fullmatch(content):
                return None  # a formula without a cached value
            raise Unhandled("a cell body that is not plain")
        raw = match.group(1)
    if kind == b"n":
        if not raw:
            return None
        if _NUMBER.fullmatch(raw) is None:
            raise Unhandled("a number cell that holds text")
        number = float(raw)
        format_kind = styles[style] if style < len(styles) else 0
        return excel_date(number, format_kind, is_1904) if format_kind else number
    if kind == b"s":
        if not raw.isdigit():
            raise Unhandled("a shared string index that is not a number")
        return strings[int(raw)]
    if kind == b"str":
        return _text(raw, escapes=True)
    if kind == b"b":
        if raw in (b"0", b"1"):
            return raw == b"1"
        raise Unhandled("a boolean that is neither 0 nor 1")
    if kind == b"e":
        return ""  # python-calamine gives errors (#DIV/0!, #N/A) as empty cells
    raise Unhandled(f"cells of type {kind.decode(errors='replace')}")


def _text(raw, *, escapes):
    """XML character data as text: entities and line ends as an XML parser reads them."""
    if b"&" in raw or b"\r" in raw:
        found = []
        parser = xml.parsers.expat.ParserCreate("utf-8")
        parser.CharacterDataHandler = found.append
        try:
            parser.Parse(b"<t>" + raw + b"</t>", True)
        except xml.parsers.expat.ExpatError as exc:
            raise Unhandled(f"text calamine may read otherwise ({exc})") from None
        text = "".join(found)
    else:
        text = raw.decode("utf-8")
    if escapes and "_x" in text:
        text = _ESCAPE.sub(_unescape, text)
    return text


def _unescape(match):
    """``_x000D_`` is the character U+000D (how OOXML writes what XML cannot hold)."""
    code = int(match.group(1), 16)
    if 0xD800 <= code <= 0xDFFF:
        raise Unhandled("an escaped surrogate")
    return chr(code)


def _column(letters):
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number - 1


def excel_date(value, kind, is_1904):
    """A serial number in a date or duration format, as python-calamine converts it."""
    if not 0 <= value < _LAST_SERIAL:
        raise Unhandled("a date out of the range followed here")
    if kind == _DURATION:
        return datetime.timedelta(milliseconds=_round(value * _MS_A_DAY))
    # Excel's 29 February 1900, which never was: a day is added before the product is
    # rounded, as calamine does (value + 1.0 and value differ in their last bits).
    days = value if is_1904 or value >= 60 else value + 1.0
    moment = (_EPOCH_1904 if is_1904 else _EPOCH_1900) + datetime.timedelta(
        milliseconds=_round(days * _MS_A_DAY)
    )
    if value < 1:
        return moment.time()
    if value == int(value):
        return moment.date()
    return moment


def _round(number):
    """Rust's ``f64::round`` of a number >= 0: halves go up (Python's round() goes to even).

    ``number - whole`` is exact, where ``number + 0.5`` may round up by itself.
    """
    whole = math.floor(number)
    return whole + 1 if number - whole >= 0.5 else whole


def detect_format(code):
    """``_DATE``, ``_DURATION`` or 0 for a custom number format, as calamine judges it.

    The first section only; quoted text, escaped and filler characters and
    ``[...]`` (colours, conditions, locales) are passed over, except that a
    bracketed ``[h]``, ``[mm]``, ``[ss]`` makes a duration.
    """
    escaped = quoted = ampm = hms = False
    brackets = 0
    previous = " "
    for char in code:
        if escaped:
            escaped = False
        elif char in "_\\*":
            escaped = True
        elif quoted:
            if char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == ";":
            return 0
        elif char == "[":
            brackets += 1
        elif char == "]":
            if hms and brackets == 1:
                return _DURATION
            brackets = max(brackets - 1, 0)
        elif char in "aA" and not ampm and not brackets:
            ampm = True
        elif not brackets and char in ("pm/PM" if ampm else "dmhysDMHYS"):
            return _DATE
        elif not (hms and char.lower() == previous.lower()):
            hms = previous == "[" and char in "mhsMHS"
        previous = char
    return 0


def _styles(reader, info):
    """The number-format kind of each cell style (``cellXfs``), by index."""
    if info is None:
        return []
    formats, kinds = {}, []
    depth = {"cellXfs": 0}

    def start(name, attributes):
        local = name.rpartition(":")[2]
        if local == "numFmt":
            formats[attributes.get("numFmtId", "")] = attributes.get("formatCode", "")
        elif local == "cellXfs":
            depth["cellXfs"] += 1
        elif local == "xf" and depth["cellXfs"]:
            kinds.append(attributes.get("numFmtId", "0"))

    def end(name):
        if name.rpartition(":")[2] == "cellXfs":
            depth["cellXfs"] -= 1

    _parse(reader, info, start, end)
    out = []
    for number in kinds:
        if number in formats:
            out.append(detect_format(formats[number]))
        else:
            out.append(BUILTIN_FORMATS.get(int(number), 0) if number.isdigit() else 0)
    return out


def _is_1904(reader, info):
    found = []

    def start(name, attributes):
        if name.rpartition(":")[2] == "workbookPr":
            found.append(attributes.get("date1904", "") in ("1", "true"))

    if info is not None:
        _parse(reader, info, start, None)
    return bool(found and found[-1])


def _shared_strings(reader, info):
    """Every shared string, packed: one UTF-8 buffer and the offset where each starts."""
    strings = PackedStrings()
    if info is None:
        return strings
    state = {"t": False, "phonetic": 0}
    parts = []

    def start(name, attributes):
        local = name.rpartition(":")[2]
        if local == "t":
            state["t"] = not state["phonetic"]
        elif local == "rPh":
            state["phonetic"] += 1
        elif local == "si":
            parts.clear()

    def end(name):
        local = name.rpartition(":")[2]
        if local == "t":
            state["t"] = False
        elif local == "rPh":
            state["phonetic"] -= 1
        elif local == "si":
            text = "".join(parts)
            if "_x" in text:
                text = _ESCAPE.sub(_unescape, text)
            strings.append(text)

    def data(text):
        if state["t"]:
            parts.append(text)

    _parse(reader, info, start, end, data)
    return strings


class PackedStrings:
    """Strings kept as UTF-8 in one buffer: about a byte a character, not ~50 bytes a string."""

    def __init__(self):
        self.buffer = bytearray()
        self.starts = array.array("Q", [0])

    def append(self, text):
        self.buffer += text.encode("utf-8", "surrogatepass")
        self.starts.append(len(self.buffer))

    def __getitem__(self, index):
        if index >= len(self.starts) - 1:
            raise Unhandled("a shared string that is not in the table")
        return self.buffer[self.starts[index] : self.starts[index + 1]].decode("utf-8")

    def __len__(self):
        return len(self.starts) - 1

    def size(self, index):
        """Bytes of string ``index`` (0: empty), without decoding it."""
        return self.starts[index + 1] - self.starts[index]


def _parse(reader, info, start, end, data=None):
    """Feed a part to expat, a piece at a time; a DTD or bad XML is left to calamine."""
    parser = xml.parsers.expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = start
    if end:
        parser.EndElementHandler = end
    if data:
        parser.CharacterDataHandler = data

    def doctype(*args):
        raise Unhandled(f"{info.filename} has a DTD")

    parser.StartDoctypeDeclHandler = doctype
    try:
        for piece in reader.pieces(info, xml=True):
            parser.Parse(piece, False)
        parser.Parse(b"", True)
    except xml.parsers.expat.ExpatError as exc:
        raise Unhandled(f"{info.filename} is not XML expat reads ({exc})") from None
