"""What a spreadsheet really holds, found out before python-calamine builds it.

python-calamine turns a sheet into a dense grid (32 bytes a cell) that spans
its first to its last non-empty cell, whatever lies between. An XLSX sheet
is built when it is asked for; an XLS workbook builds the grid of every sheet
as soon as it is opened, after reserving room for the area each sheet's
DIMENSIONS record declares and for the number of strings its shared-string
table (SST) declares. So a 2 KB file with a cell at A1 and one at XFD1048576
asks for half a terabyte, and a few bytes of a lying XLS header for as much.

The checks here read the file's own structure first, in bounded time and
memory: where the cells of an XLSX sheet really are (its XML, streamed out of
the ZIP), every record of every XLS sheet and the sizes the file declares
(its compound-file header, sector chains and BIFF records, read the way
calamine reads them). A file whose grid would exceed the limits is refused
with a message that says why, before calamine sees it.

Everything errs on the large side: a cell counted that calamine would skip
can only make a refusal more likely, never let a bigger grid through. A
structure calamine would misread in a way these checks cannot follow is
refused as unreadable. No Django here: the limits are passed in. Long because
it follows two file formats (XLSX's XML in a ZIP, XLS's compound file and BIFF
records) as far as calamine does, and no smaller reading would be safe.
"""

import re
import string
import struct
import xml.parsers.expat
import zipfile
import zlib
from dataclasses import dataclass
from operator import itemgetter


class Refused(Exception):
    """A file that is not handed to calamine; ``code`` is the API's error code."""

    def __init__(self, message, code="unreadable_file"):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Limits:
    cells: int  # the most cells a sheet's grid (and an XLS workbook's grids) may span
    columns: int  # the most columns the imported sheet may have


@dataclass
class Grid:
    """The part of a sheet that holds cells, counted from A1 (as python-calamine yields rows).

    ``rows`` and ``columns`` are the last row and column holding a cell (1-based:
    a sheet with one cell at C2 spans 2 rows x 3 columns); ``cells`` counts the
    cells that may hold a value.
    """

    rows: int = 0
    columns: int = 0
    cells: int = 0
    first: int | None = None  # the first column (0-based), found by the plain scan only

    @property
    def area(self):
        return self.rows * self.columns

    def add(self, row, column):
        """A cell at 0-based ``row`` and ``column``."""
        self.cells += 1
        if row >= self.rows:
            self.rows = row + 1
        if column >= self.columns:
            self.columns = column + 1

    def fits(self, limits):
        return self.area <= limits.cells and self.cells <= limits.cells

    def check(self, limits, *, where, columns=True):
        """Refuse a grid over the limits, saying what the sheet spans and holds."""
        if self.area > limits.cells or self.cells > limits.cells:
            raise Refused(
                f"{where} spans {self.rows:,} rows x {self.columns:,} columns "
                f"(A1:{column_letters(self.columns)}{self.rows}) {self._holding()}; "
                f"a sheet may span at most {limits.cells:,} cells. Delete the cells "
                "outside the list (or split it, or save it as CSV) and upload again.",
                code="sheet_too_large",
            )
        if columns and self.columns > limits.columns:
            raise too_many_columns(where, self.columns, limits.columns)

    def _holding(self):
        if self.cells * 2 < self.area:
            return f"but holds only {self.cells:,} cells"
        return f"and holds {self.cells:,} cells"


@dataclass(frozen=True)
class Layout:
    """Where a plainly written XLSX sheet's cells lie: for :mod:`imports.xlsxstream`.

    ``first_column`` (0-based) and ``columns`` (its last column, 1-based) bound
    every cell that may hold a value; ``rows`` is the last row that holds one.
    """

    first_column: int
    columns: int
    rows: int


def too_many_columns(where, columns, limit):
    return Refused(
        f"{where} has {columns:,} columns (A to {column_letters(columns)}); at most "
        f"{limit:,} columns are read. Delete the columns you do not need and upload again.",
        code="too_many_columns",
    )


