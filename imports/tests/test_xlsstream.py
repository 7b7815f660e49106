"""The streamed XLS reading (imports/xlsstream.py) against python-calamine's, row for row."""

import datetime
import io
import logging
import random
import struct
import subprocess
import sys

import pytest
import xlwt
from django.conf import settings
from xlwt.CompoundDoc import XlsDoc

from imports import xlsstream
from imports.readers import InvalidFile, Table, inspect

from .test_hostile_files import calamine_guard, calamine_panic_xls  # noqa: F401 - a fixture
from .test_xlsxstream import calamine_forbidden

FORMATS = [
    "general",
    "yyyy-mm-dd",
    "h:mm:ss",
    "[h]:mm",
    "d/m/yy h:mm AM/PM",
    "0.0%",
    '"Y "0',
    "[ss]",
    "mm-dd-yy",
    "dd/mm/yy hh:mm",
    "0.00",
    "@",
]


def both(data):
    """The rows read streamed (calamine forbidden) and by calamine alone."""
    info = inspect(io.BytesIO(data))
    calamine = list(Table(io.BytesIO(data), info)._calamine_rows())
    with calamine_forbidden():
        streamed = list(Table(io.BytesIO(data), info))
    return streamed, calamine


def saved(workbook, records=b""):
    """The workbook's file, with ``records`` (BIFF) written at the end of its last sheet."""
    stream = workbook.get_biff_data()
    assert stream.endswith(b"\x0a\x00\x00\x00")  # the last sheet's EOF ends the stream
    out = io.BytesIO()
    XlsDoc().save(out, stream[:-4] + records + stream[-4:])
    return out.getvalue()


def record(kind, data):
    return struct.pack("<HH", kind, len(data)) + data


def label(row, column, text, *, wide, kind=0x0204):
    """A LABEL record (or an RSTRING, ``kind`` 0x00D6, with no formatting runs)."""
    chars = text.encode("utf-16-le") if wide else text.encode("latin-1")
    units = len(chars) // 2 if wide else len(chars)
    runs = b"\0\0" if kind == 0x00D6 else b""
    return record(kind, struct.pack("<HHHHB", row, column, 15, units, wide) + chars + runs)


def formula(row, column, result):
    return record(0x0006, struct.pack("<HHH", row, column, 15) + result + b"\0" * 6 + b"\x00\x00")


def rk(value, *, integer, hundredths):
    """An RK number: 30 bits of an int or of a float's top, times 100 when ``hundredths``."""
    if integer:
        bits = (value << 2) & 0xFFFFFFFF | 2
    else:
        bits = struct.unpack("<Q", struct.pack("<d", value))[0] >> 32 & 0xFFFFFFFC
    return bits | hundredths


def test_every_kind_of_cell_is_read_as_calamine_reads_it():
    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("Leads")
    for column, name in enumerate(["FirstName", "Phone", "Notes", "When", "Other"]):
        sheet.write(0, column, name)
    styles = [xlwt.easyxf(num_format_str=code) for code in FORMATS]
    values = ["Ann", "Zoë", "名前", "", "a\nb\tc", "€uro", "\x80\x9f", "😀 emoji", "=1+1", " pad "]
    numbers = [9876543210, 9876543210.0, 12, -5, 1.5, 0.01, 123456789012345, -0.25, 536870912]
    for row in range(1, 400):
        sheet.write(row, 0, values[row % len(values)])
        sheet.write(row, 1, numbers[row % len(numbers)])
        sheet.write(row, 2, [True, False, "note", 3.14159, xlwt.Formula("1+2")][row % 5])
        sheet.write(row, 3, 44000 + row / 7, styles[row % len(styles)])
        if row % 3:
            sheet.write(row, 4, row * 11)
    # What xlwt does not write: LABEL and RSTRING records, a formula's text in a STRING
    # record, formula booleans, errors and empty text, error cells, MULRK runs.
    records = b"".join(
        [
            label(400, 0, "Label ascii é", wide=False, kind=0x00D6),
            label(400, 1, "Label wide 名前 😀", wide=True),
            formula(401, 0, b"\x00\x00\x00\x00\x00\x00\xff\xff"),
            record(0x0207, struct.pack("<HB", 9, 0) + b"from text"),
            formula(401, 1, b"\x01\x00\x01\x00\x00\x00\xff\xff"),
            formula(401, 2, b"\x02\x00\x07\x00\x00\x00\xff\xff"),
            formula(401, 3, b"\x03\x00\x00\x00\x00\x00\xff\xff"),
            formula(401, 4, struct.pack("<d", 9876543210.0)),
            record(0x0205, struct.pack("<HHHBB", 402, 0, 15, 0x2A, 1)),
            record(0x0205, struct.pack("<HHHBB", 402, 1, 15, 1, 0)),
            record(
                0x00BD,
                struct.pack("<HH", 403, 0)
                + b"".join(
                    struct.pack("<HI", 15, bits)
                    for bits in (
                        rk(98765432, integer=True, hundredths=0),
                        rk(-12345, integer=True, hundredths=1),
                        rk(-1200, integer=True, hundredths=1),
                        rk(2.5, integer=False, hundredths=0),
                        rk(1234.0, integer=False, hundredths=1),
                    )
                )
                + struct.pack("<H", 4),
            ),
            record(0x027E, struct.pack("<HHHI", 404, 1, 15, rk(77, integer=True, hundredths=0))),
            record(0x0203, struct.pack("<HHHd", 404, 3, 15, -0.0)),
        ]
    )
    streamed, calamine = both(saved(workbook, records))

    assert streamed == calamine
    assert len(streamed) == 405
    assert streamed[400:] == [
        (401, ["Label ascii é", "Label wide 名前 😀", "", "", ""]),
        (402, ["from text", "TRUE", "", "", "9876543210"]),
        (403, ["", "TRUE", "", "", ""]),
        (404, ["98765432", "-123.45", "-12", "2.5", "12.34"]),
        (405, ["", "77", "", "0", ""]),
    ]


