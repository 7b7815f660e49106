"""The streamed XLSX reading (imports/xlsxstream.py) against python-calamine's, row for row."""

import contextlib
import dataclasses
import io
import logging
import random
import tracemalloc

import pytest

from imports import xlsxstream
from imports.readers import InvalidFile, Table, inspect
from imports.tests.test_hostile_files import NS, xlsx_with_sheet

# Cell styles: 0 general, 1 mm-dd-yy (14), 2 m/d/yy h:mm (22), 3 h:mm (20), 4 [h]:mm:ss (46),
# 5 custom date, 6 custom duration, 7 custom number, then one per custom format below.
FORMATS = [
    "DD/MM/YY",
    "H:MM:SS;@",
    "#,##0\\ [$\\u20bd-46D]",
    'm"M"d"D";@',
    "[h]:mm:ss",
    '"Y: "0.00"m";"Y: "-0.00"m";"Y: <num>m";@',
    '"$"#,##0_);[Red]("$"#,##0)',
    "0_ ;[Red]\\-0\\ ",
    "\\Y000000",
    '#,##0.0####" YMD"',
    "[h]",
    "[ss]",
    "[s].000",
    "[mm]",
    "[Blue]\\+[h]:mm;[Red]\\-[h]:mm;[Green][h]:mm",
    "[>=100][Magenta][s].00",
    "[>=100][Magenta].00",
    "[>=100][Magenta]General",
    "ha/p\\\\m",
    "#,##0*y",
    "*-yyyy-mm-dd",
    "yyyy-mm-dd hh:mm",
    "[$-409]mmmm d, yyyy",
    "0.00%",
    "@",
    "AM/PM h",
    "General",
]
FIRST_CUSTOM = 8


def styles():
    custom = [(164, "yyyy-mm-dd"), (165, "[h]:mm:ss"), (166, "0.00")]
    custom += [(167 + n, code) for n, code in enumerate(FORMATS)]
    codes = "".join(
        f'<numFmt numFmtId="{number}" formatCode="{_attr(code)}"/>' for number, code in custom
    )
    ids = [0, 14, 22, 20, 46, 164, 165, 166] + [number for number, _ in custom[3:]]
    xfs = "".join(f'<xf numFmtId="{number}" applyNumberFormat="1"/>' for number in ids)
    return (
        f'<styleSheet {NS}><numFmts count="{len(custom)}">{codes}</numFmts>'
        '<fonts count="1"><font/></fonts><fills count="1"><fill/></fills>'
        '<borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs>'
        f'<cellXfs count="{len(ids)}">{xfs}</cellXfs></styleSheet>'
    )


def _attr(text):
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def workbook(sheet_data, *, shared=None, date1904=None):
    """An openpyxl workbook whose sheet, styles and shared strings are written by hand."""
    rewrite = {"xl/styles.xml": lambda _data: styles()}
    if date1904 is not None:
        rewrite["xl/workbook.xml"] = lambda data: data.decode().replace(
            "<workbookPr />", f'<workbookPr date1904="{date1904}"/>'
        )
    return xlsx_with_sheet(sheet_data, shared=shared, rewrite=rewrite)


def row(number, cells):
    """``<row>`` of ``{column letter: (attributes, body)}``."""
    written = "".join(
        f'<c r="{letter}{number}"{attributes}>{body}</c>'
        if body is not None
        else f'<c r="{letter}{number}"{attributes}/>'
        for letter, (attributes, body) in cells.items()
    )
    return f'<row r="{number}">{written}</row>'


@contextlib.contextmanager
def calamine_forbidden():
    """Fail the test if anything hands the sheet to calamine meanwhile."""
    from python_calamine import CalamineWorkbook

    original = CalamineWorkbook.from_filelike

    def refuse(*args, **kwargs):
        raise AssertionError("the streamed reading handed the sheet to calamine")

    CalamineWorkbook.from_filelike = refuse
    try:
        yield
    finally:
        CalamineWorkbook.from_filelike = original


def both(data):
    """The rows read streamed (calamine forbidden) and by calamine alone."""
    info = inspect(io.BytesIO(data))
    assert info.layout is not None, "the sheet should be streamed"
    calamine = list(Table(io.BytesIO(data), dataclasses.replace(info, layout=None)))
    with calamine_forbidden():
        streamed = list(Table(io.BytesIO(data), info))
    return streamed, calamine


