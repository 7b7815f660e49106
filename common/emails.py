"""One canonical form of an email address, and a model field that keeps it.

An address is compared by its canonical form everywhere: storage, lookups,
uniqueness and the rate limiter's keys. ``normalize_email`` is the only
definition of that form; ``CanonicalEmailField`` applies it to every value
stored or looked up, and makes the column compare exactly on every engine.

Why both halves are needed: MariaDB's ``utf8mb4_unicode_ci`` compares
``ásha@…``, ``aśha@…`` and ``asha@…`` as equal, while the limiter (keyed in
Python) counted them apart, so guesses under a lookalike were checked against
asha's password after asha's own key was exhausted, and the right password
under ``ásha@…`` signed in as asha. With one canonical form and a binary
comparison, full-width ``ASHA@…`` (U+FF21…) *is* asha (same form, same key)
and ``ásha@…`` is a different, unknown address.
"""

import unicodedata

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models import lookups

# The longest address a column holds (RFC 5321's path limit, Django's default).
MAX_LENGTH = 254


def normalize_email(email):
    """The canonical form: NFKC, case-folded, NFKC again, surrounding space stripped.

    NFKC folds compatibility forms (full-width letters, ligatures like "fi"
    in one glyph, composed vs decomposed accents) into one; ``casefold`` is Unicode's
    caseless matching (``Straße`` = ``strasse``); the second NFKC undoes what
    case folding can un-normalize, so the result is a fixed point (the tests
    check every code point). Accents and other letters stay: ``ásha`` is not
    ``asha``. ``None`` is the empty string.
    """
    if email is None:
        return ""
    text = unicodedata.normalize("NFKC", str(email))
    return unicodedata.normalize("NFKC", text.casefold()).strip()


def email_problem(email):
    """Why the canonical ``email`` cannot be stored (None when it can).

    Normalizing can lengthen an address (``㎞`` is two letters), so the length
    and the syntax are checked on the canonical form, the one stored.
    """
    if len(email) > MAX_LENGTH:
        return f"Ensure this address has at most {MAX_LENGTH} characters once normalized."
    try:
        validate_email(email)
    except ValidationError:
        return "Enter a valid email address."
    return None


# MariaDB/MySQL's exact collation for utf8mb4. SQLite compares text as bytes
# (BINARY) unless told otherwise, so it needs none.
_EXACT_COLLATIONS = {"mysql": "utf8mb4_bin"}


class CanonicalEmailFormField(forms.EmailField):
    """A form's email field that validates the canonical form, the one that is stored."""

    def to_python(self, value):
        value = super().to_python(value)
        return normalize_email(value) if value else value


class CanonicalEmailField(models.EmailField):
    """An ``EmailField`` that stores and looks up only ``normalize_email`` forms.

    - Every value saved (``save``, ``update``, ``bulk_create``) and every value
      looked up (``email=``, ``__in``, ``get_by_natural_key``) is normalized,
      so no caller can store or match a variant.
    - Its form field and ``full_clean`` (what ModelForms run) normalize before
      the syntax, length and uniqueness checks, so full-width ``ASHA@…`` is
      entered as ``asha@…`` and a variant of a taken address is a form error.
    - The column compares exactly: on MariaDB its collation is ``utf8mb4_bin``.
      The collation comes from ``db_parameters`` per connection rather than
      from ``db_collation``, which would be written into the migration for
      every engine (SQLite has no ``utf8mb4_bin``); and any later migration
      that alters the field keeps it.
    - ``iexact``/``icontains``/``istartswith``/``iendswith`` normalize their
      argument: on a binary column ``LIKE`` is case-sensitive, and the stored
      forms are case-folded, so searching ``ASHA`` still finds ``asha@…``.
    """

    def db_parameters(self, connection):
        params = super().db_parameters(connection)
        if params.get("collation") is None:
            params["collation"] = _EXACT_COLLATIONS.get(connection.vendor)
        return params

    def to_python(self, value):
        value = super().to_python(value)
        return value if value is None else normalize_email(value)

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": CanonicalEmailFormField, **kwargs})

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return value if value is None else normalize_email(value)

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if value is not None:
            value = normalize_email(value)
            setattr(model_instance, self.attname, value)
        return value


class _CanonicalArgument:
    """A lookup whose argument is normalized like the stored values."""

    prepare_rhs = True


@CanonicalEmailField.register_lookup
class _IExact(_CanonicalArgument, lookups.IExact):
    pass


@CanonicalEmailField.register_lookup
class _IContains(_CanonicalArgument, lookups.IContains):
    pass


@CanonicalEmailField.register_lookup
class _IStartsWith(_CanonicalArgument, lookups.IStartsWith):
    pass


@CanonicalEmailField.register_lookup
class _IEndsWith(_CanonicalArgument, lookups.IEndsWith):
    pass