def column_letters(number):
    """``1`` → ``A``, ``16384`` → ``XFD`` (0 → ``A`` too, for an empty sheet)."""
    letters = ""
    number = max(number, 1)
    while number:
        number, rest = divmod(number - 1, 26)
        letters = string.ascii_uppercase[rest] + letters
    return letters


# --- XLSX ------------------------------------------------------------------------

# Parts that make calamine read a ZIP as XLSB or ODS when its XLSX reading fails:
# those readers are not checked here, so a file holding them is refused.
_OTHER_FORMATS = ("xl/workbook.bin", "xl/_rels/workbook.bin.rels", "content.xml")
_SHEET_DIRS = ("xl/worksheets/", "xl/chartsheets/", "xl/dialogsheets/")
_SHEET_TYPES = {"worksheets", "chartsheets", "dialogsheets"}
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_SMALL_PART = 4 * 1024 * 1024  # workbook.xml and its relationships, read whole
_CHUNK = 1024 * 1024
_MAX_TAG = 4 * 1024 * 1024  # a tag, or a run of text without one, carried across chunks
_UNKNOWN = object()


def check_xlsx(fileobj, limits):
    """Check an XLSX file (binary, seekable) whose ZIP directory passed the zip-bomb guard.

    Returns the first sheet's :class:`Layout` when its cells are all written
    plainly (what the streamed reading needs), else None.

    The parts are decoded here from their compressed data, not through
    ``zipfile``, which stops at the size the directory declares: calamine's
    ZIP reader decodes whatever the data holds, so a part that holds more than
    its directory says is refused.
    """
    with zipfile.ZipFile(fileobj) as archive:
        parts = _parts_by_name(archive)
    archive = _Parts(fileobj)
    for name in _OTHER_FORMATS:
        if name in parts:
            raise Refused(
                f"This XLSX file also holds {parts[name].filename}, a part of another "
                "spreadsheet format; save it again as XLSX and upload it again."
            )
    shared = parts.get("xl/sharedstrings.xml")
    if shared is not None:
        _check_shared_strings(archive, shared, limits)
    sheets = _first_sheet_parts(archive, parts)
    layout = None
    for info in sheets:
        grid = _scan_sheet(archive, info, limits)
        grid.check(limits, where="The sheet")
        if grid.first is not None and len(sheets) == 1:
            layout = Layout(grid.first, grid.columns, grid.rows)
    for info in parts.values():
        if info not in sheets and info is not shared:
            archive.measure(info)  # styles, workbook, ...: read whole by calamine
    return layout


def xlsx_parts(fileobj):
    """``(parts, reader)``: an XLSX's parts by name (ASCII lower case) and a reader of their bytes.

    For :mod:`imports.xlsxstream`, after :func:`check_xlsx` passed the file.
    """
    with zipfile.ZipFile(fileobj) as archive:
        parts = _parts_by_name(archive)
    return parts, _Parts(fileobj)


def first_sheet(reader, parts):
    """The part calamine reads as the first sheet, or None when that is not plain to see."""
    path = _first_sheet_path(reader, parts)
    if path is None or path is _UNKNOWN:
        return None
    return parts.get(path.translate(_ASCII_LOWER))


def _parts_by_name(archive):
    """The archive's parts by name, compared the way calamine finds them (ASCII case ignored)."""
    parts = {}
    for info in archive.infolist():
        key = info.filename.translate(_ASCII_LOWER)
        if key in parts:
            # Two parts calamine cannot tell apart: what it reads might not be what was checked.
            raise Refused(f"This XLSX file has two parts named {info.filename}.")
        parts[key] = info
    return parts


def _check_shared_strings(archive, info, limits):
    """calamine keeps every shared string; a sheet cannot use more strings than it has cells."""
    count = 0
    tail = b""
    for chunk in archive.pieces(info, xml=True):
        buf = tail + chunk
        # ``<si`` and prefixed ``:si``; the last two bytes start the next piece,
        # so a tag cut in two is counted once.
        count += buf.count(b"<si") + buf.count(b":si")
        tail = buf[-2:]
        if count > limits.cells:
            raise Refused(
                f"This XLSX file's shared-string table holds more than {limits.cells:,} "
                f"strings; a sheet may span at most {limits.cells:,} cells.",
                code="sheet_too_large",
            )


