"""Turn an uploaded file into rows of text, whatever wrote it.

The type is judged by the first bytes, never by the name: a ZIP that holds a
workbook is XLSX, an OLE2 compound file is XLS, anything else must be text.
CSV, XLSX and XLS are streamed, so memory stays flat however long the file
is: an XLSX sheet from its XML (:mod:`imports.xlsxstream`), an XLS sheet from
its BIFF records (:mod:`imports.xlsstream`), with python-calamine reading the
sheets those readers do not follow.

The work is bounded by what a file really holds, and checked by
:func:`inspect` before anything is stored or parsed for real: an XLSX's ZIP
directory (zip bomb), where the cells of a spreadsheet really are and what its
structure declares (:mod:`imports.spreadsheets`: calamine builds a dense grid
from the first to the last cell), and for CSV the width of every row and the
size of every field (one pass of the csv module, which is cheap next to an
import). The limits are ``IMPORT_MAX_COLUMNS``, ``IMPORT_MAX_CELLS`` and
``IMPORT_MAX_FIELD_CHARS``.
"""

import codecs
import csv
import ctypes
import dataclasses
import datetime
import functools
import hashlib
import io
import itertools
import logging
import marshal
import tempfile
import zipfile
from dataclasses import dataclass

from django.conf import settings

from common.errors import DomainError

from . import spreadsheets, xlsstream, xlsxstream

logger = logging.getLogger(__name__)

CSV, XLSX, XLS = "csv", "xlsx", "xls"

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_BINARY_MAGIC = {
    b"MZ": "a Windows executable",
    b"\x7fELF": "an ELF executable",
    b"\xcf\xfa\xed\xfe": "a Mach-O executable",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
    b"Rar!": "a RAR archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
}
# Bytes, not rows: the head judges a file's type, encoding and delimiter; the
# read size is how much of the file is hashed or decoded at a time.
_HEAD_BYTES = 64 * 1024
_READ_BYTES = 1024 * 1024


class InvalidFile(DomainError):
    status = 400
    code = "invalid_file"


class UnsupportedFile(DomainError):
    status = 415
    code = "unsupported_file_type"


@dataclass(frozen=True)
class FileInfo:
    sha256: str
    size: int
    kind: str
    encoding: str = ""
    # An XLSX sheet written plainly: where its cells lie (spreadsheets.Layout), for streaming.
    layout: spreadsheets.Layout | None = None


def inspect(fileobj, *, contents=True):
    """Hash the file, judge its type and (for text) its encoding, and check what it holds.

    ``contents`` False leaves out the costly part, :func:`check_contents` (the
    spreadsheet's cells, every CSV row), and only checks an XLSX's ZIP
    directory: a queued upload is answered at once and its worker, which
    inspects the file fully before reading it, refuses it there.

    Reading the whole file once is cheap next to parsing it, and it lets a CSV
    that is not valid UTF-8 fall back to cp1252 before a single row is read.
    Then :func:`check_contents` refuses a file over the limits, before the
    caller stores it or reads a row.
    """
    fileobj.seek(0)
    head = fileobj.read(_HEAD_BYTES)
    kind = detect_kind(head)
    digest = hashlib.sha256(head)
    size = len(head)
    encoding = _bom_encoding(head) if kind == CSV else ""
    utf8 = codecs.getincrementaldecoder("utf-8")() if kind == CSV and not encoding else None
    try:
        if utf8:
            utf8.decode(head)
        while chunk := fileobj.read(_READ_BYTES):
            digest.update(chunk)
            size += len(chunk)
            if utf8:
                utf8.decode(chunk)
        if utf8:
            utf8.decode(b"", final=True)
    except UnicodeDecodeError:
        utf8 = None
        encoding = "cp1252"
        while chunk := fileobj.read(_READ_BYTES):
            digest.update(chunk)
            size += len(chunk)
    if kind == CSV and not encoding:
        encoding = "utf-8"
    info = FileInfo(digest.hexdigest(), size, kind, encoding)
    if contents:
        info = dataclasses.replace(info, layout=check_contents(fileobj, info))
    elif kind == XLSX:
        fileobj.seek(0)
        check_zip(fileobj)
    fileobj.seek(0)
    return info