def test_a_formulas_cached_number_takes_the_cells_number_format():
    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("Leads")
    sheet.write(0, 0, "When")
    for row, code in enumerate(["yyyy-mm-dd", "h:mm", "[h]:mm", "0.00", "general"], start=1):
        sheet.write(row, 0, xlwt.Formula("45000+1"), xlwt.easyxf(num_format_str=code))
    stream = bytearray(workbook.get_biff_data())
    position = 0
    while position < len(stream):  # xlwt caches 0: give every formula 45001.5
        kind, length = struct.unpack_from("<HH", stream, position)
        if kind == 0x0006:
            struct.pack_into("<d", stream, position + 10, 45001.5)
        position += 4 + length
    out = io.BytesIO()
    XlsDoc().save(out, bytes(stream))
    streamed, calamine = both(out.getvalue())

    assert streamed == calamine
    assert [cells[0] for _, cells in streamed[1:]] == [
        "2023-03-16T12:00:00",
        "2023-03-16T12:00:00",
        "45001 days, 12:00:00",
        "45001.5",
        "45001.5",
    ]


@pytest.mark.parametrize("seed", range(4))
def test_random_workbooks_match_calamine(seed):
    rng = random.Random(seed)
    workbook = xlwt.Workbook()
    workbook.dates_1904 = seed % 2 == 1
    sheet = workbook.add_sheet("Leads", cell_overwrite_ok=True)
    workbook.add_sheet("Other").write(0, 0, "another sheet")
    styles = [xlwt.easyxf(num_format_str=code) for code in FORMATS]
    start = rng.randint(0, 3)
    for row in range(rng.randint(0, 5), 3000):
        for column in range(start, start + 5):
            roll = rng.random()
            if roll < 0.3:  # thousands of shared strings: the table spans CONTINUE records
                alphabet = rng.choice(["abc", "éàü", "名前中文", "😀x", "\x00\t\r\n "])
                size = rng.randint(1, 400)
                sheet.write(row, column, "".join(rng.choice(alphabet) for _ in range(size)))
            elif roll < 0.45:
                sheet.write(
                    row, column, rng.choice([rng.randint(-(10**9), 10**9), rng.uniform(-1e6, 1e6)])
                )
            elif roll < 0.6:
                serial = rng.choice(
                    [rng.randint(0, 2_900_000), rng.uniform(0, 2_900_000), rng.random()]
                )
                sheet.write(row, column, serial, rng.choice(styles))
            elif roll < 0.65:
                sheet.write(row, column, xlwt.Formula(f"{rng.randint(0, 100)}*2"))
            elif roll < 0.7:
                sheet.write(row, column, rng.random() < 0.5)
            elif roll < 0.75:
                sheet.write(row, column, "")
    streamed, calamine = both(saved(workbook))

    assert streamed == calamine
    assert len(streamed) > 2900


def test_a_sheet_that_starts_away_from_a1_keeps_calamines_columns_and_row_numbers():
    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("Leads")
    sheet.write(3, 2, "FirstName")
    sheet.write(3, 4, "Phone")
    sheet.write(5, 3, "Ann")
    sheet.write(5, 4, 9876543210)
    streamed, calamine = both(saved(workbook))

    assert streamed == calamine == [(4, ["FirstName", "", "Phone"]), (6, ["", "Ann", "9876543210"])]