def _check_encoding(head, info):
    # The scans read the XML as bytes, which needs an ASCII-compatible encoding;
    # calamine would also read UTF-16, where every tag looks different.
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head[:4]:
        raise Refused(f"This XLSX file cannot be read: {info.filename} is not UTF-8 XML.")


def _first_sheet_parts(archive, parts):
    """The part calamine reads as the first sheet (all sheet parts if that is unclear)."""
    path = _first_sheet_path(archive, parts)
    if path is _UNKNOWN:
        return [info for name, info in parts.items() if name.startswith(_SHEET_DIRS)]
    if path is None:
        return []  # calamine finds no first sheet either, and says so
    info = parts.get(path.translate(_ASCII_LOWER))
    return [info] if info is not None else []


def _first_sheet_path(archive, parts):
    """Follow ``xl/workbook.xml`` and its relationships as calamine does.

    Returns the path, None when calamine would fail to open the workbook, or
    ``_UNKNOWN`` when the XML uses anything where a stricter parser might not
    read it as calamine does (entities, DTDs, malformed XML, very large parts).
    """
    book = _small_part(archive, parts.get("xl/workbook.xml"))
    rels = _small_part(archive, parts.get("xl/_rels/workbook.xml.rels"))
    if book is None or rels is None:
        return None
    if book is _UNKNOWN or rels is _UNKNOWN:
        return _UNKNOWN
    try:
        rels, book = _elements(rels), _elements(book)
    except _Unclear:
        return _UNKNOWN
    relationships = {}
    for name, attributes in rels:
        if _local(name) == "Relationship":
            values = dict(attributes)  # calamine keeps the last Id / Target too
            relationships[values.get("Id", "")] = values.get("Target", "")
    for name, attributes in book:
        if _local(name) != "sheet":
            continue
        path = ""
        for key, value in attributes:
            if key in ("r:id", "relationships:id"):
                target = relationships.get(value)
                if target is None:
                    return None
                if target.startswith("/xl/"):
                    path = target[1:]
                elif target.startswith("xl/"):
                    path = target
                else:
                    path = f"xl/{target}"
        folders = path.split("/")
        return path if len(folders) > 1 and folders[1] in _SHEET_TYPES else None
    return None


def _small_part(archive, info):
    if info is None:
        return None
    if info.file_size > _SMALL_PART:
        return _UNKNOWN
    data = b"".join(archive.pieces(info))
    # calamine does not resolve entities in the attributes it reads; expat would.
    if b"&" in data or b"<!" in data:
        return _UNKNOWN
    return data


def _elements(data):
    """``(name, [(key, value), ...])`` of every element, prefixes kept, in document order."""
    found = []
    parser = xml.parsers.expat.ParserCreate()
    parser.ordered_attributes = True

    def start(name, attributes):
        found.append((name, list(zip(attributes[::2], attributes[1::2], strict=True))))

    parser.StartElementHandler = start
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise _Unclear from exc
    return found


class _Unclear(Exception):
    pass


def _local(name):
    return name.rpartition(":")[2]