def check_contents(fileobj, info):
    """Refuse a file whose contents exceed the limits, before anything parses it for real.

    Returns an XLSX sheet's :class:`spreadsheets.Layout` when it can be streamed.

    Spreadsheets: see :mod:`imports.spreadsheets`. CSV: one pass of the csv
    module over the whole file checks every row's width and every field's
    size, so an over-long field near the end is refused at once, not after
    the rows before it were imported. Quoting errors are left to the read
    itself, which reports them with their line as before.
    """
    limits = spreadsheets.Limits(
        cells=settings.IMPORT_MAX_CELLS, columns=settings.IMPORT_MAX_COLUMNS
    )
    fileobj.seek(0)
    try:
        if info.kind == XLSX:
            check_zip(fileobj)
            return spreadsheets.check_xlsx(fileobj, limits)
        elif info.kind == XLS:
            spreadsheets.check_xls(fileobj.read(), limits)
        else:
            Table(fileobj, info).check_csv()
    except spreadsheets.Refused as exc:
        raise InvalidFile(exc.message, code=exc.code) from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InvalidFile(
            f"This {info.kind.upper()} file cannot be read: {exc}", code="unreadable_file"
        ) from exc
    finally:
        fileobj.seek(0)


def detect_kind(head):
    if head.startswith(_OLE2):
        return XLS
    if head.startswith(_ZIP):
        return XLSX
    for magic, what in _BINARY_MAGIC.items():
        if head.startswith(magic):
            raise UnsupportedFile(
                f"This is {what}, not a CSV, XLSX or XLS file.", code="unsupported_file_type"
            )
    if not head.strip():
        raise InvalidFile("The file is empty.", code="empty_file")
    if b"\x00" in head and not _bom_encoding(head):
        raise UnsupportedFile(
            "This is a binary file, not a CSV, XLSX or XLS file.", code="unsupported_file_type"
        )
    return CSV


def _bom_encoding(head):
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # the codec reads the BOM and picks the byte order
    return ""


