"""An XLS sheet's rows read from its BIFF8 records, one row at a time.

python-calamine reads a whole workbook, every sheet, before it hands out the
first row (a 10 MiB XLS took a worker to 190 MB). No maintained Python reader
streams BIFF records (xlrd builds a sheet whole too), so this module walks the
first sheet's records in the ``Workbook`` stream itself and turns them into the
values calamine would give: shared strings (the SST, its CONTINUE records
followed as calamine follows them), LABEL and RSTRING strings, NUMBER, RK and MULRK
numbers, booleans, errors (empty), formulas' cached values (numbers as they
are, strings from the STRING record after them), and dates, times and
durations by the cell's number format (XF and FORMAT records, the 1900 or 1904
system), as :mod:`imports.xlsxstream` does for XLSX.

What stays in memory is the ``Workbook`` stream (the file's size at most: a
BIFF8 sheet has at most 65,536 rows), the formats and the shared strings,
packed into one buffer. Before the first row is handed on, one pass over the
sheet's records finds where its cells lie (calamine's range: the rows and
columns every row is laid out in) and checks that they come the way every
spreadsheet program writes them: rows in order, columns in order within a row,
no cell written twice. A workbook written otherwise (another BIFF version or
code page, a password, the first sheet not a worksheet, a sheet name used
twice, records calamine would refuse) raises :class:`Unhandled`, and calamine
reads it as before; the tests compare the two readers on varied workbooks.
"""

import struct

from . import spreadsheets, xlsxstream
from .xlsxstream import Unhandled

_BOF, _EOF, _CONTINUE = 0x0809, 0x000A, 0x003C
_FILEPASS, _CODEPAGE, _DATEMODE, _FORMAT, _XF = 0x002F, 0x0042, 0x0022, 0x041E, 0x00E0
_BOUNDSHEET, _SST = 0x0085, 0x00FC
_NUMBER, _RK, _MULRK, _LABELSST, _LABEL, _RSTRING = 0x0203, 0x027E, 0x00BD, 0x00FD, 0x0204, 0x00D6
_BOOLERR, _FORMULA, _STRING = 0x0205, 0x0006, 0x0207
_BIFF8 = 0x0600
# Two bytes a character; a lone surrogate is U+FFFD, as calamine's decoder makes it.
_WIDE = "utf-16-le"
_UTF16 = 1200
# Excel's error codes; calamine refuses a file with any other (python-calamine
# gives errors as empty cells).
_ERRORS = frozenset((0x00, 0x07, 0x0F, 0x17, 0x1D, 0x24, 0x2A, 0x2B))
# The FORMAT records calamine keeps (by format number); it passes over the others.
_CUSTOM_FORMATS = (range(5, 9), range(23, 27), range(41, 45), range(63, 67), range(164, 383))
_HEADER = struct.Struct("<HH")
_CELL = struct.Struct("<HHH")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_F64 = struct.Struct("<d")
_RK_ENTRY = struct.Struct("<HI")
_LABELSST_CELL = struct.Struct("<HHHI")