SHARED = (
    "<si><t>FirstName</t></si><si><t>Phone</t></si>"
    '<si><r><t>Ri</t></r><r><rPr><b/></rPr><t xml:space="preserve">ch </t></r>'
    '<rPh sb="0" eb="1"><t>PHONETIC</t></rPh></si>'
    "<si><t>a&amp;b &lt;c&gt; &#233;&#x41; _x000D_x _x005F_x000D_ line\r\nend\rcr</t></si>"
    '<si><t xml:space="preserve">  spaced  </t></si><si><t/></si><si><t>9876543210</t></si>'
)


def test_every_kind_of_cell_is_read_as_calamine_reads_it():
    rows = [
        row(1, {"A": (' t="s"', "<v>0</v>"), "B": (' t="s"', "<v>1</v>"), "C": ("", "<v>1</v>")}),
        row(
            2,
            {
                "A": (' t="s"', "<v>2</v>"),
                "B": (' t="s"', "<v>3</v>"),
                "C": (' s="0" t="s"', "<v>4</v>"),
                "D": (' t="s"', "<v>5</v>"),
                "E": (' t="s"', "<v>6</v>"),
            },
        ),
        row(
            3,
            {
                "A": (' t="inlineStr"', "<is><t>Asha</t></is>"),
                "B": (' t="inlineStr"', '<is><t xml:space="preserve"> 98765 43210 </t></is>'),
                "C": (' t="inlineStr"', "<is><t>x &amp; y_x000A_z\r\nw</t></is>"),
                "D": (' t="inlineStr"', "<is><t/></is>"),
                "E": (' t="inlineStr"', None),
            },
        ),
        row(
            5,
            {
                "A": ("", "<v>9876543210</v>"),
                "B": (' t="n"', "<v>1.5</v>"),
                "C": ("", "<v>1E+20</v>"),
                "D": ("", "<v>-0</v>"),
                "E": ("", "<v>.5</v>"),
                "F": ("", "<v>+7</v>"),
                "G": ("", "<v>123456789012345678</v>"),
                "H": ("", "<v>0.1</v>"),
                "I": ("", "<v></v>"),
            },
        ),
        row(
            6,
            {
                "A": (' t="b"', "<v>1</v>"),
                "B": (' t="b"', "<v>0</v>"),
                "C": (' t="e"', "<v>#DIV/0!</v>"),
                "D": (' t="str"', "<f>A6&amp;B6</f><v>TRUEFALSE_x000D_</v>"),
                "E": ("", "<f>1+1</f><v>2</v>"),
                "F": ("", '<f t="shared" ref="F6:F7" si="0">E6*2</f><v>4</v>'),
                "G": ("", '<f t="shared" si="0"/><v>8</v>'),
                "H": (' t="e"', "<f>1/0</f><v>#DIV/0!</v>"),
                "I": ("", "<f>NOW()</f>"),
                "J": (' t="str"', "<f>A1</f><v></v>"),
                "K": (' s="3" cm="1"', "<f>1</f><v>0.75</v>"),
            },
        ),
        row(8, {"B": (' s="7"', None), "C": (' s="1"', None)}),  # styled empty cells only
        row(
            9,
            {
                "A": (' s="1"', "<v>45000</v>"),
                "B": (' s="2"', "<v>45000.5</v>"),
                "C": (' s="3"', "<v>0.25</v>"),
                "D": (' s="4"', "<v>1.5</v>"),
                "E": (' s="5"', "<v>45000</v>"),
                "F": (' s="6"', "<v>36.001</v>"),
                "G": (' s="7"', "<v>1.5</v>"),
                "H": (' s="1"', "<v>60</v>"),
                "I": (' s="1"', "<v>59</v>"),
                "J": (' s="2"', "<v>0</v>"),
                "K": (' s="99"', "<v>45000</v>"),
                "L": (' s="2"', "<v>2958465.9999999</v>"),
            },
        ),
    ]
    for number, _code in enumerate(FORMATS):
        style = FIRST_CUSTOM + number
        rows.append(row(10 + number, {"A": (f' s="{style}"', "<v>45000.25</v>")}))
    streamed, calamine = both(workbook("".join(rows), shared=SHARED))
    assert streamed == calamine
    assert streamed[0] == (1, ["FirstName", "Phone", "1", "", "", "", "", "", "", "", "", ""])
    assert streamed[2][1][:4] == ["Asha", " 98765 43210 ", "x & y\nz\nw", ""]