class Table:
    """Rows of a file as ``(line, [text, ...])``, the header included.

    ``line`` is what a person sees: the physical line where a CSV record starts,
    the row number of a spreadsheet. Blank rows are skipped.
    """

    def __init__(self, fileobj, info):
        self.fileobj = fileobj
        self.info = info
        self.kind = info.kind
        self.delimiter = ""
        self._position = 0
        self._total = info.size

    def progress(self):
        """Share of the file read so far, 0..1 (for progress bars)."""
        if self.kind == CSV:
            try:
                return min(1.0, self.fileobj.tell() / max(self._total, 1))
            except (OSError, ValueError):
                return 0.0
        return min(1.0, self._position / max(self._total, 1))

    def __iter__(self):
        if self.kind == CSV:
            return self._csv_rows()
        return self._sheet_rows()

    # --- CSV ----------------------------------------------------------------
    def _csv_rows(self):
        for line, record in self._csv_records():
            # Most rows start with a filled cell; only the others need the full look.
            first = record[0] if record else ""
            if (first and not first.isspace()) or any(cell.strip() for cell in record):
                yield line, record

    def check_csv(self):
        """Read every record once for the limits (width, field size); see :func:`check_contents`."""
        try:
            for _line, _record in self._csv_records():
                pass
        except InvalidFile as exc:
            if exc.code in _CSV_LIMITS:
                raise
            # A quoting or encoding error: the read itself reports it, at its line.

    def _csv_records(self):
        """Every record with the line it starts on; rows wider than the limit are refused."""
        limit = settings.IMPORT_MAX_FIELD_CHARS
        if csv.field_size_limit() != limit:
            csv.field_size_limit(limit)  # process-wide, like every setting
        max_columns = settings.IMPORT_MAX_COLUMNS
        self.fileobj.seek(0)
        head = self.fileobj.read(_HEAD_BYTES)
        self.fileobj.seek(0)
        self.delimiter = sniff_delimiter(head.decode(self.info.encoding, errors="ignore"))
        reader = csv.reader(self._text(), delimiter=self.delimiter, strict=True)
        start = 1
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise self._csv_error(exc, start, limit) from exc
            except UnicodeDecodeError as exc:
                raise InvalidFile(
                    f"Line {start}: the text is not valid {self.info.encoding}.",
                    code="malformed_csv",
                ) from exc
            line, start = start, reader.line_num + 1
            if len(record) > max_columns and _width(record) > max_columns:
                raise InvalidFile(
                    f"Line {line} has {_width(record):,} columns; at most {max_columns:,} "
                    "columns are read. Delete the columns you do not need (or check the "
                    "delimiter) and upload again.",
                    code="too_many_columns",
                )
            yield line, record

    def _text(self):
        self.fileobj.seek(0)
        errors = "replace" if self.info.encoding == "cp1252" else "strict"
        return io.TextIOWrapper(
            io.BufferedReader(_Unclosable(self.fileobj), _READ_BYTES),
            encoding=self.info.encoding,
            errors=errors,
            newline="",
        )

    def _csv_error(self, exc, line, limit):
        """The csv module's error, said plainly.

        A field over ``field_size_limit`` is either a long field or a quote that
        is never closed (everything after it becomes one field): the record is
        read again from its first line to tell which.
        """
        text = str(exc)
        if "field larger than field limit" in text:
            kind, where = _overflow(self._text(), line, self.delimiter, limit)
            if kind == "long":
                return InvalidFile(
                    f"Line {where}: a field is longer than {limit:,} characters, the most a "
                    "CSV field may hold. Shorten it or remove it and upload again.",
                    code="field_too_large",
                )
            line = where
        elif "unexpected end of data" not in text:
            return InvalidFile(f"Line {line}: malformed CSV ({text}).", code="malformed_csv")
        return InvalidFile(
            f"Line {line}: a quoted field is never closed (unclosed quote). "
            "Close the quote or remove it and upload again.",
            code="malformed_csv",
        )

    # --- XLSX / XLS -----------------------------------------------------------
    def _sheet_rows(self):
        """Rows of the first sheet, the row number as the line.

        An XLSX sheet written plainly (``info.layout``, found by :func:`inspect`)
        is streamed from its XML (:mod:`imports.xlsxstream`), an XLS sheet from
        its BIFF records (:mod:`imports.xlsstream`): memory does not grow with
        the sheet, and the parsing overlaps the import's writes. Every row has
        the layout's columns, as calamine would give them. Any other sheet, and
        the rest of a sheet where the streamed reading meets something it does
        not follow, are read by calamine.
        """
        if self.kind == XLS:
            sheet = xlsstream.SheetReader(self.fileobj, cell_text=_cell_text)
            layout = None
            try:
                if settings.IMPORT_XLS_STREAM:
                    layout = sheet.layout()
            except xlsxstream.Unhandled as exc:
                logger.info("XLS sheet read by calamine: %s", exc)
        else:
            layout = self.info.layout if self.kind == XLSX else None
            if layout is not None:
                columns = (layout.first_column, layout.columns)
                sheet = xlsxstream.SheetReader(self.fileobj, cell_text=_cell_text, columns=columns)
        if layout is None:
            sheet = None  # an XLS reader's stream: calamine reads the file itself
            yield from self._calamine_rows()
            return
        first, width = layout.first_column, layout.columns - layout.first_column
        self._total = max(layout.rows, 1)
        done = 0
        try:
            for index, cells in sheet:
                record = [""] * width
                for column, text in cells:
                    record[column - first] = text
                self._position = done = index
                yield index, record
        except xlsxstream.Unhandled as exc:
            if exc.row is not None and exc.row <= done:
                raise self._unreadable(exc) from None  # calamine would merge it into a row imported
            logger.info("%s sheet read by calamine after row %s: %s", self.kind.upper(), done, exc)
            sheet = None
            yield from self._calamine_rows(after=done, layout=layout if done else None)

    def _calamine_rows(self, *, after=0, layout=None):
        """Rows after ``after``, spooled to a temporary file before the first is yielded.

        calamine holds the whole sheet at once (a dense grid and every string).
        Its rows are written out in marshal chunks and calamine's memory given
        back before they are yielded, so a worker holds either the sheet or
        the import's chunks, never both. :func:`inspect` has checked the grid.
        With a ``layout`` the rows are laid out as the streamed rows before them.
        """
        with tempfile.TemporaryFile() as spool:
            shift = self._spool_calamine(spool, after)
            if layout is not None:
                shift -= layout.first_column
                width = layout.columns - layout.first_column
            spool.seek(0)
            while size := spool.read(8):
                # marshal.loads of one block: marshal.load from a file reads it a few bytes a call.
                data = spool.read(int.from_bytes(size, "little"))
                for index, record in marshal.loads(data):  # noqa: S302 - our own file, written above
                    self._position = index
                    if layout is not None:
                        record = [""] * shift + record
                        record += [""] * (width - len(record))
                    yield index, record

    def _check_width(self, width):
        if width > settings.IMPORT_MAX_COLUMNS:
            raise InvalidFile(
                spreadsheets.too_many_columns(
                    "The sheet", width, settings.IMPORT_MAX_COLUMNS
                ).message,
                code="too_many_columns",
            )

    def _spool_calamine(self, spool, after):
        """Spool calamine's rows after row ``after``; returns the sheet's first column."""
        from python_calamine import CalamineError, CalamineWorkbook

        self.fileobj.seek(0)
        try:
            workbook = CalamineWorkbook.from_filelike(self.fileobj)
            sheet = workbook.get_sheet_by_index(0)
            # The exact width, now that calamine has read the sheet (inspect judged the file).
            self._check_width(sheet.width)
            self._total = max(sheet.height, 1)
            chunk = []
            # iter_rows starts at the sheet's first row, so the index is the row number.
            for index, cells in enumerate(sheet.iter_rows(), start=1):
                if index <= after:
                    continue
                record = [cell if cell.__class__ is str else _cell_text(cell) for cell in cells]
                if any(record):
                    chunk.append((index, record))
                    if len(chunk) == _SPOOL_ROWS:
                        _spool_chunk(spool, chunk)
                        chunk = []
            _spool_chunk(spool, chunk)
            return sheet.start[1] if sheet.start else 0
        except (CalamineError, ValueError, OSError) as exc:
            raise self._unreadable(exc) from exc
        except OverflowError:
            # python-calamine turns a date or duration cell into a Python value as it
            # hands out its row: 1e20 in a [h]:mm cell is past what timedelta holds.
            raise self._unreadable("a date or time cell holds a value out of range") from None
        except InvalidFile:
            raise
        except BaseException as exc:
            if not _is_panic(exc):
                raise
            raise self._unreadable("it is damaged (the spreadsheet reader gave up on it)") from None
        finally:
            workbook = sheet = None
            give_back_memory()

    def _unreadable(self, exc):
        return InvalidFile(
            f"This {self.kind.upper()} file cannot be read: {exc}", code="unreadable_file"
        )


