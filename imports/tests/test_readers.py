"""Readers and column mapping, on real files written here (no database needed)."""

import io
import zipfile

import openpyxl
import pytest
import xlwt

from imports import readahead
from imports.columns import fold, map_columns
from imports.readers import (
    CSV,
    XLS,
    XLSX,
    InvalidFile,
    UnsupportedFile,
    inspect,
    open_table,
    sniff_delimiter,
)

ROWS = [
    ["FirstName", "Phone", "Notes"],
    ["José", "9876543210", "café"],
    ["Zoë", "+919876543211", ""],
]


def rows_of(data):
    return list(open_table(io.BytesIO(data)))


def csv_text(rows, delimiter=","):
    return "\r\n".join(delimiter.join(row) for row in rows) + "\r\n"


@pytest.mark.parametrize(
    ("encoding", "prefix", "expected"),
    [
        ("utf-8", b"", "utf-8"),
        ("utf-8", b"\xef\xbb\xbf", "utf-8-sig"),
        ("utf-16-le", b"\xff\xfe", "utf-16"),
        ("cp1252", b"", "cp1252"),
    ],
)
def test_csv_encodings_read_the_same_rows(encoding, prefix, expected):
    data = prefix + csv_text(ROWS).encode(encoding)
    info = inspect(io.BytesIO(data))
    assert (info.kind, info.encoding) == (CSV, expected)
    assert rows_of(data) == [(1, ROWS[0]), (2, ROWS[1]), (3, ROWS[2])]


def test_excel_unicode_text_is_utf16_with_tabs():
    # Excel's "Unicode Text" export: UTF-16LE with a BOM, tab separated, CRLF.
    data = b"\xff\xfe" + csv_text(ROWS, "\t").encode("utf-16-le")
    table = open_table(io.BytesIO(data))
    assert list(table) == [(1, ROWS[0]), (2, ROWS[1]), (3, ROWS[2])]
    assert table.delimiter == "\t"


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_sniffed(delimiter):
    table = open_table(io.BytesIO(csv_text(ROWS, delimiter).encode()))
    assert list(table)[1] == (2, ROWS[1])
    assert table.delimiter == delimiter


def test_sniffer_ignores_delimiters_inside_quotes():
    assert sniff_delimiter('"Name, full";Phone;Notes\n') == ";"
    assert sniff_delimiter("Name\n") == ","


def test_bom_header_matches_first_name_column():
    data = b"\xef\xbb\xbf" + b"FirstName,Phone\nAsha,9876543210\n"
    header = rows_of(data)[0][1]
    assert header == ["FirstName", "Phone"]
    assert map_columns(header).fields == {"first_name": 0, "phone": 1}


def test_blank_rows_are_skipped_and_lines_are_physical():
    data = b'Name,Phone,Notes\n\n,,\nAsha,98765 43210,"two\nlines"\nRavi,9876543211,x\n'
    assert rows_of(data) == [
        (1, ["Name", "Phone", "Notes"]),
        (4, ["Asha", "98765 43210", "two\nlines"]),
        (6, ["Ravi", "9876543211", "x"]),
    ]


def test_unclosed_quote_is_an_error_naming_the_line():
    data = b'Name,Phone\nAsha,9876543210\nRavi,"9876543211\nMeera,9876543212\n'
    with pytest.raises(InvalidFile) as caught:
        rows_of(data)
    assert caught.value.code == "malformed_csv"
    assert "Line 3" in caught.value.message
    assert "unclosed quote" in caught.value.message


def test_stray_quote_inside_a_field_is_an_error():
    with pytest.raises(InvalidFile, match="Line 2"):
        rows_of(b'Name,Phone\n"Asha"x,9876543210\n')


def test_formula_text_is_kept_verbatim_in_csv():
    data = b'Name,Phone\n=HYPERLINK("http://x"),9876543210\n'
    assert rows_of(data)[1][1][0] == '=HYPERLINK("http://x")'


def xlsx_bytes(rows, *, start_row=1):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for offset, row in enumerate(rows):
        for column, value in enumerate(row, start=1):
            cell = sheet.cell(row=start_row + offset, column=column, value=value)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # text that looks like a formula, as users type it
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_xlsx_is_read_with_row_numbers_and_float_phones_as_digits():
    data = xlsx_bytes(
        [["First Name", "Mobile"], ["Asha", 9876543210], ["=cmd|'/c calc'!A0", 9.87654321e9]],
        start_row=2,
    )
    assert inspect(io.BytesIO(data)).kind == XLSX
    assert rows_of(data) == [
        (2, ["First Name", "Mobile"]),
        (3, ["Asha", "9876543210"]),
        (4, ["=cmd|'/c calc'!A0", "9876543210"]),
    ]


