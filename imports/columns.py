"""Which column of a file holds which field of a lead."""

import re
from dataclasses import dataclass, field

from django.conf import settings

from .readers import InvalidFile

# Keys are headers with case, spaces, underscores, dashes and dots removed.
ALIASES = {
    "first_name": (
        "firstname",
        "first",
        "fname",
        "givenname",
        "name",
        "fullname",
        "leadname",
        "customername",
    ),
    "last_name": ("lastname", "last", "lname", "surname", "familyname"),
    "phone": (
        "phone",
        "phonenumber",
        "phoneno",
        "mobile",
        "mobilenumber",
        "mobileno",
        "contact",
        "contactnumber",
        "contactno",
        "cell",
        "cellphone",
        "telephone",
        "tel",
        "whatsapp",
    ),
    "email": ("email", "emailaddress", "mail"),
    "notes": ("notes", "note", "comments", "comment", "remarks", "remark"),
}
_FIELD_BY_ALIAS = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
_FOLD = re.compile(r"[\s_\-.]+")
REQUIRED = ("first_name", "phone")
LABELS = {"first_name": "first name", "phone": "phone"}


def fold(header):
    return _FOLD.sub("", header).casefold()


@dataclass
class ColumnMap:
    """Positions of the modelled fields; every other column goes to ``Lead.extra``."""

    fields: dict
    headers: list
    extra: list = field(default_factory=list)  # (index, header)

    def header(self, name):
        return self.headers[self.fields[name]]


def map_columns(headers):
    """Match ``headers`` against the aliases; refuse a file without name or phone.

    When two columns match one field (``Phone`` and ``Mobile``) the first wins
    and the other is kept in ``extra`` rather than dropped.
    """
    headers = [header.strip() for header in headers]
    if len(headers) > settings.IMPORT_MAX_COLUMNS:
        # Unnamed trailing columns past the limit (a header row of commas): every
        # row is narrower than the limit (the readers refuse wider ones), so they
        # can hold nothing. Kept, they would cost a look on every row.
        named = max((index + 1 for index, header in enumerate(headers) if header), default=0)
        headers = headers[: max(named, settings.IMPORT_MAX_COLUMNS)]
    fields, extra = {}, []
    for index, header in enumerate(headers):
        name = _FIELD_BY_ALIAS.get(fold(header))
        if name and name not in fields:
            fields[name] = index
        else:
            extra.append((index, header or f"column_{index + 1}"))
    missing = [name for name in REQUIRED if name not in fields]
    if missing:
        found = ", ".join(f'"{h}"' for h in headers if h) or "none"
        wanted = " and ".join(f"a {LABELS[name]} column" for name in missing)
        raise InvalidFile(
            f"The file needs {wanted}. Columns found: {found}.",
            code="missing_columns",
            fields={name: [f"No {LABELS[name]} column."] for name in missing},
        )
    return ColumnMap(fields=fields, headers=headers, extra=extra)