@pytest.mark.parametrize("date1904", ["1", "true", "0", "false"])
def test_dates_follow_the_workbooks_date_system(date1904):
    cells = {"A": (' s="1"', "<v>45000</v>"), "B": (' s="2"', "<v>45000.5</v>")}
    cells["C"] = (' s="3"', "<v>0.5</v>")
    streamed, calamine = both(workbook(row(1, cells), date1904=date1904))
    assert streamed == calamine


def test_random_serials_in_every_date_format_match_calamine():
    rng = random.Random(14)
    values = [rng.uniform(0, 2_958_465) for _ in range(300)]
    values += [rng.uniform(0, 2) for _ in range(100)]
    values += [float(rng.randrange(0, 100_000)) for _ in range(100)]
    # Around whole and half milliseconds, where the rounding shows.
    values += [
        (n + h) / 86_400_000 + 1e-13 * k
        for n in range(1, 2000, 7)
        for h in (0, 0.5)
        for k in (-1, 0, 1)
    ]
    letters = ["A", "B", "C", "D", "E", "F"]
    rows = [
        row(
            n + 1,
            {
                letter: (f' s="{style}"', f"<v>{value!r}</v>")
                for letter, style in zip(letters, (1, 2, 3, 4, 5, 6), strict=True)
            },
        )
        for n, value in enumerate(values)
    ]
    streamed, calamine = both(workbook("".join(rows)))
    assert streamed == calamine


def test_a_sheet_that_starts_away_from_a1_keeps_calamines_columns_and_row_numbers():
    sheet = row(
        3,
        {
            "C": (' t="inlineStr"', "<is><t>FirstName</t></is>"),
            "D": (' t="inlineStr"', "<is><t>Phone</t></is>"),
        },
    )
    sheet += row(7, {"D": ("", "<v>9876543210</v>")})
    sheet += row(9, {"F": (' t="e"', "<v>#N/A</v>")})  # an error widens the sheet, empty
    streamed, calamine = both(workbook(sheet))
    assert (
        streamed
        == calamine
        == [
            (3, ["FirstName", "Phone", "", ""]),
            (7, ["", "9876543210", "", ""]),
        ]
    )


@pytest.mark.parametrize(
    "unusual",
    [
        ' t="inlineStr"><is><r><t>Ri</t></r><r><t>ch</t></r></is>',  # rich inline text
        ' t="d"><v>2024-01-02T03:04:05</v>',  # an ISO date cell
        "><v><![CDATA[42]]></v>",
        ">\n  <v>42</v>\n",  # pretty-printed
        "><v>inf</v>",
        ' s="1"><v>3000000</v>',  # a date past 9999
    ],
)
def test_a_cell_written_unusually_hands_the_rest_of_the_sheet_to_calamine(unusual, caplog):
    plain = "".join(
        row(n, {"A": (' t="inlineStr"', f"<is><t>Name {n}</t></is>"), "B": ("", f"<v>{n}</v>")})
        for n in range(1, 5)
    )
    sheet = plain + f'<row r="5"><c r="A5"{unusual}</c><c r="B5"><v>5</v></c></row>'
    sheet += row(6, {"A": (' t="inlineStr"', "<is><t>after</t></is>")})
    data = workbook(sheet)
    info = inspect(io.BytesIO(data))
    calamine = list(Table(io.BytesIO(data), dataclasses.replace(info, layout=None)))
    with caplog.at_level(logging.INFO, logger="imports.readers"):
        streamed = list(Table(io.BytesIO(data), info))
    assert streamed == calamine
    assert "read by calamine after row" in caplog.text


def test_a_sheet_unusual_from_its_first_cell_is_read_by_calamine_alone(caplog):
    sheet = '<row r="1"><c r="A1" t="inlineStr"><is><r><t>First</t></r><r><t>Name</t></r></is>'
    sheet += '</c><c r="B1"><v>1</v></c></row>' + row(2, {"B": ("", "<v>2</v>")})
    data = workbook(sheet)
    with caplog.at_level(logging.INFO, logger="imports.readers"):
        rows = list(Table(io.BytesIO(data), inspect(io.BytesIO(data))))
    assert rows == [(1, ["FirstName", "1"]), (2, ["", "2"])]
    assert "read by calamine after row 0" in caplog.text