class SheetReader:
    """The first sheet's rows as ``(row number, [(column, text), ...])``, empty rows left out.

    ``cell_text`` turns a value that is not text (float, int, bool, date...)
    into text, as it does for calamine's values. :meth:`layout` must be
    called first: it reads the workbook's globals and checks the sheet.
    """

    def __init__(self, fileobj, *, cell_text):
        self.fileobj = fileobj
        self.cell_text = cell_text
        self.stream = None

    def layout(self):
        """Where the first sheet's cells lie (:class:`spreadsheets.Layout`), None if it has none."""
        self.fileobj.seek(0)
        try:
            self.stream = spreadsheets.xls_workbook(self.fileobj.read())
        except spreadsheets.Refused as exc:
            raise Unhandled(exc.message) from None
        self.fileobj.seek(0)
        try:
            self._globals()
            return self._bounds()
        except (struct.error, IndexError, UnicodeDecodeError, OverflowError, ValueError) as exc:
            raise Unhandled(f"a record calamine may read otherwise ({exc})") from None

    def __iter__(self):
        row = -1
        cells = []
        text = self.cell_text
        try:
            for number, column, value in self._cells(values=True):
                if number != row:
                    if cells:
                        yield row + 1, cells
                        cells = []
                    row = number
                if value.__class__ is not str:
                    value = text(value)
                if value:
                    cells.append((column, value))
        except (struct.error, IndexError, UnicodeDecodeError, OverflowError, ValueError) as exc:
            raise Unhandled(f"a record calamine may read otherwise ({exc})") from None
        if cells:
            yield row + 1, cells

    # --- the workbook's globals ---------------------------------------------
    def _globals(self):
        stream = self.stream
        formats, xfs, sheets = {}, [], []
        self.is_1904 = False
        self.strings = xlsxstream.PackedStrings()
        for kind, start, length, pieces in _records(stream, 0):
            if kind == _EOF:
                break
            if kind in (_CODEPAGE, _DATEMODE, _FORMAT) and length < 2:
                raise Unhandled("a workbook record cut short")
            if kind == _BOF:
                _require_biff8(stream, start, length)
            elif kind == _FILEPASS:
                raise Unhandled("the workbook is protected with a password")
            elif kind == _CODEPAGE:
                if _U16.unpack_from(stream, start)[0] != _UTF16:
                    raise Unhandled("a code page other than UTF-16")
            elif kind == _DATEMODE:
                self.is_1904 = _U16.unpack_from(stream, start)[0] == 1
            elif kind == _FORMAT:
                number = _U16.unpack_from(stream, start)[0]
                # calamine passes over a FORMAT it does not keep or cannot read.
                if length >= 6 and any(number in numbers for numbers in _CUSTOM_FORMATS):
                    code = _string(stream, start + 2, start + length)
                    formats[number] = xlsxstream.detect_format(code)
            elif kind == _XF:
                if length < 4:
                    raise Unhandled("an XF record cut short")
                xfs.append(_U16.unpack_from(stream, start + 2)[0])
            elif kind == _BOUNDSHEET:
                sheets.append(_sheet_entry(stream, start, length))
            elif kind == _SST:
                self.strings = _shared_strings(stream, pieces)
        if not sheets:
            raise Unhandled("the workbook has no sheet")
        position, sheet_type, name = sheets[0]
        if sheet_type != 0:
            raise Unhandled("the first sheet is not a worksheet")
        if any(other == name for _, _, other in sheets[1:]):
            raise Unhandled("the first sheet's name is used again")  # calamine keeps the last
        builtin = xlsxstream.BUILTIN_FORMATS
        self.formats = [formats[x] if x in formats else builtin.get(x, 0) for x in xfs]
        self.position = position
        if position + 4 > len(stream) or _U16.unpack_from(stream, position)[0] != _BOF:
            raise Unhandled("the first sheet does not start with a BOF record")
        _require_biff8(stream, position + 4, _U16.unpack_from(stream, position + 2)[0])

    # --- the sheet -----------------------------------------------------------
    def _bounds(self):
        """calamine's range of the sheet, and a check that its cells come in order."""
        first_column = rows = columns = None
        row = column = -1
        for number, at, _value in self._cells(values=False):
            if number != row:
                if number < row:
                    raise Unhandled(f"row {number + 1} comes after row {row + 1}")
                row, column = number, -1
            elif at <= column:
                raise Unhandled(f"cells out of order in row {row + 1}")
            column = at
            if first_column is None or at < first_column:
                first_column = at
            if columns is None or at >= columns:
                columns = at + 1
            rows = number + 1
        if rows is None:
            return None
        return spreadsheets.Layout(first_column, columns, rows)

    def _cells(self, *, values):
        """``(row, column, value)`` of every cell calamine keeps, in the records' order.

        ``value`` is None when ``values`` is false (the bounds pass).
        """
        stream, formats, is_1904, strings = self.stream, self.formats, self.is_1904, self.strings
        pending = None  # a formula whose text value comes in the next STRING record
        header, labelsst, count = _HEADER.unpack_from, _LABELSST_CELL.unpack_from, len(strings)
        end = len(stream)
        # After the sheet's BOF, one record at a time; a CONTINUE record is passed
        # over like any record not read here (calamine reads none after a cell).
        position = self.position + 4 + _U16.unpack_from(stream, self.position + 2)[0]
        while position + 4 <= end:
            kind, length = header(stream, position)
            start = position + 4
            position = start + length
            if position > end:
                raise Unhandled("a record cut short")
            if kind == _LABELSST:
                _least(length, 10)
                row, column, _xf, index = labelsst(stream, start)
                # calamine leaves out a cell whose shared string is empty.
                if index < count and strings.size(index):
                    yield row, column, strings[index] if values else None
            elif kind == _NUMBER:
                _least(length, 14)
                row, column, xf = _CELL.unpack_from(stream, start)
                value = None
                if values:
                    value = _number(_F64.unpack_from(stream, start + 6)[0], xf, formats, is_1904)
                yield row, column, value
            elif kind == _RK:
                _least(length, 10)
                row, column, xf = _CELL.unpack_from(stream, start)
                value = None
                if values:
                    value = _rk(_U32.unpack_from(stream, start + 6)[0], xf, formats, is_1904)
                yield row, column, value
            elif kind == _MULRK:
                _least(length, 6)
                row, first = _HEADER.unpack_from(stream, start)
                last = _U16.unpack_from(stream, start + length - 2)[0]
                if last < first or length != 6 + 6 * (last - first + 1):
                    raise Unhandled("a MULRK record of the wrong length")
                for offset in range(last - first + 1):
                    value = None
                    if values:
                        xf, rk = _RK_ENTRY.unpack_from(stream, start + 4 + 6 * offset)
                        value = _rk(rk, xf, formats, is_1904)
                    yield row, first + offset, value
            elif kind in (_LABEL, _RSTRING):  # an RSTRING's formatting runs are passed over
                _least(length, 10)
                row, column = _HEADER.unpack_from(stream, start)
                yield row, column, _string(stream, start + 6, start + length)
            elif kind == _BOOLERR:
                _least(length, 8)
                row, column = _HEADER.unpack_from(stream, start)
                yield row, column, _bool_or_error(stream[start + 6], stream[start + 7])
            elif kind == _FORMULA:
                _least(length, 20)
                row, column = _HEADER.unpack_from(stream, start)
                pending = None
                if stream[start + 12 : start + 14] != b"\xff\xff":
                    value = None
                    if values:
                        xf = _U16.unpack_from(stream, start + 4)[0]
                        value = _F64.unpack_from(stream, start + 6)[0]
                        value = _number(value, xf, formats, is_1904)  # dates too, as calamine 0.37
                    yield row, column, value
                    continue
                result = stream[start + 6]
                if result == 0x00:
                    pending = (row, column)
                elif result == 0x01:
                    yield row, column, stream[start + 8] != 0
                elif result == 0x02:
                    yield row, column, _bool_or_error(stream[start + 8], 1)
                elif result == 0x03:
                    yield row, column, ""
                else:
                    raise Unhandled("a formula result of an unknown type")
            elif kind == _EOF:
                break
            elif kind == _STRING:
                if pending is None:
                    raise Unhandled("a STRING record after no formula")
                yield *pending, _string(stream, start, start + length)
                pending = None