def test_xls_written_by_xlwt_is_read():
    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("Leads")
    for r, row in enumerate(
        [["FirstName", "Phone"], ["Asha", 9876543210.0], ["Ravi", "98765 43211"]]
    ):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    out = io.BytesIO()
    workbook.save(out)
    data = out.getvalue()
    assert inspect(io.BytesIO(data)).kind == XLS
    assert rows_of(data)[1:] == [(2, ["Asha", "9876543210"]), (3, ["Ravi", "98765 43211"])]


def test_renamed_executable_is_refused_by_content():
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(200)
    with pytest.raises(UnsupportedFile) as caught:
        inspect(io.BytesIO(exe))
    assert caught.value.status == 415
    assert "executable" in caught.value.message


def test_binary_garbage_is_refused():
    with pytest.raises(UnsupportedFile):
        inspect(io.BytesIO(b"\x00\x01\x02garbage\x00" * 10))


def test_zip_that_is_not_a_workbook_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(UnsupportedFile):
        list(open_table(io.BytesIO(out.getvalue())))


def test_zip_bomb_is_refused_before_parsing():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\x00" * (50 * 1024 * 1024))
    data = out.getvalue()
    assert len(data) < 200_000
    with pytest.raises(InvalidFile) as caught:
        list(open_table(io.BytesIO(data)))
    assert caught.value.code == "zip_bomb"


def test_zip_with_too_many_entries_is_refused(settings):
    settings.IMPORT_XLSX_MAX_ENTRIES = 50
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        for n in range(60):
            archive.writestr(f"xl/junk{n}.xml", "x")
    with pytest.raises(InvalidFile, match="parts"):
        list(open_table(io.BytesIO(out.getvalue())))


def test_empty_file_is_refused():
    with pytest.raises(InvalidFile):
        inspect(io.BytesIO(b"  \n"))


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("FirstName", "first_name"),
        ("first name", "first_name"),
        ("First_Name", "first_name"),
        ("NAME", "first_name"),
        ("Phone Number", "phone"),
        ("mobile", "phone"),
        ("Contact", "phone"),
        ("last-name", "last_name"),
        ("E-mail", "email"),
        ("Comments", "notes"),
        ("note", "notes"),
    ],
)
def test_header_aliases(header, field):
    others = {"first_name": ["Phone"], "phone": ["Name"]}.get(field, ["Name", "Phone"])
    columns = map_columns([header, *others])
    assert columns.fields[field] == 0
    assert fold(" First_ Name ") == "firstname"


def test_unknown_and_second_matching_columns_go_to_extra():
    columns = map_columns(["Name", "Phone", "City", "Mobile", ""])
    assert columns.fields == {"first_name": 0, "phone": 1}
    assert columns.extra == [(2, "City"), (3, "Mobile"), (4, "column_5")]


def test_missing_columns_name_the_columns_found():
    with pytest.raises(InvalidFile) as caught:
        map_columns(["Name", "City", "Email"])
    assert caught.value.code == "missing_columns"
    assert '"Name", "City", "Email"' in caught.value.message
    assert "phone" in caught.value.fields


def test_phones_seen_earlier_are_found_when_they_outgrow_the_memory_cache(monkeypatch):
    monkeypatch.setattr(readahead, "SEEN_CACHE_KIB", 64)  # a few pages: the rest goes to disk
    base = 919800000000
    order = [n * 7919 % 60_000 for n in range(60_000)]  # every key once, shuffled
    line_of = {base + key: line for line, key in enumerate(order, start=2)}
    seen = readahead.SeenPhones()
    try:
        for start in range(0, 60_000, 10_000):  # chunk by chunk, as the reader adds them
            seen.add(
                (base + key, line)
                for line, key in enumerate(order[start : start + 10_000], start=start + 2)
            )
        asked = [base + n for n in range(59_990, 60_010)]
        assert seen.lines(asked) == {key: line_of[key] for key in asked[:10]}
        assert seen.db.execute("PRAGMA cache_size").fetchone()[0] == -64
    finally:
        seen.close()
