"""A seeded CSV of everything the reader must keep exactly: the file of test_reader_outputs.py.

Rows of the shapes people and spreadsheets really send (phones in every
format, numbers as floats, Unicode, control characters, formulas, odd and
plain emails, long cells, short and long rows, blank lines, quoted line
breaks) and repeats of earlier phones, written differently, near and far.
"""

import csv
import io
import random

HEADER = ["First Name", "Last Name", "Phone", "E-mail", "Notes", "City", "", "City", "Source"]

NAMES = [
    "Asha",
    "José",
    "Zoë",
    "Ørjan",
    "Σωκράτης",
    "Владимир",
    "محمد",
    "אברהם",
    "李小龙",
    "日本語",
    "\uff21\uff53\uff48\uff41",  # "Asha" in full-width letters
    "e\u0301mile",  # a combining accent
    "🙂 Smile",
    "D'Souza",
    'The "Boss"',
    "Anne-Marie",
    "=cmd|' /C calc'!A0",
    "+SUM(A1)",
    "-2+3",
    "@import",
    "\tTabbed",
    "a\u00a0b",  # no-break space inside
    "\u200bzero-width",
    "\u2028line-sep",
    "ctrl\x01\x1f\x7f",
    "x",
]
EMAILS = [
    "asha@example.com",
    "ASHA.PATEL+crm@Example.CO.IN",
    "o'brien@example.ie",
    "user@localhost",
    "a@b",
    "a@b.c",
    "x@[127.0.0.1]",
    '"quoted local"@example.com',
    "ñandú@example.com",
    "user@xn--bcher-kva.example",
    "user@bücher.example",
    "trailing.dot.@example.com",
    "two..dots@example.com",
    "spa ce@example.com",
    "no-at-sign.example.com",
    "@example.com",
    "user@-example.com",
    "user@example..com",
    '=HYPERLINK("http://x")@example.com',
    "a" * 64 + "@example.com",
    "a" * 65 + "@example.com",
    "u@" + "d" * 63 + ".com",
    "u@" + ".".join(["sub"] * 70) + ".com",
    "user@example.com\n",
    "user%tag@example.com",
]
NOTES = [
    "",
    "Call after 6pm",
    "multi\nline\nnote",
    "comma, inside",
    '"quoted" text',
    "   padded   ",
    "tab\there",
    "emoji 🎉🎉",
]
CITIES = ["Pune", "", "  ", "Mumbai", "Kochi\u00a0", "Zürich", "東京"]


def _phone_ways(digits):
    return [
        digits,
        f"{digits[:5]} {digits[5:]}",
        f"+91 {digits[:5]} {digits[5:]}",
        f"+91{digits}",
        f"0{digits}",
        f"0{digits[:5]}-{digits[5:]}",
        f"+91-{digits[:5]}-{digits[5:]}",
        f"({digits[:3]}) {digits[3:6]}.{digits[6:]}",
        f"{digits}.0",
        f"{digits[0]}.{digits[1:]}E9",
        f"0091 {digits}",
        f"  {digits}  ",
        f"+91 ({digits[:5]}) {digits[5:]}",
    ]


_BAD_PHONES = [
    "",
    "   ",
    "12345",
    "phone",
    "+1 555",
    "0000000000",
    "=9876543210",
    "98765-4321x",
    "".join(chr(0xFF10 + int(d)) for d in "9876543210"),  # full-width digits
    "9" * 70,  # past the length the parser reads
    "+44 20 7946 0958",  # valid, another country
    "+1 (212) 555-0123",
    "+800 1234 5678",
    "+91 98765 43210 ext 12",
    "1e10",
    "-9876543210",
    "٩٨٧٦٥٤٣٢١٠",  # Arabic-Indic digits
]


def rows(count=1600, seed=14):
    """The records of the file, header first: lists of cells as the csv module writes them."""
    rng = random.Random(seed)
    used, out = [], [list(HEADER)]
    for n in range(count):
        roll = rng.random()
        if used and roll < 0.12:
            raw = rng.choice(_phone_ways(rng.choice(used)))  # a repeat, usually written differently
        elif roll < 0.2:
            raw = rng.choice(_BAD_PHONES)
        else:
            digits = f"{rng.choice('6789')}{rng.randrange(10**9):09d}"
            used.append(digits)
            raw = rng.choice(_phone_ways(digits))
        first = rng.choice(NAMES) if rng.random() < 0.97 else rng.choice(["", "  ", "\t"])
        last = rng.choice(NAMES[::-1]) if rng.random() < 0.8 else ""
        email = rng.choice(EMAILS) if rng.random() < 0.4 else (f"p{n}@example.com" * (n % 2))
        notes = rng.choice(NOTES)
        long = rng.random()
        if long < 0.02:
            first = "F" * rng.choice([150, 151, 400])
        elif long < 0.04:
            last = "L" * rng.choice([150, 151])
        elif long < 0.06:
            notes = "N" * rng.choice([4999, 5000, 5001, 9000])
        elif long < 0.07:
            email = "e" * 250 + "@example.com"
        pad = lambda value: rng.choice(["", " ", "  ", "\t"]) + value + rng.choice(["", " "])  # noqa: E731
        record = [pad(first), pad(last), raw, pad(email), notes]
        extra = [rng.choice(CITIES), rng.choice(["", "x", "y" * 40]), rng.choice(CITIES), ""]
        if long > 0.985:
            extra[1] = "W" * rng.choice([3000, 12_000])  # past IMPORT_MAX_EXTRA_BYTES (see test)
        if rng.random() < 0.3:
            extra[3] = rng.choice(["web", "Web ", "fair", "=1+1"])
        record += extra
        shape = rng.random()
        if shape < 0.03:
            record = record[: rng.randrange(1, len(record))]  # a short row
        elif shape < 0.05:
            record += ["surplus", ""]  # a long row
        out.append(record)
        if rng.random() < 0.01:
            out.append([])  # a blank line
        if rng.random() < 0.005:
            out.append(["", " ", ""])  # a row of blanks
    return out


def data(count=1600, seed=14):
    """The file's bytes (UTF-8, CRLF as the csv module writes)."""
    text = io.StringIO()
    csv.writer(text).writerows(rows(count, seed))
    return text.getvalue().encode()


def narrow_data(count=400, seed=15):
    """Only lead fields, in another order, ``;``-separated, with LF line ends: no extra column."""
    order = (2, 0, 4, 3)  # phone, first name, notes, email
    text = io.StringIO()
    writer = csv.writer(text, delimiter=";", lineterminator="\n")
    for record in rows(count, seed):
        writer.writerow([record[index] for index in order if index < len(record)])
    return text.getvalue().encode()