def _records(stream, position):
    """``(type, start, length, pieces)`` of the workbook's records, CONTINUE records joined.

    ``pieces``: ``(start, end)`` of the record's data and of each CONTINUE
    record after it (the string table's strings run on in them).
    """
    end = len(stream)
    while position + 4 <= end:
        kind, length = _HEADER.unpack_from(stream, position)
        start = position + 4
        position = start + length
        pieces = [(start, position)]
        while position + 4 <= end and _U16.unpack_from(stream, position)[0] == _CONTINUE:
            more = _U16.unpack_from(stream, position + 2)[0]
            pieces.append((position + 4, position + 4 + more))
            position += 4 + more
        if position > end:
            raise Unhandled("a record cut short")
        yield kind, start, length, pieces


def _require_biff8(stream, start, length):
    if length < 2 or _U16.unpack_from(stream, start)[0] != _BIFF8:
        raise Unhandled("not a BIFF8 workbook")


def _least(length, minimum):
    if length < minimum:
        raise Unhandled("a cell record cut short")


def _sheet_entry(stream, start, length):
    """A BOUNDSHEET record: ``(where the sheet starts, its type, its name)``."""
    if length < 8:
        raise Unhandled("a sheet record cut short")
    position, state, sheet_type, size, flags = struct.unpack_from("<IBBBB", stream, start)
    if state & 0x3F not in (0, 1, 2) or sheet_type not in (0, 1, 2, 6):
        raise Unhandled("a sheet record calamine refuses")
    raw = stream[start + 8 : start + length]
    name = raw[: 2 * size].decode(_WIDE, "replace") if flags & 1 else raw[:size].decode("latin-1")
    return position, sheet_type, name.replace("\0", "")