class _Parts:
    """An XLSX file's parts, decoded from all of their compressed data."""

    def __init__(self, fileobj):
        self.fileobj = fileobj

    def pieces(self, info, *, xml=False):
        """The part's bytes, at most ``_CHUNK`` at a time, however well they compress."""
        if info.flag_bits & 0x1:
            raise Refused(f"This XLSX file cannot be read: {info.filename} is encrypted.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise Refused(
                f"This XLSX file cannot be read: {info.filename} is compressed with an "
                "unusual method; save it again from your spreadsheet program."
            )
        self.fileobj.seek(info.header_offset)
        header = self.fileobj.read(30)
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise Refused(f"This XLSX file cannot be read: {info.filename} is damaged.")
        name_length, extra_length = struct.unpack_from("<HH", header, 26)
        position = info.header_offset + 30 + name_length + extra_length
        decoder = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
        left, pending, size, first = info.compress_size, b"", 0, xml
        while decoder is None or not decoder.eof:
            if not pending and left:
                self.fileobj.seek(position)
                pending = self.fileobj.read(min(_CHUNK, left))
                if not pending:
                    raise Refused(f"This XLSX file cannot be read: {info.filename} is cut short.")
                position += len(pending)
                left -= len(pending)
            last = not pending and not left
            if decoder is None:
                if last:
                    return
                piece, pending = pending, b""
            elif last:
                piece = decoder.flush()  # what inflate still holds: at most its window
            else:
                before = len(pending)
                try:
                    piece = decoder.decompress(pending, _CHUNK)
                except zlib.error as exc:
                    raise Refused(
                        f"This XLSX file cannot be read: {info.filename} is damaged."
                    ) from exc
                pending = decoder.unconsumed_tail
                if not piece and len(pending) == before:
                    raise Refused(f"This XLSX file cannot be read: {info.filename} is damaged.")
            size += len(piece)
            if size > info.file_size:
                raise Refused(
                    f"This XLSX file was refused as a zip bomb: {info.filename} unpacks to more "
                    "than its ZIP directory says.",
                    code="zip_bomb",
                )
            if first and piece:
                _check_encoding(piece[:4], info)
                first = False
            if piece:
                yield piece
            if last:
                return

    def measure(self, info):
        for _piece in self.pieces(info):
            pass


# Every cell of a sheet written by Excel, LibreOffice or openpyxl matches the
# first branch: a plain reference first and only the usual attributes. Any
# other cell tag matches the second (empty groups) and the exact scan takes over.
_FAST_CELL = re.compile(
    rb'<c(?: r="([A-Z]{1,3})([0-9]{1,7})"(?: (?:t|s|cm|vm|ph)="[^"<]*")*\s*(/?)>|(?=[\s/>]))'
)
_PREFIXED_CELL = re.compile(rb"<[A-Za-z_][\w.\-]*:c[\s/>]")


def _scan_sheet(archive, info, limits):
    grid = _fast_scan(archive, info, limits)
    if grid is None:
        grid = _exact_scan(archive, info, limits)
    return grid


def _chunks(archive, info):
    """The part's bytes in pieces that never split a tag (nor a run of text, up to a bound)."""
    tail = b""
    for chunk in archive.pieces(info, xml=True):
        buf = tail + chunk
        cut = buf.rfind(b"<")
        if cut < 0:
            tail = b""
            yield buf
            continue
        tail = buf[cut:]
        if len(tail) > _MAX_TAG:
            raise Refused(
                f"This XLSX file cannot be read: {info.filename} has a tag or a cell "
                f"longer than {_MAX_TAG // (1024 * 1024)} MiB."
            )
        yield buf[:cut]
    if tail:
        yield tail


def _fast_scan(archive, info, limits):
    """Cells from their references, all in C; None if a cell is not written the usual way."""
    grid = Grid()
    columns = set()
    for body in _chunks(archive, info):
        if b":c" in body and _PREFIXED_CELL.search(body):
            return None
        found = _FAST_CELL.findall(body)
        if not found:
            continue
        if b"" in set(map(itemgetter(0), found)):
            return None
        full = [cell for cell in found if not cell[2]]  # <c .../> holds no value
        if full:
            columns.update(map(itemgetter(0), full))
            grid.cells += len(full)
            grid.rows = max(grid.rows, _largest(list(map(itemgetter(1), full))))
        if grid.cells > limits.cells:
            break  # refused anyway; no need to read on
    if columns:
        numbers = [_column_number(letters) for letters in columns]
        grid.columns, grid.first = max(numbers) + 1, min(numbers)
    return grid


def _largest(numbers):
    """The largest of some decimal numbers written as bytes, mostly without int()."""
    top = max(numbers)  # by bytes: right among the longest when it is one of them
    if len(top) == max(map(len, numbers)):
        return int(top)
    return max(map(int, numbers))