def test_a_row_written_again_after_it_was_imported_is_refused():
    sheet = "".join(row(n, {"A": ("", f"<v>{n}</v>")}) for n in (1, 2, 3))
    sheet += row(1, {"B": ("", "<v>3</v>")})
    data = workbook(sheet)
    with pytest.raises(InvalidFile) as caught:
        list(Table(io.BytesIO(data), inspect(io.BytesIO(data))))
    assert caught.value.code == "unreadable_file"
    assert "row 1 comes after row 3" in caught.value.message


def test_a_row_written_again_before_it_was_imported_is_merged_as_calamine_does():
    sheet = "".join(row(n, {"A": ("", f"<v>{n}</v>")}) for n in (1, 2, 3))
    sheet += row(3, {"B": ("", "<v>4</v>")})
    data = workbook(sheet)
    info = inspect(io.BytesIO(data))
    calamine = list(Table(io.BytesIO(data), dataclasses.replace(info, layout=None)))
    assert list(Table(io.BytesIO(data), info)) == calamine
    assert calamine[-1] == (3, ["3", "4"])


def test_cells_out_of_order_in_a_row_are_placed_by_calamine():
    sheet = '<row r="1"><c r="B1"><v>2</v></c><c r="A1"><v>1</v></c></row>'
    data = workbook(sheet)
    assert list(Table(io.BytesIO(data), inspect(io.BytesIO(data)))) == [(1, ["1", "2"])]


def test_shared_string_index_past_the_table_is_unreadable_as_before():
    data = workbook(row(1, {"A": (' t="s"', "<v>5</v>")}), shared="<si><t>only</t></si>")
    with pytest.raises(InvalidFile) as caught:
        list(Table(io.BytesIO(data), inspect(io.BytesIO(data))))
    assert caught.value.code == "unreadable_file"


def test_detect_format_agrees_with_calamines_own_cases():
    dates = ["DD/MM/YY", "H:MM:SS;@", 'm"M"d"D";@', "ha/p\\\\m", "*-yyyy-mm-dd", "AM/PM h"]
    durations = ["[h]:mm:ss", "[h]", "[ss]", "[s].000", "[mm]", "[>=100][Magenta][s].00"]
    others = ["\\Y000000", '#,##0.0####" YMD"', "[>=100][Magenta].00", "#,##0*y", "0.00%"]
    assert [xlsxstream.detect_format(code) for code in dates] == [1] * len(dates)
    assert [xlsxstream.detect_format(code) for code in durations] == [2] * len(durations)
    assert [xlsxstream.detect_format(code) for code in others] == [0] * len(others)


def _leads_sheet(rows):
    header = row(
        1,
        {
            "A": (' t="inlineStr"', "<is><t>FirstName</t></is>"),
            "B": (' t="inlineStr"', "<is><t>Phone</t></is>"),
            "C": (' t="inlineStr"', "<is><t>Notes</t></is>"),
        },
    )
    body = "".join(
        row(
            n,
            {
                "A": (' t="inlineStr"', f"<is><t>Lead {n}</t></is>"),
                "B": ("", f"<v>{9_000_000_000 + n}</v>"),
                "C": (' t="inlineStr"', f"<is><t>note {n * 7919 % 100_003}</t></is>"),
            },
        )
        for n in range(2, rows + 2)
    )
    return workbook(header + body)


def _peak_while_reading(data):
    info = inspect(io.BytesIO(data))
    assert info.layout is not None
    table = Table(io.BytesIO(data), info)
    tracemalloc.start()
    try:
        count = sum(1 for _ in table)
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_however_many_rows_the_sheet_has():
    small, small_peak = _peak_while_reading(_leads_sheet(20_000))
    large, large_peak = _peak_while_reading(_leads_sheet(80_000))
    assert (small, large) == (20_001, 80_001)
    # Four times the rows, the same memory: the sheet's XML a piece at a time, one row.
    assert large_peak < small_peak * 1.25, (small_peak, large_peak)