def _read_logged(data, caplog):
    """The rows, streamed where the reader can; what it logged about calamine."""
    with caplog.at_level(logging.INFO, logger="imports.readers"):
        rows = list(Table(io.BytesIO(data), inspect(io.BytesIO(data))))
    return rows, [r.getMessage() for r in caplog.records if "calamine" in r.getMessage()]


def test_a_value_not_followed_hands_the_rest_of_the_sheet_to_calamine(caplog):
    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("Leads")
    date = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    for row in range(50):
        sheet.write(row, 0, f"Lead {row}")
        sheet.write(row, 1, 45000 + row if row != 30 else -3, date)  # a date before 1900
    data = saved(workbook)
    rows, logged = _read_logged(data, caplog)

    assert rows == list(Table(io.BytesIO(data), inspect(io.BytesIO(data)))._calamine_rows())
    assert rows[0] == (1, ["Lead 0", "2023-03-15"])
    assert logged == [
        "XLS sheet read by calamine after row 30: a date out of the range followed here"
    ]


@pytest.mark.parametrize(
    ("records", "why"),
    [
        (record(0x00FD, struct.pack("<HHHI", 0, 5, 15, 0)), "row 1 comes after row 3"),
        (label(2, 0, "again", wide=False), "cells out of order in row 3"),
        (record(0x0207, struct.pack("<HB", 1, 0) + b"x"), "a STRING record after no formula"),
        (record(0x0205, struct.pack("<HHHBB", 3, 0, 15, 0x99, 1)), "of an unknown kind"),
    ],
)
def test_a_sheet_written_unusually_is_read_by_calamine_alone(records, why, caplog):
    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("Leads")
    for row in range(3):
        sheet.write(row, 0, f"Lead {row}")
    data = saved(workbook, records)
    try:
        expected = list(Table(io.BytesIO(data), inspect(io.BytesIO(data)))._calamine_rows())
    except Exception as exc:  # calamine refuses it: so does the import
        expected = type(exc)
    try:
        rows, logged = _read_logged(data, caplog)
    except Exception as exc:
        rows, logged = type(exc), [r.getMessage() for r in caplog.records]

    assert rows == expected
    assert len(logged) == 1 and logged[0].startswith("XLS sheet read by calamine: ")
    assert why in logged[0]


def test_a_code_page_other_than_utf16_is_read_by_calamine(caplog):
    workbook = xlwt.Workbook()
    workbook.add_sheet("Leads").write(0, 0, "Ann")
    data = saved(workbook)
    stream = workbook.get_biff_data()
    at = data.find(stream) + stream.find(b"\x42\x00\x02\x00") + 4
    data = data[:at] + struct.pack("<H", 1252) + data[at + 2 :]
    rows, logged = _read_logged(data, caplog)

    assert rows == list(Table(io.BytesIO(data), inspect(io.BytesIO(data)))._calamine_rows())
    assert logged == ["XLS sheet read by calamine: a code page other than UTF-16"]


def test_a_broken_name_record_calamine_panics_on_does_not_stop_the_streamed_reading(caplog):
    # The same 2-byte name record as calamine_panic_xls, in a UTF-16 workbook:
    # the rows are whole, and the names are not what an import reads.
    data = calamine_panic_xls().replace(b"\x42\x00\x02\x00\xe4\x04", b"\x42\x00\x02\x00\xb0\x04")
    rows, logged = _read_logged(data, caplog)

    assert rows and not logged


def _leads_xls(rows):
    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("Leads")
    for column, name in enumerate(["FirstName", "LastName", "Phone", "Email", "Notes"]):
        sheet.write(0, column, name)
    for row in range(1, rows + 1):
        sheet.write(row, 0, f"Lead {row}")
        sheet.write(row, 1, f"Family {row % 977}")
        sheet.write(row, 2, 9_000_000_000 + row)
        sheet.write(row, 3, f"lead{row}@example.com")
        sheet.write(row, 4, f"note {row * 7919 % 100_003}")
    return saved(workbook)