def _exact_scan(archive, info, limits):
    """Follow rows and cells as calamine does, for sheets whose cells are not all written plainly.

    expat reads the XML; a cell without ``r`` sits after the previous cell of its
    row, in the row its ``<row r>`` named or the one after the previous row. A DTD
    (whose entities expat would expand and calamine would not), a row or cell
    inside a cell, or XML that expat cannot read is refused: calamine either
    fails on it too or reads it in a way this scan cannot follow.
    """
    rows = _SheetRows(info)
    parser = xml.parsers.expat.ParserCreate()
    parser.ordered_attributes = True
    parser.StartElementHandler = rows.start
    parser.EndElementHandler = rows.end
    parser.StartDoctypeDeclHandler = rows.doctype
    budget = 8 * limits.cells  # tags; a plain sheet has about five a cell
    try:
        for chunk in archive.pieces(info, xml=True):
            budget -= chunk.count(b"<")
            if budget < 0:
                raise Refused(
                    f"{info.filename} holds more than {8 * limits.cells:,} XML elements; a "
                    f"sheet may span at most {limits.cells:,} cells.",
                    code="sheet_too_large",
                )
            parser.Parse(chunk, False)
            if rows.grid.cells > limits.cells:
                return rows.grid  # refused by the caller; no need to read on
        parser.Parse(b"", True)
    except xml.parsers.expat.ExpatError as exc:
        raise Refused(
            f"This XLSX file cannot be read: {info.filename} is not well-formed XML ({exc})."
        ) from exc
    return rows.grid


class _SheetRows:
    """expat handlers that place every cell where calamine will."""

    def __init__(self, info):
        self.info = info
        self.grid = Grid()
        self.row = self.column = 0
        self.depth = 0  # inside a cell: the depth below its <c>
        self.cell = None
        self.holds = False

    def doctype(self, *args):
        raise Refused(f"This XLSX file cannot be read: {self.info.filename} has a DTD.")

    def start(self, name, attributes):
        local = _local(name)
        if self.depth:
            if local in ("row", "c"):
                raise Refused(
                    f"This XLSX file cannot be read: {self.info.filename} has a {local} "
                    "inside a cell."
                )
            self.depth += 1
            self.holds = True  # <v>, <is> or <f>: the cell may hold a value
            return
        pairs = list(zip(attributes[::2], attributes[1::2], strict=True))
        if local == "row":
            # calamine takes a row's first r (and a cell's last).
            reference = next((value for key, value in pairs if key == "r"), None)
            if reference is not None:
                self.row = _row_number(reference.encode(), self.info)
        elif local == "c":
            reference = None
            for key, value in pairs:
                if key == "r":
                    reference = value
            if reference is not None:
                row, column = _cell_position(reference.encode(), self.info)
                self.column = column
            else:
                row, column = self.row, self.column
            self.column += 1
            self.cell = (row, column)
            self.depth = 1
            self.holds = False

    def end(self, name):
        if self.depth:
            self.depth -= 1
            if not self.depth and self.holds:
                self.grid.add(*self.cell)  # <c/> and <c></c> hold nothing: calamine skips them
            return
        if _local(name) == "row":
            self.row += 1
            self.column = 0


_CELL_REF = re.compile(rb"([A-Za-z]+)([0-9]+)")
_ROW_REF = re.compile(rb"[A-Za-z]*([0-9]+)")


def _row_number(reference, info):
    """0-based row of a ``<row r>`` (letters before the number are ignored, as calamine does)."""
    match = _ROW_REF.fullmatch(reference)
    if match is None or int(match.group(1)) == 0:
        raise Refused(f"This XLSX file cannot be read: {info.filename} has a bad row number.")
    return int(match.group(1)) - 1


def _cell_position(reference, info):
    match = _CELL_REF.fullmatch(reference)
    if match is None or int(match.group(2)) == 0:
        raise Refused(f"This XLSX file cannot be read: {info.filename} has a bad cell reference.")
    return int(match.group(2)) - 1, _column_number(match.group(1))


def _column_number(letters):
    """0-based column of ``A``..``XFD`` (any case, any length)."""
    number = 0
    for letter in letters.upper():
        number = number * 26 + letter - 64
    return number - 1


# --- XLS ---------------------------------------------------------------------------