_CSV_LIMITS = ("too_many_columns", "field_too_large")
_SPOOL_ROWS = 10_000


def _spool_chunk(spool, chunk):
    data = marshal.dumps(chunk)
    spool.write(len(data).to_bytes(8, "little"))
    spool.write(data)


def give_back_memory():
    """Return freed heap pages to the system, so the sheet's memory is not kept (glibc only)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _is_panic(exc):
    """A Rust panic in calamine, which PyO3 raises as ``pyo3_runtime.PanicException``.

    It derives from BaseException, not Exception, so nothing else would catch it
    and a malformed file would end the request with a 500 (or the reader thread).
    """
    return type(exc).__name__ == "PanicException"


def _width(record):
    """Columns up to the last one that holds something (trailing empty cells do not count)."""
    for index in range(len(record) - 1, -1, -1):
        if record[index] and not record[index].isspace():
            return index + 1
    return 0


def _overflow(text, line, delimiter, limit):
    """Why the csv module gave up on the record that starts on ``line``.

    Returns ``("long", line of the field)`` when a field is longer than
    ``limit``, ``("open", line of the quote)`` when a quote opened in the
    record is never closed before the end of the file. Reads the record the way
    the csv module does (strict, ``"`` doubled inside quotes), a line at a time.
    """
    lines = iter(text)
    for _skipped in itertools.islice(lines, line - 1):  # the lines before the record
        pass
    number, length, field_line, state = line - 1, 0, line, _START
    for chunk in lines:
        number += 1
        position, end = 0, len(chunk)
        content_end = len(chunk.rstrip("\r\n"))
        while position < end:
            if state == _QUOTED:
                quote = chunk.find('"', position)
                if quote < 0:
                    length += end - position
                    break
                length += quote - position
                position, state = quote + 1, _QUOTE
                continue
            char = chunk[position]
            if state == _QUOTE:
                if char == '"':  # a doubled quote: one quote of text
                    length, position, state = length + 1, position + 1, _QUOTED
                    continue
                if length > limit:
                    return "long", field_line
                if char != delimiter:
                    return "long", line  # the record ends (or the csv module stops here)
                position, state = position + 1, _START
                continue
            if state == _START:
                field_line, length = number, 0
                if char == '"':
                    position, state = position + 1, _QUOTED
                    continue
                state = _FIELD
            # An unquoted field runs to the next delimiter or the end of the line.
            stop = chunk.find(delimiter, position, content_end)
            stop = content_end if stop < 0 else stop
            length += stop - position
            if length > limit:
                return "long", field_line
            if stop == content_end:
                return "long", line
            position, state = stop + 1, _START
    if state == _QUOTED:
        return "open", field_line
    return "long", field_line


_START, _FIELD, _QUOTED, _QUOTE = range(4)


class _Unclosable(io.RawIOBase):
    """Lets a TextIOWrapper read a file it must not close when it is collected."""

    def __init__(self, fileobj):
        self._f = fileobj

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._f.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def sniff_delimiter(text):
    """Pick ``,``, ``;`` or tab: the one the header line uses most, outside quotes."""
    first = ""
    for line in text.splitlines():
        if line.strip():
            first = line
            break
    counts = dict.fromkeys((",", ";", "\t"), 0)
    quoted = False
    for char in first:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def check_zip(fileobj):
    """Refuse an XLSX whose directory promises a zip bomb, before anything inflates it."""
    max_entries = settings.IMPORT_XLSX_MAX_ENTRIES
    max_unpacked = settings.IMPORT_XLSX_MAX_UNPACKED
    max_ratio = settings.IMPORT_XLSX_MAX_RATIO
    fileobj.seek(0)
    try:
        with zipfile.ZipFile(fileobj) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvalidFile("This XLSX file is damaged (not a readable ZIP).") from exc
    if not any(entry.filename == "xl/workbook.xml" for entry in entries):
        raise UnsupportedFile("This ZIP archive is not an XLSX workbook.")
    if len(entries) > max_entries:
        raise _bomb(f"it has {len(entries)} parts (at most {max_entries} allowed)")
    unpacked = sum(entry.file_size for entry in entries)
    packed = sum(entry.compress_size for entry in entries)
    if unpacked > max_unpacked:
        raise InvalidFile(
            f"This XLSX file unpacks to {unpacked:,} bytes; at most {max_unpacked:,} are read "
            "(a sheet's text is kept in memory while it is imported). Split it, or save it as "
            "CSV, and upload again.",
            code="zip_bomb",
        )
    if unpacked > 1024 * 1024 and unpacked > max_ratio * max(packed, 1):
        raise _bomb(f"it unpacks {unpacked // max(packed, 1)}x (at most {max_ratio}x allowed)")
    for entry in entries:
        if entry.file_size > 1024 * 1024 and entry.file_size > max_ratio * max(
            entry.compress_size, 1
        ):
            raise _bomb(f"{entry.filename} unpacks more than {max_ratio}x")


def _bomb(why):
    return InvalidFile(f"This XLSX file was refused as a zip bomb: {why}.", code="zip_bomb")


def _cell_text(value):
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        # Spreadsheets keep phone numbers as floats: 9876543210.0 is "9876543210".
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return "" if value is None else str(value)


def open_table(fileobj, info=None):
    """Inspect ``fileobj`` (binary, seekable) and return its :class:`Table`."""
    return Table(fileobj, info or inspect(fileobj))