PEAK = r"""
import io, sys
import django

django.setup()
from imports.readers import Table, inspect

data = open(sys.argv[1], "rb").read()
table = Table(io.BytesIO(data), inspect(io.BytesIO(data)))
rows = table._calamine_rows() if sys.argv[2] == "calamine" else table
count = sum(1 for _ in rows)
del data
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
print(count, peak // 1024)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_the_streamed_reading_holds_the_file_not_the_sheet(tmp_path):
    path = tmp_path / "leads.xls"
    path.write_bytes(_leads_xls(30_000))

    def peak(reader):
        result = subprocess.run(  # noqa: S603 - this interpreter, this test's script
            [sys.executable, "-c", PEAK, str(path), reader],
            capture_output=True,
            text=True,
            check=True,
            cwd=settings.BASE_DIR,
        )
        count, megabytes = map(int, result.stdout.split())
        assert count == 30_001
        return megabytes

    streamed, calamine = peak("streamed"), peak("calamine")
    size = path.stat().st_size // 2**20
    # calamine builds every cell first; the streamed reading holds the Workbook
    # stream (the file's size) and one row.
    assert streamed + size < calamine, (streamed, calamine, size)


def test_the_reader_on_its_own_gives_rows_and_cells_as_the_table_lays_them_out():
    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("Leads")
    sheet.write(1, 1, "A")
    sheet.write(
        1, 3, datetime.datetime(2024, 5, 6, 7, 8), xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm")
    )
    reader = xlsstream.SheetReader(io.BytesIO(saved(workbook)), cell_text=str)

    assert reader.layout() == xlsstream.spreadsheets.Layout(1, 4, 2)
    assert list(reader) == [(2, [(1, "A"), (3, "2024-05-06 07:08:00")])]


@pytest.mark.usefixtures("calamine_guard")
def test_rstring_cells_count_toward_the_sheet_size():
    # calamine reads RSTRING records as cells too: one at IV65536 makes it
    # build a grid of 16.7 million cells, whatever DIMENSIONS says.
    workbook = xlwt.Workbook()
    workbook.add_sheet("Leads").write(0, 0, "FirstName")
    data = saved(workbook, label(65535, 255, "x", wide=False, kind=0x00D6))
    with pytest.raises(InvalidFile) as caught:
        inspect(io.BytesIO(data))

    assert caught.value.code == "sheet_too_large"
    assert "spans 65,536 rows x 256 columns (A1:IV65536) but holds only 2 cells" in (
        caught.value.message
    )


def test_with_the_stream_switched_off_calamine_reads_every_xls(settings, monkeypatch):
    settings.IMPORT_XLS_STREAM = False
    workbook = xlwt.Workbook()
    workbook.add_sheet("Leads").write(0, 0, "FirstName")
    data = saved(workbook)
    monkeypatch.setattr(xlsstream.SheetReader, "__iter__", None)  # never used

    assert list(Table(io.BytesIO(data), inspect(io.BytesIO(data)))) == [(1, ["FirstName"])]


def test_damaged_workbooks_give_calamines_rows_wherever_calamine_reads_them():
    """Random bytes of the Workbook stream overwritten, 400 times, a fixed seed.

    Every file is refused by the checks, read the same by both readers, or read
    by the streamed reader only where calamine gives up (a panic on a record an
    import does not need): never other rows, never another error.
    """
    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("Leads")
    date = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    for row in range(20):
        sheet.write(row, 0, f"Lead {row} é名")
        sheet.write(row, 1, 9876543210 + row)
        sheet.write(row, 2, 45000 + row, date)
        sheet.write(row, 3, row * 1.5)
        sheet.write(row, 4, xlwt.Formula("1+2"))
        sheet.write(row, 5, row % 2 == 0)
    stream = workbook.get_biff_data()
    rng = random.Random(20261202)
    outcomes = {"refused": 0, "same": 0, "streamed only": 0}
    for _ in range(400):
        damaged = bytearray(stream)
        for _ in range(rng.randint(1, 6)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        out = io.BytesIO()
        XlsDoc().save(out, bytes(damaged))
        data = out.getvalue()
        try:
            info = inspect(io.BytesIO(data))
        except InvalidFile:
            outcomes["refused"] += 1
            continue

        def read(table, calamine):
            try:
                return list(table._calamine_rows() if calamine else table)
            except InvalidFile as exc:
                return exc.code

        streamed = read(Table(io.BytesIO(data), info), False)
        calamine = read(Table(io.BytesIO(data), info), True)
        if streamed == calamine:
            outcomes["same"] += 1
        else:
            assert calamine == "unreadable_file", (streamed, calamine)
            outcomes["streamed only"] += 1

    assert outcomes["same"] > 200, outcomes


@pytest.mark.parametrize("code", ["[h]:mm", "[ss]"])
def test_a_duration_out_of_pythons_range_is_unreadable_not_a_crash(code):
    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("Leads")
    sheet.write(0, 0, "FirstName")
    sheet.write(1, 0, 1e20, xlwt.easyxf(num_format_str=code))
    data = saved(workbook)
    with pytest.raises(InvalidFile) as caught:
        list(Table(io.BytesIO(data), inspect(io.BytesIO(data))))

    assert caught.value.code == "unreadable_file"
    assert caught.value.message == (
        "This XLS file cannot be read: a date or time cell holds a value out of range"
    )


NUMBERS = [0.0, -0.0, 1.0, 0.5, 45000.25, 2_900_000.5, 1e-9, 59.0, 60.0, 61.0, 0.999999999]


def _random_records(rng, styles):
    """Rows of every cell record, random values and XF indexes (dates and others)."""
    records = []
    texts = ["a", "é名", "😀", "x" * 50, "\x00", "line\nbreak"]
    for row in range(1, 120):
        column = 0
        for _ in range(rng.randint(0, 6)):
            column += rng.randint(0, 3)
            xf = rng.randrange(styles)
            number = rng.choice([*NUMBERS, rng.uniform(0, 80000)])
            roll = rng.random()
            if roll < 0.2:
                records.append(record(0x0203, struct.pack("<HHHd", row, column, xf, number)))
            elif roll < 0.35:
                if rng.random() < 0.5:
                    bits = rk(rng.randint(0, 2_900_000), integer=True, hundredths=rng.randint(0, 1))
                else:
                    bits = rk(number, integer=False, hundredths=rng.randint(0, 1))
                records.append(record(0x027E, struct.pack("<HHHI", row, column, xf, bits)))
            elif roll < 0.45:
                count = rng.randint(1, 4)
                entries = b"".join(
                    struct.pack(
                        "<HI",
                        rng.randrange(styles),
                        rk(rng.randint(0, 100_000), integer=True, hundredths=rng.randint(0, 1)),
                    )
                    for _ in range(count)
                )
                last = struct.pack("<H", column + count - 1)
                records.append(record(0x00BD, struct.pack("<HH", row, column) + entries + last))
                column += count - 1
            elif roll < 0.6:
                text = rng.choice(texts)
                wide = rng.random() < 0.5 or any(ord(char) > 255 for char in text)
                kind = rng.choice([0x0204, 0x00D6])
                records.append(label(row, column, text, wide=wide, kind=kind))
            elif roll < 0.7:
                error = rng.randint(0, 1)
                value = rng.choice([0, 7, 0x2A, 0x0F] if error else [0, 1])
                records.append(record(0x0205, struct.pack("<HHHBB", row, column, xf, value, error)))
            else:
                kind = rng.randint(0, 4)
                if kind == 0:
                    cell = formula(row, column, struct.pack("<d", number))
                    records.append(cell[:8] + struct.pack("<H", xf) + cell[10:])
                elif kind == 1:
                    records.append(formula(row, column, b"\x00\x00\x00\x00\x00\x00\xff\xff"))
                    records.append(record(0x0207, struct.pack("<HB", 3, 0) + b"abc"))
                else:
                    code = rng.choice([0, 7, 0x2A])
                    records.append(
                        formula(row, column, bytes([kind - 1, 0, code, 0, 0, 0, 255, 255]))
                    )
            column += 1
    return b"".join(records)


def test_random_records_of_every_kind_match_calamine():
    codes = [*FORMATS, "yyyy-mm-dd hh:mm:ss", "mm:ss", "[mm]:ss", "d-mmm", "0%", "h AM/PM"]
    for seed in range(40):
        workbook = xlwt.Workbook()
        workbook.dates_1904 = seed % 3 == 0
        sheet = workbook.add_sheet("Leads")
        for column, code in enumerate(codes):
            sheet.write(0, column, 1.0, xlwt.easyxf(num_format_str=code))
        records = _random_records(random.Random(seed), 16 + len(codes) + 8)
        streamed, calamine = both(saved(workbook, records))

        assert streamed == calamine, seed


def test_a_1904_date_past_the_year_9999_is_left_to_calamine(caplog):
    workbook = xlwt.Workbook()
    workbook.dates_1904 = True
    sheet = workbook.add_sheet("Leads")
    sheet.write(0, 0, "When")
    sheet.write(1, 0, 2_958_000.5, xlwt.easyxf(num_format_str="yyyy-mm-dd"))
    data = saved(workbook)
    table = Table(io.BytesIO(data), inspect(io.BytesIO(data)))
    try:
        expected = list(table._calamine_rows())
    except InvalidFile as exc:
        expected = exc.code
    try:
        rows, logged = _read_logged(data, caplog)
    except InvalidFile as exc:
        rows, logged = exc.code, [r.getMessage() for r in caplog.records]

    assert rows == expected
    assert any("(date value out of range)" in message for message in logged), logged