_END_OF_CHAIN = 0xFFFFFFFE
_FIRST_SPECIAL = 0xFFFFFFFA  # calamine follows the DIFAT chain while below this
_DIFAT_SECTOR = 0xFFFFFFFC  # and loads FAT sectors from DIFAT entries below this
_MINI_CUTOFF = 4096

# BIFF records calamine reads (MS-XLS record types).
_EOF, _CONTINUE, _BOUNDSHEET, _SST, _DIMENSIONS = 0x000A, 0x003C, 0x0085, 0x00FC, 0x0200
_FORMULA, _STRING, _MULRK = 0x0006, 0x0207, 0x00BD
# Cell records: the shortest data calamine accepts (it refuses shorter ones).
_CELLS = {0x0203: 14, 0x0204: 6, 0x00D6: 6, 0x0205: 8, 0x027E: 10, 0x00FD: 10}
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


def check_xls(data, limits):
    """Check an XLS file (its bytes) the way calamine opens it: every sheet, at once."""
    stream = _Compound(data).workbook()
    positions, strings = _workbook_globals(stream)
    if strings > limits.cells:
        raise Refused(
            f"This XLS file declares {strings:,} shared strings; a sheet may span at most "
            f"{limits.cells:,} cells.",
            code="sheet_too_large",
        )
    area = cells = 0
    budget = 2 * len(stream) + 4096  # bytes calamine may read over all sheets
    for number, position in enumerate(positions, start=1):
        if position > len(stream):
            raise Refused(f"This XLS file cannot be read: sheet {number} starts past its end.")
        grid, read = _sheet(stream, position, number, limits)
        budget -= read
        if budget < 0:
            raise Refused("This XLS file cannot be read: its sheets overlap.")
        grid.check(limits, where=f"Sheet {number} of this XLS file", columns=number == 1)
        area += grid.area
        cells += grid.cells
        if area > limits.cells or cells > limits.cells:
            raise Refused(
                f"The first {number} sheets of this XLS file together span {area:,} cells "
                f"(calamine reads every sheet); a workbook may span at most {limits.cells:,}. "
                "Delete the sheets you do not need and upload again.",
                code="sheet_too_large",
            )


def xls_workbook(data):
    """The ``Workbook`` stream of an XLS file (its bytes) that :func:`check_xls` passed."""
    return _Compound(data).workbook()


def _records(stream, position):
    """``(type, start, length)`` of BIFF records from ``position``, CONTINUE records skipped.

    calamine appends CONTINUE records to the record before them; an ill-fitting
    record ends its reading with an error, so it is refused here.
    """
    end = len(stream)
    while position < end:
        if end - position < 4:
            raise Refused("This XLS file cannot be read: a record is cut short.")
        kind, length = struct.unpack_from("<HH", stream, position)
        if position + 4 + length > end:
            raise Refused("This XLS file cannot be read: a record is cut short.")
        yield kind, position + 4, length
        position += 4 + length
        while end - position > 4 and _U16.unpack_from(stream, position)[0] == _CONTINUE:
            length = _U16.unpack_from(stream, position + 2)[0]
            if position + 4 + length > end:
                raise Refused("This XLS file cannot be read: a record is cut short.")
            position += 4 + length


def _workbook_globals(stream):
    """Where each sheet starts (BOUNDSHEET records) and how many shared strings are declared."""
    positions, strings = [], 0
    for kind, start, length in _records(stream, 0):
        if kind == _EOF:
            break
        if kind == _BOUNDSHEET:
            if length < 6:
                raise Refused("This XLS file cannot be read: a sheet record is cut short.")
            positions.append(_U32.unpack_from(stream, start)[0])
        elif kind == _SST:
            if length < 8:
                raise Refused("This XLS file cannot be read: its string table is cut short.")
            declared = struct.unpack_from("<i", stream, start + 4)[0]
            if declared < 0:
                raise Refused("This XLS file cannot be read: its string table is damaged.")
            strings = max(strings, declared)
    return positions, strings