def _string(stream, start, end):
    """An XLUnicodeString (LABEL, STRING, FORMAT): its characters right after the flags.

    As calamine does, a string longer than its record is what the record holds.
    """
    if end - start < 4:
        raise Unhandled("a string record cut short")
    count = _U16.unpack_from(stream, start)[0]
    if stream[start + 2] & 1:
        raw = stream[start + 3 : min(end, start + 3 + 2 * count)]
        if len(raw) % 2:
            raise Unhandled("a string cut in the middle of a character")
        return raw.decode(_WIDE, "replace")
    return stream[start + 3 : min(end, start + 3 + count)].decode("latin-1")


def _shared_strings(stream, pieces):
    """The SST's strings, packed: its record and CONTINUE records read as calamine reads them.

    As many strings as the records hold, whatever the table declares (as
    calamine 0.37 reads them). A string's characters may go on in the next
    CONTINUE record, which then starts with its own flags byte (one or two
    bytes a character); the rich text runs and phonetic data after the
    characters are passed over.
    """
    reader = _Pieces(stream, pieces)
    reader.take(8)  # the counts it declares: calamine reads the strings the records hold
    strings = xlsxstream.PackedStrings()
    while not reader.finished():
        reader.next_piece_if_done()
        header = reader.take(3)
        size, flags = _U16.unpack_from(header)[0], header[2]
        runs = _U16.unpack_from(reader.take(2))[0] if flags & 8 else 0
        extra = struct.unpack_from("<i", reader.take(4))[0] if flags & 4 else 0
        if extra < 0:
            raise Unhandled("a shared string with negative phonetic data")
        parts = []
        wide = flags & 1
        while size:
            available = reader.left() // 2 if wide else reader.left()
            if not available:
                if reader.left():
                    raise Unhandled("a shared string cut in the middle of a character")
                wide = reader.continue_piece()[0] & 1
                continue
            taken = min(size, available)
            raw = reader.take(2 * taken if wide else taken)
            parts.append(raw.decode(_WIDE, "replace") if wide else raw.decode("latin-1"))
            size -= taken
        strings.append("".join(parts))
        reader.skip(4 * runs + extra)
    return strings


class _Pieces:
    """Bytes read across a record and its CONTINUE records."""

    def __init__(self, stream, pieces):
        self.stream = stream
        self.pieces = pieces
        self.index = 0
        self.position, self.end = pieces[0]

    def left(self):
        return self.end - self.position

    def finished(self):
        return not self.left() and all(start == end for start, end in self.pieces[self.index + 1 :])

    def take(self, count):
        """``count`` bytes, all in the current piece (a header never spans two)."""
        if count > self.left():
            raise Unhandled("a string table entry split over records")
        data = self.stream[self.position : self.position + count]
        self.position += count
        return data

    def next_piece_if_done(self):
        if not self.left():
            self.continue_piece(flags=False)

    def continue_piece(self, *, flags=True):
        """Move to the next CONTINUE record; its flags byte when it carries on a string."""
        self.index += 1
        if self.index >= len(self.pieces):
            raise Unhandled("the string table ends early")
        self.position, self.end = self.pieces[self.index]
        return self.take(1) if flags else b""

    def skip(self, count):
        while count:
            if not self.left():
                self.continue_piece(flags=False)
                continue
            step = min(count, self.left())
            self.position += step
            count -= step


def _bool_or_error(value, is_error):
    if is_error == 0:
        return value != 0
    if is_error == 1 and value in _ERRORS:
        return ""
    raise Unhandled("a boolean or error cell of an unknown kind")


def _number(value, xf, formats, is_1904):
    kind = formats[xf] if xf < len(formats) else 0
    return xlsxstream.excel_date(value, kind, is_1904) if kind else value


def _rk(rk, xf, formats, is_1904):
    """An RK number as calamine gives it: an int for whole integers, else a float."""
    if rk & 2:
        whole = (rk if rk < 0x80000000 else rk - 0x100000000) >> 2
        if rk & 1:
            if whole % 100:
                return _number(whole / 100.0, xf, formats, is_1904)
            whole //= 100  # exact: a multiple of 100
        kind = formats[xf] if xf < len(formats) else 0
        return xlsxstream.excel_date(float(whole), kind, is_1904) if kind else whole
    value = _F64.unpack(struct.pack("<Q", (rk & 0xFFFFFFFC) << 32))[0]
    return _number(value / 100.0 if rk & 1 else value, xf, formats, is_1904)