def _sheet(stream, position, number, limits):
    """A sheet's grid from its records; the area its DIMENSIONS records declare is checked too."""
    grid = Grid()
    formula = (0, 0)
    declared = (0, 0)
    read = 0
    for kind, start, length in _records(stream, position):
        read = start + length - position
        if kind == _EOF:
            break
        minimum = _CELLS.get(kind)
        if minimum is not None:
            if length < minimum:
                raise _cut_short(number)
            row, column = struct.unpack_from("<HH", stream, start)
            grid.add(row, column)
        elif kind == _FORMULA:
            if length < 20:
                raise _cut_short(number)
            formula = struct.unpack_from("<HH", stream, start)
            grid.add(*formula)  # its value
            grid.cells += 1  # and its formula, kept in a grid of their own
        elif kind == _STRING:
            grid.add(*formula)  # a formula's text value, at the formula's cell
        elif kind == _MULRK:
            if length < 6 or (length - 6) % 6:
                raise _cut_short(number)
            row, first = struct.unpack_from("<HH", stream, start)
            count = (length - 6) // 6
            if count:
                grid.add(row, first + count - 1)
                grid.cells += count - 1
        elif kind == _DIMENSIONS:
            declared = max(declared, _declared_area(stream, start, length, number))
        if grid.cells > limits.cells:
            break  # refused by the caller
    if declared[0] * declared[1] > limits.cells:
        rows, columns = declared
        raise Refused(
            f"Sheet {number} of this XLS file declares {rows:,} rows x {columns:,} columns "
            f"but holds {grid.cells:,} cells; a sheet may span at most {limits.cells:,} "
            "cells. Save it again from your spreadsheet program (or as CSV) and upload again.",
            code="sheet_too_large",
        )
    return grid, read


def _cut_short(number):
    return Refused(f"This XLS file cannot be read: a cell of sheet {number} is cut short.")


def _declared_area(stream, start, length, number):
    """The rows and columns a DIMENSIONS record declares, computed as calamine does.

    calamine reserves room for that many cells before reading one, with u32
    arithmetic: a first row past the last wraps around to some four billion.
    """
    if length == 10:
        first_row, last_row, first_column, last_column = struct.unpack_from("<HHHH", stream, start)
    elif length == 14:
        first_row, last_row, first_column, last_column = struct.unpack_from("<IIHH", stream, start)
    else:
        raise Refused(
            f"This XLS file cannot be read: sheet {number} has a damaged DIMENSIONS record."
        )
    if last_row >= 1 and last_column >= 1:
        rows = (last_row - 1 - first_row + 1) & 0xFFFFFFFF
        columns = (last_column - 1 - first_column + 1) & 0xFFFFFFFF
        return rows, columns
    return 1, 1


class _Compound:
    """Just enough of MS-CFB to find the Workbook stream calamine will read.

    Every size calamine reserves memory for is checked against the file's
    size, and every sector chain it follows must stay inside the file and
    never loop: calamine trusts them, and aborts the process when they lie.
    """

    def __init__(self, data):
        self.data = data
        if len(data) < 512:
            raise self._damaged("its header is cut short")
        version = _U16.unpack_from(data, 26)[0]
        shift, mini_shift = struct.unpack_from("<HH", data, 30)
        if shift not in (9, 12) or mini_shift != 6:
            raise self._damaged("its sector sizes are not valid")
        self.size = size = 1 << shift
        if len(data) < size:
            raise self._damaged("its header is cut short")
        (
            directory_sectors,
            fat_sectors,
            directory_start,
            _transaction,
            _cutoff,
            mini_fat_start,
            mini_fat_sectors,
            difat_start,
            difat_sectors,
        ) = struct.unpack_from("<9I", data, 40)
        self.body = memoryview(data)[size:]
        self.count = -(-len(self.body) // size)  # sectors present (the last may be short)
        for value in (directory_sectors, fat_sectors, mini_fat_sectors, difat_sectors):
            if value > self.count:
                raise self._damaged("its header declares more sectors than it holds")
        # calamine reads bytes 62..66 (half the mini FAT start, half its length) as the
        # capacity of a list of u32; small in every real file, keep it so.
        if _U32.unpack_from(data, 62)[0] > max(len(data), 1 << 24):
            raise self._damaged("its header is not valid")
        difat = list(struct.unpack_from("<109I", data, 76))
        sector, seen = difat_start, set()
        while sector < _FIRST_SPECIAL:
            if sector >= self.count or sector in seen:
                raise self._damaged("its sector table is broken")
            seen.add(sector)
            difat.extend(self._words(sector))
            sector = difat.pop()
        fat_sectors_used = [sector for sector in difat if sector < _DIFAT_SECTOR]
        if len(fat_sectors_used) > self.count or any(s >= self.count for s in fat_sectors_used):
            raise self._damaged("its sector table is broken")
        self.fat = []
        for sector in fat_sectors_used:
            self.fat.extend(self._words(sector))
        directory = self._chain(directory_start, self.fat, self.count, self._sector)
        if directory_sectors:
            directory = directory[: directory_sectors * size]  # calamine cuts it there too
        self.entries = [directory[i : i + 128] for i in range(0, len(directory), 128)]
        if not self.entries or len(self.entries[0]) < 128:
            raise self._damaged("it has no root directory")
        root_start, root_length = self._entry(self.entries[0])[1:]
        if version != 3 and root_start == _END_OF_CHAIN:
            raise self._damaged("it has no root directory")
        self.mini_stream = b""
        self.mini_fat = []
        if mini_fat_sectors > 0:
            if root_length > len(data):
                raise self._damaged("its root entry is larger than the file")
            self.mini_stream = self._chain(root_start, self.fat, self.count, self._sector)[
                :root_length
            ]
            mini_fat = self._chain(mini_fat_start, self.fat, self.count, self._sector)
            mini_fat = mini_fat[: mini_fat_sectors * size]
            self.mini_fat = list(_U32.iter_unpack(mini_fat[: len(mini_fat) // 4 * 4]))
            self.mini_fat = [value for (value,) in self.mini_fat]

    def workbook(self):
        """The ``Workbook`` stream (``Book`` for BIFF5), found and read as calamine does."""
        if any(
            len(entry) >= 128 and self._entry(entry)[0] == "EncryptedPackage"
            for entry in self.entries
        ):
            # An encrypted XLSX is an OLE2 file too; calamine would refuse it all the same.
            raise Refused("This file is protected with a password; remove it and upload again.")
        for name in ("Workbook", "Book"):
            for entry in self.entries:
                if len(entry) < 128:
                    raise self._damaged("its directory is cut short")
                entry_name, start, length = self._entry(entry)
                if entry_name != name:
                    continue
                if length > len(self.data):
                    raise self._damaged("a stream is larger than the file")
                if length < _MINI_CUTOFF:
                    count = -(-len(self.mini_stream) // 64)
                    stream = self._chain(start, self.mini_fat, count, self._mini_sector)
                else:
                    stream = self._chain(start, self.fat, self.count, self._sector)
                return stream[:length]
        raise Refused("This XLS file cannot be read: it has no workbook stream.")

    def _entry(self, entry):
        name = bytes(entry[:64]).decode("utf-16-le", errors="replace").split("\x00", 1)[0]
        start = _U32.unpack_from(entry, 116)[0]
        if self.size == 512:
            length = _U32.unpack_from(entry, 120)[0]
        else:
            length = struct.unpack_from("<Q", entry, 120)[0]
        return name, start, length

    def _sector(self, sector):
        return self.body[sector * self.size : (sector + 1) * self.size]

    def _mini_sector(self, sector):
        return self.mini_stream[sector * 64 : (sector + 1) * 64]

    def _words(self, sector):
        raw = self._sector(sector)
        return [value for (value,) in _U32.iter_unpack(raw[: len(raw) // 4 * 4])]

    def _chain(self, start, table, count, read):
        """The bytes of a sector chain; it must stay inside the file and never loop."""
        out = bytearray()
        sector, steps = start, 0
        while sector != _END_OF_CHAIN:
            if sector >= count or sector >= len(table) or steps >= count:
                raise self._damaged("a sector chain is broken")
            out += read(sector)
            sector = table[sector]
            steps += 1
        return bytes(out)

    @staticmethod
    def _damaged(why):
        return Refused(f"This XLS file cannot be read: {why}.")
